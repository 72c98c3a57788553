/**
 * Job specs: everything a provider needs to train a job and a verifier needs to check it, as one
 * canonical, content-addressed value. Its hash is the job's identity everywhere: the on-chain job
 * id, the gossip announcement, the folder on disk.
 *
 * Format `job-spec/1`, canonical JSON (see `docs/formats.md`). Amounts are decimal strings because
 * canonical JSON carries no integers beyond 2^53.
 *
 * @module
 */

import { contentId, decodeCanonical, encodeCanonical } from "../core/canonical.ts";
import { SpecError } from "../core/errors.ts";
import { type Hash, isHash } from "../core/hash.ts";
import { getProfile } from "../exec/profile.ts";
import type { TrainingPlan } from "../exec/trainer.ts";

/** Format tag of job specs. */
export const JOB_SPEC_FORMAT = "job-spec/1";

/** How verifiers audit a job with one replica. */
export interface AuditPolicy {
  /** Segments each verifier re-executes, chosen from chain randomness. */
  readonly segments: number;
  /** Verifiers drawn per job. */
  readonly verifiers: number;
}

/** The default audit policy: one verifier re-executes two segments. */
export const DEFAULT_AUDIT: AuditPolicy = { segments: 2, verifiers: 1 };

/**
 * How a distributed (DiLoCo) job runs: `workers` providers (one on-chain slot each) take
 * `rounds` outer rounds of `innerSteps` inner steps on their data shards, exchanging compressed
 * pseudo-gradients. Present only on jobs with more than one worker, so plain jobs keep their ids.
 */
export interface DistributedSpec {
  /** Workers (also the number of data shards and of on-chain slots). */
  readonly workers: number;
  /** Outer rounds. */
  readonly rounds: number;
  /** Inner steps per worker per round (DiLoCo's H). */
  readonly innerSteps: number;
  /** Delta encoding. */
  readonly encoding: "fp32" | "fp16" | "int8";
  /** Values per int8 block (int8 only). */
  readonly blockSize?: number;
  /** Seconds a worker waits for the others' deltas after sending its own. */
  readonly roundTimeoutSec: number;
}

/** A training job, content-addressed. */
export interface JobSpec {
  /** Always {@link JOB_SPEC_FORMAT}. */
  readonly format: typeof JOB_SPEC_FORMAT;
  /** Model spec id (also the SHA-256 of the spec blob). */
  readonly model: Hash;
  /** SHA-256 of the encoded dataset blob to fetch. */
  readonly datasetBlob: Hash;
  /** Content id of the dataset inside the blob (checked after decoding). */
  readonly datasetId: Hash;
  /** Train on this shard only. */
  readonly shard?: { readonly index: number; readonly of: number };
  /** Optimizer steps. */
  readonly steps: number;
  /** Examples per step. */
  readonly batchSize: number;
  /** Seed of the data order. */
  readonly dataSeed: number;
  /** Execution profile id. */
  readonly profile: string;
  /** Checkpoint interval. */
  readonly k: number;
  /** Independent providers training the job. */
  readonly replicas: number;
  /** Audit policy. */
  readonly audit: AuditPolicy;
  /** Total payment in wei, as a decimal string. */
  readonly priceWei: string;
  /** Random hex that makes otherwise identical jobs distinct. */
  readonly nonce: string;
  /** Distributed training, for jobs with more than one worker. */
  readonly distributed?: DistributedSpec;
}

