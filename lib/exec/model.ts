/**
 * Model specs: a tfjs layers model turned into plain, canonical, content-addressed data.
 *
 * A {@link ModelSpec} holds the Keras-style topology JSON (with layer names made canonical, so the
 * same architecture always has the same id), the initializer seed, the loss and the optimizer
 * config. {@link buildModel} turns a spec back into a tfjs model whose initial weights depend only
 * on the spec, bit for bit.
 *
 * @module
 */

import * as tf from "npm:@tensorflow/tfjs@4.22.0";
import {
  type CanonicalValue,
  contentId,
  decodeCanonical,
  encodeCanonical,
} from "../core/canonical.ts";
import { EncodingError, SpecError } from "../core/errors.ts";
// Configures the tfjs engine (synchronous cpu start, production mode) before any model is built.
import "./profile.ts";
// Registers the zoo's custom layers, so any process that reads a spec can rebuild them.
import { CUSTOM_LAYERS } from "./layers.ts";
import type { Hash } from "../core/hash.ts";

/** Plain SGD: `w -= lr * g`. */
export interface SgdConfig {
  /** `"sgd"`. */
  readonly name: "sgd";
  /** Step size. */
  readonly learningRate: number;
}

/** SGD with (optionally Nesterov) momentum: `v = m*v + g; w -= lr * v`. */
export interface MomentumConfig {
  /** `"momentum"`. */
  readonly name: "momentum";
  /** Step size. */
  readonly learningRate: number;
  /** Momentum coefficient. */
  readonly momentum: number;
  /** Whether the update looks ahead (Nesterov). */
  readonly nesterov: boolean;
}

/** Adam (Kingma & Ba 2015) with bias correction. */
export interface AdamConfig {
  /** `"adam"`. */
  readonly name: "adam";
  /** Step size. */
  readonly learningRate: number;
  /** First-moment decay. */
  readonly beta1: number;
  /** Second-moment decay. */
  readonly beta2: number;
  /** Denominator fuzz. */
  readonly epsilon: number;
}

/** Optimizer of a spec, with every default filled in. */
export type OptimizerConfig = SgdConfig | MomentumConfig | AdamConfig;

/** A tfjs layers model (`tf.LayersModel`): what `tf.sequential()` and `tf.model()` return. */
export type LayersModel = tf.LayersModel;

/** SGD as a user writes it. */
export interface SgdInput {
  /** `"sgd"`. */
  name: "sgd";
  /** Step size. */
  learningRate: number;
}

/** Momentum SGD as a user writes it. */
export interface MomentumInput {
  /** `"momentum"`. */
  name: "momentum";
  /** Step size. */
  learningRate: number;
  /** Momentum coefficient in [0, 1). Default 0.9. */
  momentum?: number;
  /** Nesterov momentum. Default false. */
  nesterov?: boolean;
}

/** Adam as a user writes it. */
export interface AdamInput {
  /** `"adam"`. */
  name: "adam";
  /** Step size. Default 0.001. */
  learningRate?: number;
  /** First-moment decay. Default 0.9. */
  beta1?: number;
  /** Second-moment decay. Default 0.999. */
  beta2?: number;
  /** Denominator fuzz. Default 1e-7 (the tfjs and Keras default). */
  epsilon?: number;
}

/** Optimizer as a user writes it: defaults may be left out. */
export type OptimizerInput = SgdInput | MomentumInput | AdamInput;

/** Losses the trainer implements. Cross-entropy takes class-index labels. */
export type LossName = "sparseCategoricalCrossentropy" | "meanSquaredError";

/** Format tag of encoded model specs. */
export const MODEL_SPEC_FORMAT = "model-spec/1";

/** A model as plain data: what a job trains, identified by the hash of its canonical bytes. */
export interface ModelSpec {
  /** Content id: SHA-256 of the canonical encoding (see {@link encodeModelSpec}). */
  readonly id: Hash;
  /** Always {@link MODEL_SPEC_FORMAT}. */
  readonly format: typeof MODEL_SPEC_FORMAT;
  /** tfjs layers topology JSON with canonical layer names. */
  readonly topology: CanonicalValue;
  /** Seed from which every initializer's seed is derived. */
  readonly seed: number;
  /** Training loss. */
  readonly loss: LossName;
  /** Optimizer with all defaults filled in. */
  readonly optimizer: OptimizerConfig;
}

/** Options of {@link defineModel}. */
export interface DefineModelOptions {
  /** Initializer seed, an integer in [0, 2^31). Default 0. */
  seed?: number;
  /** Loss. Default `sparseCategoricalCrossentropy`. */
  loss?: LossName;
  /** Optimizer. Default Adam with learning rate 0.001. */
  optimizer?: OptimizerInput;
}

