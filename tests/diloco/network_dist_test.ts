import assert from "node:assert/strict";
import { loadMnist } from "../../lib/exec/mnist.ts";
import { mlp } from "../../lib/exec/zoo.ts";
import { Network } from "../../lib/node/network.ts";
import { toBytes32 } from "../../lib/node/settlement.ts";
import type { JobEvent } from "../../lib/node/watch.ts";
import type { ProviderNode } from "../../lib/node/provider.ts";
import { SpecError } from "../../lib/core/errors.ts";
import { commitOuterState } from "../../lib/diloco/outer.ts";

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

Deno.test("a worker cut off mid-job: the rounds complete without it, it is paid for the rounds it counted in, the rest is refunded", async () => {
  // The victim is whichever provider claims slot 2. Its node is cut off the network (its libp2p
  // host stops; its provider and chain account stay up, so it can commit the work it did) from
  // its own log line for round 0, before it trains round 1: cutting it from the submitter's
  // progress stream instead arrives after gossip delay, by which time a fast worker may already
  // have sent its round 1 delta.
  let victim: number | undefined;
  let cut: Promise<void> | undefined;
  const providers: ProviderNode[] = [];
  await using network = await Network.local({
    providers: 3,
    log: (line) => {
      if (Deno.env.get("DBG")) console.error(line);
      const claimed = line.match(/^\[provider (\d+)\] job \S+: claimed slot 2$/);
      if (claimed) victim = Number(claimed[1]) - 1;
      const round0 = line.match(/^\[provider (\d+)\] job \S+: round 0 /);
      if (round0 && victim === Number(round0[1]) - 1 && !cut) cut = providers[victim].wire.close();
    },
  });
  providers.push(...network.providers);
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

  const result = await job.distributedResult();
  assert.ok(cut, "the victim's node was cut off after round 0");
  await cut;
  const rounds = job.rounds();
  assert.equal(rounds.length, 3);
  // The round rule dropped the victim from some round on (round 1 unless the cut raced its send)
  // and never counted it again; every round agreed either way.
  const dropRound = rounds.findIndex((r) => !r.counted.includes(2));
  assert.ok(dropRound >= 1, "a round completed without the cut-off worker");
  for (const r of rounds) {
    assert.deepEqual(r.counted, r.round < dropRound ? [0, 1, 2] : [0, 1], `round ${r.round}`);
    assert.ok(r.agreed);
  }
  assert.equal(rounds[2].outerHash, result.finalHash);
  assert.equal(result.outer.round, 3);
  assert.deepEqual([...result.providers.keys()].sort(), [0, 1]);
  result.model.dispose();

  // The victim notices it is cut off (no quorum of receipt sets) and commits the rounds it did.
  const partial = await job.progress()[Symbol.asyncIterator]();
  let committed: Extract<JobEvent, { kind: "committed" }> | undefined;
  for (let e = await partial.next(); !e.done; e = await partial.next()) {
    if (e.value.kind === "committed" && e.value.slot === 2) {
      committed = e.value;
      break;
    }
  }
  assert.equal(committed?.units, dropRound);
  assert.equal(committed?.finalHash, rounds[dropRound - 1].outerHash);

  // Workers 0 and 1 are paid their whole share, the victim the fraction of its share it counted
  // in; the rest goes back to the submitter.
  const share = 10n * TOKEN;
  const victimPaid = share * BigInt(dropRound) / 3n;
  const { paidWei, feeWei, refundedWei } = await job.settled();
  assert.equal(paidWei + feeWei, 2n * share + victimPaid);
  assert.equal(refundedWei, share - victimPaid);
  assert.equal(await network.chain.token.balanceOf(), before - 30n * TOKEN + refundedWei);
  for (let slot = 0; slot < 3; slot++) {
    const s = await network.chain.jobs.slot({ jobId: toBytes32(job.id), slot });
    assert.equal(s.status, "Paid");
    assert.equal(s.units, slot === 2 ? dropRound : 3);
  }
});

async function collect(events: AsyncIterable<JobEvent>, kind: JobEvent["kind"]) {
  const out: JobEvent[] = [];
  for await (const e of events) if (e.kind === kind) out.push(e);
  return out;
}
