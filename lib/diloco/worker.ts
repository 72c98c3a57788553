/**
 * A DiLoCo worker on libp2p: the thin network shell around the pure outer step (`outer.ts`),
 * compression (`compress.ts`) and round rule (`membership.ts`).
 *
 * Each {@link DistWorker} owns a libp2p host speaking {@link DIST_PROTOCOL}, one deterministic
 * `Trainer` per data shard it trains, and its own inner optimizer state (DiLoCo keeps inner Adam
 * moments per worker across rounds). A round is four phases, each a method:
 *
 * 1. `train`: from the outer weights, `innerSteps` steps over the worker's shards; every chunk is
 *    an auditable segment with start and end state commitments.
 * 2. `send`: the compressed pseudo-gradient to every other member (a header frame, then the raw
 *    payload; the receiver acknowledges once stored).
 * 3. `collect`: wait until every member's delta is in, the member disconnected, or the deadline.
 * 4. `exchange`: send the set of `(sender, delta hash)` this worker holds to every other member
 *    and wait for theirs, then echo every set it holds (the agreement step of `membership.ts`).
 * 5. `aggregate`: agree on the counted set from the receipt sets, fetch any agreed delta this
 *    worker lacks from a member that holds it (by hash), apply the round rule and the outer step,
 *    and commit the new outer state.
 *
 * `round.ts` drives W workers through these phases.
 *
 * @module
 */

import { PeerError, SpecError, VerificationError } from "../core/errors.ts";
import type { Hash } from "../core/hash.ts";
import type { Dataset } from "../exec/dataset.ts";
import type { ModelSpec } from "../exec/model.ts";
import type { TrainingState } from "../exec/state.ts";
import { Trainer } from "../exec/trainer.ts";
import { encodeMessage, FRAME_HEADER_BYTES } from "../p2p/codec.ts";
import { createHost, type P2PHost } from "../p2p/host.ts";
import { array, hash, literal, object, optional, str, uint, union } from "../p2p/schema.ts";
import type { FramedStream } from "../p2p/stream.ts";
import { commitState, decodeState, encodeState } from "../proof/commitment.ts";
import type { BlobStore } from "../proof/store.ts";
import {
  compressDelta,
  compressedSize,
  type CompressionOptions,
  DEFAULT_INT8_BLOCK_SIZE,
} from "./compress.ts";
import {
  type AgreedDelta,
  agreeRound,
  assignShards,
  decideRound,
  deltaHash,
  type DeltaMessage,
  type ReceiptSet,
  type RejectedDelta,
  splitSteps,
} from "./membership.ts";
import {
  aggregateDeltas,
  commitOuterState,
  DILOCO_OUTER,
  encodeOuterState,
  initialOuterState,
  outerFromTrainingState,
  type OuterOptimizerConfig,
  type OuterState,
  outerStep,
  parameterCount,
  pseudoGradient,
  skipOuterStep,
} from "./outer.ts";

/** The libp2p protocol of distributed training rounds. */
export const DIST_PROTOCOL = "/gensyn/dist/1.0.0";

const requestSchema = union({
  delta: object({
    t: literal("delta"),
    round: uint(),
    worker: uint(1 << 16),
    encoding: literal("fp32", "fp16", "int8"),
    blockSize: optional(uint(1 << 20)),
    bytes: uint(1 << 30),
  }),
  "state?": object({ t: literal("state?") }),
  seen: object({
    t: literal("seen"),
    round: uint(),
    deltas: array(object({ worker: uint(1 << 16), hash }), 1 << 10),
  }),
  "delta?": object({ t: literal("delta?"), round: uint(), worker: uint(1 << 16), hash }),
  echo: object({
    t: literal("echo"),
    round: uint(),
    sets: array(
      object({
        reporter: uint(1 << 16),
        deltas: array(object({ worker: uint(1 << 16), hash }), 1 << 10),
      }),
      1 << 10,
    ),
  }),
});

const ackSchema = union({
  ok: object({ t: literal("ok") }),
  state: object({ t: literal("state"), round: uint(), bytes: uint(1 << 30), hash }),
  held: object({
    t: literal("held"),
    encoding: literal("fp32", "fp16", "int8"),
    blockSize: optional(uint(1 << 20)),
    bytes: uint(1 << 30),
  }),
  err: object({ t: literal("err"), code: str(64), message: str(4096) }),
});

