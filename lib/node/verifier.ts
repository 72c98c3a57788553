/**
 * The verifier node: follows committed jobs, re-executes randomly sampled segments of their
 * traces, and disputes providers whose work does not hold up.
 *
 * Who audits what: a verifier with stake registers in the verifier registry on start
 * (`contracts/VerifierRegistry.sol`). For each commit, the verifiers eligible at the commit's block
 * are ranked by `keccak256(keccak256(blockHash || jobId) || account)`, `blockHash` being the next
 * block's hash, and the first `audit.verifiers` of the job's policy audit it (`selectVerifiers` in
 * `lib/proof/audit.ts`): neither the provider nor the verifiers choose. A registered verifier that
 * is not drawn records nothing for the slot (`audited` fails with `VERIFY_NOT_SELECTED`). A node
 * without stake is not in the registry; it watches every commit (anyone may challenge in the
 * dispute game).
 *
 * Replicated jobs (`replicas >= 2`, not distributed): when two committed slots disagree on the
 * final state, the drawn verifier audits every segment of the slot (not a sample) and re-audits in
 * full the disagreeing slots it had only sampled, so the wrong one is disputed and the honest one
 * passes.
 *
 * Life of an audit: a `JobCommitted` event appears on-chain -> the verifier waits for the next
 * block and derives its sample from `keccak256(blockHash || jobId || verifier)` (see
 * `lib/proof/audit.ts`: the provider could not predict it when it committed) -> fetches the job
 * spec and checks the draw, rebuilds the trace from the checkpoint hashes in the provider's progress stream and checks
 * it against the committed trace root and final state -> fetches the starting checkpoint of each
 * sampled segment from the provider over libp2p (hash-checked; a fetch that fails or times out is
 * a withheld checkpoint) -> fetches the model spec and dataset -> re-executes each segment with
 * `replaySegment` (and checks the initial state when segment 0 is sampled). Any mismatch, withheld
 * checkpoint or trace that does not match the commitment makes the verifier dispute the slot (see
 * below); a provider that loses is slashed while the submitter is refunded. A job the
 * verifier cannot check for reasons that are not the provider's fault (the submitter's model or
 * data cannot be found) is recorded as `unverifiable` and never disputed.
 *
 * A caught provider is disputed in the dispute game (`contracts/DisputeGame.sol`, played by
 * `lib/node/disputes.ts`): a segment that re-executes to another state (or starts from another
 * initial state) opens an execution dispute, bisected on-chain down to one step and one kernel
 * and ruled by the job's submitter; a withheld or wrong checkpoint, or a trace that does not match
 * the commitment, opens an availability dispute that the committee rules by trying to fetch it.
 * The verifier bonds each dispute and gets the bond back, plus a share of the slash, when it wins.
 *
 * @module
 */

import {
  type DecodedLog,
  fileCursor,
  followLogs,
  heldCursor,
  INITIAL_STATE_STEP,
  type ProtocolClient,
  readLogs,
  retryChainCall,
} from "../chain/mod.ts";
import { jobMarketAbi } from "../chain/artifacts/JobMarket.ts";
import { PeerError, SpecError, ToolkitError, VerificationError } from "../core/errors.ts";
import type { Hash } from "../core/hash.ts";
import { type Dataset, decodeDataset } from "../exec/dataset.ts";
import { decodeModelSpec, type ModelSpec } from "../exec/model.ts";
import type { Trainer } from "../exec/trainer.ts";
import { trainerForJob } from "./executor.ts";
import { auditSeed, selectAuditSegments, selectionSeed, selectVerifiers } from "../proof/audit.ts";
import { decodeJobSpec, DEFAULT_AUDIT, type JobSpec, planOfJob } from "../proof/job.ts";
import {
  replaySegment,
  type SegmentRange,
  segmentRange,
  type SegmentVerdict,
  verifyInitialState,
} from "../proof/replay.ts";
import { BlobStore } from "../proof/store.ts";
import { buildTrace, checkpointSteps, type Trace } from "../proof/trace.ts";
import { writeJsonAtomic } from "../core/files.ts";
import { peerIdOfAccount } from "./p2p_wire.ts";
import {
  checkpointParty,
  type DisputeResult,
  NO_MOVES,
  openAvailabilityDispute,
  openExecutionDispute,
  openWorkDispute,
  playDispute,
  Referee,
  type Ruling,
} from "./disputes.ts";
import {
  committedWorkers,
  DistAuditor,
  type DistRoundVerdict,
  networkDistSource,
  peerTraces,
} from "./dist_audit.ts";
import { commitState } from "../proof/commitment.ts";
import type { DisputeParty } from "../proof/dispute.ts";
import { loadCheckpoint } from "../proof/checkpoint.ts";
import { ensureStake, fromBytes32, specHashOfJob, toBytes32 } from "./settlement.ts";
import { fetchBlobRetrying, type NodeWire, peerMayServeLater } from "./wire.ts";
import { checkJobLimits, MAX_SPEC_BLOB_BYTES, type NodeLimits, nodeLimits } from "./limits.ts";

