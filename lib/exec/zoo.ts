/**
 * Reference model builders: the architectures the demo, benches, notebooks and docs use, so
 * everyone means the same model by "the MNIST MLP", "the convnet" or "the GPT".
 *
 * @module
 */

import * as tf from "npm:@tensorflow/tfjs@4.22.0";
import { SpecError } from "../core/errors.ts";
import { CausalSelfAttention, PositionEmbedding } from "./layers.ts";
import type { LayersModel } from "./model.ts";

/** Options of {@link mlp}. */
export interface MlpOptions {
  /** Features per example. Default 784 (MNIST). */
  inputs?: number;
  /** Hidden layer widths. Default `[256, 128]`. */
  hidden?: readonly number[];
  /** Output classes (logits). Default 10. */
  classes?: number;
}

/**
 * A multilayer perceptron with ReLU hidden layers and a logits output: by default the
 * 784-256-128-10 MNIST reference model.
 *
 * @example
 * ```ts
 * import { mlp } from "./zoo.ts";
 * const model = mlp(); // 784-256-128-10
 * const small = mlp({ hidden: [32] });
 * ```
 */
export function mlp(options: MlpOptions = {}): LayersModel {
  const inputs = options.inputs ?? 784;
  const hidden = options.hidden ?? [256, 128];
  return tf.sequential({
    layers: [
      ...hidden.map((units, i) =>
        tf.layers.dense({ ...(i === 0 ? { inputShape: [inputs] } : {}), units, activation: "relu" })
      ),
      tf.layers.dense({
        ...(hidden.length === 0 ? { inputShape: [inputs] } : {}),
        units: options.classes ?? 10,
      }),
    ],
  });
}

/** Options of {@link cnn}. */
export interface CnnOptions {
  /** Image shape `[height, width, channels]`; inputs are flat vectors of its size. Default `[28, 28, 1]`. */
  image?: readonly [number, number, number];
  /** Filters of each convolution (each followed by 2x2 max pooling). Default `[8, 16]`. */
  filters?: readonly number[];
  /** Square kernel size of the convolutions. Default 3. */
  kernelSize?: number;
  /** Widths of the dense layers before the output. Default `[]`. */
  hidden?: readonly number[];
  /** Output classes (logits). Default 10. */
  classes?: number;
}

/**
 * A LeNet-style convnet for flat image vectors: reshape to the image, then per entry of `filters`
 * a ReLU convolution and 2x2 max pooling, flatten, optional ReLU dense layers, and a logits
 * output. By default: 28x28x1 -> conv 8@3x3 -> pool -> conv 16@3x3 -> pool -> dense 10.
 *
 * @example
 * ```ts
 * import { cnn } from "./zoo.ts";
 * const model = cnn(); // MNIST
 * const lenet5 = cnn({ filters: [6, 16], kernelSize: 5, hidden: [120, 84] });
 * ```
 */
export function cnn(options: CnnOptions = {}): LayersModel {
  const image = options.image ?? [28, 28, 1];
  const kernelSize = options.kernelSize ?? 3;
  const layers: tf.layers.Layer[] = [
    tf.layers.reshape({ inputShape: [image[0] * image[1] * image[2]], targetShape: [...image] }),
  ];
  for (const filters of options.filters ?? [8, 16]) {
    layers.push(tf.layers.conv2d({ filters, kernelSize, activation: "relu" }));
    layers.push(tf.layers.maxPooling2d({ poolSize: 2 }));
  }
  layers.push(tf.layers.flatten());
  for (const units of options.hidden ?? []) {
    layers.push(tf.layers.dense({ units, activation: "relu" }));
  }
  layers.push(tf.layers.dense({ units: options.classes ?? 10 }));
  return tf.sequential({ layers });
}

/** Options of {@link gpt}. */
export interface GptOptions {
  /** Vocabulary size (token ids in `[0, vocab)`). Required. */
  vocab: number;
  /** Context length: tokens per example. Default 64. */
  context?: number;
  /** Model width (embedding size). Default 64. */
  width?: number;
  /** Attention heads per block; must divide `width`. Default 4. */
  heads?: number;
  /** Transformer blocks. Default 2. */
  depth?: number;
  /** Width of each block's MLP, as a multiple of `width`. Default 4. */
  mlpRatio?: number;
}

/**
 * A decoder-only transformer (GPT-style) over token ids: token and position embeddings, `depth`
 * pre-norm blocks (layer norm -> causal multi-head self-attention -> residual add; layer norm ->
 * GELU MLP -> residual add), a final layer norm and a logits head. Input `[context]` token ids,
 * output `[context, vocab]` next-token logits, trained with cross-entropy at every position.
 *
 * @example
 * ```ts
 * import { gpt } from "./zoo.ts";
 * const model = gpt({ vocab: 96, context: 64, width: 64, heads: 4, depth: 2 });
 * ```
 */
export function gpt(options: GptOptions): LayersModel {
  const { vocab } = options;
  const context = options.context ?? 64;
  const width = options.width ?? 64;
  const heads = options.heads ?? 4;
  const depth = options.depth ?? 2;
  const hidden = Math.round(width * (options.mlpRatio ?? 4));
  for (const [name, value] of Object.entries({ vocab, context, width, heads, depth, hidden })) {
    if (!Number.isInteger(value) || value < 1) {
      throw new SpecError(
        "SPEC_INVALID_TOPOLOGY",
        `gpt: ${name} must be a positive integer, got ${value}`,
        {
          value,
        },
      );
    }
  }
  if (width % heads !== 0) {
    throw new SpecError(
      "SPEC_INVALID_TOPOLOGY",
      `gpt: width ${width} must be divisible by heads ${heads}`,
      { value: { width, heads } },
    );
  }
  const small = () => tf.initializers.randomNormal({ mean: 0, stddev: 0.02 });
  const norm = () => tf.layers.layerNormalization({ epsilon: 1e-5 });
  const tokens = tf.input({ shape: [context] });
  let x = tf.layers.embedding({
    inputDim: vocab,
    outputDim: width,
    embeddingsInitializer: small(),
  }).apply(tokens) as tf.SymbolicTensor;
  x = new PositionEmbedding({}).apply(x) as tf.SymbolicTensor;
  for (let i = 0; i < depth; i++) {
    const attended = new CausalSelfAttention({ heads }).apply(norm().apply(x));
    x = tf.layers.add().apply([x, attended as tf.SymbolicTensor]) as tf.SymbolicTensor;
    const up = tf.layers.dense({ units: hidden, activation: "gelu" as "relu" }).apply(
      norm().apply(x),
    );
    const down = tf.layers.dense({ units: width }).apply(up);
    x = tf.layers.add().apply([x, down as tf.SymbolicTensor]) as tf.SymbolicTensor;
  }
  const logits = tf.layers.dense({ units: vocab }).apply(norm().apply(x)) as tf.SymbolicTensor;
  return tf.model({ inputs: tokens, outputs: logits });
}
