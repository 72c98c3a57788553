/**
 * Checkpointing while training: every `k` steps the state is encoded, committed and stored, and
 * the run ends with a {@link Trace}.
 *
 * Hashing and disk writes run in the background (WebCrypto and Deno's file I/O work off the main
 * thread), overlapping the next training steps; only the copy of the state out of the backend is
 * on the training path.
 *
 * @module
 */

import { TrainingError } from "../core/errors.ts";
import { type Hash, sha256Hex } from "../core/hash.ts";
import type { TrainingState } from "../exec/state.ts";
import type { StepInfo, Trainer } from "../exec/trainer.ts";
import { decodeState, encodeState } from "./commitment.ts";
import type { BlobStore } from "./store.ts";
import { buildTrace, type CheckpointRef, type Trace } from "./trace.ts";

/** Collects checkpoints in the background and hands back their refs in order. */
export class CheckpointWriter {
  readonly #store: BlobStore | undefined;
  readonly #pending: Promise<CheckpointRef>[] = [];
  /** Buffers whose checkpoint is stored, ready to encode the next one into. */
  readonly #spare: Uint8Array<ArrayBuffer>[] = [];

  /** Writes into `store`; without a store, only commits (hashes) the states. */
  constructor(store?: BlobStore) {
    this.#store = store;
  }

  /**
   * Encodes the state now (so later training cannot change it) and commits it in the background;
   * the promise resolves when the checkpoint is hashed and stored.
   */
  add(state: TrainingState): Promise<CheckpointRef> {
    const bytes = encodeState(state, this.#spare.pop());
    const { step, cursor } = state;
    const store = this.#store;
    const ref = (async () => {
      const hash = await sha256Hex(bytes);
      await store?.putVerified(hash, bytes);
      this.#spare.push(bytes);
      return { step, cursor, hash };
    })();
    // The failure is reported by finish(); mark it handled so it cannot abort the process while
    // training is still running.
    ref.catch(() => {});
    this.#pending.push(ref);
    return ref;
  }

  /** Waits for every checkpoint and returns their refs in the order they were added. */
  finish(): Promise<CheckpointRef[]> {
    return Promise.all(this.#pending);
  }
}

/** Options of {@link trainWithProof}. */
export interface TrainWithProofOptions {
  /** Trainer to run. */
  trainer: Trainer;
  /** Total steps of the run (a resumed run trains the rest). */
  steps: number;
  /** Checkpoint interval. */
  k: number;
  /** Where checkpoints go. Without a store they are committed but not kept. */
  store?: BlobStore;
  /**
   * Resume an interrupted run: the checkpoints committed so far and the state of the last one.
   * Default: start at the trainer's initial state.
   */
  resume?: { checkpoints: readonly CheckpointRef[]; state: TrainingState };
  /** Job id recorded in the trace. */
  jobId?: string | null;
  /** Progress after every step. */
  onStep?: (info: StepInfo) => void;
  /** Called, in step order, as each checkpoint has been committed and stored. */
  onCheckpoint?: (ref: CheckpointRef) => void;
  /** Cancels training at the next step. */
  signal?: AbortSignal;
}

/** What {@link trainWithProof} returns. */
export interface ProvenRun {
  /** Final state. */
  readonly state: TrainingState;
  /** Commitment of the final state. */
  readonly finalHash: Hash;
  /** The trace of the run. */
  readonly trace: Trace;
}

/**
 * Trains a run of `steps` steps, checkpointing every `k`, and returns the final state with its
 * trace.
 *
 * @example
 * ```ts
 * import { trainWithProof } from "./checkpoint.ts";
 * import { BlobStore } from "./store.ts";
 * declare const trainer: import("../exec/trainer.ts").Trainer;
 * const store = new BlobStore(await Deno.makeTempDir());
 * const { trace, finalHash } = await trainWithProof({ trainer, steps: 200, k: 50, store });
 * console.log(trace.root, finalHash);
 * ```
 */
export async function trainWithProof(options: TrainWithProofOptions): Promise<ProvenRun> {
  const { trainer, steps, k, store } = options;
  if (!Number.isInteger(k) || k <= 0) {
    throw new TrainingError("TRAINING_BAD_INTERVAL", `k must be a positive integer, got ${k}`, {
      value: k,
    });
  }
  const writer = new CheckpointWriter(store);
  let notified: Promise<unknown> = Promise.resolve();
  const commit = (state: TrainingState) => {
    const ref = writer.add(state);
    if (options.onCheckpoint) {
      const cb = options.onCheckpoint;
      notified = notified.then(() => ref).then(cb);
      notified.catch(() => {}); // surfaced by writer.finish() and the final await
    }
  };
  let from: TrainingState;
  const earlier: CheckpointRef[] = [];
  if (options.resume) {
    from = options.resume.state;
    earlier.push(...options.resume.checkpoints);
    const last = earlier[earlier.length - 1];
    if (!last || last.step !== from.step || last.cursor !== from.cursor || from.step % k !== 0) {
      throw new TrainingError(
        "TRAINING_BAD_RESUME",
        `cannot resume at step ${from.step}: resume from the state of the last committed ` +
          "checkpoint (a multiple of k) together with the checkpoint list that ends with it",
        { value: from.step },
      );
    }
  } else {
    from = trainer.initialState();
    commit(from);
  }
  let last: TrainingState = from;
  const state = await trainer.run(from, Math.max(0, steps - from.step), {
    checkpointEvery: k,
    onStep: options.onStep,
    signal: options.signal,
    onCheckpoint: (s) => {
      commit(s);
      last = s;
    },
  });
  if (last.step !== state.step) commit(state);
  const checkpoints = [...earlier, ...await writer.finish()];
  await notified;
  const trace = await buildTrace({
    plan: trainer.plan,
    k,
    steps,
    checkpoints,
    jobId: options.jobId ?? null,
  });
  return { state, finalHash: checkpoints[checkpoints.length - 1].hash, trace };
}

/**
 * Loads checkpoint `hash` from a store: reads, checks the hash, decodes.
 *
 * @example
 * ```ts
 * import { loadCheckpoint } from "./checkpoint.ts";
 * declare const store: import("./store.ts").BlobStore;
 * declare const trace: import("./trace.ts").Trace;
 * const state = await loadCheckpoint(store, trace.checkpoints[1].hash);
 * ```
 */
export async function loadCheckpoint(store: BlobStore, hash: Hash): Promise<TrainingState> {
  return decodeState(await store.get(hash));
}
