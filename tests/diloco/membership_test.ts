import assert from "node:assert/strict";
import fc from "fast-check";
import { compressDelta } from "../../lib/diloco/compress.ts";
import {
  agreeRound,
  assignShards,
  decideRound,
  deltaHash,
  type DeltaMessage,
  nextMembers,
  splitSteps,
  validateDelta,
} from "../../lib/diloco/membership.ts";
import { PeerError, SpecError } from "../../lib/core/errors.ts";

const msg = (worker: number, xs: number[], round = 0): DeltaMessage => ({
  round,
  worker,
  encoding: "fp32",
  payload: compressDelta(new Float32Array(xs), { encoding: "fp32" }),
});

Deno.test("round rule", async (t) => {
  await t.step("validateDelta rejects wrong round, wrong size, non-finite values", () => {
    assert.deepEqual([...validateDelta(msg(0, [1, 2]), { round: 0, count: 2 })], [1, 2]);
    const cases: [DeltaMessage, string][] = [
      [msg(0, [1, 2], 1), "PEER_WRONG_ROUND"],
      [msg(0, [1, 2, 3]), "PEER_MALFORMED_DELTA"],
      [msg(0, [1, NaN]), "PEER_NON_FINITE_DELTA"],
      [msg(0, [Infinity, 1]), "PEER_NON_FINITE_DELTA"],
      [{ ...msg(0, [1, 2]), encoding: "fp16" }, "PEER_MALFORMED_DELTA"],
    ];
    for (const [m, code] of cases) {
      assert.throws(
        () => validateDelta(m, { round: 0, count: 2 }),
        (e) => e instanceof PeerError && e.code === code,
        code,
      );
    }
  });

  await t.step("decideRound: counted ascending, absent and rejected reported", () => {
    const d = decideRound({
      round: 0,
      count: 2,
      members: [3, 0, 2, 1],
      received: new Map([
        [3, msg(3, [1, 1])],
        [0, msg(0, [2, 2])],
        [2, msg(2, [1, NaN])],
        [7, msg(7, [1, 1])], // not a member: ignored
      ]),
    });
    assert.deepEqual(d.counted, [0, 3]);
    assert.deepEqual(d.deltas.map((x) => [...x]), [[2, 2], [1, 1]]);
    assert.deepEqual(d.absent, [1]);
    assert.deepEqual(d.rejected.map((r) => [r.worker, r.code]), [[2, "PEER_NON_FINITE_DELTA"]]);
    const spoof = decideRound({
      round: 0,
      count: 2,
      members: [0, 1],
      received: new Map([[1, msg(0, [1, 1])]]),
    });
    assert.deepEqual(spoof.rejected.map((r) => r.code), ["PEER_WRONG_SENDER"]);
  });

  await t.step("next members: counted plus joiners", () => {
    assert.deepEqual(nextMembers({ counted: [3, 0], joining: [5, 0] }), [0, 3, 5]);
  });

  await t.step("assignShards: home shards stay, orphans go to idle then round-robin", () => {
    const asObj = (m: Map<number, number[]>) => Object.fromEntries(m);
    assert.deepEqual(asObj(assignShards({ shards: 4, members: [0, 1, 2, 3] })), {
      0: [0],
      1: [1],
      2: [2],
      3: [3],
    });
    assert.deepEqual(asObj(assignShards({ shards: 4, members: [0, 1, 3] })), {
      0: [0, 2],
      1: [1],
      3: [3],
    });
    assert.deepEqual(asObj(assignShards({ shards: 4, members: [0, 3, 4] })), {
      0: [0, 2],
      3: [3],
      4: [1],
    });
    assert.throws(() => assignShards({ shards: 4, members: [] }), SpecError);
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 12 }),
      fc.uniqueArray(fc.integer({ min: 0, max: 20 }), { minLength: 1, maxLength: 10 }),
      (shards, members) => {
        const a = assignShards({ shards, members });
        const owned = [...a.values()].flat().sort((x, y) => x - y);
        assert.deepEqual(owned, Array.from({ length: shards }, (_, i) => i));
        assert.deepEqual([...a.keys()].sort((x, y) => x - y), [...members].sort((x, y) => x - y));
        // Order of members does not matter.
        assert.deepEqual(a, assignShards({ shards, members: [...members].reverse() }));
        // Loads differ by at most one beyond home shards.
        const sizes = [...a.values()].map((s) => s.length);
        if (shards >= members.length) assert.ok(Math.min(...sizes) >= 1);
      },
    ));
  });

  await t.step("splitSteps sums to H", () => {
    assert.deepEqual(splitSteps(10, [0, 2, 3]), [4, 3, 3]);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 8 }), (h, k) => {
        const s = splitSteps(h, Array.from({ length: k }, (_, i) => i));
        assert.equal(s.reduce((a, b) => a + b, 0), h);
        assert.ok(Math.max(...s) - Math.min(...s) <= 1);
      }),
    );
  });

  await t.step("deltaHash names the bytes and the header", async () => {
    const a = msg(0, [1, 2]);
    assert.equal(await deltaHash(a), await deltaHash(msg(0, [1, 2])));
    for (const b of [msg(0, [1, 3]), msg(1, [1, 2]), msg(0, [1, 2], 1)]) {
      assert.notEqual(await deltaHash(a), await deltaHash(b));
    }
  });

  await t.step("agreeRound: a delta counts iff a strict majority of the members hold it", () => {
    const sets = (entries: [number, [number, string][]][]) =>
      new Map(entries.map(([m, ds]) => [m, new Map(ds)]));
    const members = [0, 1, 2, 3];
    // 0 reached everyone, 1 reached two others (3 of 4), 2 reached one (2 of 4), 3 sent nothing.
    const a = agreeRound({
      round: 4,
      members,
      receipts: sets([
        [0, [[0, "h0"], [1, "h1"], [2, "h2"]]],
        [1, [[0, "h0"], [1, "h1"]]],
        [2, [[0, "h0"], [1, "h1"], [2, "h2"]]],
        [3, [[0, "h0"]]],
      ]),
    });
    assert.deepEqual(a.agreed, [
      { worker: 0, hash: "h0", holders: [0, 1, 2, 3] },
      { worker: 1, hash: "h1", holders: [0, 1, 2] },
    ]);
    assert.deepEqual(a.reporters, [0, 1, 2, 3]);
    // Two hashes for worker 1: it equivocated and is out, whatever the counts.
    const b = agreeRound({
      round: 0,
      members: [0, 1, 2],
      receipts: sets([[0, [[0, "h0"], [1, "x"]]], [1, [[1, "y"]]], [2, [[0, "h0"], [1, "x"]]]]),
    });
    assert.deepEqual(b.agreed.map((d) => d.worker), [0]);
    assert.deepEqual(b.equivocated, [1]);
    // Receipts from non-members are ignored; half the members is not a quorum.
    assert.throws(
      () =>
        agreeRound({
          round: 0,
          members,
          receipts: sets([[0, [[0, "h0"]]], [1, [[0, "h0"]]], [9, [[0, "h0"]]]]),
        }),
      (e) => e instanceof PeerError && e.code === "PEER_NO_QUORUM",
    );
  });

  await t.step("agreeRound decides the same from the same receipt sets, in any order", () => {
    fc.assert(fc.property(
      fc.array(fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 5 }), {
        minLength: 3,
        maxLength: 5,
      }),
      (held) => {
        const members = held.map((_, i) => i);
        const entries = held.map((ws, m) =>
          [m, new Map([...new Set([...ws, m])].map((w) => [w, `h${w}`]))] as const
        );
        const one = agreeRound({ round: 0, members, receipts: new Map(entries) });
        const two = agreeRound({
          round: 0,
          members: [...members].reverse(),
          receipts: new Map([...entries].reverse()),
        });
        assert.deepEqual(one, two);
        for (const d of one.agreed) assert.ok(d.holders.length * 2 > members.length);
        // Every member holds its own delta, so with all sets in, nothing short of a majority.
        const counts = members.map((w) => entries.filter(([, s]) => s.has(w)).length);
        assert.deepEqual(
          one.agreed.map((d) => d.worker),
          members.filter((w) => counts[w] * 2 > members.length),
        );
      },
    ));
  });
});
