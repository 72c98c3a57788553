/**
 * A model's size read from its spec alone: the trainable parameters and the activations of one
 * example, computed from the layer configs of the topology JSON without building the model or
 * allocating a single weight. A node asked to train, audit or rule on a job uses it to refuse a
 * model too large for it before loading anything (`lib/node/limits.ts`).
 *
 * Shapes are inferred layer by layer the way tfjs-layers 4.22 infers them (`computeOutputShape`
 * of each class, `conv_utils.convOutputLength` for convolutions and pooling), and each layer's
 * weights are counted from the shapes its `build` would give them. Every class of the spec
 * allow-list (`ALLOWED_LAYERS` in `model.ts`) is covered; the tests compare both figures with the
 * built model's for one model per class.
 *
 * @module
 */

import { SpecError } from "../core/errors.ts";
import type { ModelSpec } from "./model.ts";

/** Per-example shape (no batch dimension); `null` where the topology leaves a size open. */
export type ExampleShape = readonly (number | null)[];

/** One layer of a {@link ModelFootprint}. */
export interface LayerFootprint {
  /** Layer name in the spec (`layer_<i>`). */
  readonly name: string;
  /** Its class (`Dense`, `Conv2D`, ...). */
  readonly className: string;
  /** Trainable parameters of the layer (its weights' sizes, summed). */
  readonly parameters: number;
  /** Per-example shape of its (first) output. */
  readonly outputShape: ExampleShape;
}

/** What one copy of a model and one example flowing through it take. */
export interface ModelFootprint {
  /** Trainable parameters: what the built model's `countParams()` returns. */
  readonly parameters: number;
  /**
   * Floats one example produces on the way through: every layer's output (the model's inputs
   * included), plus what a layer holds inside besides its output (the attention scores and
   * probabilities of `CausalSelfAttention`). Sizes the topology leaves open count as 1.
   */
  readonly activationsPerExample: number;
  /** Layer by layer, in the topology's order. */
  readonly layers: readonly LayerFootprint[];
}

interface LayerJson {
  class_name: string;
  name?: string;
  config: Record<string, unknown>;
  inbound_nodes?: unknown;
}

type Shape = (number | null)[];

/**
 * The parameters and per-example activations of a model spec, from its topology alone: nothing
 * is built and no weight is allocated, so a spec with 10^9 parameters is measured in
 * microseconds. Fails with `SPEC_INVALID_TOPOLOGY` when a layer's weights depend on a size the
 * topology does not fix (tfjs could not build such a model either).
 *
 * @example
 * ```ts
 * import { defineModel } from "./model.ts";
 * import { modelFootprint } from "./footprint.ts";
 * import { mlp } from "./zoo.ts";
 * const spec = await defineModel(mlp()); // 784-256-128-10
 * console.log(modelFootprint(spec).parameters); // 235146
 * ```
 */
export function modelFootprint(spec: Pick<ModelSpec, "topology">): ModelFootprint {
  const topology = spec.topology as {
    class_name?: unknown;
    config?: { layers?: unknown };
  } | null;
  const layers = topology?.config?.layers;
  if (!Array.isArray(layers) || layers.length === 0) {
    throw invalid("the topology has no layers", topology);
  }
  return topology!.class_name === "Sequential"
    ? sequential(layers as LayerJson[])
    : functional(layers as LayerJson[]);
}

function sequential(layers: LayerJson[]): ModelFootprint {
  const first = layers[0];
  const batchShape = first.config.batch_input_shape;
  if (!Array.isArray(batchShape)) {
    throw invalid("the first layer of a Sequential model has no batch_input_shape", first);
  }
  let shape: Shape = (batchShape as Shape).slice(1);
  let activations = size(shape);
  const out: LayerFootprint[] = [];
  for (const layer of layers) {
    const step = layerStep(layer, [shape]);
    shape = step.output;
    activations += size(shape) + step.inner;
    out.push(footprintOf(layer, step.parameters, shape));
  }
  // An explicit InputLayer repeats the input it was given.
  if (first.class_name === "InputLayer") activations -= size(out[0].outputShape);
  return {
    parameters: sum(out.map((l) => l.parameters)),
    activationsPerExample: activations,
    layers: out,
  };
}

/**
 * A functional model: each layer's calls (`inbound_nodes`) in dependency order. A layer called
 * more than once shares its weights, so its parameters count once and its activations per call.
 */
