import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { activateProfile } from "../../lib/exec/profile.ts";
import {
  adamUpdate,
  causalAttention,
  gelu,
  layerNorm,
  softmaxCrossEntropy,
} from "../../lib/exec/kernels/mod.ts";

/** Runs `f` under the cpu profile (tfjs' reference kernels and the composite ops) and wasm. */
async function both(f: () => tf.Tensor[]): Promise<{ cpu: Float32Array[]; wasm: Float32Array[] }> {
  const out: Record<string, Float32Array[]> = {};
  for (const profile of ["cpu", "wasm"]) {
    await activateProfile(profile);
    out[profile] = tf.tidy(f).map((t) => {
      const data = t.dataSync() as Float32Array;
      t.dispose();
      return Float32Array.from(data);
    });
  }
  return { cpu: out.cpu, wasm: out.wasm };
}

function assertClose(cpu: Float32Array[], wasm: Float32Array[], tol: number, what: string) {
  assert.equal(cpu.length, wasm.length);
  cpu.forEach((a, i) => {
    const b = wasm[i];
    assert.equal(a.length, b.length, `${what}: output ${i} length`);
    let scale = 1e-6;
    for (const v of a) scale = Math.max(scale, Math.abs(v));
    let worst = 0;
    for (let j = 0; j < a.length; j++) worst = Math.max(worst, Math.abs(a[j] - b[j]));
    assert.ok(worst <= tol * scale, `${what}: output ${i} differs by ${worst} (scale ${scale})`);
  });
}

/** Values and gradients of `sum(f(inputs) * r)` for a fixed random r. */
function valueAndGrads(
  f: (...xs: tf.Tensor[]) => tf.Tensor,
  inputs: () => tf.Tensor[],
): () => tf.Tensor[] {
  return () => {
    const xs = inputs();
    const y = f(...xs);
    const r = tf.randomNormal(y.shape, 0, 1, "float32", 99);
    const grads = tf.grads((...args: tf.Tensor[]) => tf.sum(tf.mul(f(...args), r)))(xs);
    return [y, ...grads];
  };
}

const normal = (shape: number[], seed: number) => tf.randomNormal(shape, 0, 1, "float32", seed);

