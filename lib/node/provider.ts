/**
 * The provider node: takes jobs from the network, trains them, proves and commits the work, and
 * collects payment.
 *
 * Life of a job on a provider: an offer arrives (signature and on-chain escrow already checked by
 * the wire) -> the node fetches the job spec and the model spec from the submitter's bound peer
 * and checks profile, price, stake and its resource limits (`limits.ts`: a job too large is
 * refused before it is claimed) -> claims a slot on-chain (a lost race is normal) -> fetches the
 * dataset blob (hash-checked, capped at the dataset limit) -> trains with a checkpoint every `k`
 * steps, publishing progress for the submitter to watch -> commits
 * `(finalStateHash, traceRoot)` -> serves its checkpoints to verifiers -> after the challenge window,
 * finalizes and is paid. Every transition is written to the job record first, so a node killed at
 * any point picks the job up where it was when it restarts.
 *
 * @module
 */

import { chainTime, type ProtocolClient, type ReleaseReason } from "../chain/mod.ts";
import type { Hash } from "../core/hash.ts";
import { sleep } from "../core/sleep.ts";
import type { Dataset } from "../exec/dataset.ts";
import { decodeModelSpec, type ModelSpec } from "../exec/model.ts";
import { getProfile } from "../exec/profile.ts";
import { decodeJobSpec, type JobSpec } from "../proof/job.ts";
import { decodeTrace } from "../proof/trace.ts";
import { BlobStore } from "../proof/store.ts";
import { DatasetError, PeerError, SpecError, ToolkitError, TrainingError } from "../core/errors.ts";
import {
  completePendingRound,
  decodeDistTrace,
  partialDistWork,
  runDistributedJob,
} from "./dist_run.ts";
import { committedWorkers, networkDistSource, peerTraces } from "./dist_audit.ts";
import { DisputeResponder, storedRunParty } from "./disputes/mod.ts";
import { loadJobInputs } from "./executor.ts";
import {
  checkJobLimits,
  datasetOverLimit,
  MAX_SPEC_BLOB_BYTES,
  type NodeLimits,
  nodeLimits,
} from "./limits.ts";
import { TrainingWorker } from "./train_worker.ts";
import { type JobRecord, JobRecords, staleJobReason, staleReason } from "./records.ts";
import {
  commitResult,
  ensurePeerBound,
  ensureStake,
  finalizeIfDue,
  toBytes32,
  tryClaim,
} from "./settlement.ts";
import { peerIdOfAccount } from "./p2p_wire.ts";
import { fetchBlobRetrying, type JobOffer, type NodeWire, type ProgressUpdate } from "./wire.ts";

/** Attempts to fetch a claimed job's model and dataset before the job fails. */
export const FETCH_ATTEMPTS = 4;

/** Options of {@link ProviderNode.start}. */
export interface ProviderNodeOptions {
  /** Folder for keys, job records, blobs and checkpoints. */
  dataDir: string;
  /** Chain client acting as the provider's account. */
  chain: ProtocolClient;
  /** The node's network. */
  wire: NodeWire;
  /** The node's secp256k1 peer key, bound on-chain to the account at start. */
  peerPrivateKey: Uint8Array;
  /** Execution profile this node runs. Default `wasm`. */
  profile?: string;
  /** Refuse jobs paying less than this (total, wei). Default 0. */
  minPriceWei?: bigint;
  /** Keep at least this much unlocked stake. Default 0 (stake per job's requirement). */
  stakeWei?: bigint;
  /** How often to look for payments that came due. Default 1000 ms. */
  settlePollMs?: number;
  /**
   * How long one attempt to fetch a job's blob (spec, model, dataset) may take before it is
   * aborted; a claimed job's model and dataset are tried {@link FETCH_ATTEMPTS} times, each going
   * on from what arrived. Default 120000 ms.
   */
  fetchTimeoutMs?: number;
  /**
   * The largest job this node takes (parameters, memory per step, dataset bytes, steps); a larger
   * one is refused before it is claimed. Fields left out keep `DEFAULT_NODE_LIMITS`.
   */
  limits?: Partial<NodeLimits>;
  /** Log sink. Default `console.log` with a prefix. */
  log?: (line: string) => void;
}

