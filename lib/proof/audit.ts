/**
 * Audits: which verifiers audit a committed job, which segments each re-executes, what that buys,
 * and what it costs.
 *
 * Who audits: the registered verifiers eligible at the commit's block (the `VerifierRegistry`
 * contract), less the job's own provider and submitter, are ranked by
 * `keccak256(selectionSeed || account)`, with `selectionSeed = keccak256(blockHash || jobId)` from
 * the first block after the commit; the first `audit.verifiers` of the job's policy audit it. The
 * provider neither picks nor predicts them; to be drawn to audit itself it needs sybils in the
 * registry, each with the registry's minimum stake, and any verifier, drawn or not, may still
 * challenge a wrong commit.
 *
 * A verifier samples `s` distinct segments of an `n`-segment trace from randomness that neither it
 * nor the provider controls: `keccak256(blockHash || jobId || verifier)`, where `blockHash` is the
 * hash of the first block after the commit (unknown to the provider when it commits, fixed before
 * the verifier looks). Each verifier gets its own sample (its address is in the seed), and anyone
 * can recompute it from chain data.
 *
 * Against a cheater who corrupts `c` of the `n` segments, `s` samples without replacement miss all
 * of them with the hypergeometric probability `C(n-c, s) / C(n, s)`; the re-executed share of the
 * training is `s * k / steps`.
 *
 * Pure functions only; the verifier node (`lib/node/verifier/`) is the shell around them.
 *
 * @module
 */

import { keccak_256 } from "npm:@noble/hashes@2.4.0/sha3.js";
import { VerificationError } from "../core/errors.ts";
import { fromHex, type Hash, toHex } from "../core/hash.ts";

/** Inputs of {@link auditSeed}: chain values a verifier cannot choose. */
export interface AuditSeedInput {
  /** Hash of the first block after the commit's block (`0x` hex or bare hex, 32 bytes). */
  readonly blockHash: string;
  /** The job id (`0x` hex or bare hex, 32 bytes). */
  readonly jobId: string;
  /** The verifier's account (`0x` hex, 20 bytes). */
  readonly verifier: string;
}

/** The audit seed: `keccak256(blockHash || jobId || verifier)` as bare hex. */
export function auditSeed(input: AuditSeedInput): Hash {
  const block = bytesOf(input.blockHash, 32, "blockHash");
  const job = bytesOf(input.jobId, 32, "jobId");
  const verifier = bytesOf(input.verifier, 20, "verifier");
  const message = new Uint8Array(84);
  message.set(block, 0);
  message.set(job, 32);
  message.set(verifier, 64);
  return toHex(keccak_256(message));
}

/** Inputs of {@link selectionSeed}: the block after the commit and the job. */
export interface SelectionSeedInput {
  /** Hash of the first block after the commit's block (`0x` hex or bare hex, 32 bytes). */
  readonly blockHash: string;
  /** The job id (`0x` hex or bare hex, 32 bytes). */
  readonly jobId: string;
}

/**
 * The seed of a commit's verifier draw: `keccak256(blockHash || jobId)` as bare hex. Unlike
 * {@link auditSeed} it holds no verifier address: every verifier computes the same draw.
 */
export function selectionSeed(input: SelectionSeedInput): Hash {
  const message = new Uint8Array(64);
  message.set(bytesOf(input.blockHash, 32, "blockHash"), 0);
  message.set(bytesOf(input.jobId, 32, "jobId"), 32);
  return toHex(keccak_256(message));
}

/** Inputs of {@link selectVerifiers}. */
export interface SelectVerifiersParams {
  /** The draw's seed ({@link selectionSeed}). */
  readonly seed: Hash;
  /** Eligible verifier accounts (`0x` hex, 20 bytes); order and letter case do not matter. */
  readonly candidates: readonly string[];
  /** Verifiers to draw (the job's `audit.verifiers`); more than the candidates draws all of them. */
  readonly count: number;
}

/**
 * Draws a job's verifiers: ranks the candidates by `keccak256(seed || account)` (ties cannot
 * happen between distinct accounts short of a hash collision) and returns the first `count`,
 * best rank first. Deterministic, independent of the candidates' order, and uniform over the
 * candidates when the seed is; duplicates count once.
 *
 * @example
 * ```ts
 * import { selectionSeed, selectVerifiers } from "./audit.ts";
 * const seed = selectionSeed({ blockHash: "0x" + "11".repeat(32), jobId: "22".repeat(32) });
 * const candidates = ["0x" + "aa".repeat(20), "0x" + "bb".repeat(20), "0x" + "cc".repeat(20)];
 * console.log(selectVerifiers({ seed, candidates, count: 1 })); // one of the three
 * ```
 */
