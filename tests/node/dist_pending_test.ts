import assert from "node:assert/strict";
import type { Hash } from "../../lib/core/hash.ts";
import {
  completePendingRound,
  decodeDistTrace,
  DIST_TRACE_FORMAT,
  type DistTrace,
  distTraceRoot,
  type DistTraceRound,
  partialDistWork,
  type PendingDistRound,
} from "../../lib/node/dist_run.ts";
import { BlobStore } from "../../lib/proof/store.ts";

const JOB = "ab".repeat(32) as Hash;
const h = (n: number) => n.toString(16).padStart(64, "0") as Hash;
const INITIAL = h(1);

/** Round `round` as every worker records it, with worker `slot`'s own segments. */
function round(r: number, counted: number[], slot: number, outer = h(100 + r)): DistTraceRound {
  return {
    round: r,
    members: [0, 1, 2],
    counted,
    deltas: counted.map((w) => h(1000 + 10 * r + w)),
    segments: [{ shard: slot, steps: 5, startHash: h(2000 + 10 * r + slot), endHash: h(3000 + r) }],
    outerHash: outer,
  };
}

async function traceOf(slot: number, rounds: DistTraceRound[]): Promise<DistTrace> {
  return {
    format: DIST_TRACE_FORMAT,
    jobId: JOB,
    worker: slot,
    initialOuter: INITIAL,
    rounds,
    root: await distTraceRoot(INITIAL, rounds),
  };
}

/** Worker 2 stopped after sending its delta of round 1; it holds round 0. */
const PENDING: PendingDistRound = {
  initialOuter: INITIAL,
  round: 1,
  members: [0, 1, 2],
  segments: round(1, [0, 1, 2], 2).segments,
  peers: [],
};

Deno.test("a worker stopped between sending its delta and seeing the round agreed", async (t) => {
  const dir = await Deno.makeTempDir();
  const store = new BlobStore(dir);
  const partial = await traceOf(2, [round(0, [0, 1, 2], 2)]);
  /** `held` null: the worker holds no trace yet. */
  const complete = (
    peers: Map<number, DistTrace>,
    pending = PENDING,
    held: DistTrace | null = partial,
  ) =>
    completePendingRound({
      store,
      jobId: JOB,
      slot: 2,
      partial: held ?? undefined,
      pending,
      peers,
    });
  const peersWith = async (second: (slot: number) => DistTraceRound | undefined) =>
    new Map(
      await Promise.all([0, 1].map(async (slot) => {
        const rounds = [round(0, [0, 1, 2], slot)];
        const r1 = second(slot);
        if (r1) rounds.push(r1, round(2, [0, 1], slot));
        return [slot, await traceOf(slot, rounds)] as const;
      })),
    );
  try {
    await t.step("counts the round when every other worker's trace agrees it counted", async () => {
      const done = await complete(await peersWith((s) => round(1, [0, 1, 2], s)));
      assert.ok(done);
      assert.equal(done.trace.rounds.length, 2);
      assert.deepEqual(done.trace.rounds[1].segments, PENDING.segments);
      assert.equal(done.trace.rounds[1].outerHash, h(101));
      assert.equal(done.trace.root, await distTraceRoot(INITIAL, done.trace.rounds));
      assert.deepEqual(decodeDistTrace(await store.get(done.traceBlob)), done.trace);
      const work = await partialDistWork(store, done.traceBlob, 2);
      assert.deepEqual(work, { units: 2, finalHash: h(101), traceRoot: done.trace.root });
    });
    await t.step("a round that dropped its delta adds nothing", async () => {
      assert.equal(await complete(await peersWith((s) => round(1, [0, 1], s))), undefined);
    });
    await t.step("traces that disagree on the round add nothing", async () => {
      const peers = await peersWith((s) => round(1, [0, 1, 2], s, s === 0 ? h(101) : h(999)));
      assert.equal(await complete(peers), undefined);
    });
    await t.step(
      "nor do traces whose round before it is not the one this worker holds",
      async () => {
        const peers = await peersWith((s) => round(1, [0, 1, 2], s));
        for (const trace of peers.values()) {
          (trace.rounds as DistTraceRound[])[0] = round(0, [0, 1, 2], trace.worker, h(555));
        }
        assert.equal(await complete(peers), undefined);
      },
    );
    await t.step("nor traces without the round, or a round over other members", async () => {
      assert.equal(await complete(await peersWith(() => undefined)), undefined);
      const others = await peersWith((s) => ({ ...round(1, [0, 1, 2], s), members: [0, 1, 2, 3] }));
      assert.equal(await complete(others), undefined);
    });
    await t.step("a pending round that is not the next one is not completed", async () => {
      const peers = await peersWith((s) => round(1, [0, 1, 2], s));
      assert.equal(await complete(peers, { ...PENDING, round: 0 }), undefined);
      assert.equal(await complete(peers, PENDING, null), undefined);
    });
    await t.step("round 0 in flight, with no trace yet, completes from the others", async () => {
      const peers = await peersWith((s) => round(1, [0, 1, 2], s));
      const first: PendingDistRound = { ...PENDING, round: 0, segments: round(0, [], 2).segments };
      const done = await complete(peers, first, null);
      assert.ok(done);
      assert.deepEqual(done.trace.rounds.map((r) => r.round), [0]);
      assert.deepEqual(done.trace.rounds[0].counted, [0, 1, 2]);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
