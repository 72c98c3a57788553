/**
 * Audits of distributed (DiLoCo) work: what a verifier checks of one worker's commit, and what the
 * referee re-checks when that worker is disputed (a `Work` dispute names one round, or the trace).
 *
 * A worker commits the final outer-state hash, the Merkle root of its trace (`dist_run.ts`: the
 * initial outer hash, then one record per round: members, counted, the agreed delta hash of each
 * counted worker, its own inner segments, the outer hash after) and its work units (the rounds it
 * counted in). It publishes the trace's blob id on its progress stream after the commit.
 *
 * **The trace** ({@link DistAuditor.checkTrace}): the blob decodes, its root and final hash are the
 * committed ones, it starts from the spec's initial outer state, its rounds run from 0 with the
 * members the round rule gives (everyone in round 0, then the previous round's counted set), it
 * counts itself in every round but a last one it was dropped from, its units are those rounds,
 * and for every round a strict majority of the committed traces that have it do not agree on
 * another (counted, deltas, outer hash) than its record.
 *
 * **A round** ({@link DistAuditor.auditRound}): the worker's inner segments are the shards the
 * round rule assigns it, with the step split it gives; the first starts from the outer weights
 * before the round plus the worker's inner optimizer slots and step as its previous round left
 * them, at the data position `round * innerSteps * batchSize`; each re-executes bit for bit to its
 * end hash; its delta (the compressed pseudo-gradient from the outer weights to its last end
 * state) hashes to the agreed hash every member recorded; and the outer Nesterov step over the
 * counted workers' deltas (each derived the same way from that worker's committed end state)
 * gives the outer hash after the round. The audited worker must serve the outer state before the
 * round and its previous round's end state (withholding them is an availability fault); the other
 * workers' end states come from their own nodes, and when one is missing the outer step is left
 * unchecked for this worker (that worker's own audit answers for it).
 *
 * @module
 */

import { type ProtocolClient, readLogs } from "../chain/mod.ts";
import { jobMarketAbi } from "../chain/artifacts/JobMarket.ts";
import { canonicalJson } from "../core/canonical.ts";
import { PeerError, SpecError, VerificationError } from "../core/errors.ts";
import { type Hash, toBytes32 } from "../core/hash.ts";
import type { Dataset } from "../exec/dataset.ts";
import type { ModelSpec } from "../exec/model.ts";
import type { StateVariable, TrainingState } from "../exec/state.ts";
import { Trainer } from "../exec/trainer.ts";
import { commitState, decodeState } from "../proof/commitment.ts";
import type { JobSpec } from "../proof/job.ts";
import type { BlobStore } from "../proof/store.ts";
import { compressDelta, DEFAULT_INT8_BLOCK_SIZE } from "../diloco/compress.ts";
import {
  assignShards,
  deltaHash,
  type DeltaMessage,
  nextMembers,
  splitSteps,
  validateDelta,
} from "../diloco/membership.ts";
import {
  commitOuterState,
  DILOCO_OUTER,
  initialOuterState,
  outerFromTrainingState,
  type OuterState,
  pseudoGradient,
  verifyOuterStep,
} from "../diloco/outer.ts";
import { decodeDistTrace, type DistTrace, distTraceRoot, type DistTraceRound } from "./dist_run.ts";
import { peerIdOfAccount } from "./p2p_wire.ts";
import { fromBytes32 } from "./settlement.ts";
import { fetchBlobWithin, type NodeWire } from "./wire.ts";

/** What an audit found for one round of one worker. */
export type DistRoundVerdict =
  /** The worker's segments re-executed bit for bit and its delta is the agreed one. */
  | {
    readonly round: number;
    readonly status: "valid";
    /** Inner steps re-executed. */
    readonly steps: number;
    /** Whether the outer step was recomputed from every counted worker's delta. */
    readonly outerChecked: boolean;
    /** Why the outer step was not checked. */
    readonly note?: string;
  }
  /** The round does not hold up: the worker's fault. */
  | { readonly round: number; readonly status: "mismatch"; readonly reason: string }
  /** The worker did not serve a state the round needs (`hash`). */
  | {
    readonly round: number;
    readonly status: "withheld";
    readonly hash: Hash;
    readonly reason: string;
  };

