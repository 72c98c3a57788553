import assert from "node:assert/strict";
import { defineModel } from "../../lib/exec/model.ts";
import { loadMnist } from "../../lib/exec/mnist.ts";
import { mlp } from "../../lib/exec/zoo.ts";
import { runDiLoCo } from "../../lib/diloco/round.ts";
import { Trainer } from "../../lib/exec/trainer.ts";
import { commitState } from "../../lib/proof/commitment.ts";
import type { DiLoCoOptions } from "../../lib/diloco/round.ts";

const dataset = await loadMnist({ limit: 2048 });
const spec = await defineModel(mlp({ hidden: [16] }), {
  seed: 3,
  optimizer: { name: "adam", learningRate: 1e-3 },
});
const base: DiLoCoOptions = {
  spec,
  dataset,
  workers: 3,
  rounds: 2,
  innerSteps: 4,
  batchSize: 32,
  roundTimeoutMs: 20_000,
};

Deno.test("runDiLoCo over libp2p", async (t) => {
  await t.step("every worker holds the same outer hash each round, and reruns repeat", async () => {
    const a = await runDiLoCo(base);
    const b = await runDiLoCo(base);
    assert.equal(a.rounds.length, 2);
    for (const r of a.rounds) {
      assert.deepEqual(r.counted, [0, 1, 2]);
      assert.equal(new Set(r.hashes.values()).size, 1);
      assert.equal(r.hashes.size, 3);
      assert.equal(r.segments.length, 3);
      for (const s of r.segments) assert.notEqual(s.startHash, s.endHash);
      for (const bytes of r.bytesSent.values()) assert.ok(bytes > 0);
    }
    assert.deepEqual(a.rounds.map((r) => r.outerHash), b.rounds.map((r) => r.outerHash));
    assert.notEqual(a.rounds[0].outerHash, a.rounds[1].outerHash);
    // A round-0 segment replays from its committed start state to its committed end state.
    const seg = a.rounds[0].segments[1];
    const trainer = await Trainer.create({
      spec,
      dataset,
      batchSize: base.batchSize,
      shard: { index: seg.shard, of: base.workers },
    });
    try {
      const start = trainer.initialState();
      assert.equal(await commitState(start), seg.startHash);
      assert.equal(await commitState(await trainer.run(start, seg.steps)), seg.endHash);
    } finally {
      trainer.dispose();
    }
  });

  await t.step("a worker that leaves mid-round is dropped and its shard reassigned", async () => {
    const res = await runDiLoCo({ ...base, rounds: 3, leave: [{ round: 1, worker: 1 }] });
    const [r0, r1, r2] = res.rounds;
    assert.deepEqual(r0.counted, [0, 1, 2]);
    assert.deepEqual(r1.members, [0, 1, 2]);
    assert.deepEqual(r1.counted, [0, 2]);
    assert.deepEqual(r1.absent, [1]);
    assert.equal(r1.hashes.size, 2);
    assert.equal(new Set(r1.hashes.values()).size, 1);
    assert.deepEqual(r2.members, [0, 2]);
    assert.deepEqual(r2.assignment.get(0), [0, 1]);
    assert.deepEqual(r2.assignment.get(2), [2]);
    assert.deepEqual(r2.segments.map((s) => s.shard).sort(), [0, 1, 2]);
    assert.equal(new Set(r2.hashes.values()).size, 1);
  });

  await t.step("a worker that stalls is dropped at the round deadline", async () => {
    const res = await runDiLoCo({
      ...base,
      roundTimeoutMs: 1_000,
      stall: [{ round: 0, worker: 2 }],
    });
    const [r0, r1] = res.rounds;
    assert.deepEqual(r0.counted, [0, 1]);
    assert.deepEqual(r0.absent, [2]);
    assert.ok(r0.commMs >= 900, `waited ${r0.commMs} ms for the deadline`);
    assert.deepEqual(r1.members, [0, 1]);
    assert.deepEqual(r1.assignment.get(0), [0, 2]);
    assert.equal(new Set(r1.hashes.values()).size, 1);
  });

  await t.step(
    "a late joiner fetches the outer state and counts from its first round",
    async () => {
      const res = await runDiLoCo({
        ...base,
        rounds: 3,
        leave: [{ round: 0, worker: 2 }],
        join: [{ round: 2, count: 1 }],
      });
      const [, r1, r2] = res.rounds;
      assert.deepEqual(r1.members, [0, 1]);
      assert.deepEqual(r2.members, [0, 1, 3]);
      assert.deepEqual(r2.assignment.get(3), [2]);
      assert.deepEqual(r2.counted, [0, 1, 3]);
      assert.equal(r2.hashes.size, 3);
      assert.equal(new Set(r2.hashes.values()).size, 1);
    },
  );

  await t.step(
    "a delta that reached only a minority: every worker drops its sender alike",
    async () => {
      // Worker 3 of 4 reaches only worker 0: held by 2 of 4 members, not a majority. Without the
      // agreement step worker 0 would count it and workers 1 and 2 would not.
      const res = await runDiLoCo({
        ...base,
        workers: 4,
        roundTimeoutMs: 2_000,
        sendTo: [{ round: 0, worker: 3, to: [0] }],
      });
      const [r0, r1] = res.rounds;
      assert.deepEqual(r0.counted, [0, 1, 2]);
      assert.deepEqual(r0.absent, [3]);
      assert.deepEqual([...r0.hashes.keys()], [0, 1, 2, 3], "the dropped worker agrees too");
      assert.equal(new Set(r0.hashes.values()).size, 1);
      assert.deepEqual(r1.members, [0, 1, 2]);
      assert.equal(new Set(r1.hashes.values()).size, 1);
    },
  );

  await t.step(
    "a delta that reached a majority counts; a member that missed it fetches it by hash",
    async () => {
      // Worker 3 of 4 reaches workers 0 and 1 (held by 3 of 4 members with its own set): it
      // counts, and worker 2, which waited for it until the deadline, fetches it from worker 0.
      const res = await runDiLoCo({
        ...base,
        workers: 4,
        roundTimeoutMs: 2_000,
        sendTo: [{ round: 0, worker: 3, to: [0, 1] }],
      });
      const [r0, r1] = res.rounds;
      assert.deepEqual(r0.counted, [0, 1, 2, 3]);
      assert.equal(r0.hashes.size, 4);
      assert.equal(new Set(r0.hashes.values()).size, 1);
      assert.deepEqual(r1.counted, [0, 1, 2, 3]);
      assert.equal(new Set(r1.hashes.values()).size, 1);
    },
  );

  await t.step(
    "a sender that dies halfway still counts when a majority of the members hold its delta",
    async () => {
      // Worker 4 of 5 reaches workers 0, 1 and 2, then dies (no receipt set of its own): held by
      // 3 of 5. Worker 3 fetches it; in the next round worker 4 is absent and dropped.
      const res = await runDiLoCo({
        ...base,
        workers: 5,
        sendTo: [{ round: 0, worker: 4, to: [0, 1, 2], leave: true }],
      });
      const [r0, r1] = res.rounds;
      assert.deepEqual(r0.counted, [0, 1, 2, 3, 4]);
      assert.deepEqual([...r0.hashes.keys()], [0, 1, 2, 3]);
      assert.equal(new Set(r0.hashes.values()).size, 1);
      assert.deepEqual(r1.counted, [0, 1, 2, 3]);
      assert.deepEqual(r1.absent, [4]);
      assert.equal(new Set(r1.hashes.values()).size, 1);
    },
  );

  await t.step(
    "a member that fails halfway through the receipt exchange is seen alike by every member (echo)",
    async () => {
      // Worker 3 of 4 delivers its delta to workers 0 and 1, then its receipt set to worker 0
      // only, and dies. Worker 0 alone would see worker 3's delta held by 3 of 4 (0, 1 and 3's own
      // set) and count it; workers 1 and 2 would see 2 of 4 and not. The echo gives everyone
      // worker 0's snapshot, so all count it, and worker 2 fetches it by hash.
      const res = await runDiLoCo({
        ...base,
        workers: 4,
        roundTimeoutMs: 2_000,
        sendTo: [{ round: 0, worker: 3, to: [0, 1] }],
        receiptsTo: [{ round: 0, worker: 3, to: [0] }],
      });
      const [r0, r1] = res.rounds;
      assert.deepEqual(r0.counted, [0, 1, 2, 3]);
      assert.deepEqual([...r0.hashes.keys()], [0, 1, 2]);
      assert.equal(new Set(r0.hashes.values()).size, 1);
      assert.deepEqual(r1.counted, [0, 1, 2]);
      assert.deepEqual(r1.absent, [3]);
      assert.equal(new Set(r1.hashes.values()).size, 1);
    },
  );

  await t.step("a wrong-sized or non-finite delta is rejected and treated as absent", async () => {
    const res = await runDiLoCo({
      ...base,
      tamper: ({ round, worker }, p) => {
        if (round !== 0) return undefined;
        if (worker === 1) return p.subarray(0, p.length - 3);
        if (worker === 2) {
          const bad = p.slice();
          new DataView(bad.buffer).setFloat32(0, NaN, true); // first int8 scale
          return bad;
        }
        return undefined;
      },
    });
    const [r0, r1] = res.rounds;
    assert.deepEqual(r0.counted, [0]);
    assert.deepEqual(r0.rejected.map((r) => [r.worker, r.code]), [
      [1, "PEER_MALFORMED_DELTA"],
      [2, "PEER_MALFORMED_DELTA"],
    ]);
    assert.equal(new Set(r0.hashes.values()).size, 1);
    assert.deepEqual(r1.members, [0]);
    assert.deepEqual(r1.assignment.get(0), [0, 1, 2]);
  });
});
