import assert from "node:assert/strict";
import { loadMnist } from "../../lib/exec/mnist.ts";
import { mlp } from "../../lib/exec/zoo.ts";
import { Network } from "../../lib/node/network.ts";
import type { JobEvent } from "../../lib/node/watch.ts";
import { Trainer } from "../../lib/exec/trainer.ts";
import { toBytes32 } from "../../lib/node/settlement.ts";
import { TrainingError } from "../../lib/core/errors.ts";

const TOKEN = 10n ** 18n;

Deno.test("a job goes submit -> train -> commit -> settle on a local network", async () => {
  await using network = await Network.local({ providers: 2 });
  const data = await loadMnist({ limit: 2048 });
  const test = await loadMnist({ split: "test", limit: 1000 });
  const submitter = network.chain;
  const before = await submitter.token.balanceOf();
  const job = await network.train({
    model: mlp({ hidden: [32] }),
    data,
    steps: 60,
    batchSize: 32,
    k: 20,
    optimizer: { name: "adam", learningRate: 0.01 },
    priceWei: 20n * TOKEN,
  });
  const result = await job.result();
  const { paidWei, feeWei } = await job.settled();
  const events: JobEvent[] = [];
  for await (const e of job.progress()) events.push(e);

  // Escrow went out; the provider got it minus the 0.5% fee.
  assert.equal(await submitter.token.balanceOf(), before - 20n * TOKEN);
  assert.equal(paidWei + feeWei, 20n * TOKEN);
  assert.equal(feeWei, 20n * TOKEN / 200n);
  const kinds = new Set<string>(events.map((e) => e.kind));
  for (const k of ["claimed", "step", "checkpoint", "committed", "paid"]) {
    assert.ok(kinds.has(k), k);
  }
  const committed = events.find((e) => e.kind === "committed")!;
  assert.equal(committed.kind === "committed" && committed.traceRoot, result.trace.root);
  assert.equal(result.trace.checkpoints.length, 4);

  // The result is the training the job pinned: the same run locally gives the same bits.
  const trainer = await Trainer.create({ spec: job.modelSpec, dataset: data, batchSize: 32 });
  try {
    const local = await trainer.run(trainer.initialState(), 60);
    assert.deepEqual(local.variables.map((v) => v.data), result.state.variables.map((v) => v.data));
    const evaluation = trainer.evaluate(result.state, test);
    assert.ok(evaluation.accuracy > 0.6, `accuracy ${evaluation.accuracy}`);
  } finally {
    trainer.dispose();
  }
  const prediction = result.model.predict(
    (await import("@tensorflow/tfjs")).tensor(test.features.subarray(0, 784), [1, 784]),
  );
  assert.ok(prediction);
  result.model.dispose();
  // Only one provider trained it; the other lost the claim race.
  const slot = await network.chain.jobs.slot({ jobId: toBytes32(job.id) });
  assert.equal(slot.status, "Paid");
  assert.equal(slot.provider, result.provider);
});

Deno.test("a provider that stops mid-job: after the deadline the escrow comes back", async () => {
  await using network = await Network.local({ providers: 1, fastSettle: false });
  const data = await loadMnist({ limit: 4096 });
  const job = await network.train({
    model: mlp({ hidden: [256, 128] }),
    data,
    steps: 2000,
    batchSize: 64,
    k: 50,
    priceWei: 5n * TOKEN,
    timeoutSec: 600,
    requiredStakeWei: 100n * TOKEN,
  });
  const provider = network.providers[0];
  await job.progress()[Symbol.asyncIterator]().next(); // wait until something happened
  for await (const e of job.progress()) if (e.kind === "checkpoint" && e.step >= 50) break;
  await provider.close(); // the provider goes away for good, its job unfinished
  const stakeBefore = await network.devnet!.client(2).staking.get();
  const balanceBefore = await network.chain.token.balanceOf();
  await network.devnet!.increaseTime(601);
  const refunded = await job.cancel();
  assert.equal(refunded, 5n * TOKEN);
  const stakeAfter = await network.devnet!.client(2).staking.get();
  const slashed = stakeBefore.stakedWei - stakeAfter.stakedWei;
  assert.ok(slashed > 0n, "the abandoning provider is slashed");
  // The submitter gets its escrow back, and the slash compensates it for the lost time.
  assert.equal(await network.chain.token.balanceOf(), balanceBefore + 5n * TOKEN + slashed);
  const slot = await network.chain.jobs.slot({ jobId: toBytes32(job.id) });
  assert.equal(slot.status, "Slashed");
  await assert.rejects(() => job.result(), TrainingError);
});

Deno.test("an abandoned job is reassigned after its deadline and another provider finishes it", async () => {
  await using network = await Network.local({ providers: 2 });
  const data = await loadMnist({ limit: 4096 });
  // Long enough that the first provider is still training when it goes away.
  const job = await network.train({
    model: mlp({ hidden: [32] }),
    data,
    steps: 3000,
    batchSize: 32,
    k: 50,
    timeoutSec: 600,
  });
  let first = "";
  for await (const e of job.progress()) {
    if (e.kind === "claimed") first = e.provider;
    if (e.kind === "checkpoint" && e.step >= 50) break;
  }
  const index = [2, 3].findIndex((i) => network.devnet!.accounts[i] === first);
  await network.providers[index].close(); // gone for good, mid-job
  await network.devnet!.increaseTime(601);
  assert.equal(await job.reassign({ timeoutSec: 600 }), 1);
  const result = await job.result();
  assert.notEqual(result.provider, first);
  const { paidWei } = await job.settled();
  assert.ok(paidWei > 0n);
  // The chain paid the second provider (its own records catch up a moment later).
  const slot = await network.chain.jobs.slot({ jobId: toBytes32(job.id) });
  assert.equal(slot.status, "Paid");
  assert.equal(slot.provider, network.devnet!.accounts[2 + (1 - index)]);
  const second = network.providers[1 - index];
  const deadline = Date.now() + 30_000;
  while ((await second.earnedWei()) !== paidWei) {
    assert.ok(Date.now() < deadline, "the provider never recorded its payment");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  result.model.dispose();
});
