import assert from "node:assert/strict";
import { instantiateNative, type NativeExports } from "../../lib/exec/kernels/native.ts";

const f = Math.fround;

/** A memory with a bump allocator and both builds of the native kernels on it. */
function harness() {
  const memory = new WebAssembly.Memory({ initial: 256 });
  const builds = {
    simd: instantiateNative(memory, true),
    scalar: instantiateNative(memory, false),
  };
  let top = 1024;
  const alloc = (floats: number) => {
    const at = top;
    top += Math.ceil((floats * 4 + 16) / 16) * 16;
    return at;
  };
  const floats = (at: number, n: number) => new Float32Array(memory.buffer, at, n);
  let seed = 12345;
  const random = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32 * 2 - 1;
  };
  const input = (n: number, scale = 1) => {
    const at = alloc(n);
    floats(at, n).forEach((_, i, a) => a[i] = random() * scale);
    return at;
  };
  const ints = (values: number[]) => {
    const at = alloc(values.length);
    new Int32Array(memory.buffer, at, values.length).set(values);
    return at;
  };
  /** Runs `call` with each build into fresh outputs and returns the outputs' bytes per build. */
  const run = (sizes: number[], call: (n: NativeExports, outs: number[]) => void) => {
    const result: Record<string, Uint8Array[]> = {};
    for (const [name, native] of Object.entries(builds)) {
      const outs = sizes.map((n) => alloc(n));
      call(native, outs);
      result[name] = outs.map((at, i) => new Uint8Array(memory.buffer, at, sizes[i] * 4).slice());
    }
    return result as { simd: Uint8Array[]; scalar: Uint8Array[] };
  };
  return { alloc, floats, input, ints, run, memory };
}

