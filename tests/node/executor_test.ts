import assert from "node:assert/strict";
import { SpecError } from "../../lib/core/errors.ts";
import { encodeDataset } from "../../lib/exec/dataset.ts";
import { encodeModelSpec } from "../../lib/exec/model.ts";
import { Trainer } from "../../lib/exec/trainer.ts";
import { executeJob, type JobProgress } from "../../lib/node/executor.ts";
import { trainWithProof } from "../../lib/proof/checkpoint.ts";
import { createJobSpec, encodeJobSpec, type JobSpec, specHashOf } from "../../lib/proof/job.ts";
import { BlobStore } from "../../lib/proof/store.ts";
import { mnistSubset, smallMlpSpec } from "../_fixtures/mlp.ts";

Deno.test("job executor", async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    const store = new BlobStore(`${dir}/provider`);
    const model = await smallMlpSpec();
    const dataset = await mnistSubset(2048);
    assert.equal(await store.put(encodeModelSpec(model)), model.id);
    const datasetBlob = await store.put(encodeDataset(dataset));
    const spec = createJobSpec({
      model: model.id,
      datasetBlob,
      datasetId: dataset.id,
      steps: 60,
      batchSize: 32,
      k: 10,
      dataSeed: 3,
      priceWei: 10n ** 18n,
    });
    const jobId = await specHashOf(spec);

    // The reference: the same plan trained directly.
    const trainer = await Trainer.create({ spec: model, dataset, batchSize: 32, dataSeed: 3 });
    const reference = await trainWithProof({ trainer, steps: 60, k: 10, jobId });
    trainer.dispose();

    await t.step("runs a job to the trace a direct run gives, with progress", async () => {
      const events: JobProgress[] = [];
      const result = await executeJob({
        spec,
        jobId,
        store,
        jobDir: `${dir}/jobs/a`,
        onProgress: (e) => events.push(e),
      });
      assert.deepEqual(result.trace, reference.trace);
      assert.equal(result.finalHash, reference.finalHash);
      assert.deepEqual(events.filter((e) => e.kind === "checkpoint").length, 7);
      assert.equal(events.at(-1)?.kind, "done");
      assert.ok(await store.has(result.traceBlob));
    });

    await t.step("a provider killed mid-job resumes from its checkpoint", async () => {
      const jobDir = `${dir}/jobs/b`;
      const specPath = `${dir}/job.json`;
      await Deno.writeFile(specPath, encodeJobSpec(spec));
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          new URL("../_fixtures/run_job.ts", import.meta.url).pathname,
          store.root,
          jobDir,
          specPath,
          jobId,
        ],
        stdout: "piped",
        stderr: "null",
      }).spawn();
      let buffered = "";
      let committedStep = 0;
      read: for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
        buffered += chunk;
        const lines = buffered.split("\n");
        buffered = lines.pop()!;
        for (const line of lines) {
          const event = JSON.parse(line) as JobProgress;
          if (event.kind === "checkpoint") committedStep = event.checkpoint.step;
          // Kill once checkpoint 20 is committed and training has gone well past it.
          if (event.kind === "step" && committedStep >= 20 && event.step >= 35) {
            // Kill once the job's own record shows a resumable checkpoint on disk (the child may
            // be a few steps ahead of what it has written down).
            await waitForRecord(`${jobDir}/checkpoints.json`, 2);
            child.kill("SIGKILL");
            break read;
          }
        }
      }
      await child.status;
      const events: JobProgress[] = [];
      const result = await executeJob({
        spec,
        jobId,
        store,
        jobDir,
        onProgress: (e) => events.push(e),
      });
      const started = events[0];
      assert.equal(started.kind, "started");
      assert.ok(started.kind === "started" && started.resumedFrom >= 10, JSON.stringify(started));
      assert.deepEqual(result.trace, reference.trace);
    });

    await t.step("a job whose dataset blob holds another dataset is refused", async () => {
      const other = await mnistSubset(1024);
      const otherBlob = await store.put(encodeDataset(other));
      const bad: JobSpec = { ...spec, datasetBlob: otherBlob };
      await assert.rejects(
        () => executeJob({ spec: bad, jobId: "cd".repeat(32), store, jobDir: `${dir}/jobs/c` }),
        (e: unknown) => e instanceof SpecError && e.code === "SPEC_ID_MISMATCH",
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Waits (up to 30 s) until a job's progress record lists at least `count` checkpoints. */
async function waitForRecord(path: string, count: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      if ((JSON.parse(await Deno.readTextFile(path)) as unknown[]).length >= count) return;
    } catch {
      // Not written yet, or caught mid-rename: look again.
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`${path} never listed ${count} checkpoints`);
}
