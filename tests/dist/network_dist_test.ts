import assert from "node:assert/strict";
import { loadMnist } from "../../lib/exec/mnist.ts";
import { mlp } from "../../lib/exec/zoo.ts";
import { Network } from "../../lib/node/network.ts";
import { toBytes32 } from "../../lib/node/settlement.ts";
import type { JobEvent } from "../../lib/node/watch.ts";
import { SpecError } from "../../lib/core/errors.ts";
import { commitOuterState } from "../../lib/dist/outer.ts";

const TOKEN = 10n ** 18n;
const data = await loadMnist({ limit: 2048 });

Deno.test("a distributed job on a local network: 3 workers agree, the submitter gets weights, every worker is paid", async () => {
  await using network = await Network.local({
    providers: 3,
    log: Deno.env.get("DBG") ? (l) => console.error(l) : undefined,
  });
  const before = await network.chain.token.balanceOf();
  const job = await network.train({
    model: mlp({ hidden: [16] }),
    data,
    steps: 16,
    batchSize: 32,
    workers: 3,
    rounds: 2,
    compression: { encoding: "int8" },
    optimizer: { name: "adam", learningRate: 1e-3 },
    priceWei: 30n * TOKEN,
    roundTimeoutSec: 60,
  });
  assert.equal(job.spec.replicas, 3);
  assert.deepEqual(job.spec.distributed, {
    workers: 3,
    rounds: 2,
    innerSteps: 8,
    encoding: "int8",
    blockSize: 256,
    roundTimeoutSec: 60,
  });
  await assert.rejects(job.result(), SpecError);

  const result = await job.distributedResult();
  const { paidWei, feeWei } = await job.settled();
  const events = job.rounds();

  // Every worker committed the same final outer state, and it is what the submitter got.
  const commits = (await collect(job.progress(), "committed")) as Extract<
    JobEvent,
    { kind: "committed" }
  >[];
  assert.deepEqual(commits.map((c) => c.slot).sort(), [0, 1, 2]);
  assert.equal(new Set(commits.map((c) => c.finalHash)).size, 1);
  assert.equal(await commitOuterState(result.outer), result.finalHash);
  assert.equal(result.outer.round, 2);
  assert.equal(new Set(result.traceRoots.values()).size, 3, "each worker commits its own trace");
  assert.ok(result.model.predict);
  result.model.dispose();

  // Each round: every worker reported, all computed the same counted set and outer hash.
  assert.equal(events.length, 2);
  for (const r of events) {
    assert.deepEqual(r.reporters, [0, 1, 2]);
    assert.ok(r.agreed, `round ${r.round} reports disagree`);
    assert.deepEqual(r.counted, [0, 1, 2]);
    assert.ok(r.bytesSent > 0);
    assert.ok(Number.isFinite(r.loss));
  }
  assert.equal(events[1].outerHash, result.finalHash);

  // Payment: escrow split over the three slots, each paid on-chain minus the fee.
  assert.equal(await network.chain.token.balanceOf(), before - 30n * TOKEN);
  assert.equal(paidWei + feeWei, 30n * TOKEN);
  for (let slot = 0; slot < 3; slot++) {
    const s = await network.chain.jobs.slot({ jobId: toBytes32(job.id), slot });
    assert.equal(s.status, "Paid");
  }
});

Deno.test("a worker cut off mid-job: the round completes without it, it is paid for the round it counted in, the rest is refunded", async () => {
  await using network = await Network.local({
    providers: 3,
    log: Deno.env.get("DBG") ? (l) => console.error(l) : undefined,
  });
  const before = await network.chain.token.balanceOf();
  const job = await network.train({
    model: mlp({ hidden: [16] }),
    data,
    steps: 60,
    batchSize: 32,
    workers: 3,
    rounds: 3,
    priceWei: 30n * TOKEN,
    timeoutSec: 3600,
    roundTimeoutSec: 20,
  });
  assert.equal((await network.chain.jobs.get(toBytes32(job.id))).workUnits, 3);
  // After round 0, cut worker 2's node off the network (its libp2p host stops; its provider and
  // chain account stay up, so it can commit the work it did).
  const round0 = await job.progress()[Symbol.asyncIterator]();
  let victimAccount: string | undefined;
  for (let e = await round0.next(); !e.done; e = await round0.next()) {
    if (e.value.kind === "claimed" && e.value.slot === 2) victimAccount = e.value.provider;
    if (e.value.kind === "round" && e.value.round === 0 && e.value.worker === 2) break;
  }
  assert.ok(victimAccount);
  const victimPeer = await network.peerOf(victimAccount);
  const victim = network.providers.find((p) => p.wire.peerId === victimPeer)!;
  await victim.wire.close();

  const result = await job.distributedResult();
  const rounds = job.rounds();
  assert.equal(rounds.length, 3);
  assert.deepEqual(rounds[0].counted, [0, 1, 2]);
  for (const r of rounds.slice(1)) {
    assert.deepEqual(r.counted, [0, 1], `round ${r.round}`);
    assert.ok(r.agreed);
  }
  assert.equal(rounds[2].outerHash, result.finalHash);
  assert.equal(result.outer.round, 3);
  assert.deepEqual([...result.providers.keys()].sort(), [0, 1]);
  result.model.dispose();

  // Worker 2 notices it is cut off (no quorum of receipt sets in round 1) and commits round 0.
  const partial = await job.progress()[Symbol.asyncIterator]();
  let committed: Extract<JobEvent, { kind: "committed" }> | undefined;
  for (let e = await partial.next(); !e.done; e = await partial.next()) {
    if (e.value.kind === "committed" && e.value.slot === 2) {
      committed = e.value;
      break;
    }
  }
  assert.equal(committed?.units, 1);
  assert.equal(committed?.finalHash, rounds[0].outerHash);

  // Workers 0 and 1 are paid their whole share, worker 2 one third of its share; the other two
  // thirds go back to the submitter.
  const share = 10n * TOKEN;
  const { paidWei, feeWei, refundedWei } = await job.settled();
  assert.equal(paidWei + feeWei, 2n * share + share / 3n);
  assert.equal(refundedWei, share - share / 3n);
  assert.equal(await network.chain.token.balanceOf(), before - 30n * TOKEN + refundedWei);
  for (let slot = 0; slot < 3; slot++) {
    const s = await network.chain.jobs.slot({ jobId: toBytes32(job.id), slot });
    assert.equal(s.status, "Paid");
    assert.equal(s.units, 3 - 2 * Math.floor(slot / 2));
  }
});

async function collect(events: AsyncIterable<JobEvent>, kind: JobEvent["kind"]) {
  const out: JobEvent[] = [];
  for await (const e of events) if (e.kind === kind) out.push(e);
  return out;
}