/** Options of {@link VerifierNode.start}. */
export interface VerifierNodeOptions {
  /** Folder for the verifier's blobs and audit records. */
  dataDir: string;
  /** Chain client acting as the verifier's account (its address seeds its sample). */
  chain: ProtocolClient;
  /** The node's network. */
  wire: NodeWire;
  /**
   * Segments to audit per job, overriding the job's audit policy: a count, or `"all"` (full
   * re-execution, which catches every cheater; tests use it). Default: the job's `audit.segments`.
   */
  segments?: number | "all";
  /** How long one fetch (blob or progress history) may take before it counts as withheld. Default 15000 ms. */
  fetchTimeoutMs?: number;
  /** Chain polling interval. Default 200 ms. */
  pollMs?: number;
  /**
   * Audits checked at once (fetching the trace and inputs, re-executing). What comes before, the
   * chain reads and the spec that decide whether this verifier was drawn, runs for up to
   * {@link PREPARING_PER_AUDIT} times as many slots at once: a slot this verifier is not drawn
   * for never waits behind a replay. A dispute an audit opens is played outside both counts, so
   * audits never wait behind a dispute, nor a dispute's moves behind audits.
   * Default {@link MAX_CONCURRENT_AUDITS}.
   */
  maxConcurrentAudits?: number;
  /**
   * How long one audit may take to check a slot before it stops, recorded `unverifiable` with the
   * reason, so one stuck audit cannot hold a slot of the pool. Default {@link AUDIT_TIMEOUT_MS}.
   */
  auditTimeoutMs?: number;
  /**
   * Stake to keep as a verifier. With stake the node registers in the verifier registry (it needs
   * the registry's minimum, `VerifierStakeTooLow` otherwise) and audits only the commits it is
   * drawn for. Default 0: no stake; a node that is not registered watches every commit.
   */
  stakeWei?: bigint;
  /**
   * Mines a block when none follows a commit within `pollMs * 5` (devnets with automine only make
   * blocks for transactions; the audit's randomness is the next block's hash). Default: wait.
   */
  mine?: () => Promise<void>;
  /**
   * The largest job this node audits or rules on (parameters, memory per step, dataset bytes,
   * steps): a larger one is not loaded, its audit ends `unverifiable` with `SPEC_TOO_LARGE`.
   * Fields left out keep `DEFAULT_NODE_LIMITS`.
   */
  limits?: Partial<NodeLimits>;
  /** Log sink. Default `console.log` with a prefix. */
  log?: (line: string) => void;
}

/** How often a slot under someone else's dispute is looked at again, ms. */
const DISPUTED_RECHECK_MS = 5_000;

/** Audits of one slot that faults outside the audit may end before it counts as failed. */
const MAX_AUDIT_ATTEMPTS = 5;

/** Default of {@link VerifierNodeOptions.maxConcurrentAudits}. */
export const MAX_CONCURRENT_AUDITS = 2;
/**
 * Slots whose draw is looked up at once, per audit that may run: the lookups wait on the chain and
 * on peers, not on this machine's cores.
 */
export const PREPARING_PER_AUDIT = 4;

/** Default of {@link VerifierNodeOptions.auditTimeoutMs}: 10 minutes. */
export const AUDIT_TIMEOUT_MS = 600_000;

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

interface CommitSeen {
  jobId: Hash;
  slot: number;
  provider: string;
  finalHash: Hash;
  traceRoot: Hash;
  block: bigint;
}

/** A committed job's spec and both parties' peers. */
interface JobOfCommit {
  spec: JobSpec;
  providerPeer: string;
  submitterPeer: string | undefined;
}

/** The dispute a failed audit opens. */
type DisputePlan =
  /** Bisect segment `segment` (re-executed from the provider's checkpoint, or from the spec's initial state). */
  | { readonly kind: "execution"; readonly segment: number; readonly fromInitial: boolean }
  /** The provider withheld `subject` (a checkpoint hash), or its trace when absent. */
  | { readonly kind: "availability"; readonly subject?: Hash }
  /** A distributed worker's round `round` does not hold up, or its trace when absent. */
  | { readonly kind: "work"; readonly round?: number };

/** Why an audit stopped early: the provider's fault (`caught`) or not (`unverifiable`). */
class AuditStop extends Error {
  constructor(
    readonly outcome: "caught" | "unverifiable",
    message: string,
    readonly plan: DisputePlan = { kind: "availability" },
  ) {
    super(message);
  }
}

