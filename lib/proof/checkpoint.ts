/**
 * Checkpointing while training: every `k` steps the state is encoded, committed and stored, and
 * the run ends with a {@link Trace}.
 *
 * On the training thread a checkpoint costs one copy: the state, read straight out of the
 * backend, is encoded into a reused shared buffer. A worker thread hashes it, writes it to the
 * store and puts the hash back into the shared buffer. Why this shape:
 *
 * - a worker: work left on the training thread's event loop advances only at the trainer's
 *   occasional yields, one await at a time;
 * - at the lowest priority: where cores are short it then takes the training thread's idle
 *   moments rather than its turns;
 * - shared memory and `Atomics`: Deno holds a worker's messages back until training pauses
 *   (measured: seconds), while an `Atomics.waitAsync` wakes at the trainer's next yield.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { setPriority } from "node:os";
import { StorageError, TrainingError } from "../core/errors.ts";
import { type Hash, toHex } from "../core/hash.ts";
import type { TrainingState } from "../exec/state.ts";
import type { StepInfo, Trainer } from "../exec/trainer.ts";
import { decodeState, encodeStateInto } from "./commitment.ts";
import { BlobStore } from "./store.ts";
import { buildTrace, type CheckpointRef, type Trace } from "./trace.ts";

/** Name under which this module runs as the writer's worker. */
const WORKER_NAME = "checkpoint-writer";

// A slot is one SharedArrayBuffer: two int32 words (state, answer length), the answer (the hash,
// or an error message), then the encoded state. The training thread fills a free slot; the
// worker answers; the training thread reads the answer and frees the slot.
const STATE = 0;
const ANSWER_LENGTH = 1;
const ANSWER_BYTES = 1024;
const DATA_OFFSET = 8 + ANSWER_BYTES;
const FREE = 0;
const FILLED = 1;
const HASHED = 2;
const FAILED = 3;

/** Views of one slot, on either thread. */
interface SlotViews {
  readonly control: Int32Array<SharedArrayBuffer>;
  readonly answer: Uint8Array<SharedArrayBuffer>;
  readonly data: Uint8Array<SharedArrayBuffer>;
}

function slotViews(buffer: SharedArrayBuffer): SlotViews {
  return {
    control: new Int32Array(buffer, 0, 2),
    answer: new Uint8Array(buffer, 8, ANSWER_BYTES),
    data: new Uint8Array(buffer, DATA_OFFSET),
  };
}

/** Messages to the worker: a new slot, or a filled one to commit. */
type WorkerMessage =
  | { readonly index: number; readonly buffer: SharedArrayBuffer }
  | { readonly commit: number; readonly length: number; readonly root: string | null };

/** The training thread's side of a slot: the checkpoint it holds, while it holds one. */
interface Slot extends SlotViews {
  readonly buffer: SharedArrayBuffer;
  holding?: {
    readonly step: number;
    readonly cursor: number;
    resolve(ref: CheckpointRef): void;
    reject(error: Error): void;
  };
}

/**
 * Collects checkpoints in the background and hands back their refs in order. It hashes and stores
 * in a worker thread, which it starts when made (that takes tens of milliseconds, once): call
 * {@link CheckpointWriter.finish} or {@link CheckpointWriter.close} when done, since a running
 * worker keeps the process alive.
 */
export class CheckpointWriter {
  readonly #root: string | null;
  readonly #refs: Promise<CheckpointRef>[] = [];
  readonly #slots: Slot[] = [];
  #worker: Worker | undefined;

  /** Writes into `store`; without a store, only commits (hashes) the states. */
  constructor(store?: BlobStore) {
    this.#root = store?.root ?? null;
    this.#start();
  }

