import assert from "node:assert/strict";
import type { CanonicalValue } from "../../lib/core/canonical.ts";
import { PeerError, SpecError } from "../../lib/core/errors.ts";
import { createDataset, encodeDataset } from "../../lib/exec/dataset.ts";
import { modelFootprint } from "../../lib/exec/footprint.ts";
import { loadMnist } from "../../lib/exec/mnist.ts";
import {
  buildModel,
  decodeModelSpec,
  defineModel,
  encodeModelSpec,
  type ModelSpec,
} from "../../lib/exec/model.ts";
import { cnn, gpt, mlp } from "../../lib/exec/zoo.ts";
import { byteSizeFlag } from "../../lib/node/cli_input.ts";
import {
  checkJobLimits,
  datasetOverLimit,
  DEFAULT_NODE_LIMITS,
  jobFootprint,
  nodeLimits,
} from "../../lib/node/limits.ts";
import { Network } from "../../lib/node/network.ts";
import { describeFailure, type ProviderNode } from "../../lib/node/provider.ts";
import { fromBytes32, toBytes32 } from "../../lib/node/settlement.ts";
import { createJobSpec, encodeJobSpec, type JobSpec, specHashOf } from "../../lib/proof/job.ts";
import { LAYER_CASES, layerCase } from "../_fixtures/layer_zoo.ts";

const TOKEN = 10n ** 18n;

/**
 * A 4-40000-25000-3 MLP: 1,000,300,003 parameters, as a spec only. Its topology is a small
 * MLP's with wider layers written in, so no weight is ever allocated (building it would take
 * 4 GB).
 */
async function hugeMlpSpec(): Promise<ModelSpec> {
  const small = await defineModel(mlp({ inputs: 4, hidden: [8, 8], classes: 3 }));
  const topology = structuredClone(small.topology) as {
    config: { layers: { config: { units: number } }[] };
  };
  topology.config.layers[0].config.units = 40_000;
  topology.config.layers[1].config.units = 25_000;
  return await decodeModelSpec(
    encodeModelSpec({ ...small, topology: topology as unknown as CanonicalValue }),
  );
}
const HUGE_PARAMETERS = 4 * 40_000 + 40_000 + 40_000 * 25_000 + 25_000 + 25_000 * 3 + 3;

/** A plain job spec over `model` (the blob ids need not exist for the pure checks). */
function jobOf(model: string, overrides: { steps?: number; batchSize?: number } = {}): JobSpec {
  return createJobSpec({
    model,
    datasetBlob: "bb".repeat(32),
    datasetId: "cc".repeat(32),
    steps: overrides.steps ?? 100,
    batchSize: overrides.batchSize ?? 32,
    priceWei: 10n ** 18n,
  });
}

Deno.test("the parameter count from a spec is the built model's, for every layer", async (t) => {
  const cases: [string, () => Promise<ModelSpec>][] = [
    ["mlp", () => defineModel(mlp())],
    ["cnn", () => defineModel(cnn({ filters: [6, 16], kernelSize: 5, hidden: [120, 84] }))],
    ["gpt", () => defineModel(gpt({ vocab: 96, context: 32, width: 32, heads: 4, depth: 2 }))],
    ...Object.keys(LAYER_CASES).map((name): [string, () => Promise<ModelSpec>] => [
      name,
      async () => (await layerCase(name)).spec,
    ]),
  ];
  for (const [name, specOf] of cases) {
    await t.step(name, async () => {
      const spec = await specOf();
      const footprint = modelFootprint(spec);
      const model = await buildModel(spec);
      try {
        assert.equal(footprint.parameters, model.countParams());
        for (const layer of footprint.layers) {
          const built = model.getLayer(layer.name);
          assert.equal(layer.parameters, built.countParams(), `${layer.name} parameters`);
          const shape = (built.outputShape as (number | null)[]).slice(1);
          assert.deepEqual(layer.outputShape, shape, `${layer.name} output shape`);
        }
      } finally {
        model.dispose();
      }
    });
  }
  await t.step("a 10^9-parameter spec is counted without building it", async () => {
    const spec = await hugeMlpSpec();
    const started = performance.now();
    assert.equal(modelFootprint(spec).parameters, HUGE_PARAMETERS);
    assert.ok(performance.now() - started < 1000, "counted from the configs, not the weights");
  });
});