/** A job this node refused because it is larger than the node's limits. */
export interface RefusedJob {
  /** The job. */
  readonly jobId: Hash;
  /** The refusal's error code (`SPEC_TOO_LARGE`). */
  readonly code: string;
  /** What the job needs and which limit it exceeds. */
  readonly message: string;
  /**
   * Whether the node had claimed the job before it found out (a dataset larger than the limit,
   * or a resumed job over lowered limits): its slot was then released. Otherwise it was never
   * claimed.
   */
  readonly claimed: boolean;
}

/**
 * A running provider node.
 *
 * @example
 * ```ts
 * import { ProviderNode } from "./provider.ts";
 * declare const options: import("./provider.ts").ProviderNodeOptions;
 * const node = await ProviderNode.start(options);
 * // ... jobs are taken from the network until:
 * await node.close();
 * ```
 */
export class ProviderNode {
  /** Job records. */
  readonly records: JobRecords;
  /** Blobs and checkpoints this node holds (and serves). */
  readonly store: BlobStore;
  /** The profile this node runs. */
  readonly profile: string;
  /** The node's network. */
  readonly wire: NodeWire;
  /** The largest job this node takes. */
  readonly limits: NodeLimits;
  readonly #options: ProviderNodeOptions;
  /** Jobs refused for being too large, by id (an offer seen again is not looked at again). */
  readonly #refused = new Map<Hash, RefusedJob>();
  readonly #log: (line: string) => void;
  readonly #datasets = new Map<Hash, Promise<Dataset>>();
  readonly #abort = new AbortController();
  #queue: Promise<void> = Promise.resolve();
  #settleTimer: ReturnType<typeof setInterval> | undefined;
  #settling = false;
  #responder: DisputeResponder | undefined;
  readonly #busy = new Set<Hash>();
  /** Trains this node's jobs, one at a time, in a worker thread. */
  readonly #training = new TrainingWorker();
  readonly #queued = new Set<Hash>();

  private constructor(options: ProviderNodeOptions) {
    this.#options = options;
    this.wire = options.wire;
    this.records = new JobRecords(options.dataDir);
    this.store = new BlobStore(options.dataDir);
    this.profile = getProfile(options.profile ?? "wasm").id;
    this.limits = nodeLimits(options.limits);
    const account = options.chain.account.slice(0, 10);
    this.#log = options.log ?? ((line) => console.log(`[provider ${account}] ${line}`));
  }

