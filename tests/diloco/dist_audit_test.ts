import assert from "node:assert/strict";
import { loadMnist } from "../../lib/exec/mnist.ts";
import { defineModel } from "../../lib/exec/model.ts";
import { mlp } from "../../lib/exec/zoo.ts";
import { encodeCanonical } from "../../lib/core/canonical.ts";
import { Network } from "../../lib/node/network.ts";
import { specHashOfJob, toBytes32 } from "../../lib/node/settlement.ts";
import { decodeJobSpec } from "../../lib/proof/job.ts";
import { BlobStore } from "../../lib/proof/store.ts";
import { loadJobInputs } from "../../lib/node/executor.ts";
import { decodeDistTrace, type DistTrace, distTraceRoot } from "../../lib/node/dist_run.ts";
import {
  committedWorkers,
  DistAuditor,
  networkDistSource,
  peerTraces,
} from "../../lib/node/dist_audit.ts";
import { challengeAvailability, challengeWork } from "../../lib/node/disputes/mod.ts";
import { CheatingDistWorker } from "./_dist_cheater.ts";

const TOKEN = 10n ** 18n;
const BOND = 10n * TOKEN;
const data = await loadMnist({ limit: 2048 });
const log = Deno.env.get("DBG") ? (l: string) => console.error(l) : undefined;

Deno.test("distributed work is audited: every worker's rounds re-execute and its outer steps recompute; forged traces are named; false accusations lose their bond", async (t) => {
  // No fast settlement: the slots stay open to disputes for the whole test.
  await using network = await Network.local({
    providers: 3,
    verifiers: 1,
    verifierSegments: "all",
    fastSettle: false,
    ...(log ? { log } : {}),
  });
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
  const result = await job.distributedResult();
  result.model.dispose();

  await t.step("the verifier passes every worker, re-executing every round", async () => {
    for (let slot = 0; slot < 3; slot++) {
      const record = await network.verifiers[0].audited(job.id, { slot, timeoutMs: 120_000 });
      assert.equal(record.outcome, "passed", JSON.stringify(record));
      assert.equal(record.disputed, false);
      assert.equal(record.totalSegments, 2);
      assert.deepEqual(record.segments, [0, 1]);
      assert.deepEqual(record.rounds?.map((r) => r.status), ["valid", "valid"]);
      for (const r of record.rounds ?? []) {
        assert.ok(r.status === "valid" && r.outerChecked, JSON.stringify(r));
      }
      assert.equal(record.replayedSteps, 16, "each worker's 8 inner steps in each of 2 rounds");
    }
  });

  // The auditor itself, on the real traces, against forged ones.
  const spec = decodeJobSpec(await network.store.get(await specHashOfJob(network.chain, job.id)));
  const commits = await committedWorkers(network.chain, job.id);
  assert.deepEqual(commits.map((c) => [c.slot, c.units]), [[0, 2], [1, 2], [2, 2]]);
  const storeDir = await Deno.makeTempDir({ prefix: "gensyn-dist-audit-" });
  const store = new BlobStore(storeDir);
  const source = networkDistSource({
    chain: network.chain,
    wire: network.wire,
    store,
    jobId: job.id,
    commits,
  });
  const auditor = await DistAuditor.create({
    spec,
    ...(await loadJobInputs({ spec, store: network.store })),
  });
  try {
    const trace = await source.traceOrWhy(1);
    const peers = await peerTraces(source, commits, 1);
    assert.equal(peers.size, 2);
    const commit = commits[1];
    const rerooted = async (t: DistTrace) => {
      const root = await distTraceRoot(t.initialOuter, t.rounds);
      return { trace: { ...t, root }, commit: { ...commit, traceRoot: root } };
    };

    await t.step("an honest trace and round hold up", async () => {
      assert.equal(await auditor.checkTrace(trace, commit, peers), undefined);
      assert.equal(trace.initialOuter, await auditor.initialOuterHash());
      const v = await auditor.auditRound(trace, 1, source);
      assert.deepEqual(v, { round: 1, status: "valid", steps: 8, outerChecked: true });
      // The trace survives its canonical encoding.
      assert.deepEqual(decodeDistTrace(encodeCanonical(trace)), trace);
    });

    await t.step("a units claim its trace does not back is named", async () => {
      const problem = await auditor.checkTrace(trace, { ...commit, units: 1 }, peers);
      assert.match(problem ?? "", /committed 1 work units, its trace counts it in 2 rounds/);
    });

    await t.step("a trace that does not hash to the committed root is named", async () => {
      const problem = await auditor.checkTrace(
        trace,
        { ...commit, traceRoot: "ab".repeat(32) },
        peers,
      );
      assert.match(problem ?? "", /hash to root/);
    });

    await t.step("a round record most workers contradict is named", async () => {
      const forged = await rerooted({
        ...trace,
        rounds: [
          { ...trace.rounds[0], counted: [1, 2], deltas: trace.rounds[0].deltas.slice(1) },
          trace.rounds[1],
        ],
      });
      const problem = await auditor.checkTrace(forged.trace, forged.commit, peers);
      assert.match(problem ?? "", /round 0 .*disagrees with what most workers committed/);
    });

    await t.step("a segment end the worker did not train to is caught on replay", async () => {
      const seg = trace.rounds[1].segments[0];
      const forged = await rerooted({
        ...trace,
        rounds: [trace.rounds[0], {
          ...trace.rounds[1],
          segments: [{ ...seg, endHash: trace.rounds[0].segments[0].endHash }],
        }],
      });
      const v = await auditor.auditRound(forged.trace, 1, source);
      assert.equal(v.status, "mismatch");
      assert.match(v.status === "mismatch" ? v.reason : "", /re-executes to/);
    });

    await t.step(
      "a worker that claims shards the round rule did not give it is caught",
      async () => {
        const seg = trace.rounds[0].segments[0];
        const forged = await rerooted({
          ...trace,
          rounds: [{ ...trace.rounds[0], segments: [{ ...seg, shard: 2 }] }, trace.rounds[1]],
        });
        const v = await auditor.auditRound(forged.trace, 0, source);
        assert.match(
          v.status === "mismatch" ? v.reason : "",
          /round rule assigns 8 steps on shard 1/,
        );
      },
    );
  } finally {
    auditor.dispose();
    await Deno.remove(storeDir, { recursive: true }).catch(() => {});
  }

  const accuser = network.devnet!.client(8);
  const accuserDir = await Deno.makeTempDir({ prefix: "gensyn-accuser-" });
  const accuserStore = new BlobStore(accuserDir);

  await t.step("a false work dispute over an honest round loses the accuser its bond", async () => {
    const before = await accuser.token.balanceOf();
    const c = commits[1];
    const r = await challengeWork({
      chain: accuser,
      store: accuserStore,
      commit: { jobId: job.id, slot: 1, finalHash: c.finalHash, traceRoot: c.traceRoot },
      round: 1,
    });
    assert.equal(r.dispute.kind, "Work");
    assert.equal(r.dispute.outcome, "ProviderWon");
    assert.equal(r.slashedWei, 0n);
    const ruling = await network.ruled(r.dispute.id);
    assert.equal(ruling.winner, "provider");
    assert.equal(ruling.kernel, "(round 1)");
    assert.match(ruling.reason, /re-executes \(8 steps\) and its outer step holds/);
    assert.equal(await accuser.token.balanceOf(), before - BOND);
    const slot = await network.chain.jobs.slot({ jobId: toBytes32(job.id), slot: 1 });
    assert.equal(slot.status, "Committed");
  });

  await t.step("a false availability dispute over an honest worker's trace loses too", async () => {
    const c = commits[2];
    const r = await challengeAvailability({
      chain: accuser,
      store: accuserStore,
      commit: { jobId: job.id, slot: 2, finalHash: c.finalHash, traceRoot: c.traceRoot },
    });
    assert.equal(r.dispute.outcome, "ProviderWon");
    const ruling = await network.ruled(r.dispute.id);
    assert.equal(ruling.reason, "served its whole trace");
  });
  await Deno.remove(accuserDir, { recursive: true }).catch(() => {});
});