function functional(layers: LayerJson[]): ModelFootprint {
  const outputs = new Map<string, Shape>(); // `${layer}:${node}` -> output shape
  const done = new Map<string, LayerFootprint>();
  let activations = 0;
  let pending = layers;
  while (pending.length > 0) {
    const waiting: LayerJson[] = [];
    for (const layer of pending) {
      const name = nameOf(layer);
      if (layer.class_name === "InputLayer") {
        const batchShape = layer.config.batch_input_shape;
        if (!Array.isArray(batchShape)) {
          throw invalid(`input ${name} has no batch_input_shape`, layer);
        }
        const shape = (batchShape as Shape).slice(1);
        outputs.set(`${name}:0`, shape);
        activations += size(shape);
        done.set(name, footprintOf(layer, 0, shape));
        continue;
      }
      const nodes = inboundNodes(layer);
      const inputs = nodes.map((node) => node.map((ref) => outputs.get(ref)));
      if (inputs.some((node) => node.some((shape) => shape === undefined))) {
        waiting.push(layer);
        continue;
      }
      let parameters = 0;
      let first: Shape | undefined;
      inputs.forEach((node, n) => {
        const step = layerStep(layer, node as Shape[]);
        // Weights are made at the first call; later calls reuse them.
        if (n === 0) parameters = step.parameters;
        first ??= step.output;
        outputs.set(`${name}:${n}`, step.output);
        activations += size(step.output) + step.inner;
      });
      done.set(name, footprintOf(layer, parameters, first ?? []));
    }
    if (waiting.length === pending.length) {
      throw invalid(
        `layers ${waiting.map(nameOf).join(", ")} take inputs no layer of the model produces`,
        waiting.map(nameOf),
      );
    }
    pending = waiting;
  }
  const out = layers.map((l) => done.get(nameOf(l))!);
  return {
    parameters: sum(out.map((l) => l.parameters)),
    activationsPerExample: activations,
    layers: out,
  };
}

function footprintOf(layer: LayerJson, parameters: number, outputShape: Shape): LayerFootprint {
  return { name: nameOf(layer), className: layer.class_name, parameters, outputShape };
}

function nameOf(layer: LayerJson): string {
  return String(layer.name ?? layer.config?.name);
}

/** `[[["layer_0", 0, 0, {}], ...], ...]`: per call, the `layer:node` of each input. */
function inboundNodes(layer: LayerJson): string[][] {
  const nodes = layer.inbound_nodes;
  if (!Array.isArray(nodes) || nodes.length === 0) {
    throw invalid(`layer ${nameOf(layer)} has no inbound nodes`, layer);
  }
  return nodes.map((node) => {
    if (!Array.isArray(node)) throw invalid(`layer ${nameOf(layer)} has a malformed node`, node);
    return node.map((ref) => {
      if (!Array.isArray(ref) || typeof ref[0] !== "string") {
        throw invalid(`layer ${nameOf(layer)} has a malformed inbound reference`, ref);
      }
      return `${ref[0]}:${Number(ref[1] ?? 0)}`;
    });
  });
}

interface Step {
  /** Weights the layer makes for these inputs. */
  parameters: number;
  /** Its output shape. */
  output: Shape;
  /** Floats it holds per example besides its output. */
  inner: number;
}

