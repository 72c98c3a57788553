/**
 * What the adversarial fuzz remembers of one sequence: the jobs it created (index to the id the
 * market returned), what each provider committed and whether it is the truth, and for every
 * dispute who opened it, what each side claims, whether each side has played truthfully so far,
 * its committed op records and the votes cast. The invariant checks judge the chain against it:
 * the chain says what happened, this model says who was honest.
 *
 * @module
 */

import type { Address, Hex } from "../../lib/chain/types.ts";
import type { Devnet } from "../../lib/chain/devnet.ts";
import type { Ruling, Trace, TraceCommitment } from "./world.ts";

/** One committed slot, as the fuzz made its provider commit it. */
export interface SlotModel {
  /** Devnet index of the provider. */
  provider: number;
  /** The run it committed (honest when `deviateAt` is null). */
  trace: Trace;
  /** What it committed on chain. */
  commitment: TraceCommitment;
  /** Whether it serves its trace and checkpoints (availability disputes). */
  serves: boolean;
  /** Where its op records of the faulty step start to be forged. */
  forgeAt: number;
}

/** True when the slot's provider committed the true run and serves it: an honest provider. */
export function isHonestSlot(slot: SlotModel): boolean {
  return slot.trace.deviateAt === null && slot.serves;
}

/** One job the run created. */
export interface JobModel {
  /** The id `jobs.create` returned (never derived here). */
  id: Hex;
  /** Devnet index of the submitter. */
  submitter: number;
  /** Slots claimed and not committed yet, by index: their provider (stale after a release). */
  claims: Map<number, number>;
  /** Committed slots by index (a later commit on a reopened slot replaces the entry). */
  slots: Map<number, SlotModel>;
}

/** A vote a committee member cast and the chain accepted. */
export interface VoteModel {
  /** The ruling. */
  ruling: Ruling;
  /** Whether it was the honest committee's ruling when cast. */
  honest: boolean;
}

/** One dispute the run opened. */
export interface DisputeModel {
  /** The dispute id. */
  id: bigint;
  /** The disputed job. */
  job: JobModel;
  /** The disputed slot index. */
  slot: number;
  /** The slot as committed when the dispute opened. */
  committed: SlotModel;
  /** Execution or availability. */
  kind: "Execution" | "Availability";
  /** Devnet index of the challenger. */
  challenger: number;
  /** Chain time of the opening block. */
  openedAt: bigint;
  /** The run the challenger claims (execution disputes). */
  challengerTrace: Trace;
  /** Where the challenger's records of a faulty step start to be forged. */
  challengerForgeAt: number;
  /** Whether the challenger's claim is true: the provider's result is wrong, or withheld. */
  challengerClaimTrue: boolean;
  /** Whether every move of the provider so far followed its own committed run. */
  providerTruthful: boolean;
  /** Whether every move of the challenger so far followed its claimed run. */
  challengerTruthful: boolean;
  /** The provider's committed op records of the disputed step. */
  providerOps?: Hex[];
  /** The challenger's committed op records. */
  challengerOps?: Hex[];
  /** Votes the chain accepted, by member. */
  votes: Map<Address, VoteModel>;
}

/** Whether the provider of `d` is honest: true result, served, every move truthful. */
export function providerHonest(d: DisputeModel): boolean {
  return isHonestSlot(d.committed) && d.providerTruthful;
}

/** Whether the challenger of `d` is honest: a true claim, every move truthful. */
export function challengerHonest(d: DisputeModel): boolean {
  return d.challengerClaimTrue && d.challengerTruthful;
}

/** Everything one sequence created. */
export interface RunModel {
  /** Sequence number, from 1. */
  run: number;
  /** Jobs in creation order; actions name them by index modulo the count. */
  jobs: JobModel[];
  /** Disputes in opening order; actions name them the same way. */
  disputes: DisputeModel[];
  /** Counter for made-up hashes, so a replayed sequence makes up the same ones. */
  nonce: number;
}

/** What a fuzz action runs against. */
export interface FuzzContext {
  /** The chain. */
  devnet: Devnet;
  /** What this sequence created so far. */
  run: RunModel;
  /** Records an attack the chain accepted (a safety finding). */
  finding(message: string): void;
  /** Records that the action had nothing to act on (no such job, slot or dispute yet). */
  skip(): void;
}

/** An empty model for sequence `run`. */
export function newRun(run: number): RunModel {
  return { run, jobs: [], disputes: [], nonce: 0 };
}

/** The `n`-th job of the run (modulo the count), if any was created. */
export function jobAt(run: RunModel, n: number): JobModel | undefined {
  return run.jobs.length === 0 ? undefined : run.jobs[n % run.jobs.length];
}

/** The `n`-th claimed, uncommitted slot of the run (modulo the count), if any. */
export function claimAt(
  run: RunModel,
  n: number,
): { job: JobModel; slot: number; provider: number } | undefined {
  const all = run.jobs.flatMap((job) =>
    [...job.claims].map(([slot, provider]) => ({ job, slot, provider }))
  );
  return all.length === 0 ? undefined : all[n % all.length];
}

/** The `n`-th committed slot of the run (modulo the count), if any. */
export function committedAt(
  run: RunModel,
  n: number,
): { job: JobModel; slot: number; committed: SlotModel } | undefined {
  const all = run.jobs.flatMap((job) =>
    [...job.slots].map(([slot, committed]) => ({ job, slot, committed }))
  );
  return all.length === 0 ? undefined : all[n % all.length];
}

/** The `n`-th dispute of the run (modulo the count), if any was opened. */
export function disputeAt(run: RunModel, n: number): DisputeModel | undefined {
  return run.disputes.length === 0 ? undefined : run.disputes[n % run.disputes.length];
}