Deno.test("a distributed worker that trains under another learning rate is caught by replay, disputed over its round and slashed; the honest workers are paid", async () => {
  await using network = await Network.local({
    providers: 2,
    verifiers: 1,
    verifierSegments: "all",
    ...(log ? { log } : {}),
  });
  const honest = mlp({ hidden: [16] });
  const optimizer = { name: "adam" as const, learningRate: 1e-3 };
  const jobSpec = await defineModel(honest, { seed: 5, optimizer });
  const cheatSpec = await defineModel(honest, {
    seed: 5,
    optimizer: { ...optimizer, learningRate: 5e-3 },
  });
  honest.dispose();
  const cheater = await CheatingDistWorker.start({
    network,
    account: 4,
    cheat: { trainAs: cheatSpec },
    ...(log ? { log } : {}),
  });
  try {
    const job = await network.train({
      model: jobSpec,
      data,
      steps: 16,
      batchSize: 32,
      workers: 3,
      rounds: 2,
      priceWei: 30n * TOKEN,
      roundTimeoutSec: 60,
    });
    // The job itself completes: the other workers cannot tell the cheater's delta from an honest one.
    const result = await job.distributedResult();
    result.model.dispose();
    const slot = cheater.committed.get(job.id);
    assert.ok(slot !== undefined, "the cheater took a slot");

    const caught = await network.verifiers[0].audited(job.id, { slot, timeoutMs: 180_000 });
    assert.equal(caught.outcome, "caught", JSON.stringify(caught));
    assert.match(caught.reason ?? "", /round 0: its segment on shard \d re-executes to/);
    assert.equal(caught.dispute?.kind, "Work");
    assert.equal(caught.dispute?.outcome, "ChallengerWon");
    assert.ok(BigInt(caught.slashedWei ?? "0") > 0n);
    const ruling = await network.ruled(BigInt(caught.dispute!.id));
    assert.equal(ruling.winner, "challenger");
    assert.equal(ruling.kernel, "(round 0)");
    assert.equal(
      (await network.chain.jobs.slot({ jobId: toBytes32(job.id), slot })).status,
      "Slashed",
    );

    for (const other of [0, 1, 2].filter((s) => s !== slot)) {
      const record = await network.verifiers[0].audited(job.id, {
        slot: other,
        timeoutMs: 180_000,
      });
      assert.equal(record.outcome, "passed", JSON.stringify(record));
      // The cheater's delta derives from its committed end state, so the outer steps recompute.
      assert.ok(record.rounds?.every((r) => r.status === "valid" && r.outerChecked));
    }
    // The honest workers are paid their whole shares; the cheater's share goes back.
    const { paidWei, feeWei, refundedWei } = await job.settled();
    assert.equal(paidWei + feeWei, 20n * TOKEN);
    assert.equal(refundedWei, 10n * TOKEN);
    for (let s = 0; s < 3; s++) {
      const view = await network.chain.jobs.slot({ jobId: toBytes32(job.id), slot: s });
      assert.equal(view.status, s === slot ? "Slashed" : "Paid");
    }
  } finally {
    await cheater.close();
  }
});

