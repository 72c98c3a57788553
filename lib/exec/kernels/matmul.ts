/**
 * Matrix multiplies of the wasm profiles: XNNPACK for single matrices, native for batches.
 *
 * The wasm backend's matrix multiply takes a fast XNNPACK path only for one matrix (batch 1) with
 * neither operand transposed; with `transposeA` or `transposeB` it falls back to a scalar loop
 * about 10x slower (every dense layer's backward pass has one), and a batch of matrices (attention
 * scores, any `tf.matMul` of rank-3 tensors) always takes that loop. So:
 *
 * - batch 1 with only the first operand transposed (every dense layer's weight gradient): the
 *   native `matmul_tn`, sums over the inner dimension in ascending order;
 * - other batch-1 products with a transposed operand: the operand is first materialised by the
 *   `Transpose` kernel, then multiplied by XNNPACK;
 * - a batch (with the same batch on both sides, or one side broadcast): the native `batch_matmul`,
 *   whose every output is a sum over the inner dimension in ascending order.
 *
 * Both are as deterministic as the kernels they replace (same kernels, same order, every time) and
 * part of what the wasm profiles pin.
 *
 * @module
 */

import * as tf from "npm:@tensorflow/tfjs@4.22.0";
import type { ProfileKernel } from "./gradients.ts";
import { wasmKernelContext } from "./native.ts";

type KernelConfig = ReturnType<typeof tf.getKernel> & object;
type KernelArgs = Parameters<KernelConfig["kernelFunc"]>[0];

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function matMulKernel(kernelName: string): ProfileKernel {
  return {
    kernelName,
    make: (original, simd) => {
      const transpose = tf.getKernel(tf.Transpose, "wasm");
      if (!original || !transpose) throw new Error(`wasm has no ${kernelName} kernel`);
      return (args: KernelArgs) => {
        const attrs = args.attrs as { transposeA: boolean; transposeB: boolean };
        const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
        const batchA = size(a.shape.slice(0, -2));
        const batchB = size(b.shape.slice(0, -2));
        const plain = kernelName === tf.BatchMatMul && a.dtype === "float32" &&
          b.dtype === "float32";
        if (
          plain && (batchA > 1 || batchB > 1) && (batchA === batchB || batchA === 1 || batchB === 1)
        ) {
          return batchMatMul(args, a, b, attrs, batchA, batchB, simd);
        }
        if (plain && attrs.transposeA && !attrs.transposeB) {
          return matMulTransposedA(args, a, b, simd);
        }
        if (!attrs.transposeA && !attrs.transposeB) return original.kernelFunc(args);
        const inputs = { ...args.inputs } as Record<string, tf.TensorInfo>;
        const temporaries: tf.TensorInfo[] = [];
        const flip = (name: "a" | "b") => {
          const x = inputs[name];
          const rank = x.shape.length;
          const perm = [...Array(rank).keys()];
          [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1], perm[rank - 2]];
          const t = transpose.kernelFunc({
            inputs: { x },
            backend: args.backend,
            attrs: { perm },
          }) as tf.TensorInfo;
          temporaries.push(t);
          inputs[name] = t;
        };
        if (attrs.transposeA) flip("a");
        if (attrs.transposeB) flip("b");
        const out = original.kernelFunc({
          ...args,
          inputs,
          attrs: { ...args.attrs, transposeA: false, transposeB: false },
        });
        const backend = args.backend as { disposeData(dataId: object): void };
        for (const t of temporaries) backend.disposeData(t.dataId);
        return out;
      };
    },
  };
}

function batchMatMul(
  args: KernelArgs,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  attrs: { transposeA: boolean; transposeB: boolean },
  batchA: number,
  batchB: number,
  simd: boolean,
): tf.TensorInfo {
  const ra = a.shape.length;
  const rb = b.shape.length;
  const m = attrs.transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
  const k = attrs.transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
  const kb = attrs.transposeB ? b.shape[rb - 1] : b.shape[rb - 2];
  const n = attrs.transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
  if (k !== kb) {
    throw new Error(
      `Error in matMul: inner shapes (${k}) and (${kb}) of Tensors with shapes ${a.shape} and ` +
        `${b.shape} and transposeA=${attrs.transposeA} and transposeB=${attrs.transposeB} must match.`,
    );
  }
  const outer = tf.backend_util.assertAndGetBroadcastShape(
    a.shape.slice(0, -2),
    b.shape.slice(0, -2),
  );
  const ctx = wasmKernelContext(args.backend, simd);
  const out = ctx.output([...outer, m, n]);
  const batch = Math.max(batchA, batchB);
  ctx.withScratch(attrs.transposeB ? k * n : 1, (scratch) =>
    ctx.native.batch_matmul(
      ctx.ptr(a),
      ctx.ptr(b),
      ctx.ptr(out),
      batch,
      batchA,
      batchB,
      m,
      k,
      n,
      attrs.transposeA ? 1 : 0,
      attrs.transposeB ? 1 : 0,
      scratch,
    ));
  return out;
}

/** `a^T b` for single matrices (a dense layer's weight gradient): the native `matmul_tn`. */
function matMulTransposedA(
  args: KernelArgs,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  simd: boolean,
): tf.TensorInfo {
  const ra = a.shape.length;
  const rb = b.shape.length;
  const [k, m] = [a.shape[ra - 2], a.shape[ra - 1]];
  const [kb, n] = [b.shape[rb - 2], b.shape[rb - 1]];
  if (k !== kb) {
    throw new Error(
      `Error in matMul: inner shapes (${k}) and (${kb}) of Tensors with shapes ${a.shape} and ` +
        `${b.shape} and transposeA=true and transposeB=false must match.`,
    );
  }
  const outer = tf.backend_util.assertAndGetBroadcastShape(
    a.shape.slice(0, -2),
    b.shape.slice(0, -2),
  );
  const ctx = wasmKernelContext(args.backend, simd);
  const out = ctx.output([...outer, m, n]);
  ctx.native.matmul_tn(ctx.ptr(a), ctx.ptr(b), ctx.ptr(out), k, m, n);
  return out;
}

/** The matrix-multiply kernels of the wasm profiles. */
export const MATMUL_KERNELS: readonly ProfileKernel[] = [
  matMulKernel(tf.BatchMatMul),
  matMulKernel(tf._FusedMatMul),
];