/** A received delta and its {@link deltaHash}. */
interface HeldDelta {
  readonly message: DeltaMessage;
  readonly hash: Hash;
}

/** One auditable inner segment: a worker's steps on one shard in one round. */
export interface InnerSegment {
  /** Round. */
  readonly round: number;
  /** Worker. */
  readonly worker: number;
  /** Data shard trained. */
  readonly shard: number;
  /** Inner steps in the segment. */
  readonly steps: number;
  /** Commitment of the inner state (weights, inner optimizer slots, step, cursor) at the start. */
  readonly startHash: Hash;
  /** Commitment of the inner state at the end. */
  readonly endHash: Hash;
  /** Mean training loss over the segment's steps. */
  readonly loss: number;
}

/** Options of {@link DistWorker.start}. */
export interface DistWorkerOptions {
  /** Worker index (also the home of data shard `id`). */
  id: number;
  /** Model and inner optimizer. */
  spec: ModelSpec;
  /** Training data, split into `shards` strided shards. */
  dataset: Dataset;
  /** Number of data shards of the job. */
  shards: number;
  /** Examples per inner step. */
  batchSize: number;
  /** Inner steps per round. */
  innerSteps: number;
  /** Seed of the data order. Default 0. */
  dataSeed?: number;
  /** Execution profile. Default the trainer's default. */
  profile?: string;
  /** Delta compression. Default int8 with blocks of {@link DEFAULT_INT8_BLOCK_SIZE}. */
  compression?: CompressionOptions;
  /** Outer optimizer. Default {@link DILOCO_OUTER}. */
  outer?: OuterOptimizerConfig;
  /** Multiaddrs to dial at start. */
  bootstrap?: string[];
  /**
   * Run on this libp2p host (a provider node's own) instead of starting one. A borrowed host is
   * not stopped by {@link DistWorker.stop}; only this worker's protocol handler is removed.
   */
  host?: P2PHost;
  /** Protocol id to speak (one per job on a shared host). Default {@link DIST_PROTOCOL}. */
  protocol?: string;
  /**
   * Store every inner segment's start and end state here (blob id = the state commitment), so
   * verifiers can fetch and replay the segments. Default: states are only committed.
   */
  store?: BlobStore;
  /** Receives every peer rejection (default: silent; rejections are reported in round reports). */
  onReject?: (code: string, reason: string) => void;
}

/** Where a worker is reached, for the roster every worker keeps. */
export interface RosterEntry {
  /** Peer id string. */
  readonly peerId: string;
  /** A dialable multiaddr ending in `/p2p/<peer id>`. */
  readonly addr: string;
}

/** One worker of a DiLoCo job: a libp2p host, its trainers, inner state and outer state. */
export class DistWorker {
  /** Worker index. */
  readonly id: number;
  /**
   * The libp2p host.
   *
   * @ignore
   */
  readonly host: P2PHost;
  /** The current outer state. */
  outer: OuterState;
  /** Bytes this worker sent (headers and payloads). */
  bytesSent = 0;
  readonly #options: DistWorkerOptions;
  readonly #trainers = new Map<number, Trainer>();
  readonly #inbox = new Map<number, Map<number, HeldDelta>>();
  readonly #receipts = new Map<number, Map<number, ReceiptSet>>();
  /** Per round: the receipt sets each member echoed (its snapshot after the exchange). */
  readonly #echoes = new Map<number, Map<number, Map<number, ReceiptSet>>>();
  readonly #gone = new Set<number>();
  #roster = new Map<number, RosterEntry>();
  #slots: TrainingState["variables"];
  #innerStep = 0;
  #delta: HeldDelta | undefined;
  #wake: () => void = () => {};
  #stopped = false;
  readonly #ownsHost: boolean;
  readonly #protocol: string;
  readonly #listeners: [string, (event: CustomEvent) => void][] = [];

