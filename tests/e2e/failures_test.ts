import assert from "node:assert/strict";
import { devAccountKey } from "../../lib/chain/mod.ts";
import {
  DatasetError,
  ProfileMismatchError,
  SpecError,
  TrainingError,
} from "../../lib/core/errors.ts";
import { createDataset } from "../../lib/exec/dataset.ts";
import { loadMnist } from "../../lib/exec/mnist.ts";
import { mlp } from "../../lib/exec/zoo.ts";
import { Job } from "../../lib/node/job.ts";
import { followJob } from "../../lib/notebook/job_progress.ts";
import { Network } from "../../lib/node/network.ts";
import { createP2PWire } from "../../lib/node/p2p_wire.ts";
import { describeFailure, ProviderNode } from "../../lib/node/provider.ts";
import { BlobStore } from "../../lib/proof/store.ts";
import { toBytes32 } from "../../lib/node/settlement.ts";

const TOKEN = 10n ** 18n;

/** Jobs the market has seen: a job that failed its local check must not be one of them. */
async function jobsCreated(network: Network): Promise<number> {
  return (await network.chain.metrics.jobVolume()).jobsCreated;
}

Deno.test("mistakes are found before paying: typed errors, no escrow, no job on-chain", async (t) => {
  await using network = await Network.local({ providers: 1 });
  const data = await loadMnist({ limit: 512 });
  const balance = await network.chain.token.balanceOf();

  await t.step("labels that do not fit the outputs", async () => {
    // 10 classes in the data, 5 outputs in the model: found on the whole dataset, not a sample.
    await assert.rejects(
      () =>
        network.train({ model: mlp({ hidden: [8], classes: 5 }), data, steps: 4, batchSize: 8 }),
      (e) => e instanceof DatasetError && /label|class/i.test(e.message),
    );
  });
  await t.step("a batch larger than the data", async () => {
    await assert.rejects(
      () => network.train({ model: mlp({ hidden: [8] }), data, steps: 4, batchSize: 1024 }),
      (e) => e instanceof DatasetError && /batchSize 1024/.test(e.message),
    );
  });
  await t.step("a batch larger than each worker's shard", async () => {
    await assert.rejects(
      () =>
        network.train({
          model: mlp({ hidden: [8] }),
          data,
          steps: 4,
          batchSize: 200,
          workers: 3,
          rounds: 2,
        }),
      (e) => e instanceof DatasetError && /shard/.test(e.message),
    );
  });
  await t.step("a profile no provider of the network runs", async () => {
    await assert.rejects(
      () =>
        network.train({
          model: mlp({ hidden: [8] }),
          data,
          steps: 4,
          batchSize: 8,
          profile: "cpu",
        }),
      (e) => e instanceof ProfileMismatchError && e.code === "PROFILE_NOT_OFFERED",
    );
  });
  await t.step("an unknown profile", async () => {
    await assert.rejects(
      () =>
        network.train({
          model: mlp({ hidden: [8] }),
          data,
          steps: 4,
          batchSize: 8,
          profile: "gpu",
        }),
      (e) => e instanceof ProfileMismatchError && e.code === "PROFILE_UNKNOWN",
    );
  });
  assert.equal(await network.chain.token.balanceOf(), balance, "no escrow moved");
  assert.equal(await jobsCreated(network), 0, "no job reached the chain");
});

Deno.test("a job that fails on its provider ends at once: released, refunded, typed error", async () => {
  await using network = await Network.local({ providers: 1 });
  // Labels so large that plain SGD with a huge step overflows at step 2: the local check (one
  // step) passes, the provider's run does not.
  const count = 64;
  const data = await createDataset({
    name: "overflow",
    featureShape: [4],
    features: Float32Array.from({ length: count * 4 }, (_, i) => (i % 7) - 3),
    labelShape: [1],
    labels: Float32Array.from({ length: count }, (_, i) => 1e6 * (i % 5)),
  });
  const provider = network.devnet!.client(2);
  const stakeBefore = await provider.staking.get();
  const balance = await network.chain.token.balanceOf();
  const job = await network.train({
    model: mlp({ inputs: 4, hidden: [4], classes: 1 }),
    loss: "meanSquaredError",
    optimizer: { name: "sgd", learningRate: 1e6 },
    data,
    steps: 50,
    batchSize: 16,
    k: 10,
  });
  const error = await job.result({ timeoutMs: 120_000 }).then(
    () => assert.fail("the job trained"),
    (e) => e,
  );
  assert.ok(error instanceof TrainingError, String(error));
  assert.equal(error.code, "TRAINING_JOB_FAILED");
  assert.match(error.message, /TRAINING_NON_FINITE_LOSS/);
  await assert.rejects(() => job.settled({ timeoutMs: 60_000 }), /TRAINING_NON_FINITE_LOSS/);
  const kinds = job.progress();
  const seen: string[] = [];
  for await (const e of kinds) seen.push(e.kind);
  assert.ok(seen.includes("failed") && seen.includes("released") && seen.includes("refunded"));
  const slot = await network.chain.jobs.slot({ jobId: toBytes32(job.id) });
  assert.equal(slot.status, "Refunded");
  assert.equal(await network.chain.token.balanceOf(), balance, "the escrow came back");
  const stakeAfter = await provider.staking.get();
  assert.equal(stakeAfter.stakedWei, stakeBefore.stakedWei, "an honest release costs no stake");
  assert.equal(stakeAfter.lockedWei, 0n);
  const [record] = await network.providers[0].records.list();
  assert.equal(record.status, "released");
  assert.match(record.error ?? "", /^TRAINING_NON_FINITE_LOSS: /);
});