  /**
   * Encodes the state now (so later training cannot change it) and commits it in the background;
   * the promise resolves when the checkpoint is hashed and stored.
   */
  add(state: TrainingState): Promise<CheckpointRef> {
    this.#collect();
    let slot = this.#slots.find((s) => !s.holding);
    const length = encodeStateInto(state, slot?.data);
    if (!slot || length > slot.data.length) {
      slot = this.#newSlot(length);
      encodeStateInto(state, slot.data);
    }
    const { step, cursor } = state;
    const held = slot;
    const ref = new Promise<CheckpointRef>((resolve, reject) => {
      held.holding = { step, cursor, resolve, reject };
    });
    // The failure is reported by finish(); mark it handled so it cannot abort the process while
    // training is still running.
    ref.catch(() => {});
    this.#refs.push(ref);
    Atomics.store(slot.control, STATE, FILLED);
    const message: WorkerMessage = {
      commit: this.#slots.indexOf(slot),
      length,
      root: this.#root,
    };
    this.#start().postMessage(message);
    const answered = Atomics.waitAsync(slot.control, STATE, FILLED);
    if (answered.async) answered.value.then(() => this.#collect());
    else this.#collect();
    return ref;
  }

  /**
   * Waits for every checkpoint and returns their refs in the order they were added, then stops
   * the worker (a later {@link CheckpointWriter.add} starts it again).
   */
  async finish(): Promise<CheckpointRef[]> {
    try {
      return await Promise.all(this.#refs);
    } finally {
      await this.close();
    }
  }

  /** Lets the checkpoints added so far settle, then stops the worker; never rejects. */
  async close(): Promise<void> {
    await Promise.allSettled(this.#refs);
    this.#worker?.terminate();
    this.#worker = undefined;
  }

  /** Settles the checkpoints the worker has answered and frees their slots. */
  #collect(): void {
    for (const slot of this.#slots) {
      const state = Atomics.load(slot.control, STATE);
      if (!slot.holding || (state !== HASHED && state !== FAILED)) continue;
      const { step, cursor, resolve, reject } = slot.holding;
      const answer = slot.answer.slice(0, Atomics.load(slot.control, ANSWER_LENGTH));
      if (state === HASHED) resolve({ step, cursor, hash: toHex(answer) });
      else reject(this.#failure(step, new TextDecoder().decode(answer)));
      slot.holding = undefined;
      Atomics.store(slot.control, STATE, FREE);
    }
  }

  #failure(step: number, detail: string): StorageError {
    const what = this.#root ? "stored" : "committed";
    const advice = this.#root ? `; check that ${this.#root} is writable and has room` : "";
    return new StorageError(
      "STORAGE_WRITE_FAILED",
      `the checkpoint at step ${step} was not ${what}: ${detail}${advice}`,
      { value: step },
    );
  }

  #newSlot(length: number): Slot {
    // Room to spare: the header grows by a byte whenever the step or cursor gains a digit.
    const buffer = new SharedArrayBuffer(DATA_OFFSET + length + 64);
    const slot: Slot = { buffer, ...slotViews(buffer) };
    this.#slots.push(slot);
    const message: WorkerMessage = { index: this.#slots.length - 1, buffer };
    this.#worker?.postMessage(message);
    return slot;
  }

  #start(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(import.meta.url, { type: "module", name: WORKER_NAME });
    this.#slots.forEach(({ buffer }, index) => {
      const message: WorkerMessage = { index, buffer };
      worker.postMessage(message);
    });
    worker.onerror = (event) => {
      // A worker that fails outside a commit (it could not even load) fails what it holds.
      event.preventDefault();
      for (const slot of this.#slots) {
        const failed = slot.holding;
        failed?.reject(this.#failure(failed.step, `its worker failed: ${event.message}`));
        slot.holding = undefined;
        Atomics.store(slot.control, STATE, FREE);
        Atomics.notify(slot.control, STATE);
      }
      worker.terminate();
      if (this.#worker === worker) this.#worker = undefined;
    };
    this.#worker = worker;
    return worker;
  }
}

/** The worker's side: hash each filled slot, store it, answer in the slot. */
function serveCommits(scope: WorkerScope): void {
  try {
    // Training comes first. Where cores are short, the worker's hashing and writing would take
    // turns from the training thread; at the lowest priority they fill its idle moments instead.
    setPriority(19);
  } catch (e) {
    // Without --allow-sys the worker keeps the default priority: slower under load, still right.
    if (!(e instanceof Deno.errors.NotCapable)) throw e;
  }
  const slots: SlotViews[] = [];
  const stores = new Map<string, BlobStore>();
  const commit = (index: number, length: number, root: string | null) => {
    const slot = slots[index];
    if (Atomics.load(slot.control, STATE) !== FILLED) {
      throw new Error(`slot ${index} is not filled`);
    }
    const bytes = slot.data.subarray(0, length);
    let answer: Uint8Array;
    let outcome: number;
    try {
      // Everything happens on this (low-priority) thread, blocking: WebCrypto and async file
      // operations would run on Deno's shared thread pool at normal priority. node:crypto's
      // SHA-256 is as native as WebCrypto's, and reads shared memory without a copy.
      answer = createHash("sha256").update(bytes).digest();
      if (root !== null) {
        if (!stores.has(root)) stores.set(root, new BlobStore(root));
        stores.get(root)!.putVerifiedSync(toHex(answer), bytes);
      }
      outcome = HASHED;
    } catch (e) {
      const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      answer = new TextEncoder().encode(message).subarray(0, ANSWER_BYTES);
      outcome = FAILED;
    }
    slot.answer.set(answer);
    Atomics.store(slot.control, ANSWER_LENGTH, answer.length);
    Atomics.store(slot.control, STATE, outcome);
    Atomics.notify(slot.control, STATE);
  };
  scope.onmessage = ({ data }) => {
    if ("buffer" in data) slots[data.index] = slotViews(data.buffer);
    else commit(data.commit, data.length, data.root);
  };
}

/** The globals of a worker that this module uses. */
interface WorkerScope {
  readonly name: string;
  onmessage: ((event: MessageEvent<WorkerMessage>) => void) | null;
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
  try {
    let from: TrainingState;
    const earlier: CheckpointRef[] = [];
    if (options.resume) {
      from = options.resume.state;
      earlier.push(...options.resume.checkpoints);
      const last = earlier[earlier.length - 1];
      if (
        !last || last.step !== from.step || last.cursor !== from.cursor || from.step % k !== 0
      ) {
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
  } finally {
    await writer.close(); // stops the worker also when training fails
  }
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

// This module is also the writer's worker: started under WORKER_NAME, it serves commits.
const scope = globalThis as unknown as Partial<WorkerScope> & { WorkerGlobalScope?: unknown };
if (scope.WorkerGlobalScope !== undefined && scope.name === WORKER_NAME) {
  serveCommits(scope as WorkerScope);
}
