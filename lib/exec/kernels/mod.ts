/**
 * The kernel set of the wasm execution profiles: what a profile installs over tfjs-backend-wasm so
 * that every layer the model allow-list accepts trains, fast and bit for bit the same everywhere.
 *
 * - gradient kernels the backend lacks or runs as slow loops (`gradients.ts`);
 * - matrix multiplies on XNNPACK's fast path, batches on a native kernel (`matmul.ts`);
 * - the bias add, its gradient and row gathers as single passes (`rows.ts`);
 * - fused kernels for layer normalization, GELU, causal attention, cross-entropy and Adam
 *   (`fused.ts`), with their gradients.
 *
 * The native parts are `native.c`, compiled to WebAssembly and run on the backend's own memory.
 * Changing any of them changes the bits a step produces, so the set has a version that is part of
 * the wasm profile ids ({@link KERNEL_SET_VERSION}).
 *
 * @module
 */

import * as tf from "npm:@tensorflow/tfjs@4.22.0";
import { ROW_KERNELS } from "./rows.ts";
import { FUSED_KERNELS } from "./fused.ts";
import { GRADIENT_KERNELS, type ProfileKernel } from "./gradients.ts";
import { MATMUL_KERNELS } from "./matmul.ts";

export {
  causalAttention,
  FUSED,
  gelu,
  hasKernel,
  layerNorm,
  softmaxCrossEntropy,
} from "./fused.ts";
export { type AdamAttrs, adamUpdate } from "./fused.ts";

/** Version of the kernel set; the wasm profile ids carry it (`+k1`). */
export const KERNEL_SET_VERSION = 1;

/** Every kernel of the set, in installation order. */
export const PROFILE_KERNELS: readonly ProfileKernel[] = [
  ...MATMUL_KERNELS,
  ...ROW_KERNELS,
  ...GRADIENT_KERNELS,
  ...FUSED_KERNELS,
];

const installed = new Map<string, boolean>();

/**
 * Installs the kernel set on a backend (once per process; the SIMD or scalar native build, as the
 * profile says). Call it before any wrapper that observes kernels (the op recorder) is installed.
 *
 * @example
 * ```ts
 * import { installKernelSet } from "./mod.ts";
 * installKernelSet("wasm", { simd: true });
 * ```
 */
export function installKernelSet(backendName: "wasm", options: { simd: boolean }): void {
  const done = installed.get(backendName);
  if (done !== undefined) {
    if (done !== options.simd) {
      throw new Error(
        `the ${done ? "SIMD" : "scalar"} kernel set is already installed on ${backendName}`,
      );
    }
    return;
  }
  for (const kernel of PROFILE_KERNELS) {
    const original = tf.getKernel(kernel.kernelName, backendName);
    const kernelFunc = kernel.make(original, options.simd);
    if (original) tf.unregisterKernel(kernel.kernelName, backendName);
    tf.registerKernel({
      ...(original ?? {}),
      kernelName: kernel.kernelName,
      backendName,
      kernelFunc,
    });
  }
  installed.set(backendName, options.simd);
}

/** Whether the kernel set is installed on a backend. */
export function kernelSetInstalled(backendName: string): boolean {
  return installed.has(backendName);
}
