/**
 * The native kernels (`native.c`, compiled to WebAssembly) bound to a tfjs wasm backend.
 *
 * The module imports the backend's own linear memory, so a kernel reads its inputs and writes its
 * outputs where tfjs keeps them: no copies in or out. Outputs and scratch space are allocated by
 * the backend ({@link WasmKernelContext.output}, {@link WasmKernelContext.scratch}), so tfjs keeps
 * owning every byte. The SIMD or scalar build is chosen with the profile; both compute the same
 * bits (see native.c's determinism rule).
 *
 * @module
 */

import type * as tf from "npm:@tensorflow/tfjs@4.22.0";
import type { BackendWasm } from "npm:@tensorflow/tfjs-backend-wasm@4.22.0";
import { ProfileMismatchError } from "../../core/errors.ts";
import {
  NATIVE_SCALAR_SHA256,
  NATIVE_SCALAR_WASM,
  NATIVE_SIMD_SHA256,
  NATIVE_SIMD_WASM,
} from "./native_wasm.ts";

type Ptr = number;

/** The exported functions of native.c (pointers are byte offsets into the tfjs heap). */
export interface NativeExports {
  gelu(x: Ptr, y: Ptr, n: number): void;
  gelu_grad(dy: Ptr, x: Ptr, dx: Ptr, n: number): void;
  adam(
    w: Ptr,
    g: Ptr,
    m: Ptr,
    v: Ptr,
    wOut: Ptr,
    mOut: Ptr,
    vOut: Ptr,
    n: number,
    b1: number,
    oneMinusB1: number,
    b2: number,
    oneMinusB2: number,
    lr: number,
    c1: number,
    c2: number,
    eps: number,
  ): void;
  layer_norm(
    x: Ptr,
    gamma: Ptr,
    beta: Ptr,
    y: Ptr,
    rows: number,
    cols: number,
    eps: number,
  ): void;
  layer_norm_grad(
    dy: Ptr,
    x: Ptr,
    gamma: Ptr,
    dx: Ptr,
    dgamma: Ptr,
    dbeta: Ptr,
    rows: number,
    cols: number,
    eps: number,
  ): void;
  causal_attention(
    qkv: Ptr,
    y: Ptr,
    scratch: Ptr,
    b: number,
    t: number,
    h: number,
    d: number,
    scale: number,
  ): void;
  causal_attention_grad(
    dy: Ptr,
    qkv: Ptr,
    dqkv: Ptr,
    scratch: Ptr,
    b: number,
    t: number,
    h: number,
    d: number,
    scale: number,
  ): void;
  softmax_xent(logits: Ptr, labels: Ptr, out: Ptr, rows: number, v: number): void;
  softmax_xent_grad(logits: Ptr, labels: Ptr, g: Ptr, dx: Ptr, rows: number, v: number): void;
  batch_matmul(
    a: Ptr,
    b: Ptr,
    out: Ptr,
    batch: number,
    batchA: number,
    batchB: number,
    m: number,
    k: number,
    n: number,
    ta: number,
    tb: number,
    scratch: Ptr,
  ): void;
  conv2d_grad_filter(...args: number[]): void;
  depthwise_grad_filter(...args: number[]): void;
  depthwise_grad_input(...args: number[]): void;
  max_pool_grad(...args: number[]): void;
  matmul_tn(a: Ptr, b: Ptr, out: Ptr, k: number, m: number, n: number): void;
  gather_rows(x: Ptr, ids: Ptr, out: Ptr, n: number, inner: number, rows: number): number;
  add_rows(a: Ptr, b: Ptr, out: Ptr, rows: number, cols: number): void;
  sum_rows(x: Ptr, out: Ptr, rows: number, cols: number): void;
  unsorted_segment_sum(
    x: Ptr,
    ids: Ptr,
    out: Ptr,
    rows: number,
    inner: number,
    segments: number,
  ): void;
}

