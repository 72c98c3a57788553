/**
 * The referee ({@link Referee}): a staked verifier drawn onto a dispute's committee rules on it
 * from both parties' evidence, recomputing at most one kernel.
 *
 * @module
 */

import { lastSlotEvent, newDisputes } from "./play.ts";
import {
  chainTime,
  type DisputeView,
  INITIAL_STATE_STEP,
  type ProtocolClient,
  workRoundOf,
} from "../../chain/mod.ts";
import { ToolkitError, VerificationError } from "../../core/errors.ts";
import { type Hash, toBytes32 } from "../../core/hash.ts";
import { sleep } from "../../core/sleep.ts";
import { decodeModelSpec } from "../../exec/model.ts";
import type { Trainer } from "../../exec/trainer.ts";
import { opChain, type Side } from "../../proof/bisect.ts";
import { commitState } from "../../proof/commitment.ts";
import { claimsVerdict, judgeAt } from "../../proof/dispute.ts";
import { decodeEvidence, type StepEvidence } from "../../proof/evidence.ts";
import { merkleRoot } from "../../proof/merkle.ts";
import type { Verdict } from "../../proof/referee.ts";
import type { BlobStore } from "../../proof/store.ts";
import { checkpointSteps } from "../../proof/trace.ts";
import { decodeJobSpec } from "../../proof/job.ts";
import { loadJobInputs } from "../executor.ts";
import {
  committedWorkers,
  DistAuditor,
  type DistCommit,
  networkDistSource,
  peerTraces,
} from "../dist_audit.ts";
import type { DistTrace } from "../dist_run.ts";
import { peerIdOfAccount } from "../p2p_wire.ts";
import { fromBytes32, specHashOfJob } from "../settlement.ts";
import { fetchBlobWithin, type NodeWire, peerMayServeLater } from "../wire.ts";
import { checkJobLimits, type NodeLimits, nodeLimits } from "../limits.ts";

const ZERO = `0x${"00".repeat(32)}` as const;

/** A referee's decision, as it records it. */
export interface Ruling {
  /** The dispute. */
  readonly id: bigint;
  /** The job. */
  readonly jobId: Hash;
  /** Execution, availability, or a distributed worker's work. */
  readonly kind: "Execution" | "Availability" | "Work";
  /** The agreed step `t` (the disputed step is `t -> t + 1`); absent for availability and initial-state disputes. */
  readonly step?: number;
  /** The judged op index. */
  readonly opIndex?: number;
  /** Who was right. */
  readonly winner: Side | null;
  /**
   * The judged kernel (or a pseudo-kernel: `(claims)`, `(availability)`, `(initial state)`,
   * `(evidence)`, `(round N)` or `(trace)` for work disputes).
   */
  readonly kernel: string;
  /** Why. */
  readonly reason: string;
  /** Kernels the referee recomputed (at most 1). */
  readonly kernelsRun: number;
  /** The op-level verdict, when one was reached. */
  readonly verdict?: Verdict;
}

/** Options of {@link Referee.start}. */
export interface RefereeOptions {
  /**
   * The referee's chain client: a staked, registered verifier account, which the dispute game can
   * draw onto the referee committee of any dispute it is not a party to.
   */
  chain: ProtocolClient;
  /** Its network, to fetch evidence and test availability. */
  wire: NodeWire;
  /** Where fetched blobs go. */
  store: BlobStore;
  /** A trainer for the job (for the program and the initial state). */
  trainerFor(jobId: Hash): Promise<Trainer>;
  /**
   * Called before each ruling, to get the job's spec, model and dataset into `store` (a committee
   * member fetches them from the submitter or the provider; a submitter has them already).
   */
  prepare?(jobId: Hash, dispute: DisputeView): Promise<void>;
  /** How long one fetch may take before the blob counts as withheld. Default 15000 ms. */
  fetchTimeoutMs?: number;
  /** Poll interval. Default 200 ms. */
  pollMs?: number;
  /**
   * The largest job this referee loads to rule on (see `limits.ts`; fields left out keep
   * `DEFAULT_NODE_LIMITS`): a dispute that needs a larger job's trainer gets no ruling from it,
   * and a `SPEC_TOO_LARGE` line in the log. Default: not checked (a submitter rules on its own
   * jobs).
   */
  limits?: Partial<NodeLimits>;
  /** Log sink. */
  log?: (line: string) => void;
}

