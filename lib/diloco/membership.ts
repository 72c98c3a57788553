/**
 * The round rule of distributed training: which workers counted in a round, who trains which data
 * shard in the next one, and who the members of the next round are. Every party applies the same
 * pure functions to the same inputs, so they agree without a coordinator.
 *
 * - Receipts: after the delta phase (every member's delta in, the member disconnected, or the
 *   round's deadline) each member snapshots which deltas it holds, as `(sender, delta hash)` pairs
 *   ({@link deltaHash}), and sends that receipt set to every other member. It then waits for the
 *   receipt set of every member still connected (or the deadline again).
 * - Echo: each member then sends every receipt set it holds to the others and waits for the
 *   echoes of the members whose sets it holds; the agreement reads the union of those snapshots (a
 *   reporter whose set shows up in two versions is left out). A member that failed halfway through
 *   sending its receipt set is thus seen alike by all.
 * - Agreement ({@link agreeRound}): a worker's delta is agreed in round `r` iff one hash of it
 *   appears in the receipt sets of a strict majority of the round's members (the sender's own set
 *   counts: it holds its delta). A worker whose receipts name two different hashes equivocated and
 *   is rejected (`PEER_EQUIVOCATION`). The rule reads only the exchanged sets, so every worker that
 *   holds the same sets decides the same; a worker that gathered sets from no more than half the
 *   members cannot decide (`PEER_NO_QUORUM`) and leaves the job, as does one that cannot fetch an
 *   agreed delta from any holder (`PEER_DELTA_UNAVAILABLE`).
 * - Fetch: before aggregating, a worker that lacks an agreed delta (it arrived late or never)
 *   fetches it by hash from the holders named in the receipts, ascending, and checks the hash.
 * - A worker counts in round `r` if its delta is agreed and validates: it decodes under the
 *   announced encoding to exactly the model's parameter count, and every value is finite. A delta
 *   that fails is rejected with a `PeerError`, treated as absent, and reported. Validation is a
 *   function of the bytes, which the hash fixes, so every worker rejects the same deltas.
 * - Why a majority and not all: a worker that dies halfway through sending, or a slow one whose
 *   delta reached some members before their deadline, still counts when most members hold its
 *   delta (the others fetch it), and is dropped by everyone when few do. One failure during the
 *   receipt exchange is closed by the echo; a second one during the echo itself (a member whose
 *   echo reached only some peers, carrying the only copy of a failed member's set) can still split
 *   the views: the workers then commit different outer hashes, and their traces (which record
 *   every counted set) show the round where they split. Closing that needs more echo rounds
 *   (one per tolerated failure) or signed receipt sets.
 * - The members of round `r + 1` are the workers that counted in `r`, plus workers that asked to
 *   join at that boundary (they fetch the outer state first). A worker that did not count leaves
 *   the membership; it may join again later.
 * - Shards: the job has a fixed number of data shards; shard `s`'s home is worker `s`. A shard
 *   whose home is a member stays there; the others ("orphans", ascending) go first to members that
 *   own no shard (ascending id), then round-robin over all members (ascending id).
 *
 * @module
 */

import { contentId } from "../core/canonical.ts";
import { PeerError, SpecError } from "../core/errors.ts";
import { type Hash, sha256Hex } from "../core/hash.ts";
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

/**
 * The hash that names a delta in receipt sets and fetches: the content id of its header fields
 * and the SHA-256 of its payload.
 *
 * @example
 * ```ts
 * import { deltaHash } from "./membership.ts";
 * const h = await deltaHash({ round: 0, worker: 1, encoding: "fp32", payload: new Uint8Array(4) });
 * ```
 */
export async function deltaHash(message: DeltaMessage): Promise<Hash> {
  return await contentId({
    round: message.round,
    worker: message.worker,
    encoding: message.encoding,
    blockSize: message.blockSize ?? 0,
    payload: await sha256Hex(message.payload),
  });
}

/** One member's receipt set for a round: the hash of each delta it held, by sender. */
export type ReceiptSet = ReadonlyMap<number, Hash>;

/** A delta the members agreed on: whose, its hash, and which members hold it. */
export interface AgreedDelta {
  /** The sender. */
  readonly worker: number;
  /** The delta's {@link deltaHash}. */
  readonly hash: Hash;
  /** Members whose receipt sets name it, ascending (where to fetch it from). */
  readonly holders: readonly number[];
}

/** Outcome of the agreement step of a round. */
export interface RoundAgreement {
  /** Round agreed. */
  readonly round: number;
  /** Deltas held by a strict majority of the members, ascending by sender. */
  readonly agreed: readonly AgreedDelta[];
  /** Members whose receipts name two different deltas of theirs, ascending. */
  readonly equivocated: readonly number[];
  /** Members whose receipt sets the decision used, ascending. */
  readonly reporters: readonly number[];
}

/**
 * The agreement rule (see the module doc): which members' deltas count in the round, from the
 * receipt sets the members exchanged. Throws `PeerError` `PEER_NO_QUORUM` when the receipt sets
 * come from no more than half of the members.
 *
 * @example
 * ```ts
 * import { agreeRound } from "./membership.ts";
 * const a = agreeRound({
 *   round: 0,
 *   members: [0, 1, 2],
 *   receipts: new Map([
 *     [0, new Map([[0, "aa"], [2, "cc"]])],
 *     [1, new Map([[1, "bb"]])],
 *     [2, new Map([[2, "cc"]])],
 *   ]),
 * });
 * console.log(a.agreed.map((d) => d.worker)); // [2]: only its delta reached a majority
 * ```
 */
export function agreeRound(params: {
  round: number;
  members: readonly number[];
  receipts: ReadonlyMap<number, ReceiptSet>;
}): RoundAgreement {
  const members = [...new Set(params.members)].sort((a, b) => a - b);
  const reporters = members.filter((m) => params.receipts.has(m));
  if (reporters.length * 2 <= members.length) {
    throw new PeerError(
      "PEER_NO_QUORUM",
      `round ${params.round}: receipt sets from only ${reporters.length} of ${members.length} ` +
        "members (workers " + `[${reporters}]); this worker is cut off from most of the job and ` +
        "leaves it: check its network",
      { value: reporters },
    );
  }
  const agreed: AgreedDelta[] = [];
  const equivocated: number[] = [];
  for (const worker of members) {
    const holders = new Map<Hash, number[]>();
    for (const r of reporters) {
      const h = params.receipts.get(r)!.get(worker);
      if (h !== undefined) holders.set(h, [...(holders.get(h) ?? []), r]);
    }
    if (holders.size > 1) {
      equivocated.push(worker);
      continue;
    }
    const [entry] = holders;
    if (entry && entry[1].length * 2 > members.length) {
      agreed.push({ worker, hash: entry[0], holders: entry[1] });
    }
  }
  return { round: params.round, agreed, equivocated, reporters };
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
