/**
 * Fused kernels: one native kernel where tfjs would run a chain of small ones.
 *
 * A transformer step in stock tfjs runs thousands of tiny kernels (layer normalization alone runs
 * a `Tile` whose gradient is one `Slice` and one `Add` per tiled row), and each pays JavaScript
 * overhead. Under the wasm profiles these run as single kernels of `native.c`:
 *
 * | op                       | forward kernel         | backward kernel            |
 * | ------------------------ | ---------------------- | -------------------------- |
 * | layer normalization      | `LayerNorm`            | `LayerNormGrad`            |
 * | GELU                     | `Gelu`                 | `GeluGrad`                 |
 * | causal self-attention    | `CausalAttention`      | `CausalAttentionGrad`      |
 * | softmax cross-entropy    | `SoftmaxCrossEntropy`  | `SoftmaxCrossEntropyGrad`  |
 * | Adam's update            | `AdamUpdate`           | (not differentiated)       |
 *
 * They are ordinary tfjs kernels with registered gradients, so the op recorder sees them and the
 * referee recomputes them like any other kernel. Backends without them (the `cpu` profile) run
 * the composite of stock ops below instead, so the choice depends on the profile only. tfjs-layers'
 * `LayerNormalization` (over the last axis) and `gelu` activation are routed through these ops.
 *
 * @module
 */

import * as tf from "npm:@tensorflow/tfjs@4.22.0";
import type { ProfileKernel } from "./gradients.ts";
import { wasmKernelContext } from "./native.ts";

type KernelConfig = ReturnType<typeof tf.getKernel> & object;
type KernelArgs = Parameters<KernelConfig["kernelFunc"]>[0];
type Info = tf.TensorInfo;

/** Kernel names of the fused ops. */
export const FUSED = {
  layerNorm: "LayerNorm",
  layerNormGrad: "LayerNormGrad",
  gelu: "Gelu",
  geluGrad: "GeluGrad",
  attention: "CausalAttention",
  attentionGrad: "CausalAttentionGrad",
  crossEntropy: "SoftmaxCrossEntropy",
  crossEntropyGrad: "SoftmaxCrossEntropyGrad",
  adam: "AdamUpdate",
} as const;

/** Whether the active backend runs `kernelName` (the wasm profiles register the fused kernels). */
export function hasKernel(kernelName: string): boolean {
  return tf.getKernel(kernelName, tf.getBackend()) !== undefined;
}

function run<T extends tf.Tensor | tf.Tensor[]>(
  kernelName: string,
  inputs: Record<string, tf.Tensor>,
  attrs: Record<string, unknown> = {},
): T {
  return tf.engine().runKernel(
    kernelName,
    inputs as unknown as tf.NamedTensorMap,
    attrs as unknown as tf.NamedAttrMap,
  ) as T;
}

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

// ---------------------------------------------------------------------------------- the ops

/**
 * Layer normalization over the last axis: `(x - mean) / sqrt(var + epsilon) * gamma + beta`.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { layerNorm } from "./fused.ts";
 * const y = layerNorm(tf.randomNormal([2, 8]), tf.ones([8]), tf.zeros([8]), 1e-5);
 * ```
 */
export function layerNorm(
  x: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  epsilon: number,
): tf.Tensor {
  if (hasKernel(FUSED.layerNorm)) return run(FUSED.layerNorm, { x, gamma, beta }, { epsilon });
  return tf.tidy(() => {
    const mean = tf.mean(x, -1, true);
    const centered = tf.sub(x, mean);
    const variance = tf.mean(tf.square(centered), -1, true);
    return tf.add(tf.mul(tf.mul(centered, tf.rsqrt(tf.add(variance, epsilon))), gamma), beta);
  });
}

/** GELU, exact form: `0.5 x (1 + erf(x / sqrt(2)))`. */
export function gelu(x: tf.Tensor): tf.Tensor {
  if (hasKernel(FUSED.gelu)) return run(FUSED.gelu, { x });
  return tf.tidy(() => tf.mul(x, tf.mul(0.5, tf.add(1, tf.erf(tf.div(x, Math.SQRT2))))));
}

/**
 * Multi-head causal self-attention on packed projections: `qkv` is `[batch, time, 3 * width]`
 * (queries, keys, values; head `h` at columns `h * width / heads` of each); returns
 * `[batch, time, width]`, each position attending to itself and the positions before it, with
 * scores scaled by `1 / sqrt(width / heads)`.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { causalAttention } from "./fused.ts";
 * const y = causalAttention(tf.randomNormal([2, 16, 3 * 32]), 4); // [2, 16, 32]
 * ```
 */
