import assert from "node:assert/strict";
import { SpecError, TrainingError } from "../../lib/core/errors.ts";
import { encodeDataset } from "../../lib/exec/dataset.ts";
import { encodeModelSpec } from "../../lib/exec/model.ts";
import { executeJob, type JobProgress } from "../../lib/node/executor.ts";
import { TrainingWorker } from "../../lib/node/train_worker.ts";
import { createJobSpec, type JobSpec, specHashOf } from "../../lib/proof/job.ts";
import { BlobStore } from "../../lib/proof/store.ts";
import { mnistSubset, smallMlpSpec } from "../_fixtures/mlp.ts";

Deno.test("training off the main thread gives the same bits, typed errors and resumable stops", async (t) => {
  const dir = await Deno.makeTempDir();
  const worker = new TrainingWorker();
  try {
    const store = new BlobStore(`${dir}/provider`);
    const model = await smallMlpSpec();
    const dataset = await mnistSubset(2048);
    await store.put(encodeModelSpec(model));
    const datasetBlob = await store.put(encodeDataset(dataset));
    const specOf = (profile: string): JobSpec =>
      createJobSpec({
        model: model.id,
        datasetBlob,
        datasetId: dataset.id,
        steps: 60,
        batchSize: 32,
        k: 10,
        dataSeed: 3,
        priceWei: 10n ** 18n,
        profile,
      });

    for (const profile of ["wasm", "cpu"]) {
      await t.step(`${profile}: the worker's trace is the in-process trace`, async () => {
        const spec = specOf(profile);
        const jobId = await specHashOf(spec);
        const here = await executeJob({ spec, jobId, store, jobDir: `${dir}/here-${profile}` });
        const events: JobProgress[] = [];
        const there = await worker.execute({
          spec,
          jobId,
          store,
          jobDir: `${dir}/there-${profile}`,
          onProgress: (e) => events.push(e),
        });
        assert.equal(there.finalHash, here.finalHash);
        assert.deepEqual(there.trace, here.trace);
        assert.equal(events.filter((e) => e.kind === "checkpoint").length, 7);
        assert.equal(events.at(-1)?.kind, "done");
        assert.equal(there.state.step, 60);
      });
    }

    await t.step("a job fault comes back as the typed error it was thrown as", async () => {
      const other = await mnistSubset(1024);
      const bad: JobSpec = {
        ...specOf("wasm"),
        datasetBlob: await store.put(encodeDataset(other)),
      };
      await assert.rejects(
        () => worker.execute({ spec: bad, jobId: "cd".repeat(32), store, jobDir: `${dir}/bad` }),
        (e: unknown) => e instanceof SpecError && e.code === "SPEC_ID_MISMATCH",
      );
    });

    await t.step(
      "a stop mid-job is typed, and the next run resumes to the same trace",
      async () => {
        const spec = { ...specOf("wasm"), steps: 400 };
        const jobId = await specHashOf(spec);
        const jobDir = `${dir}/stopped`;
        const stop = new AbortController();
        await assert.rejects(
          () =>
            worker.execute({
              spec,
              jobId,
              store,
              jobDir,
              onProgress: (e) => {
                if (e.kind === "step" && e.step >= 20) stop.abort();
              },
              signal: stop.signal,
            }),
          (e: unknown) => e instanceof TrainingError && e.code === "TRAINING_ABORTED",
        );
        const started: JobProgress[] = [];
        const resumed = await worker.execute({
          spec,
          jobId,
          store,
          jobDir,
          onProgress: (e) => e.kind === "started" && started.push(e),
        });
        const first = started[0];
        assert.ok(first?.kind === "started" && first.resumedFrom >= 20, JSON.stringify(first));
        const fresh = await executeJob({ spec, jobId, store, jobDir: `${dir}/fresh` });
        assert.deepEqual(resumed.trace, fresh.trace);
      },
    );

    await t.step(
      "a worker stopped under a job fails it, and a new one starts for the next",
      async () => {
        const spec = { ...specOf("wasm"), steps: 400, dataSeed: 4 };
        const jobId = await specHashOf(spec);
        const running = worker.execute({
          spec,
          jobId,
          store,
          jobDir: `${dir}/killed`,
          onProgress: (e) => {
            if (e.kind === "step" && e.step >= 10) worker.close();
          },
        });
        await assert.rejects(() => running, TrainingError);
        const again = await worker.execute({ spec, jobId, store, jobDir: `${dir}/killed` });
        assert.equal(again.state.step, 400);
      },
    );
  } finally {
    worker.close();
    await Deno.remove(dir, { recursive: true });
  }
});
