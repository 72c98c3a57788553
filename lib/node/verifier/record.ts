/**
 * What a verifier records of its audits: the verdict of each segment, how an audit ended, the
 * dispute it opened, and why an audit stopped early ({@link AuditStop}). The records are the
 * verifier's public output; the rest is shared by the parts of the verifier node.
 *
 * @module
 */

import { INITIAL_STATE_STEP } from "../../chain/mod.ts";
import type { Hash } from "../../core/hash.ts";
import type { JobSpec } from "../../proof/job.ts";
import type { SegmentRange, SegmentVerdict } from "../../proof/replay.ts";
import type { DisputeResult } from "../disputes/mod.ts";
import type { DistRoundVerdict } from "../dist_audit.ts";

/** What the verifier found for one segment. */
export type AuditVerdict =
  | SegmentVerdict
  /** A checkpoint of the segment could not be fetched from the provider (refused, timed out, wrong bytes). */
  | SegmentRange & { readonly status: "withheld"; readonly hash: Hash; readonly reason: string }
  /** Segment 0 starts from a state that is not the spec's seeded initial state. */
  | SegmentRange & {
    readonly status: "bad-initial-state";
    readonly expected: Hash;
    readonly actual: Hash;
  };

/** How an audit ended. */
export type AuditOutcome =
  /** Every sampled segment re-executed bit for bit. */
  | "passed"
  /** The provider's work did not hold up; the slot was disputed and settled against it. */
  | "caught"
  /** The job could not be checked for reasons that are not the provider's fault; no dispute. */
  | "unverifiable";

/** One audit of one committed slot, as the verifier records it. */
export interface AuditRecord {
  /** The job. */
  readonly jobId: Hash;
  /** The audited slot. */
  readonly slot: number;
  /** The slot's provider. */
  readonly provider: string;
  /** Block of the commit (decimal). */
  readonly commitBlock: string;
  /** The audit seed (from the next block's hash, the job id and this verifier's address). */
  readonly seed: Hash | null;
  /** The draw of the slot's verifiers, when this verifier is registered. */
  readonly selection?: VerifierSelection;
  /**
   * Other slots of the (replicated) job that committed another final state: every segment of
   * this slot was audited then.
   */
  readonly conflictsWith?: readonly number[];
  /** Number of segments of the trace. */
  readonly totalSegments: number;
  /** Sampled segment indices, ascending. */
  readonly segments: readonly number[];
  /** One verdict per sampled segment that was checked, in order (none for a distributed job). */
  readonly verdicts: readonly AuditVerdict[];
  /**
   * A distributed worker's audit: one verdict per sampled round that was checked, in order. For
   * those jobs `totalSegments` counts the worker's rounds and `segments` lists the sampled ones.
   */
  readonly rounds?: readonly DistRoundVerdict[];
  /** How the audit ended. */
  readonly outcome: AuditOutcome;
  /** Why, for `caught` and `unverifiable`. */
  readonly reason?: string;
  /** Whether the slot was disputed and settled against the provider. */
  readonly disputed: boolean;
  /** The on-chain dispute the audit opened, when it was caught. */
  readonly dispute?: {
    /** Dispute id in the dispute game. */
    readonly id: string;
    /** Execution (bisected), availability, or a distributed worker's work. */
    readonly kind: "Execution" | "Availability" | "Work";
    /** How it ended. */
    readonly outcome: string;
    /** The agreed step `t` of an execution dispute (the disputed step is `t -> t + 1`). */
    readonly step?: number;
    /** The first differing op record. */
    readonly opIndex?: number;
    /** Bisection moves this verifier made. */
    readonly moves: number;
    /** Gas this verifier's dispute transactions used. */
    readonly gasUsed: string;
  };
  /** What the provider was slashed, wei (decimal), when disputed. */
  readonly slashedWei?: string;
  /** Training steps the verifier re-executed. */
  readonly replayedSteps: number;
  /** Wall time of the audit, ms. */
  readonly durationMs: number;
  /** When the audit ended (unix ms); absent in records of older versions. */
  readonly finishedAt?: number;
}

/** Who was drawn to audit one committed slot. */
export interface VerifierSelection {
  /** The draw's seed, `keccak256(blockHash || jobId)` of the block after the commit. */
  readonly seed: Hash;
  /** Verifiers eligible at the commit's block. */
  readonly candidates: number;
  /** The drawn verifiers, best rank first. */
  readonly selected: readonly string[];
}

