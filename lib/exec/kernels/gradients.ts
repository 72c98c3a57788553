/**
 * Gradient kernels the tfjs wasm backend lacks or runs slowly, supplied by the profile.
 *
 * tfjs-backend-wasm 4.22 has no `Conv2DBackpropFilter`, no depthwise-convolution backprop and no
 * `UnsortedSegmentSum` (the gradient of a gather, so of `Embedding`), so convnets and embeddings
 * cannot train on it as shipped; its `MaxPoolGrad` and `Conv2DBackpropInput` are generic loops.
 * Each kernel here is one native function (`native.c`) whose summation order is fixed, or, for
 * the input gradient of a stride-1 convolution, the backend's own XNNPACK convolution of the
 * padded output gradient with the flipped filter. Which one runs depends only on the kernel's
 * shapes and attributes, so every node running the profile computes the same bits.
 *
 * @module
 */

import * as tf from "npm:@tensorflow/tfjs@4.22.0";
import { ProfileMismatchError } from "../../core/errors.ts";
import { wasmKernelContext } from "./native.ts";

type KernelConfig = ReturnType<typeof tf.getKernel> & object;
type KernelArgs = Parameters<KernelConfig["kernelFunc"]>[0];
type Info = tf.TensorInfo;
type Conv2DInfo = ReturnType<typeof tf.backend_util.computeConv2DInfo>;

/** A kernel of the profile: its name and implementation, given the kernel it replaces if any. */
export interface ProfileKernel {
  /** tfjs kernel name. */
  readonly kernelName: string;
  /** The implementation; `original` is the backend's own kernel of that name, when it has one. */
  readonly make: (original: KernelConfig | undefined, simd: boolean) => KernelConfig["kernelFunc"];
}

function requireFloat32(kernel: string, ...infos: Info[]): void {
  for (const info of infos) {
    if (info.dtype !== "float32") {
      throw new ProfileMismatchError(
        "PROFILE_UNSUPPORTED_KERNEL",
        `${kernel} on the wasm profiles takes float32 tensors, got ${info.dtype}; cast the ` +
          "values to float32 or train under the cpu profile",
        { value: info.dtype },
      );
    }
  }
}

/** The padding, stride and dilation arguments every convolution-shaped native kernel takes. */
function windowArgs(info: Conv2DInfo): number[] {
  return [
    info.filterHeight,
    info.filterWidth,
    info.strideHeight,
    info.strideWidth,
    info.dilationHeight,
    info.dilationWidth,
    info.padInfo.top,
    info.padInfo.left,
  ];
}

interface ConvAttrs {
  strides: number | [number, number];
  pad: "valid" | "same" | number | tf.backend_util.ExplicitPadding;
  dimRoundingMode?: "floor" | "round" | "ceil";
  dilations?: number | [number, number];
  dataFormat?: "NHWC" | "NCHW";
  filterShape?: [number, number, number, number];
  inputShape?: [number, number, number, number];
}

function channelsLast(kernel: string, attrs: ConvAttrs): void {
  if (attrs.dataFormat !== undefined && attrs.dataFormat !== "NHWC") {
    throw new ProfileMismatchError(
      "PROFILE_UNSUPPORTED_KERNEL",
      `${kernel} on the wasm profiles supports channels-last (NHWC) data only, got ` +
        `${attrs.dataFormat}; use dataFormat "channelsLast"`,
      { value: attrs.dataFormat },
    );
  }
}

const conv2dBackpropFilter: ProfileKernel = {
  kernelName: tf.Conv2DBackpropFilter,
  make: (_original, simd) => (args: KernelArgs) => {
    const { x, dy } = args.inputs as { x: Info; dy: Info };
    const attrs = args.attrs as unknown as ConvAttrs;
    channelsLast(tf.Conv2DBackpropFilter, attrs);
    requireFloat32(tf.Conv2DBackpropFilter, x, dy);
    const info = tf.backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number],
      attrs.filterShape!,
      attrs.strides,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
    );
    const ctx = wasmKernelContext(args.backend, simd);
    const dw = ctx.output(info.filterShape);
    const patch = info.filterHeight * info.filterWidth * info.inChannels;
    // Positions per im2col block: about 16k floats of patches, so the block stays in cache.
    const block = Math.max(8, Math.floor(16384 / patch));
    ctx.withScratch(block * patch, (scratch) =>
      ctx.native.conv2d_grad_filter(
        ctx.ptr(x),
        ctx.ptr(dy),
        ctx.ptr(dw),
        scratch,
        block,
        info.batchSize,
        info.inHeight,
        info.inWidth,
        info.inChannels,
        info.outHeight,
        info.outWidth,
        info.outChannels,
        ...windowArgs(info),
      ));
    return dw;
  },
};

