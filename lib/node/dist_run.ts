/**
 * A provider's part in a distributed (DiLoCo) job: it is worker `slot` of the job. The shell
 * around `lib/diloco`'s {@link DistWorker}, on the provider node's own libp2p host.
 *
 * 1. Roster: wait until every slot of the job is claimed on-chain; each slot's provider's bound
 *    peer id (`Staking.peerOf`) is who that worker is. Addresses come from `hello` messages on the
 *    job's gossip topic (`dist_topic.ts`); only addresses ending in the bound peer id are used,
 *    and the Noise handshake proves the peer behind them, so nobody can stand in for a worker.
 * 2. Rounds: train `innerSteps` on the shards the round rule assigns (every segment's start and
 *    end state stored as blobs, so verifiers fetch and replay them), send the compressed delta to
 *    the other members, collect theirs, exchange receipt sets and agree on who counted
 *    (`lib/diloco/membership.ts`), apply the round rule and the outer Nesterov step, store the new
 *    outer state as a blob, and publish the round's report on the topic.
 * 3. Trace: the worker's rounds (members, counted, the agreed delta hashes, segments, outer hash
 *    after) as canonical records; the Merkle root over `[initial outer hash, round records...]` is
 *    the trace root the provider commits, next to the final outer-state hash. The provider
 *    publishes the trace's blob id on its progress stream after the commit.
 *
 * Work: a worker's units are the rounds it counted in. A worker the round rule drops (its delta
 * was not agreed or was rejected), or one cut off from most of the job (no quorum of receipt
 * sets), stops and commits its partial work: the outer hash after its last round, its trace root
 * and its units (`JobMarket.commitWork`), and is paid that fraction of its share. The units are
 * checkable: verifiers audit the trace against the round rule and the other workers' traces, and
 * re-execute sampled rounds (`dist_audit.ts`); a wrong round or units claim is disputed in the
 * dispute game's work disputes.
 *
 * @module
 */

import type { ProtocolClient } from "../chain/mod.ts";
import { contentId, decodeCanonical, encodeCanonical } from "../core/canonical.ts";
import { PeerError, SpecError, VerificationError } from "../core/errors.ts";
import type { Hash } from "../core/hash.ts";
import { sleep } from "../core/sleep.ts";
import type { Dataset } from "../exec/dataset.ts";
import type { ModelSpec } from "../exec/model.ts";
import { activateProfile } from "../exec/profile.ts";
import type { P2PHost } from "../p2p/host.ts";
import { array, hash, literal, object, uint } from "../p2p/schema.ts";
import type { JobSpec } from "../proof/job.ts";
import { merkleRoot } from "../proof/merkle.ts";
import type { BlobStore } from "../proof/store.ts";
import { nextMembers } from "../diloco/membership.ts";
import { commitOuterState, encodeOuterState } from "../diloco/outer.ts";
import { DIST_PROTOCOL, DistWorker, type RosterEntry } from "../diloco/worker.ts";
import { type DistRoundMessage, type DistTopic, joinDistTopic } from "./dist_topic.ts";
import { peerIdOfAccount } from "./p2p_wire.ts";
import { toBytes32 } from "./settlement.ts";

/** Format tag of a worker's distributed trace. */
export const DIST_TRACE_FORMAT = "dist-trace/2";

/** One round of a worker's distributed trace. */
export interface DistTraceRound {
  /** Round index. */
  readonly round: number;
  /** Members at the start of the round. */
  readonly members: readonly number[];
  /** Workers whose delta counted. */
  readonly counted: readonly number[];
  /** The agreed delta hash (`deltaHash`) of each counted worker, in `counted` order. */
  readonly deltas: readonly Hash[];
  /** This worker's inner segments of the round. */
  readonly segments: readonly {
    readonly shard: number;
    readonly steps: number;
    readonly startHash: Hash;
    readonly endHash: Hash;
  }[];
  /** The outer-state hash after the round. */
  readonly outerHash: Hash;
}

/**
 * A round this worker sent its delta for, kept until it sees the round agreed: what the round's
 * trace record needs besides the agreement. A worker that stops in between completes the round
 * from the other workers' traces after a restart ({@link completePendingRound}), so a round its
 * delta counted in is not lost to it.
 */
export interface PendingDistRound {
  /** Hash of the outer state before round 0. */
  readonly initialOuter: Hash;
  /** The round. */
  readonly round: number;
  /** Its members, as this worker trained for them. */
  readonly members: readonly number[];
  /** This worker's inner segments of the round. */
  readonly segments: DistTraceRound["segments"];
  /** Where the other workers listened (multiaddrs), to fetch their traces after a restart. */
  readonly peers: readonly string[];
}