Deno.test("the memory estimate grows with the batch, the model and the optimizer state", async () => {
  const narrow = await defineModel(mlp({ hidden: [32] }), { optimizer: { name: "adam" } });
  const wide = await defineModel(mlp({ hidden: [256] }), { optimizer: { name: "adam" } });
  const sgd = await defineModel(mlp({ hidden: [32] }), {
    optimizer: { name: "sgd", learningRate: 0.1 },
  });
  const momentum = await defineModel(mlp({ hidden: [32] }), {
    optimizer: { name: "momentum", learningRate: 0.1 },
  });
  const memory = (model: ModelSpec, batchSize: number) =>
    jobFootprint(jobOf(model.id, { batchSize }), model).stepMemoryBytes;
  let last = 0;
  for (const batchSize of [1, 8, 64, 512]) {
    const bytes = memory(narrow, batchSize);
    assert.ok(bytes > last, `batch ${batchSize}: ${bytes} > ${last}`);
    last = bytes;
  }
  assert.ok(memory(wide, 32) > memory(narrow, 32));
  assert.ok(memory(sgd, 32) < memory(momentum, 32));
  assert.ok(memory(momentum, 32) < memory(narrow, 32));
  // Weights, gradients and Adam's two slots: 16 bytes a parameter, plus the activations.
  const footprint = jobFootprint(jobOf(narrow.id, { batchSize: 4 }), narrow);
  assert.equal(
    footprint.stepMemoryBytes,
    16 * footprint.parameters + 4 * 2 * 4 * footprint.activationsPerExample,
  );
  assert.equal(footprint.activationsPerExample, 784 + 32 + 10);
});

Deno.test("a job over a limit is refused with SPEC_TOO_LARGE, naming the limit", async (t) => {
  const huge = await hugeMlpSpec();
  const small = await defineModel(mlp({ hidden: [16] }));
  const tooLarge = (limit: string) => (e: unknown) =>
    e instanceof SpecError && e.code === "SPEC_TOO_LARGE" &&
    e.message.includes(`limits.${limit}`) &&
    (e.value as { limit: string }).limit === limit;

  await t.step("parameters", () => {
    const spec = jobOf(huge.id);
    assert.throws(
      () =>
        checkJobLimits({
          spec,
          modelSpec: huge,
          limits: DEFAULT_NODE_LIMITS,
          jobId: "ab".repeat(32),
        }),
      (e) =>
        tooLarge("maxParameters")(e) &&
        (e as Error).message.startsWith(
          `job ababababab needs ${HUGE_PARAMETERS} parameters; this node holds at most 50000000`,
        ),
    );
    // The job spec alone says nothing about parameters.
    assert.equal(checkJobLimits({ spec, limits: DEFAULT_NODE_LIMITS }), undefined);
  });
  await t.step("steps, before the model spec is known", () => {
    const limits = nodeLimits({ maxSteps: 50 });
    assert.throws(() => checkJobLimits({ spec: jobOf(small.id), limits }), tooLarge("maxSteps"));
  });
  await t.step("memory per step", () => {
    const spec = jobOf(small.id, { batchSize: 4096 });
    const { stepMemoryBytes } = jobFootprint(spec, small);
    const limits = nodeLimits({ maxStepMemoryBytes: stepMemoryBytes - 1 });
    assert.throws(
      () => checkJobLimits({ spec, modelSpec: small, limits }),
      tooLarge("maxStepMemoryBytes"),
    );
    const fits = nodeLimits({ maxStepMemoryBytes: stepMemoryBytes });
    assert.equal(
      checkJobLimits({ spec, modelSpec: small, limits: fits })?.stepMemoryBytes,
      stepMemoryBytes,
    );
  });
  await t.step("dataset bytes, from a capped fetch or a held blob", () => {
    const limits = nodeLimits({ maxDatasetBytes: 1000 });
    const refused = new PeerError("PEER_BLOB_TOO_LARGE", "blob is 5000 bytes", { value: 5000 });
    assert.ok(tooLarge("maxDatasetBytes")(datasetOverLimit({ error: refused, limits })));
    assert.ok(tooLarge("maxDatasetBytes")(datasetOverLimit({ bytes: 1001, limits })));
    assert.equal(datasetOverLimit({ bytes: 1000, limits }), undefined);
    const other = new PeerError("PEER_FETCH_TIMEOUT", "not served");
    assert.equal(datasetOverLimit({ error: other, limits }), undefined);
  });
  await t.step("the node, not the job, is at fault", () => {
    const error = new SpecError("SPEC_TOO_LARGE", "too large for this node");
    assert.equal(describeFailure(error).reason, "node");
  });
  await t.step("limits are positive whole numbers; flags take byte sizes", () => {
    assert.deepEqual(nodeLimits(), DEFAULT_NODE_LIMITS);
    assert.throws(
      () => nodeLimits({ maxParameters: 0 }),
      (e) => e instanceof SpecError && e.code === "SPEC_INVALID_LIMITS",
    );
    assert.equal(byteSizeFlag("2GiB", "--max-step-memory"), 2 * 1024 ** 3);
    assert.equal(byteSizeFlag("1.5KiB", "--max-dataset"), 1536);
    assert.equal(byteSizeFlag("4096", "--max-dataset"), 4096);
    assert.throws(() => byteSizeFlag("2GB", "--max-dataset"), /512MiB or 2GiB/);
  });
});

