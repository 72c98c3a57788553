/**
 * Row kernels of the wasm profiles: the bias add and its gradient (a row-broadcast `Add`, a `Sum`
 * over the leading axes) and the row gather of an embedding lookup.
 *
 * tfjs-layers adds a convolution's bias with a broadcasting `Add`, and the bias gradient is a
 * `Sum` over every axis but the last; the wasm backend runs the first as a generic broadcast and
 * the second by transposing the whole tensor first. Here both are one pass of `native.c`. The add
 * is the same single float32 addition per element, so its bits are those of any `Add`; the sum
 * runs over rows in ascending order (a fixed order of the profile). A `GatherV2` of rows (axis 0,
 * as in `Embedding`) is a plain copy per index.
 *
 * @module
 */

import * as tf from "npm:@tensorflow/tfjs@4.22.0";
import type { ProfileKernel } from "./gradients.ts";
import { wasmKernelContext } from "./native.ts";

type KernelConfig = ReturnType<typeof tf.getKernel> & object;
type KernelArgs = Parameters<KernelConfig["kernelFunc"]>[0];
type Info = tf.TensorInfo;

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * `[full, row]` when one input is broadcast over the leading axes of the other: its shape equals
 * the other's trailing axes (a bias `[c]` over `[n, h, w, c]`, positions `[t, c]` over `[b, t, c]`).
 */
function rowBroadcast(a: Info, b: Info): [Info, Info] | undefined {
  if (a.dtype !== "float32" || b.dtype !== "float32") return undefined;
  const fits = (full: Info, row: Info) =>
    row.shape.length >= 1 && row.shape.length < full.shape.length && size(row.shape) > 0 &&
    row.shape.every((d, i) => d === full.shape[full.shape.length - row.shape.length + i]);
  if (fits(a, b)) return [a, b];
  if (fits(b, a)) return [b, a];
  return undefined;
}

const addRows: ProfileKernel = {
  kernelName: tf.Add,
  make: (original, simd) => (args: KernelArgs) => {
    const { a, b } = args.inputs as { a: Info; b: Info };
    const pair = rowBroadcast(a, b);
    if (!pair) return original!.kernelFunc(args);
    const [full, row] = pair;
    const ctx = wasmKernelContext(args.backend, simd);
    const out = ctx.output(full.shape);
    const cols = size(row.shape);
    ctx.native.add_rows(ctx.ptr(full), ctx.ptr(row), ctx.ptr(out), size(full.shape) / cols, cols);
    return out;
  },
};

const sumLeadingAxes: ProfileKernel = {
  kernelName: tf.Sum,
  make: (original, simd) => (args: KernelArgs) => {
    const { x } = args.inputs as { x: Info };
    const { axis, keepDims } = args.attrs as unknown as {
      axis: number | number[];
      keepDims: boolean;
    };
    const rank = x.shape.length;
    const axes = (Array.isArray(axis) ? axis : [axis]).map((a) => (a < 0 ? a + rank : a))
      .sort((p, q) => p - q);
    const leading = axes.length > 0 && axes.length < rank && axes.every((a, i) => a === i);
    if (!leading || x.dtype !== "float32" || size(x.shape) === 0) {
      return original!.kernelFunc(args);
    }
    const rest = x.shape.slice(axes.length);
    const ctx = wasmKernelContext(args.backend, simd);
    const out = ctx.output(keepDims ? [...axes.map(() => 1), ...rest] : rest);
    const cols = size(rest);
    ctx.native.sum_rows(ctx.ptr(x), ctx.ptr(out), size(x.shape) / cols, cols);
    return out;
  },
};

const gatherRows: ProfileKernel = {
  kernelName: tf.GatherV2,
  make: (original, simd) => (args: KernelArgs) => {
    const { x, indices } = args.inputs as { x: Info; indices: Info };
    const { axis, batchDims } = args.attrs as unknown as { axis: number; batchDims: number };
    const rows = x.shape[0];
    if (
      (axis !== 0 && axis !== -x.shape.length) || (batchDims ?? 0) !== 0 ||
      x.dtype !== "float32" || indices.dtype !== "int32" || x.shape.length < 1 || rows === 0
    ) {
      return original!.kernelFunc(args);
    }
    const inner = size(x.shape.slice(1));
    const n = size(indices.shape);
    const ctx = wasmKernelContext(args.backend, simd);
    const out = ctx.output([...indices.shape, ...x.shape.slice(1)]);
    const bad = ctx.native.gather_rows(ctx.ptr(x), ctx.ptr(indices), ctx.ptr(out), n, inner, rows);
    if (bad > 0) {
      (args.backend as { disposeData(dataId: object): void }).disposeData(out.dataId);
      throw new Error(
        `GatherV2: ${bad} of ${n} indices are not in [0, ${rows - 1}]; token or class ids must ` +
          "be smaller than the table (an Embedding's inputDim)",
      );
    }
    return out;
  },
};

/** The row kernels of the wasm profiles. */
export const ROW_KERNELS: readonly ProfileKernel[] = [addRows, sumLeadingAxes, gatherRows];
