/**
 * One small model per layer class the spec allow-list accepts, with a seeded dataset that fits
 * it: the table behind the per-layer training test (`tests/exec/layers_test.ts`). Run as a
 * script, it trains every model 3 steps under a profile and prints the checkpoint hashes as JSON,
 * so a second process can be compared bit for bit:
 *
 *   deno run -A tests/_fixtures/layer_zoo.ts wasm
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { createDataset, type Dataset } from "../../lib/exec/dataset.ts";
import { CausalSelfAttention, PositionEmbedding } from "../../lib/exec/layers.ts";
import { defineModel, type ModelSpec } from "../../lib/exec/model.ts";
import { Trainer } from "../../lib/exec/trainer.ts";
import { trainWithProof } from "../../lib/proof/checkpoint.ts";
import type { BlobStore } from "../../lib/proof/store.ts";
import type { Trace } from "../../lib/proof/trace.ts";

const CLASSES = 3;
const EXAMPLES = 12;

type Input =
  | { kind: "vector"; size: number }
  | { kind: "image"; shape: [number, number, number] }
  | {
    kind: "sequence";
    shape: [number, number];
  }
  | { kind: "tokens"; length: number; vocab: number };

interface Case {
  /** The input the model takes. */
  readonly input: Input;
  /** The layers between input and the classifier head (given the symbolic input). */
  readonly body: (x: tf.SymbolicTensor) => tf.SymbolicTensor;
  /** Whether the body already ends in probabilities (a softmax). */
  readonly probabilities?: boolean;
}

const L = tf.layers;
const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]) =>
  layer.apply(x) as tf.SymbolicTensor;
const image: Input = { kind: "image", shape: [6, 6, 2] };
const sequence: Input = { kind: "sequence", shape: [6, 4] };
const vector: Input = { kind: "vector", size: 8 };
const merge = (layer: () => tf.layers.Layer): Case => ({
  input: vector,
  body: (x) =>
    apply(layer(), [
      apply(L.dense({ units: 5 }), x),
      apply(L.dense({ units: 5, activation: "tanh" }), x),
    ]),
});

/** A model per allow-listed layer class (InputLayer is in all of them). */
export const LAYER_CASES: Record<string, Case> = {
  Dense: { input: vector, body: (x) => apply(L.dense({ units: 6, activation: "relu" }), x) },
  Conv1D: {
    input: sequence,
    body: (x) => apply(L.conv1d({ filters: 3, kernelSize: 3, activation: "relu" }), x),
  },
  Conv2D: {
    input: image,
    body: (x) => apply(L.conv2d({ filters: 3, kernelSize: 3, strides: 2, padding: "same" }), x),
  },
  DepthwiseConv2D: {
    input: image,
    body: (x) => apply(L.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2 }), x),
  },
  SeparableConv2D: {
    input: image,
    body: (x) => apply(L.separableConv2d({ filters: 3, kernelSize: 3, padding: "same" }), x),
  },
  Flatten: { input: image, body: (x) => apply(L.flatten(), x) },
  Reshape: { input: vector, body: (x) => apply(L.reshape({ targetShape: [2, 4] }), x) },
  Permute: { input: sequence, body: (x) => apply(L.permute({ dims: [2, 1] }), x) },
  RepeatVector: { input: vector, body: (x) => apply(L.repeatVector({ n: 3 }), x) },
  Activation: {
    input: vector,
    body: (x) =>
      apply(L.activation({ activation: "gelu" as "relu" }), apply(L.dense({ units: 6 }), x)),
  },
  ReLU: { input: vector, body: (x) => apply(L.reLU(), apply(L.dense({ units: 6 }), x)) },
  LeakyReLU: {
    input: vector,
    body: (x) => apply(L.leakyReLU({ alpha: 0.1 }), apply(L.dense({ units: 6 }), x)),
  },
  ELU: { input: vector, body: (x) => apply(L.elu(), apply(L.dense({ units: 6 }), x)) },
  Softmax: {
    input: vector,
    body: (x) => apply(L.softmax(), apply(L.dense({ units: CLASSES }), x)),
    probabilities: true,
  },
  MaxPooling1D: { input: sequence, body: (x) => apply(L.maxPooling1d({ poolSize: 2 }), x) },
  MaxPooling2D: { input: image, body: (x) => apply(L.maxPooling2d({ poolSize: 2 }), x) },
  AveragePooling1D: { input: sequence, body: (x) => apply(L.averagePooling1d({ poolSize: 2 }), x) },
  AveragePooling2D: { input: image, body: (x) => apply(L.averagePooling2d({ poolSize: 2 }), x) },
  GlobalAveragePooling1D: { input: sequence, body: (x) => apply(L.globalAveragePooling1d(), x) },
  GlobalAveragePooling2D: { input: image, body: (x) => apply(L.globalAveragePooling2d({}), x) },
  GlobalMaxPooling1D: { input: sequence, body: (x) => apply(L.globalMaxPooling1d(), x) },
  GlobalMaxPooling2D: { input: image, body: (x) => apply(L.globalMaxPooling2d({}), x) },
  ZeroPadding2D: { input: image, body: (x) => apply(L.zeroPadding2d({ padding: 1 }), x) },
  Cropping2D: { input: image, body: (x) => apply(L.cropping2D({ cropping: [[1, 0], [0, 1]] }), x) },
  UpSampling2D: { input: image, body: (x) => apply(L.upSampling2d({ size: [2, 2] }), x) },
  Embedding: {
    input: { kind: "tokens", length: 5, vocab: 7 },
    body: (x) => apply(L.embedding({ inputDim: 7, outputDim: 4 }), x),
  },
  LayerNormalization: { input: sequence, body: (x) => apply(L.layerNormalization({}), x) },
  Add: merge(() => L.add()),
  Multiply: merge(() => L.multiply()),
  Average: merge(() => L.average()),
  Maximum: merge(() => L.maximum()),
  Minimum: merge(() => L.minimum()),
  Concatenate: merge(() => L.concatenate()),
  CausalSelfAttention: {
    input: { kind: "tokens", length: 5, vocab: 7 },
    body: (x) =>
      apply(
        new CausalSelfAttention({ heads: 2 }),
        apply(L.embedding({ inputDim: 7, outputDim: 4 }), x),
      ),
  },
  PositionEmbedding: {
    input: { kind: "tokens", length: 5, vocab: 7 },
    body: (x) =>
      apply(new PositionEmbedding({}), apply(L.embedding({ inputDim: 7, outputDim: 4 }), x)),
  },
};