/**
 * Layers whose training step is a pure function of weights and batch, and which train under every
 * profile (the wasm profiles supply the gradient kernels tfjs-backend-wasm lacks). Layers that
 * draw random numbers while training (Dropout, noise) or keep running statistics outside the
 * gradient step (BatchNormalization) are refused, because a verifier could not re-execute them
 * bit for bit.
 */
const DETERMINISTIC_LAYERS = new Set<string>([
  "InputLayer",
  "Dense",
  "Conv1D",
  "Conv2D",
  "DepthwiseConv2D",
  "SeparableConv2D",
  "Flatten",
  "Reshape",
  "Permute",
  "RepeatVector",
  "Activation",
  "ReLU",
  "LeakyReLU",
  "ELU",
  "Softmax",
  "MaxPooling1D",
  "MaxPooling2D",
  "AveragePooling1D",
  "AveragePooling2D",
  "GlobalAveragePooling1D",
  "GlobalAveragePooling2D",
  "GlobalMaxPooling1D",
  "GlobalMaxPooling2D",
  "ZeroPadding2D",
  "Cropping2D",
  "UpSampling2D",
  "Embedding",
  "LayerNormalization",
  "Add",
  "Multiply",
  "Average",
  "Maximum",
  "Minimum",
  "Concatenate",
  ...CUSTOM_LAYERS,
]);

/** Class names of the layers a spec may use (the allow-list). */
export const ALLOWED_LAYERS: ReadonlySet<string> = DETERMINISTIC_LAYERS;

/** Layers tfjs knows that cannot be re-executed bit for bit, and what to use instead. */
const REPLACEMENTS: Record<string, string> = {
  Dropout: "remove it (regularize with weight decay or a smaller model instead)",
  SpatialDropout1D: "remove it",
  SpatialDropout2D: "remove it",
  AlphaDropout: "remove it",
  GaussianDropout: "remove it",
  GaussianNoise: "remove it",
  BatchNormalization: "use LayerNormalization",
  SimpleRNN: "use CausalSelfAttention (lib/exec/layers.ts) or Conv1D over time",
  LSTM: "use CausalSelfAttention (lib/exec/layers.ts) or Conv1D over time",
  GRU: "use CausalSelfAttention (lib/exec/layers.ts) or Conv1D over time",
};

const LOSSES: readonly LossName[] = ["sparseCategoricalCrossentropy", "meanSquaredError"];

/**
 * Wraps a tfjs layers model into a content-addressed {@link ModelSpec}.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { defineModel } from "./model.ts";
 * const model = tf.sequential({
 *   layers: [
 *     tf.layers.dense({ inputShape: [784], units: 128, activation: "relu" }),
 *     tf.layers.dense({ units: 10 }),
 *   ],
 * });
 * const spec = await defineModel(model, { seed: 7, optimizer: { name: "adam", learningRate: 1e-3 } });
 * console.log(spec.id);
 * ```
 */
export function defineModel(
  model: LayersModel,
  options: DefineModelOptions = {},
): Promise<ModelSpec> {
  if (!(model instanceof tf.LayersModel)) {
    throw new SpecError(
      "SPEC_NOT_A_MODEL",
      "defineModel expects a tfjs LayersModel (tf.sequential(...) or tf.model(...))",
      { value: model },
    );
  }
  const topology = model.toJSON(null, false) as unknown;
  return specFromParts({
    topology: canonicalTopology(topology),
    seed: options.seed ?? 0,
    loss: options.loss ?? "sparseCategoricalCrossentropy",
    optimizer: options.optimizer ?? { name: "adam" },
  });
}

/** Validates the parts of a spec, fills defaults and computes the id. */
async function specFromParts(parts: {
  topology: unknown;
  seed: unknown;
  loss: unknown;
  optimizer: unknown;
}): Promise<ModelSpec> {
  const { seed, loss } = parts;
  if (!Number.isInteger(seed) || (seed as number) < 0 || (seed as number) >= 2 ** 31) {
    throw new SpecError("SPEC_INVALID_SEED", `seed must be an integer in [0, 2^31), got ${seed}`, {
      value: seed,
    });
  }
  if (!LOSSES.includes(loss as LossName)) {
    throw new SpecError(
      "SPEC_UNKNOWN_LOSS",
      `unknown loss "${loss}"; use one of ${LOSSES.join(", ")}`,
      { value: loss },
    );
  }
  checkTopology(parts.topology);
  const body = {
    format: MODEL_SPEC_FORMAT,
    topology: parts.topology as CanonicalValue,
    seed: seed as number,
    loss: loss as LossName,
    optimizer: normalizeOptimizer(parts.optimizer),
  } as const;
  return { id: await contentId(body), ...body };
}