/** Waits (announcing the job again each round, as a submitter does) until the provider refuses it. */
async function refusalOf(
  network: Network,
  provider: ProviderNode,
  job: { spec: JobSpec; jobId: string },
): Promise<ReturnType<ProviderNode["refusedJobs"]>[number]> {
  const until = Date.now() + 60_000;
  while (Date.now() < until) {
    const found = provider.refusedJobs().find((r) => r.jobId === job.jobId);
    if (found) return found;
    const { deadline } = await network.chain.jobs.get(toBytes32(job.jobId));
    await network.wire.announce(job.spec, job.jobId, Number(deadline)).catch(() => {
      // No gossip peer yet: the next round announces again.
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`the provider did not refuse job ${job.jobId} within 60 s`);
}

Deno.test("a provider refuses an oversized job without claiming it and takes the next one", async (t) => {
  // Datasets up to 1 MiB on the provider; the verifier holds models of at most 1000 parameters.
  const lines: string[] = [];
  await using network = await Network.local({
    providers: 1,
    verifiers: 1,
    providerLimits: { maxDatasetBytes: 1024 ** 2 },
    verifierLimits: { maxParameters: 1000 },
    log: (line) => lines.push(line),
  });
  const [provider] = network.providers;
  const [verifier] = network.verifiers;

  await t.step("a 10^9-parameter model: refused before the claim", async () => {
    // Announced directly: the submitter's own check would build the model (4 GB) first.
    const model = await hugeMlpSpec();
    const data = await createDataset({
      name: "tiny",
      featureShape: [4],
      features: Float32Array.from({ length: 32 }, (_, i) => i % 5),
      labels: Float32Array.from({ length: 8 }, (_, i) => i % 3),
      numClasses: 3,
    });
    await network.store.put(encodeModelSpec(model));
    const datasetBlob = await network.store.put(encodeDataset(data));
    const spec = createJobSpec({
      model: model.id,
      datasetBlob,
      datasetId: data.id,
      steps: 10,
      batchSize: 4,
      priceWei: 10n * TOKEN,
    });
    const specHash = await specHashOf(spec);
    await network.store.put(encodeJobSpec(spec));
    const created = await network.chain.jobs.create({
      specHash: toBytes32(specHash),
      paymentWei: BigInt(spec.priceWei),
      timeoutSec: 3600,
      challengeWindowSec: 600,
      requiredStakeWei: 100n * TOKEN,
      replicas: 1,
      checkpointInterval: spec.k,
      steps: spec.steps,
    });
    const jobId = fromBytes32(created.jobId);
    const refusal = await refusalOf(network, provider, { spec, jobId });
    assert.equal(refusal.code, "SPEC_TOO_LARGE");
    assert.equal(refusal.claimed, false);
    assert.match(refusal.message, new RegExp(`needs ${HUGE_PARAMETERS} parameters`));
    const logged = lines.filter((l) => l.includes(`job ${jobId.slice(0, 10)}: refused: `));
    assert.equal(logged.length, 1, "one line, however often the job is offered");
    assert.match(logged[0], /^\[provider 1\] job \w+: refused: SPEC_TOO_LARGE: .*maxParameters/);
    assert.equal((await network.chain.jobs.slot({ jobId: created.jobId })).status, "Open");
    assert.equal(await provider.records.get(jobId), undefined, "never claimed");
    assert.equal(await provider.store.has(datasetBlob), false, "its dataset was never fetched");
    const { refundedWei } = await network.chain.jobs.cancel({ jobId: created.jobId });
    assert.equal(refundedWei, 10n * TOKEN);
  });

  await t.step("a dataset over the cap: released as the node's fault", async () => {
    const data = await loadMnist({ limit: 512 }); // about 1.6 MB
    const job = await network.train({
      model: mlp({ hidden: [4] }),
      data,
      steps: 4,
      batchSize: 8,
      priceWei: 10n * TOKEN,
    });
    for await (const e of job.progress()) {
      if (e.kind !== "released") continue;
      assert.equal(e.reason, "node");
      assert.equal(e.code, "SPEC_TOO_LARGE");
      assert.match(e.message ?? "", /limits\.maxDatasetBytes/);
      break;
    }
    const refusal = provider.refusedJobs().find((r) => r.jobId === job.id);
    assert.equal(refusal?.claimed, true);
    assert.equal((await provider.records.get(job.id))?.status, "released");
    await job.cancel();
  });

  await t.step("the next job is claimed and trained by the same provider", async () => {
    const data = await loadMnist({ limit: 256 });
    const model = mlp({ hidden: [4] }); // 3190 parameters: too many for the verifier
    const job = await network.train({ model, data, steps: 4, batchSize: 8, k: 2 });
    const result = await job.result({ timeoutMs: 120_000 });
    result.model.dispose();
    assert.equal(result.provider.toLowerCase(), network.devnet!.client(2).account.toLowerCase());
    const record = await provider.records.get(job.id);
    assert.ok(record && ["committed", "paid"].includes(record.status), record?.status);
    assert.equal(provider.refusedJobs().length, 2);
    // The verifier does not load a job over its limits: the audit ends unverifiable.
    const audit = await verifier.audited(job.id, { timeoutMs: 120_000 });
    assert.equal(audit.outcome, "unverifiable");
    assert.equal(audit.disputed, false);
    assert.match(audit.reason ?? "", /^SPEC_TOO_LARGE: .*limits\.maxParameters/);
    assert.equal(await verifier.store.has(job.spec.datasetBlob), false, "no dataset fetched");
    assert.ok(
      lines.some((l) =>
        l.startsWith("[verifier 1]") && l.includes("audit unverifiable: SPEC_TOO_LARGE")
      ),
    );
  });
});

Deno.test("a job every provider refuses: the submitter is told who refused it and why, and cancels", async () => {
  await using network = await Network.local({
    providers: 2,
    providerLimits: { maxParameters: 1000 },
  });
  const data = await loadMnist({ limit: 256 });
  const model = mlp({ hidden: [8] }); // 6370 parameters: over both providers' limit
  const job = await network.train({ model, data, steps: 4, batchSize: 8, k: 2, priceWei: TOKEN });
  const refused: string[] = [];
  let stalled = "";
  for await (const e of job.progress()) {
    if (e.kind === "claimed") assert.fail("no provider may claim a job over its limits");
    if (e.kind === "refused") {
      assert.equal(e.code, "SPEC_TOO_LARGE");
      assert.match(e.reason, /maxParameters/);
      refused.push(e.provider);
    }
    if (e.kind === "stalled") {
      stalled = e.reason;
      break;
    }
  }
  const providers = [2, 3].map((i) => network.devnet!.accounts[i].toLowerCase());
  assert.deepEqual([...refused].sort(), [...providers].sort(), "both providers, once each");
  assert.match(stalled, /every provider .* \(2\) refused job .*SPEC_TOO_LARGE.*job\.cancel\(\)/);
  assert.equal(await job.cancel(), TOKEN);
});
