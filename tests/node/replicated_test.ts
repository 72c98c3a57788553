import assert from "node:assert/strict";
import type { Hash } from "../../lib/core/hash.ts";
import { encodeDataset } from "../../lib/exec/dataset.ts";
import { loadMnist } from "../../lib/exec/mnist.ts";
import { encodeModelSpec } from "../../lib/exec/model.ts";
import { Network } from "../../lib/node/network.ts";
import { ensurePeerBound, toBytes32 } from "../../lib/node/settlement.ts";
import { VerifierNode } from "../../lib/node/verifier/mod.ts";
import { verifierHost } from "./_verifier_host.ts";
import { createJobSpec, encodeJobSpec, specHashOf } from "../../lib/proof/job.ts";
import { CheatingProvider } from "../../testing/adversary.ts";
import { tinySpec } from "../adversary/_suite.ts";

const TOKEN = 10n ** 18n;

/** Polls the chain until `check` holds; fails loudly after `timeoutMs`. */
async function until(what: string, check: () => Promise<boolean>, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/**
 * Submits a 2-replica job of 40 steps (4 segments) as the network's submitter and offers it until
 * both slots are claimed (`network.train` submits single-replica jobs).
 */
async function submitReplicated(
  network: Network,
  signal: AbortSignal,
  audit = { segments: 1, verifiers: 1 },
): Promise<Hash> {
  const model = await tinySpec();
  const data = await loadMnist({ limit: 512 });
  await network.store.put(encodeModelSpec(model));
  const spec = createJobSpec({
    model: model.id,
    datasetBlob: await network.store.put(encodeDataset(data)),
    datasetId: data.id,
    steps: 40,
    batchSize: 16,
    k: 10,
    replicas: 2,
    audit,
    priceWei: 20n * TOKEN,
  });
  await network.store.put(encodeJobSpec(spec));
  const { chain, wire } = network;
  const created = await chain.jobs.create({
    specHash: toBytes32(await specHashOf(spec)),
    paymentWei: BigInt(spec.priceWei),
    timeoutSec: 3600,
    challengeWindowSec: 600,
    requiredStakeWei: 100n * TOKEN,
    replicas: spec.replicas,
    checkpointInterval: spec.k,
    steps: spec.steps,
  });
  const jobId = created.jobId.slice(2);
  const { deadline } = await chain.jobs.get(created.jobId);
  (async () => {
    // Gossip published before the mesh reaches a provider is lost: offer until both claimed.
    while (!signal.aborted) {
      const slots = await Promise.all(
        [0, 1].map((slot) => chain.jobs.slot({ jobId: toBytes32(jobId), slot })),
      );
      if (slots.every((s) => s.status !== "Open")) return;
      await wire.announce(spec, jobId, Number(deadline)).catch(() => {
        // no peer in the mesh yet: the next round retries
      });
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  })();
  return jobId;
}

Deno.test("a replicated job whose replicas disagree: the cheater is audited in full, disputed and slashed; the honest replica is paid", async () => {
  // Time moves only when the test says so: both replicas commit inside their challenge windows.
  await using network = await Network.local({
    providers: 1,
    verifiers: 1,
    fastSettle: false,
  });
  const [verifier] = network.verifiers;
  const honest = network.devnet!.accounts[2]; // provider 1
  const cheater = await CheatingProvider.start({
    network,
    account: 3,
    cheat: { kind: "flip-bit", step: 5 },
  });
  const offering = new AbortController();
  const signal = offering.signal;
  try {
    const chain = network.chain;
    // One sampled segment: a sample alone would most likely miss the flipped bit.
    const job = { id: await submitReplicated(network, signal) };
    const jobId = toBytes32(job.id);
    await Promise.all([0, 1].map((slot) => verifier.audited(job.id, { slot, timeoutMs: 60_000 })));
    await verifier.idle();
    // Whichever replica commits first is audited by sample, then again in full once the other
    // disagrees with it: the latest record of each slot is the one that counts.
    const records = verifier.auditsOf(job.id);
    assert.deepEqual(new Set(records.map((r) => r.slot)), new Set([0, 1]));
    const cheat = records.findLast((r) => r.provider === cheater.chain.account);
    const fair = records.findLast((r) => r.provider === honest);
    assert.ok(cheat && fair, JSON.stringify(records));
    // The commitments disagreed, so each slot was checked in full, not by sample, unless the
    // cheater committed first and its own sample already caught it.
    if (cheat.conflictsWith !== undefined || cheat.outcome !== "caught") {
      assert.deepEqual(cheat.conflictsWith, [fair.slot]);
    }
    assert.deepEqual(fair.conflictsWith, [cheat.slot]);
    assert.equal(fair.outcome, "passed", JSON.stringify(fair));
    assert.equal(fair.disputed, false);
    assert.equal(fair.segments.length, fair.totalSegments);
    assert.ok(fair.verdicts.every((v) => v.status === "valid"));
    assert.equal(cheat.outcome, "caught", JSON.stringify(cheat));
    assert.deepEqual(cheat.verdicts.map((v) => v.status), ["mismatch"]);
    assert.equal(cheat.dispute?.kind, "Execution");
    assert.equal(cheat.dispute?.outcome, "ChallengerWon");
    assert.ok(BigInt(cheat.slashedWei ?? "0") > 0n);
    assert.equal((await chain.jobs.slot({ jobId, slot: cheat.slot })).status, "Slashed");
    // Past the challenge window the honest replica collects its share.
    const onChain = await chain.jobs.get(jobId);
    await network.devnet!.increaseTime(onChain.challengeWindowSec + 1);
    await until(
      "the honest slot to be paid",
      async () => (await chain.jobs.slot({ jobId, slot: fair.slot })).status === "Paid",
    );
  } finally {
    offering.abort();
    await cheater.close();
  }
});

Deno.test("a replica that passed its sample is audited again in full once another replica disagrees with it", async () => {
  await using network = await Network.local({ providers: 0, verifiers: 1, fastSettle: false });
  const [verifier] = network.verifiers;
  const chain = network.chain;
  const offering = new AbortController();
  const cheater = await CheatingProvider.start({
    network,
    account: 3,
    cheat: { kind: "flip-bit", step: 5 },
  });
  let honest: CheatingProvider | undefined;
  try {
    // A policy of no sampled segments: alone, the cheater's commit passes its audit.
    const id = await submitReplicated(network, offering.signal, { segments: 0, verifiers: 1 });
    const jobId = toBytes32(id);
    const first = await verifier.audited(id, { slot: 0, timeoutMs: 300_000 });
    assert.equal(first.provider, cheater.chain.account);
    assert.equal(first.outcome, "passed");
    assert.deepEqual(first.segments, []);
    assert.equal(first.conflictsWith, undefined);
    // The second replica arrives later, trains honestly, and disagrees.
    honest = await CheatingProvider.start({ network, account: 4, cheat: { kind: "honest" } });
    const second = await verifier.audited(id, { slot: 1, timeoutMs: 300_000 });
    await verifier.idle();
    assert.equal(second.provider, honest.chain.account);
    assert.equal(second.outcome, "passed", JSON.stringify(second));
    assert.deepEqual(second.conflictsWith, [0]);
    assert.equal(second.segments.length, second.totalSegments);
    const again = await verifier.audited(id, { slot: 0 });
    assert.equal(again.outcome, "caught", JSON.stringify(again));
    assert.deepEqual(again.conflictsWith, [1]);
    assert.equal(again.dispute?.outcome, "ChallengerWon");
    assert.deepEqual(verifier.auditsOf(id).map((r) => [r.slot, r.outcome]), [[1, "passed"], [
      0,
      "caught",
    ]]);
    assert.equal((await chain.jobs.slot({ jobId, slot: 0 })).status, "Slashed");
    const { challengeWindowSec } = await chain.jobs.get(jobId);
    await network.devnet!.increaseTime(challengeWindowSec + 1);
    const { paidWei } = await honest.chain.jobs.finalize({ jobId, slot: 1 });
    assert.ok(paidWei > 0n);
  } finally {
    offering.abort();
    await honest?.close();
    await cheater.close();
  }
});

Deno.test("a verifier restarted between two replicas' commits still compares them: the earlier commit is read back", async () => {
  await using network = await Network.local({ providers: 0, verifiers: 0, fastSettle: false });
  const devnet = network.devnet!;
  const { dir, chain, wire } = await verifierHost(network);
  const offering = new AbortController();
  const cheater = await CheatingProvider.start({
    network,
    account: 3,
    cheat: { kind: "flip-bit", step: 5 },
    bootstrap: wire.addrs,
  });
  let honest: CheatingProvider | undefined;
  const start = () =>
    VerifierNode.start({ dataDir: dir, chain, wire, mine: () => devnet.increaseTime(0) });
  let verifier = await start();
  try {
    await ensurePeerBound(chain, wire.peerPrivateKey);
    // No sampled segments: alone, the cheater's commit passes its audit.
    const id = await submitReplicated(network, offering.signal, { segments: 0, verifiers: 1 });
    const first = await verifier.audited(id, { slot: 0, timeoutMs: 300_000 });
    assert.equal(first.provider, cheater.chain.account);
    assert.equal(first.outcome, "passed");
    // Stopped once that audit is recorded: its commit is behind the saved cursor now.
    await verifier.close();
    honest = await CheatingProvider.start({
      network,
      account: 4,
      cheat: { kind: "honest" },
      bootstrap: wire.addrs,
    });
    await until(
      "the second replica's commit",
      async () =>
        (await network.chain.jobs.slot({ jobId: toBytes32(id), slot: 1 })).status ===
          "Committed",
      300_000,
    );
    verifier = await start();
    const second = await verifier.audited(id, { slot: 1, timeoutMs: 300_000 });
    assert.deepEqual(second.conflictsWith, [0], JSON.stringify(second));
    assert.equal(second.outcome, "passed", JSON.stringify(second));
    assert.equal(second.segments.length, second.totalSegments);
    await verifier.idle();
    const again = await verifier.audited(id, { slot: 0 });
    assert.equal(again.outcome, "caught", JSON.stringify(again));
    assert.equal(again.dispute?.outcome, "ChallengerWon");
    assert.equal(
      (await network.chain.jobs.slot({ jobId: toBytes32(id), slot: 0 })).status,
      "Slashed",
    );
  } finally {
    offering.abort();
    await verifier.close();
    await honest?.close();
    await cheater.close();
    await wire.close();
    await Deno.remove(dir, { recursive: true });
  }
});