/** A worker's distributed trace: what it commits the root of. */
export interface DistTrace {
  /** Always {@link DIST_TRACE_FORMAT}. */
  readonly format: typeof DIST_TRACE_FORMAT;
  /** The job. */
  readonly jobId: Hash;
  /** The worker (its slot). */
  readonly worker: number;
  /** Hash of the outer state before round 0. */
  readonly initialOuter: Hash;
  /** Rounds the worker took part in. */
  readonly rounds: readonly DistTraceRound[];
  /** Merkle root over `[initialOuter, contentId(round)...]`. */
  readonly root: Hash;
}

/**
 * The Merkle root of a distributed trace: leaves are the initial outer hash, then the content id
 * of each round record in order.
 */
export async function distTraceRoot(
  initialOuter: Hash,
  rounds: readonly DistTraceRound[],
): Promise<Hash> {
  const leaves = [initialOuter];
  for (const r of rounds) leaves.push(await contentId(r));
  return merkleRoot(leaves);
}

/** Options of {@link runDistributedJob}. */
export interface DistributedRunOptions {
  /** The job (with `distributed`). */
  spec: JobSpec;
  /** Its id. */
  jobId: Hash;
  /** This provider's slot: its worker index. */
  slot: number;
  /** The provider's chain client. */
  chain: ProtocolClient;
  /** The provider node's libp2p host. */
  host: P2PHost;
  /** Receives segment states, outer states and the trace. */
  store: BlobStore;
  /** The decoded model spec. */
  modelSpec: ModelSpec;
  /** The decoded dataset. */
  dataset: Dataset;
  /** Stops the worker between phases. */
  signal?: AbortSignal;
  /** Called after every round with this worker's report. */
  onRound?: (report: DistRoundMessage) => void;
  /**
   * Called each round between training and sending, with the worker (tests use it to send a
   * malformed delta through {@link DistWorker.tamper}).
   */
  beforeSend?: (worker: DistWorker, round: number) => Promise<void>;
  /**
   * Called after every round with the blob id of the worker's trace so far (stored), so a node
   * that stops mid-job can still commit the rounds it counted in.
   */
  onTrace?: (traceBlob: Hash) => Promise<void>;
  /**
   * Called every round before this worker's delta leaves, with the round as it will be recorded
   * (see {@link PendingDistRound}); kept, it lets a node that stops before the round is agreed
   * count the round after a restart.
   */
  onPending?: (pending: PendingDistRound) => Promise<void>;
  /** How long to wait for every slot to be claimed and every worker to say hello. Default 120 s. */
  rosterTimeoutMs?: number;
}

/** What a worker's run yields. */
export interface DistributedRunResult {
  /** Whether the worker counted in every round. */
  readonly finished: boolean;
  /** Rounds the worker counted in: the work units it commits. */
  readonly units: number;
  /** Why the worker left early (absent when finished). */
  readonly dropped?: string;
  /** Hash of the outer state after the last round the worker took part in. */
  readonly finalHash: Hash;
  /** The worker's trace. */
  readonly trace: DistTrace;
  /** Blob id of the encoded trace. */
  readonly traceBlob: Hash;
  /** The worker's round reports. */
  readonly rounds: readonly DistRoundMessage[];
}

/**
 * Runs this provider's worker of a distributed job to the end (or until the round rule drops it
 * or it is cut off from most of the job).
 *
 * @example
 * ```ts ignore
 * const run = await runDistributedJob({ spec, jobId, slot, chain, host, store, modelSpec, dataset });
 * if (run.units > 0) {
 *   await chain.jobs.commitWork({ jobId, finalStateHash, traceRoot, units: run.units });
 * }
 * ```
 */
