/**
 * Custom layers of the model zoo, registered with tfjs' serialization so a spec that names them
 * rebuilds the same model, bit for bit, in any process that imports this toolkit.
 *
 * - {@link CausalSelfAttention}: multi-head causal self-attention (one packed query/key/value
 *   projection, the fused `CausalAttention` kernel, an output projection);
 * - {@link PositionEmbedding}: a learned embedding per position, added to the input.
 *
 * Both are pure functions of their weights and inputs (no randomness, no state outside the
 * gradient step), so a verifier re-executes them exactly; their initializers take the per-layer
 * seed the spec derives, like the built-in layers'.
 *
 * @module
 */

import * as tf from "npm:@tensorflow/tfjs@4.22.0";
import { SpecError } from "../core/errors.ts";
import { causalAttention } from "./kernels/mod.ts";

/** A tfjs weight initializer (what `tf.initializers.glorotUniform()` and the like return). */
export interface Initializer {
  /** Its registered class name (`GlorotUniform`, ...). */
  getClassName(): string;
  /** Its configuration (seed, scale, ...). */
  getConfig(): Record<string, unknown>;
}

type TfInitializer = ReturnType<typeof tf.initializers.zeros>;

/** An initializer in its serialized form (`{ className, config }`) or as a tfjs object. */
export type InitializerInput = Initializer | {
  className: string;
  config: Record<string, unknown>;
};

function initializerOf(
  input: InitializerInput | undefined,
  fallback: () => TfInitializer,
): TfInitializer {
  if (input === undefined) return fallback();
  if (!("className" in input)) return input as TfInitializer;
  const entry = tf.serialization.SerializationMap.getMap().classNameMap[input.className];
  if (!entry) {
    throw new SpecError(
      "SPEC_INVALID_TOPOLOGY",
      `unknown initializer ${input.className}; use one of tf.initializers (glorotUniform, ...)`,
      { value: input.className },
    );
  }
  const [cls, fromConfig] = entry;
  return fromConfig(
    cls,
    { ...input.config } as tf.serialization.ConfigDict,
  ) as TfInitializer;
}

function serialized(init: TfInitializer): tf.serialization.ConfigDict {
  return { className: init.getClassName(), config: init.getConfig() };
}

function oneTensor(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
  return Array.isArray(inputs) ? inputs[0] : inputs;
}

function oneShape(shape: tf.Shape | tf.Shape[]): tf.Shape {
  return (Array.isArray(shape[0]) ? shape[0] : shape) as tf.Shape;
}

/** Options of {@link CausalSelfAttention}. */
export interface CausalSelfAttentionArgs {
  /** Attention heads; must divide the input width. */
  heads: number;
  /** Initializer of both projection kernels. Default Glorot uniform. */
  kernelInitializer?: InitializerInput;
  /** Layer name. */
  name?: string;
  /** Input shape `[time, width]` when this is the first layer. */
  inputShape?: (number | null)[];
}

/**
 * Multi-head causal self-attention over `[batch, time, width]`: queries, keys and values from one
 * projection (`width -> 3 width`, with bias), each position attending to itself and earlier ones
 * (scores scaled by `1 / sqrt(width / heads)`), heads concatenated and projected back
 * (`width -> width`, with bias).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { CausalSelfAttention } from "./layers.ts";
 * const x = tf.input({ shape: [32, 64] });
 * const y = new CausalSelfAttention({ heads: 4 }).apply(x);
 * ```
 */
export class CausalSelfAttention extends tf.layers.Layer {
  /** Name under which the class is registered for serialization. */
  static className = "CausalSelfAttention";
  /** Attention heads. */
  readonly heads: number;
  readonly #kernelInitializer: TfInitializer;
  #qkvKernel?: tf.LayerVariable;
  #qkvBias?: tf.LayerVariable;
  #outKernel?: tf.LayerVariable;
  #outBias?: tf.LayerVariable;

