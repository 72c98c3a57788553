import assert from "node:assert/strict";
import fc from "fast-check";
import {
  auditComputeFraction,
  auditSeed,
  detectionProbability,
  segmentCount,
  selectAuditSegments,
  selectionSeed,
  selectVerifiers,
} from "../../lib/proof/audit.ts";
import { VerificationError } from "../../lib/core/errors.ts";

const seedOf = (n: number) =>
  auditSeed({
    blockHash: "0x" + n.toString(16).padStart(64, "0"),
    jobId: "ab".repeat(32),
    verifier: "0x" + "cd".repeat(20),
  });

Deno.test("audit seed", async (t) => {
  await t.step("depends on every input", () => {
    const base = {
      blockHash: "0x" + "11".repeat(32),
      jobId: "22".repeat(32),
      verifier: "0x" + "33".repeat(20),
    };
    const seeds = new Set([
      auditSeed(base),
      auditSeed({ ...base, blockHash: "0x" + "12".repeat(32) }),
      auditSeed({ ...base, jobId: "23".repeat(32) }),
      auditSeed({ ...base, verifier: "0x" + "34".repeat(20) }),
    ]);
    assert.equal(seeds.size, 4);
    assert.match(auditSeed(base), /^[0-9a-f]{64}$/);
  });
  await t.step("is keccak256 of the packed inputs", () => {
    // keccak256 of 84 zero bytes
    const zero = auditSeed({
      blockHash: "00".repeat(32),
      jobId: "00".repeat(32),
      verifier: "0x" + "00".repeat(20),
    });
    assert.equal(
      zero,
      auditSeed({
        blockHash: "0x" + "00".repeat(32),
        jobId: "0x" + "00".repeat(32),
        verifier: "00".repeat(20),
      }),
    );
  });
  await t.step("rejects malformed inputs", () => {
    assert.throws(
      () =>
        auditSeed({ blockHash: "0x12", jobId: "22".repeat(32), verifier: "0x" + "33".repeat(20) }),
      (e) => e instanceof VerificationError && e.code === "VERIFY_BAD_AUDIT",
    );
  });
});

Deno.test("segment selection", async (t) => {
  await t.step("distinct, sorted, in range, deterministic", () => {
    fc.assert(
      fc.property(
        fc.nat(1000),
        fc.integer({ min: 0, max: 60 }),
        fc.integer({ min: 0, max: 70 }),
        (s, n, count) => {
          const seed = seedOf(s);
          const picked = selectAuditSegments({ seed, segments: n, count });
          assert.equal(picked.length, Math.min(n, count));
          assert.equal(new Set(picked).size, picked.length);
          assert.ok(picked.every((i, j) => i >= 0 && i < n && (j === 0 || picked[j - 1] < i)));
          assert.deepEqual(selectAuditSegments({ seed, segments: n, count }), picked);
        },
      ),
    );
  });
  await t.step("count >= segments selects all", () => {
    assert.deepEqual(selectAuditSegments({ seed: seedOf(1), segments: 5, count: 99 }), [
      0,
      1,
      2,
      3,
      4,
    ]);
  });
  await t.step("is roughly uniform over segments", () => {
    const hits = new Array(10).fill(0);
    for (let s = 0; s < 2000; s++) {
      for (const i of selectAuditSegments({ seed: seedOf(s), segments: 10, count: 1 })) hits[i]++;
    }
    assert.ok(hits.every((h) => h > 140 && h < 260), String(hits));
  });
  await t.step("rejects negative counts", () => {
    assert.throws(
      () => selectAuditSegments({ seed: seedOf(1), segments: 5, count: -1 }),
      VerificationError,
    );
  });
});

const accountOf = (i: number) => "0x" + (i + 1).toString(16).padStart(40, "0");
const drawSeed = (n: number) =>
  selectionSeed({ blockHash: "0x" + n.toString(16).padStart(64, "0"), jobId: "ab".repeat(32) });

