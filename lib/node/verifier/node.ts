/**
 * The verifier node's life: it follows commits, queues their audits in its pool, runs each audit
 * (`#audit`: the draw, then the trace, the inputs and the sampled segments re-executed), records
 * it, and hands a caught provider to its challenger. See `mod.ts` for what it checks and why.
 *
 * @module
 */

import { ToolkitError, VerificationError } from "../../core/errors.ts";
import type { Hash } from "../../core/hash.ts";
import type { Trainer } from "../../exec/trainer.ts";
import { auditSeed, selectAuditSegments } from "../../proof/audit.ts";
import { decodeJobSpec, DEFAULT_AUDIT, type JobSpec } from "../../proof/job.ts";
import { BlobStore } from "../../proof/store.ts";
import type { Trace } from "../../proof/trace.ts";
import { Referee, type Ruling } from "../disputes/mod.ts";
import type { DistRoundVerdict } from "../dist_audit.ts";
import { trainerForJob } from "../executor.ts";
import { type NodeLimits, nodeLimits } from "../limits.ts";
import { ensureStake, specHashOfJob, toBytes32 } from "../settlement.ts";
import { AuditBook } from "./book.ts";
import { Challenger } from "./challenge.ts";
import { auditWorker } from "./distributed.ts";
import {
  type AuditOutcome,
  type AuditRecord,
  AuditStop,
  type AuditVerdict,
  type CommitSeen,
  describeVerdict,
  type DisputePlan,
  type DisputeSummary,
  type JobOfCommit,
  keyOf,
  planFor,
  short,
  summarize,
  type VerifierSelection,
} from "./record.ts";
import { AuditSources } from "./sources.ts";
import { followCommits } from "./follow.ts";
import { AuditPool } from "./pool.ts";
import {
  AUDIT_TIMEOUT_MS,
  MAX_CONCURRENT_AUDITS,
  PREPARING_PER_AUDIT,
  type VerifierNodeOptions,
} from "./options.ts";

/** How often a slot under someone else's dispute is looked at again, ms. */
const DISPUTED_RECHECK_MS = 5_000;

/** Audits of one slot that faults outside the audit may end before it counts as failed. */
const MAX_AUDIT_ATTEMPTS = 5;

/** An audit in the pool's queue. */
interface QueuedAudit {
  commit: CommitSeen;
  full: boolean;
  attempt: number;
}

/**
 * A running verifier node.
 *
 * @example
 * ```ts
 * import {
  VerifierNode,
} from "./node.ts";
 * declare const options: import("./node.ts").VerifierNodeOptions;
 * const verifier = await VerifierNode.start(options);
 * // ... after a job commits:
 * const record = await verifier.audited("ab".repeat(32));
 * console.log(record.segments, record.verdicts.map((v) => v.status), record.outcome);
 * await verifier.close();
 * ```
 */
export class VerifierNode {
  /** Blobs the verifier fetched (specs, data, checkpoints). */
  readonly store: BlobStore;
  /** The verifier's account. */
  readonly account: string;
  readonly #options: VerifierNodeOptions;
  readonly #limits: NodeLimits;
  readonly #log: (line: string) => void;
  readonly #abort = new AbortController();
  readonly #seen = new Set<string>();
  /** Its records, and who waits for them. */
  readonly #book: AuditBook;
  /** Its reads: the chain, the job's parties, re-execution. */
  readonly #sources: AuditSources;
  /** Its disputes. */
  readonly #challenger: Challenger;
  /** Every commit seen, by job, to compare the replicas of a job. */
  readonly #commits = new Map<Hash, CommitSeen[]>();
  /** Whether the account is in the verifier registry (it then audits only when drawn). */
  #registered = false;
  /** Where audits queue and run. */
  readonly #pool: AuditPool<QueuedAudit>;
  /** Slots whose audit waits for someone else's dispute over them to end. */
  readonly #waitingOnDisputes = new Set<string>();
  /** Rules on the disputes whose referee committee drew this verifier (registered ones only). */
  #referee: Referee | undefined;
  #loop: Promise<void> = Promise.resolve();

