/**
 * Job execution on a provider: from a job spec and its blobs to a committed trace, surviving
 * restarts.
 *
 * The executor decodes the model spec and dataset blobs (checking both against the ids the job
 * pins), trains under the job's profile with a checkpoint every `k` steps, and records every
 * committed checkpoint in `<jobDir>/checkpoints.json` as it lands. If the process dies, the next
 * `executeJob` for the same job resumes from the last checkpoint whose blob is intact, and
 * produces the same trace an uninterrupted run would have.
 *
 * @module
 */

import { SpecError, StorageError } from "../core/errors.ts";
import type { Hash } from "../core/hash.ts";
import { type Dataset, decodeDataset } from "../exec/dataset.ts";
import { decodeModelSpec, type ModelSpec } from "../exec/model.ts";
import type { TrainingState } from "../exec/state.ts";
import { Trainer } from "../exec/trainer.ts";
import { loadCheckpoint, trainWithProof } from "../proof/checkpoint.ts";
import type { JobSpec } from "../proof/job.ts";
import type { BlobStore } from "../proof/store.ts";
import { type CheckpointRef, encodeTrace, type Trace } from "../proof/trace.ts";
import { writeJsonAtomic } from "../core/files.ts";

/** What the executor reports while a job runs. */
export type JobProgress =
  | { readonly kind: "started"; readonly jobId: Hash; readonly resumedFrom: number }
  | { readonly kind: "step"; readonly jobId: Hash; readonly step: number; readonly loss: number }
  | { readonly kind: "checkpoint"; readonly jobId: Hash; readonly checkpoint: CheckpointRef }
  | {
    readonly kind: "done";
    readonly jobId: Hash;
    readonly finalHash: Hash;
    readonly traceRoot: Hash;
  };

/** Options of {@link executeJob}. */
export interface ExecuteJobOptions {
  /** The job. */
  spec: JobSpec;
  /** Its id (hash of the spec). */
  jobId: Hash;
  /** Holds the model and dataset blobs; receives checkpoints and the trace. */
  store: BlobStore;
  /** Folder for this job's progress record. */
  jobDir: string;
  /** Progress events. Step events are sent every `stepEvery` steps. */
  onProgress?: (event: JobProgress) => void;
  /** Send a step event every this many steps. Default 10. */
  stepEvery?: number;
  /** Cancels at the next step. */
  signal?: AbortSignal;
  /** Datasets already decoded in this process, by blob hash (skips a large decode). */
  datasets?: Map<Hash, Promise<Dataset>>;
}

/** What a finished job yields. */
export interface JobResult {
  /** Commitment of the final state. */
  readonly finalHash: Hash;
  /** The trace (also stored as a blob and in `<jobDir>/trace.json`). */
  readonly trace: Trace;
  /** Blob id of the encoded trace. */
  readonly traceBlob: Hash;
  /** The final state. */
  readonly state: TrainingState;
}

const PROGRESS_FILE = "checkpoints.json";

/**
 * Runs (or resumes) a job to completion.
 *
 * @example
 * ```ts
 * import { executeJob } from "./executor.ts";
 * declare const spec: import("../proof/job.ts").JobSpec;
 * declare const store: import("../proof/store.ts").BlobStore;
 * const result = await executeJob({ spec, jobId: "ab".repeat(32), store, jobDir: "/tmp/job" });
 * console.log(result.trace.root);
 * ```
 */
export async function executeJob(options: ExecuteJobOptions): Promise<JobResult> {
  const { spec, jobId, store, jobDir } = options;
  const { modelSpec, dataset } = await loadJobInputs(options);
  const trainer = await trainerForJob(spec, modelSpec, dataset);
  try {
    await Deno.mkdir(jobDir, { recursive: true });
    const resume = await findResumePoint(store, jobDir, spec.k);
    options.onProgress?.({ kind: "started", jobId, resumedFrom: resume?.state.step ?? 0 });
    // A resumed job reports the checkpoints it already holds, so watchers see the whole trace.
    for (const checkpoint of resume?.checkpoints ?? []) {
      options.onProgress?.({ kind: "checkpoint", jobId, checkpoint });
    }
    const committed: CheckpointRef[] = [...(resume?.checkpoints ?? [])];
    let saving: Promise<void> = Promise.resolve();
    const stepEvery = options.stepEvery ?? 10;
    const run = await trainWithProof({
      trainer,
      steps: spec.steps,
      k: spec.k,
      store,
      jobId,
      ...(resume ? { resume } : {}),
      signal: options.signal,
      onStep: ({ step, loss }) => {
        if (step % stepEvery === 0 || step === spec.steps) {
          options.onProgress?.({ kind: "step", jobId, step, loss });
        }
      },
      onCheckpoint: (checkpoint) => {
        committed.push(checkpoint);
        const snapshot = [...committed];
        saving = saving.then(() => writeJsonAtomic(`${jobDir}/${PROGRESS_FILE}`, snapshot));
        options.onProgress?.({ kind: "checkpoint", jobId, checkpoint });
      },
    });
    await saving;
    const bytes = encodeTrace(run.trace);
    const traceBlob = await store.put(bytes);
    await Deno.writeFile(`${jobDir}/trace.json`, bytes);
    options.onProgress?.({
      kind: "done",
      jobId,
      finalHash: run.finalHash,
      traceRoot: run.trace.root,
    });
    return { finalHash: run.finalHash, trace: run.trace, traceBlob, state: run.state };
  } finally {
    trainer.dispose();
  }
}