/** Fields of a job as a submitter writes them; the rest get defaults. */
export interface JobSpecInput {
  /** Model spec id. */
  model: Hash;
  /** SHA-256 of the encoded dataset blob. */
  datasetBlob: Hash;
  /** Content id of the dataset. */
  datasetId: Hash;
  /** Optimizer steps. */
  steps: number;
  /** Examples per step. */
  batchSize: number;
  /** Total payment in wei. */
  priceWei: bigint;
  /** Seed of the data order. Default 0. */
  dataSeed?: number;
  /** Train on this shard only. */
  shard?: { index: number; of: number };
  /** Execution profile id or alias. Default `wasm`. */
  profile?: string;
  /** Checkpoint interval. Default 50. */
  k?: number;
  /** Replicas. Default 1. */
  replicas?: number;
  /** Audit policy. Default {@link DEFAULT_AUDIT}. */
  audit?: AuditPolicy;
  /** Nonce; default 16 random bytes. */
  nonce?: string;
  /**
   * Distributed training. With `workers > 1`, `replicas` becomes `workers` (one slot per worker)
   * and `steps` must be `rounds * innerSteps`; with one worker it is dropped (a plain job).
   */
  distributed?: {
    workers: number;
    rounds: number;
    innerSteps: number;
    encoding?: "fp32" | "fp16" | "int8";
    blockSize?: number;
    roundTimeoutSec?: number;
  };
}

const positiveInt = (name: string, v: unknown): number => {
  if (!Number.isSafeInteger(v) || (v as number) <= 0) {
    throw new SpecError("SPEC_INVALID_JOB", `job ${name} must be a positive integer, got ${v}`, {
      value: v,
    });
  }
  return v as number;
};

/**
 * Builds and validates a job spec.
 *
 * @example
 * ```ts
 * import { createJobSpec, specHashOf } from "./job.ts";
 * const spec = createJobSpec({
 *   model: "aa".repeat(32),
 *   datasetBlob: "bb".repeat(32),
 *   datasetId: "cc".repeat(32),
 *   steps: 500,
 *   batchSize: 128,
 *   priceWei: 10n ** 18n,
 * });
 * console.log(await specHashOf(spec));
 * ```
 */
export function createJobSpec(input: JobSpecInput): JobSpec {
  const d = input.distributed;
  const dist: DistributedSpec | undefined = d && d.workers > 1
    ? {
      workers: d.workers,
      rounds: d.rounds,
      innerSteps: d.innerSteps,
      encoding: d.encoding ?? "int8",
      ...((d.encoding ?? "int8") === "int8" ? { blockSize: d.blockSize ?? 256 } : {}),
      roundTimeoutSec: d.roundTimeoutSec ?? 60,
    }
    : undefined;
  const nonce = input.nonce ??
    Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0"))
      .join("");
  return validateJobSpec({
    format: JOB_SPEC_FORMAT,
    model: input.model,
    datasetBlob: input.datasetBlob,
    datasetId: input.datasetId,
    ...(input.shard ? { shard: { index: input.shard.index, of: input.shard.of } } : {}),
    steps: input.steps,
    batchSize: input.batchSize,
    dataSeed: input.dataSeed ?? 0,
    profile: getProfile(input.profile ?? "wasm").id,
    k: input.k ?? 50,
    replicas: input.replicas ?? 1,
    audit: input.audit ?? DEFAULT_AUDIT,
    priceWei: typeof input.priceWei === "bigint" ? input.priceWei.toString() : input.priceWei,
    nonce,
    ...(dist ? { replicas: dist.workers, distributed: dist } : {}),
  });
}

