/**
 * The round rule of distributed training: which workers counted in a round, who trains which data
 * shard in the next one, and who the members of the next round are. Every party applies the same
 * pure functions to the same inputs, so they agree without a coordinator.
 *
 * - A worker counts in round `r` if its delta for `r` arrived before the round's deadline (or
 *   before the worker disconnected) and validates: it decodes under the announced encoding to
 *   exactly the model's parameter count, and every value is finite. A delta that fails is rejected
 *   with a `PeerError`, treated as absent, and reported.
 * - The members of round `r + 1` are the workers that counted in `r`, plus workers that asked to
 *   join at that boundary (they fetch the outer state first). A worker that did not count leaves
 *   the membership; it may join again later.
 * - Shards: the job has a fixed number of data shards; shard `s`'s home is worker `s`. A shard
 *   whose home is a member stays there; the others ("orphans", ascending) go first to members that
 *   own no shard (ascending id), then round-robin over all members (ascending id).
 *
 * @module
 */

import { PeerError, SpecError } from "../core/errors.ts";
import { decompressDelta, type DeltaEncoding } from "./compress.ts";

/** A delta as received: the sender's claimed worker id, its encoding, and the payload. */
export interface DeltaMessage {
  /** Round the delta belongs to. */
  readonly round: number;
  /** Sender's worker index. */
  readonly worker: number;
  /** Encoding of `payload`. */
  readonly encoding: DeltaEncoding;
  /** Values per int8 block (int8 only). */
  readonly blockSize?: number;
  /** Encoded delta. */
  readonly payload: Uint8Array;
}

/** A delta that failed validation, for the audit report. */
export interface RejectedDelta {
  /** The sender. */
  readonly worker: number;
  /** The `PeerError` code. */
  readonly code: string;
  /** Why. */
  readonly reason: string;
}

/** Outcome of a round under the rule: who counted (ascending), who was absent, who was rejected. */
export interface RoundDecision {
  /** Round decided. */
  readonly round: number;
  /** Workers whose deltas count, ascending. */
  readonly counted: readonly number[];
  /** Their decoded deltas, in the same order. */
  readonly deltas: readonly Float32Array[];
  /** Members with no delta by the deadline, ascending. */
  readonly absent: readonly number[];
  /** Members whose delta was rejected, ascending by worker. */
  readonly rejected: readonly RejectedDelta[];
}

/**
 * Validates one delta against the round and the model's parameter count; returns the decoded
 * values or throws `PeerError` (`PEER_MALFORMED_DELTA`, `PEER_WRONG_ROUND`, `PEER_NON_FINITE_DELTA`).
 *
 * @example
 * ```ts
 * import { compressDelta } from "./compress.ts";
 * import { validateDelta } from "./membership.ts";
 * const payload = compressDelta(new Float32Array([1, 2]), { encoding: "fp16" });
 * validateDelta({ round: 0, worker: 1, encoding: "fp16", payload }, { round: 0, count: 2 });
 * ```
 */
export function validateDelta(
  message: DeltaMessage,
  expected: { round: number; count: number },
): Float32Array {
  if (message.round !== expected.round) {
    throw new PeerError(
      "PEER_WRONG_ROUND",
      `worker ${message.worker} sent a delta for round ${message.round} in round ${expected.round}`,
      { value: message.round },
    );
  }
  const values = decompressDelta(message.payload, {
    encoding: message.encoding,
    count: expected.count,
    ...(message.blockSize === undefined ? {} : { blockSize: message.blockSize }),
  });
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) {
      throw new PeerError(
        "PEER_NON_FINITE_DELTA",
        `worker ${message.worker}'s delta has ${values[i]} at index ${i}; its training diverged`,
        { value: i },
      );
    }
  }
  return values;
}

