/**
 * The challenger's side: a verifier whose audit failed opens the dispute its audit calls for, an
 * execution dispute on the first segment it disagrees on ({@link challengeExecution}, its Merkle
 * proofs bind the segment to the committed trace root), an availability dispute over what the
 * provider withheld ({@link challengeAvailability}), or a work dispute over a distributed
 * worker's round ({@link challengeWork}), and plays its side to the end. These are the node's
 * moves; the bare transactions are the chain actions `openDispute`, `openAvailabilityDispute` and
 * `openWorkDispute`.
 *
 * @module
 */

import { type DisputeResult, NO_MOVES, playDispute, type PlayOptions } from "./play.ts";
import { type Hash, toBytes32 } from "../../core/hash.ts";
import type { DisputeParty } from "../../proof/dispute.ts";
import { merkleProof } from "../../proof/merkle.ts";
import type { Trace } from "../../proof/trace.ts";

/** A committed slot as a challenger sees it. */
export interface CommittedSlot {
  /** The job. */
  readonly jobId: Hash;
  /** The slot. */
  readonly slot: number;
  /** Committed final state hash. */
  readonly finalHash: Hash;
  /** Committed trace root. */
  readonly traceRoot: Hash;
}

/**
 * Opens an execution dispute on `segment` of the provider's `trace` as the challenger whose own
 * states are `party` (usually re-executed from the provider's checkpoint at the segment's start),
 * and plays it to the end.
 */
export async function challengeExecution(
  options: PlayOptions & {
    commit: CommittedSlot;
    trace: Trace;
    segment: number;
    party: DisputeParty;
  },
): Promise<DisputeResult> {
  const { chain, commit, trace, segment, party } = options;
  const leaves = trace.checkpoints.map((c) => c.hash);
  const from = trace.checkpoints[segment];
  const to = trace.checkpoints[segment + 1];
  const proof = async (i: number) => (await merkleProof(leaves, i)).map((p) => toBytes32(p.hash));
  const opened = await chain.game.open({
    jobId: toBytes32(commit.jobId),
    slot: commit.slot,
    finalStateHash: toBytes32(commit.finalHash),
    traceRoot: toBytes32(commit.traceRoot),
    segment,
    providerFrom: toBytes32(from.hash),
    proofFrom: await proof(segment),
    providerTo: toBytes32(to.hash),
    proofTo: await proof(segment + 1),
    challengerFrom: toBytes32(await party.stateHashAt(from.step)),
    challengerTo: toBytes32(await party.stateHashAt(to.step)),
  });
  options.log?.(
    `dispute ${opened.id}: opened on segment ${segment} (steps ${from.step}..${to.step})`,
  );
  await options.onOpened?.(opened.id);
  const result = await playDispute({ ...options, id: opened.id, role: "challenger" });
  return { ...result, gasUsed: result.gasUsed + opened.receipt.gasUsed };
}

/**
 * Opens an availability dispute (the provider withheld `subject`, a checkpoint hash, or its trace
 * when absent) and waits for the referee's ruling.
 */
export async function challengeAvailability(
  options: PlayOptions & { commit: CommittedSlot; subject?: Hash },
): Promise<DisputeResult> {
  const { chain, commit } = options;
  const opened = await chain.game.openAvailability({
    jobId: toBytes32(commit.jobId),
    slot: commit.slot,
    finalStateHash: toBytes32(commit.finalHash),
    traceRoot: toBytes32(commit.traceRoot),
    ...(options.subject ? { subject: toBytes32(options.subject) } : {}),
  });
  options.log?.(
    `dispute ${opened.id}: opened over the availability of ${options.subject ?? "the trace"}`,
  );
  await options.onOpened?.(opened.id);
  return await awaitRuling(options, opened);
}

/**
 * Opens a work dispute on a distributed worker's commit (its round `round` does not hold up, or
 * its trace as a whole when absent) and waits for the referee's ruling.
 */
export async function challengeWork(
  options: PlayOptions & { commit: CommittedSlot; round?: number },
): Promise<DisputeResult> {
  const { chain, commit } = options;
  const opened = await chain.game.openWork({
    jobId: toBytes32(commit.jobId),
    slot: commit.slot,
    finalStateHash: toBytes32(commit.finalHash),
    traceRoot: toBytes32(commit.traceRoot),
    ...(options.round === undefined ? {} : { round: options.round }),
  });
  options.log?.(
    `dispute ${opened.id}: opened over ${
      options.round === undefined ? "the worker's trace" : `round ${options.round}`
    } of slot ${commit.slot}`,
  );
  await options.onOpened?.(opened.id);
  return await awaitRuling(options, opened);
}

/** Plays the challenger's side of a dispute that goes straight to the referee (no moves). */
async function awaitRuling(
  options: PlayOptions,
  opened: { id: bigint; receipt: { gasUsed: bigint } },
): Promise<DisputeResult> {
  const result = await playDispute({
    ...options,
    id: opened.id,
    role: "challenger",
    party: NO_MOVES,
  });
  return { ...result, gasUsed: result.gasUsed + opened.receipt.gasUsed };
}