function positive(name: string, value: unknown, fallback?: number): number {
  const v = value ?? fallback;
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) {
    throw new SpecError(
      "SPEC_INVALID_OPTIMIZER",
      `optimizer ${name} must be a positive finite number, got ${value}`,
      { value },
    );
  }
  return v;
}

function fraction(name: string, value: unknown, fallback: number): number {
  const v = value ?? fallback;
  if (typeof v !== "number" || !(v >= 0 && v < 1)) {
    throw new SpecError(
      "SPEC_INVALID_OPTIMIZER",
      `optimizer ${name} must be a number in [0, 1), got ${value}`,
      { value },
    );
  }
  return v;
}

/** Fills an optimizer's defaults and validates every field. */
export function normalizeOptimizer(input: unknown): OptimizerConfig {
  const o = (input ?? {}) as Record<string, unknown>;
  switch (o.name) {
    case "sgd":
      return { name: "sgd", learningRate: positive("learningRate", o.learningRate) };
    case "momentum":
      return {
        name: "momentum",
        learningRate: positive("learningRate", o.learningRate),
        momentum: fraction("momentum", o.momentum, 0.9),
        nesterov: o.nesterov === true,
      };
    case "adam":
      return {
        name: "adam",
        learningRate: positive("learningRate", o.learningRate, 0.001),
        beta1: fraction("beta1", o.beta1, 0.9),
        beta2: fraction("beta2", o.beta2, 0.999),
        epsilon: positive("epsilon", o.epsilon, 1e-7),
      };
    default:
      throw new SpecError(
        "SPEC_UNKNOWN_OPTIMIZER",
        `unknown optimizer "${o.name}"; use { name: "sgd" | "momentum" | "adam", learningRate }`,
        { value: input },
      );
  }
}

interface LayerJson {
  class_name: string;
  config: Record<string, unknown> & { name?: string };
  name?: string;
  inbound_nodes?: unknown;
}

function layersOf(topology: unknown): LayerJson[] {
  const t = topology as { class_name?: unknown; config?: { layers?: unknown } };
  if (
    typeof t !== "object" || t === null ||
    (t.class_name !== "Sequential" && t.class_name !== "Model" &&
      t.class_name !== "Functional") ||
    !Array.isArray(t.config?.layers) || t.config.layers.length === 0
  ) {
    throw new SpecError(
      "SPEC_INVALID_TOPOLOGY",
      "topology must be a tfjs Sequential or functional model JSON with at least one layer " +
        "(as produced by model.toJSON(null, false))",
      { value: topology },
    );
  }
  return t.config.layers as LayerJson[];
}

function checkTopology(topology: unknown): void {
  for (const [i, layer] of layersOf(topology).entries()) {
    if (typeof layer !== "object" || layer === null || typeof layer.class_name !== "string") {
      throw new SpecError("SPEC_INVALID_TOPOLOGY", `layer ${i} has no class_name`, {
        value: layer,
      });
    }
    if (DETERMINISTIC_LAYERS.has(layer.class_name)) continue;
    const known = tf.serialization.SerializationMap.getMap().classNameMap[layer.class_name];
    if (known === undefined) {
      throw new SpecError(
        "SPEC_UNKNOWN_LAYER",
        `layer ${i} is a ${layer.class_name}, a class this toolkit does not know (providers and ` +
          "verifiers could not rebuild it); build the model from tfjs layers or the toolkit's " +
          `own (${CUSTOM_LAYERS.join(", ")})`,
        { value: layer.class_name },
      );
    }
    throw new SpecError(
      "SPEC_NONDETERMINISTIC_LAYER",
      `layer ${i} is a ${layer.class_name}, which cannot be re-executed bit for bit ` +
        "(random, stateful outside the gradient step, or without deterministic gradient kernels); " +
        (REPLACEMENTS[layer.class_name] ??
          `replace it with a deterministic layer (${
            [...DETERMINISTIC_LAYERS].slice(1, 8).join(", ")
          }, ...)`),
      { value: layer.class_name },
    );
  }
}

/**
 * Renames layers to `layer_<i>` and the model to `model`, rewriting references in functional
 * models, so that names tfjs generated from process-global counters do not change the id.
 */
