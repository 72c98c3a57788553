import assert from "node:assert/strict";
import { loadMnist } from "../../lib/exec/mnist.ts";
import { Trainer } from "../../lib/exec/trainer.ts";
import { mlp } from "../../lib/exec/zoo.ts";
import { trainWithProof } from "../../lib/proof/checkpoint.ts";
import { Network } from "../../lib/node/network.ts";
import { challengeAvailability, type DisputeResult } from "../../lib/node/disputes/mod.ts";
import type { Job } from "../../lib/node/job.ts";
import { BlobStore } from "../../lib/proof/store.ts";
import { JobRecords } from "../../lib/node/records.ts";
import { ensureStake, toBytes32 } from "../../lib/node/settlement.ts";
import { startProviderProcess } from "./_provider_process.ts";

Deno.test("a provider process killed mid-job restarts, resumes from its checkpoint and is paid", async () => {
  await using network = await Network.local({ providers: 0 });
  await using node = await providerOn(network);
  const { providerOptions } = node;
  const data = await loadMnist({ limit: 4096 });
  let provider = await startProviderProcess(providerOptions);
  const job = await network.train({
    model: mlp({ hidden: [128] }),
    data,
    steps: 1500, // long enough to be killed mid-job
    batchSize: 64,
    k: 50,
  });
  for await (const e of job.progress()) {
    if (e.kind === "checkpoint" && e.step >= 100) break;
  }
  await provider.kill("SIGKILL");
  provider = await startProviderProcess(providerOptions);
  try {
    const result = await provider.within(job.result(), "the resumed job's result");
    const { paidWei } = await provider.within(job.settled(), "the resumed job's payment");
    assert.ok(paidWei > 0n);
    assert.ok(
      provider.output.some((l) => l.includes("resuming job")),
      provider.output.join("\n"),
    );
    // The resumed run is bit-identical to an uninterrupted one.
    const trainer = await Trainer.create({ spec: job.modelSpec, dataset: data, batchSize: 64 });
    try {
      const reference = await trainWithProof({ trainer, steps: 1500, k: 50, jobId: job.id });
      assert.equal(result.trace.root, reference.trace.root);
      assert.equal(result.finalHash, reference.finalHash);
    } finally {
      trainer.dispose();
    }
    result.model.dispose();
  } finally {
    await provider.kill("SIGTERM");
  }
});