  /** Creates the layer; weights are made when it first sees its input shape. */
  constructor(args: CausalSelfAttentionArgs) {
    super(args as unknown as tf.serialization.ConfigDict);
    if (!Number.isInteger(args.heads) || args.heads < 1) {
      throw new SpecError(
        "SPEC_INVALID_TOPOLOGY",
        `CausalSelfAttention needs a positive integer number of heads, got ${args.heads}`,
        { value: args.heads },
      );
    }
    this.heads = args.heads;
    this.#kernelInitializer = initializerOf(
      args.kernelInitializer,
      () => tf.initializers.glorotUniform({}),
    );
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = oneShape(inputShape);
    const width = shape[shape.length - 1];
    if (shape.length !== 3 || width === null || width % this.heads !== 0) {
      throw new SpecError(
        "SPEC_INVALID_TOPOLOGY",
        `CausalSelfAttention takes [batch, time, width] with width divisible by heads ` +
          `(${this.heads}), got [${shape}]`,
        { value: shape },
      );
    }
    const zeros = tf.initializers.zeros();
    this.#qkvKernel = this.addWeight(
      "qkv_kernel",
      [width, 3 * width],
      "float32",
      this.#kernelInitializer,
    );
    this.#qkvBias = this.addWeight("qkv_bias", [3 * width], "float32", zeros);
    this.#outKernel = this.addWeight(
      "out_kernel",
      [width, width],
      "float32",
      this.#kernelInitializer,
    );
    this.#outBias = this.addWeight("out_bias", [width], "float32", zeros);
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    return oneShape(inputShape);
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = oneTensor(inputs);
      const [b, t, c] = x.shape;
      const qkv = tf.fused.matMul({
        a: tf.reshape(x, [b * t, c]),
        b: this.#qkvKernel!.read(),
        bias: this.#qkvBias!.read(),
      });
      const y = causalAttention(tf.reshape(qkv, [b, t, 3 * c]), this.heads);
      const out = tf.fused.matMul({
        a: tf.reshape(y, [b * t, c]),
        b: this.#outKernel!.read(),
        bias: this.#outBias!.read(),
      });
      return tf.reshape(out, [b, t, c]);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      heads: this.heads,
      kernelInitializer: serialized(this.#kernelInitializer),
    };
  }
}

/** Options of {@link PositionEmbedding}. */
export interface PositionEmbeddingArgs {
  /** Initializer of the embeddings. Default normal with standard deviation 0.02. */
  embeddingsInitializer?: InitializerInput;
  /** Layer name. */
  name?: string;
  /** Input shape `[time, width]` when this is the first layer. */
  inputShape?: (number | null)[];
}

/**
 * Adds a learned embedding per position to `[batch, time, width]` inputs (GPT-style absolute
 * positions; the weight is `[time, width]`).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { PositionEmbedding } from "./layers.ts";
 * const tokens = tf.input({ shape: [32] });
 * const x = tf.layers.embedding({ inputDim: 96, outputDim: 64 }).apply(tokens);
 * const withPositions = new PositionEmbedding({}).apply(x);
 * ```
 */
export class PositionEmbedding extends tf.layers.Layer {
  /** Name under which the class is registered for serialization. */
  static className = "PositionEmbedding";
  readonly #embeddingsInitializer: TfInitializer;
  #embeddings?: tf.LayerVariable;

  /** Creates the layer; its weight is made when it first sees its input shape. */
  constructor(args: PositionEmbeddingArgs = {}) {
    super(args as unknown as tf.serialization.ConfigDict);
    this.#embeddingsInitializer = initializerOf(
      args.embeddingsInitializer,
      () => tf.initializers.randomNormal({ mean: 0, stddev: 0.02 }),
    );
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = oneShape(inputShape);
    if (shape.length !== 3 || shape[1] === null || shape[2] === null) {
      throw new SpecError(
        "SPEC_INVALID_TOPOLOGY",
        `PositionEmbedding takes [batch, time, width] with a fixed time and width, got [${shape}]`,
        { value: shape },
      );
    }
    this.#embeddings = this.addWeight(
      "embeddings",
      [shape[1], shape[2]],
      "float32",
      this.#embeddingsInitializer,
    );
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    return oneShape(inputShape);
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => tf.add(oneTensor(inputs), this.#embeddings!.read()));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), embeddingsInitializer: serialized(this.#embeddingsInitializer) };
  }
}

/** A tfjs layer (`tf.layers.Layer`). */
export type Layer = tf.layers.Layer;

/**
 * A {@link CausalSelfAttention} layer.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { causalSelfAttention } from "./layers.ts";
 * const y = causalSelfAttention({ heads: 4 }).apply(tf.input({ shape: [32, 64] }));
 * ```
 */
export function causalSelfAttention(args: CausalSelfAttentionArgs): Layer {
  return new CausalSelfAttention(args);
}

/**
 * A {@link PositionEmbedding} layer.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { positionEmbedding } from "./layers.ts";
 * const x = tf.layers.embedding({ inputDim: 96, outputDim: 64 }).apply(tf.input({ shape: [32] }));
 * const y = positionEmbedding().apply(x);
 * ```
 */
export function positionEmbedding(args: PositionEmbeddingArgs = {}): Layer {
  return new PositionEmbedding(args);
}

tf.serialization.registerClass(CausalSelfAttention);
tf.serialization.registerClass(PositionEmbedding);

/** Class names of the custom layers this module registers. */
export const CUSTOM_LAYERS: readonly string[] = [
  CausalSelfAttention.className,
  PositionEmbedding.className,
];
