import assert from "node:assert/strict";
import fc from "fast-check";
import {
  compressDelta,
  compressedSize,
  decompressDelta,
  type DeltaEncoding,
  float16BitsToNumber,
  float32ToFloat16Bits,
} from "../../lib/diloco/compress.ts";
import { PeerError } from "../../lib/core/errors.ts";

const values = fc.array(fc.float({ noNaN: true, noDefaultInfinity: true, min: -1e4, max: 1e4 }), {
  maxLength: 600,
});

Deno.test("delta compression", async (t) => {
  await t.step("fp16 bits: known values, ties to even, subnormals, overflow", () => {
    const cases: [number, number][] = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [65504, 0x7bff],
      [65520, 0x7c00], // halfway to the next binade rounds to even: +inf
      [1e6, 0x7c00],
      [2 ** -24, 0x0001],
      [2 ** -25, 0x0000], // tie between 0 and the smallest subnormal: even is 0
      [3 * 2 ** -25, 0x0002], // tie between 1 and 2 ulps: even is 2
      [1 + 2 ** -11, 0x3c00], // tie: 1.0 (even mantissa)
      [1 + 3 * 2 ** -11, 0x3c02], // tie: rounds up to even
      [Infinity, 0x7c00],
    ];
    for (const [x, bits] of cases) assert.equal(float32ToFloat16Bits(x), bits, `${x}`);
    assert.ok(Number.isNaN(float16BitsToNumber(float32ToFloat16Bits(NaN))));
  });

  await t.step("fp16 agrees with Math.f16round where the runtime has it", () => {
    const f16round = (Math as unknown as { f16round?: (x: number) => number }).f16round;
    if (!f16round) return;
    fc.assert(fc.property(fc.float({ noNaN: true }), (x) => {
      assert.equal(float16BitsToNumber(float32ToFloat16Bits(x)), f16round(x));
    }));
  });

  await t.step("round trips within bounds; sizes as documented", () => {
    for (const encoding of ["fp32", "fp16", "int8"] as DeltaEncoding[]) {
      fc.assert(fc.property(values, fc.integer({ min: 1, max: 300 }), (xs, blockSize) => {
        const v = new Float32Array(xs);
        const bytes = compressDelta(v, { encoding, blockSize });
        assert.equal(bytes.length, compressedSize(v.length, { encoding, blockSize }));
        const back = decompressDelta(bytes, { encoding, blockSize, count: v.length });
        for (let i = 0; i < v.length; i++) {
          const err = Math.abs(back[i] - v[i]);
          if (encoding === "fp32") assert.equal(back[i], v[i]);
          else if (encoding === "fp16") {
            // Half an fp16 ulp (relative 2^-11), or half the subnormal step 2^-24.
            assert.ok(err <= Math.max(Math.abs(v[i]) * 2 ** -11, 2 ** -25), `${v[i]} ${back[i]}`);
          } else {
            const k = Math.floor(i / blockSize);
            let maxAbs = 0;
            for (let j = k * blockSize; j < Math.min(v.length, (k + 1) * blockSize); j++) {
              maxAbs = Math.max(maxAbs, Math.abs(v[j]));
            }
            const scale = Math.fround(maxAbs / 127);
            // Plus 127 float32 subnormal steps: a scale that underflows (maxabs < 127·2^-149).
            const bound = scale / 2 + maxAbs * 2 ** -22 + 127 * 2 ** -149;
            assert.ok(err <= bound, `${v[i]} ${back[i]} scale ${scale}`);
          }
        }
        // Deterministic: the same input gives the same bytes.
        assert.deepEqual(compressDelta(v, { encoding, blockSize }), bytes);
      }));
    }
    assert.equal(compressedSize(1000, { encoding: "int8", blockSize: 256 }), 1016);
    assert.equal(compressedSize(1000, { encoding: "fp16" }), 2000);
  });

  await t.step("malformed payloads are rejected with PeerError", () => {
    const ok = compressDelta(new Float32Array([1, 2, 3]), { encoding: "int8", blockSize: 2 });
    const bad = [
      () => decompressDelta(ok.subarray(1), { encoding: "int8", blockSize: 2, count: 3 }),
      () => decompressDelta(ok, { encoding: "int8", blockSize: 2, count: 4 }),
      () => decompressDelta(ok, { encoding: "nope" as DeltaEncoding, count: 3 }),
      () => {
        const neg = ok.slice();
        new DataView(neg.buffer).setFloat32(0, -1, true);
        return decompressDelta(neg, { encoding: "int8", blockSize: 2, count: 3 });
      },
    ];
    for (const f of bad) {
      assert.throws(f, (e) => e instanceof PeerError && e.code === "PEER_MALFORMED_DELTA");
    }
  });
});