Deno.test("a provider process restarted after its commit publishes its trace again, so it wins an availability dispute over it", async () => {
  // No fast settlement: the slot stays open to disputes while the provider restarts.
  await using network = await Network.local({ providers: 0, fastSettle: false });
  await using node = await providerOn(network);
  const { dir, providerOptions } = node;
  let provider = await startProviderProcess(providerOptions);
  const job = await smallJob(network, { hidden: 16, examples: 512, steps: 40 });
  const result = await provider.within(job.result(), "the job's result");
  result.model.dispose();
  await provider.kill("SIGKILL");
  provider = await startProviderProcess(providerOptions);
  try {
    const deadline = Date.now() + 60_000;
    while (!provider.output.some((l) => l.includes("committed trace published again"))) {
      assert.ok(
        Date.now() < deadline,
        `no trace published again:\n${provider.output.join("\n")}`,
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // Its progress stream (what verifiers and the referee rebuild a trace from) is back.
    const dispute = await accuse(network, dir, job.id, result);
    assert.equal(dispute.dispute.outcome, "ProviderWon");
    const ruling = await network.ruled(dispute.dispute.id);
    assert.equal(ruling.reason, "served its whole trace");
  } finally {
    await provider.kill("SIGTERM");
  }
});

Deno.test("a provider out of reach when an availability dispute opens over its trace wins it once it is back", async () => {
  await using network = await Network.local({ providers: 0, fastSettle: false });
  await using node = await providerOn(network);
  const { dir, providerOptions } = node;
  const provider = await startProviderProcess(providerOptions);
  try {
    const job = await smallJob(network, { hidden: 16, examples: 512, steps: 40 });
    const result = await provider.within(job.result(), "the job's result");
    result.model.dispose();
    // Frozen: connections stay open but nothing answers, longer than one fetch may take.
    provider.signal("SIGSTOP");
    const disputing = accuse(network, dir, job.id, result);
    await new Promise((resolve) => setTimeout(resolve, 20_000));
    provider.signal("SIGCONT");
    const dispute = await disputing;
    assert.equal(dispute.dispute.outcome, "ProviderWon");
    const ruling = await network.ruled(dispute.dispute.id);
    assert.equal(ruling.reason, "served its whole trace");
  } finally {
    provider.signal("SIGCONT");
    await provider.kill("SIGTERM");
  }
});

Deno.test("a provider stopped after its claim landed, before it heard back, finds the claim on restart and finishes the job", async () => {
  await using network = await Network.local({ providers: 0 });
  await using node = await providerOn(network);
  const { providerOptions } = node;
  // The node's folder, made by a first run that stopped before any offer reached it.
  await (await startProviderProcess(providerOptions)).kill("SIGKILL");
  const job = await smallJob(network, { hidden: 8, examples: 256, steps: 20 });
  // What the node wrote before sending its claim, then the claim itself landing on-chain.
  await new JobRecords(providerOptions.dataDir).put({
    jobId: job.id,
    spec: job.spec,
    submitter: network.chain.account,
    submitterPeer: network.wire.peerId,
    submitterAddrs: [...network.wire.addrs],
    status: "claiming",
    slot: -1,
  });
  const chain = network.devnet!.client(providerOptions.account);
  await ensureStake(chain, (await chain.jobs.get(toBytes32(job.id))).requiredStakeWei);
  await chain.jobs.claim({ jobId: toBytes32(job.id) });
  const provider = await startProviderProcess(providerOptions);
  try {
    const result = await provider.within(job.result(), "the job's result");
    result.model.dispose();
    assert.equal(result.provider.toLowerCase(), chain.account.toLowerCase());
    assert.ok(provider.output.some((l) => l.includes("its claim landed before the stop")));
  } finally {
    await provider.kill("SIGTERM");
  }
});

Deno.test("a distributed worker killed mid-job: the others finish without it; restarted, it commits the rounds it counted in and is paid for them", async () => {
  await using network = await Network.local({ providers: 2 });
  await using node = await providerOn(network);
  const { providerOptions } = node;
  let provider = await startProviderProcess(providerOptions);
  const job = await network.train({
    model: mlp({ hidden: [16] }),
    data: await loadMnist({ limit: 2048 }),
    steps: 4 * 60,
    batchSize: 32,
    workers: 3,
    rounds: 4,
    priceWei: 30n * 10n ** 18n,
    roundTimeoutSec: 20,
  });
  // Killed (SIGKILL) as soon as it prints its round 0 report, before it trains much of round 1.
  const deadline = Date.now() + 120_000;
  while (!provider.output.some((l) => / round 0 loss /.test(l))) {
    assert.ok(Date.now() < deadline, `no round 0:\n${provider.output.join("\n")}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await provider.kill("SIGKILL");
  const victim = Number(
    provider.output.map((l) => l.match(/claimed slot (\d)/)?.[1]).find((m) => m)!,
  );

  const result = await job.distributedResult();
  result.model.dispose();
  const rounds = job.rounds();
  const dropRound = rounds.findIndex((r) => !r.counted.includes(victim));
  assert.ok(dropRound >= 1 && dropRound < 4, `dropped in round ${dropRound}`);
  const others = [0, 1, 2].filter((s) => s !== victim);
  for (const r of rounds) {
    assert.deepEqual(r.counted, r.round < dropRound ? [0, 1, 2] : others, `round ${r.round}`);
    assert.ok(r.agreed);
  }
  assert.deepEqual([...result.providers.keys()].sort(), others);

  provider = await startProviderProcess(providerOptions);
  try {
    const committed = (async () => {
      for await (const e of job.progress()) {
        if (e.kind === "committed" && e.slot === victim) return e.units;
      }
    })();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const units = await Promise.race([
      committed,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no partial commit:\n${provider.output.join("\n")}`)),
          120_000,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    assert.equal(units, dropRound);
    const { paidWei, feeWei, refundedWei } = await job.settled();
    const share = 10n * 10n ** 18n;
    const victimPaid = share * BigInt(dropRound) / 4n;
    assert.equal(paidWei + feeWei, 2n * share + victimPaid);
    assert.equal(refundedWei, share - victimPaid);
    assert.ok(
      provider.output.some((l) => l.includes(`committed the ${dropRound} of 4 rounds`)),
      provider.output.join("\n"),
    );
    const slot = await network.chain.jobs.slot({ jobId: `0x${job.id}`, slot: victim });
    assert.equal(slot.units, dropRound);
  } finally {
    await provider.kill("SIGTERM");
  }
});

Deno.test("a provider whose node is gone after its commit is still paid: the submitter finalizes its slot", async () => {
  await using network = await Network.local({ providers: 0 });
  await using node = await providerOn(network);
  const { providerOptions } = node;
  const provider = await startProviderProcess(providerOptions);
  const job = await smallJob(network, { hidden: 16, examples: 512, steps: 20 });
  try {
    const result = await provider.within(job.result(), "the job's result");
    result.model.dispose();
  } finally {
    await provider.kill("SIGKILL");
  }
  const providerAccount = network.devnet!.client(6);
  const before = await providerAccount.token.balanceOf();
  const { paidWei } = await job.settled();
  assert.ok(paidWei > 0n);
  assert.equal(await providerAccount.token.balanceOf(), before + paidWei);
  const slot = await network.chain.jobs.slot({ jobId: `0x${job.id}` });
  assert.equal(slot.status, "Paid");
});

/**
 * A network file of `network` in a fresh folder, and a provider process's options on it; the
 * folder goes when the result is disposed.
 */
async function providerOn(network: Network): Promise<
  AsyncDisposable & { dir: string; providerOptions: Parameters<typeof startProviderProcess>[0] }
> {
  const dir = await Deno.makeTempDir({ prefix: "restart-test-" });
  const networkFile = `${dir}/network.json`;
  await Deno.writeTextFile(networkFile, JSON.stringify(network.describe()));
  return {
    dir,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
    providerOptions: {
      networkFile,
      dataDir: `${dir}/provider`,
      account: 6,
      password: "restart-test",
    },
  };
}

/** A small MNIST MLP job: batches of 16, a checkpoint every 10 steps. */
async function smallJob(
  network: Network,
  options: { hidden: number; examples: number; steps: number },
): Promise<Job> {
  return await network.train({
    model: mlp({ hidden: [options.hidden] }),
    data: await loadMnist({ limit: options.examples }),
    steps: options.steps,
    batchSize: 16,
    k: 10,
  });
}

/** Opens an availability dispute over the trace of `jobId`'s slot 0 from account 8. */
function accuse(
  network: Network,
  dir: string,
  jobId: string,
  result: { finalHash: string; trace: { root: string } },
): Promise<DisputeResult> {
  return challengeAvailability({
    chain: network.devnet!.client(8),
    store: new BlobStore(`${dir}/accuser`),
    commit: { jobId, slot: 0, finalHash: result.finalHash, traceRoot: result.trace.root },
  });
}
