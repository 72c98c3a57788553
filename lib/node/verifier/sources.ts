/**
 * Where a verifier's audit reads from: the chain (the block after a commit, the draw of its
 * verifiers), the job's parties over the network (the spec, the provider's progress stream that
 * the trace is rebuilt from, checkpoints, the model and dataset, all hash-checked), and the
 * re-execution of one segment. A fault that is the provider's ends the audit `caught`, one that is
 * not ends it `unverifiable` (see {@link AuditStop}).
 *
 * @module
 */

import { PeerError, SpecError, VerificationError } from "../../core/errors.ts";
import type { Hash } from "../../core/hash.ts";
import { sleep } from "../../core/sleep.ts";
import { type Dataset, decodeDataset } from "../../exec/dataset.ts";
import { decodeModelSpec, type ModelSpec } from "../../exec/model.ts";
import type { Trainer } from "../../exec/trainer.ts";
import type { ProtocolClient } from "../../chain/mod.ts";
import { selectionSeed, selectVerifiers } from "../../proof/audit.ts";
import { decodeJobSpec, type JobSpec, planOfJob } from "../../proof/job.ts";
import { replaySegment, segmentRange, verifyInitialState } from "../../proof/replay.ts";
import type { BlobStore } from "../../proof/store.ts";
import { buildTrace, checkpointSteps, type Trace } from "../../proof/trace.ts";
import { trainerForJob } from "../executor.ts";
import { checkJobLimits, MAX_SPEC_BLOB_BYTES, type NodeLimits } from "../limits.ts";
import { peerIdOfAccount } from "../p2p_wire.ts";
import { specHashOfJob, toBytes32 } from "../settlement.ts";
import { fetchBlobRetrying, type NodeWire, peerMayServeLater } from "../wire.ts";
import {
  AuditStop,
  type AuditVerdict,
  type CommitSeen,
  type JobOfCommit,
  short,
  type VerifierSelection,
} from "./record.ts";

/**
 * Fetch attempts before a blob counts as withheld: with the doubling backoff from
 * {@link RETRY_MS}, a provider that restarts (its connections drop, then nothing listens for a few
 * seconds) is waited for about 15 s, well inside any challenge window.
 */
const FETCH_ATTEMPTS = 5;
/** First backoff between attempts, ms; it doubles each time. */
const RETRY_MS = 1_000;

/** What {@link AuditSources} reads with. */
export interface AuditSourcesOptions {
  /** The verifier's chain client. */
  chain: ProtocolClient;
  /** Its network. */
  wire: NodeWire;
  /** Where fetched blobs go. */
  store: BlobStore;
  /** The largest job it loads. */
  limits: NodeLimits;
  /** How long one fetch may take. */
  fetchTimeoutMs: number;
  /** Chain polling interval, ms. */
  pollMs: number;
  /** Mines a block when none follows a commit (devnets). */
  mine?: () => Promise<void>;
  /** Stops every wait and fetch. */
  signal: AbortSignal;
  /** Log sink. */
  log: (line: string) => void;
}

/** The reads of a verifier's audits; see the module doc. */
export class AuditSources {
  /** Blobs the verifier fetched (specs, data, checkpoints). */
  readonly store: BlobStore;
  readonly #chain: ProtocolClient;
  readonly #wire: NodeWire;
  readonly #limits: NodeLimits;
  readonly #fetchTimeoutMs: number;
  readonly #pollMs: number;
  readonly #mine: (() => Promise<void>) | undefined;
  readonly #signal: AbortSignal;
  readonly #log: (line: string) => void;
  /** Datasets decoded so far, by blob. */
  readonly #datasets = new Map<Hash, Dataset>();

  constructor(options: AuditSourcesOptions) {
    this.store = options.store;
    this.#chain = options.chain;
    this.#wire = options.wire;
    this.#limits = options.limits;
    this.#fetchTimeoutMs = options.fetchTimeoutMs;
    this.#pollMs = options.pollMs;
    this.#mine = options.mine;
    this.#signal = options.signal;
    this.#log = options.log;
  }

  /**
   * Before a committee ruling: the job's spec, model and dataset, from the submitter or the
   * disputed provider, into this verifier's store.
   */
  async prepareToRule(jobId: Hash, provider: string): Promise<void> {
    const chain = this.#chain;
    const onChain = await chain.jobs.get(toBytes32(jobId));
    const peers = await Promise.all(
      [onChain.submitter, provider].map((a) => peerIdOfAccount(chain, a).catch(() => undefined)),
    );
    try {
      const specHash = await specHashOfJob(chain, jobId);
      await this.fetchAny(specHash, peers, "the job spec");
      await this.inputsOf(decodeJobSpec(await this.store.get(specHash)), peers);
    } catch (error) {
      throw new VerificationError(
        "VERIFY_NOT_AUDITED",
        `cannot rule on job ${short(jobId)}: ${(error as Error).message}`,
        { value: jobId },
      );
    }
  }