  /**
   * Starts a provider: stakes, binds its peer id, resumes unfinished jobs, and starts listening
   * for announcements.
   */
  static async start(options: ProviderNodeOptions): Promise<ProviderNode> {
    const node = new ProviderNode(options);
    if (options.stakeWei) await ensureStake(options.chain, options.stakeWei);
    await ensurePeerBound(options.chain, options.peerPrivateKey);
    for (const record of await node.records.list()) {
      if (record.status === "paid" || record.status === "failed") continue;
      if (record.status === "claiming") {
        // Stopped between writing the intent and hearing back: the chain says how it went.
        // Not a job of this chain (a devnet restarted under this node): kept aside, once.
        const stale = await staleJobReason(options.chain, record);
        if (stale) {
          const to = await node.records.setAside(record.jobId, stale);
          node.#log(`job ${short(record.jobId)}: set aside to ${to}: ${stale}`);
          continue;
        }
        const claimed = await node.#resolveClaim(record);
        if (claimed) {
          node.#log(`resuming job ${short(record.jobId)} (its claim landed before the stop)`);
          node.#enqueue(claimed);
        }
        continue;
      }
      // A record from an earlier chain (a devnet restarted under this node) is set aside, once.
      const stale = await staleReason(options.chain, record);
      if (stale) {
        const to = await node.records.setAside(record.jobId, stale);
        node.#log(`job ${short(record.jobId)}: set aside to ${to}: ${stale}`);
      } else if (record.status === "claimed" || record.status === "training") {
        node.#log(`resuming job ${short(record.jobId)} (${record.status})`);
        node.#enqueue(record);
      } else if (record.status === "committed") {
        await node.#republish(record);
      }
    }
    options.wire.onOffer((offer) => node.#onOffer(offer));
    // Say which profile this node runs and where it listens, so submitters find it by peer id.
    options.wire.advertise?.(node.profile);
    node.#settleTimer = setInterval(() => node.#settleDue(), options.settlePollMs ?? 1000);
    // Answer every dispute over this node's results from its own checkpoints.
    node.#responder = DisputeResponder.start({
      chain: options.chain,
      store: node.store,
      log: node.#log,
      partyFor: async (dispute) => {
        const record = await node.records.get(dispute.jobId.slice(2).toLowerCase());
        if (!record?.traceBlob) {
          throw new SpecError(
            "SPEC_UNKNOWN_JOB",
            `dispute ${dispute.id} is over job ${dispute.jobId}, which this node has no trace of`,
          );
        }
        return await storedRunParty({
          store: node.store,
          spec: record.spec,
          traceBlob: record.traceBlob,
          datasets: node.#datasets,
        });
      },
    });
    node.#log(`ready: profile ${node.profile}, peer ${options.wire.peerId}`);
    return node;
  }

  /**
   * Settles a `claiming` record from the chain: the record of the slot this node holds, marked
   * claimed, when the claim landed; otherwise the record is dropped and undefined returned.
   */
  async #resolveClaim(record: JobRecord): Promise<JobRecord | undefined> {
    const { chain } = this.#options;
    const jobId = toBytes32(record.jobId);
    const me = chain.account.toLowerCase();
    const { replicas } = await chain.jobs.get(jobId);
    for (let slot = 0; slot < replicas; slot++) {
      const view = await chain.jobs.slot({ jobId, slot });
      if (view.provider.toLowerCase() === me && view.status === "Claimed") {
        return await this.records.put({ ...record, status: "claimed", slot });
      }
    }
    await this.records.dropClaim(record.jobId);
    return undefined;
  }

  /** Jobs this node refused because they exceed its limits, oldest first. */
  refusedJobs(): readonly RefusedJob[] {
    return [...this.#refused.values()];
  }

  /** Total paid to this node for finished jobs, from its records. */
  async earnedWei(): Promise<bigint> {
    const records = await this.records.list();
    return records.reduce((sum, r) => sum + BigInt(r.paidWei ?? "0"), 0n);
  }

  /** Stops taking jobs, cancels the running one at its next step, and waits for it to stop. */
  async close(): Promise<void> {
    clearInterval(this.#settleTimer);
    this.#abort.abort();
    // The running job stops where it is (its checkpoints on disk stay resumable).
    this.#training.close();
    await this.#responder?.close();
    await this.#queue;
  }

  async #onOffer(offer: JobOffer): Promise<void> {
    const { jobId } = offer;
    const id = short(jobId);
    if (this.#abort.signal.aborted || this.#busy.has(jobId) || this.#refused.has(jobId)) return;
    this.#busy.add(jobId);
    try {
      if (offer.priceWei < (this.#options.minPriceWei ?? 0n)) {
        return this.#log(
          `job ${id}: skipped, pays ${offer.priceWei} wei, below this node's minimum`,
        );
      }
      const known = await this.records.get(jobId);
      if (known?.status === "claiming") {
        // A claim whose outcome this node never heard (the send failed midway).
        const claimed = await this.#resolveClaim(known);
        if (claimed) {
          this.#log(`job ${id}: claimed slot ${claimed.slot}`);
          this.#enqueue(claimed);
          return;
        }
      } else if (known) return;
      const chain = this.#options.chain;
      const wire = this.#options.wire;
      // The spec is the blob named by the spec hash, served by the submitter's bound peer; the
      // job id the market derived from them both (checked when the offer was accepted) binds it.
      const submitterPeer = await peerIdOfAccount(chain, offer.submitter);
      // Only addresses under the submitter's bound peer id: the offer cannot redirect us.
      await wire.connect(offer.addrs.filter((a) => a.endsWith(`/p2p/${submitterPeer}`)));
      // One attempt: a job not taken now is offered again in a few seconds.
      await this.#fetch(submitterPeer, offer.specHash, 1, MAX_SPEC_BLOB_BYTES);
      const spec = decodeJobSpec(await this.store.get(offer.specHash));
      if (spec.profile !== this.profile) {
        return this.#log(
          `job ${id}: skipped, pins ${spec.profile}; this node runs ${this.profile}`,
        );
      }
      // Too large for this node: refused before it is claimed, so another provider can take it.
      if (!(await this.#fitsBeforeClaim(jobId, spec, submitterPeer))) return;
      const job = await chain.jobs.get(toBytes32(jobId));
      await ensureStake(chain, job.requiredStakeWei);
      // The intent first: a node stopped after its claim landed, before it heard back, must
      // find the claim on restart, or the slot stays taken by a node that forgot it.
      const intent = await this.records.put({
        jobId,
        spec,
        submitter: offer.submitter,
        submitterPeer,
        submitterAddrs: offer.addrs.filter((a) => a.endsWith(`/p2p/${submitterPeer}`)),
        status: "claiming",
        slot: -1,
      });
      const slot = await tryClaim(chain, jobId);
      if (slot === undefined) {
        await this.records.dropClaim(jobId);
        return this.#log(`job ${id}: another provider claimed it first`);
      }
      const record = await this.records.put({ ...intent, status: "claimed", slot });
      this.#log(`job ${id}: claimed slot ${slot}`);
      this.#enqueue(record);
    } catch (error) {
      this.#log(`job ${id}: not taken: ${(error as Error).message}`);
    } finally {
      if (!this.#queued.has(jobId)) this.#busy.delete(jobId);
    }
  }

  /**
   * Whether an offered job fits this node's limits: its steps, then (with the model spec fetched
   * from the submitter; nothing is built) its parameters and memory per step. A job that does not
   * fit is recorded and logged once. A model spec that cannot be decoded is left to the training
   * run to report (as the job's fault), as before this check existed.
   */
  async #fitsBeforeClaim(jobId: Hash, spec: JobSpec, submitterPeer: string): Promise<boolean> {
    try {
      this.#checkLimits(jobId, spec);
      await this.#fetch(submitterPeer, spec.model, 1, MAX_SPEC_BLOB_BYTES);
      const modelSpec = await decodeModelSpec(await this.store.get(spec.model)).catch((error) => {
        if (error instanceof SpecError) return undefined;
        throw error;
      });
      if (modelSpec) this.#checkLimits(jobId, spec, modelSpec);
      return true;
    } catch (error) {
      if (!(error instanceof SpecError && error.code === "SPEC_TOO_LARGE")) throw error;
      this.#refuse(jobId, error, false);
      return false;
    }
  }

  /**
   * Throws `SPEC_TOO_LARGE` for a job over this node's limits. A model the footprint cannot size
   * is let through with a log line: its training reports what is wrong with it.
   */
  #checkLimits(jobId: Hash, spec: JobSpec, modelSpec?: ModelSpec): void {
    try {
      checkJobLimits({ spec, ...(modelSpec ? { modelSpec } : {}), limits: this.limits, jobId });
    } catch (error) {
      if (!(error instanceof SpecError) || error.code === "SPEC_TOO_LARGE") throw error;
      this.#log(
        `job ${short(jobId)}: cannot size its model (${error.message}); limits not checked`,
      );
    }
  }

  /** Records and logs a job refused for exceeding this node's limits. */
  #refuse(jobId: Hash, error: SpecError, claimed: boolean): void {
    this.#refused.set(jobId, { jobId, code: error.code, message: error.message, claimed });
    // Unclaimed, the job stays offered: its submitter hears why this node does not take it.
    if (!claimed) this.wire.refuse?.({ jobId, code: error.code, reason: error.message });
    this.#log(`job ${short(jobId)}: refused: ${error.code}: ${error.message}`);
  }

  /**
   * Before training a claimed (or resumed) job: its limits checked again (they may have been
   * lowered since it was claimed), then its dataset fetched no larger than `maxDatasetBytes`.
   * Throws `SPEC_TOO_LARGE` for a job over a limit.
   */
  async #withinLimits(claimed: JobRecord): Promise<void> {
    const { jobId, spec } = claimed;
    try {
      this.#checkLimits(jobId, spec);
      this.#checkLimits(jobId, spec, await decodeModelSpec(await this.store.get(spec.model)));
      if (await this.store.has(spec.datasetBlob)) {
        const { size } = await Deno.stat(this.store.pathOf(spec.datasetBlob));
        const refusal = datasetOverLimit({ bytes: size, limits: this.limits, jobId });
        if (refusal) throw refusal;
        return;
      }
      await this.#options.wire.connect(claimed.submitterAddrs ?? []);
      this.#log(`job ${short(jobId)}: fetching blob ${short(spec.datasetBlob)}`);
      const { maxDatasetBytes } = this.limits;
      await this.#fetch(claimed.submitterPeer, spec.datasetBlob, FETCH_ATTEMPTS, maxDatasetBytes)
        .catch((error) => {
          throw datasetOverLimit({ error, limits: this.limits, jobId }) ?? error;
        });
    } catch (error) {
      if (error instanceof SpecError && error.code === "SPEC_TOO_LARGE") {
        this.#refuse(jobId, error, true);
      }
      throw error;
    }
  }

  /**
   * Fetches a blob from `peer` in up to `attempts` tries of `fetchTimeoutMs` each (a stalled
   * transfer is aborted and resumed), stopping when the node closes; a blob larger than
   * `maxBytes` is refused at once (`PEER_BLOB_TOO_LARGE`).
   */
  async #fetch(peer: string, hash: Hash, attempts: number, maxBytes?: number): Promise<void> {
    await fetchBlobRetrying(this.wire, peer, hash, this.store, {
      timeoutMs: this.#options.fetchTimeoutMs ?? 120_000,
      attempts,
      backoffMs: 500,
      retryIf: (error) => !(error instanceof PeerError && error.code === "PEER_BLOB_TOO_LARGE"),
      onRetry: (error, attempt) =>
        this.#log(
          `blob ${short(hash)}: attempt ${attempt} of ${attempts} failed ` +
            `(${(error as Error).message}); trying again`,
        ),
      signal: this.#abort.signal,
      ...(maxBytes === undefined ? {} : { maxBytes }),
    });
  }

  #enqueue(record: JobRecord): void {
    this.#busy.add(record.jobId);
    this.#queued.add(record.jobId);
    this.#queue = this.#queue.then(() => this.#run(record)).catch((error) => {
      this.#log(`job ${short(record.jobId)}: ${(error as Error).message}`);
    }).finally(() => {
      this.#queued.delete(record.jobId);
      this.#busy.delete(record.jobId);
    });
  }

  async #run(claimed: JobRecord): Promise<void> {
    if (this.#abort.signal.aborted) return;
    const { jobId, spec, submitterPeer } = claimed;
    const id = short(jobId);
    const wire = this.#options.wire;
    const publish = (update: Omit<ProgressUpdate, "jobId">) =>
      wire.publishProgress({ jobId, ...update });
    try {
      publish({ step: 0, status: "queued" });
      if (!(await this.store.has(spec.model))) {
        await wire.connect(claimed.submitterAddrs ?? []);
        this.#log(`job ${id}: fetching blob ${short(spec.model)}`);
        await this.#fetch(submitterPeer, spec.model, FETCH_ATTEMPTS, MAX_SPEC_BLOB_BYTES);
      }
      await this.#withinLimits(claimed);
      if (spec.distributed) return await this.#runDistributed(claimed, publish);
      await this.records.update(jobId, { status: "training" });
      let lastLog = 0;
      // Off the main thread: the node stays responsive however long a step takes.
      const result = await this.#training.execute({
        spec,
        jobId,
        store: this.store,
        jobDir: this.records.dirOf(jobId),
        signal: this.#abort.signal,
        onProgress: (event) => {
          if (event.kind === "step") {
            publish({ step: event.step, loss: event.loss, status: "running" });
            const now = Date.now();
            if (now - lastLog > 2000) {
              lastLog = now;
              this.#log(
                `job ${id}: step ${event.step}/${spec.steps} loss ${event.loss.toFixed(4)}`,
              );
            }
          } else if (event.kind === "checkpoint") {
            const { step, hash } = event.checkpoint;
            publish({ step, checkpoint: { step, hash }, status: "running" });
          }
        },
      });
      await commitResult(this.#options.chain, {
        jobId,
        finalHash: result.finalHash,
        traceRoot: result.trace.root,
      });
      await this.records.update(jobId, {
        status: "committed",
        finalHash: result.finalHash,
        traceRoot: result.trace.root,
        traceBlob: result.traceBlob,
      });
      publish({ step: spec.steps, status: "done" });
      this.#log(`job ${id}: committed, trace root ${short(result.trace.root)}`);
    } catch (error) {
      if (this.#abort.signal.aborted) return; // stopped: the record stays resumable
      await this.#giveBack(claimed, error, publish);
    }
  }

  /**
   * A claimed job this node cannot train: tells the watching submitter why (the error's code and
   * message on the progress stream), then releases the slot on-chain with the reason
   * (`job`: the job itself fails, `node`: this node cannot run it), so the submitter can cancel
   * and be refunded at once, or another provider takes the slot. Free within the market's release
   * grace after the claim; a slot already committed is never released.
   */
  async #giveBack(
    claimed: JobRecord,
    error: unknown,
    publish: (update: Omit<ProgressUpdate, "jobId">) => void,
  ): Promise<void> {
    const { jobId } = claimed;
    const id = short(jobId);
    const failure = describeFailure(error);
    publish({
      step: 0,
      status: "failed",
      code: failure.code,
      message: failure.message.slice(0, 1000),
    });
    this.#log(`job ${id}: failed (${failure.reason} fault): ${failure.code}: ${failure.message}`);
    let released = false;
    try {
      const { slashedWei } = await this.#options.chain.jobs.release({
        jobId: toBytes32(jobId),
        reason: failure.reason,
      });
      released = true;
      this.#log(
        `job ${id}: released its slot` +
          (slashedWei > 0n ? ` (late: ${slashedWei} wei slashed)` : ""),
      );
    } catch (releaseError) {
      // Committed already, or the deadline passed (the submitter's refund settles it then).
      this.#log(`job ${id}: could not release its slot: ${(releaseError as Error).message}`);
    }
    await this.records.update(jobId, {
      status: released ? "released" : "failed",
      error: `${failure.code}: ${failure.message}`,
    });
  }

  /** Takes part in a distributed job as worker `slot` (see `dist_run.ts`). */
  async #runDistributed(
    claimed: JobRecord,
    publish: (update: Omit<ProgressUpdate, "jobId">) => void,
  ): Promise<void> {
    const { jobId, spec, slot } = claimed;
    const dist = spec.distributed!;
    const id = short(jobId);
    const host = this.#options.wire.host;
    if (!host) {
      throw new SpecError(
        "SPEC_NO_HOST",
        "distributed jobs need a libp2p wire (createP2PWire); this node's wire has no host",
      );
    }
    if (claimed.status === "training") {
      // The other workers went on without this one: a distributed worker cannot rejoin mid-job,
      // but it commits the rounds it counted in before it stopped, the round in flight included
      // when the others counted its delta.
      const traceBlob = (claimed.pendingRound && await this.#completePending(claimed)) ??
        claimed.partialTrace;
      const partial = traceBlob ? await partialDistWork(this.store, traceBlob, slot) : undefined;
      if (!partial) {
        throw new SpecError(
          "SPEC_DIST_NO_RESUME",
          `job ${id} is distributed and this node stopped during it before it counted in a ` +
            "round; the round rule dropped it, so it leaves the job (its slot is refunded to the " +
            "submitter at the deadline)",
        );
      }
      await this.#options.chain.jobs.commitWork({
        jobId: toBytes32(jobId),
        finalStateHash: toBytes32(partial.finalHash),
        traceRoot: toBytes32(partial.traceRoot),
        units: partial.units,
      });
      await this.records.update(jobId, {
        status: "committed",
        finalHash: partial.finalHash,
        traceRoot: partial.traceRoot,
        traceBlob,
      });
      const reason = `this node stopped during the job; committed the ${partial.units} of ` +
        `${dist.rounds} rounds it counted in before it stopped`;
      publish({
        step: partial.units * dist.innerSteps,
        status: "done",
        trace: traceBlob,
        message: reason,
      });
      this.#log(`job ${id}: ${reason}`);
      return;
    }
    await this.records.update(jobId, { status: "training" });
    const { modelSpec, dataset } = await loadJobInputs({
      spec,
      store: this.store,
      datasets: this.#datasets,
    });
    this.#log(`job ${id}: distributed, worker ${slot} of ${dist.workers}`);
    const run = await runDistributedJob({
      spec,
      jobId,
      slot,
      chain: this.#options.chain,
      host,
      store: this.store,
      modelSpec,
      dataset,
      signal: this.#abort.signal,
      onTrace: (traceBlob) =>
        this.records.update(jobId, { partialTrace: traceBlob }).then(() => {}),
      onPending: (pendingRound) => this.records.update(jobId, { pendingRound }).then(() => {}),
      onRound: (r) => {
        publish({ step: (r.round + 1) * dist.innerSteps, loss: r.loss, status: "running" });
        this.#log(
          `job ${id}: round ${r.round} loss ${r.loss.toFixed(4)} counted [${r.counted}] ` +
            `outer ${short(r.outerHash)}`,
        );
      },
    });
    if (run.units === 0) {
      const reason = `${run.dropped}; it counted in no round, so it has no work to commit`;
      await this.records.update(jobId, {
        status: "failed",
        error: reason,
        traceBlob: run.traceBlob,
      });
      publish({ step: 0, status: "cancelled", message: reason.slice(0, 1000) });
      this.#log(`job ${id}: ${reason}`);
      return;
    }
    // Paid by the rounds it counted in: all of them when it finished, fewer when it was dropped.
    await this.#options.chain.jobs.commitWork({
      jobId: toBytes32(jobId),
      finalStateHash: toBytes32(run.finalHash),
      traceRoot: toBytes32(run.trace.root),
      units: run.units,
    });
    await this.records.update(jobId, {
      status: "committed",
      finalHash: run.finalHash,
      traceRoot: run.trace.root,
      traceBlob: run.traceBlob,
    });
    if (!run.finished) {
      const reason =
        `left the job (${run.dropped}); committed ${run.units} of ${dist.rounds} rounds`;
      publish({
        step: run.units * dist.innerSteps,
        status: "done",
        trace: run.traceBlob,
        message: reason.slice(0, 1000),
      });
      this.#log(`job ${id}: ${reason}`);
      return;
    }
    publish({ step: spec.steps, status: "done", trace: run.traceBlob });
    this.#log(`job ${id}: committed outer state ${short(run.finalHash)}`);
  }

  /**
   * After a restart, the round a distributed worker sent its delta for before it stopped: once the
   * other workers committed (they do at the job's end; waited for until shortly before the job's
   * deadline), their traces say whether the round counted this worker's delta. Returns the blob of
   * its trace extended by that round, or undefined (it commits the rounds it holds).
   */
  async #completePending(claimed: JobRecord): Promise<Hash | undefined> {
    const { jobId, slot } = claimed;
    const pending = claimed.pendingRound!;
    const dist = claimed.spec.distributed!;
    const chain = this.#options.chain;
    const signal = this.#abort.signal;
    const partial = claimed.partialTrace
      ? decodeDistTrace(await this.store.get(claimed.partialTrace))
      : undefined;
    if ((partial?.rounds.length ?? 0) !== pending.round) return undefined;
    const { deadline } = await chain.jobs.get(toBytes32(jobId));
    // The rounds left at most, each at most its timeout (and its training), then the commit.
    const waitUntil = Date.now() +
      (dist.rounds - pending.round + 1) * 2 * dist.roundTimeoutSec * 1000;
    this.#log(
      `job ${short(jobId)}: stopped after sending its delta of round ${pending.round}; waiting ` +
        "for the other workers' commits to see whether it counted",
    );
    let commits = await committedWorkers(chain, jobId);
    while (
      commits.filter((c) => c.slot !== slot).length < dist.workers - 1 && !signal.aborted &&
      Date.now() < waitUntil && await chainTime(chain) + PENDING_COMMIT_MARGIN_S < deadline
    ) {
      await sleep(PENDING_POLL_MS, signal);
      commits = await committedWorkers(chain, jobId);
    }
    const others = commits.filter((c) => c.slot !== slot);
    if (signal.aborted || others.length === 0) return undefined;
    // The co-workers it knew: a node that just restarted may have no route to them otherwise.
    for (const addr of pending.peers) {
      await this.#options.wire.connect([addr]).catch((error) =>
        this.#log(`job ${short(jobId)}: cannot reach ${addr}: ${(error as Error).message}`)
      );
    }
    const source = networkDistSource({
      chain,
      wire: this.#options.wire,
      store: this.store,
      jobId,
      commits: others,
      signal,
    });
    const done = await completePendingRound({
      store: this.store,
      jobId,
      slot,
      partial,
      pending,
      peers: await peerTraces(
        source,
        others,
        slot,
        (worker, reason) =>
          this.#log(`job ${short(jobId)}: no trace of worker ${worker}: ${reason}`),
      ),
      onSkip: (reason) =>
        this.#log(`job ${short(jobId)}: round ${pending.round} does not count: ${reason}`),
    });
    if (done) {
      this.#log(`job ${short(jobId)}: round ${pending.round} counted its delta: it commits it`);
    }
    return done?.traceBlob;
  }
  /**
   * Publishes a committed job's trace again after a restart (the progress stream lives in memory):
   * verifiers and the referee rebuild the trace from it while the challenge window is open, and a
   * provider that could not show it would lose an availability dispute it should win.
   */
  async #republish(record: JobRecord): Promise<void> {
    const { jobId, spec, traceBlob } = record;
    if (!traceBlob) return;
    const publish = (update: Omit<ProgressUpdate, "jobId">) =>
      this.#options.wire.publishProgress({ jobId, ...update });
    try {
      if (spec.distributed) {
        publish({ step: spec.steps, status: "done", trace: traceBlob });
      } else {
        const trace = await decodeTrace(await this.store.get(traceBlob));
        for (const { step, hash } of trace.checkpoints) {
          publish({ step, checkpoint: { step, hash }, status: "running" });
        }
        publish({ step: spec.steps, status: "done" });
      }
      this.#log(`job ${short(jobId)}: committed trace published again`);
    } catch (error) {
      this.#log(`job ${short(jobId)}: cannot publish its trace again: ${(error as Error).message}`);
    }
  }

  async #settleDue(): Promise<void> {
    if (this.#settling) return;
    this.#settling = true;
    const chain = this.#options.chain;
    // One line per round for every record that failed, so one bad record never holds up the rest.
    const failed: string[] = [];
    try {
      for (const record of await this.records.list()) {
        if (record.status !== "committed") continue;
        const id = short(record.jobId);
        try {
          const paid = await finalizeIfDue(chain, record);
          if (!paid) continue;
          await this.records.update(record.jobId, {
            status: "paid",
            paidWei: String(paid.paidWei),
          });
          this.#log(`job ${id}: paid ${paid.paidWei} wei (fee ${paid.feeWei})`);
        } catch (error) {
          try {
            // A record of an earlier chain fails here every round: set it aside, once. When the
            // chain cannot tell (the RPC is down), the failure is reported and tried next round.
            const stale = await staleReason(chain, record);
            if (!stale) throw error;
            const to = await this.records.setAside(record.jobId, stale);
            this.#log(`job ${id}: set aside to ${to}: ${stale}`);
          } catch (reported) {
            failed.push(`job ${id}: ${(reported as Error).message}`);
          }
        }
      }
    } catch (error) {
      failed.push((error as Error).message);
    } finally {
      this.#settling = false;
    }
    if (failed.length > 0) {
      this.#log(`settlement check failed, will retry: ${failed.join("; ")}`);
    }
  }
}