/** Checks every field of a job spec (from a user or a peer); returns it typed or throws `SpecError`. */
export function validateJobSpec(value: unknown): JobSpec {
  const s = value as JobSpec;
  const bad = (what: string): never => {
    throw new SpecError("SPEC_INVALID_JOB", `job spec is invalid: ${what}`, { value });
  };
  if (typeof s !== "object" || s === null || s.format !== JOB_SPEC_FORMAT) {
    bad(`format must be ${JOB_SPEC_FORMAT}`);
  }
  for (const f of ["model", "datasetBlob", "datasetId"] as const) {
    if (!isHash(s[f])) bad(`${f} must be a SHA-256 hex content id`);
  }
  positiveInt("steps", s.steps);
  positiveInt("batchSize", s.batchSize);
  positiveInt("k", s.k);
  positiveInt("replicas", s.replicas);
  if (!Number.isSafeInteger(s.dataSeed) || s.dataSeed < 0) bad("dataSeed");
  if (s.shard !== undefined) {
    const { index, of } = s.shard;
    if (
      !Number.isSafeInteger(of) || of < 1 || !Number.isSafeInteger(index) || index < 0 ||
      index >= of
    ) {
      bad("shard must be { index, of } with 0 <= index < of");
    }
  }
  if (getProfile(s.profile).id !== s.profile) bad("profile must be a full profile id");
  if (!s.audit || !Number.isSafeInteger(s.audit.segments) || s.audit.segments < 0) {
    bad("audit.segments");
  }
  if (!Number.isSafeInteger(s.audit.verifiers) || s.audit.verifiers < 0) bad("audit.verifiers");
  if (typeof s.priceWei !== "string" || !/^(0|[1-9][0-9]{0,77})$/.test(s.priceWei)) {
    bad("priceWei must be a decimal string");
  }
  if (typeof s.nonce !== "string" || !/^[0-9a-f]{1,64}$/.test(s.nonce)) bad("nonce must be hex");
  if (s.distributed !== undefined) validateDistributed(s, bad);
  return s;
}

function validateDistributed(s: JobSpec, bad: (what: string) => never): void {
  const d = s.distributed!;
  if (typeof d !== "object" || d === null) bad("distributed must be an object");
  for (const f of ["workers", "rounds", "innerSteps", "roundTimeoutSec"] as const) {
    if (!Number.isSafeInteger(d[f]) || d[f] < 1) bad(`distributed.${f} must be a positive integer`);
  }
  if (d.workers < 2 || d.workers > 16) {
    bad("distributed.workers must be 2..16 (one on-chain slot each); use a plain job for one");
  }
  if (s.replicas !== d.workers) bad("a distributed job has one replica (slot) per worker");
  if (s.steps !== d.rounds * d.innerSteps) bad("a distributed job's steps are rounds * innerSteps");
  if (s.shard !== undefined) bad("a distributed job shards its data itself; drop shard");
  if (!["fp32", "fp16", "int8"].includes(d.encoding)) bad("distributed.encoding");
  if (d.encoding === "int8") {
    if (!Number.isSafeInteger(d.blockSize) || d.blockSize! < 1) bad("distributed.blockSize");
  } else if (d.blockSize !== undefined) bad("distributed.blockSize is for int8 only");
  if (BigInt(s.priceWei) % BigInt(d.workers) !== 0n) {
    bad(`priceWei ${s.priceWei} must split evenly over ${d.workers} workers`);
  }
}

/**
 * The spec hash: SHA-256 hex of the spec's canonical bytes, the content id of its blob. On-chain,
 * `0x` + this is the `specHash` a job is created with; the job's id is derived from it and the
 * submitter (`jobIdFor` in `lib/chain/actions/jobs.ts`).
 */
export function specHashOf(spec: JobSpec): Promise<Hash> {
  return contentId(spec);
}

/** Canonical bytes of a job spec. */
export function encodeJobSpec(spec: JobSpec): Uint8Array<ArrayBuffer> {
  return encodeCanonical(spec);
}

/** Decodes and validates a job spec; fails with a `SpecError`. */
export function decodeJobSpec(bytes: Uint8Array): JobSpec {
  try {
    return validateJobSpec(decodeCanonical(bytes));
  } catch (cause) {
    if (cause instanceof SpecError) throw cause;
    throw new SpecError("SPEC_INVALID_JOB", "job spec bytes are not canonical JSON", { cause });
  }
}

/** The training plan a job pins (what its trace's `plan` must equal). */
export function planOfJob(spec: JobSpec): TrainingPlan {
  return {
    specId: spec.model,
    datasetId: spec.datasetId,
    profile: spec.profile,
    batchSize: spec.batchSize,
    dataSeed: spec.dataSeed,
    ...(spec.shard ? { shard: { index: spec.shard.index, of: spec.shard.of } } : {}),
  };
}