function inputShape(input: Input): number[] {
  switch (input.kind) {
    case "vector":
      return [input.size];
    case "image":
      return input.shape;
    case "sequence":
      return input.shape;
    case "tokens":
      return [input.length];
  }
}

/** The spec and a dataset for one layer class. */
export async function layerCase(name: string): Promise<{ spec: ModelSpec; dataset: Dataset }> {
  const c = LAYER_CASES[name];
  const shape = inputShape(c.input);
  const x = tf.input({ shape });
  let y = c.body(x);
  if (y.shape.length > 2) y = apply(L.flatten(), y);
  if (!c.probabilities) y = apply(L.dense({ units: CLASSES }), y);
  const model = tf.model({ inputs: x, outputs: y });
  const spec = await defineModel(model, {
    seed: 5,
    optimizer: { name: "adam", learningRate: 0.01 },
  });
  model.dispose();
  const size = shape.reduce((a, b) => a * b, 1);
  const features = new Float32Array(EXAMPLES * size).map((_, i) =>
    c.input.kind === "tokens" ? (i * 5 + 3) % c.input.vocab : Math.sin(i * 1.7) * 2
  );
  const labels = new Float32Array(EXAMPLES).map((_, i) => i % CLASSES);
  const dataset = await createDataset({
    name: `layer-${name}`,
    featureShape: shape,
    features,
    labels,
    numClasses: CLASSES,
  });
  return { spec, dataset };
}

/** Trains the layer's model 3 steps (a checkpoint every step) under a profile. */
export async function trainLayerCase(
  name: string,
  profile: string,
  store?: BlobStore,
): Promise<{ trainer: Trainer; trace: Trace }> {
  const { spec, dataset } = await layerCase(name);
  const trainer = await Trainer.create({ spec, dataset, batchSize: 4, profile });
  const { trace } = await trainWithProof({ trainer, steps: 3, k: 1, store });
  return { trainer, trace };
}

if (import.meta.main) {
  const profile = Deno.args[0] ?? "wasm";
  const hashes: Record<string, string[]> = {};
  for (const name of Object.keys(LAYER_CASES)) {
    const { trainer, trace } = await trainLayerCase(name, profile);
    hashes[name] = trace.checkpoints.map((c) => c.hash);
    trainer.dispose();
  }
  console.log(JSON.stringify(hashes));
}