/** One layer applied to per-example input shapes: its weights, its output, what it holds inside. */
function layerStep(layer: LayerJson, inputs: Shape[]): Step {
  const c = layer.config ?? {};
  const name = nameOf(layer);
  const x = inputs[0];
  const plain = (output: Shape, parameters = 0): Step => ({ parameters, output, inner: 0 });
  const known = (dim: number | null | undefined, what: string): number => {
    if (typeof dim !== "number" || !Number.isInteger(dim) || dim < 0) {
      throw invalid(`layer ${name} (${layer.class_name}) needs a fixed ${what}, got ${dim}`, x);
    }
    return dim;
  };
  const bias = (units: number) => (c.use_bias === false ? 0 : units);
  const channelsFirst = c.data_format === "channels_first";
  switch (layer.class_name) {
    case "InputLayer":
      return plain(x);
    case "Dense": {
      const units = positiveInt(c.units, name, "units");
      const inputs = known(x[x.length - 1], "input width");
      return plain([...x.slice(0, -1), units], inputs * units + bias(units));
    }
    case "Conv1D": {
      const filters = positiveInt(c.filters, name, "filters");
      const [k] = ints(c.kernel_size, 1, name, "kernel_size");
      const [stride] = ints(c.strides ?? 1, 1, name, "strides");
      const [dilation] = ints(c.dilation_rate ?? 1, 1, name, "dilation_rate");
      const channels = known(x[1], "channel count");
      const length = convLength(x[0], k, String(c.padding ?? "valid"), stride, dilation);
      return plain([length, filters], k * channels * filters + bias(filters));
    }
    case "Conv2D":
    case "DepthwiseConv2D":
    case "SeparableConv2D": {
      const [kh, kw] = ints(c.kernel_size, 2, name, "kernel_size");
      const [sh, sw] = ints(c.strides ?? 1, 2, name, "strides");
      const [dh, dw] = ints(c.dilation_rate ?? 1, 2, name, "dilation_rate");
      const padding = String(c.padding ?? "valid");
      const [rows, cols, channels] = channelsFirst ? [x[1], x[2], x[0]] : [x[0], x[1], x[2]];
      const cin = known(channels, "channel count");
      const h = convLength(rows, kh, padding, sh, dh);
      const w = convLength(cols, kw, padding, sw, dw);
      let cout: number;
      let parameters: number;
      if (layer.class_name === "Conv2D") {
        cout = positiveInt(c.filters, name, "filters");
        parameters = kh * kw * cin * cout + bias(cout);
      } else {
        const multiplier = positiveInt(c.depth_multiplier ?? 1, name, "depth_multiplier");
        if (layer.class_name === "DepthwiseConv2D") {
          cout = cin * multiplier;
          parameters = kh * kw * cin * multiplier + bias(cout);
        } else {
          cout = positiveInt(c.filters, name, "filters");
          parameters = kh * kw * cin * multiplier + cin * multiplier * cout + bias(cout);
        }
      }
      return plain(channelsFirst ? [cout, h, w] : [h, w, cout], parameters);
    }
    case "MaxPooling1D":
    case "AveragePooling1D": {
      const [pool] = ints(c.pool_size ?? 2, 1, name, "pool_size");
      const [stride] = ints(c.strides ?? pool, 1, name, "strides");
      return plain([convLength(x[0], pool, String(c.padding ?? "valid"), stride, 1), x[1]]);
    }
    case "MaxPooling2D":
    case "AveragePooling2D": {
      const [ph, pw] = ints(c.pool_size ?? 2, 2, name, "pool_size");
      const [sh, sw] = ints(c.strides ?? [ph, pw], 2, name, "strides");
      const padding = String(c.padding ?? "valid");
      if (channelsFirst) {
        return plain([
          x[0],
          convLength(x[1], ph, padding, sh, 1),
          convLength(x[2], pw, padding, sw, 1),
        ]);
      }
      return plain([
        convLength(x[0], ph, padding, sh, 1),
        convLength(x[1], pw, padding, sw, 1),
        x[2],
      ]);
    }
    case "GlobalAveragePooling1D":
    case "GlobalMaxPooling1D":
      return plain([x[x.length - 1]]);
    case "GlobalAveragePooling2D":
    case "GlobalMaxPooling2D":
      return plain([channelsFirst ? x[0] : x[2]]);
    case "Flatten":
      return plain([x.some((d) => d === null) ? null : size(x)]);
    case "Reshape":
      return plain(reshaped(x, c.target_shape, name));
    case "Permute": {
      const dims = ints(c.dims, x.length, name, "dims");
      return plain(dims.map((d) => x[d - 1]));
    }
    case "RepeatVector":
      return plain([positiveInt(c.n, name, "n"), x[0]]);
    case "ZeroPadding2D":
    case "Cropping2D": {
      const [[top, bottom], [left, right]] = pairs(
        layer.class_name === "ZeroPadding2D" ? c.padding : c.cropping,
        name,
      );
      const sign = layer.class_name === "ZeroPadding2D" ? 1 : -1;
      const grow = (d: number | null, by: number) => (d === null ? null : d + sign * by);
      return plain(
        channelsFirst
          ? [x[0], grow(x[1], top + bottom), grow(x[2], left + right)]
          : [grow(x[0], top + bottom), grow(x[1], left + right), x[2]],
      );
    }
    case "UpSampling2D": {
      const [a, b] = ints(c.size ?? 2, 2, name, "size");
      const times = (d: number | null, by: number) => (d === null ? null : d * by);
      return plain(
        channelsFirst
          ? [x[0], times(x[1], a), times(x[2], b)]
          : [times(x[0], a), times(x[1], b), x[2]],
      );
    }
    case "Embedding": {
      const vocab = positiveInt(c.input_dim, name, "input_dim");
      const width = positiveInt(c.output_dim, name, "output_dim");
      return plain([...x, width], vocab * width);
    }
    case "LayerNormalization": {
      const rank = x.length + 1; // with the batch dimension the axes refer to
      const axes = (Array.isArray(c.axis) ? c.axis : [c.axis ?? -1]) as unknown[];
      let normalized = 1;
      for (const a of axes) {
        if (!Number.isInteger(a)) throw invalid(`layer ${name} has axis ${a}`, c.axis);
        const axis = (a as number) < 0 ? (a as number) + rank : (a as number);
        normalized *= known(x[axis - 1], `size on axis ${a}`);
      }
      const copies = (c.center === false ? 0 : 1) + (c.scale === false ? 0 : 1);
      return plain(x, normalized * copies);
    }
    case "PositionEmbedding":
      return plain(x, known(x[0], "sequence length") * known(x[1], "width"));
    case "CausalSelfAttention": {
      const heads = positiveInt(c.heads, name, "heads");
      const time = x[0] ?? 1;
      const width = known(x[1], "width");
      return {
        parameters: width * 3 * width + 3 * width + width * width + width,
        output: x,
        // Packed queries, keys and values; scores and probabilities per head; heads merged.
        inner: 3 * time * width + 2 * heads * time * time + time * width,
      };
    }
    case "Add":
    case "Multiply":
    case "Average":
    case "Maximum":
    case "Minimum":
      return plain(broadcast(inputs));
    case "Concatenate": {
      const rank = x.length + 1;
      const a = Number(c.axis ?? -1);
      const axis = (a < 0 ? a + rank : a) - 1;
      const out = [...x];
      out[axis] = inputs.some((s) => s[axis] === null)
        ? null
        : sum(inputs.map((s) => s[axis] as number));
      return plain(out);
    }
    case "Activation":
    case "ReLU":
    case "LeakyReLU":
    case "ELU":
    case "Softmax":
      return plain(x);
    default:
      throw invalid(
        `layer ${name} is a ${layer.class_name}, which this toolkit cannot size without building ` +
          "it; use a layer of the spec allow-list",
        layer.class_name,
      );
  }
}

