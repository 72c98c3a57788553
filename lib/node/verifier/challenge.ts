/**
 * The verifier as challenger: opens the dispute a failed audit calls for (see `DisputePlan`),
 * plays it to its end, and plays on after a restart a dispute it opened before, recording the
 * audit from how the dispute ended (also when it ended while the verifier was down).
 *
 * @module
 */

import type { ProtocolClient } from "../../chain/mod.ts";
import type { Trainer } from "../../exec/trainer.ts";
import { loadCheckpoint } from "../../proof/checkpoint.ts";
import { commitState } from "../../proof/commitment.ts";
import type { DisputeParty } from "../../proof/dispute.ts";
import type { BlobStore } from "../../proof/store.ts";
import type { Trace } from "../../proof/trace.ts";
import {
  challengeAvailability,
  challengeExecution,
  challengeWork,
  checkpointParty,
  type DisputeResult,
  NO_MOVES,
  playDispute,
} from "../disputes/mod.ts";
import type { AuditBook } from "./book.ts";
import {
  type AuditRecord,
  type CommitSeen,
  type DisputeAbout,
  type DisputePlan,
  type OpenedDispute,
  short,
  summarize,
} from "./record.ts";
import type { AuditSources } from "./sources.ts";

/** What a {@link Challenger} plays with. */
export interface ChallengerOptions {
  /** The verifier's chain client (it bonds and moves). */
  chain: ProtocolClient;
  /** Where its evidence goes, and the checkpoints it re-executes from. */
  store: BlobStore;
  /** Its reads, to rebuild a dispute's party after a restart. */
  sources: AuditSources;
  /** Where opened disputes are remembered. */
  book: AuditBook;
  /** Chain polling interval, ms. */
  pollMs: number;
  /** Stops playing (a restart plays on). */
  signal: AbortSignal;
  /** Log sink. */
  log: (line: string) => void;
}

/** The verifier's disputes; see the module doc. */
export class Challenger {
  readonly #options: ChallengerOptions;

  constructor(options: ChallengerOptions) {
    this.#options = options;
  }

  /**
   * Opens the dispute a failed audit calls for in the dispute game (or plays on dispute
   * `resumeId`) and plays the challenger's side to the end; undefined when it could not be opened
   * (the slot is no longer open to disputes).
   */
  async dispute(
    commit: CommitSeen,
    plan: DisputePlan,
    trace: Trace | undefined,
    trainer: Trainer | undefined,
    about: DisputeAbout,
    resumeId?: bigint,
  ): Promise<DisputeResult | undefined> {
    const { chain, store, book, log } = this.#options;
    const play = {
      chain,
      store,
      pollMs: this.#options.pollMs,
      signal: this.#options.signal,
      log,
      // Written before the first move: a verifier that restarts plays the dispute on.
      onOpened: (id: bigint) => book.rememberDispute(commit, { ...about, id: id.toString(), plan }),
    };
    try {
      let result: DisputeResult;
      if (resumeId !== undefined) {
        const party = plan.kind === "execution" && trace && trainer
          ? await this.#party(plan, trace, trainer)
          : NO_MOVES;
        result = await playDispute({ ...play, id: resumeId, role: "challenger", party });
      } else if (plan.kind === "execution" && trace && trainer) {
        result = await challengeExecution({
          ...play,
          commit,
          trace,
          segment: plan.segment,
          party: await this.#party(plan, trace, trainer),
        });
      } else if (plan.kind === "work") {
        result = await challengeWork({
          ...play,
          commit,
          ...(plan.round === undefined ? {} : { round: plan.round }),
        });
      } else {
        const subject = plan.kind === "availability" ? plan.subject : undefined;
        result = await challengeAvailability({
          ...play,
          commit,
          ...(subject ? { subject } : {}),
        });
      }
      log(
        `job ${short(commit.jobId)}: dispute ${result.dispute.id} ${result.dispute.outcome}` +
          (result.slashedWei > 0n ? `, provider slashed ${result.slashedWei} wei` : ""),
      );
      return result;
    } catch (error) {
      log(`job ${short(commit.jobId)}: dispute failed: ${(error as Error).message}`);
      return undefined;
    }
  }

  /**
   * Plays on a dispute this verifier opened over `commit` before it restarted, and records the
   * audit from how it ends (the verdicts that led to it are in the dispute's reason).
   */
  async resume(
    commit: CommitSeen,
    open: OpenedDispute,
    started: number,
  ): Promise<AuditRecord | undefined> {
    const { sources, log } = this.#options;
    log(
      `job ${short(commit.jobId)}: playing on dispute ${open.id} (${open.plan.kind}) ` +
        "opened before this verifier restarted",
    );
    let trace: Trace | undefined;
    let trainer: Trainer | undefined;
    try {
      if (open.plan.kind === "execution") {
        const job = await sources.jobOf(commit);
        trace = await sources.traceOf(commit, job.spec, job.providerPeer);
        trainer = await sources.trainerOf(job.spec, [job.providerPeer, job.submitterPeer]);
      }
      const settled = summarize(
        await this.dispute(commit, open.plan, trace, trainer, open, BigInt(open.id)),
      );
      if (this.#options.signal.aborted) return undefined;
      return {
        jobId: commit.jobId,
        slot: commit.slot,
        provider: commit.provider,
        commitBlock: commit.block.toString(),
        seed: open.seed,
        totalSegments: open.totalSegments,
        segments: open.segments,
        verdicts: [],
        outcome: "caught",
        reason: open.reason,
        ...settled,
        replayedSteps: 0,
        durationMs: Date.now() - started,
        finishedAt: Date.now(),
      };
    } finally {
      trainer?.dispose();
    }
  }

  /**
   * The challenger's side of an execution dispute: states re-executed from the provider's
   * checkpoint at the segment's start (or from the spec's initial state).
   */
  async #party(
    plan: Extract<DisputePlan, { kind: "execution" }>,
    trace: Trace,
    trainer: Trainer,
  ): Promise<DisputeParty> {
    const start = trace.checkpoints[plan.segment];
    const store = this.#options.store;
    return checkpointParty({
      trainer,
      checkpoints: [
        plan.fromInitial ? { ...start, hash: await commitState(trainer.initialState()) } : start,
      ],
      load: (hash) =>
        plan.fromInitial ? Promise.resolve(trainer.initialState()) : loadCheckpoint(store, hash),
    });
  }
}