/** The dispute a failing segment verdict calls for. */
function planFor(verdict: AuditVerdict, segment: number): DisputePlan {
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

/**
 * A running verifier node.
 *
 * @example
 * ```ts
 * import { VerifierNode } from "./verifier.ts";
 * declare const options: import("./verifier.ts").VerifierNodeOptions;
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
  readonly #records = new Map<string, AuditRecord>();
  readonly #seen = new Set<string>();
  /** Why this verifier has no record of a slot it was not drawn for, by job:slot. */
  readonly #notSelected = new Map<string, VerificationError>();
  /** Every commit seen, by job, to compare the replicas of a job. */
  readonly #commits = new Map<Hash, CommitSeen[]>();
  /** Whether the account is in the verifier registry (it then audits only when drawn). */
  #registered = false;
  readonly #waiters = new Map<
    string,
    { resolve: (r: AuditRecord) => void; reject: (e: Error) => void }[]
  >();
  readonly #datasets = new Map<Hash, Dataset>();
  /** Audits waiting for a free place in the pool, oldest first. */
  readonly #waiting: { commit: CommitSeen; full: boolean; attempt: number; queuedAt: number }[] =
    [];
  /** Slots whose audit waits for someone else's dispute over them to end. */
  readonly #waitingOnDisputes = new Set<string>();
  /** Places held by audits past their draw (fetching and re-executing now), and the waiters. */
  #checking = 0;
  readonly #checkingWaiters: (() => void)[] = [];
  /** Audits checking a slot now (a dispute an audit opened does not count). */
  #running = 0;
  /** Every audit started and not finished, dispute included (waited for on close). */
  readonly #tasks = new Set<Promise<void>>();
  /** Rules on the disputes whose referee committee drew this verifier (registered ones only). */
  #referee: Referee | undefined;
  #pending = 0;
  #idleWaiters: (() => void)[] = [];
  #loop: Promise<void> = Promise.resolve();

  private constructor(options: VerifierNodeOptions) {
    this.#options = options;
    this.#limits = nodeLimits(options.limits);
    this.store = new BlobStore(options.dataDir);
    this.account = options.chain.account;
    const account = this.account.slice(0, 10);
    this.#log = options.log ?? ((line) => console.log(`[verifier ${account}] ${line}`));
  }

  /**
   * Starts a verifier: loads its audit records, stakes and registers in the verifier registry if
   * given stake, and starts following commits.
   */
  static async start(options: VerifierNodeOptions): Promise<VerifierNode> {
    const node = new VerifierNode(options);
    const { chain } = options;
    if (options.stakeWei) {
      await ensureStake(chain, options.stakeWei);
      if (!(await chain.verifiers.isRegistered())) await chain.verifiers.register();
    }
    node.#registered = await chain.verifiers.isRegistered();
    await node.#loadRecords();
    node.#loop = node.#follow();
    if (node.#registered) {
      // A staked verifier can be drawn onto a job's referee committee: it rules like a submitter.
      node.#referee = Referee.start({
        chain,
        wire: options.wire,
        store: node.store,
        trainerFor: async (jobId) => {
          const spec = decodeJobSpec(await node.store.get(await specHashOfJob(chain, jobId)));
          const { modelSpec, dataset } = await node.#inputsOf(spec, []);
          return await trainerForJob(spec, modelSpec, dataset);
        },
        prepare: (jobId, dispute) => node.#prepareToRule(jobId, dispute.provider),
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
    return [...this.#records.values()];
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
    const key = keyOf(jobId, options.slot ?? 0);
    const done = this.#records.get(key);
    if (done) return Promise.resolve(done);
    const skipped = this.#notSelected.get(key);
    if (skipped) return Promise.reject(skipped);
    return new Promise((resolve, reject) => {
      const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => {
        reject(
          new VerificationError(
            "VERIFY_AUDIT_TIMEOUT",
            `no audit of job ${jobId.slice(0, 10)} slot ${options.slot ?? 0} within ` +
              `${options.timeoutMs} ms; is the verifier following this chain?`,
            { value: jobId },
          ),
        );
      }, options.timeoutMs);
      const list = this.#waiters.get(key) ?? [];
      list.push({
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.#waiters.set(key, list);
    });
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
    if (this.#pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Stops following the chain and waits for the running audit to stop. */
  async close(): Promise<void> {
    this.#abort.abort();
    for (const wake of this.#checkingWaiters.splice(0)) wake();
    await this.#referee?.close();
    await this.#loop;
    this.#waiting.splice(0);
    await Promise.all([...this.#tasks]);
  }

  /**
   * Before a committee ruling: the job's spec, model and dataset, from the submitter or the
   * disputed provider, into this verifier's store.
   */
  async #prepareToRule(jobId: Hash, provider: string): Promise<void> {
    const { chain } = this.#options;
    const onChain = await chain.jobs.get(toBytes32(jobId));
    const peers = await Promise.all(
      [onChain.submitter, provider].map((a) => peerIdOfAccount(chain, a).catch(() => undefined)),
    );
    try {
      const specHash = await specHashOfJob(chain, jobId);
      await this.#fetchAny(specHash, peers, "the job spec");
      await this.#inputsOf(decodeJobSpec(await this.store.get(specHash)), peers);
    } catch (error) {
      throw new VerificationError(
        "VERIFY_NOT_AUDITED",
        `cannot rule on job ${short(jobId)}: ${(error as Error).message}`,
        { value: jobId },
      );
    }
  }

  /**
   * Follows `JobCommitted` from the block saved in `<dataDir>/follow/job-committed.json`
   * (from block 0 on the first start, or on another chain). The saved block never passes the
   * block of a commit whose audit has not finished (passed, failed, or found this verifier not
   * drawn): a restart delivers every such commit again, and `#onCommit` skips those with records.
   * Replicas are compared across restarts: the first time a job shows up after resuming, its
   * earlier commits are read again, so its other slots are known before its audit runs.
   */
  async #follow(): Promise<void> {
    const { chain } = this.#options;
    const signal = this.#abort.signal;
    const retry = {
      pollMs: this.#options.pollMs ?? 200,
      signal,
      onStall: (error: Error, failures: number) =>
        this.#log(`chain poll failed (${failures} in a row), will retry: ${error.message}`),
    };
    const commitOf = (log: DecodedLog<typeof jobMarketAbi, "JobCommitted">): CommitSeen => ({
      jobId: fromBytes32(log.args.jobId),
      slot: Number(log.args.slot),
      provider: log.args.provider,
      finalHash: fromBytes32(log.args.finalStateHash),
      traceRoot: fromBytes32(log.args.traceRoot),
      block: log.blockNumber,
    });
    /** Cursor writes in flight, which closing waits for; none start after the follower stopped. */
    const writes = new Set<Promise<void>>();
    let stopped = false;
    const commits = {
      client: chain.public,
      address: chain.addresses.jobMarket,
      abi: jobMarketAbi,
      eventName: "JobCommitted" as const,
    };
    try {
      // The saved block is this chain's: a data folder reused on a fresh devnet starts over.
      const genesis = await retryChainCall(() => chain.public.getBlock({ blockNumber: 0n }), {
        ...retry,
        what: "reading the chain's genesis block",
      });
      const cursor = heldCursor(
        fileCursor(`${this.#options.dataDir}/follow/job-committed.json`, { chain: genesis.hash }),
      );
      const resumedAt = (await cursor.load()) ?? 0n;
      const backfilled = new Set<Hash>();
      for await (const logs of followLogs({ ...commits, ...retry, cursor })) {
        if (resumedAt > 0n) {
          // The jobs new since the restart, in one read of their earlier commits (a backlog of
          // hundreds of jobs is one call, not one each).
          const jobIds = [...new Set(logs.map((l) => l.args.jobId))].filter((jobId) =>
            !backfilled.has(fromBytes32(jobId))
          );
          if (jobIds.length > 0) {
            const earlier = await retryChainCall(
              () => readLogs({ ...commits, args: { jobId: jobIds }, toBlock: resumedAt - 1n }),
              {
                ...retry,
                what: `reading the earlier commits of ${jobIds.length} jobs`,
              },
            );
            for (const jobId of jobIds) backfilled.add(fromBytes32(jobId));
            for (const e of earlier) this.#onCommit(commitOf(e));
          }
        }
        for (const log of logs) {
          const commit = commitOf(log);
          const key = keyOf(commit.jobId, commit.slot);
          const fresh = !this.#seen.has(key) && !this.#records.has(key);
          this.#onCommit(commit);
          if (!fresh) continue;
          const release = cursor.hold(commit.block);
          const done = (): void => {
            if (stopped) return; // the node closed: a restart reads the commit again
            const write = release().catch((error) =>
              this.#log(`cannot save the commit cursor: ${(error as Error).message}`)
            ).finally(() => writes.delete(write));
            writes.add(write);
          };
          this.audited(commit.jobId, { slot: commit.slot }).then(done, () => {
            // Failed or not drawn: finished all the same (the audit logged why), unless closing
            // the node stopped it midway; then it stays held, to run again after a restart.
            if (!signal.aborted) done();
          });
        }
      }
    } catch (error) {
      if (!signal.aborted) this.#log(`stopped following commits: ${(error as Error).message}`);
    } finally {
      stopped = true;
      await Promise.allSettled(writes);
    }
  }

  #onCommit(commit: CommitSeen): void {
    const key = keyOf(commit.jobId, commit.slot);
    const replicas = this.#commits.get(commit.jobId) ?? [];
    if (!replicas.some((c) => c.slot === commit.slot)) {
      this.#commits.set(commit.jobId, [...replicas, commit]);
    }
    if (this.#seen.has(key) || this.#records.has(key)) return;
    this.#seen.add(key);
    this.#enqueue(commit, false);
  }

  /**
   * Queues the audit of a slot; `full` audits every segment (a replica disagreed with it).
   * `attempt` counts the audits of it that a fault outside the audit ended (see `#runAudit`);
   * such an audit is queued again after `delayMs`.
   */
  #enqueue(commit: CommitSeen, full: boolean, attempt = 1, delayMs = 0): void {
    this.#pending++;
    const queue = () => {
      this.#waiting.push({ commit, full, attempt, queuedAt: Date.now() });
      this.#pump();
    };
    if (delayMs === 0) return queue();
    const timer = setTimeout(() => {
      this.#abort.signal.removeEventListener("abort", cancel);
      queue();
    }, delayMs);
    const cancel = () => {
      clearTimeout(timer);
      if (--this.#pending === 0) { for (const wake of this.#idleWaiters.splice(0)) wake(); }
    };
    this.#abort.signal.addEventListener("abort", cancel, { once: true });
  }

  #maxAudits(): number {
    return Math.max(1, this.#options.maxConcurrentAudits ?? MAX_CONCURRENT_AUDITS);
  }

  /**
   * Waits for one of the {@link VerifierNodeOptions.maxConcurrentAudits} places where an audit
   * fetches and re-executes; returns what frees it (idempotent). Closing the node wakes waiters.
   */
  async #checkingPlace(): Promise<() => void> {
    while (this.#checking >= this.#maxAudits() && !this.#abort.signal.aborted) {
      await new Promise<void>((wake) => this.#checkingWaiters.push(wake));
    }
    this.#checking++;
    let freed = false;
    return () => {
      if (freed) return;
      freed = true;
      this.#checking--;
      this.#checkingWaiters.shift()?.();
    };
  }

  /** Starts waiting audits while the pool has room. */
  #pump(): void {
    const max = this.#maxAudits() * PREPARING_PER_AUDIT;
    while (this.#running < max && this.#waiting.length > 0 && !this.#abort.signal.aborted) {
      const { commit, full, attempt, queuedAt } = this.#waiting.shift()!;
      this.#running++;
      let released = false;
      // Frees the audit's place: when it opens a dispute, and at the latest when it ends.
      const release = () => {
        if (released) return;
        released = true;
        this.#running--;
        this.#pump();
      };
      const waitedMs = Date.now() - queuedAt;
      const task: Promise<void> = this.#runAudit(commit, full, release, attempt, waitedMs).finally(
        () => {
          release();
          this.#tasks.delete(task);
          if (--this.#pending === 0) { for (const wake of this.#idleWaiters.splice(0)) wake(); }
        },
      );
      this.#tasks.add(task);
    }
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
        this.#notSelected.set(key, error);
        for (const w of this.#waiters.get(key) ?? []) w.reject(error);
        this.#waiters.delete(key);
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
      this.#records.delete(key); // a full re-audit goes last in the order of records
      this.#records.set(key, record);
      this.#notSelected.delete(key);
      await this.#saveRecord(record);
      await this.#forgetDispute(commit);
      for (const w of this.#waiters.get(key) ?? []) w.resolve(record);
      this.#waiters.delete(key);
      // Replicas disagree: a slot this verifier only sampled (or skipped) before the disagreement
      // showed is audited again in full, so that whichever side is wrong gets disputed.
      for (const slot of record.conflictsWith ?? []) {
        const other = this.#commits.get(commit.jobId)?.find((c) => c.slot === slot);
        const otherKey = keyOf(commit.jobId, slot);
        const prior = this.#records.get(otherKey);
        const sampledOnly = prior !== undefined && prior.outcome === "passed" &&
          prior.segments.length < prior.totalSegments;
        if (other && (sampledOnly || (!prior && this.#notSelected.has(otherKey)))) {
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
      for (const w of this.#waiters.get(key) ?? []) w.reject(error as Error);
      this.#waiters.delete(key);
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
      const open = await this.#openedDispute(commit);
      if (open) {
        release();
        return await this.#resumeDispute(commit, open, started);
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
      const blockHash = await this.#blockHashAfter(commit);
      seed = auditSeed({ blockHash, jobId: commit.jobId, verifier: this.account });
      let job: JobOfCommit | undefined;
      let jobError: AuditStop | undefined;
      try {
        job = await this.#jobOf(commit);
      } catch (error) {
        if (!(error instanceof AuditStop)) throw error;
        jobError = error; // reported below if this verifier is drawn
      }
      if (this.#registered) {
        // Without the spec the policy is unknown: draw as many as the default policy does.
        const count = job?.spec.audit.verifiers ?? DEFAULT_AUDIT.verifiers;
        selection = await this.#drawOf(commit, blockHash, count);
        const me = this.account.toLowerCase();
        const drawn = selection.selected.some((a) => a.toLowerCase() === me);
        if (!drawn && !full) {
          this.#log(`job ${id} slot ${commit.slot}: not drawn to audit it`);
          return { notSelected: true, selection };
        }
      }
      if (!job) throw jobError;
      phase("spec and draw");
      freeChecking = await this.#checkingPlace();
      if (this.#abort.signal.aborted) return undefined;
      phase("waiting for a place");
      const { spec, providerPeer, submitterPeer } = job;
      if (spec.distributed) {
        const found = await this.#auditDistributed(commit, spec, seed, full, [
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
        trace = await this.#traceOf(commit, spec, providerPeer);
        phase("trace");
        totalSegments = trace.checkpoints.length - 1;
        const count = this.#options.segments === "all" || full || conflictsWith.length > 0
          ? totalSegments
          : this.#options.segments ?? spec.audit.segments;
        segments = selectAuditSegments({ seed, segments: totalSegments, count });
        this.#log(`job ${id}: auditing segments [${segments.join(", ")}] of ${totalSegments}`);
        trainer = await this.#trainerOf(spec, [providerPeer, submitterPeer]);
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
          const verdict = await this.#checkSegment(trace, i, trainer, providerPeer);
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
          await this.#dispute(commit, plan, trace, trainer, {
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

  /**
   * Plays on a dispute this verifier opened over `commit` before it restarted, and records the
   * audit from how it ends (the verdicts that led to it are in the dispute's reason).
   */
  async #resumeDispute(
    commit: CommitSeen,
    open: OpenedDispute,
    started: number,
  ): Promise<AuditRecord | undefined> {
    this.#log(
      `job ${short(commit.jobId)}: playing on dispute ${open.id} (${open.plan.kind}) ` +
        "opened before this verifier restarted",
    );
    let trace: Trace | undefined;
    let trainer: Trainer | undefined;
    try {
      if (open.plan.kind === "execution") {
        const job = await this.#jobOf(commit);
        trace = await this.#traceOf(commit, job.spec, job.providerPeer);
        trainer = await this.#trainerOf(job.spec, [job.providerPeer, job.submitterPeer]);
      }
      const settled = summarize(
        await this.#dispute(commit, open.plan, trace, trainer, open, BigInt(open.id)),
      );
      if (this.#abort.signal.aborted) return undefined;
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
   * Audits a distributed worker's commit (see `dist_audit.ts`): its trace against its commit, the
   * round rule and the other workers' traces, then the sampled rounds re-executed. Returns how
   * many rounds there were, which were sampled, and the stop (`caught` with its dispute plan, or
   * `unverifiable`) when the audit did not pass.
   */
  async #auditDistributed(
    commit: CommitSeen,
    spec: JobSpec,
    seed: Hash,
    full: boolean,
    peers: (string | undefined)[],
    onRound: (verdict: DistRoundVerdict) => void,
  ): Promise<{ total: number; sampled: number[]; stop?: AuditStop }> {
    const id = short(commit.jobId);
    const commits = await committedWorkers(this.#options.chain, commit.jobId);
    const mine = commits.find((c) => c.slot === commit.slot);
    if (!mine || mine.traceRoot !== commit.traceRoot) {
      return { total: 0, sampled: [], stop: new AuditStop("unverifiable", "the commit changed") };
    }
    const source = networkDistSource({
      chain: this.#options.chain,
      wire: this.#options.wire,
      store: this.store,
      jobId: commit.jobId,
      commits,
      fetchTimeoutMs: this.#options.fetchTimeoutMs ?? 15_000,
      signal: this.#abort.signal,
    });
    let trace;
    try {
      trace = await source.traceOrWhy(commit.slot);
    } catch (error) {
      return {
        total: 0,
        sampled: [],
        stop: new AuditStop("caught", `the worker withheld its trace: ${(error as Error).message}`),
      };
    }
    const inputs = await this.#inputsOf(spec, peers);
    let auditor: DistAuditor;
    try {
      auditor = await DistAuditor.create({ spec, ...inputs });
    } catch (error) {
      return {
        total: trace.rounds.length,
        sampled: [],
        stop: new AuditStop("unverifiable", `cannot rebuild the job's trainers: ${error}`),
      };
    }
    try {
      const problem = await auditor.checkTrace(
        trace,
        mine,
        await peerTraces(source, commits, commit.slot),
      );
      if (problem) {
        return {
          total: trace.rounds.length,
          sampled: [],
          stop: new AuditStop("caught", `its trace: ${problem}`, { kind: "work" }),
        };
      }
      const total = trace.rounds.length;
      const count = this.#options.segments === "all" || full
        ? total
        : this.#options.segments ?? spec.audit.segments;
      const sampled = selectAuditSegments({ seed, segments: total, count });
      this.#log(`job ${id} worker ${commit.slot}: auditing rounds [${sampled.join(", ")}]`);
      for (const round of sampled) {
        if (this.#abort.signal.aborted) break;
        const verdict = await auditor.auditRound(trace, round, source);
        onRound(verdict);
        if (verdict.status === "mismatch") {
          return {
            total,
            sampled,
            stop: new AuditStop("caught", `round ${round}: ${verdict.reason}`, {
              kind: "work",
              round,
            }),
          };
        }
        if (verdict.status === "withheld") {
          return {
            total,
            sampled,
            stop: new AuditStop("caught", `round ${round}: withheld ${verdict.reason}`, {
              kind: "availability",
              subject: verdict.hash,
            }),
          };
        }
        if (!verdict.outerChecked) {
          this.#log(`job ${id} worker ${commit.slot} round ${round}: ${verdict.note}`);
        }
      }
      return { total, sampled };
    } finally {
      auditor.dispose();
    }
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

  /**
   * The draw of a commit's verifiers: the registry as of the commit's block, less the job's
   * parties (its provider and its submitter never audit it, whatever they registered), ranked by
   * seed.
   */
  async #drawOf(commit: CommitSeen, blockHash: string, count: number): Promise<VerifierSelection> {
    const { chain } = this.#options;
    const { submitter } = await chain.jobs.get(toBytes32(commit.jobId));
    const parties = [commit.provider, submitter].map((a) => a.toLowerCase());
    const candidates = (await chain.verifiers.list({ blockNumber: commit.block }))
      .filter((a) => !parties.includes(a.toLowerCase()));
    const seed = selectionSeed({ blockHash, jobId: commit.jobId });
    return {
      seed,
      candidates: candidates.length,
      selected: selectVerifiers({ seed, candidates, count }),
    };
  }

  /** The hash of the first block after the commit (mined on devnets if asked). */
  async #blockHashAfter(commit: CommitSeen): Promise<Hash> {
    const { chain } = this.#options;
    const pollMs = this.#options.pollMs ?? 200;
    const target = commit.block + 1n;
    let waited = 0;
    while ((await chain.public.getBlockNumber()) < target) {
      if (this.#abort.signal.aborted) throw new AuditStop("unverifiable", "verifier closed");
      if (this.#options.mine && waited >= pollMs * 5) {
        await this.#options.mine();
        waited = 0;
        continue;
      }
      await abortableSleep(pollMs, this.#abort.signal);
      waited += pollMs;
    }
    const block = await chain.public.getBlock({ blockNumber: target });
    return block.hash!;
  }

  /** The job spec (from the provider, else the submitter) and both parties' peers. */
  async #jobOf(commit: CommitSeen): Promise<JobOfCommit> {
    const { chain } = this.#options;
    const onChain = await chain.jobs.get(toBytes32(commit.jobId));
    let providerPeer: string;
    try {
      providerPeer = await peerIdOfAccount(chain, commit.provider);
    } catch (error) {
      if (!(error instanceof PeerError)) throw error;
      throw new AuditStop("caught", `the provider has no peer to audit: ${error.message}`);
    }
    const submitterPeer = await peerIdOfAccount(chain, onChain.submitter).catch((error) => {
      if (!(error instanceof PeerError)) throw error;
      return undefined; // the provider may still serve the spec
    });
    const specHash = await specHashOfJob(chain, commit.jobId);
    await this.#fetchAny(specHash, [providerPeer, submitterPeer], "the job spec");
    let spec: JobSpec;
    try {
      spec = decodeJobSpec(await this.store.get(specHash));
    } catch (error) {
      if (!(error instanceof SpecError)) throw error;
      throw new AuditStop("unverifiable", `the job spec is invalid: ${error.message}`);
    }
    return { spec, providerPeer, submitterPeer };
  }

  /**
   * Rebuilds the trace from the checkpoint hashes the provider published on its progress stream,
   * and checks it against the commitment.
   */
  async #traceOf(commit: CommitSeen, spec: JobSpec, providerPeer: string): Promise<Trace> {
    const { wire } = this.#options;
    const timeoutMs = this.#options.fetchTimeoutMs ?? 15_000;
    const hashes = new Map<number, Hash>();
    for (let attempt = 1;; attempt++) {
      const signal = AbortSignal.any([this.#abort.signal, AbortSignal.timeout(timeoutMs)]);
      let received = 0;
      try {
        for await (const update of wire.watchProgress(providerPeer, commit.jobId, signal)) {
          received++;
          if (update.checkpoint) hashes.set(update.checkpoint.step, update.checkpoint.hash);
        }
        break;
      } catch (error) {
        const message = (error as Error).message;
        if (received > 0 || signal.aborted) {
          // A stream that broke or stalled is judged by what it delivered (see below).
          this.#log(`job ${short(commit.jobId)}: progress stream ended: ${message}`);
          break;
        }
        // Never reached the provider: that is not proof of cheating, so it is not disputed.
        if (attempt >= FETCH_ATTEMPTS) {
          throw new AuditStop("unverifiable", `cannot reach the provider: ${message}`);
        }
        await abortableSleep(RETRY_MS * 2 ** (attempt - 1), this.#abort.signal);
      }
    }
    const steps = checkpointSteps(spec.steps, spec.k);
    const missing = steps.filter((s) => !hashes.has(s));
    if (missing.length > 0) {
      throw new AuditStop(
        "caught",
        `the provider withheld its trace: no checkpoint hash for steps ${
          missing.slice(0, 5).join(", ")
        }`,
      );
    }
    const trace = await buildTrace({
      plan: planOfJob(spec),
      k: spec.k,
      steps: spec.steps,
      jobId: commit.jobId,
      checkpoints: steps.map((step) => ({
        step,
        cursor: step * spec.batchSize,
        hash: hashes.get(step)!,
      })),
    });
    const last = trace.checkpoints[trace.checkpoints.length - 1];
    if (trace.root !== commit.traceRoot || last.hash !== commit.finalHash) {
      throw new AuditStop(
        "caught",
        `the published checkpoints give trace root ${short(trace.root)} and final state ` +
          `${short(last.hash)}, the provider committed ${short(commit.traceRoot)} and ` +
          `${short(commit.finalHash)}`,
      );
    }
    return trace;
  }

  /** A trainer for the job's plan, from the model spec and dataset blobs. */
  async #trainerOf(spec: JobSpec, peers: (string | undefined)[]): Promise<Trainer> {
    const { modelSpec, dataset } = await this.#inputsOf(spec, peers);
    try {
      return await trainerForJob(spec, modelSpec, dataset);
    } catch (error) {
      throw new AuditStop(
        "unverifiable",
        `cannot rebuild the job's trainer: ${(error as Error).message}`,
      );
    }
  }

  /**
   * The job's model spec and dataset, fetched from the given peers and checked against its ids.
   * A job over this node's limits stops here (`unverifiable`, `SPEC_TOO_LARGE`), before its
   * dataset is fetched or its model built.
   */
  async #inputsOf(
    spec: JobSpec,
    peers: (string | undefined)[],
  ): Promise<{ modelSpec: ModelSpec; dataset: Dataset }> {
    const limits = this.#limits;
    this.#withinLimits(spec);
    await this.#fetchAny(spec.model, peers, "the model spec", MAX_SPEC_BLOB_BYTES);
    const modelSpec = await this.store.get(spec.model).then(decodeModelSpec).catch((error) => {
      throw new AuditStop("unverifiable", `cannot decode the job's model: ${error.message}`);
    });
    this.#withinLimits(spec, modelSpec);
    const what = `the dataset (at most ${limits.maxDatasetBytes} bytes, limits.maxDatasetBytes)`;
    await this.#fetchAny(spec.datasetBlob, peers, what, limits.maxDatasetBytes);
    try {
      let dataset = this.#datasets.get(spec.datasetBlob);
      if (!dataset) {
        dataset = await decodeDataset(await this.store.get(spec.datasetBlob));
        this.#datasets.set(spec.datasetBlob, dataset);
      }
      if (modelSpec.id !== spec.model || dataset.id !== spec.datasetId) {
        throw new AuditStop(
          "unverifiable",
          "the job's model or dataset blob does not match its ids",
        );
      }
      return { modelSpec, dataset };
    } catch (error) {
      if (error instanceof AuditStop) throw error;
      throw new AuditStop(
        "unverifiable",
        `cannot decode the job's model or dataset: ${(error as Error).message}`,
      );
    }
  }

  /** Stops (`unverifiable`) a job larger than this node's limits; see `limits.ts`. */
  #withinLimits(spec: JobSpec, modelSpec?: ModelSpec): void {
    try {
      checkJobLimits({ spec, limits: this.#limits, ...(modelSpec ? { modelSpec } : {}) });
    } catch (error) {
      // A model spec that cannot be sized is reported when its trainer is built.
      if (!(error instanceof SpecError) || error.code !== "SPEC_TOO_LARGE") return;
      throw new AuditStop("unverifiable", `${error.code}: ${error.message}`);
    }
  }

  /**
   * Fetches the checkpoint segment `i` starts from and re-executes the segment; the end state is
   * checked against the trace's hash, so its bytes are never needed (half the provider's serving).
   */
  async #checkSegment(
    trace: Trace,
    i: number,
    trainer: Trainer,
    providerPeer: string,
  ): Promise<AuditVerdict> {
    const range = segmentRange(trace, i);
    for (const ref of [trace.checkpoints[i]]) {
      if (await this.store.has(ref.hash)) continue;
      try {
        await this.#fetch(providerPeer, ref.hash);
      } catch (error) {
        return {
          ...range,
          status: "withheld",
          hash: ref.hash,
          reason: `checkpoint at step ${ref.step}: ${(error as Error).message}`,
        };
      }
    }
    if (i === 0) {
      const initial = await verifyInitialState(trace, trainer);
      if (!initial.valid) {
        return {
          ...range,
          status: "bad-initial-state",
          expected: initial.actual,
          actual: initial.expected,
        };
      }
    }
    return await replaySegment(trace, i, { trainer, store: this.store });
  }

  /**
   * Opens the dispute a failed audit calls for in the dispute game and plays the challenger's side
   * to the end; undefined when it could not be opened (the slot is no longer open to disputes).
   */
  async #dispute(
    commit: CommitSeen,
    plan: DisputePlan,
    trace: Trace | undefined,
    trainer: Trainer | undefined,
    about: DisputeAbout,
    resumeId?: bigint,
  ): Promise<DisputeResult | undefined> {
    const play = {
      chain: this.#options.chain,
      store: this.store,
      pollMs: this.#options.pollMs ?? 200,
      signal: this.#abort.signal,
      log: this.#log,
      // Written before the first move: a verifier that restarts plays the dispute on.
      onOpened: (id: bigint) =>
        this.#rememberDispute(commit, { ...about, id: id.toString(), plan }),
    };
    try {
      let result: DisputeResult;
      if (resumeId !== undefined) {
        const party = plan.kind === "execution" && trace && trainer
          ? await this.#challengerParty(plan, trace, trainer)
          : NO_MOVES;
        result = await playDispute({ ...play, id: resumeId, role: "challenger", party });
      } else if (plan.kind === "execution" && trace && trainer) {
        result = await openExecutionDispute({
          ...play,
          commit,
          trace,
          segment: plan.segment,
          party: await this.#challengerParty(plan, trace, trainer),
        });
      } else if (plan.kind === "work") {
        result = await openWorkDispute({
          ...play,
          commit,
          ...(plan.round === undefined ? {} : { round: plan.round }),
        });
      } else {
        const subject = plan.kind === "availability" ? plan.subject : undefined;
        result = await openAvailabilityDispute({
          ...play,
          commit,
          ...(subject ? { subject } : {}),
        });
      }
      this.#log(
        `job ${short(commit.jobId)}: dispute ${result.dispute.id} ${result.dispute.outcome}` +
          (result.slashedWei > 0n ? `, provider slashed ${result.slashedWei} wei` : ""),
      );
      return result;
    } catch (error) {
      this.#log(`job ${short(commit.jobId)}: dispute failed: ${(error as Error).message}`);
      return undefined;
    }
  }

  /**
   * The challenger's side of an execution dispute: states re-executed from the provider's
   * checkpoint at the segment's start (or from the spec's initial state).
   */
  async #challengerParty(
    plan: Extract<DisputePlan, { kind: "execution" }>,
    trace: Trace,
    trainer: Trainer,
  ): Promise<DisputeParty> {
    const start = trace.checkpoints[plan.segment];
    return checkpointParty({
      trainer,
      checkpoints: [
        plan.fromInitial ? { ...start, hash: await commitState(trainer.initialState()) } : start,
      ],
      load: (hash) =>
        plan.fromInitial
          ? Promise.resolve(trainer.initialState())
          : loadCheckpoint(this.store, hash),
    });
  }

  /** Where a dispute this verifier opened is remembered until its audit is recorded. */
  #disputeFile(commit: CommitSeen): string {
    return `${this.#options.dataDir}/disputes/${commit.jobId}-${commit.slot}.json`;
  }

  async #rememberDispute(commit: CommitSeen, open: OpenedDispute): Promise<void> {
    await Deno.mkdir(`${this.#options.dataDir}/disputes`, { recursive: true });
    await writeJsonAtomic(this.#disputeFile(commit), open);
  }

  async #openedDispute(commit: CommitSeen): Promise<OpenedDispute | undefined> {
    try {
      return JSON.parse(await Deno.readTextFile(this.#disputeFile(commit))) as OpenedDispute;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
  }

  async #forgetDispute(commit: CommitSeen): Promise<void> {
    await Deno.remove(this.#disputeFile(commit)).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
  }

  /** Fetches a blob (of at most `maxBytes`) from the first peer that serves it. */
  async #fetchAny(
    hash: Hash,
    peers: (string | undefined)[],
    what: string,
    maxBytes?: number,
  ): Promise<void> {
    if (await this.store.has(hash)) return;
    const errors: string[] = [];
    for (const peer of peers) {
      if (!peer) continue;
      try {
        return await this.#fetch(peer, hash, maxBytes);
      } catch (error) {
        errors.push((error as Error).message);
      }
    }
    throw new AuditStop("unverifiable", `cannot fetch ${what}: ${errors.join("; ")}`);
  }

  /** A hash-checked fetch, retried on transient network errors; fails with the last error. */
  async #fetch(peer: string, hash: Hash, maxBytes?: number): Promise<void> {
    await fetchBlobRetrying(this.#options.wire, peer, hash, this.store, {
      timeoutMs: this.#options.fetchTimeoutMs ?? 15_000,
      attempts: FETCH_ATTEMPTS,
      backoffMs: RETRY_MS,
      // A peer that stays silent is not waited for again: that would let a provider run out the
      // window by not answering.
      retryIf: (error) => peerMayServeLater(error, { silence: false }),
      signal: this.#abort.signal,
      ...(maxBytes === undefined ? {} : { maxBytes }),
    });
  }

  async #loadRecords(): Promise<void> {
    const dir = `${this.#options.dataDir}/audits`;
    try {
      for await (const entry of Deno.readDir(dir)) {
        if (!entry.isFile || !entry.name.endsWith(".json")) continue;
        const record = JSON.parse(await Deno.readTextFile(`${dir}/${entry.name}`)) as AuditRecord;
        this.#records.set(keyOf(record.jobId, record.slot), record);
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }

  async #saveRecord(record: AuditRecord): Promise<void> {
    const dir = `${this.#options.dataDir}/audits`;
    await Deno.mkdir(dir, { recursive: true });
    await writeJsonAtomic(`${dir}/${record.jobId}-${record.slot}.json`, record, { indent: 1 });
  }
}

/**
 * Fetch attempts before a blob counts as withheld: with the doubling backoff from
 * {@link RETRY_MS}, a provider that restarts (its connections drop, then nothing listens for a few
 * seconds) is waited for about 15 s, well inside any challenge window.
 */
const FETCH_ATTEMPTS = 5;
/** First backoff between attempts, ms; it doubles each time. */
const RETRY_MS = 1_000;
function describeVerdict(v: AuditVerdict): string {
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
interface OpenedDispute {
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
type DisputeAbout = Pick<OpenedDispute, "reason" | "seed" | "totalSegments" | "segments">;

/** How a dispute ended, as the audit record holds it. */
type DisputeSummary = Pick<AuditRecord, "disputed" | "slashedWei" | "dispute">;

function summarize(result: DisputeResult | undefined): DisputeSummary {
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

function keyOf(jobId: Hash, slot: number): string {
  return `${jobId}:${slot}`;
}

function short(hash: string): string {
  return hash.slice(0, 10);
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