/** A worker's commit as the job market recorded it. */
export interface DistCommit {
  /** The worker's slot. */
  readonly slot: number;
  /** Its account. */
  readonly provider: string;
  /** Committed final outer-state hash. */
  readonly finalHash: Hash;
  /** Committed trace root. */
  readonly traceRoot: Hash;
  /** Committed work units. */
  readonly units: number;
}

/** Where an audit gets what the workers serve. */
export interface DistAuditSource {
  /** Blob `hash` from worker `slot`'s node (hash-checked); rejects when it is not served. */
  blob(hash: Hash, slot: number): Promise<Uint8Array>;
  /**
   * Worker `slot`'s committed trace, checked against its commit; undefined when it has not
   * committed or does not serve it.
   */
  trace(slot: number): Promise<DistTrace | undefined>;
}

/**
 * Re-checks distributed workers' commits of one job: one trainer per data shard, built once.
 *
 * @example
 * ```ts ignore
 * const auditor = await DistAuditor.create({ spec, modelSpec, dataset });
 * try {
 *   const problem = await auditor.checkTrace(trace, commit, peers);
 *   const verdict = await auditor.auditRound(trace, 0, source);
 * } finally {
 *   auditor.dispose();
 * }
 * ```
 */
export class DistAuditor {
  readonly #spec: JobSpec;
  readonly #modelSpec: ModelSpec;
  readonly #dataset: Dataset;
  readonly #trainers = new Map<number, Trainer>();
  readonly #initial: OuterState;
  readonly #initialSlots: StateVariable[];
  readonly #nWeights: number;

  private constructor(
    inputs: { spec: JobSpec; modelSpec: ModelSpec; dataset: Dataset },
    base: Trainer,
  ) {
    this.#spec = inputs.spec;
    this.#modelSpec = inputs.modelSpec;
    this.#dataset = inputs.dataset;
    this.#trainers.set(0, base);
    const init = base.initialState();
    this.#nWeights = base.model.weights.length;
    this.#initial = initialOuterState(init.variables.slice(0, this.#nWeights));
    this.#initialSlots = init.variables.slice(this.#nWeights);
  }

  /** An auditor for a distributed job. Throws `SpecError` `SPEC_NOT_DISTRIBUTED` for a plain job. */
  static async create(
    inputs: { spec: JobSpec; modelSpec: ModelSpec; dataset: Dataset },
  ): Promise<DistAuditor> {
    if (!inputs.spec.distributed) {
      throw new SpecError("SPEC_NOT_DISTRIBUTED", "this job is not distributed; audit its trace");
    }
    const auditor = new DistAuditor(inputs, await createShardTrainer(inputs, 0));
    return auditor;
  }