  private constructor(options: DistWorkerOptions, host: P2PHost, base: Trainer) {
    this.id = options.id;
    this.host = host;
    this.#options = options;
    this.#ownsHost = options.host === undefined;
    this.#protocol = options.protocol ?? DIST_PROTOCOL;
    this.#trainers.set(options.id % options.shards, base);
    const init = base.initialState();
    const nWeights = base.model.weights.length;
    this.outer = initialOuterState(init.variables.slice(0, nWeights));
    this.#slots = init.variables.slice(nWeights);
  }

  /**
   * Starts a worker: its host (listening on loopback) and the trainer of its home shard. The outer
   * state starts at the spec's initial weights; a late joiner replaces it with {@link fetchOuter}.
   *
   * @example
   * ```ts ignore
   * const w = await DistWorker.start({ id: 0, spec, dataset, shards: 4, batchSize: 64, innerSteps: 50 });
   * ```
   */
  static async start(options: DistWorkerOptions): Promise<DistWorker> {
    if (!Number.isSafeInteger(options.innerSteps) || options.innerSteps < 1) {
      throw new SpecError(
        "SPEC_INVALID_STEPS",
        `innerSteps must be a positive integer, got ${options.innerSteps}`,
        { value: options.innerSteps },
      );
    }
    const base = await Trainer.create({
      spec: options.spec,
      dataset: options.dataset,
      batchSize: options.batchSize,
      dataSeed: options.dataSeed ?? 0,
      shard: { index: options.id % options.shards, of: options.shards },
      ...(options.profile ? { profile: options.profile } : {}),
    });
    let host: P2PHost | undefined = options.host;
    try {
      host ??= await createHost({
        bootstrap: options.bootstrap ?? [],
        onReject: (r) => options.onReject?.(r.code, `${r.peer} ${r.protocol}: ${r.reason}`),
      });
      const worker = new DistWorker(options, host, base);
      await worker.#serve();
      return worker;
    } catch (e) {
      if (!options.host) await host?.stop();
      base.dispose();
      throw e;
    }
  }

  /** Parameters in the model (the length of every delta). */
  get parameterCount(): number {
    return parameterCount(this.outer.weights);
  }

  /** Where this worker is reached. */
  get rosterEntry(): RosterEntry {
    return { peerId: this.host.peerId.toString(), addr: this.host.multiaddrs()[0] };
  }

  /** The inner optimizer step counter (it runs on across rounds, like DiLoCo's inner Adam). */
  get innerStep(): number {
    return this.#innerStep;
  }

  /** Sets who is who: worker index to peer. Deltas from peers not on it are refused. */
  setRoster(roster: ReadonlyMap<number, RosterEntry>): void {
    this.#roster = new Map(roster);
  }