Deno.test("native kernels: the SIMD and scalar builds compute the same bits", async (t) => {
  const h = harness();
  const same = (r: { simd: Uint8Array[]; scalar: Uint8Array[] }, what: string) =>
    r.simd.forEach((bytes, i) => assert.deepEqual(bytes, r.scalar[i], `${what}: output ${i}`));

  await t.step("elementwise, normalization and attention kernels", () => {
    const n = 1037;
    const x = h.input(n, 4);
    const dy = h.input(n);
    same(h.run([n], (k, [y]) => k.gelu(x, y, n)), "gelu");
    same(h.run([n], (k, [dx]) => k.gelu_grad(dy, x, dx, n)), "gelu_grad");
    const [w, g, m, v] = [h.input(n), h.input(n), h.input(n), h.input(n)];
    same(
      h.run(
        [n, n, n],
        (k, [a, b, c]) =>
          k.adam(w, g, m, v, a, b, c, n, 0.9, 0.1, 0.999, 0.001, 1e-3, 0.19, 0.002, 1e-7),
      ),
      "adam",
    );
    const [rows, cols] = [37, 19];
    const lx = h.input(rows * cols, 3);
    const gamma = h.input(cols);
    const beta = h.input(cols);
    same(
      h.run([rows * cols], (k, [y]) => k.layer_norm(lx, gamma, beta, y, rows, cols, 1e-5)),
      "layer_norm",
    );
    const ldy = h.input(rows * cols);
    same(
      h.run(
        [rows * cols, cols, cols],
        (k, [dx, dg, db]) => k.layer_norm_grad(ldy, lx, gamma, dx, dg, db, rows, cols, 1e-5),
      ),
      "layer_norm_grad",
    );
    const [b, time, heads, d] = [2, 13, 3, 5];
    const qkv = h.input(b * time * 3 * heads * d, 2);
    const ady = h.input(b * time * heads * d);
    same(
      h.run(
        [b * time * heads * d, 2 * d * time + 2 * time],
        (k, [y, s]) => k.causal_attention(qkv, y, s, b, time, heads, d, 1 / Math.sqrt(d)),
      ),
      "causal_attention",
    );
    same(
      h.run(
        [b * time * 3 * heads * d, 2 * d * time + 2 * time],
        (k, [dq, s]) =>
          k.causal_attention_grad(ady, qkv, dq, s, b, time, heads, d, 1 / Math.sqrt(d)),
      ),
      "causal_attention_grad",
    );
    const logits = h.input(rows * cols, 5);
    const labels = h.ints(Array.from({ length: rows }, (_, i) => (i * 7) % cols));
    same(h.run([1], (k, [out]) => k.softmax_xent(logits, labels, out, rows, cols)), "xent");
    const one = h.input(1);
    same(
      h.run([rows * cols], (k, [dx]) => k.softmax_xent_grad(logits, labels, one, dx, rows, cols)),
      "xent_grad",
    );
  });

  await t.step("matrix, convolution, pooling and segment kernels", () => {
    for (const [ta, tb] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
      const [batch, mm, kk, nn] = [3, 9, 11, 21];
      const a = h.input(batch * mm * kk);
      const b = h.input(batch * kk * nn);
      same(
        h.run(
          [batch * mm * nn, kk * nn],
          (k, [out, s]) => k.batch_matmul(a, b, out, batch, batch, batch, mm, kk, nn, ta, tb, s),
        ),
        `batch_matmul ${ta}${tb}`,
      );
    }
    const [n, hh, ww, ci, co, kh, kw] = [2, 9, 8, 3, 6, 3, 2];
    const [oh, ow] = [hh - kh + 1, ww - kw + 1];
    const x = h.input(n * hh * ww * ci);
    const dy = h.input(n * oh * ow * co);
    const window = [kh, kw, 1, 1, 1, 1, 0, 0];
    same(
      h.run(
        [kh * kw * ci * co, 16 * kh * kw * ci],
        (k, [dw, s]) =>
          k.conv2d_grad_filter(x, dy, dw, s, 16, n, hh, ww, ci, oh, ow, co, ...window),
      ),
      "conv2d_grad_filter",
    );
    const dyd = h.input(n * oh * ow * ci * 2);
    const filter = h.input(kh * kw * ci * 2);
    same(
      h.run(
        [kh * kw * ci * 2],
        (k, [dw]) => k.depthwise_grad_filter(x, dyd, dw, n, hh, ww, ci, oh, ow, 2, ...window),
      ),
      "depthwise_grad_filter",
    );
    same(
      h.run(
        [n * hh * ww * ci],
        (k, [dx]) => k.depthwise_grad_input(dyd, filter, dx, n, hh, ww, ci, oh, ow, 2, ...window),
      ),
      "depthwise_grad_input",
    );
    const pdy = h.input(n * 4 * 4 * ci);
    same(
      h.run(
        [n * hh * ww * ci, 2 * ci],
        (k, [dx, s]) => k.max_pool_grad(x, pdy, dx, s, n, hh, ww, ci, 4, 4, 2, 2, 1, 1, 2, 2, 0, 0),
      ),
      "max_pool_grad",
    );
    const ids = h.ints([0, 4, 4, -1, 2, 9, 0]);
    const rowsX = h.input(7 * 5);
    same(
      h.run([6 * 5], (k, [out]) => k.unsorted_segment_sum(rowsX, ids, out, 7, 5, 6)),
      "unsorted_segment_sum",
    );
    const bias = h.input(5);
    same(h.run([7 * 5], (k, [out]) => k.add_rows(rowsX, bias, out, 7, 5)), "add_rows");
    same(h.run([5], (k, [out]) => k.sum_rows(rowsX, out, 7, 5)), "sum_rows");
  });

  await t.step("each kernel is its scalar float32 program (checked for three)", () => {
    // Adam: every operation rounds to float32, in the order native.c states.
    const n = 33;
    const [w, g, m, v] = [h.input(n), h.input(n), h.input(n), h.input(n)];
    const out = h.run(
      [n, n, n],
      (k, [a, b, c]) =>
        k.adam(w, g, m, v, a, b, c, n, 0.9, 0.1, 0.999, 0.001, 1e-3, 0.19, 0.002, 1e-7),
    );
    const [W, G, M, V] = [w, g, m, v].map((at) => h.floats(at, n));
    const wOut = new Float32Array(out.simd[0].buffer);
    for (let i = 0; i < n; i++) {
      const m1 = f(f(M[i] * f(0.9)) + f(G[i] * f(0.1)));
      const v1 = f(f(V[i] * f(0.999)) + f(f(G[i] * G[i]) * f(0.001)));
      const step = f(f(f(m1 / f(0.19)) * f(1e-3)) / f(f(Math.sqrt(f(v1 / f(0.002)))) + f(1e-7)));
      assert.equal(wOut[i], f(W[i] - step), `adam element ${i}`);
    }
    // Matrix multiply: each output a left-to-right float32 sum over k.
    const [mm, kk, nn] = [5, 7, 6];
    const a = h.input(mm * kk);
    const b = h.input(kk * nn);
    const mOut = new Float32Array(
      h.run([mm * nn, 1], (k, [o, s]) => k.batch_matmul(a, b, o, 1, 1, 1, mm, kk, nn, 0, 0, s))
        .simd[0].buffer,
    );
    const [A, B] = [h.floats(a, mm * kk), h.floats(b, kk * nn)];
    for (let i = 0; i < mm; i++) {
      for (let j = 0; j < nn; j++) {
        let s = 0;
        for (let k = 0; k < kk; k++) s = f(s + f(A[i * kk + k] * B[k * nn + j]));
        assert.equal(mOut[i * nn + j], s, `matmul ${i},${j}`);
      }
    }
    // Sum over rows: ascending, one float32 addition at a time.
    const rows = 11;
    const x = h.input(rows * 3);
    const sOut = new Float32Array(h.run([3], (k, [o]) => k.sum_rows(x, o, rows, 3)).simd[0].buffer);
    const X = h.floats(x, rows * 3);
    for (let c = 0; c < 3; c++) {
      let s = 0;
      for (let r = 0; r < rows; r++) s = f(s + X[r * 3 + c]);
      assert.equal(sOut[c], s);
    }
  });
});