Deno.test("a worker that sends a malformed delta is rejected by every member and dropped: its shard is reassigned, it is paid for the round it counted in, and every worker's work audits clean", async () => {
  await using network = await Network.local({
    providers: 2,
    verifiers: 1,
    verifierSegments: "all",
    ...(log ? { log } : {}),
  });
  const cheater = await CheatingDistWorker.start({
    network,
    account: 4,
    cheat: { malformedRound: 1 },
    ...(log ? { log } : {}),
  });
  try {
    const job = await network.train({
      model: mlp({ hidden: [16] }),
      data,
      steps: 24,
      batchSize: 32,
      workers: 3,
      rounds: 3,
      priceWei: 30n * TOKEN,
      roundTimeoutSec: 60,
    });
    const result = await job.distributedResult();
    result.model.dispose();
    const slot = cheater.committed.get(job.id);
    assert.ok(slot !== undefined, "the malformed worker committed the round it counted in");
    const others = [0, 1, 2].filter((s) => s !== slot);

    // Round 1: every member rejected its delta (reported in the round), the rest counted.
    const rounds = job.rounds();
    assert.deepEqual(rounds[0].counted, [0, 1, 2]);
    assert.deepEqual(rounds[1].rejected, [slot]);
    assert.deepEqual(rounds[1].counted, others);
    assert.deepEqual(rounds[2].counted, others);
    assert.ok(rounds.every((r) => r.agreed));

    // Its shard went to the others in round 2, and every worker's rounds audit clean.
    const commits = await committedWorkers(network.chain, job.id);
    assert.deepEqual(commits.map((c) => c.units), [0, 1, 2].map((s) => s === slot ? 1 : 3));
    const dir = await Deno.makeTempDir({ prefix: "gensyn-dist-audit-" });
    const source = networkDistSource({
      chain: network.chain,
      wire: network.wire,
      store: new BlobStore(dir),
      jobId: job.id,
      commits,
    });
    const shards = (
      await Promise.all(others.map(async (s) => (await source.traceOrWhy(s)).rounds[2].segments))
    ).flat().map((g) => g.shard).sort();
    assert.deepEqual(shards, [0, 1, 2], "the dropped worker's shard is trained in round 2");
    await Deno.remove(dir, { recursive: true });
    for (let s = 0; s < 3; s++) {
      const record = await network.verifiers[0].audited(job.id, { slot: s, timeoutMs: 180_000 });
      assert.equal(record.outcome, "passed", JSON.stringify(record));
      assert.equal(record.rounds?.length, s === slot ? 2 : 3);
      assert.ok(record.rounds?.every((r) => r.status === "valid" && r.outerChecked));
    }

    // Paid by verified work: two whole shares and a third of the dropped worker's.
    const share = 10n * TOKEN;
    const { paidWei, feeWei, refundedWei } = await job.settled();
    assert.equal(paidWei + feeWei, 2n * share + share / 3n);
    assert.equal(refundedWei, share - share / 3n);
  } finally {
    await cheater.close();
  }
});