export async function runDistributedJob(
  options: DistributedRunOptions,
): Promise<DistributedRunResult> {
  const { spec, jobId, slot, host, store, signal } = options;
  const dist = spec.distributed;
  if (!dist) {
    throw new SpecError("SPEC_NOT_DISTRIBUTED", `job ${jobId.slice(0, 10)} is not distributed`);
  }
  const rosterTimeoutMs = options.rosterTimeoutMs ?? 120_000;
  const peers = await claimedPeers(options, rosterTimeoutMs);
  await activateSerially(spec.profile);
  const topic = joinDistTopic(host, jobId);
  let worker: DistWorker | undefined;
  let helloTimer: ReturnType<typeof setInterval> | undefined;
  try {
    worker = await DistWorker.start({
      id: slot,
      spec: options.modelSpec,
      dataset: options.dataset,
      shards: dist.workers,
      batchSize: spec.batchSize,
      innerSteps: dist.innerSteps,
      dataSeed: spec.dataSeed,
      profile: spec.profile,
      compression: {
        encoding: dist.encoding,
        ...(dist.blockSize === undefined ? {} : { blockSize: dist.blockSize }),
      },
      host,
      protocol: `${DIST_PROTOCOL}/${jobId}`,
      store,
    });
    // Inbound deltas are matched to workers by peer id from the start: a faster worker may send
    // before this one has heard its hello.
    worker.setRoster(new Map([...peers].map(([s, peerId]) => [s, { peerId, addr: peerId }])));
    // The handler is up: say hello (again and again: gossip before the mesh forms is lost, and a
    // worker that starts later needs it too) until the job ends.
    const roster = await gatherRoster(topic, host, slot, peers, rosterTimeoutMs, signal, (t) => {
      helloTimer = t;
    });
    worker.setRoster(roster);
    const initialOuter = await commitOuterState(worker.outer);
    await store.put(encodeOuterState(worker.outer));
    const rounds: DistTraceRound[] = [];
    const reports: DistRoundMessage[] = [];
    let members = [...roster.keys()].sort((a, b) => a - b);
    let dropped: string | undefined;
    for (let round = 0; round < dist.rounds; round++) {
      signal?.throwIfAborted();
      const sentBefore = worker.bytesSent;
      const segments = await worker.train(members);
      const traced = segments.map((s) => ({
        shard: s.shard,
        steps: s.steps,
        startHash: s.startHash,
        endHash: s.endHash,
      }));
      signal?.throwIfAborted();
      await options.beforeSend?.(worker, round);
      await options.onPending?.({
        initialOuter,
        round,
        members,
        segments: traced,
        peers: [...roster].filter(([s]) => s !== slot).map(([, entry]) => entry.addr),
      });
      await worker.send(members);
      await worker.collect(members, dist.roundTimeoutSec * 1000);
      await worker.exchange(members, dist.roundTimeoutSec * 1000);
      signal?.throwIfAborted();
      let decision: Awaited<ReturnType<DistWorker["aggregate"]>>;
      try {
        decision = await worker.aggregate(members);
      } catch (error) {
        // Cut off from the job (no quorum, or an agreed delta nobody served): this worker cannot
        // compute the round's outer state, so its work ends with the last round it completed.
        if (!(error instanceof PeerError)) throw error;
        dropped = `round ${round}: ${error.message}`;
        break;
      }
      await store.put(encodeOuterState(worker.outer));
      const steps = segments.reduce((a, s) => a + s.steps, 0);
      const report: DistRoundMessage = {
        t: "round",
        slot,
        round,
        members,
        counted: decision.counted,
        absent: decision.absent,
        rejected: decision.rejected.map((r) => r.worker),
        loss: segments.reduce((a, s) => a + s.loss * s.steps, 0) / Math.max(1, steps),
        bytesSent: worker.bytesSent - sentBefore,
        outerHash: decision.hash,
        segments: traced,
      };
      rounds.push({
        round,
        members,
        counted: decision.counted,
        deltas: decision.deltas,
        segments: report.segments,
        outerHash: decision.hash,
      });
      reports.push(report);
      await topic.publish(report).catch(() => {
        // Nobody subscribed right now; the report is also in the trace the worker commits.
      });
      // The trace so far is kept before the round is reported: a node that stops right after
      // can still commit the round.
      if (options.onTrace) {
        const partial = await storeDistTrace(store, { jobId, slot, initialOuter, rounds });
        await options.onTrace(partial.traceBlob);
      }
      options.onRound?.(report);
      if (!decision.counted.includes(slot)) {
        dropped = `round ${round}: the members did not count this worker's delta`;
        break;
      }
      members = nextMembers({ counted: decision.counted });
    }
    const { trace, traceBlob } = await storeDistTrace(store, { jobId, slot, initialOuter, rounds });
    return {
      finished: dropped === undefined,
      units: rounds.filter((r) => r.counted.includes(slot)).length,
      ...(dropped === undefined ? {} : { dropped }),
      finalHash: rounds.length > 0 ? rounds[rounds.length - 1].outerHash : initialOuter,
      trace,
      traceBlob,
      rounds: reports,
    };
  } finally {
    clearInterval(helloTimer);
    topic.close();
    await worker?.stop();
  }
}