Deno.test("wasm kernel set agrees with tfjs' reference kernels", async (t) => {
  const convCases: [number[], number[], number, "valid" | "same"][] = [
    [[4, 9, 9, 1], [3, 3, 1, 4], 1, "valid"],
    [[3, 8, 8, 3], [3, 3, 3, 5], 1, "same"],
    [[2, 9, 9, 2], [3, 3, 2, 3], 2, "valid"],
    [[2, 10, 10, 2], [5, 5, 2, 3], 2, "same"],
  ];
  for (const [xs, ws, stride, pad] of convCases) {
    await t.step(`conv2d ${xs} ${ws} stride ${stride} ${pad}: value and gradients`, async () => {
      const r = await both(valueAndGrads(
        (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride, pad),
        () => [normal(xs, 1), normal(ws, 2)],
      ));
      assertClose(r.cpu, r.wasm, 1e-5, "conv2d");
    });
  }
  await t.step("depthwise and separable conv2d gradients", async () => {
    for (const [stride, pad, mul] of [[1, "same", 1], [2, "valid", 2]] as const) {
      const r = await both(valueAndGrads(
        (x, w) => tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride, pad),
        () => [normal([2, 8, 8, 3], 3), normal([3, 3, 3, mul], 4)],
      ));
      assertClose(r.cpu, r.wasm, 1e-5, "depthwiseConv2d");
    }
  });
  await t.step("max pooling gradient (ties go to the first maximum)", async () => {
    const r = await both(valueAndGrads(
      (x) => tf.maxPool(x as tf.Tensor4D, 2, 2, "valid"),
      () => [normal([2, 8, 8, 3], 5)],
    ));
    assertClose(r.cpu, r.wasm, 1e-6, "maxPool");
    const same = await both(valueAndGrads(
      (x) => tf.maxPool(x as tf.Tensor4D, 3, 2, "same"),
      () => [normal([2, 7, 7, 2], 6)],
    ));
    assertClose(same.cpu, same.wasm, 1e-6, "maxPool same");
  });
  await t.step("gather gradient (unsorted segment sum), repeated and unused rows", async () => {
    const r = await both(valueAndGrads(
      (table) => tf.gather(table, tf.tensor1d([0, 3, 3, 1, 0, 3], "int32")),
      () => [normal([5, 4], 7)],
    ));
    assertClose(r.cpu, r.wasm, 1e-6, "gather");
  });
  await t.step("batched matmul: transposes and broadcast", async () => {
    for (
      const [as, bs, ta, tb] of [
        [[3, 4, 5], [3, 5, 6], false, false],
        [[3, 5, 4], [3, 5, 6], true, false],
        [[3, 4, 5], [3, 6, 5], false, true],
        [[3, 5, 4], [1, 6, 5], true, true],
        [[1, 4, 5], [2, 5, 17], false, false],
        [[6, 4], [6, 9], true, false],
      ] as const
    ) {
      const broadcast = as[0] !== bs[0];
      const inputs = () => [normal([...as], 8), normal([...bs], 9)];
      // tfjs' matMul gradient does not reduce a broadcast batch: compare values only there.
      const r = await both(
        broadcast
          ? () => [tf.matMul(inputs()[0], inputs()[1], ta, tb)]
          : valueAndGrads((a, b) => tf.matMul(a, b, ta, tb), inputs),
      );
      assertClose(r.cpu, r.wasm, 1e-5, `matMul ${as} ${bs} ${ta} ${tb}`);
    }
  });
  await t.step(
    "fused layer norm, gelu, attention and cross-entropy match their composites",
    async () => {
      const ln = await both(valueAndGrads(
        (x, g, b) => layerNorm(x, g, b, 1e-5),
        () => [normal([6, 10], 10), normal([10], 11), normal([10], 12)],
      ));
      assertClose(ln.cpu, ln.wasm, 1e-5, "layerNorm");
      const ge = await both(valueAndGrads((x) => gelu(x), () => [tf.mul(normal([257], 13), 3)]));
      assertClose(ge.cpu, ge.wasm, 1e-5, "gelu");
      const at = await both(valueAndGrads(
        (qkv) => causalAttention(qkv, 2),
        () => [normal([2, 7, 3 * 8], 14)],
      ));
      assertClose(at.cpu, at.wasm, 1e-5, "causalAttention");
      const labels = tf.tensor1d([0, 4, 2, 9, 9, 1], "int32");
      const xe = await both(valueAndGrads(
        (logits) => softmaxCrossEntropy(logits, labels),
        () => [tf.mul(normal([6, 10], 15), 4)],
      ));
      assertClose(xe.cpu, xe.wasm, 1e-5, "softmaxCrossEntropy");
    },
  );
  await t.step("bias add and sums over leading axes", async () => {
    const r = await both(valueAndGrads(
      (x, b) => tf.add(x, b),
      () => [normal([3, 4, 5, 6], 20), normal([6], 21)],
    ));
    assertClose(r.cpu, r.wasm, 1e-6, "bias add");
    const s = await both(() => {
      const x = normal([4, 3, 5], 22);
      return [tf.sum(x, [0, 1]), tf.sum(x, 0, true), tf.sum(x, [1, 0]), tf.sum(x, 1), tf.sum(x)];
    });
    assertClose(s.cpu, s.wasm, 1e-5, "sum");
  });
  await t.step("fused Adam update matches the composite", async () => {
    const r = await both(() =>
      adamUpdate(
        normal([1000], 16),
        normal([1000], 17),
        normal([1000], 18),
        tf.abs(normal([1000], 19)),
        {
          learningRate: 1e-3,
          beta1: 0.9,
          beta2: 0.999,
          epsilon: 1e-7,
          step: 3,
        },
      )
    );
    assertClose(r.cpu, r.wasm, 1e-6, "adam");
  });
});