/**
 * The input gradient of a stride-1 convolution is a convolution of the output gradient, padded to
 * "full", with the filter flipped in space and its channel axes swapped: the backend's XNNPACK
 * convolution runs it. Other strides keep the backend's own kernel.
 */
const conv2dBackpropInput: ProfileKernel = {
  kernelName: tf.Conv2DBackpropInput,
  make: (original) => {
    const conv = tf.getKernel(tf.Conv2D, "wasm");
    const reverse = tf.getKernel(tf.Reverse, "wasm");
    const transpose = tf.getKernel(tf.Transpose, "wasm");
    return (args: KernelArgs) => {
      const { dy, filter } = args.inputs as { dy: Info; filter: Info };
      const attrs = args.attrs as unknown as ConvAttrs;
      const info = tf.backend_util.computeConv2DInfo(
        attrs.inputShape!,
        filter.shape as [number, number, number, number],
        attrs.strides,
        1,
        attrs.pad,
        attrs.dimRoundingMode,
      );
      const top = info.filterHeight - 1 - info.padInfo.top;
      const left = info.filterWidth - 1 - info.padInfo.left;
      const bottom = info.inHeight - info.outHeight + info.filterHeight - 1 - top;
      const right = info.inWidth - info.outWidth + info.filterWidth - 1 - left;
      const fast = info.strideHeight === 1 && info.strideWidth === 1 && top >= 0 && left >= 0 &&
        bottom >= 0 && right >= 0 && dy.dtype === "float32" &&
        (attrs.dataFormat ?? "NHWC") === "NHWC" && conv && reverse && transpose;
      if (!fast) {
        if (!original) {
          throw new ProfileMismatchError(
            "PROFILE_UNSUPPORTED_KERNEL",
            "Conv2DBackpropInput has no wasm kernel for this case",
          );
        }
        return original.kernelFunc(args);
      }
      const backend = args.backend as { disposeData(dataId: object): void };
      const flipped = reverse!.kernelFunc({
        inputs: { x: filter },
        backend: args.backend,
        attrs: { dims: [0, 1] },
      }) as Info;
      const swapped = transpose!.kernelFunc({
        inputs: { x: flipped },
        backend: args.backend,
        attrs: { perm: [0, 1, 3, 2] },
      }) as Info;
      try {
        return conv!.kernelFunc({
          inputs: { x: dy, filter: swapped },
          backend: args.backend,
          attrs: {
            strides: 1,
            dilations: 1,
            pad: [[0, 0], [top, bottom], [left, right], [0, 0]],
            dataFormat: "NHWC",
          } as unknown as tf.NamedAttrMap,
        });
      } finally {
        backend.disposeData(flipped.dataId);
        backend.disposeData(swapped.dataId);
      }
    };
  },
};

function depthwiseInfo(xShape: number[], filterShape: number[], attrs: ConvAttrs): Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
    true,
  );
}

function depthwiseArgs(info: Conv2DInfo): number[] {
  return [
    info.batchSize,
    info.inHeight,
    info.inWidth,
    info.inChannels,
    info.outHeight,
    info.outWidth,
    info.outChannels / info.inChannels,
    ...windowArgs(info),
  ];
}

