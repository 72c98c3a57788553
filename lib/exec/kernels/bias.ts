/**
 * The bias add and its gradient on the wasm profiles: a row-broadcast `Add` and a `Sum` over the
 * leading axes.
 *
 * tfjs-layers adds a convolution's bias with a broadcasting `Add`, and the bias gradient is a
 * `Sum` over every axis but the last; the wasm backend runs the first as a generic broadcast and
 * the second by transposing the whole tensor first. Here both are one pass of `native.c`. The add
 * is the same single float32 addition per element, so its bits are those of any `Add`; the sum
 * runs over rows in ascending order (a fixed order of the profile).
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import type { ProfileKernel } from "./gradients.ts";
import { wasmKernelContext } from "./native.ts";

type KernelConfig = ReturnType<typeof tf.getKernel> & object;
type KernelArgs = Parameters<KernelConfig["kernelFunc"]>[0];
type Info = tf.TensorInfo;

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** `[full, row]` when one input is a rank-1 row matching the other's last axis. */
function rowBroadcast(a: Info, b: Info): [Info, Info] | undefined {
  if (a.dtype !== "float32" || b.dtype !== "float32") return undefined;
  const fits = (full: Info, row: Info) =>
    full.shape.length >= 2 && row.shape.length === 1 && row.shape[0] > 0 &&
    full.shape[full.shape.length - 1] === row.shape[0];
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
    const cols = row.shape[0];
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

/** The bias kernels of the wasm profiles. */
export const BIAS_KERNELS: readonly ProfileKernel[] = [addRows, sumLeadingAxes];