/**
 * The referee: rules on every dispute that reaches this account: the disputes over the jobs it
 * submitted, or, for a staked verifier, those of jobs whose referee committee drew it.
 *
 * @example
 * ```ts
 * import { Referee } from "./referee.ts";
 * declare const options: import("./referee.ts").RefereeOptions;
 * const referee = Referee.start(options);
 * const ruling = await referee.ruled(1n);
 * console.log(ruling.winner, ruling.kernel, ruling.kernelsRun);
 * await referee.close();
 * ```
 */
export class Referee {
  readonly #options: RefereeOptions;
  readonly #abort = new AbortController();
  readonly #rulings = new Map<bigint, Ruling>();
  readonly #waiters = new Map<bigint, ((r: Ruling) => void)[]>();
  #loop: Promise<void> = Promise.resolve();
  /** Rulings under way: each runs on its own, so one waiting on a party never holds up another. */
  readonly #rulingsUnderWay = new Set<Promise<void>>();

  private constructor(options: RefereeOptions) {
    this.#options = options;
  }

  /**
   * Starts ruling on disputes whose committee drew `options.chain.account`, and drawing the
   * committees of disputes whose pool holds it.
   */
  static start(options: RefereeOptions): Referee {
    const referee = new Referee(options);
    referee.#loop = Promise.all([referee.#follow(), referee.#followDraws()]).then(() => {});
    return referee;
  }

  /** Every ruling so far. */
  rulings(): readonly Ruling[] {
    return [...this.#rulings.values()];
  }

  /** Resolves with the ruling on dispute `id` once there is one. */
  ruled(id: bigint): Promise<Ruling> {
    const done = this.#rulings.get(id);
    if (done) return Promise.resolve(done);
    return new Promise((resolve) => {
      this.#waiters.set(id, [...(this.#waiters.get(id) ?? []), resolve]);
    });
  }

  /** Stops ruling. */
  async close(): Promise<void> {
    this.#abort.abort();
    await this.#loop;
    await Promise.allSettled([...this.#rulingsUnderWay]);
  }

  async #follow(): Promise<void> {
    const { chain } = this.#options;
    const log = this.#log;
    const me = chain.account.toLowerCase();
    const ids = newDisputes(
      chain,
      "RefereeNeeded",
      (a) => a.referee.toLowerCase() === me,
      this.#options.pollMs ?? 200,
      this.#abort.signal,
      log,
    );
    for await (const id of ids) {
      const ruling: Promise<void> = this.#rule(id).catch((error) =>
        log(
          `dispute ${id}: cannot rule: ` +
            (error instanceof ToolkitError ? `${error.code}: ` : "") + (error as Error).message,
        )
      ).finally(() => this.#rulingsUnderWay.delete(ruling));
      this.#rulingsUnderWay.add(ruling);
    }
  }

  /**
   * Draws the committee of every dispute whose snapshotted pool holds this account: any one
   * eligible member drawing is enough (the draw's seed is fixed, so who draws does not matter),
   * and a dispute nobody draws would be voided.
   */
  async #followDraws(): Promise<void> {
    const { chain } = this.#options;
    const me = chain.account.toLowerCase();
    const ids = newDisputes(
      chain,
      "CommitteePending",
      (a) => a.pool.some((m) => m.toLowerCase() === me),
      this.#options.pollMs ?? 200,
      this.#abort.signal,
      this.#log,
    );
    for await (const id of ids) {
      this.#draw(id).catch((error) =>
        this.#log(`dispute ${id}: cannot draw its committee: ${(error as Error).message}`)
      );
    }
  }

