/**
 * Kernel observation: one wrapper around every kernel of a backend, through which the op recorder
 * (`lib/proof/ops.ts`) and the kernel timer ({@link measureKernels}) see each kernel call.
 *
 * Only outermost calls are reported (a kernel that calls another kernel is one op of the program;
 * the inner call is its implementation). With no observer the wrapper costs one branch per call.
 * Install it after the profile's kernel set, so it observes the kernels the profile runs.
 *
 * @module
 */

import * as tf from "npm:@tensorflow/tfjs@4.22.0";

type KernelConfig = ReturnType<typeof tf.getKernel> & object;
/** The arguments tfjs passes a kernel function. */
export type KernelArgs = Parameters<KernelConfig["kernelFunc"]>[0];

/** One outermost kernel call. */
export interface KernelCall {
  /** Kernel name. */
  readonly kernel: string;
  /** Its arguments (inputs, attrs, backend). */
  readonly args: KernelArgs;
  /** What it returned. */
  readonly out: tf.TensorInfo | tf.TensorInfo[];
  /** Wall time of the call, in milliseconds. */
  readonly ms: number;
}

/** Receives each outermost kernel call after it returns. */
export type KernelObserver = (call: KernelCall) => void;

const observers: KernelObserver[] = [];
const wrapped = new Set<string>();
let depth = 0;

/** Wraps every kernel registered on `backendName` (once per backend per process). */
export function installKernelObserver(backendName: string): void {
  if (wrapped.has(backendName)) return;
  for (const original of tf.getKernelsForBackend(backendName)) {
    const kernel = original.kernelName;
    tf.unregisterKernel(kernel, backendName);
    tf.registerKernel({
      ...original,
      kernelFunc: (args: KernelArgs) => {
        if (observers.length === 0 || depth > 0) return original.kernelFunc(args);
        depth++;
        const started = performance.now();
        let out;
        try {
          out = original.kernelFunc(args) as tf.TensorInfo | tf.TensorInfo[];
        } finally {
          depth--;
        }
        const call: KernelCall = { kernel, args, out, ms: performance.now() - started };
        for (const observer of [...observers]) observer(call);
        return out;
      },
    });
  }
  wrapped.add(backendName);
}

/**
 * Reports every outermost kernel call of the active backend to `observer` until the returned
 * function is called.
 *
 * @example
 * ```ts
 * import { observeKernels } from "./observe.ts";
 * const stop = observeKernels((call) => console.log(call.kernel, call.ms));
 * // ... run tfjs ops ...
 * stop();
 * ```
 */
export function observeKernels(observer: KernelObserver): () => void {
  installKernelObserver(tf.getBackend());
  observers.push(observer);
  return () => {
    const i = observers.indexOf(observer);
    if (i >= 0) observers.splice(i, 1);
  };
}

/** Calls and time per kernel name. */
export interface KernelStats {
  /** Outermost calls. */
  calls: number;
  /** Their total wall time, in milliseconds. */
  ms: number;
}

/**
 * Runs `work` and counts the kernels it runs: calls and wall time per kernel name, in descending
 * order of time.
 *
 * @example
 * ```ts
 * import { measureKernels } from "./observe.ts";
 * declare const trainer: import("../trainer.ts").Trainer;
 * const { stats } = await measureKernels(() => trainer.run(trainer.initialState(), 10));
 * for (const [kernel, s] of stats) console.log(kernel, s.calls / 10, s.ms / 10);
 * ```
 */
export async function measureKernels<T>(
  work: () => Promise<T>,
): Promise<{ result: T; stats: Map<string, KernelStats> }> {
  const stats = new Map<string, KernelStats>();
  const stop = observeKernels(({ kernel, ms }) => {
    const s = stats.get(kernel) ?? { calls: 0, ms: 0 };
    s.calls++;
    s.ms += ms;
    stats.set(kernel, s);
  });
  try {
    const result = await work();
    return { result, stats: new Map([...stats].sort((a, b) => b[1].ms - a[1].ms)) };
  } finally {
    stop();
  }
}