export function selectVerifiers(params: SelectVerifiersParams): string[] {
  const { count } = params;
  if (!Number.isSafeInteger(count) || count < 0) {
    throw new VerificationError("VERIFY_BAD_AUDIT", `count must be >= 0, got ${count}`, {
      value: count,
    });
  }
  const seed = bytesOf(params.seed, 32, "seed");
  const ranked = new Map<string, { account: string; rank: string }>();
  for (const account of params.candidates) {
    const key = account.toLowerCase();
    if (ranked.has(key)) continue;
    const message = new Uint8Array(52);
    message.set(seed, 0);
    message.set(bytesOf(account, 20, "candidate"), 32);
    ranked.set(key, { account, rank: toHex(keccak_256(message)) });
  }
  return [...ranked.values()]
    .sort((a, b) => (a.rank < b.rank ? -1 : a.rank > b.rank ? 1 : 0))
    .slice(0, count)
    .map((r) => r.account);
}

/**
 * Picks `count` distinct segment indices of `segments` from a seed (a partial Fisher-Yates shuffle
 * driven by `keccak256(seed || counter)`), sorted ascending. `count >= segments` selects every
 * segment. The same seed always gives the same selection.
 *
 * @example
 * ```ts
 * import { auditSeed, selectAuditSegments } from "./audit.ts";
 * const seed = auditSeed({ blockHash: "0x" + "11".repeat(32), jobId: "22".repeat(32), verifier: "0x" + "33".repeat(20) });
 * console.log(selectAuditSegments({ seed, segments: 20, count: 2 })); // e.g. [4, 17]
 * ```
 */
export function selectAuditSegments(params: {
  seed: Hash;
  segments: number;
  count: number;
}): number[] {
  const { segments, count } = params;
  if (!Number.isSafeInteger(segments) || segments < 0) {
    throw new VerificationError("VERIFY_BAD_AUDIT", `segments must be >= 0, got ${segments}`, {
      value: segments,
    });
  }
  if (!Number.isSafeInteger(count) || count < 0) {
    throw new VerificationError("VERIFY_BAD_AUDIT", `count must be >= 0, got ${count}`, {
      value: count,
    });
  }
  const take = Math.min(count, segments);
  const seed = bytesOf(params.seed, 32, "seed");
  const pool = Array.from({ length: segments }, (_, i) => i);
  const message = new Uint8Array(36);
  message.set(seed, 0);
  for (let i = 0; i < take; i++) {
    new DataView(message.buffer).setUint32(32, i);
    const word = keccak_256(message);
    // 64 bits of the hash modulo a small range: the bias is below 2^-40 for any trace here.
    const r = new DataView(word.buffer, word.byteOffset).getBigUint64(0);
    const j = i + Number(r % BigInt(segments - i));
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  return pool.slice(0, take).sort((a, b) => a - b);
}

/**
 * Probability that sampling `sampled` of `segments` segments without replacement hits at least
 * one of `corrupted` bad ones: `1 - C(n-c, s) / C(n, s)` (the hypergeometric tail).
 *
 * @example
 * ```ts
 * import { detectionProbability } from "./audit.ts";
 * detectionProbability({ segments: 20, corrupted: 1, sampled: 2 }); // 0.1
 * ```
 */
export function detectionProbability(params: {
  segments: number;
  corrupted: number;
  sampled: number;
}): number {
  const n = params.segments;
  const c = Math.min(Math.max(params.corrupted, 0), n);
  const s = Math.min(Math.max(params.sampled, 0), n);
  if (c === 0 || s === 0) return 0;
  if (s > n - c) return 1;
  // C(n-c, s) / C(n, s) = prod_{i<s} (n-c-i) / (n-i)
  let miss = 1;
  for (let i = 0; i < s; i++) miss *= (n - c - i) / (n - i);
  return 1 - miss;
}

/**
 * Share of the training a verifier re-executes: `min(s, n) * k / steps`, capped at 1 (the last
 * segment may be shorter than `k`).
 */
export function auditComputeFraction(params: {
  steps: number;
  k: number;
  sampled: number;
}): number {
  const n = Math.ceil(params.steps / params.k);
  const s = Math.min(Math.max(params.sampled, 0), n);
  return Math.min(1, (s * params.k) / params.steps);
}

/** Number of segments of a trace of `steps` steps with checkpoint interval `k`. */
export function segmentCount(steps: number, k: number): number {
  return Math.ceil(steps / k);
}

function bytesOf(value: string, length: number, name: string): Uint8Array {
  const hex = value.startsWith("0x") ? value.slice(2) : value;
  if (!new RegExp(`^[0-9a-fA-F]{${length * 2}}$`).test(hex)) {
    throw new VerificationError(
      "VERIFY_BAD_AUDIT",
      `${name} must be ${length} bytes of hex, got "${value}"`,
      { value },
    );
  }
  return fromHex(hex.toLowerCase());
}
