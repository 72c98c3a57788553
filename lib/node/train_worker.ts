/**
 * A provider's training, off the main thread. `executeJob` runs inside a Deno worker with its own
 * tfjs engine and backend, so a step that takes seconds (the `cpu` profile, a large model) never
 * starves the node's event loop: progress, gossip, chain polls, disputes and a notebook's views
 * stay live. The worker reads the job's blobs from the node's store folder and writes checkpoints
 * and the trace there, exactly as in-process execution does, so results are bit-identical and a
 * restart resumes from the same files. One worker serves a node's jobs one at a time.
 *
 * @module
 */

import {
  ChainError,
  DatasetError,
  EncodingError,
  PeerError,
  ProfileMismatchError,
  SpecError,
  StorageError,
  ToolkitError,
  TrainingError,
  VerificationError,
} from "../core/errors.ts";
import type { Hash } from "../core/hash.ts";
import { loadCheckpoint } from "../proof/checkpoint.ts";
import type { JobSpec } from "../proof/job.ts";
import { decodeTrace } from "../proof/trace.ts";
import type { BlobStore } from "../proof/store.ts";
import type { ExecuteJobOptions, JobProgress, JobResult } from "./executor.ts";

/** What the node sends its worker. */
export type ToWorker = {
  readonly t: "run";
  readonly spec: JobSpec;
  readonly jobId: Hash;
  readonly storeRoot: string;
  readonly jobDir: string;
  readonly stepEvery?: number;
  /**
   * Set to 1 to cancel: the worker reads it at every progress event, since a busy trainer may
   * not turn its event loop (and see a message) for many steps.
   */
  readonly stop: SharedArrayBuffer;
};

/** A typed error crossing the worker boundary. */
export interface WorkerFailure {
  readonly name: string;
  readonly code?: string;
  readonly message: string;
}

/** What the worker sends back. */
export type FromWorker =
  | { readonly t: "progress"; readonly event: JobProgress }
  | { readonly t: "done"; readonly finalHash: Hash; readonly traceBlob: Hash }
  | { readonly t: "failed"; readonly error: WorkerFailure };

const ERROR_CLASSES: Record<string, typeof ToolkitError> = {
  SpecError,
  DatasetError,
  ProfileMismatchError,
  TrainingError,
  StorageError,
  VerificationError,
  EncodingError,
  ChainError,
  PeerError,
  ToolkitError,
};

/** The typed error a worker reported, as the class it was thrown as. */
export function errorFromWorker(failure: WorkerFailure): Error {
  const Class = ERROR_CLASSES[failure.name];
  if (Class && failure.code !== undefined) return new Class(failure.code, failure.message);
  return new Error(failure.message);
}

/** An error as it crosses to the node. */
export function failureOf(error: unknown): WorkerFailure {
  if (error instanceof ToolkitError) {
    return { name: error.name, code: error.code, message: error.message };
  }
  return { name: "Error", message: error instanceof Error ? error.message : String(error) };
}

/**
 * A node's training worker: runs `executeJob` for one job at a time in a Deno worker.
 *
 * @example
 * ```ts ignore
 * const worker = new TrainingWorker();
 * const result = await worker.execute({ spec, jobId, store, jobDir, onProgress: console.log });
 * worker.close();
 * ```
 */
export class TrainingWorker {
  #worker: Worker | undefined;
  #busy = false;
  /** Rejects the running job when the worker dies. */
  #onDeath: ((error: Error) => void) | undefined;

  /**
   * Runs (or resumes) a job in the worker; like `executeJob`, but `datasets` is not shared (the
   * worker decodes the dataset itself). A crash of the worker fails the job with
   * `TRAINING_WORKER_DIED`; `signal` cancels at the next step with `TRAINING_ABORTED`.
   */
  async execute(options: Omit<ExecuteJobOptions, "datasets">): Promise<JobResult> {
    if (this.#busy) {
      throw new TrainingError(
        "TRAINING_WORKER_BUSY",
        "this training worker is running another job; run jobs one at a time",
      );
    }
    this.#busy = true;
    const worker = this.#spawn();
    const { signal } = options;
    const stop = new SharedArrayBuffer(4);
    const onAbort = () => Atomics.store(new Int32Array(stop), 0, 1);
    try {
      const done = await new Promise<{ finalHash: Hash; traceBlob: Hash }>((resolve, reject) => {
        this.#onDeath = reject;
        worker.onmessage = (message: MessageEvent<FromWorker>) => {
          const m = message.data;
          if (m.t === "progress") options.onProgress?.(m.event);
          else if (m.t === "done") resolve(m);
          else reject(errorFromWorker(m.error));
        };
        if (signal?.aborted) onAbort();
        signal?.addEventListener("abort", onAbort, { once: true });
        worker.postMessage(
          {
            t: "run",
            spec: options.spec,
            jobId: options.jobId,
            storeRoot: options.store.root,
            jobDir: options.jobDir,
            stop,
            ...(options.stepEvery === undefined ? {} : { stepEvery: options.stepEvery }),
          } satisfies ToWorker,
        );
      });
      return await resultOf(options.store, done.finalHash, done.traceBlob);
    } finally {
      signal?.removeEventListener("abort", onAbort);
      this.#onDeath = undefined;
      this.#busy = false;
    }
  }

  /** Stops the worker (a running job is abandoned where it is; its files stay resumable). */
  close(): void {
    this.#worker?.terminate();
    this.#worker = undefined;
    this.#onDeath?.(
      new TrainingError("TRAINING_ABORTED", "the training worker was stopped"),
    );
  }

  #spawn(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(new URL("./train_worker_main.ts", import.meta.url), {
      type: "module",
    });
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      this.#worker = undefined;
      worker.terminate();
      this.#onDeath?.(
        new TrainingError(
          "TRAINING_WORKER_DIED",
          `the training worker crashed: ${event.message}; the job resumes from its last ` +
            "checkpoint when it runs again",
        ),
      );
    };
    this.#worker = worker;
    return worker;
  }
}

async function resultOf(store: BlobStore, finalHash: Hash, traceBlob: Hash): Promise<JobResult> {
  const trace = await decodeTrace(await store.get(traceBlob));
  const state = await loadCheckpoint(store, finalHash);
  return { finalHash, trace, traceBlob, state };
}