export function causalAttention(qkv: tf.Tensor, heads: number): tf.Tensor {
  if (hasKernel(FUSED.attention)) return run(FUSED.attention, { qkv }, { heads });
  return tf.tidy(() => {
    const [b, t, w] = qkv.shape;
    const c = w / 3;
    const d = c / heads;
    const split = (i: number) =>
      tf.transpose(tf.reshape(tf.slice(qkv, [0, 0, i * c], [b, t, c]), [b, t, heads, d]), [
        0,
        2,
        1,
        3,
      ]);
    const mask = causalMask(t);
    const scores = tf.add(
      tf.mul(tf.matMul(split(0), split(1), false, true), 1 / Math.sqrt(d)),
      mask,
    );
    const y = tf.matMul(tf.softmax(scores), split(2));
    return tf.reshape(tf.transpose(y, [0, 2, 1, 3]), [b, t, c]);
  });
}

const masks = new Map<number, tf.Tensor>();

/** `[t, t]` additive mask: 0 on and below the diagonal, -1e9 above (kept for the process). */
function causalMask(t: number): tf.Tensor {
  let mask = masks.get(t);
  if (mask === undefined || mask.isDisposed) {
    const values = new Float32Array(t * t);
    for (let i = 0; i < t; i++) for (let j = i + 1; j < t; j++) values[i * t + j] = -1e9;
    mask = tf.keep(tf.tensor(values, [t, t]));
    masks.set(t, mask);
  }
  return mask;
}

/**
 * Mean softmax cross-entropy of `[rows, classes]` logits against int32 class labels `[rows]`.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { softmaxCrossEntropy } from "./fused.ts";
 * const loss = softmaxCrossEntropy(tf.randomNormal([4, 10]), tf.tensor1d([1, 2, 3, 4], "int32"));
 * ```
 */
export function softmaxCrossEntropy(logits: tf.Tensor, labels: tf.Tensor): tf.Scalar {
  if (hasKernel(FUSED.crossEntropy)) return run(FUSED.crossEntropy, { logits, labels });
  return tf.tidy(() => {
    const oneHot = tf.oneHot(labels as tf.Tensor1D, logits.shape[logits.shape.length - 1]);
    return tf.neg(tf.mean(tf.sum(tf.mul(oneHot, tf.logSoftmax(logits)), -1))) as tf.Scalar;
  });
}

/** Adam's hyperparameters as the update kernel takes them. */
export interface AdamAttrs {
  /** Step size. */
  readonly learningRate: number;
  /** First-moment decay. */
  readonly beta1: number;
  /** Second-moment decay. */
  readonly beta2: number;
  /** Denominator fuzz. */
  readonly epsilon: number;
  /** Optimizer step, 1-based (bias correction). */
  readonly step: number;
}

/**
 * One Adam step (Kingma & Ba 2015, Algorithm 1, bias corrections folded into the step size) for
 * one weight: returns `[weight, m, v]` after the step.
 */
export function adamUpdate(
  w: tf.Tensor,
  g: tf.Tensor,
  m: tf.Tensor,
  v: tf.Tensor,
  attrs: AdamAttrs,
): [tf.Tensor, tf.Tensor, tf.Tensor] {
  if (hasKernel(FUSED.adam)) return run(FUSED.adam, { w, g, m, v }, { ...attrs });
  return tf.tidy(() => {
    const { beta1, beta2, epsilon, learningRate, step } = attrs;
    const m1 = tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1));
    const v1 = tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2));
    const mHat = tf.div(m1, 1 - beta1 ** step);
    const vHat = tf.div(v1, 1 - beta2 ** step);
    const w1 = tf.sub(w, tf.div(tf.mul(mHat, learningRate), tf.add(tf.sqrt(vHat), epsilon)));
    return [w1, m1, v1];
  });
}

// ---------------------------------------------------------------------------------- gradients

tf.registerGradient({
  kernelName: FUSED.layerNorm,
  inputsToSave: ["x", "gamma", "beta"],
  gradFunc: (dy, saved, attrs) => {
    const [x, gamma] = saved;
    const [dx, dgamma, dbeta] = run<tf.Tensor[]>(
      FUSED.layerNormGrad,
      { dy: dy as tf.Tensor, x, gamma },
      { epsilon: (attrs as unknown as { epsilon: number }).epsilon },
    );
    return { x: () => dx, gamma: () => dgamma, beta: () => dbeta };
  },
});

tf.registerGradient({
  kernelName: FUSED.gelu,
  inputsToSave: ["x"],
  gradFunc: (dy, saved) => {
    const dx = run<tf.Tensor>(FUSED.geluGrad, { dy: dy as tf.Tensor, x: saved[0] });
    return { x: () => dx };
  },
});

