import assert from "node:assert/strict";
import fc from "fast-check";
import { PeerError } from "../../lib/core/errors.ts";
import { decodeMessage, encodeMessage, frame, FrameDecoder } from "../../lib/p2p/codec.ts";
import { decodeAnnouncement } from "../../lib/p2p/announce.ts";
import { array, finite, hash, literal, object, optional, str, uint } from "../../lib/p2p/schema.ts";

const eventSchema = object({
  t: literal("ev"),
  jobId: hash,
  step: uint(),
  loss: optional(finite),
  tags: optional(array(str(16), 4)),
});

const isPeerError = (e: unknown): boolean =>
  e instanceof PeerError && ["PEER_MALFORMED", "PEER_OVERSIZED"].includes(e.code);

const hashArb = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) =>
  Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("")
);
const eventArb = fc.record({
  t: fc.constant("ev" as const),
  jobId: hashArb,
  step: fc.nat(),
  // CBOR has one zero: -0 decodes as 0, so the property uses +0 only.
  loss: fc.option(fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => x === 0 ? 0 : x), {
    nil: undefined,
  }),
  tags: fc.option(fc.array(fc.string({ maxLength: 16 }), { maxLength: 4 }), { nil: undefined }),
}).map((e) => {
  const out: Record<string, unknown> = { ...e };
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out;
});

Deno.test("codec", async (t) => {
  await t.step("round-trips valid messages", () => {
    fc.assert(
      fc.property(eventArb, (e) => {
        const decoded = decodeMessage(encodeMessage(e), eventSchema);
        assert.deepEqual(decoded, e);
      }),
      { numRuns: 300 },
    );
  });

  await t.step("encoding is deterministic regardless of key order", () => {
    fc.assert(fc.property(eventArb, (e) => {
      const reversed = Object.fromEntries(Object.entries(e).reverse());
      assert.deepEqual(encodeMessage(reversed), encodeMessage(e));
    }));
  });

  await t.step("random bytes never crash the decoder", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        try {
          decodeMessage(bytes, eventSchema);
        } catch (e) {
          assert.ok(isPeerError(e), String(e));
        }
        try {
          decodeAnnouncement(bytes);
        } catch (e) {
          assert.ok(isPeerError(e), String(e));
        }
      }),
      { numRuns: 2000 },
    );
  });

  await t.step("mutated valid messages never crash the decoder", () => {
    fc.assert(
      fc.property(eventArb, fc.nat(), fc.integer({ min: 0, max: 255 }), (e, at, byte) => {
        const bytes = encodeMessage(e);
        bytes[at % bytes.length] = byte;
        try {
          decodeMessage(bytes.subarray(0, 1 + (at % bytes.length)), eventSchema);
          decodeMessage(bytes, eventSchema);
        } catch (err) {
          assert.ok(isPeerError(err), String(err));
        }
      }),
      { numRuns: 1000 },
    );
  });

  await t.step("oversized messages are rejected", () => {
    const big = { t: "ev", jobId: "a".repeat(64), step: 1, tags: ["x".repeat(16)] };
    assert.throws(
      () => encodeMessage(big, 16),
      (e) => e instanceof PeerError && e.code === "PEER_OVERSIZED",
    );
    assert.throws(
      () => decodeMessage(encodeMessage(big), eventSchema, 16),
      (e) => e instanceof PeerError && e.code === "PEER_OVERSIZED",
    );
  });

  await t.step("schema violations name the field", () => {
    const bad = encodeMessage({ t: "ev", jobId: "nothex", step: 1 });
    assert.throws(() => decodeMessage(bad, eventSchema), /\$\.jobId/);
    const extra = encodeMessage({ t: "ev", jobId: "a".repeat(64), step: 1, evil: true });
    assert.throws(() => decodeMessage(extra, eventSchema), /\$\.evil/);
    const neg = encodeMessage({ t: "ev", jobId: "a".repeat(64), step: -1 });
    assert.throws(
      () => decodeMessage(neg, eventSchema),
      (e) => e instanceof PeerError && e.code === "PEER_MALFORMED",
    );
  });
});

Deno.test("framing", async (t) => {
  await t.step("splits arbitrarily chunked streams back into frames", () => {
    fc.assert(fc.property(
      fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 10 }),
      fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 20 }),
      (payloads, cuts) => {
        const wire = new Uint8Array(payloads.reduce((n, p) => n + p.length + 4, 0));
        let at = 0;
        for (const p of payloads) {
          wire.set(frame(p), at);
          at += p.length + 4;
        }
        const d = new FrameDecoder(300);
        const out: Uint8Array[] = [];
        let pos = 0;
        let i = 0;
        while (pos < wire.length) {
          const n = cuts[i++ % cuts.length];
          d.push(wire.subarray(pos, pos + n));
          pos += n;
          for (let f = d.next(); f !== undefined; f = d.next()) out.push(f);
        }
        assert.deepEqual(out.map((x) => [...x]), payloads.map((x) => [...x]));
        assert.equal(d.buffered, 0);
      },
    ));
  });

  await t.step("rejects an oversized frame from its header alone", () => {
    const d = new FrameDecoder(1024);
    d.push(new Uint8Array([0, 0, 4, 1])); // 1025 bytes announced
    assert.throws(() => d.next(), (e) => e instanceof PeerError && e.code === "PEER_OVERSIZED");
  });

  await t.step("random byte streams never crash the frame decoder", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (bytes) => {
        const d = new FrameDecoder(512);
        d.push(bytes);
        try {
          while (d.next() !== undefined) { /* drain */ }
        } catch (e) {
          assert.ok(isPeerError(e), String(e));
        }
      }),
      { numRuns: 1000 },
    );
  });
});