const hashList = array(hash, 4096);
const roundSchema = object({
  round: uint(),
  members: array(uint(), 4096),
  counted: array(uint(), 4096),
  deltas: hashList,
  segments: array(
    object({ shard: uint(), steps: uint(), startHash: hash, endHash: hash }),
    4096,
  ),
  outerHash: hash,
});
const traceSchema = object({
  format: literal(DIST_TRACE_FORMAT),
  jobId: hash,
  worker: uint(),
  initialOuter: hash,
  rounds: array(roundSchema, 1 << 16),
  root: hash,
});

/**
 * Decodes a distributed trace blob. Throws `VerificationError` `VERIFY_BAD_TRACE` when the bytes
 * are not a `dist-trace/2` record.
 *
 * @example
 * ```ts ignore
 * const trace = decodeDistTrace(await store.get(traceBlob));
 * console.log(trace.worker, trace.rounds.length);
 * ```
 */
export function decodeDistTrace(bytes: Uint8Array): DistTrace {
  try {
    return traceSchema(decodeCanonical(bytes), "trace") as DistTrace;
  } catch (error) {
    throw new VerificationError(
      "VERIFY_BAD_TRACE",
      `not a ${DIST_TRACE_FORMAT} trace: ${(error as Error).message}`,
      { value: (error as Error).message },
    );
  }
}

/** Builds a worker's trace over `rounds` and stores it; returns it and its blob id. */
async function storeDistTrace(
  store: BlobStore,
  parts: { jobId: Hash; slot: number; initialOuter: Hash; rounds: readonly DistTraceRound[] },
): Promise<{ trace: DistTrace; traceBlob: Hash }> {
  const rounds = [...parts.rounds];
  const trace: DistTrace = {
    format: DIST_TRACE_FORMAT,
    jobId: parts.jobId,
    worker: parts.slot,
    initialOuter: parts.initialOuter,
    rounds,
    root: await distTraceRoot(parts.initialOuter, rounds),
  };
  return { trace, traceBlob: await store.put(encodeCanonical(trace)) };
}

/**
 * What a worker that stopped mid-job can still commit: the rounds of its stored trace so far
 * (`onTrace`) that it counted in. Undefined when it counted in none.
 *
 * @example
 * ```ts ignore
 * const partial = await partialDistWork(store, record.partialTrace);
 * if (partial) await chain.jobs.commitWork({ jobId, ...partial });
 * ```
 */
export async function partialDistWork(
  store: BlobStore,
  traceBlob: Hash,
  slot: number,
): Promise<{ units: number; finalHash: Hash; traceRoot: Hash } | undefined> {
  const trace = decodeDistTrace(await store.get(traceBlob));
  if (trace.worker !== slot) return undefined;
  const units = trace.rounds.filter((r) => r.counted.includes(slot)).length;
  if (units === 0) return undefined;
  return { units, finalHash: trace.rounds.at(-1)!.outerHash, traceRoot: trace.root };
}

/**
 * Completes the round a worker sent its delta for but stopped before it saw agreed: from the
 * other workers' traces (committed, so their roots are on-chain), the round as they recorded it.
 * Returns the worker's trace extended by that round (stored) when every other trace that holds
 * the round agrees on it (members, counted workers, agreed deltas, outer hash) and on the round
 * before it, its members are those the worker trained for, and it counted the worker; undefined
 * otherwise (the worker then commits the rounds it holds).
 *
 * @example
 * ```ts ignore
 * const done = await completePendingRound({ store, jobId, slot, partial, pending, peers });
 * if (done) await chain.jobs.commitWork({ jobId, ...await partialDistWork(store, done.traceBlob, slot) });
 * ```
 */