const depthwiseBackpropFilter: ProfileKernel = {
  kernelName: tf.DepthwiseConv2dNativeBackpropFilter,
  make: (_original, simd) => (args: KernelArgs) => {
    const { x, dy } = args.inputs as { x: Info; dy: Info };
    const attrs = args.attrs as unknown as ConvAttrs;
    requireFloat32(tf.DepthwiseConv2dNativeBackpropFilter, x, dy);
    const info = depthwiseInfo(x.shape, attrs.filterShape!, attrs);
    const ctx = wasmKernelContext(args.backend, simd);
    const dw = ctx.output(info.filterShape);
    ctx.native.depthwise_grad_filter(ctx.ptr(x), ctx.ptr(dy), ctx.ptr(dw), ...depthwiseArgs(info));
    return dw;
  },
};

const depthwiseBackpropInput: ProfileKernel = {
  kernelName: tf.DepthwiseConv2dNativeBackpropInput,
  make: (_original, simd) => (args: KernelArgs) => {
    const { dy, filter } = args.inputs as { dy: Info; filter: Info };
    const attrs = args.attrs as unknown as ConvAttrs;
    requireFloat32(tf.DepthwiseConv2dNativeBackpropInput, dy, filter);
    const info = depthwiseInfo(attrs.inputShape!, filter.shape, attrs);
    const ctx = wasmKernelContext(args.backend, simd);
    const dx = ctx.output(attrs.inputShape!);
    ctx.native.depthwise_grad_input(
      ctx.ptr(dy),
      ctx.ptr(filter),
      ctx.ptr(dx),
      ...depthwiseArgs(info),
    );
    return dx;
  },
};

const maxPoolGrad: ProfileKernel = {
  kernelName: tf.MaxPoolGrad,
  make: (_original, simd) => (args: KernelArgs) => {
    const { dy, input } = args.inputs as { dy: Info; input: Info };
    const attrs = args.attrs as unknown as {
      filterSize: number | [number, number];
      strides: number | [number, number];
      pad: "valid" | "same" | number;
      dimRoundingMode?: "floor" | "round" | "ceil";
    };
    requireFloat32(tf.MaxPoolGrad, dy, input);
    const info = tf.backend_util.computePool2DInfo(
      input.shape as [number, number, number, number],
      attrs.filterSize,
      attrs.strides,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
    );
    const ctx = wasmKernelContext(args.backend, simd);
    const dx = ctx.output(input.shape);
    ctx.withScratch(2 * info.inChannels, (scratch) =>
      ctx.native.max_pool_grad(
        ctx.ptr(input),
        ctx.ptr(dy),
        ctx.ptr(dx),
        scratch,
        info.batchSize,
        info.inHeight,
        info.inWidth,
        info.inChannels,
        info.outHeight,
        info.outWidth,
        info.strideHeight,
        info.strideWidth,
        info.dilationHeight,
        info.dilationWidth,
        info.effectiveFilterHeight,
        info.effectiveFilterWidth,
        info.padInfo.top,
        info.padInfo.left,
      ));
    return dx;
  },
};

const unsortedSegmentSum: ProfileKernel = {
  kernelName: tf.UnsortedSegmentSum,
  make: (_original, simd) => (args: KernelArgs) => {
    const { x, segmentIds } = args.inputs as { x: Info; segmentIds: Info };
    const { numSegments } = args.attrs as unknown as { numSegments: number };
    requireFloat32(tf.UnsortedSegmentSum, x);
    const rows = segmentIds.shape.reduce((a, b) => a * b, 1);
    const innerShape = x.shape.slice(segmentIds.shape.length);
    const inner = innerShape.reduce((a, b) => a * b, 1);
    const ctx = wasmKernelContext(args.backend, simd);
    const out = ctx.output([numSegments, ...innerShape]);
    ctx.native.unsorted_segment_sum(
      ctx.ptr(x),
      ctx.ptr(segmentIds),
      ctx.ptr(out),
      rows,
      inner,
      numSegments,
    );
    return out;
  },
};

/** The gradient kernels of the wasm profiles. */
export const GRADIENT_KERNELS: readonly ProfileKernel[] = [
  conv2dBackpropFilter,
  conv2dBackpropInput,
  depthwiseBackpropFilter,
  depthwiseBackpropInput,
  maxPoolGrad,
  unsortedSegmentSum,
];