  /**
   * The draw of a commit's verifiers: the registry as of the commit's block, less the job's
   * parties (its provider and its submitter never audit it, whatever they registered), ranked by
   * seed.
   */
  async drawOf(commit: CommitSeen, blockHash: string, count: number): Promise<VerifierSelection> {
    const chain = this.#chain;
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
  async blockHashAfter(commit: CommitSeen): Promise<Hash> {
    const chain = this.#chain;
    const pollMs = this.#pollMs;
    const target = commit.block + 1n;
    let waited = 0;
    while ((await chain.public.getBlockNumber()) < target) {
      if (this.#signal.aborted) throw new AuditStop("unverifiable", "verifier closed");
      if (this.#mine && waited >= pollMs * 5) {
        await this.#mine();
        waited = 0;
        continue;
      }
      await sleep(pollMs, this.#signal);
      waited += pollMs;
    }
    const block = await chain.public.getBlock({ blockNumber: target });
    return block.hash!;
  }

  /** The job spec (from the provider, else the submitter) and both parties' peers. */
  async jobOf(commit: CommitSeen): Promise<JobOfCommit> {
    const chain = this.#chain;
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
    await this.fetchAny(specHash, [providerPeer, submitterPeer], "the job spec");
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
  async traceOf(commit: CommitSeen, spec: JobSpec, providerPeer: string): Promise<Trace> {
    const wire = this.#wire;
    const timeoutMs = this.#fetchTimeoutMs;
    const hashes = new Map<number, Hash>();
    for (let attempt = 1;; attempt++) {
      const signal = AbortSignal.any([this.#signal, AbortSignal.timeout(timeoutMs)]);
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
        await sleep(RETRY_MS * 2 ** (attempt - 1), this.#signal);
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
  async trainerOf(spec: JobSpec, peers: (string | undefined)[]): Promise<Trainer> {
    const { modelSpec, dataset } = await this.inputsOf(spec, peers);
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
  async inputsOf(
    spec: JobSpec,
    peers: (string | undefined)[],
  ): Promise<{ modelSpec: ModelSpec; dataset: Dataset }> {
    const limits = this.#limits;
    this.withinLimits(spec);
    await this.fetchAny(spec.model, peers, "the model spec", MAX_SPEC_BLOB_BYTES);
    const modelSpec = await this.store.get(spec.model).then(decodeModelSpec).catch((error) => {
      throw new AuditStop("unverifiable", `cannot decode the job's model: ${error.message}`);
    });
    this.withinLimits(spec, modelSpec);
    const what = `the dataset (at most ${limits.maxDatasetBytes} bytes, limits.maxDatasetBytes)`;
    await this.fetchAny(spec.datasetBlob, peers, what, limits.maxDatasetBytes);
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
  withinLimits(spec: JobSpec, modelSpec?: ModelSpec): void {
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
  async checkSegment(
    trace: Trace,
    i: number,
    trainer: Trainer,
    providerPeer: string,
  ): Promise<AuditVerdict> {
    const range = segmentRange(trace, i);
    for (const ref of [trace.checkpoints[i]]) {
      if (await this.store.has(ref.hash)) continue;
      try {
        await this.fetch(providerPeer, ref.hash);
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

  /** Fetches a blob (of at most `maxBytes`) from the first peer that serves it. */
  async fetchAny(
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
        return await this.fetch(peer, hash, maxBytes);
      } catch (error) {
        errors.push((error as Error).message);
      }
    }
    throw new AuditStop("unverifiable", `cannot fetch ${what}: ${errors.join("; ")}`);
  }

  /** A hash-checked fetch, retried on transient network errors; fails with the last error. */
  async fetch(peer: string, hash: Hash, maxBytes?: number): Promise<void> {
    await fetchBlobRetrying(this.#wire, peer, hash, this.store, {
      timeoutMs: this.#fetchTimeoutMs,
      attempts: FETCH_ATTEMPTS,
      backoffMs: RETRY_MS,
      // A peer that stays silent is not waited for again: that would let a provider run out the
      // window by not answering.
      retryIf: (error) => peerMayServeLater(error, { silence: false }),
      signal: this.#signal,
      ...(maxBytes === undefined ? {} : { maxBytes }),
    });
  }
}