  async #draw(id: bigint): Promise<void> {
    const { chain } = this.#options;
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      const [d, committee, pending] = await Promise.all([
        chain.game.get(id),
        chain.game.committee(id),
        chain.game.committeePool(id),
      ]);
      // The pool's event is in the seed block, so this transaction lands in a later one.
      if (d.phase !== "Referee" || committee.quorum > 0 || !pending) return;
      try {
        const { members } = await chain.game.drawCommittee(id);
        if (members.length > 0) {
          this.#log(`dispute ${id}: drew its committee ${members.map((m) => m.slice(0, 8))}`);
          return;
        }
        // Re-armed on a newer block (the seed block was too old): draw again.
      } catch (error) {
        // Drawn by someone else in the same block, or a failure worth another try: a dispute
        // whose committee nobody draws is voided, so this member keeps at it while it can.
        if ((await chain.game.committee(id)).quorum > 0) return;
        this.#log(
          `dispute ${id}: drawing its committee failed, will retry: ${(error as Error).message}`,
        );
        await sleep((this.#options.pollMs ?? 200) * 5, signal);
      }
    }
  }

  get #log(): (line: string) => void {
    return this.#options.log ?? (() => {});
  }

  async #rule(id: bigint): Promise<void> {
    const { chain } = this.#options;
    const d = await chain.game.get(id);
    if (d.phase !== "Referee") return;
    await this.#options.prepare?.(fromBytes32(d.jobId), d);
    const ruling = d.kind === "Availability"
      ? await this.#availability(d)
      : d.kind === "Work"
      ? await this.#work(d)
      : d.step === INITIAL_STATE_STEP
      ? await this.#initialState(d)
      : await this.#execution(d);
    const winner = ruling.ruling.winner;
    if ((await chain.game.get(id)).phase !== "Referee") {
      // A committee reached its majority while this member recomputed: its vote is not needed.
      this.#log(`dispute ${id}: already decided by the committee; not voting`);
      return;
    }
    try {
      await chain.game.rule({
        id,
        ruling: winner === "provider"
          ? "Provider"
          : winner === "challenger"
          ? "Challenger"
          : "Both",
        providerOp: ruling.providerOp,
        challengerOp: ruling.challengerOp,
        kernel: ruling.ruling.kernel,
      });
    } catch (error) {
      // Another member's vote reached the majority in the same block as this one.
      if ((await chain.game.get(id)).phase === "Referee") throw error;
      this.#log(`dispute ${id}: decided by the committee as this member voted; vote not counted`);
      return;
    }
    this.#log(
      `dispute ${id}: ruled for ${
        winner ?? "neither side"
      } at ${ruling.ruling.kernel}: ${ruling.ruling.reason}`,
    );
    this.#rulings.set(id, ruling.ruling);
    for (const wake of this.#waiters.get(id) ?? []) wake(ruling.ruling);
    this.#waiters.delete(id);
  }

  /**
   * Refuses (`SPEC_TOO_LARGE`) to load a job larger than this referee's limits, from the job and
   * model specs in the store, before the job's trainer is built or its dataset decoded.
   */
  async #withinLimits(jobId: Hash): Promise<void> {
    if (!this.#options.limits) return;
    const { chain, store } = this.#options;
    const spec = decodeJobSpec(await store.get(await specHashOfJob(chain, jobId)));
    const modelSpec = (await store.has(spec.model))
      ? await decodeModelSpec(await store.get(spec.model))
      : undefined;
    try {
      checkJobLimits({
        spec,
        ...(modelSpec ? { modelSpec } : {}),
        limits: nodeLimits(this.#options.limits),
        jobId,
      });
    } catch (error) {
      // A model the footprint cannot size is reported when its trainer is built.
      if (error instanceof ToolkitError && error.code === "SPEC_TOO_LARGE") throw error;
    }
  }

  /**
   * After a party failed to serve something (`failure`; undefined when it answered without it),
   * waits before asking it again and returns true; false when it is not worth asking again: it
   * answered, or a quarter of the dispute's referee time left at the first failure is all that
   * remains (`patience` keeps that point), or the referee is closing. Logs each new attempt.
   */
  async #askAgain(
    d: DisputeView,
    attempt: number,
    patience: { giveUpAt?: bigint },
    failure: unknown,
    what: string,
  ): Promise<boolean> {
    if (
      failure === undefined || !peerMayServeLater(failure, { silence: true }) ||
      this.#abort.signal.aborted
    ) return false;
    const now = await chainTime(this.#options.chain);
    patience.giveUpAt ??= now + (d.deadline - now) * 3n / 4n;
    const waitSec = Math.min(30, 2 ** attempt);
    if (now + BigInt(waitSec) >= patience.giveUpAt) return false;
    this.#log(
      `dispute ${d.id}: ${what} (${(failure as Error).message}); asking again in ${waitSec} s, ` +
        `until chain time ${patience.giveUpAt}`,
    );
    await sleep(waitSec * 1000, this.#abort.signal).catch(() => {});
    return !this.#abort.signal.aborted;
  }

  /**
   * Fetches a blob from a party's peer into the store; true if it arrived. A party that cannot be
   * reached (restarting, a network blip) is asked again, with a log line each time, until a
   * quarter of the dispute's remaining referee time is left: only a party unreachable that long,
   * or one that answers without the blob (or with other bytes), fails to serve it.
   */
  async #fetched(peer: string, hash: Hash, d: DisputeView): Promise<boolean> {
    const { wire, store } = this.#options;
    if (await store.has(hash)) return true;
    const timeoutMs = this.#options.fetchTimeoutMs ?? 15_000;
    const patience: { giveUpAt?: bigint } = {};
    for (let attempt = 1;; attempt++) {
      try {
        await fetchBlobWithin(wire, peer, hash, store, timeoutMs, this.#abort.signal);
        return true;
      } catch (error) {
        const what = `peer ${peer.slice(-8)} did not serve ${hash.slice(0, 10)}`;
        if (!await this.#askAgain(d, attempt, patience, error, what)) return false;
      }
    }
  }

  async #availability(d: DisputeView): Promise<RulingMove> {
    const { chain, wire } = this.#options;
    const jobId = fromBytes32(d.jobId);
    const base = { id: d.id, jobId, kind: "Availability" as const, kernelsRun: 0 };
    const kernel = "(availability)";
    const lost = (reason: string): RulingMove => ({
      ruling: { ...base, winner: "challenger", kernel, reason },
    });
    let peer: string;
    try {
      peer = await peerIdOfAccount(chain, d.provider);
    } catch (error) {
      return lost(`the provider has no reachable peer: ${(error as Error).message}`);
    }
    if (d.subject !== ZERO) {
      const hash = fromBytes32(d.subject);
      return await this.#fetched(peer, hash, d)
        ? { ruling: { ...base, winner: "provider", kernel, reason: `served ${hash.slice(0, 10)}` } }
        : lost(`did not serve ${hash.slice(0, 10)}`);
    }
    const specHash = await specHashOfJob(this.#options.chain, jobId);
    if (decodeJobSpec(await this.#options.store.get(specHash)).distributed) {
      // A distributed worker's trace is a blob whose id it publishes (see `dist_audit.ts`).
      const found = await this.#distTrace(d);
      return "why" in found
        ? lost(found.why)
        : { ruling: { ...base, winner: "provider", kernel, reason: "served its whole trace" } };
    }
    // The trace: every checkpoint hash on the provider's progress stream, and their Merkle root
    // (the trace root) the one it committed.
    const job = await chain.jobs.get(d.jobId);
    const hashes = new Map<number, Hash>();
    const at = checkpointSteps(job.steps, job.checkpointInterval);
    // Asked again while the provider cannot be reached, as for a blob (see `#fetched`).
    const patience: { giveUpAt?: bigint } = {};
    for (let attempt = 1;; attempt++) {
      const signal = AbortSignal.any([
        this.#abort.signal,
        AbortSignal.timeout(this.#options.fetchTimeoutMs ?? 15_000),
      ]);
      let failure: unknown;
      try {
        for await (const update of wire.watchProgress(peer, jobId, signal)) {
          if (update.checkpoint) hashes.set(update.checkpoint.step, update.checkpoint.hash);
        }
      } catch (error) {
        failure = error; // judged by what arrived
      }
      if (!at.some((s) => !hashes.has(s))) break;
      const what = "the provider's trace is incomplete";
      if (!await this.#askAgain(d, attempt, patience, failure, what)) {
        return lost("its trace is incomplete");
      }
    }
    const root = await merkleRoot(at.map((step) => hashes.get(step)!));
    return root === await committedRoot(chain, d)
      ? { ruling: { ...base, winner: "provider", kernel, reason: "served its whole trace" } }
      : lost(`its published trace has root ${root.slice(0, 10)}, not the committed one`);
  }

  /** A distributed worker's committed trace, as the verifiers fetch it, or why it is not served. */
  async #distTrace(d: DisputeView): Promise<
    { trace: DistTrace; source: ReturnType<typeof networkDistSource>; commits: DistCommit[] } | {
      why: string;
    }
  > {
    const jobId = fromBytes32(d.jobId);
    const commits = await committedWorkers(this.#options.chain, jobId);
    const source = networkDistSource({
      chain: this.#options.chain,
      wire: this.#options.wire,
      store: this.#options.store,
      jobId,
      commits,
      fetchTimeoutMs: this.#options.fetchTimeoutMs ?? 15_000,
    });
    try {
      return { trace: await source.traceOrWhy(d.slot), source, commits };
    } catch (error) {
      return { why: `it did not serve its trace: ${(error as Error).message}` };
    }
  }

  /**
   * A work dispute: re-audits the named round of the distributed worker (its inner segments, its
   * delta, the outer step), or its trace as a whole, exactly as a verifier does.
   */
  async #work(d: DisputeView): Promise<RulingMove> {
    const jobId = fromBytes32(d.jobId);
    const round = workRoundOf(d.subject);
    const kernel = round === undefined ? "(trace)" : `(round ${round})`;
    const rule = (winner: Side, reason: string): RulingMove => ({
      ruling: { id: d.id, jobId, kind: "Work", winner, kernel, reason, kernelsRun: 0 },
    });
    const found = await this.#distTrace(d);
    if ("why" in found) return rule("challenger", found.why);
    const { trace, source, commits } = found;
    await this.#withinLimits(jobId);
    const spec = decodeJobSpec(
      await this.#options.store.get(await specHashOfJob(this.#options.chain, jobId)),
    );
    const inputs = await loadJobInputs({ spec, store: this.#options.store });
    const auditor = await DistAuditor.create({ spec, ...inputs });
    try {
      const commit = commits.find((c) => c.slot === d.slot)!;
      const problem = await auditor.checkTrace(
        trace,
        commit,
        await peerTraces(source, commits, d.slot),
      );
      if (problem) return rule("challenger", problem);
      if (round === undefined) return rule("provider", "its trace holds up");
      if (round >= trace.rounds.length) {
        return rule("provider", `its trace has no round ${round} to dispute`);
      }
      const verdict = await auditor.auditRound(trace, round, source);
      if (verdict.status !== "valid") return rule("challenger", verdict.reason);
      return rule(
        "provider",
        `round ${round} re-executes (${verdict.steps} steps)` +
          (verdict.outerChecked ? " and its outer step holds" : `; ${verdict.note}`),
      );
    } finally {
      auditor.dispose();
    }
  }

  async #initialState(d: DisputeView): Promise<RulingMove> {
    const jobId = fromBytes32(d.jobId);
    await this.#withinLimits(jobId);
    const trainer = await this.#options.trainerFor(jobId);
    try {
      const expected = await commitState(trainer.initialState());
      const provider = fromBytes32(d.loHash);
      const challenger = fromBytes32(d.hiChallenger);
      const winner: Side | null = provider === expected
        ? "provider"
        : challenger === expected
        ? "challenger"
        : null;
      return {
        ruling: {
          id: d.id,
          jobId,
          kind: "Execution",
          winner,
          kernel: "(initial state)",
          reason: `the spec's initial state is ${expected.slice(0, 10)}`,
          kernelsRun: 0,
        },
      };
    } finally {
      trainer.dispose();
    }
  }

  async #execution(d: DisputeView): Promise<RulingMove> {
    const { chain } = this.#options;
    const jobId = fromBytes32(d.jobId);
    const { found, ops } = await chain.game.evidence(d.id);
    if (!found) throw new VerificationError("VERIFY_NO_STEP", `dispute ${d.id} has no step yet`);
    const t = found.step;
    const base = { id: d.id, jobId, kind: "Execution" as const, step: t, opIndex: d.lo };
    // Each side's evidence must exist, decode, and match every move it made on-chain.
    const evidence = async (side: Side): Promise<StepEvidence | string> => {
      const account = side === "provider" ? d.provider : d.challenger;
      const committed = ops.get(account.toLowerCase());
      if (!committed) return "committed no op records";
      let peer: string;
      try {
        peer = await peerIdOfAccount(chain, account);
      } catch {
        return "has no reachable peer";
      }
      const hash = fromBytes32(committed.evidence);
      if (!await this.#fetched(peer, hash, d)) {
        return `did not serve its evidence ${hash.slice(0, 10)}`;
      }
      let ev: StepEvidence;
      try {
        ev = decodeEvidence(await this.#options.store.get(hash));
      } catch (error) {
        return (error as Error).message;
      }
      const hi = side === "provider" ? d.hiProvider : d.hiChallenger;
      const consistent = ev.ops.length === committed.count &&
        toBytes32(opChain(ev.opHashes, ev.ops.length)) === committed.root &&
        (d.lo === d.hi ||
          (toBytes32(opChain(ev.opHashes, d.lo)) === d.loHash &&
            toBytes32(opChain(ev.opHashes, d.hi)) === hi));
      return consistent ? ev : "its evidence does not match its moves";
    };
    const evP = await evidence("provider");
    const evC = await evidence("challenger");
    const opOf = (ev: StepEvidence | string) =>
      typeof ev === "string" || !ev.opHashes[d.lo] ? ZERO : toBytes32(ev.opHashes[d.lo]);
    const ops_ = { providerOp: opOf(evP), challengerOp: opOf(evC) };
    if (typeof evP === "string" || typeof evC === "string") {
      const winner: Side | null = typeof evP === "string"
        ? (typeof evC === "string" ? null : "challenger")
        : "provider";
      const reason = [
        typeof evP === "string" ? `the provider ${evP}` : "",
        typeof evC === "string" ? `the challenger ${evC}` : "",
      ].filter(Boolean).join("; ");
      return { ruling: { ...base, winner, kernel: "(evidence)", reason, kernelsRun: 0 }, ...ops_ };
    }
    const agreedHash = fromBytes32(found.agreedState);
    const claims = claimsVerdict({
      agreedHash,
      challenger: { ops: evC.ops, claimed: fromBytes32(found.challengerClaim) },
      provider: { ops: evP.ops, claimed: fromBytes32(found.providerClaim) },
    });
    if (claims) {
      const reason = claims.faults.map((f) => `${f.side}: ${f.reason}`).join("; ");
      return {
        ruling: { ...base, winner: claims.winner, kernel: claims.kernel, reason, kernelsRun: 0 },
        ...ops_,
      };
    }
    await this.#withinLimits(jobId);
    const trainer = await this.#options.trainerFor(jobId);
    try {
      const verdict = await judgeAt({
        referee: trainer,
        step: t,
        index: d.lo,
        agreedHash,
        challenger: evC,
        provider: evP,
        agreedState: () => Promise.resolve(evC.stateBefore()),
      });
      return {
        ruling: {
          ...base,
          winner: verdict.winner,
          kernel: verdict.kernel,
          reason: verdict.faults.map((f) => `${f.side}: ${f.reason}`).join("; "),
          kernelsRun: verdict.kernelsRun,
          verdict,
        },
        ...ops_,
      };
    } finally {
      trainer.dispose();
    }
  }
}

interface RulingMove {
  ruling: Ruling;
  providerOp?: `0x${string}`;
  challengerOp?: `0x${string}`;
}

/** The trace root the disputed slot committed (from its `JobCommitted` event). */
async function committedRoot(chain: ProtocolClient, d: DisputeView): Promise<Hash | undefined> {
  const root = (await lastSlotEvent(chain, d, "JobCommitted"))?.traceRoot;
  return root === undefined ? undefined : fromBytes32(String(root));
}
