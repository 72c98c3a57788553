/**
 * Kernel adjustments that profiles install: faster paths that stay bitwise deterministic.
 *
 * The wasm backend's matrix multiply takes a fast XNNPACK path only when neither operand is
 * transposed; with `transposeA` or `transposeB` it falls back to a scalar loop that is 10x slower.
 * Every backward pass of a dense layer multiplies by a transposed operand. We wrap the wasm
 * `BatchMatMul` and `_FusedMatMul` kernels so a transposed operand is first materialised by the
 * `Transpose` kernel, then multiplied on the fast path. The result is just as deterministic (same
 * kernels, same order, every time) and is part of what the wasm profiles pin.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";

type KernelConfig = ReturnType<typeof tf.getKernel> & object;
type KernelArgs = Parameters<KernelConfig["kernelFunc"]>[0];

const installed = new Set<string>();

/** Wraps `BatchMatMul` and `_FusedMatMul` of `backendName` (once per process). */
export function installFastMatMul(backendName: "wasm"): void {
  if (installed.has(backendName)) return;
  for (const kernelName of [tf.BatchMatMul, tf._FusedMatMul]) {
    const original = tf.getKernel(kernelName, backendName);
    const transpose = tf.getKernel(tf.Transpose, backendName);
    if (!original || !transpose) continue;
    tf.unregisterKernel(kernelName, backendName);
    tf.registerKernel({
      ...original,
      kernelFunc: (args: KernelArgs) => {
        const attrs = args.attrs as { transposeA: boolean; transposeB: boolean };
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
      },
    });
  }
  installed.add(backendName);
}