tf.registerGradient({
  kernelName: FUSED.attention,
  inputsToSave: ["qkv"],
  gradFunc: (dy, saved, attrs) => {
    const dqkv = run<tf.Tensor>(
      FUSED.attentionGrad,
      { dy: dy as tf.Tensor, qkv: saved[0] },
      { heads: (attrs as unknown as { heads: number }).heads },
    );
    return { qkv: () => dqkv };
  },
});

tf.registerGradient({
  kernelName: FUSED.crossEntropy,
  inputsToSave: ["logits", "labels"],
  gradFunc: (dy, saved) => {
    const [logits, labels] = saved;
    const dlogits = run<tf.Tensor>(FUSED.crossEntropyGrad, { dy: dy as tf.Tensor, logits, labels });
    return { logits: () => dlogits, labels: () => tf.zerosLike(labels) };
  },
});

// ---------------------------------------------------------------------------------- wasm kernels

function lastAxis(x: Info): { rows: number; cols: number } {
  const cols = x.shape[x.shape.length - 1] ?? 1;
  return { rows: cols === 0 ? 0 : size(x.shape) / cols, cols };
}

function attentionDims(qkv: Info, heads: number) {
  const [b, t, w] = qkv.shape;
  const c = w / 3;
  const d = c / heads;
  if (qkv.shape.length !== 3 || !Number.isInteger(c) || !Number.isInteger(d) || d < 1) {
    throw new Error(
      `CausalAttention takes [batch, time, 3 * width] with width divisible by heads (${heads}), ` +
        `got [${qkv.shape}]`,
    );
  }
  return { b, t, c, d, scale: 1 / Math.sqrt(d) };
}

/** The fused kernels of the wasm profiles. */
export const FUSED_KERNELS: readonly ProfileKernel[] = [
  {
    kernelName: FUSED.layerNorm,
    make: (_o, simd) => (args: KernelArgs) => {
      const { x, gamma, beta } = args.inputs as Record<string, Info>;
      const { epsilon } = args.attrs as unknown as { epsilon: number };
      const ctx = wasmKernelContext(args.backend, simd);
      const { rows, cols } = lastAxis(x);
      const y = ctx.output(x.shape);
      ctx.native.layer_norm(
        ctx.ptr(x),
        ctx.ptr(gamma),
        ctx.ptr(beta),
        ctx.ptr(y),
        rows,
        cols,
        epsilon,
      );
      return y;
    },
  },
  {
    kernelName: FUSED.layerNormGrad,
    make: (_o, simd) => (args: KernelArgs) => {
      const { dy, x, gamma } = args.inputs as Record<string, Info>;
      const { epsilon } = args.attrs as unknown as { epsilon: number };
      const ctx = wasmKernelContext(args.backend, simd);
      const { rows, cols } = lastAxis(x);
      const dx = ctx.output(x.shape);
      const dgamma = ctx.output(gamma.shape);
      const dbeta = ctx.output(gamma.shape);
      ctx.native.layer_norm_grad(
        ctx.ptr(dy),
        ctx.ptr(x),
        ctx.ptr(gamma),
        ctx.ptr(dx),
        ctx.ptr(dgamma),
        ctx.ptr(dbeta),
        rows,
        cols,
        epsilon,
      );
      return [dx, dgamma, dbeta];
    },
  },
  {
    kernelName: FUSED.gelu,
    make: (_o, simd) => (args: KernelArgs) => {
      const { x } = args.inputs as Record<string, Info>;
      const ctx = wasmKernelContext(args.backend, simd);
      const y = ctx.output(x.shape);
      ctx.native.gelu(ctx.ptr(x), ctx.ptr(y), size(x.shape));
      return y;
    },
  },
  {
    kernelName: FUSED.geluGrad,
    make: (_o, simd) => (args: KernelArgs) => {
      const { dy, x } = args.inputs as Record<string, Info>;
      const ctx = wasmKernelContext(args.backend, simd);
      const dx = ctx.output(x.shape);
      ctx.native.gelu_grad(ctx.ptr(dy), ctx.ptr(x), ctx.ptr(dx), size(x.shape));
      return dx;
    },
  },
  {
    kernelName: FUSED.attention,
    make: (_o, simd) => (args: KernelArgs) => {
      const { qkv } = args.inputs as Record<string, Info>;
      const { heads } = args.attrs as unknown as { heads: number };
      const { b, t, c, d, scale } = attentionDims(qkv, heads);
      const ctx = wasmKernelContext(args.backend, simd);
      const y = ctx.output([b, t, c]);
      ctx.withScratch(
        d * t + t,
        (scratch) =>
          ctx.native.causal_attention(ctx.ptr(qkv), ctx.ptr(y), scratch, b, t, heads, d, scale),
      );
      return y;
    },
  },
  {
    kernelName: FUSED.attentionGrad,
    make: (_o, simd) => (args: KernelArgs) => {
      const { dy, qkv } = args.inputs as Record<string, Info>;
      const { heads } = args.attrs as unknown as { heads: number };
      const { b, t, d, scale } = attentionDims(qkv, heads);
      const ctx = wasmKernelContext(args.backend, simd);
      const dqkv = ctx.output(qkv.shape);
      ctx.withScratch(2 * d * t + 2 * t, (scratch) =>
        ctx.native.causal_attention_grad(
          ctx.ptr(dy),
          ctx.ptr(qkv),
          ctx.ptr(dqkv),
          scratch,
          b,
          t,
          heads,
          d,
          scale,
        ));
      return dqkv;
    },
  },
  {
    kernelName: FUSED.crossEntropy,
    make: (_o, simd) => (args: KernelArgs) => {
      const { logits, labels } = args.inputs as Record<string, Info>;
      const ctx = wasmKernelContext(args.backend, simd);
      const { rows, cols } = lastAxis(logits);
      const out = ctx.output([]);
      ctx.native.softmax_xent(ctx.ptr(logits), ctx.ptr(labels), ctx.ptr(out), rows, cols);
      return out;
    },
  },
  {
    kernelName: FUSED.crossEntropyGrad,
    make: (_o, simd) => (args: KernelArgs) => {
      const { dy, logits, labels } = args.inputs as Record<string, Info>;
      const ctx = wasmKernelContext(args.backend, simd);
      const { rows, cols } = lastAxis(logits);
      const dx = ctx.output(logits.shape);
      ctx.native.softmax_xent_grad(
        ctx.ptr(logits),
        ctx.ptr(labels),
        ctx.ptr(dy),
        ctx.ptr(dx),
        rows,
        cols,
      );
      return dx;
    },
  },
  {
    kernelName: FUSED.adam,
    make: (_o, simd) => (args: KernelArgs) => {
      const { w, g, m, v } = args.inputs as Record<string, Info>;
      const a = args.attrs as unknown as AdamAttrs;
      const ctx = wasmKernelContext(args.backend, simd);
      const [w1, m1, v1] = [ctx.output(w.shape), ctx.output(w.shape), ctx.output(w.shape)];
      ctx.native.adam(
        ctx.ptr(w),
        ctx.ptr(g),
        ctx.ptr(m),
        ctx.ptr(v),
        ctx.ptr(w1),
        ctx.ptr(m1),
        ctx.ptr(v1),
        size(w.shape),
        a.beta1,
        1 - a.beta1,
        a.beta2,
        1 - a.beta2,
        a.learningRate,
        1 - a.beta1 ** a.step,
        1 - a.beta2 ** a.step,
        a.epsilon,
      );
      return [w1, m1, v1];
    },
  },
];