Deno.test("waits take a timeout and a signal; a job is followed from another client by id", async () => {
  await using network = await Network.local({ providers: 1 });
  const data = await loadMnist({ limit: 1024 });
  const job = await network.train({
    model: mlp({ hidden: [16] }),
    data,
    steps: 400,
    batchSize: 32,
    k: 100,
    priceWei: 4n * TOKEN,
  });
  await assert.rejects(
    () => job.result({ timeoutMs: 1 }),
    (e) => e instanceof TrainingError && e.code === "TRAINING_WAIT_TIMEOUT",
  );
  await assert.rejects(
    () => followJob(job, { output: "none", timeoutMs: 1 }),
    (e) => e instanceof TrainingError && e.code === "TRAINING_WAIT_TIMEOUT",
  );
  const stop = new AbortController();
  const waiting = job.settled({ signal: stop.signal });
  stop.abort();
  await assert.rejects(
    () => waiting,
    (e) => e instanceof TrainingError && e.code === "TRAINING_WAIT_ABORTED",
  );
  // A second client, with its own account and folder, attaches to the job by its id alone.
  const dir = await Deno.makeTempDir({ prefix: "attach-test-" });
  try {
    const file = network.describe();
    await using other = await Network.connect({
      rpcUrl: file.rpcUrl,
      chainId: file.chainId,
      addresses: file.addresses,
      bootstrap: file.bootstrap,
      accountKey: devAccountKey(6),
      dataDir: dir,
      password: "attach-test",
    });
    await assert.rejects(() => other.attach("1234"), SpecError);
    const attached = await Job.attach(other, job.id);
    assert.deepEqual(attached.spec, job.spec);
    const [mine, theirs] = await Promise.all([
      job.result(),
      attached.result({ timeoutMs: 120_000 }),
    ]);
    assert.equal(theirs.finalHash, mine.finalHash);
    assert.equal(theirs.trace.root, mine.trace.root);
    const paid = await attached.settled({ timeoutMs: 120_000 });
    assert.equal(paid.paidWei + paid.feeWei, 4n * TOKEN);
    mine.model.dispose();
    theirs.model.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a provider that falsely blames the job cannot end it: the slot goes to another", async () => {
  await using network = await Network.local({ providers: 0 });
  const devnet = network.devnet!;
  const liar = devnet.client(3);
  await liar.staking.stake({ amountWei: 1000n * TOKEN });
  const balance = await network.chain.token.balanceOf();
  const job = await network.train({
    model: mlp({ hidden: [16] }),
    data: await loadMnist({ limit: 1024 }),
    steps: 40,
    batchSize: 32,
    k: 20,
    priceWei: 4n * TOKEN,
  });
  const jobId = toBytes32(job.id);
  await liar.jobs.claim({ jobId });
  const released = await liar.jobs.release({ jobId, reason: "job" });
  assert.equal(released.slashedWei, 0n);
  for await (const e of job.progress()) {
    if (e.kind === "stalled" && /offered to other providers/.test(e.reason)) break;
  }
  assert.equal((await network.chain.jobs.slot({ jobId })).status, "Open", "not cancelled");
  // An honest provider joins and takes the slot the liar gave back.
  const dir = await Deno.makeTempDir({ prefix: "honest-provider-" });
  const chain = devnet.client(2);
  const wire = await createP2PWire({
    chain,
    store: new BlobStore(dir),
    bootstrap: [...network.wire.addrs],
  });
  const honest = await ProviderNode.start({
    dataDir: dir,
    chain,
    wire,
    peerPrivateKey: wire.peerPrivateKey,
    stakeWei: 1000n * TOKEN,
    log: () => {},
  });
  try {
    const result = await job.result({ timeoutMs: 120_000 });
    assert.equal(result.provider.toLowerCase(), chain.account.toLowerCase());
    const { paidWei, feeWei } = await job.settled({ timeoutMs: 120_000 });
    assert.equal(paidWei + feeWei, 4n * TOKEN);
    assert.equal(await network.chain.token.balanceOf(), balance - 4n * TOKEN);
    result.model.dispose();
  } finally {
    await honest.close();
    await wire.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a failure is the job's fault only when every provider would fail the same way", () => {
  assert.equal(describeFailure(new SpecError("SPEC_LABEL_RANGE", "x")).reason, "job");
  assert.equal(describeFailure(new DatasetError("DATASET_LABELS", "x")).reason, "job");
  assert.equal(
    describeFailure(new TrainingError("TRAINING_NON_FINITE_LOSS", "x")).reason,
    "job",
  );
  assert.equal(describeFailure(new TrainingError("TRAINING_ABORTED", "x")).reason, "node");
  assert.equal(describeFailure(new SpecError("SPEC_DIST_NO_RESUME", "x")).reason, "node");
  const untyped = describeFailure(new Error("disk full"));
  assert.deepEqual(untyped, { code: "NODE_ERROR", message: "disk full", reason: "node" });
});