function canonicalTopology(topology: unknown): unknown {
  const copy = structuredClone(topology) as { config: { name?: string; layers: LayerJson[] } };
  const layers = layersOf(copy);
  const rename = new Map<string, string>();
  layers.forEach((layer, i) => {
    const old = layer.config?.name ?? layer.name;
    const name = `layer_${i}`;
    if (typeof old === "string") rename.set(old, name);
    if (layer.config) layer.config.name = name;
    if (layer.name !== undefined) layer.name = name;
  });
  copy.config.name = "model";
  const renameRefs = (value: unknown): unknown =>
    typeof value === "string"
      ? rename.get(value) ?? value
      : Array.isArray(value)
      ? value.map(renameRefs)
      : value;
  for (const layer of layers) {
    if (layer.inbound_nodes !== undefined) layer.inbound_nodes = renameRefs(layer.inbound_nodes);
  }
  const config = copy.config as Record<string, unknown>;
  for (const key of ["input_layers", "output_layers"]) {
    if (config[key] !== undefined) config[key] = renameRefs(config[key]);
  }
  // Plain JSON only: drops undefined fields the same way on every machine.
  return JSON.parse(JSON.stringify(copy));
}

/**
 * Derives a per-initializer seed from the spec seed, the layer index and the initializer field,
 * so layers never share random streams. Integer-only arithmetic (FNV-1a), identical everywhere.
 */
function initializerSeed(seed: number, layer: number, field: string): number {
  let h = 0x811c9dc5;
  for (const c of `${seed}/${layer}/${field}`) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193);
  return (h >>> 0) % 2 ** 31;
}

/**
 * Builds the tfjs model of a spec, with initial weights derived from the spec's seed only.
 *
 * @example
 * ```ts
 * import { buildModel } from "./model.ts";
 * declare const spec: import("./model.ts").ModelSpec;
 * const model = await buildModel(spec);
 * model.summary();
 * ```
 */
export async function buildModel(spec: ModelSpec): Promise<LayersModel> {
  const topology = structuredClone(spec.topology) as unknown;
  for (const [i, layer] of layersOf(topology).entries()) {
    for (const [field, value] of Object.entries(layer.config ?? {})) {
      const init = value as { config?: Record<string, unknown> } | null;
      if (field.endsWith("_initializer") && init?.config && "seed" in init.config) {
        init.config.seed = initializerSeed(spec.seed, i, field);
      }
    }
  }
  try {
    return await tf.models.modelFromJSON({
      modelTopology: topology as tf.io.ModelJSON["modelTopology"],
    });
  } catch (cause) {
    throw new SpecError(
      "SPEC_INVALID_TOPOLOGY",
      `tfjs could not build the model from the spec's topology: ${(cause as Error).message}`,
      { cause },
    );
  }
}

/**
 * Canonical bytes of a spec (everything but the id, which is their hash).
 *
 * @example
 * ```ts
 * import { decodeModelSpec, encodeModelSpec } from "./model.ts";
 * declare const spec: import("./model.ts").ModelSpec;
 * const again = await decodeModelSpec(encodeModelSpec(spec)); // again.id === spec.id
 * ```
 */
export function encodeModelSpec(spec: ModelSpec): Uint8Array<ArrayBuffer> {
  const { id: _id, ...body } = spec;
  return encodeCanonical(body);
}

/** Decodes and validates a spec from its canonical bytes; fails with a `SpecError` if malformed. */
export async function decodeModelSpec(bytes: Uint8Array): Promise<ModelSpec> {
  let value: CanonicalValue;
  try {
    value = decodeCanonical(bytes);
  } catch (cause) {
    const message = cause instanceof EncodingError ? cause.message : String(cause);
    throw new SpecError("SPEC_MALFORMED", `model spec bytes are malformed: ${message}`, { cause });
  }
  const body = value as Record<string, unknown>;
  if (typeof body !== "object" || body === null || body.format !== MODEL_SPEC_FORMAT) {
    throw new SpecError(
      "SPEC_UNSUPPORTED_FORMAT",
      `model spec format is ${
        JSON.stringify(body?.format)
      }; this build reads ${MODEL_SPEC_FORMAT}: upgrade the toolkit`,
      { value: body?.format },
    );
  }
  const spec = await specFromParts({
    topology: body.topology,
    seed: body.seed,
    loss: body.loss,
    optimizer: body.optimizer,
  });
  if (utf8(encodeModelSpec(spec)) !== utf8(bytes)) {
    throw new SpecError(
      "SPEC_MALFORMED",
      "model spec has unknown or non-normalized fields; re-create it with defineModel",
    );
  }
  return spec;
}

function utf8(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}

/** Shape of one example the model takes (without the batch dimension). */
export function inputShapeOf(model: tf.LayersModel): number[] {
  const shape = model.inputs[0].shape;
  return shape.slice(1).map((d) => d ?? -1);
}

/** Activation of the model's last layer, if it has one (e.g. `softmax`). */
export function finalActivationOf(spec: ModelSpec): string | undefined {
  const layers = layersOf(spec.topology);
  const last = layers[layers.length - 1];
  const activation = last.config?.activation;
  if (last.class_name === "Softmax") return "softmax";
  return typeof activation === "string" ? activation : undefined;
}