/** A trainer for exactly the plan a job pins (its spec, data, batch, data seed, shard, profile). */
export function trainerForJob(
  spec: JobSpec,
  modelSpec: ModelSpec,
  dataset: Dataset,
): Promise<Trainer> {
  return Trainer.create({
    spec: modelSpec,
    dataset,
    batchSize: spec.batchSize,
    dataSeed: spec.dataSeed,
    profile: spec.profile,
    ...(spec.shard ? { shard: spec.shard } : {}),
  });
}

/**
 * The model spec and dataset a job pins, decoded from their blobs in `store` and checked against
 * the ids the job names (a dataset already decoded in this process is reused from `datasets`).
 */
export async function loadJobInputs(
  options: Pick<ExecuteJobOptions, "spec" | "store" | "datasets">,
): Promise<{ modelSpec: ModelSpec; dataset: Dataset }> {
  const { spec, store } = options;
  const modelSpec = await decodeModelSpec(await store.get(spec.model));
  if (modelSpec.id !== spec.model) {
    throw new SpecError("SPEC_ID_MISMATCH", `model blob decodes to spec ${modelSpec.id}`, {
      value: spec.model,
    });
  }
  return { modelSpec, dataset: await loadDataset(options) };
}

async function loadDataset(
  options: Pick<ExecuteJobOptions, "spec" | "store" | "datasets">,
): Promise<Dataset> {
  const { spec, store } = options;
  const cached = options.datasets?.get(spec.datasetBlob);
  const dataset = await (cached ?? store.get(spec.datasetBlob).then(decodeDataset));
  if (!cached) options.datasets?.set(spec.datasetBlob, Promise.resolve(dataset));
  if (dataset.id !== spec.datasetId) {
    throw new SpecError(
      "SPEC_ID_MISMATCH",
      `dataset blob ${spec.datasetBlob} holds dataset ${dataset.id}, but the job pins ` +
        `${spec.datasetId}; the submitter published an inconsistent job`,
      { value: { expected: spec.datasetId, actual: dataset.id } },
    );
  }
  return dataset;
}

/**
 * The last checkpoint of an interrupted run whose blob is intact, with the checkpoint list up to
 * it; undefined when the job has not started or nothing usable survived.
 */
async function findResumePoint(
  store: BlobStore,
  jobDir: string,
  k: number,
): Promise<{ checkpoints: CheckpointRef[]; state: TrainingState } | undefined> {
  let refs: CheckpointRef[];
  try {
    refs = JSON.parse(await Deno.readTextFile(`${jobDir}/${PROGRESS_FILE}`));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    if (e instanceof SyntaxError) return undefined; // a torn write from a crash: start over
    throw e;
  }
  if (!Array.isArray(refs)) return undefined;
  // Only checkpoints on the k-grid can be resumed from (a final off-grid one is recomputed).
  let usable = 0;
  while (usable < refs.length && refs[usable]?.step === usable * k) usable++;
  for (let i = usable - 1; i >= 0; i--) {
    const ref = refs[i];
    try {
      const state = await loadCheckpoint(store, ref.hash);
      if (state.step === ref.step && state.cursor === ref.cursor) {
        return { checkpoints: refs.slice(0, i + 1), state };
      }
    } catch (e) {
      if (!(e instanceof StorageError)) throw e;
      // Missing or corrupt blob: fall back to the checkpoint before it.
    }
  }
  return undefined;
}
