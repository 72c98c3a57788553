/**
 * Live progress of a network job: the training progress view fed from a {@link Job}'s events
 * (claim, steps, checkpoints from the provider; the round reports of a distributed job's workers;
 * commit and payment from the chain), in Jupyter or a terminal alike.
 *
 * @module
 */

import { abortable, interruptScope } from "../node/interrupt.ts";
import { TrainingError } from "../core/errors.ts";
import type { JobEvent } from "../node/watch.ts";
import {
  type TrainingProgress,
  trainingProgress,
  type TrainingProgressOptions,
} from "./progress.ts";

/** What {@link followJob} reads from a job (a `Job` from `network.train()` fits). */
export interface FollowableJob {
  /** The job's spec: steps, batch size, checkpoint interval, and whether it is distributed. */
  readonly spec: {
    readonly steps: number;
    readonly batchSize: number;
    readonly k: number;
    readonly distributed?: unknown;
  };
  /** The job's events, from the first. */
  progress(): AsyncIterable<JobEvent>;
}

/** Options of {@link followJob}. */
export interface FollowJobOptions extends Partial<TrainingProgressOptions> {
  /** Stop following at this event. Default `"committed"`. */
  until?: "committed" | "paid";
  /** Stop following after this many ms with `TRAINING_WAIT_TIMEOUT` (the job goes on). */
  timeoutMs?: number;
  /** Stop following when this aborts, with `TRAINING_WAIT_ABORTED` (the job goes on). */
  signal?: AbortSignal;
}

/**
 * Shows a job's training live until it commits (or is paid), and returns the finished view. An
 * interrupt (Jupyter's ■, Ctrl-C) stops the following with a `TRAINING_WAIT_ABORTED`
 * `TrainingError`; the job goes on.
 *
 * @example
 * ```ts
 * import { followJob } from "./job_progress.ts";
 * declare const job: import("./job_progress.ts").FollowableJob;
 * const progress = await followJob(job, { title: "MNIST on the network" });
 * console.log(progress.snapshot().step);
 * ```
 */
export async function followJob(
  job: FollowableJob,
  options: FollowJobOptions = {},
): Promise<TrainingProgress> {
  const { steps, batchSize } = job.spec;
  // Workers of a distributed job commit outer states per round, not checkpoints every k steps.
  const k = job.spec.distributed ? undefined : job.spec.k;
  const until = options.until ?? "committed";
  const progress = trainingProgress({ steps, batchSize, k, ...options });
  // Each worker reports its own round (the first report of a worker stands); the view shows the
  // bytes all of them sent.
  const sent = new Map<number, Map<number, number>>();
  // Jupyter's interrupt (or Ctrl-C) ends the following, not the job: `TRAINING_WAIT_ABORTED`.
  using interrupt = interruptScope();
  // A provider's report that the job itself fails, for the error once the job is refunded.
  let fault: string | undefined;
  const timeout = new AbortController();
  const timer = options.timeoutMs === undefined ? undefined : setTimeout(() =>
    timeout.abort(
      new TrainingError(
        "TRAINING_WAIT_TIMEOUT",
        `the job did not reach ${until} within ${options.timeoutMs} ms; it goes on: follow it ` +
          "again, or job.cancel()",
      ),
    ), options.timeoutMs);
  const signal = AbortSignal.any([
    interrupt.signal,
    timeout.signal,
    ...(options.signal ? [options.signal] : []),
  ]);
  try {
    await follow(signal);
  } catch (error) {
    await progress.done().catch(() => {});
    if (options.signal?.aborted && error === options.signal.reason) {
      throw new TrainingError("TRAINING_WAIT_ABORTED", "stopped following the job", {
        cause: error,
      });
    }
    throw error;
  } finally {
    clearTimeout(timer);
  }
  await progress.done();
  return progress;

  async function follow(signal: AbortSignal): Promise<void> {
    for await (const e of abortable(job.progress(), signal)) {
      if (e.kind === "round") {
        const byWorker = sent.get(e.round) ?? new Map<number, number>();
        if (!byWorker.has(e.worker)) byWorker.set(e.worker, e.bytesSent);
        sent.set(e.round, byWorker);
        const bytesSent = [...byWorker.values()].reduce((a, b) => a + b, 0);
        progress.onRound({ round: e.round, loss: e.loss, counted: e.counted, bytesSent });
      }
      if (e.kind === "step") {
        progress.onStep({ step: e.step, cursor: e.step * batchSize, loss: e.loss });
      }
      if (e.kind === "checkpoint") {
        progress.onCheckpoint({ step: e.step, cursor: e.step * batchSize, hash: e.hash });
      }
      if (e.kind === "stalled") progress.onTrouble({ status: "stalled", reason: e.reason });
      if (e.kind === "released") {
        const what = e.code ? `${e.code}: ${e.message ?? ""}` : e.message ?? "no reason given";
        progress.onTrouble({
          status: e.reason === "job" ? "failed" : "stalled",
          reason: `provider ${e.provider.slice(0, 10)} released the job (${what})`,
        });
        if (e.reason === "job") fault = what;
      }
      if (e.kind === "refunded") {
        progress.onTrouble({ status: "failed", reason: `refunded (${e.amountWei} wei)` });
        await progress.done();
        throw fault === undefined
          ? new TrainingError(
            "TRAINING_JOB_REFUNDED",
            `the job was refunded (${e.amountWei} wei) before it was ${until}`,
          )
          : new TrainingError(
            "TRAINING_JOB_FAILED",
            `the job cannot be trained as specified (${fault}); its escrow (${e.amountWei} wei) ` +
              "was refunded. Fix the job and submit it again",
            { value: { fault, refundedWei: e.amountWei } },
          );
      }
      if (e.kind === until) break;
    }
  }
}