  /** Replaces the outer state with the one a member serves (a late joiner's first act). */
  async fetchOuter(from: number): Promise<Hash> {
    const framed = await this.host.open(this.#addrOf(from), this.#protocol);
    try {
      await framed.write({ t: "state?" });
      const reply = await framed.readOne(ackSchema);
      if (reply.t !== "state") {
        throw new PeerError("PEER_MALFORMED", `worker ${from} refused the outer state`, {
          value: reply,
        });
      }
      const bytes = await readExactly(framed, reply.bytes);
      const outer = outerFromTrainingState(decodeState(bytes));
      const got = await commitOuterState(outer);
      if (got !== reply.hash) {
        throw new VerificationError(
          "VERIFY_OUTER_STATE_MISMATCH",
          `worker ${from} announced outer state ${reply.hash} but sent ${got}`,
          { value: got },
        );
      }
      this.outer = outer;
      return got;
    } finally {
      await framed.close().catch(() => {
        // The server may have closed first; nothing left to do.
      });
    }
  }

  /** Phase 1: `innerSteps` steps from the outer weights over this worker's shards. */
  async train(members: readonly number[]): Promise<InnerSegment[]> {
    const { shards, innerSteps, batchSize } = this.#options;
    const mine = assignShards({ shards, members }).get(this.id) ?? [];
    const split = splitSteps(innerSteps, mine);
    const round = this.outer.round;
    let state: TrainingState = {
      step: this.#innerStep,
      cursor: 0,
      variables: [...this.outer.weights, ...this.#slots],
    };
    const segments: InnerSegment[] = [];
    for (const [i, shard] of mine.entries()) {
      if (split[i] === 0) continue;
      const trainer = await this.#trainerFor(shard);
      // The data position is a function of (round, shard) only, so a shard's new owner after a
      // reassignment knows where to read without any handover.
      const start: TrainingState = { ...state, cursor: round * innerSteps * batchSize };
      const startHash = await this.#commit(start);
      let lossSum = 0;
      state = await trainer.run(start, split[i], { onStep: (s) => lossSum += s.loss });
      segments.push({
        round,
        worker: this.id,
        shard,
        steps: split[i],
        startHash,
        endHash: await this.#commit(state),
        loss: lossSum / split[i],
      });
    }
    const nWeights = this.outer.weights.length;
    this.#slots = state.variables.slice(nWeights).map((v) => ({ ...v, data: v.data.slice() }));
    this.#innerStep = state.step;
    const delta = pseudoGradient(this.outer.weights, state.variables);
    const compression = this.#compression;
    const message: DeltaMessage = {
      round,
      worker: this.id,
      encoding: compression.encoding,
      ...(compression.encoding === "int8" ? { blockSize: compression.blockSize } : {}),
      payload: compressDelta(delta, compression),
    };
    this.#delta = { message, hash: await deltaHash(message) };
    return segments;
  }

  /**
   * Replaces this round's outgoing payload (tests use it to send a malformed delta). The worker
   * counts exactly what it sends, so it judges its own delta as the others do.
   */
  async tamper(change: (payload: Uint8Array) => Uint8Array): Promise<void> {
    if (!this.#delta) throw new SpecError("SPEC_NO_DELTA", "train before tampering");
    const message = { ...this.#delta.message, payload: change(this.#delta.message.payload) };
    this.#delta = { message, hash: await deltaHash(message) };
  }

  /**
   * Phase 2: sends this round's delta to every other member (or only to `options.to`: tests
   * model a sender that fails halfway with it); resolves when all acknowledged.
   */
  async send(
    members: readonly number[],
    options: { to?: readonly number[] } = {},
  ): Promise<void> {
    const held = this.#delta;
    if (!held) throw new SpecError("SPEC_NO_DELTA", "call train() before send()");
    const delta = held.message;
    this.#store(held, this.id);
    const to = options.to ?? members;
    const header = {
      t: "delta",
      round: delta.round,
      worker: delta.worker,
      encoding: delta.encoding,
      ...(delta.blockSize === undefined ? {} : { blockSize: delta.blockSize }),
      bytes: delta.payload.length,
    };
    const headerBytes = FRAME_HEADER_BYTES + encodeMessage(header).length;
    await Promise.all(
      members.filter((m) => m !== this.id && to.includes(m)).map(async (m) => {
        let framed: FramedStream;
        try {
          framed = await this.host.open(this.#addrOf(m), this.#protocol);
        } catch (e) {
          // A member that left cannot be reached; the round rule counts it as absent.
          this.#options.onReject?.((e as PeerError).code ?? "PEER_UNREACHABLE", String(e));
          return;
        }
        try {
          await framed.write(header);
          await framed.writeBytes(delta.payload);
          this.bytesSent += headerBytes + delta.payload.length;
          const ack = await framed.readOne(ackSchema);
          if (ack.t === "err") this.#options.onReject?.(ack.code, `worker ${m}: ${ack.message}`);
        } catch (e) {
          // Same: a member gone mid-transfer is absent by the rule, not a failure of this worker.
          this.#options.onReject?.((e as PeerError).code ?? "PEER_STREAM_RESET", String(e));
        } finally {
          await framed.close().catch(() => {
            // Already reset by the remote; nothing to close.
          });
        }
      }),
    );
  }

  /**
   * Phase 3: waits until every member's delta for the current round is in, or the member
   * disconnected, or `timeoutMs` passed.
   */
  async collect(members: readonly number[], timeoutMs: number): Promise<void> {
    const round = this.outer.round;
    await this.#waitFor(
      () => members.filter((m) => !this.#inbox.get(round)?.has(m) && !this.#gone.has(m)),
      timeoutMs,
    );
  }

  /** Waits until `pending()` is empty, the worker stops, or `timeoutMs` passed. */
  async #waitFor(pending: () => number[], timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (pending().length > 0 && !this.#stopped) {
      const left = deadline - Date.now();
      if (left <= 0) return;
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
  }

  /** Opens the job's protocol to a member, writes `request`, and hands the stream to `reply`. */
  async #request<T>(
    worker: number,
    request: Record<string, unknown>,
    reply: (framed: FramedStream) => Promise<T>,
  ): Promise<T> {
    const framed = await this.host.open(this.#addrOf(worker), this.#protocol);
    try {
      await framed.write(request);
      return await reply(framed);
    } finally {
      await framed.close().catch(() => {
        // Already reset by the remote; nothing to close.
      });
    }
  }

  /** Fetches an agreed delta from the members that hold it, ascending, checking its hash. */
  async #fetchDelta(agreed: AgreedDelta): Promise<DeltaMessage> {
    const round = this.outer.round;
    const maxBytes = compressedSize(this.parameterCount, { encoding: "fp32" });
    const failures: string[] = [];
    for (const holder of agreed.holders) {
      if (holder === this.id) continue;
      try {
        const message = await this.#request(
          holder,
          { t: "delta?", round, worker: agreed.worker, hash: agreed.hash },
          async (framed) => {
            const reply = await framed.readOne(ackSchema);
            if (reply.t !== "held") {
              throw new PeerError(
                "PEER_DELTA_UNAVAILABLE",
                reply.t === "err" ? reply.message : `unexpected ${reply.t}`,
              );
            }
            if (reply.bytes > maxBytes) {
              throw new PeerError(
                "PEER_OVERSIZED",
                `${reply.bytes} bytes is more than any encoding`,
              );
            }
            return {
              round,
              worker: agreed.worker,
              encoding: reply.encoding,
              ...(reply.blockSize === undefined ? {} : { blockSize: reply.blockSize }),
              payload: await readExactly(framed, reply.bytes),
            } satisfies DeltaMessage;
          },
        );
        if ((await deltaHash(message)) !== agreed.hash) {
          throw new PeerError(
            "PEER_WRONG_DELTA",
            `worker ${holder} served a delta of worker ${agreed.worker} that does not hash to ` +
              agreed.hash,
          );
        }
        this.#store({ message, hash: agreed.hash }, agreed.worker, true);
        return message;
      } catch (e) {
        failures.push(`worker ${holder}: ${(e as Error).message}`);
        this.#options.onReject?.((e as PeerError).code ?? "PEER_UNREACHABLE", String(e));
      }
    }
    throw new PeerError(
      "PEER_DELTA_UNAVAILABLE",
      `round ${round}: the members agreed on worker ${agreed.worker}'s delta ` +
        `${agreed.hash.slice(0, 10)} but no holder served it (${failures.join("; ")}); this ` +
        "worker cannot compute the outer step and leaves the job",
      { value: agreed.worker },
    );
  }

  /**
   * Phase 4, the agreement step: sends the set of deltas this worker holds for the round (sender
   * and hash) to every other member, then waits until every member still connected sent its set,
   * or `timeoutMs` passed. The set is a snapshot: deltas arriving later do not change it.
   *
   * Then the echo: this worker sends every receipt set it holds (its snapshot) to the other
   * members and waits for the echoes of the members whose sets it holds. The agreement uses the
   * union of all snapshots, so a member that failed halfway through sending its set (it reached
   * some members, not others) is seen alike by everyone: one failure during the exchange cannot
   * split the members. A reporter whose set arrives in two versions is left out, alike too.
   *
   * `to` (tests) sends this worker's set to those members only, and then neither waits nor echoes
   * (a member that fails halfway through the exchange).
   */
  async exchange(
    members: readonly number[],
    timeoutMs: number,
    options: { to?: readonly number[] } = {},
  ): Promise<void> {
    const round = this.outer.round;
    const box = this.#inbox.get(round) ?? new Map<number, HeldDelta>();
    const mine = new Map<number, Hash>();
    for (const m of members) {
      const held = box.get(m);
      if (held) mine.set(m, held.hash);
    }
    this.#storeReceipts(round, this.id, mine);
    const request = {
      t: "seen" as const,
      round,
      deltas: [...mine].map(([worker, hash]) => ({ worker, hash })),
    };
    await this.#sendAll((options.to ?? members).filter((m) => m !== this.id), request);
    if (options.to) return;
    await this.#waitFor(
      () => members.filter((m) => !this.#receipts.get(round)?.has(m) && !this.#gone.has(m)),
      timeoutMs,
    );
    // The echo.
    const snapshot = new Map(this.#receipts.get(round) ?? []);
    this.#storeEcho(round, this.id, snapshot);
    await this.#sendAll(members.filter((m) => m !== this.id), {
      t: "echo" as const,
      round,
      sets: [...snapshot].map(([reporter, set]) => ({
        reporter,
        deltas: [...set].map(([worker, hash]) => ({ worker, hash })),
      })),
    });
    await this.#waitFor(
      () =>
        [...snapshot.keys()].filter((m) => !this.#echoes.get(round)?.has(m) && !this.#gone.has(m)),
      timeoutMs,
    );
  }

  /** Sends one request to each of `to` concurrently, counting the bytes of those delivered. */
  async #sendAll(to: readonly number[], request: Record<string, unknown>): Promise<void> {
    const bytes = FRAME_HEADER_BYTES + encodeMessage(request).length;
    await Promise.all(to.map(async (m) => {
      try {
        await this.#request(m, request, async (framed) => {
          const ack = await framed.readOne(ackSchema);
          if (ack.t === "err") this.#options.onReject?.(ack.code, `worker ${m}: ${ack.message}`);
        });
        this.bytesSent += bytes;
      } catch (e) {
        // A member that left cannot be reached; the agreement rule goes on without it.
        this.#options.onReject?.((e as PeerError).code ?? "PEER_UNREACHABLE", String(e));
      }
    }));
  }

  /**
   * The receipt sets the agreement uses: the union of every echoed snapshot; a reporter whose set
   * appears in two versions is left out.
   */
  #agreedReceipts(round: number): Map<number, ReceiptSet> {
    const versions = new Map<number, Map<string, ReceiptSet>>();
    const echoes = this.#echoes.get(round) ?? new Map([[this.id, this.#receipts.get(round)]]);
    for (const sets of echoes.values()) {
      for (const [reporter, set] of sets ?? []) {
        const key = [...set].sort((a, b) => a[0] - b[0]).map(([w, h]) => `${w}:${h}`).join();
        let v = versions.get(reporter);
        if (!v) versions.set(reporter, v = new Map());
        v.set(key, set);
      }
    }
    const out = new Map<number, ReceiptSet>();
    for (const [reporter, v] of versions) if (v.size === 1) out.set(reporter, [...v.values()][0]);
    return out;
  }

  /**
   * Phase 5: agrees on the counted set from the exchanged receipt sets, fetches any agreed delta
   * this worker lacks from a member that holds it, applies the round rule and the outer step;
   * returns the decision and the new hash. Throws `PeerError` (`PEER_NO_QUORUM`,
   * `PEER_DELTA_UNAVAILABLE`) when this worker cannot compute the round's outer step: it must
   * leave the job then.
   */
  async aggregate(members: readonly number[]): Promise<{
    counted: number[];
    /** The agreed {@link deltaHash} of each counted worker's delta, in `counted` order. */
    deltas: Hash[];
    absent: number[];
    rejected: RejectedDelta[];
    hash: Hash;
  }> {
    const round = this.outer.round;
    const agreement = agreeRound({
      round,
      members,
      receipts: this.#agreedReceipts(round),
    });
    const received = new Map<number, DeltaMessage>();
    for (const agreed of agreement.agreed) {
      const held = this.#inbox.get(round)?.get(agreed.worker);
      const message = held?.hash === agreed.hash ? held.message : await this.#fetchDelta(agreed);
      received.set(agreed.worker, message);
    }
    const decision = decideRound({ round, count: this.parameterCount, members, received });
    this.outer = decision.counted.length > 0
      ? outerStep(this.outer, aggregateDeltas(decision.deltas), this.#options.outer ?? DILOCO_OUTER)
      : skipOuterStep(this.outer);
    // This round's deltas stay one more round: a slower member may still fetch one from here.
    for (const r of [...this.#inbox.keys()]) if (r < round) this.#inbox.delete(r);
    for (const r of [...this.#receipts.keys()]) if (r <= round) this.#receipts.delete(r);
    for (const r of [...this.#echoes.keys()]) if (r <= round) this.#echoes.delete(r);
    this.#delta = undefined;
    const equivocated = new Set(agreement.equivocated);
    const agreedHash = new Map(agreement.agreed.map((a) => [a.worker, a.hash]));
    return {
      counted: [...decision.counted],
      deltas: decision.counted.map((w) => agreedHash.get(w)!),
      absent: decision.absent.filter((w) => !equivocated.has(w)),
      rejected: [
        ...decision.rejected,
        ...agreement.equivocated.map((worker) => ({
          worker,
          code: "PEER_EQUIVOCATION",
          reason: `worker ${worker} sent different deltas for round ${round} to different members`,
        })),
      ].sort((a, b) => a.worker - b.worker),
      hash: await commitOuterState(this.outer),
    };
  }

  /** The outer weights as a full training state this worker's trainers accept. */
  outerTrainingState(): TrainingState {
    return { step: 0, cursor: 0, variables: [...this.outer.weights, ...this.#slots] };
  }

  /** Stops the host (or, on a borrowed host, this worker's protocol) and frees the trainers. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#wake();
    if (this.#ownsHost) {
      await this.host.stop();
    } else {
      for (const [type, listener] of this.#listeners) {
        this.host.libp2p.removeEventListener(type as "peer:connect", listener as EventListener);
      }
      await this.host.libp2p.unhandle(this.#protocol).catch(() => {
        // The node's host stopped first (the node is shutting down): no handler is left.
      });
    }
    for (const t of this.#trainers.values()) t.dispose();
  }

  /** Commits a state; with a store, also keeps it as the blob named by the commitment. */
  async #commit(state: TrainingState): Promise<Hash> {
    const store = this.#options.store;
    if (!store) return commitState(state);
    return await store.put(encodeState(state));
  }

  /** Stops the worker at the end of an `await using` scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  get #compression(): CompressionOptions & { blockSize: number } {
    const c = this.#options.compression ?? { encoding: "int8" };
    return { encoding: c.encoding, blockSize: c.blockSize ?? DEFAULT_INT8_BLOCK_SIZE };
  }

  #addrOf(worker: number): string {
    const entry = this.#roster.get(worker);
    if (!entry) {
      throw new PeerError("PEER_UNKNOWN", `worker ${worker} is not on the roster`, {
        value: worker,
      });
    }
    return entry.addr;
  }

  #workerOf(peer: string): number | undefined {
    for (const [w, e] of this.#roster) if (e.peerId === peer) return w;
    return undefined;
  }

  /**
   * Keeps a delta received from `from` (first one wins: a peer cannot replace what it sent); a
   * delta fetched by an agreed hash replaces whatever was held.
   */
  #store(held: HeldDelta, from: number, agreed = false): void {
    const round = held.message.round;
    let box = this.#inbox.get(round);
    if (!box) this.#inbox.set(round, box = new Map());
    if (agreed || !box.has(from)) box.set(from, held);
    this.#wake();
  }

  /** Keeps a member's receipt set for a round (first one wins). */
  #storeEcho(round: number, from: number, sets: Map<number, ReceiptSet>): void {
    let box = this.#echoes.get(round);
    if (!box) this.#echoes.set(round, box = new Map());
    if (!box.has(from)) box.set(from, sets);
    this.#wake();
  }

  #storeReceipts(round: number, from: number, receipts: ReceiptSet): void {
    let box = this.#receipts.get(round);
    if (!box) this.#receipts.set(round, box = new Map());
    if (!box.has(from)) box.set(from, receipts);
    this.#wake();
  }

  async #trainerFor(shard: number): Promise<Trainer> {
    let t = this.#trainers.get(shard);
    if (!t) {
      const o = this.#options;
      t = await Trainer.create({
        spec: o.spec,
        dataset: o.dataset,
        batchSize: o.batchSize,
        dataSeed: o.dataSeed ?? 0,
        shard: { index: shard, of: o.shards },
        ...(o.profile ? { profile: o.profile } : {}),
      });
      this.#trainers.set(shard, t);
    }
    return t;
  }

  async #serve(): Promise<void> {
    // A member that reconnects (a transient drop) is waited for again.
    const onConnect = (event: CustomEvent): void => {
      const w = this.#workerOf(String(event.detail));
      if (w !== undefined) this.#gone.delete(w);
    };
    const onDisconnect = (event: CustomEvent): void => {
      const w = this.#workerOf(String(event.detail));
      if (w !== undefined) {
        this.#gone.add(w);
        this.#wake();
      }
    };
    this.#listeners.push(["peer:connect", onConnect], ["peer:disconnect", onDisconnect]);
    for (const [type, listener] of this.#listeners) {
      this.host.libp2p.addEventListener(type as "peer:connect", listener as EventListener);
    }
    // Largest payload any encoding can have for this model, so a peer cannot make us buffer more.
    const maxBytes = compressedSize(this.parameterCount, { encoding: "fp32" });
    await this.host.handle(this.#protocol, async ({ framed, peer }) => {
      const req = await framed.readOne(requestSchema);
      const from = this.#workerOf(peer.toString());
      if (from === undefined) {
        throw new PeerError("PEER_UNKNOWN", `peer ${peer} is not a worker of this job`);
      }
      if (req.t === "state?") {
        const bytes = encodeOuterState(this.outer);
        await framed.write({
          t: "state",
          round: this.outer.round,
          bytes: bytes.length,
          hash: await commitOuterState(this.outer),
        });
        await framed.writeBytes(bytes);
        await framed.close();
        return;
      }
      if (req.t === "delta?") {
        // Served from this round's deltas or the last one's (the asker may be a round behind).
        const held = this.#inbox.get(req.round)?.get(req.worker);
        if (held?.hash !== req.hash) {
          await framed.write({
            t: "err",
            code: "PEER_DELTA_UNAVAILABLE",
            message: `worker ${this.id} holds no delta ${req.hash.slice(0, 10)} of worker ` +
              `${req.worker} for round ${req.round}`,
          });
          await framed.close();
          return;
        }
        const m = held.message;
        await framed.write({
          t: "held",
          encoding: m.encoding,
          ...(m.blockSize === undefined ? {} : { blockSize: m.blockSize }),
          bytes: m.payload.length,
        });
        await framed.writeBytes(m.payload);
        this.bytesSent += m.payload.length;
        await framed.close();
        return;
      }
      // Only this round's receipt sets and deltas and the next one's (a faster peer may be a round
      // ahead) are buffered, so a peer cannot fill memory with messages for arbitrary rounds.
      if (req.round !== this.outer.round && req.round !== this.outer.round + 1) {
        throw new PeerError(
          "PEER_WRONG_ROUND",
          `${req.t} for round ${req.round} while this worker is in round ${this.outer.round}`,
          { value: req.round },
        );
      }
      if (req.t === "echo") {
        this.#storeEcho(
          req.round,
          from,
          new Map(
            req.sets.map((s) => [s.reporter, new Map(s.deltas.map((d) => [d.worker, d.hash]))]),
          ),
        );
        await framed.write({ t: "ok" });
        await framed.close();
        return;
      }
      if (req.t === "seen") {
        this.#storeReceipts(
          req.round,
          from,
          new Map(req.deltas.map((d) => [d.worker, d.hash])),
        );
        await framed.write({ t: "ok" });
        await framed.close();
        return;
      }
      if (req.bytes > maxBytes) {
        throw new PeerError(
          "PEER_OVERSIZED",
          `delta of ${req.bytes} bytes is larger than any encoding of ${this.parameterCount} values`,
        );
      }
      const payload = await readExactly(framed, req.bytes);
      const message: DeltaMessage = {
        round: req.round,
        worker: req.worker,
        encoding: req.encoding,
        ...(req.blockSize === undefined ? {} : { blockSize: req.blockSize }),
        payload,
      };
      this.#store({ message, hash: await deltaHash(message) }, from);
      await framed.write({ t: "ok" });
      await framed.close();
    });
  }
}

async function readExactly(framed: FramedStream, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const chunk = await framed.readBytes();
    if (chunk === undefined) {
      throw new PeerError("PEER_TRUNCATED", `peer closed after ${got} of ${n} bytes`);
    }
    if (got + chunk.length > n) {
      throw new PeerError("PEER_MALFORMED", `peer sent more than the announced ${n} bytes`);
    }
    out.set(chunk, got);
    got += chunk.length;
  }
  return out;
}