/** A `JobCommitted` event as the verifier follows it. */
export interface CommitSeen {
  jobId: Hash;
  slot: number;
  provider: string;
  finalHash: Hash;
  traceRoot: Hash;
  block: bigint;
}

/** A committed job's spec and both parties' peers. */
export interface JobOfCommit {
  spec: JobSpec;
  providerPeer: string;
  submitterPeer: string | undefined;
}

/** The dispute a failed audit opens. */
export type DisputePlan =
  /** Bisect segment `segment` (re-executed from the provider's checkpoint, or from the spec's initial state). */
  | { readonly kind: "execution"; readonly segment: number; readonly fromInitial: boolean }
  /** The provider withheld `subject` (a checkpoint hash), or its trace when absent. */
  | { readonly kind: "availability"; readonly subject?: Hash }
  /** A distributed worker's round `round` does not hold up, or its trace when absent. */
  | { readonly kind: "work"; readonly round?: number };

/** Why an audit stopped early: the provider's fault (`caught`) or not (`unverifiable`). */
export class AuditStop extends Error {
  constructor(
    readonly outcome: "caught" | "unverifiable",
    message: string,
    readonly plan: DisputePlan = { kind: "availability" },
  ) {
    super(message);
  }
}

/** The dispute a failing segment verdict calls for. */
export function planFor(verdict: AuditVerdict, segment: number): DisputePlan {
  switch (verdict.status) {
    case "mismatch":
      return { kind: "execution", segment, fromInitial: false };
    case "bad-initial-state":
      return { kind: "execution", segment, fromInitial: true };
    case "withheld":
    case "missing-checkpoint":
    case "corrupt-checkpoint":
      return { kind: "availability", subject: verdict.hash };
    default:
      return { kind: "availability" };
  }
}

/** A failing verdict in words, for the audit's reason. */
export function describeVerdict(v: AuditVerdict): string {
  switch (v.status) {
    case "valid":
      return "valid";
    case "mismatch":
      return `re-execution gives ${short(v.actual)}, the trace says ${short(v.expected)}`;
    case "withheld":
      return `withheld: ${v.reason}`;
    case "bad-initial-state":
      return `starts from ${short(v.actual)}, not the spec's initial state ${short(v.expected)}`;
    case "missing-checkpoint":
      return `checkpoint ${short(v.hash)} missing`;
    case "corrupt-checkpoint":
      return `checkpoint ${short(v.hash)} corrupt: ${v.reason}`;
  }
}

/** A dispute the verifier opened, remembered so that it plays on after a restart. */
export interface OpenedDispute {
  /** Dispute id (decimal). */
  readonly id: string;
  /** What was disputed. */
  readonly plan: DisputePlan;
  /** Why, for the audit record. */
  readonly reason: string;
  /** The audit's seed, when known. */
  readonly seed: Hash | null;
  /** Segments of the trace. */
  readonly totalSegments: number;
  /** Segments sampled. */
  readonly segments: readonly number[];
}

/** What the audit that opened a dispute found, kept with it. */
export type DisputeAbout = Pick<OpenedDispute, "reason" | "seed" | "totalSegments" | "segments">;

/** How a dispute ended, as the audit record holds it. */
export type DisputeSummary = Pick<AuditRecord, "disputed" | "slashedWei" | "dispute">;

/** The audit record's view of how a dispute ended (none: it could not be opened). */
export function summarize(result: DisputeResult | undefined): DisputeSummary {
  if (!result) return { disputed: false };
  const d = result.dispute;
  const disputed = d.outcome === "ChallengerWon" || d.outcome === "BothFaulty";
  return {
    disputed,
    ...(disputed ? { slashedWei: result.slashedWei.toString() } : {}),
    dispute: {
      id: d.id.toString(),
      kind: d.kind,
      outcome: d.outcome,
      ...(d.kind === "Execution" && d.step !== INITIAL_STATE_STEP
        ? { step: d.step, opIndex: d.lo }
        : {}),
      moves: result.moves,
      gasUsed: result.gasUsed.toString(),
    },
  };
}

/** The key of a job's slot in the verifier's maps. */
export function keyOf(jobId: Hash, slot: number): string {
  return `${jobId}:${slot}`;
}

/** A hash shortened for log lines. */
export function short(hash: string): string {
  return hash.slice(0, 10);
}
