/**
 * The proof-of-learning trace: which training was run and the commitment of every checkpoint.
 *
 * File format `trace` version 1: canonical JSON (see `lib/core/canonical.ts`) of
 *
 * ```json
 * {
 *   "checkpoints": [{ "cursor": 0, "hash": "<sha256 of the encoded state>", "step": 0 }, ...],
 *   "format": "trace",
 *   "jobId": "<job id or null>",
 *   "k": 50,
 *   "plan": { "batchSize", "dataSeed", "datasetId", "profile", "shard"?, "specId" },
 *   "root": "<Merkle root over the checkpoint hashes>",
 *   "steps": 500,
 *   "version": 1
 * }
 * ```
 *
 * Checkpoints sit at steps `0, k, 2k, ...` and at `steps` when that is not a multiple of `k`.
 * Segment `i` is the training from checkpoint `i` to checkpoint `i + 1`. The root is the Merkle
 * root (`lib/proof/merkle.ts`) of the checkpoint hashes in order; it is what a provider commits
 * on-chain. A reader refuses versions newer than it knows, rather than misreading them.
 *
 * @module
 */

import { type CanonicalValue, decodeCanonical, encodeCanonical } from "../core/canonical.ts";
import { StorageError } from "../core/errors.ts";
import { type Hash, isHash, sha256Hex } from "../core/hash.ts";
import type { TrainingPlan } from "../exec/trainer.ts";
import { merkleRoot } from "./merkle.ts";

/** Trace format version this build writes and the newest it reads. */
export const TRACE_VERSION = 1;

/** One committed checkpoint. */
export interface CheckpointRef {
  /** Step counter of the state. */
  readonly step: number;
  /** Data cursor of the state. */
  readonly cursor: number;
  /** Commitment (SHA-256 of the encoded state), also its id in the blob store. */
  readonly hash: Hash;
}

/** A training run's commitments. */
export interface Trace {
  /** Always `"trace"`. */
  readonly format: "trace";
  /** Format version. */
  readonly version: number;
  /** Job this trace belongs to, or null for a local run. */
  readonly jobId: string | null;
  /** What was trained and how. */
  readonly plan: TrainingPlan;
  /** Checkpoint interval in steps. */
  readonly k: number;
  /** Total steps trained. */
  readonly steps: number;
  /** Checkpoints in step order. */
  readonly checkpoints: readonly CheckpointRef[];
  /** Merkle root over the checkpoint hashes. */
  readonly root: Hash;
}

/** The steps at which a run of `steps` steps with interval `k` checkpoints. */
export function checkpointSteps(steps: number, k: number): number[] {
  const out: number[] = [];
  for (let s = 0; s < steps; s += k) out.push(s);
  out.push(steps);
  return out;
}

/**
 * Assembles a trace and computes its Merkle root.
 *
 * @example
 * ```ts
 * import { buildTrace } from "./trace.ts";
 * declare const plan: import("../exec/trainer.ts").TrainingPlan;
 * declare const checkpoints: import("./trace.ts").CheckpointRef[];
 * const trace = await buildTrace({ plan, k: 50, steps: 100, checkpoints });
 * ```
 */
export async function buildTrace(params: {
  plan: TrainingPlan;
  k: number;
  steps: number;
  checkpoints: readonly CheckpointRef[];
  jobId?: string | null;
}): Promise<Trace> {
  const trace: Trace = {
    format: "trace",
    version: TRACE_VERSION,
    jobId: params.jobId ?? null,
    plan: params.plan,
    k: params.k,
    steps: params.steps,
    checkpoints: params.checkpoints.map((c) => ({ step: c.step, cursor: c.cursor, hash: c.hash })),
    root: await merkleRoot(params.checkpoints.map((c) => c.hash)),
  };
  checkShape(trace);
  return trace;
}

/** Canonical bytes of a trace (its file). */
export function encodeTrace(trace: Trace): Uint8Array<ArrayBuffer> {
  return encodeCanonical(trace);
}

/** Content id of a trace: SHA-256 of its file bytes. */
export function traceId(trace: Trace): Promise<Hash> {
  return sha256Hex(encodeTrace(trace));
}

/**
 * Reads a trace file, checking its version, structure and Merkle root; fails with a
 * `StorageError` on anything else.
 *
 * @example
 * ```ts
 * import { decodeTrace, encodeTrace } from "./trace.ts";
 * declare const trace: import("./trace.ts").Trace;
 * const again = await decodeTrace(encodeTrace(trace));
 * ```
 */
export async function decodeTrace(bytes: Uint8Array): Promise<Trace> {
  let value: CanonicalValue;
  try {
    value = decodeCanonical(bytes);
  } catch (cause) {
    throw new StorageError(
      "STORAGE_CORRUPT_TRACE",
      "trace file is not canonical JSON: it is corrupted or truncated; fetch it again",
      { cause },
    );
  }
  const t = value as unknown as Trace;
  if (typeof t !== "object" || t === null || t.format !== "trace") {
    throw new StorageError("STORAGE_CORRUPT_TRACE", 'file is not a trace (format is not "trace")');
  }
  if (!Number.isInteger(t.version) || t.version < 1) {
    throw new StorageError("STORAGE_CORRUPT_TRACE", `trace version ${t.version} is invalid`);
  }
  if (t.version > TRACE_VERSION) {
    throw new StorageError(
      "STORAGE_TRACE_VERSION_UNSUPPORTED",
      `trace format version ${t.version} is newer than this build reads (${TRACE_VERSION}); ` +
        "upgrade the toolkit to open it",
      { value: t.version },
    );
  }
  checkShape(t);
  const root = await merkleRoot(t.checkpoints.map((c) => c.hash));
  if (root !== t.root) {
    throw new StorageError(
      "STORAGE_CORRUPT_TRACE",
      `trace root ${t.root} does not match its checkpoints (root ${root}); the file was altered`,
      { value: { expected: root, actual: t.root } },
    );
  }
  return t;
}

function checkShape(t: Trace): void {
  const bad = (what: string): never => {
    throw new StorageError("STORAGE_CORRUPT_TRACE", `trace is malformed: ${what}`, { value: t });
  };
  if (!Number.isInteger(t.k) || t.k <= 0) bad(`k = ${t.k}`);
  if (!Number.isInteger(t.steps) || t.steps < 0) bad(`steps = ${t.steps}`);
  const p = t.plan as TrainingPlan | undefined;
  if (
    !p || !isHash(p.specId) || !isHash(p.datasetId) || typeof p.profile !== "string" ||
    !Number.isInteger(p.batchSize) || !Number.isInteger(p.dataSeed)
  ) bad("plan");
  const steps = checkpointSteps(t.steps, t.k);
  if (!Array.isArray(t.checkpoints) || t.checkpoints.length !== steps.length) {
    bad(`expected ${steps.length} checkpoints`);
  }
  t.checkpoints.forEach((c, i) => {
    if (c?.step !== steps[i] || !Number.isSafeInteger(c.cursor) || !isHash(c.hash)) {
      bad(`checkpoint ${i} (expected step ${steps[i]})`);
    }
  });
}

/** Writes a trace file. */
export async function writeTrace(path: string, trace: Trace): Promise<void> {
  await Deno.writeFile(path, encodeTrace(trace));
}

/** Reads and checks a trace file. */
export async function readTrace(path: string): Promise<Trace> {
  return decodeTrace(await Deno.readFile(path));
}