/** What a native kernel function needs from the backend it runs on. */
export interface WasmKernelContext {
  /** The native functions. */
  readonly native: NativeExports;
  /** Byte offset of a tensor's data in the heap (0 for an empty tensor). */
  ptr(info: tf.TensorInfo): Ptr;
  /** A new output tensor of the backend. */
  output(shape: readonly number[], dtype?: "float32" | "int32"): tf.TensorInfo;
  /** Runs `body` with `floats` float32 values of scratch space, freed afterwards. */
  withScratch<T>(floats: number, body: (scratch: Ptr) => T): T;
}

interface WasmBackendInternals {
  wasm: { wasmMemory?: WebAssembly.Memory; asm?: { memory?: WebAssembly.Memory } };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: string): tf.TensorInfo;
  disposeData(dataId: object, force?: boolean): boolean;
}

const contexts = new WeakMap<object, WasmKernelContext>();
const modules = new Map<boolean, WebAssembly.Module>();

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function compiled(simd: boolean): WebAssembly.Module {
  let module = modules.get(simd);
  if (module === undefined) {
    const bytes = decodeBase64(simd ? NATIVE_SIMD_WASM : NATIVE_SCALAR_WASM);
    try {
      module = new WebAssembly.Module(bytes);
    } catch (cause) {
      throw new ProfileMismatchError(
        "PROFILE_UNSUPPORTED",
        `this runtime cannot compile the ${simd ? "SIMD" : "scalar"} native kernels ` +
          `(${simd ? NATIVE_SIMD_SHA256 : NATIVE_SCALAR_SHA256}): ${(cause as Error).message}`,
        { cause },
      );
    }
    modules.set(simd, module);
  }
  return module;
}

/**
 * The native kernels (SIMD or scalar build) instantiated on a memory.
 *
 * @example
 * ```ts
 * import { instantiateNative } from "./native.ts";
 * const memory = new WebAssembly.Memory({ initial: 2 });
 * const native = instantiateNative(memory, true);
 * native.gelu(0, 1024, 16); // 16 floats at byte 0 -> 16 floats at byte 1024
 * ```
 */
export function instantiateNative(memory: WebAssembly.Memory, simd: boolean): NativeExports {
  const instance = new WebAssembly.Instance(compiled(simd), { env: { memory } });
  return instance.exports as unknown as NativeExports;
}

/**
 * The native kernels bound to a wasm backend's memory (instantiated once per backend).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { wasmKernelContext } from "./native.ts";
 * const ctx = wasmKernelContext(tf.findBackend("wasm")!, true);
 * const y = ctx.output([4]);
 * ```
 */
export function wasmKernelContext(backend: object, simd: boolean): WasmKernelContext {
  const existing = contexts.get(backend);
  if (existing) return existing;
  const be = backend as unknown as WasmBackendInternals;
  const memory = be.wasm?.wasmMemory ?? be.wasm?.asm?.memory;
  if (!(memory instanceof WebAssembly.Memory)) {
    throw new ProfileMismatchError(
      "PROFILE_BACKEND_FAILED",
      "the tfjs wasm backend does not expose its memory; the native kernels need " +
        "@tensorflow/tfjs-backend-wasm 4.22.0",
    );
  }
  const native = instantiateNative(memory, simd);
  const ptr = (info: tf.TensorInfo): Ptr => be.dataIdMap.get(info.dataId)?.memoryOffset ?? 0;
  const context: WasmKernelContext = {
    native,
    ptr,
    output: (shape, dtype = "float32") => be.makeOutput([...shape], dtype),
    withScratch: (floats, body) => {
      const scratch = be.makeOutput([Math.max(1, floats)], "float32");
      try {
        return body(ptr(scratch));
      } finally {
        be.disposeData(scratch.dataId, true);
      }
    },
  };
  contexts.set(backend, context);
  return context;
}

/** The backend type the native kernels bind to. */
export type { BackendWasm };