  /** Hash of the outer state every worker must start from (the spec's seeded weights). */
  initialOuterHash(): Promise<Hash> {
    return commitOuterState(this.#initial);
  }

  /**
   * Checks a worker's trace against its commit, the round rule and the other workers' committed
   * traces (`peers`, by slot). Returns what is wrong, or undefined.
   */
  async checkTrace(
    trace: DistTrace,
    commit: DistCommit,
    peers: ReadonlyMap<number, DistTrace>,
  ): Promise<string | undefined> {
    const dist = this.#spec.distributed!;
    const slot = commit.slot;
    if (trace.worker !== slot) return `the trace is worker ${trace.worker}'s, not slot ${slot}'s`;
    const root = await distTraceRoot(trace.initialOuter, trace.rounds);
    if (root !== trace.root || root !== commit.traceRoot) {
      return `the trace's records hash to root ${short(root)}, the worker committed ` +
        short(commit.traceRoot);
    }
    const final = trace.rounds.at(-1)?.outerHash ?? trace.initialOuter;
    if (final !== commit.finalHash) {
      return `the trace ends at outer state ${short(final)}, the worker committed ` +
        short(commit.finalHash);
    }
    const initial = await this.initialOuterHash();
    if (trace.initialOuter !== initial) {
      return `the trace starts from outer state ${short(trace.initialOuter)}, not the spec's ` +
        short(initial);
    }
    if (trace.rounds.length > dist.rounds) {
      return `the trace has ${trace.rounds.length} rounds, the job ${dist.rounds}`;
    }
    let members = Array.from({ length: dist.workers }, (_, i) => i);
    for (const [i, r] of trace.rounds.entries()) {
      if (r.round !== i) return `record ${i} is of round ${r.round}`;
      if (canonicalJson(r.members) !== canonicalJson(members)) {
        return `round ${i} names members [${r.members}], the round rule gives [${members}]`;
      }
      if (!r.members.includes(slot)) return `round ${i} does not have the worker as a member`;
      if (r.counted.some((w) => !members.includes(w)) || !ascending(r.counted)) {
        return `round ${i} counts [${r.counted}], not an ascending subset of the members`;
      }
      if (r.deltas.length !== r.counted.length) {
        return `round ${i} names ${r.deltas.length} deltas for ${r.counted.length} counted workers`;
      }
      const last = i === trace.rounds.length - 1;
      if (!r.counted.includes(slot) && !last) {
        return `the worker went on after round ${i}, which did not count it`;
      }
      const majority = majorityRecord(i, trace, peers);
      if (majority && majority !== recordKey(r)) {
        return `its record of round ${i} (counted [${r.counted}], outer ${short(r.outerHash)}) ` +
          "disagrees with what most workers committed";
      }
      members = nextMembers({ counted: r.counted });
    }
    const units = trace.rounds.filter((r) => r.counted.includes(slot)).length;
    if (units !== commit.units) {
      return `the worker committed ${commit.units} work units, its trace counts it in ${units} rounds`;
    }
    return undefined;
  }

  /**
   * Re-executes round `round` of a worker's (already checked) trace: its inner segments, its delta
   * and, when every counted worker's end state is served, the outer step.
   */
  async auditRound(
    trace: DistTrace,
    round: number,
    source: DistAuditSource,
  ): Promise<DistRoundVerdict> {
    const rec = trace.rounds[round];
    if (!rec) {
      return { round, status: "mismatch", reason: `the trace has no round ${round}` };
    }
    const slot = trace.worker;
    const mismatch = (reason: string): DistRoundVerdict => ({ round, status: "mismatch", reason });
    // The outer state before the round, and the inner slots the worker's previous round left.
    const beforeHash = round === 0 ? trace.initialOuter : trace.rounds[round - 1].outerHash;
    const before = await this.#load(source, beforeHash, slot, "outer state", round);
    if ("status" in before) return before;
    const outer = outerFromTrainingState(before.state);
    if (outer.round !== round) {
      return mismatch(`the outer state before it is of round ${outer.round}`);
    }
    let slots = this.#initialSlots;
    let step = 0;
    const prior = trace.rounds.slice(0, round).findLast((r) => r.segments.length > 0);
    if (prior) {
      const end = prior.segments.at(-1)!.endHash;
      const loaded = await this.#load(source, end, slot, "previous end state", round);
      if ("status" in loaded) return loaded;
      slots = loaded.state.variables.slice(this.#nWeights);
      step = loaded.state.step;
    }
    // The segments: the shards and steps the round rule assigns, each re-executed.
    const dist = this.#spec.distributed!;
    const mine = assignShards({ shards: dist.workers, members: rec.members }).get(slot) ?? [];
    const split = splitSteps(dist.innerSteps, mine);
    const expected = mine.map((shard, i) => ({ shard, steps: split[i] })).filter((e) =>
      e.steps > 0
    );
    const got = rec.segments.map((g) => ({ shard: g.shard, steps: g.steps }));
    if (canonicalJson(got) !== canonicalJson(expected)) {
      return mismatch(
        `it trained ${describeSegments(got)}; the round rule assigns ${describeSegments(expected)}`,
      );
    }
    const cursor = round * dist.innerSteps * this.#spec.batchSize;
    let state: TrainingState = { step, cursor, variables: [...outer.weights, ...slots] };
    let steps = 0;
    for (const seg of rec.segments) {
      const start: TrainingState = { ...state, cursor };
      const startHash = await commitState(start);
      if (startHash !== seg.startHash) {
        return mismatch(
          `its segment on shard ${seg.shard} starts from ${short(seg.startHash)}, not from ` +
            `${short(startHash)} (the outer weights with its own inner state)`,
        );
      }
      const trainer = await this.#trainer(seg.shard);
      state = await trainer.run(start, seg.steps);
      steps += seg.steps;
      const endHash = await commitState(state);
      if (endHash !== seg.endHash) {
        return mismatch(
          `its segment on shard ${seg.shard} re-executes to ${short(endHash)}, it committed ` +
            short(seg.endHash),
        );
      }
    }
    // Its delta, then the outer step over every counted worker's delta.
    const deltas: Float32Array[] = [];
    let note: string | undefined;
    for (const [i, w] of rec.counted.entries()) {
      let message: DeltaMessage;
      if (w === slot) {
        message = this.#delta(outer, round, slot, state.variables);
      } else {
        const other = await this.#endOf(source, w, round, outer);
        if (typeof other === "string") {
          note ??= other;
          continue;
        }
        message = this.#delta(outer, round, w, other);
      }
      const hash = await deltaHash(message);
      if (hash !== rec.deltas[i]) {
        if (w === slot) {
          return mismatch(
            `its delta derives to ${short(hash)} from its end state; the members agreed on ` +
              `${short(rec.deltas[i])}: it sent something other than its training result`,
          );
        }
        note ??= `worker ${w}'s delta does not derive from its committed end state`;
        continue;
      }
      deltas.push(validateDelta(message, { round, count: this.#parameterCount(outer) }));
    }
    if (note === undefined) {
      try {
        await verifyOuterStep({
          before: outer,
          deltas,
          claimed: rec.outerHash,
          config: DILOCO_OUTER,
        });
      } catch (error) {
        if (!(error instanceof VerificationError)) throw error;
        return mismatch(error.message);
      }
    }
    return {
      round,
      status: "valid",
      steps,
      outerChecked: note === undefined,
      ...(note === undefined ? {} : { note }),
    };
  }

  /** Frees the trainers. */
  dispose(): void {
    for (const t of this.#trainers.values()) t.dispose();
    this.#trainers.clear();
  }

  #parameterCount(outer: OuterState): number {
    return outer.weights.reduce((n, v) => n + v.data.length, 0);
  }

  #delta(
    outer: OuterState,
    round: number,
    worker: number,
    variables: readonly StateVariable[],
  ): DeltaMessage {
    const dist = this.#spec.distributed!;
    const blockSize = dist.blockSize ?? DEFAULT_INT8_BLOCK_SIZE;
    return {
      round,
      worker,
      encoding: dist.encoding,
      ...(dist.encoding === "int8" ? { blockSize } : {}),
      payload: compressDelta(pseudoGradient(outer.weights, variables), {
        encoding: dist.encoding,
        blockSize,
      }),
    };
  }

  /** Worker `w`'s weights at the end of `round` (its committed end state), or why not. */
  async #endOf(
    source: DistAuditSource,
    w: number,
    round: number,
    outer: OuterState,
  ): Promise<readonly StateVariable[] | string> {
    const trace = await source.trace(w).catch(() => undefined);
    const rec = trace?.rounds[round];
    if (!rec) return `worker ${w}'s trace of round ${round} is not available`;
    const end = rec.segments.at(-1)?.endHash;
    if (!end) return outer.weights; // it trained nothing: its delta is zero
    try {
      return decodeState(await source.blob(end, w)).variables;
    } catch (error) {
      return `worker ${w}'s end state of round ${round} is not served: ${(error as Error).message}`;
    }
  }

  async #load(
    source: DistAuditSource,
    hash: Hash,
    slot: number,
    what: string,
    round: number,
  ): Promise<{ state: TrainingState } | DistRoundVerdict> {
    let bytes: Uint8Array;
    try {
      bytes = await source.blob(hash, slot);
    } catch (error) {
      return {
        round,
        status: "withheld",
        hash,
        reason: `its ${what} ${short(hash)}: ${(error as Error).message}`,
      };
    }
    try {
      return { state: decodeState(bytes) };
    } catch (error) {
      return { round, status: "mismatch", reason: `its ${what} does not decode: ${error}` };
    }
  }

  async #trainer(shard: number): Promise<Trainer> {
    let t = this.#trainers.get(shard);
    if (!t) {
      t = await createShardTrainer(
        { spec: this.#spec, modelSpec: this.#modelSpec, dataset: this.#dataset },
        shard,
      );
      this.#trainers.set(shard, t);
    }
    return t;
  }
}

/** The trainer of one data shard of a distributed job, as its workers build it. */
function createShardTrainer(
  inputs: { spec: JobSpec; modelSpec: ModelSpec; dataset: Dataset },
  shard: number,
): Promise<Trainer> {
  const { spec } = inputs;
  return Trainer.create({
    spec: inputs.modelSpec,
    dataset: inputs.dataset,
    batchSize: spec.batchSize,
    dataSeed: spec.dataSeed,
    shard: { index: shard, of: spec.distributed!.workers },
    profile: spec.profile,
  });
}

/**
 * The latest commit of every slot of a job (from `JobCommitted` events), with its work units.
 *
 * @example
 * ```ts ignore
 * for (const c of await committedWorkers(chain, jobId)) console.log(c.slot, c.units);
 * ```
 */
export async function committedWorkers(
  chain: ProtocolClient,
  jobId: Hash,
): Promise<DistCommit[]> {
  const logs = await readLogs({
    client: chain.public,
    address: chain.addresses.jobMarket,
    abi: jobMarketAbi,
    eventName: "JobCommitted",
    args: { jobId: toBytes32(jobId) },
  });
  // A slot committed again (after a reassignment) counts with its latest commit.
  const latest = new Map<number, (typeof logs)[number]["args"]>();
  for (const log of logs) latest.set(Number(log.args.slot), log.args);
  const out: DistCommit[] = [];
  for (const [slot, args] of [...latest].sort((a, b) => a[0] - b[0])) {
    const view = await chain.jobs.slot({ jobId: toBytes32(jobId), slot });
    out.push({
      slot,
      provider: args.provider,
      finalHash: fromBytes32(args.finalStateHash),
      traceRoot: fromBytes32(args.traceRoot),
      units: view.units,
    });
  }
  return out;
}

/** Options of {@link networkDistSource}. */
export interface NetworkDistSourceOptions {
  /** Any chain client (reads only). */
  chain: ProtocolClient;
  /** The node's network. */
  wire: NodeWire;
  /** Where fetched blobs go. */
  store: BlobStore;
  /** The job. */
  jobId: Hash;
  /** The job's commits (see {@link committedWorkers}). */
  commits: readonly DistCommit[];
  /** How long one fetch may take. Default 15000 ms. */
  fetchTimeoutMs?: number;
  /** Stops waiting for progress streams. */
  signal?: AbortSignal;
}

/**
 * A {@link DistAuditSource} over libp2p: blobs from each worker's node, traces by the blob id a
 * worker publishes on its progress stream, checked against its commit (cached per slot).
 *
 * @example
 * ```ts ignore
 * const source = networkDistSource({ chain, wire, store, jobId, commits });
 * const trace = await source.trace(0);
 * ```
 */
export function networkDistSource(options: NetworkDistSourceOptions): DistAuditSource & {
  /** Like `trace`, but rejects with why a trace is not available. */
  traceOrWhy(slot: number): Promise<DistTrace>;
} {
  const { chain, wire, store, jobId } = options;
  const timeoutMs = options.fetchTimeoutMs ?? 15_000;
  const peers = new Map<number, Promise<string>>();
  const traces = new Map<number, Promise<DistTrace>>();
  const peerOf = (slot: number): Promise<string> => {
    let p = peers.get(slot);
    if (!p) {
      const commit = options.commits.find((c) => c.slot === slot);
      p = commit
        ? peerIdOfAccount(chain, commit.provider)
        : Promise.reject(new PeerError("PEER_UNKNOWN", `slot ${slot} has not committed`));
      peers.set(slot, p);
    }
    return p;
  };
  const blob = async (hash: Hash, slot: number): Promise<Uint8Array> => {
    if (!await store.has(hash)) {
      await fetchBlobWithin(wire, await peerOf(slot), hash, store, timeoutMs);
    }
    return await store.get(hash);
  };
  const loadTrace = async (slot: number): Promise<DistTrace> => {
    const commit = options.commits.find((c) => c.slot === slot);
    if (!commit) throw new PeerError("PEER_UNKNOWN", `slot ${slot} has not committed`);
    const peer = await peerOf(slot);
    let id: Hash | undefined;
    const signal = AbortSignal.any([
      AbortSignal.timeout(timeoutMs),
      ...(options.signal ? [options.signal] : []),
    ]);
    try {
      for await (const update of wire.watchProgress(peer, jobId, signal)) {
        if (update.trace) id = update.trace;
      }
    } catch {
      // Judged by what arrived.
    }
    if (!id) {
      throw new VerificationError(
        "VERIFY_TRACE_WITHHELD",
        `worker ${slot} published no trace on its progress stream`,
      );
    }
    const trace = decodeDistTrace(await blob(id, slot));
    if (trace.root !== commit.traceRoot || trace.jobId !== jobId || trace.worker !== slot) {
      throw new VerificationError(
        "VERIFY_TRACE_MISMATCH",
        `worker ${slot}'s published trace has root ${short(trace.root)}, it committed ` +
          short(commit.traceRoot),
      );
    }
    return trace;
  };
  const traceOrWhy = (slot: number): Promise<DistTrace> => {
    let t = traces.get(slot);
    if (!t) {
      t = loadTrace(slot);
      traces.set(slot, t);
    }
    return t;
  };
  return {
    blob,
    traceOrWhy,
    trace: (slot) => traceOrWhy(slot).catch(() => undefined),
  };
}

/**
 * The other committed workers' traces that their nodes serve, by slot; `onMissing` is told why
 * one could not be had (when the source can say, as {@link networkDistSource} can).
 *
 * @example
 * ```ts ignore
 * const peers = await peerTraces(source, commits, 1);
 * const problem = await auditor.checkTrace(trace, commits[1], peers);
 * ```
 */
export async function peerTraces(
  source: DistAuditSource & { traceOrWhy?(slot: number): Promise<DistTrace> },
  commits: readonly DistCommit[],
  slot: number,
  onMissing?: (slot: number, reason: string) => void,
): Promise<Map<number, DistTrace>> {
  const out = new Map<number, DistTrace>();
  for (const c of commits) {
    if (c.slot === slot) continue;
    if (onMissing && source.traceOrWhy) {
      try {
        out.set(c.slot, await source.traceOrWhy(c.slot));
      } catch (error) {
        onMissing(c.slot, (error as Error).message);
      }
      continue;
    }
    const t = await source.trace(c.slot);
    if (t) out.set(c.slot, t);
  }
  return out;
}

function recordKey(r: DistTraceRound): string {
  return canonicalJson({ counted: r.counted, deltas: r.deltas, outerHash: r.outerHash });
}

/**
 * The record of round `i` that a strict majority of all traces having it (this one included)
 * share, when it differs from this trace's; undefined when there is no such majority.
 */
function majorityRecord(
  i: number,
  trace: DistTrace,
  peers: ReadonlyMap<number, DistTrace>,
): string | undefined {
  const keys = [trace, ...peers.values()]
    .map((t) => t.rounds[i])
    .filter((r): r is DistTraceRound => r !== undefined)
    .map(recordKey);
  const counts = new Map<string, number>();
  for (const k of keys) counts.set(k, (counts.get(k) ?? 0) + 1);
  for (const [k, n] of counts) if (n * 2 > keys.length) return k;
  return undefined;
}

function ascending(xs: readonly number[]): boolean {
  return xs.every((x, i) => i === 0 || xs[i - 1] < x);
}

function describeSegments(segs: readonly { shard: number; steps: number }[]): string {
  return segs.length === 0
    ? "nothing"
    : segs.map((g) => `${g.steps} steps on shard ${g.shard}`).join(", ");
}

function short(hash: string): string {
  return hash.slice(0, 10);
}