/** tfjs-layers' `convOutputLength`: the output length of a convolution or pooling window. */
function convLength(
  length: number | null,
  window: number,
  padding: string,
  stride: number,
  dilation: number,
): number | null {
  if (length === null) return null;
  const dilated = window + (window - 1) * (dilation - 1);
  const out = padding === "valid" ? length - dilated + 1 : length;
  return Math.floor((out + stride - 1) / stride);
}

function reshaped(x: Shape, target: unknown, name: string): Shape {
  if (!Array.isArray(target)) throw invalid(`layer ${name} has no target_shape`, target);
  const dims = target as number[];
  const unknown = dims.indexOf(-1);
  if (unknown < 0) return [...dims];
  const total = x.some((d) => d === null) ? null : size(x);
  const rest = dims.reduce((p, d) => (d === -1 ? p : p * d), 1);
  const out: Shape = [...dims];
  out[unknown] = total === null ? null : total / rest;
  return out;
}

/** Elementwise merge: shapes aligned on the right, a size of 1 stretching to the other. */
function broadcast(shapes: Shape[]): Shape {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: Shape = [];
  for (let i = 0; i < rank; i++) {
    let dim: number | null = 1;
    for (const s of shapes) {
      const d = s[s.length - rank + i] ?? 1;
      if (d === null) dim = dim === 1 ? null : dim;
      else if (d !== 1) dim = d;
    }
    out.push(dim);
  }
  return out;
}

/** A size or tuple field (`3` or `[3, 3]`) as `count` positive integers. */
function ints(value: unknown, count: number, name: string, field: string): number[] {
  const list = Array.isArray(value) ? value : Array.from({ length: count }, () => value);
  if (list.length !== count) {
    throw invalid(`layer ${name} has ${field} ${JSON.stringify(value)}`, value);
  }
  return list.map((v) => positiveInt(v, name, field));
}

/** Padding or cropping as `[[top, bottom], [left, right]]` (from `n`, `[h, w]` or the pairs). */
function pairs(value: unknown, name: string): [[number, number], [number, number]] {
  const one = (v: unknown): [number, number] => {
    if (Array.isArray(v)) return [count(v[0]), count(v[1])];
    return [count(v), count(v)];
  };
  const count = (v: unknown): number => {
    if (!Number.isInteger(v) || (v as number) < 0) {
      throw invalid(`layer ${name} has padding or cropping ${JSON.stringify(value)}`, value);
    }
    return v as number;
  };
  if (Array.isArray(value)) return [one(value[0]), one(value[1])];
  return [one(value), one(value)];
}

function positiveInt(value: unknown, name: string, field: string): number {
  if (!Number.isSafeInteger(value) || (value as number) < 1) {
    throw invalid(
      `layer ${name} has ${field} ${JSON.stringify(value)}; it must be a positive integer`,
      value,
    );
  }
  return value as number;
}

function size(shape: ExampleShape): number {
  return shape.reduce<number>((p, d) => p * (d ?? 1), 1);
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

function invalid(what: string, value: unknown): SpecError {
  return new SpecError(
    "SPEC_INVALID_TOPOLOGY",
    `cannot size the model from its spec: ${what}; define the model with defineModel from tfjs layers`,
    { value },
  );
}
