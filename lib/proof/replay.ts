/**
 * Replaying trace segments: the verifier's re-execution of the training between two checkpoints.
 *
 * Segment `i` of a trace runs from checkpoint `i` to checkpoint `i + 1`. A replay loads the start
 * checkpoint from the store (checking it against the trace's hash), re-executes the steps under
 * the trace's profile, commits the result, and compares with the trace. Under a pinned profile the
 * result is bit-exact, so any difference is a real difference: there is no tolerance to game.
 *
 * @module
 */

import { StorageError, VerificationError } from "../core/errors.ts";
import type { Hash } from "../core/hash.ts";
import type { TrainingState } from "../exec/state.ts";
import type { Trainer, TrainingPlan } from "../exec/trainer.ts";
import { loadCheckpoint } from "./checkpoint.ts";
import { commitState } from "./commitment.ts";
import type { BlobStore } from "./store.ts";
import type { Trace } from "./trace.ts";

/** Where a segment sits in its trace. */
export interface SegmentRange {
  /** Segment index. */
  readonly segment: number;
  /** Step of the start checkpoint. */
  readonly fromStep: number;
  /** Step of the end checkpoint. */
  readonly toStep: number;
}

/** The outcome of replaying one segment. */
export type SegmentVerdict =
  /** Re-execution reproduced the end checkpoint bit for bit. */
  | SegmentRange & { readonly status: "valid"; readonly hash: Hash }
  /** Re-execution from the committed start gives a different end state: the segment is wrong. */
  | SegmentRange & {
    readonly status: "mismatch";
    readonly expected: Hash;
    readonly actual: Hash;
  }
  /** The start checkpoint is not available from the store. */
  | SegmentRange & { readonly status: "missing-checkpoint"; readonly hash: Hash }
  /**
   * The stored start checkpoint does not match its commitment or cannot be decoded (corrupted,
   * truncated, or a different state was served).
   */
  | SegmentRange & {
    readonly status: "corrupt-checkpoint";
    readonly hash: Hash;
    readonly reason: string;
  };

/** Options of {@link replaySegment}. */
export interface ReplayOptions {
  /** A trainer for the trace's plan (same spec, dataset, batch size, data seed, shard, profile). */
  trainer: Trainer;
  /** Store holding the trace's checkpoints. */
  store: BlobStore;
}

/** Fails with `VERIFY_PLAN_MISMATCH` unless the trainer re-executes exactly the trace's plan. */
export function assertPlanMatches(trace: Trace, trainer: Trainer): void {
  const a = trace.plan;
  const b: TrainingPlan = trainer.plan;
  const same = a.specId === b.specId && a.datasetId === b.datasetId && a.profile === b.profile &&
    a.batchSize === b.batchSize && a.dataSeed === b.dataSeed &&
    a.shard?.index === b.shard?.index && a.shard?.of === b.shard?.of;
  if (!same) {
    throw new VerificationError(
      "VERIFY_PLAN_MISMATCH",
      "the trainer does not re-execute this trace's plan; create it with the trace's spec, " +
        `dataset, batch size, data seed, shard and profile (trace: ${JSON.stringify(a)}, trainer: ${
          JSON.stringify(b)
        })`,
      { value: { trace: a, trainer: b } },
    );
  }
}

/** Step range of segment `i` of a trace. */
export function segmentRange(trace: Trace, i: number): SegmentRange {
  if (!Number.isInteger(i) || i < 0 || i >= trace.checkpoints.length - 1) {
    throw new VerificationError(
      "VERIFY_BAD_SEGMENT",
      `segment ${i} does not exist; this trace has segments 0..${trace.checkpoints.length - 2}`,
      { value: i },
    );
  }
  return { segment: i, fromStep: trace.checkpoints[i].step, toStep: trace.checkpoints[i + 1].step };
}

/**
 * Re-executes segment `i` of a trace and compares the result with the trace.
 *
 * @example
 * ```ts
 * import { replaySegment } from "./replay.ts";
 * declare const trace: import("./trace.ts").Trace;
 * declare const trainer: import("../exec/trainer.ts").Trainer;
 * declare const store: import("./store.ts").BlobStore;
 * const verdict = await replaySegment(trace, 3, { trainer, store });
 * if (verdict.status !== "valid") console.log("caught:", verdict);
 * ```
 */
export async function replaySegment(
  trace: Trace,
  i: number,
  options: ReplayOptions,
): Promise<SegmentVerdict> {
  const range = segmentRange(trace, i);
  assertPlanMatches(trace, options.trainer);
  const start = trace.checkpoints[i];
  let state: TrainingState;
  try {
    state = await loadCheckpoint(options.store, start.hash);
  } catch (e) {
    if (!(e instanceof StorageError)) throw e;
    if (e.code === "STORAGE_MISSING_BLOB") {
      return { ...range, status: "missing-checkpoint", hash: start.hash };
    }
    return { ...range, status: "corrupt-checkpoint", hash: start.hash, reason: e.message };
  }
  if (state.step !== start.step || state.cursor !== start.cursor) {
    return {
      ...range,
      status: "corrupt-checkpoint",
      hash: start.hash,
      reason: `checkpoint holds step ${state.step}/cursor ${state.cursor}, the trace says ` +
        `step ${start.step}/cursor ${start.cursor}`,
    };
  }
  const end = await options.trainer.run(state, range.toStep - range.fromStep);
  const actual = await commitState(end);
  const expected = trace.checkpoints[i + 1].hash;
  return actual === expected
    ? { ...range, status: "valid", hash: actual }
    : { ...range, status: "mismatch", expected, actual };
}

/**
 * Checks the trace's first checkpoint against the initial state the spec defines (seeded weights,
 * zero optimizer slots, step 0, cursor 0).
 */
export async function verifyInitialState(
  trace: Trace,
  trainer: Trainer,
): Promise<{ valid: boolean; expected: Hash; actual: Hash }> {
  assertPlanMatches(trace, trainer);
  const expected = trace.checkpoints[0].hash;
  const actual = await commitState(trainer.initialState());
  return { valid: actual === expected, expected, actual };
}