/** Why a claimed job failed, for the submitter: a code, a message and whose fault it is. */
export interface JobFailure {
  /** The error's code (`ToolkitError.code`), or `NODE_ERROR` for an untyped error. */
  readonly code: string;
  /** What went wrong. */
  readonly message: string;
  /**
   * `job`: the job itself cannot be trained as specified (bad spec or data, a loss that became
   * non-finite), so any provider would fail the same way; `node`: this node could not run it.
   */
  readonly reason: ReleaseReason;
}

/**
 * Codes of typed errors that a node, not the job, is to blame for (`SPEC_TOO_LARGE`: the job is
 * larger than this node's limits, not than every node's).
 */
/**
 * Seconds before a job's deadline that a restarted worker stops waiting for the other workers'
 * commits, to commit its own in time.
 */
const PENDING_COMMIT_MARGIN_S = 60n;
/** How often a restarted worker looks for the other workers' commits, ms. */
const PENDING_POLL_MS = 2_000;

const NODE_FAULT_CODES = new Set(["SPEC_DIST_NO_RESUME", "SPEC_NO_HOST", "SPEC_TOO_LARGE"]);

/**
 * Classifies a training failure: spec, dataset and training errors are the job's fault (the same
 * on every provider, since training is deterministic); anything else is the node's.
 *
 * @example
 * ```ts
 * import { describeFailure } from "./provider.ts";
 * import { DatasetError, SpecError, ToolkitError, TrainingError } from "../core/errors.ts";
 * describeFailure(new SpecError("SPEC_LABEL_RANGE", "labels exceed the outputs")).reason; // "job"
 * ```
 */
export function describeFailure(error: unknown): JobFailure {
  const message = error instanceof Error ? error.message : String(error);
  if (!(error instanceof ToolkitError)) return { code: "NODE_ERROR", message, reason: "node" };
  const job = !NODE_FAULT_CODES.has(error.code) &&
    (error instanceof SpecError || error instanceof DatasetError ||
      (error instanceof TrainingError && error.code === "TRAINING_NON_FINITE_LOSS"));
  return { code: error.code, message, reason: job ? "job" : "node" };
}

function short(hash: string): string {
  return hash.slice(0, 10);
}
