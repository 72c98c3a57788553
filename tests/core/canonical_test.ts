import assert from "node:assert/strict";
import fc from "fast-check";
import {
  canonicalJson,
  contentId,
  decodeCanonical,
  encodeCanonical,
} from "../../lib/core/canonical.ts";
import { EncodingError } from "../../lib/core/errors.ts";
import { fromHex, sha256Hex, toHex } from "../../lib/core/hash.ts";

Deno.test("canonical encoding", async (t) => {
  await t.step("sorts keys and drops whitespace", () => {
    assert.equal(canonicalJson({ b: 1, a: [true, null, "x"] }), '{"a":[true,null,"x"],"b":1}');
  });

  await t.step("round-trips any JSON value, and key order never changes the id", async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), async (value) => {
        const bytes = encodeCanonical(value);
        const back = decodeCanonical(bytes);
        assert.deepEqual(encodeCanonical(back), bytes);
        if (value && typeof value === "object" && !Array.isArray(value)) {
          const reversed = Object.fromEntries(Object.entries(value).reverse());
          assert.equal(await contentId(reversed), await contentId(value));
        }
      }),
      { numRuns: 200 },
    );
  });

  await t.step("rejects values JSON cannot carry exactly", () => {
    for (const bad of [NaN, Infinity, 1n, () => 1, new Date(0), new Uint8Array(2), { a: NaN }]) {
      assert.throws(() => encodeCanonical(bad), EncodingError);
    }
  });

  await t.step("rejects non-canonical and malformed bytes with typed errors", () => {
    const enc = new TextEncoder();
    assert.throws(
      () => decodeCanonical(enc.encode('{"b":1,"a":2}')),
      (e: unknown) => e instanceof EncodingError && e.code === "ENCODING_NOT_CANONICAL",
    );
    assert.throws(
      () => decodeCanonical(enc.encode('{"a": 1}')),
      (e: unknown) => e instanceof EncodingError && e.code === "ENCODING_NOT_CANONICAL",
    );
    assert.throws(
      () => decodeCanonical(new Uint8Array([0xff, 0xfe])),
      (e: unknown) => e instanceof EncodingError && e.code === "ENCODING_MALFORMED",
    );
  });
});

Deno.test("hashing", async (t) => {
  await t.step("SHA-256 matches the FIPS 180-2 test vector", async () => {
    assert.equal(
      await sha256Hex(new TextEncoder().encode("abc")),
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
  });
  await t.step("hex round-trips and rejects malformed input", () => {
    fc.assert(fc.property(fc.uint8Array(), (b) => assert.deepEqual(fromHex(toHex(b)), b)));
    assert.throws(() => fromHex("abc"), RangeError);
    assert.throws(() => fromHex("zz"), RangeError);
  });
});