  private constructor(options: VerifierNodeOptions, book: AuditBook) {
    this.#options = options;
    this.#book = book;
    this.#limits = nodeLimits(options.limits);
    this.store = new BlobStore(options.dataDir);
    this.account = options.chain.account;
    const account = this.account.slice(0, 10);
    this.#log = options.log ?? ((line) => console.log(`[verifier ${account}] ${line}`));
    const { chain } = options;
    const pollMs = options.pollMs ?? 200;
    const signal = this.#abort.signal;
    this.#sources = new AuditSources({
      chain,
      wire: options.wire,
      store: this.store,
      limits: this.#limits,
      fetchTimeoutMs: options.fetchTimeoutMs ?? 15_000,
      pollMs,
      ...(options.mine ? { mine: options.mine } : {}),
      signal,
      log: this.#log,
    });
    const places = Math.max(1, options.maxConcurrentAudits ?? MAX_CONCURRENT_AUDITS);
    this.#pool = new AuditPool({
      preparing: places * PREPARING_PER_AUDIT,
      checking: places,
      run: ({ job, waitedMs, release }) =>
        this.#runAudit(job.commit, job.full, release, job.attempt, waitedMs),
      signal,
    });
    this.#challenger = new Challenger({
      chain,
      store: this.store,
      sources: this.#sources,
      book,
      pollMs,
      signal,
      log: this.#log,
    });
  }

  /**
   * Starts a verifier: loads its audit records, stakes and registers in the verifier registry if
   * given stake, and starts following commits.
   */
  static async start(options: VerifierNodeOptions): Promise<VerifierNode> {
    const node = new VerifierNode(options, await AuditBook.open(options.dataDir));
    const { chain } = options;
    if (options.stakeWei) {
      await ensureStake(chain, options.stakeWei);
      if (!(await chain.verifiers.isRegistered())) await chain.verifiers.register();
    }
    node.#registered = await chain.verifiers.isRegistered();
    node.#loop = followCommits({
      chain,
      dataDir: options.dataDir,
      pollMs: options.pollMs ?? 200,
      signal: node.#abort.signal,
      log: node.#log,
      onCommit: (commit) => node.#onCommit(commit),
      finished: (commit) => node.audited(commit.jobId, { slot: commit.slot }),
    });
    if (node.#registered) {
      // A staked verifier can be drawn onto a job's referee committee: it rules like a submitter.
      node.#referee = Referee.start({
        chain,
        wire: options.wire,
        store: node.store,
        trainerFor: async (jobId) => {
          const spec = decodeJobSpec(await node.store.get(await specHashOfJob(chain, jobId)));
          const { modelSpec, dataset } = await node.#sources.inputsOf(spec, []);
          return await trainerForJob(spec, modelSpec, dataset);
        },
        prepare: (jobId, dispute) => node.#sources.prepareToRule(jobId, dispute.provider),
        limits: node.#limits,
        ...(options.fetchTimeoutMs ? { fetchTimeoutMs: options.fetchTimeoutMs } : {}),
        ...(options.pollMs ? { pollMs: options.pollMs } : {}),
        log: (line) => node.#log(`[committee] ${line}`),
      });
    }
    node.#log(`ready: peer ${options.wire.peerId}`);
    return node;
  }

  /** Whether this verifier is in the registry, so that it audits only the commits it is drawn for. */
  get registered(): boolean {
    return this.#registered;
  }

  /** Where this verifier listens (providers it should audit may connect here). */
  get addrs(): readonly string[] {
    return this.#options.wire.addrs;
  }

  /** Every audit this verifier finished, oldest first. */
  audits(): readonly AuditRecord[] {
    return this.#book.all();
  }

  /** Audits of one job (one per audited slot). */
  auditsOf(jobId: Hash): readonly AuditRecord[] {
    return this.audits().filter((r) => r.jobId === jobId);
  }

  /**
   * Waits for the audit of a job's slot (past or future) and returns it; fails with
   * `VERIFY_AUDIT_TIMEOUT` after `timeoutMs` (default: wait as long as the node runs), with
   * `VERIFY_NOT_SELECTED` when this verifier was not drawn to audit the slot, and with
   * `VERIFY_NOT_AUDITED` (or the audit's own error) when the slot could not be audited.
   */
  audited(jobId: Hash, options: { slot?: number; timeoutMs?: number } = {}): Promise<AuditRecord> {
    return this.#book.waitFor(jobId, options.slot ?? 0, options.timeoutMs);
  }

  /**
   * Rulings this verifier gave as a member of referee committees (jobs created with
   * `refereeCommittee`), oldest first.
   */
  committeeRulings(): readonly Ruling[] {
    return this.#referee?.rulings() ?? [];
  }

  /** Resolves with this verifier's ruling on dispute `id`, once it was drawn and ruled. */
  committeeRuled(id: bigint): Promise<Ruling> {
    if (!this.#referee) {
      return Promise.reject(
        new VerificationError(
          "VERIFY_NOT_SELECTED",
          "this verifier is not registered, so no referee committee can draw it; start it with stakeWei",
        ),
      );
    }
    return this.#referee.ruled(id);
  }

  /** Resolves when no audit is queued or running. */
  idle(): Promise<void> {
    return this.#pool.idle();
  }

  /** Stops following the chain and waits for the running audit to stop. */
  async close(): Promise<void> {
    this.#abort.abort();
    this.#pool.wake();
    await this.#referee?.close();
    await this.#loop;
    await this.#pool.close();
  }

  /** Takes a commit; returns whether its audit was queued now. */
  #onCommit(commit: CommitSeen): boolean {
    const key = keyOf(commit.jobId, commit.slot);
    const replicas = this.#commits.get(commit.jobId) ?? [];
    if (!replicas.some((c) => c.slot === commit.slot)) {
      this.#commits.set(commit.jobId, [...replicas, commit]);
    }
    if (this.#seen.has(key) || this.#book.get(commit.jobId, commit.slot)) return false;
    this.#seen.add(key);
    this.#enqueue(commit, false);
    return true;
  }

  /**
   * Queues the audit of a slot; `full` audits every segment (a replica disagreed with it).
   * `attempt` counts the audits of it that a fault outside the audit ended (see `#runAudit`);
   * such an audit is queued again after `delayMs`.
   */
  #enqueue(commit: CommitSeen, full: boolean, attempt = 1, delayMs = 0): void {
    this.#pool.enqueue({ commit, full, attempt }, delayMs);
  }

  /** One audit, from its check to its record (and its dispute's end); tells the waiters. */
  async #runAudit(
    commit: CommitSeen,
    full: boolean,
    release: () => void,
    attempt: number,
    waitedMs: number,
  ): Promise<void> {
    const key = keyOf(commit.jobId, commit.slot);
    try {
      if (this.#abort.signal.aborted) return;
      const record = await this.#audit(commit, full, release, waitedMs);
      if (record && "disputedByOther" in record) {
        if (!this.#waitingOnDisputes.has(key)) {
          this.#waitingOnDisputes.add(key);
          this.#log(
            `job ${short(commit.jobId)} slot ${commit.slot}: disputed by another party; ` +
              "auditing it once that dispute ends",
          );
        }
        this.#enqueue(commit, full, attempt, DISPUTED_RECHECK_MS);
        return;
      }
      this.#waitingOnDisputes.delete(key);
      if (record && "notSelected" in record) {
        const error = new VerificationError(
          "VERIFY_NOT_SELECTED",
          `verifier ${this.account} was not drawn to audit job ${short(commit.jobId)} slot ` +
            `${commit.slot}: the draw picked ${record.selection.selected.join(", ") || "no one"} ` +
            `of ${record.selection.candidates} eligible verifiers; ask their nodes for the audit`,
          { value: commit.jobId },
        );
        this.#book.skip(commit, error);
        return;
      }
      if (!record) {
        if (this.#abort.signal.aborted) return; // resumed after a restart
        throw new VerificationError(
          "VERIFY_NOT_AUDITED",
          `job ${short(commit.jobId)} slot ${commit.slot} was not audited: it is no longer ` +
            "committed (settled or disputed already), or the verifier closed",
          { value: commit.jobId },
        );
      }
      await this.#book.record(commit, record);
      // Replicas disagree: a slot this verifier only sampled (or skipped) before the disagreement
      // showed is audited again in full, so that whichever side is wrong gets disputed.
      for (const slot of record.conflictsWith ?? []) {
        const other = this.#commits.get(commit.jobId)?.find((c) => c.slot === slot);
        const prior = this.#book.get(commit.jobId, slot);
        const sampledOnly = prior !== undefined && prior.outcome === "passed" &&
          prior.segments.length < prior.totalSegments;
        if (other && (sampledOnly || (!prior && this.#book.notSelected(commit.jobId, slot)))) {
          this.#log(
            `job ${short(commit.jobId)}: replicas disagree, re-auditing slot ${slot} in full`,
          );
          this.#enqueue(other, true);
        }
      }
    } catch (error) {
      // A fault outside the audit (the chain endpoint timed out, a connection dropped: anything
      // but this toolkit's own typed verdicts and refusals) ends only this attempt.
      if (
        !(error instanceof ToolkitError) && !this.#abort.signal.aborted &&
        attempt < MAX_AUDIT_ATTEMPTS
      ) {
        const delayMs = 2_000 * 2 ** (attempt - 1);
        this.#log(
          `audit of job ${short(commit.jobId)} slot ${commit.slot} stopped by a fault ` +
            `(${(error as Error).message}); auditing it again in ${delayMs / 1000} s ` +
            `(attempt ${attempt + 1} of ${MAX_AUDIT_ATTEMPTS})`,
        );
        this.#enqueue(commit, full, attempt + 1, delayMs);
        return;
      }
      this.#log(`audit of job ${short(commit.jobId)} failed: ${(error as Error).message}`);
      this.#book.fail(commit, error as Error);
    }
  }

  /**
   * Audits one committed slot (every segment with `full`); undefined when it is no longer open to
   * disputes, `notSelected` when this registered verifier was not drawn for it.
   */
  async #audit(
    commit: CommitSeen,
    full: boolean,
    release: () => void,
    waitedMs: number,
  ): Promise<
    | AuditRecord
    | { notSelected: true; selection: VerifierSelection }
    | { disputedByOther: true }
    | undefined
  > {
    const { chain } = this.#options;
    const started = Date.now();
    const id = short(commit.jobId);
    const timeoutMs = this.#options.auditTimeoutMs ?? AUDIT_TIMEOUT_MS;
    const slotView = await chain.jobs.slot({ jobId: toBytes32(commit.jobId), slot: commit.slot });
    if (slotView.status !== "Committed") {
      // A dispute this verifier opened before it restarted is played on to its end, or, when it
      // ended while the node was down (the slot slashed or paid since), recorded as it ended.
      const open = await this.#book.openedDispute(commit);
      if (open) {
        release();
        return await this.#challenger.resume(commit, open, started);
      }
      // Someone else's dispute (a colluder's, to get the slot past its audit) only pauses the
      // window: the audit runs once the slot is back to Committed.
      if (slotView.status === "Disputed") return { disputedByOther: true };
      this.#log(`job ${id} slot ${commit.slot}: ${slotView.status}, nothing to audit`);
      return undefined;
    }
    let seed: Hash | null = null;
    let selection: VerifierSelection | undefined;
    let conflictsWith: number[] = [];
    let totalSegments = 0;
    let segments: number[] = [];
    const verdicts: AuditVerdict[] = [];
    const rounds: DistRoundVerdict[] = [];
    let replayedSteps = 0;
    let outcome: AuditOutcome = "passed";
    let reason: string | undefined;
    let plan: DisputePlan | undefined;
    let trace: Trace | undefined;
    let trainer: Trainer | undefined;
    // Drawn, the audit takes one of the places where audits fetch and re-execute.
    let freeChecking = () => {};
    // Where the audit's time went, for its log line.
    const phases: string[] = [];
    let phaseStart = started;
    const phase = (name: string) => {
      const now = Date.now();
      phases.push(`${name} ${((now - phaseStart) / 1000).toFixed(1)} s`);
      phaseStart = now;
    };
    try {
      const blockHash = await this.#sources.blockHashAfter(commit);
      seed = auditSeed({ blockHash, jobId: commit.jobId, verifier: this.account });
      let job: JobOfCommit | undefined;
      let jobError: AuditStop | undefined;
      try {
        job = await this.#sources.jobOf(commit);
      } catch (error) {
        if (!(error instanceof AuditStop)) throw error;
        jobError = error; // reported below if this verifier is drawn
      }
      if (this.#registered) {
        // Without the spec the policy is unknown: draw as many as the default policy does.
        const count = job?.spec.audit.verifiers ?? DEFAULT_AUDIT.verifiers;
        selection = await this.#sources.drawOf(commit, blockHash, count);
        const me = this.account.toLowerCase();
        const drawn = selection.selected.some((a) => a.toLowerCase() === me);
        if (!drawn && !full) {
          this.#log(`job ${id} slot ${commit.slot}: not drawn to audit it`);
          return { notSelected: true, selection };
        }
      }
      if (!job) throw jobError;
      phase("spec and draw");
      freeChecking = await this.#pool.checkingPlace();
      if (this.#abort.signal.aborted) return undefined;
      phase("waiting for a place");
      const { spec, providerPeer, submitterPeer } = job;
      if (spec.distributed) {
        const reads = {
          chain,
          wire: this.#options.wire,
          sources: this.#sources,
          fetchTimeoutMs: this.#options.fetchTimeoutMs ?? 15_000,
          count: (total: number) => this.#sampleCount(total, spec, full),
          signal: this.#abort.signal,
          log: this.#log,
        };
        const found = await auditWorker(reads, commit, spec, seed, [
          providerPeer,
          submitterPeer,
        ], (v) => {
          rounds.push(v);
          if (v.status === "valid") replayedSteps += v.steps;
        });
        totalSegments = found.total;
        segments = found.sampled;
        if (found.stop) throw found.stop;
      } else {
        conflictsWith = this.#conflictsOf(commit, spec);
        trace = await this.#sources.traceOf(commit, spec, providerPeer);
        phase("trace");
        totalSegments = trace.checkpoints.length - 1;
        const count = this.#sampleCount(totalSegments, spec, full || conflictsWith.length > 0);
        segments = selectAuditSegments({ seed, segments: totalSegments, count });
        this.#log(`job ${id}: auditing segments [${segments.join(", ")}] of ${totalSegments}`);
        trainer = await this.#sources.trainerOf(spec, [providerPeer, submitterPeer]);
        phase("inputs");
        for (const i of segments) {
          if (this.#abort.signal.aborted) return undefined;
          if (Date.now() - started > timeoutMs) {
            throw new AuditStop(
              "unverifiable",
              `the audit did not finish within ${timeoutMs} ms (auditTimeoutMs); ` +
                `${verdicts.length} of ${segments.length} sampled segments were checked`,
            );
          }
          const verdict = await this.#sources.checkSegment(trace, i, trainer, providerPeer);
          verdicts.push(verdict);
          if (verdict.status === "valid" || verdict.status === "mismatch") {
            replayedSteps += verdict.toStep - verdict.fromStep;
          }
          if (verdict.status !== "valid") {
            throw new AuditStop(
              "caught",
              `segment ${i}: ${describeVerdict(verdict)}`,
              planFor(verdict, i),
            );
          }
        }
      }
    } catch (error) {
      // Closing mid-audit is no verdict: leave the slot to be audited after a restart.
      if (this.#abort.signal.aborted) {
        trainer?.dispose();
        return undefined;
      }
      if (!(error instanceof AuditStop)) {
        trainer?.dispose();
        throw error;
      }
      outcome = error.outcome;
      reason = error.message;
      plan = error.plan;
    } finally {
      // The checks are over (a dispute is played outside the places): the next audit may start.
      freeChecking();
    }
    let settled: DisputeSummary = { disputed: false };
    try {
      if (outcome === "caught" && plan) {
        this.#log(`job ${id}: provider ${short(commit.provider)} caught: ${reason}; disputing`);
        // The dispute is played outside the audit pool: the next audits start now.
        release();
        settled = summarize(
          await this.#challenger.dispute(commit, plan, trace, trainer, {
            reason: reason ?? "caught",
            seed,
            totalSegments,
            segments,
          }),
        );
        // Closed mid-dispute: no record, so that the node plays the dispute on when it restarts.
        if (this.#abort.signal.aborted) return undefined;
      } else {
        phase("replay");
        this.#log(
          `job ${id}: audit ${outcome}${reason ? `: ${reason}` : ""} in ` +
            `${((Date.now() - started) / 1000).toFixed(1)} s (waited ` +
            `${(waitedMs / 1000).toFixed(1)} s to start; ${phases.join(", ")})`,
        );
      }
    } finally {
      trainer?.dispose();
    }
    return {
      jobId: commit.jobId,
      slot: commit.slot,
      provider: commit.provider,
      commitBlock: commit.block.toString(),
      seed,
      ...(selection ? { selection } : {}),
      ...(conflictsWith.length > 0 ? { conflictsWith } : {}),
      totalSegments,
      segments,
      verdicts,
      ...(rounds.length > 0 ? { rounds } : {}),
      outcome,
      ...(reason === undefined ? {} : { reason }),
      ...settled,
      replayedSteps,
      durationMs: Date.now() - started,
      finishedAt: Date.now(),
    };
  }

  /** How many of `total` segments (or rounds) to audit: all of them with `full`. */
  #sampleCount(total: number, spec: JobSpec, full: boolean): number {
    const segments = this.#options.segments;
    return segments === "all" || full ? total : segments ?? spec.audit.segments;
  }

  /**
   * Slots of a replicated job whose committed final state differs from this one's. Replicas of a
   * distributed job train different shards, so they are never compared.
   */
  #conflictsOf(commit: CommitSeen, spec: JobSpec): number[] {
    // `distributed` marks a DiLoCo job (one shard per slot); plain replicas must agree bit for bit.
    if (spec.replicas < 2 || "distributed" in spec) return [];
    return (this.#commits.get(commit.jobId) ?? [])
      .filter((c) => c.slot !== commit.slot && c.finalHash !== commit.finalHash)
      .map((c) => c.slot)
      .sort((a, b) => a - b);
  }
}