Deno.test("verifier selection", async (t) => {
  await t.step("the seed is keccak256(blockHash || jobId) and holds no verifier", () => {
    const base = { blockHash: "0x" + "11".repeat(32), jobId: "22".repeat(32) };
    const seed = selectionSeed(base);
    assert.match(seed, /^[0-9a-f]{64}$/);
    // keccak256 of 64 zero bytes
    assert.equal(
      selectionSeed({ blockHash: "00".repeat(32), jobId: "0x" + "00".repeat(32) }),
      "ad3228b676f7d3cd4284a5443f17f1962b36e491b30a40b2405849e597ba5fb5",
    );
    assert.notEqual(selectionSeed({ ...base, jobId: "23".repeat(32) }), seed);
    assert.notEqual(selectionSeed({ ...base, blockHash: "0x" + "12".repeat(32) }), seed);
    assert.throws(
      () => selectionSeed({ blockHash: "0x12", jobId: "22".repeat(32) }),
      (e) => e instanceof VerificationError && e.code === "VERIFY_BAD_AUDIT",
    );
  });
  await t.step("deterministic, distinct, drawn from the candidates, order-independent", () => {
    fc.assert(
      fc.property(
        fc.nat(1000),
        fc.uniqueArray(fc.nat(200), { maxLength: 12 }),
        fc.integer({ min: 0, max: 15 }),
        (s, ids, count) => {
          const seed = drawSeed(s);
          const candidates = ids.map(accountOf);
          const picked = selectVerifiers({ seed, candidates, count });
          assert.equal(picked.length, Math.min(count, candidates.length));
          assert.equal(new Set(picked).size, picked.length);
          assert.ok(picked.every((a) => candidates.includes(a)));
          assert.deepEqual(selectVerifiers({ seed, candidates, count }), picked);
          const shuffled = [...candidates].reverse();
          assert.deepEqual(selectVerifiers({ seed, candidates: shuffled, count }), picked);
          // Drawing more keeps the first ones: the ranking is one order over the candidates.
          const more = selectVerifiers({ seed, candidates, count: count + 1 });
          assert.deepEqual(more.slice(0, picked.length), picked);
        },
      ),
    );
  });
  await t.step("count above the candidates draws every candidate once", () => {
    const candidates = [accountOf(1), accountOf(2), accountOf(3)];
    const picked = selectVerifiers({
      seed: drawSeed(7),
      candidates: [...candidates, accountOf(2).toUpperCase().replace("0X", "0x")],
      count: 10,
    });
    assert.equal(picked.length, 3);
    assert.deepEqual([...picked].sort(), [...candidates].sort());
    assert.deepEqual(selectVerifiers({ seed: drawSeed(7), candidates: [], count: 2 }), []);
    assert.deepEqual(selectVerifiers({ seed: drawSeed(7), candidates, count: 0 }), []);
  });
  await t.step("is roughly uniform over candidates", () => {
    const candidates = Array.from({ length: 5 }, (_, i) => accountOf(i));
    const hits = new Map(candidates.map((a) => [a, 0]));
    for (let s = 0; s < 2000; s++) {
      const [first] = selectVerifiers({ seed: drawSeed(s), candidates, count: 1 });
      hits.set(first, hits.get(first)! + 1);
    }
    // 400 expected each; 5 standard deviations is about 90.
    assert.ok([...hits.values()].every((h) => h > 310 && h < 490), String([...hits.values()]));
  });
  await t.step(
    "does not depend on the provider: only the block after the commit and the job",
    () => {
      // Everything a provider controls (its account, its commitment) is outside the seed, so a
      // provider that commits again or from another account cannot change who audits it; only
      // another block hash (which it cannot predict) or another job does.
      const candidates = Array.from({ length: 8 }, (_, i) => accountOf(i));
      const draws = new Set<string>();
      for (let s = 0; s < 64; s++) {
        draws.add(selectVerifiers({ seed: drawSeed(s), candidates, count: 2 }).join());
      }
      assert.ok(draws.size > 10, `only ${draws.size} distinct draws over 64 blocks`);
    },
  );
  await t.step("rejects malformed input", () => {
    assert.throws(
      () => selectVerifiers({ seed: drawSeed(1), candidates: [accountOf(1)], count: -1 }),
      (e) => e instanceof VerificationError && e.code === "VERIFY_BAD_AUDIT",
    );
    assert.throws(
      () => selectVerifiers({ seed: drawSeed(1), candidates: ["0x1234"], count: 1 }),
      (e) => e instanceof VerificationError && e.code === "VERIFY_BAD_AUDIT",
    );
  });
});

Deno.test("detection probability and cost", async (t) => {
  const cases = [
    { n: 20, c: 1, s: 2, p: 0.1 },
    { n: 20, c: 1, s: 1, p: 0.05 },
    { n: 20, c: 1, s: 20, p: 1 },
    { n: 20, c: 0, s: 5, p: 0 },
    { n: 10, c: 5, s: 6, p: 1 },
    { n: 10, c: 2, s: 3, p: 1 - (8 * 7 * 6) / (10 * 9 * 8) },
  ];
  for (const { n, c, s, p } of cases) {
    await t.step(`n=${n} c=${c} s=${s}`, () => {
      assert.ok(
        Math.abs(detectionProbability({ segments: n, corrupted: c, sampled: s }) - p) < 1e-12,
      );
    });
  }
  await t.step("matches sampling with the selection function", () => {
    const corrupt = new Set([3, 11]);
    let caught = 0;
    const trials = 3000;
    for (let i = 0; i < trials; i++) {
      const picked = selectAuditSegments({ seed: seedOf(i), segments: 20, count: 2 });
      if (picked.some((x) => corrupt.has(x))) caught++;
    }
    const p = detectionProbability({ segments: 20, corrupted: 2, sampled: 2 });
    assert.ok(Math.abs(caught / trials - p) < 0.03, `${caught / trials} vs ${p}`);
  });
  await t.step("compute fraction", () => {
    assert.equal(auditComputeFraction({ steps: 1000, k: 50, sampled: 2 }), 0.1);
    assert.equal(auditComputeFraction({ steps: 100, k: 50, sampled: 5 }), 1);
    assert.equal(segmentCount(1000, 50), 20);
    assert.equal(segmentCount(110, 50), 3);
  });
});