export async function completePendingRound(options: {
  store: BlobStore;
  jobId: Hash;
  slot: number;
  /** The worker's trace so far, if it completed a round. */
  partial: DistTrace | undefined;
  pending: PendingDistRound;
  /** The other workers' traces, by slot. */
  peers: ReadonlyMap<number, DistTrace>;
  /** Told why the round is not completed, when it is not. */
  onSkip?: (reason: string) => void;
}): Promise<{ trace: DistTrace; traceBlob: Hash } | undefined> {
  const { slot, pending } = options;
  const skip = (reason: string) => {
    options.onSkip?.(reason);
    return undefined;
  };
  const held = options.partial?.rounds ?? [];
  if (pending.round !== held.length) {
    return skip(`the trace holds ${held.length} rounds, the pending one is round ${pending.round}`);
  }
  if (options.partial && options.partial.initialOuter !== pending.initialOuter) {
    return skip("the pending round is of another run (initial outer state)");
  }
  const before = held.at(-1)?.outerHash;
  const agreed = new Set<string>();
  let record: DistTraceRound | undefined;
  for (const [peer, trace] of options.peers) {
    if (peer === slot || trace.initialOuter !== pending.initialOuter) continue;
    const theirs = trace.rounds.find((r) => r.round === pending.round);
    if (!theirs) continue;
    const previous = trace.rounds.find((r) => r.round === pending.round - 1);
    if (before !== undefined && previous?.outerHash !== before) {
      return skip(`worker ${peer}'s round ${pending.round - 1} ended in another outer state`);
    }
    const { members, counted, deltas, outerHash } = theirs;
    agreed.add(JSON.stringify({ members, counted, deltas, outerHash }));
    record = theirs;
  }
  if (!record) return skip(`no other worker's trace (of ${options.peers.size}) holds the round`);
  if (agreed.size !== 1) return skip("the other workers' traces disagree on the round");
  if (record.members.join() !== pending.members.join()) {
    return skip(`the round's members were [${record.members}], not [${pending.members}]`);
  }
  if (!record.counted.includes(slot)) return skip("the round did not count this worker's delta");
  return await storeDistTrace(options.store, {
    jobId: options.jobId,
    slot,
    initialOuter: pending.initialOuter,
    rounds: [...held, {
      round: pending.round,
      members: record.members,
      counted: record.counted,
      deltas: record.deltas,
      segments: pending.segments,
      outerHash: record.outerHash,
    }],
  });
}

let activating: Promise<unknown> = Promise.resolve();

/**
 * Activates the job's profile one caller at a time: workers of several in-process providers
 * start together, and concurrent `tf.setBackend("wasm")` calls race (one of them reports failure).
 */
function activateSerially(profile: string): Promise<unknown> {
  const next = activating.then(() => activateProfile(profile));
  activating = next.catch(() => {
    // Reported to the caller that asked; the next one tries again.
  });
  return next;
}

/** Waits until every slot is claimed; returns each slot's bound peer id. */
async function claimedPeers(
  options: DistributedRunOptions,
  timeoutMs: number,
): Promise<Map<number, string>> {
  const { chain, jobId, signal } = options;
  const workers = options.spec.distributed!.workers;
  const deadline = Date.now() + timeoutMs;
  const peers = new Map<number, string>();
  while (peers.size < workers) {
    signal?.throwIfAborted();
    for (let s = 0; s < workers; s++) {
      if (peers.has(s)) continue;
      const view = await chain.jobs.slot({ jobId: toBytes32(jobId), slot: s });
      if (view.status !== "Open") peers.set(s, await peerIdOfAccount(chain, view.provider));
    }
    if (peers.size === workers) break;
    if (Date.now() > deadline) {
      throw new PeerError(
        "PEER_WORKERS_MISSING",
        `only ${peers.size} of ${workers} workers claimed job ${jobId.slice(0, 10)} within ` +
          `${timeoutMs / 1000} s; the job needs more providers running its profile`,
        { value: peers.size },
      );
    }
    await sleep(250, signal);
  }
  return peers;
}

/** Collects every worker's address from `hello` messages, saying hello until the job ends. */
async function gatherRoster(
  topic: DistTopic,
  host: P2PHost,
  slot: number,
  peers: ReadonlyMap<number, string>,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  keepTimer: (timer: ReturnType<typeof setInterval>) => void,
): Promise<Map<number, RosterEntry>> {
  const own = host.peerId.toString();
  const roster = new Map<number, RosterEntry>([[slot, {
    peerId: own,
    addr: host.multiaddrs()[0],
  }]]);
  let wake = (): void => {};
  topic.onMessage((from, message) => {
    if (message.t !== "hello" || peers.get(message.slot) !== from) return;
    const addr = message.addrs.find((a) => a.endsWith(`/p2p/${from}`));
    if (addr !== undefined && !roster.has(message.slot)) {
      roster.set(message.slot, { peerId: from, addr });
      wake();
    }
  });
  const hello = (): void => {
    topic.publish({ t: "hello", slot, addrs: host.multiaddrs().slice(0, 8) }).catch(() => {
      // No topic peer yet; the next hello goes out in a moment.
    });
  };
  hello();
  keepTimer(setInterval(hello, 500));
  const deadline = Date.now() + timeoutMs;
  while (roster.size < peers.size) {
    signal?.throwIfAborted();
    const left = deadline - Date.now();
    if (left <= 0) {
      const missing = [...peers.keys()].filter((s) => !roster.has(s));
      throw new PeerError(
        "PEER_WORKERS_UNREACHABLE",
        `workers ${missing.join(", ")} of the job never said hello on its topic within ` +
          `${timeoutMs / 1000} s; check that the providers reach the submitter's node`,
        { value: missing },
      );
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.min(left, 500));
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
  return roster;
}