/**
 * Applies the round rule: for each member in ascending order, its delta counts if present and
 * valid. Received deltas from non-members are ignored.
 *
 * @example
 * ```ts
 * import { compressDelta } from "./compress.ts";
 * import { decideRound } from "./membership.ts";
 * const payload = compressDelta(new Float32Array([1]), { encoding: "fp32" });
 * const d = decideRound({
 *   round: 0,
 *   count: 1,
 *   members: [0, 1, 2],
 *   received: new Map([[0, { round: 0, worker: 0, encoding: "fp32", payload }]]),
 * });
 * console.log(d.counted, d.absent); // [0] [1, 2]
 * ```
 */
export function decideRound(params: {
  round: number;
  count: number;
  members: readonly number[];
  received: ReadonlyMap<number, DeltaMessage>;
}): RoundDecision {
  const counted: number[] = [];
  const deltas: Float32Array[] = [];
  const absent: number[] = [];
  const rejected: RejectedDelta[] = [];
  for (const worker of [...params.members].sort((a, b) => a - b)) {
    const message = params.received.get(worker);
    if (message === undefined) {
      absent.push(worker);
      continue;
    }
    try {
      if (message.worker !== worker) {
        throw new PeerError(
          "PEER_WRONG_SENDER",
          `delta from worker ${worker} claims to come from ${message.worker}`,
          { value: message.worker },
        );
      }
      deltas.push(validateDelta(message, { round: params.round, count: params.count }));
      counted.push(worker);
    } catch (e) {
      if (!(e instanceof PeerError)) throw e;
      rejected.push({ worker, code: e.code, reason: e.message });
    }
  }
  return { round: params.round, counted, deltas, absent, rejected };
}

/**
 * Members of the next round: those that counted plus the joiners, ascending, without duplicates.
 *
 * @example
 * ```ts
 * import { nextMembers } from "./membership.ts";
 * nextMembers({ counted: [0, 1, 3], joining: [4] }); // [0, 1, 3, 4]
 * ```
 */
export function nextMembers(params: {
  counted: readonly number[];
  joining?: readonly number[];
}): number[] {
  return [...new Set([...params.counted, ...(params.joining ?? [])])].sort((a, b) => a - b);
}

/**
 * Which shards each member trains (see the module doc for the rule). Returns a map from member to
 * its shards, ascending; every shard is owned by exactly one member.
 *
 * @example
 * ```ts
 * import { assignShards } from "./membership.ts";
 * assignShards({ shards: 4, members: [0, 1, 3] }); // 0→[0, 2], 1→[1], 3→[3]
 * assignShards({ shards: 4, members: [0, 1, 3, 4] }); // 0→[0], 1→[1], 3→[3], 4→[2]
 * ```
 */
export function assignShards(params: {
  shards: number;
  members: readonly number[];
}): Map<number, number[]> {
  const { shards } = params;
  const members = [...new Set(params.members)].sort((a, b) => a - b);
  if (!Number.isSafeInteger(shards) || shards < 1) {
    throw new SpecError("SPEC_INVALID_SHARDS", `shards must be a positive integer, got ${shards}`, {
      value: shards,
    });
  }
  if (members.length === 0) {
    throw new SpecError("SPEC_NO_MEMBERS", "no workers left to assign shards to; start a worker");
  }
  const out = new Map<number, number[]>(members.map((m) => [m, []]));
  const orphans: number[] = [];
  for (let s = 0; s < shards; s++) {
    if (out.has(s)) out.get(s)!.push(s);
    else orphans.push(s);
  }
  const idle = members.filter((m) => out.get(m)!.length === 0);
  orphans.forEach((s, k) => {
    const owner = k < idle.length ? idle[k] : members[(k - idle.length) % members.length];
    out.get(owner)!.push(s);
  });
  for (const list of out.values()) list.sort((a, b) => a - b);
  return out;
}

/**
 * How a member splits its `innerSteps` over its shards: contiguous chunks in shard order, the
 * first `innerSteps mod k` shards taking one extra step.
 */
export function splitSteps(innerSteps: number, shards: readonly number[]): number[] {
  const k = shards.length;
  return shards.map((_, i) => Math.floor(innerSteps / k) + (i < innerSteps % k ? 1 : 0));
}