// ---------------------------------------------------------------------------------- tfjs-layers

interface LayerNormInternals {
  axis: number | number[];
  epsilon: number;
  center: boolean;
  scale: boolean;
  gamma: { read(): tf.Tensor } | null;
  beta: { read(): tf.Tensor } | null;
}

function registeredClass(name: string): { prototype: Record<string, unknown> } {
  const entry = tf.serialization.SerializationMap.getMap().classNameMap[name];
  if (!entry) throw new Error(`tfjs-layers has no registered class ${name}`);
  return entry[0] as unknown as { prototype: Record<string, unknown> };
}

/**
 * Routes tfjs-layers' `LayerNormalization` over the last axis and its `gelu` activation through
 * the fused ops, where the active backend has the fused kernels (once per process).
 */
function routeLayersThroughFusedOps(): void {
  const layerNormalization = registeredClass("LayerNormalization").prototype;
  const originalCall = layerNormalization.call as (...args: unknown[]) => tf.Tensor;
  layerNormalization.call = function (
    this: LayerNormInternals,
    inputs: tf.Tensor | tf.Tensor[],
    kwargs: unknown,
  ): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    const axes = Array.isArray(this.axis) ? this.axis : [this.axis];
    const lastOnly = axes.length === 1 && (axes[0] === x.rank - 1 || axes[0] === -1);
    if (!hasKernel(FUSED.layerNorm) || !lastOnly) return originalCall.call(this, inputs, kwargs);
    return tf.tidy(() => {
      const width = x.shape[x.rank - 1];
      const gamma = this.scale && this.gamma ? this.gamma.read() : tf.ones([width]);
      const beta = this.center && this.beta ? this.beta.read() : tf.zeros([width]);
      return layerNorm(x, gamma, beta, this.epsilon);
    });
  };
  const geluActivation = registeredClass("gelu").prototype;
  const originalApply = geluActivation.apply as (x: tf.Tensor) => tf.Tensor;
  geluActivation.apply = function (x: tf.Tensor): tf.Tensor {
    return hasKernel(FUSED.gelu) ? gelu(x) : originalApply.call(this, x);
  };
}

routeLayersThroughFusedOps();
