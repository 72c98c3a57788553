/**
 * DiLoCo rounds with W workers over real libp2p: the driver that takes every {@link DistWorker}
 * through train → send → collect → exchange → aggregate, applies membership changes at round boundaries, and
 * checks that every worker that finished a round holds the same outer-state hash.
 *
 * In one process the phases run in lock-step, so the times reported per phase are clean: inner
 * time is the sum of the workers' training, communication the wall time of all transfers, and
 * aggregation the sum of the workers' outer steps. Scripted events (a worker that leaves after its
 * inner steps, workers joining at a boundary, a tampered delta) exercise the round rule.
 *
 * @module
 */

import { SpecError, VerificationError } from "../core/errors.ts";
import type { Hash } from "../core/hash.ts";
import type { Dataset } from "../exec/dataset.ts";
import type { ModelSpec } from "../exec/model.ts";
import type { CompressionOptions } from "./compress.ts";
import { assignShards, nextMembers, type RejectedDelta } from "./membership.ts";
import type { OuterOptimizerConfig, OuterState } from "./outer.ts";
import { DistWorker, type InnerSegment, type RosterEntry } from "./worker.ts";

/** Options of {@link runDiLoCo}. */
export interface DiLoCoOptions {
  /** Model and inner optimizer (DiLoCo uses AdamW; any optimizer the trainer supports works). */
  spec: ModelSpec;
  /** Training data, split into `workers` strided shards. */
  dataset: Dataset;
  /** Workers at the start (also the number of data shards). */
  workers: number;
  /** Outer rounds. */
  rounds: number;
  /** Inner steps per worker per round (DiLoCo's H). */
  innerSteps: number;
  /** Examples per inner step. */
  batchSize: number;
  /** Seed of the data order. Default 0. */
  dataSeed?: number;
  /** Execution profile. Default the trainer's default. */
  profile?: string;
  /** Delta compression. Default int8 with 256-value blocks. */
  compression?: CompressionOptions;
  /** Outer optimizer. Default DiLoCo's (Nesterov, lr 0.7, momentum 0.9). */
  outer?: OuterOptimizerConfig;
  /** How long a worker waits for the others' deltas after sending its own. Default 60 s. */
  roundTimeoutMs?: number;
  /** Workers that stop (host and all) after their inner steps in a round, before sending. */
  leave?: readonly { round: number; worker: number }[];
  /**
   * Workers that stall after their inner steps in a round: they stay connected but never send, so
   * the others wait for `roundTimeoutMs` and drop them; a stalled worker is then stopped.
   */
  stall?: readonly { round: number; worker: number }[];
  /**
   * Workers whose delta in a round reaches only the members in `to` (a sender that fails halfway
   * through sending, or a slow one whose delta made some deadlines and missed others); with
   * `leave`, the worker stops right after (it sends no receipt set either).
   */
  sendTo?: readonly { round: number; worker: number; to: readonly number[]; leave?: boolean }[];
  /**
   * Workers whose receipt set in a round reaches only the members in `to`, after which they stop
   * (a member that fails halfway through the agreement step).
   */
  receiptsTo?: readonly { round: number; worker: number; to: readonly number[] }[];
  /** Workers joining at the start of a round; ids continue after the highest so far. */
  join?: readonly { round: number; count: number }[];
  /** Rewrites a worker's outgoing payload in a round (tests send malformed deltas with it). */
  tamper?: (at: { round: number; worker: number }, payload: Uint8Array) => Uint8Array | undefined;
  /** Called after every round. */
  onRound?: (report: RoundReport) => void;
}

/** What happened in one round. */
export interface RoundReport {
  /** Round index (the outer state's round before the step). */
  readonly round: number;
  /** Members at the start of the round, ascending. */
  readonly members: readonly number[];
  /** Shards each member trained. */
  readonly assignment: ReadonlyMap<number, readonly number[]>;
  /** Workers whose delta counted, ascending. */
  readonly counted: readonly number[];
  /** Members with no delta by the deadline. */
  readonly absent: readonly number[];
  /** Deltas rejected, with the reason, for audit. */
  readonly rejected: readonly RejectedDelta[];
  /** The outer-state hash after the round (identical on every live worker, or the run fails). */
  readonly outerHash: Hash;
  /** Each live worker's outer-state hash after the round. */
  readonly hashes: ReadonlyMap<number, Hash>;
  /** Every inner segment of the round (start and end commitments). */
  readonly segments: readonly InnerSegment[];
  /** Mean training loss over the members' inner steps. */
  readonly loss: number;
  /** Bytes each worker sent this round. */
  readonly bytesSent: ReadonlyMap<number, number>;
  /**
   * Milliseconds of inner training, summed over workers (they train one after another in one
   * process; in a deployment each takes about `innerMs / members`).
   */
  readonly innerMs: number;
  /**
   * Milliseconds of delta exchange and agreement: wall time from the first send until every worker
   * holds every delta and every receipt set (all transfers run concurrently, so this bounds each
   * worker's communication time).
   */
  readonly commMs: number;
  /** Milliseconds of validation, outer steps and commitments, summed over workers. */
  readonly aggregateMs: number;
}

/** Result of {@link runDiLoCo}. */
export interface DiLoCoResult {
  /** The final outer state (as held by every live worker). */
  readonly outer: OuterState;
  /** One report per round. */
  readonly rounds: readonly RoundReport[];
  /** Total bytes each worker that ever ran sent. */
  readonly bytesSent: ReadonlyMap<number, number>;
}

/**
 * Runs a DiLoCo job with `workers` workers on loopback libp2p and returns the outer state.
 * Throws `VerificationError` `VERIFY_OUTER_DIVERGED` if two workers ever disagree on the outer
 * state after a round.
 *
 * @example
 * ```ts ignore
 * import { runDiLoCo } from "./round.ts";
 * const { outer, rounds } = await runDiLoCo({
 *   spec, dataset, workers: 4, rounds: 10, innerSteps: 100, batchSize: 64,
 *   compression: { encoding: "int8", blockSize: 256 },
 * });
 * console.log(rounds.map((r) => r.outerHash));
 * ```
 */
export async function runDiLoCo(options: DiLoCoOptions): Promise<DiLoCoResult> {
  const { workers: initial, rounds, innerSteps } = options;
  for (const [name, v] of [["workers", initial], ["rounds", rounds]] as const) {
    if (!Number.isSafeInteger(v) || v < 1) {
      throw new SpecError("SPEC_INVALID_DIST", `${name} must be a positive integer, got ${v}`, {
        value: v,
      });
    }
  }
  const timeoutMs = options.roundTimeoutMs ?? 60_000;
  const all = new Map<number, DistWorker>();
  const live = new Map<number, DistWorker>();
  const roster = new Map<number, RosterEntry>();
  const reports: RoundReport[] = [];
  const start = (id: number, bootstrap: string[]): Promise<DistWorker> =>
    DistWorker.start({
      id,
      spec: options.spec,
      dataset: options.dataset,
      shards: initial,
      batchSize: options.batchSize,
      innerSteps,
      bootstrap,
      ...(options.dataSeed === undefined ? {} : { dataSeed: options.dataSeed }),
      ...(options.profile === undefined ? {} : { profile: options.profile }),
      ...(options.compression === undefined ? {} : { compression: options.compression }),
      ...(options.outer === undefined ? {} : { outer: options.outer }),
    });
  const publishRoster = (): void => {
    for (const w of live.values()) w.setRoster(roster);
  };
  try {
    for (let id = 0; id < initial; id++) {
      const w = await start(id, [...roster.values()].map((e) => e.addr));
      all.set(id, w);
      live.set(id, w);
      roster.set(id, w.rosterEntry);
    }
    publishRoster();
    let members = [...live.keys()];
    let nextId = initial;
    for (let round = 0; round < rounds; round++) {
      // Joiners enter at the boundary: they fetch the outer state from the lowest member.
      const joining: number[] = [];
      for (const j of options.join?.filter((e) => e.round === round) ?? []) {
        for (let k = 0; k < j.count; k++) {
          const id = nextId++;
          const w = await start(id, [...roster.values()].map((e) => e.addr));
          all.set(id, w);
          live.set(id, w);
          roster.set(id, w.rosterEntry);
          joining.push(id);
        }
      }
      if (joining.length > 0) {
        publishRoster();
        for (const id of joining) await live.get(id)!.fetchOuter(members[0]);
        members = nextMembers({ counted: members, joining });
      }
      const assignment = assignShards({ shards: initial, members });
      const sentBefore = new Map(members.map((m) => [m, all.get(m)!.bytesSent]));

      let t0 = performance.now();
      const segments: InnerSegment[] = [];
      for (const m of members) {
        // A member that died after its delta counted is still a member; it just never trains.
        const w = live.get(m);
        if (!w) continue;
        segments.push(...await w.train(members));
        if (options.tamper) {
          await w.tamper((p) => options.tamper!({ round, worker: m }, p) ?? p);
        }
      }
      const innerMs = performance.now() - t0;
      for (const e of options.leave?.filter((e) => e.round === round) ?? []) {
        const w = live.get(e.worker);
        if (!w) continue;
        live.delete(e.worker);
        await w.stop();
      }
      const stalled = new Set(options.stall?.filter((e) => e.round === round).map((e) => e.worker));
      const senders = members.filter((m) => live.has(m) && !stalled.has(m));

      t0 = performance.now();
      const partial = new Map(
        options.sendTo?.filter((e) => e.round === round).map((e) => [e.worker, e]),
      );
      await Promise.all(
        senders.map((m) => live.get(m)!.send(members, { to: partial.get(m)?.to ?? members })),
      );
      for (const e of partial.values()) {
        if (!e.leave || !live.has(e.worker)) continue;
        await live.get(e.worker)!.stop();
        live.delete(e.worker);
      }
      const agreeing = senders.filter((m) => live.has(m));
      await Promise.all(agreeing.map((m) => live.get(m)!.collect(members, timeoutMs)));
      const failing = new Map(
        options.receiptsTo?.filter((e) => e.round === round).map((e) => [e.worker, e.to]),
      );
      await Promise.all(agreeing.map(async (m) => {
        const to = failing.get(m);
        await live.get(m)!.exchange(members, timeoutMs, to ? { to } : {});
        if (to) {
          await live.get(m)!.stop();
          live.delete(m);
        }
      }));
      const deciding = agreeing.filter((m) => live.has(m));
      const commMs = performance.now() - t0;

      t0 = performance.now();
      const hashes = new Map<number, Hash>();
      let decision: Awaited<ReturnType<DistWorker["aggregate"]>> | undefined;
      for (const m of deciding) {
        const d = await live.get(m)!.aggregate(members);
        hashes.set(m, d.hash);
        decision ??= d;
        if (d.hash !== decision.hash || d.counted.join() !== decision.counted.join()) {
          throw new VerificationError(
            "VERIFY_OUTER_DIVERGED",
            `after round ${round} worker ${m} holds outer state ${d.hash} (counted ` +
              `${d.counted}) but worker ${deciding[0]} holds ${decision.hash} (counted ` +
              `${decision.counted}); a delta reached only some workers`,
            { value: Object.fromEntries(hashes) },
          );
        }
      }
      const aggregateMs = performance.now() - t0;
      if (!decision) {
        throw new SpecError("SPEC_NO_MEMBERS", `every worker left in round ${round}`);
      }
      const report: RoundReport = {
        round,
        members,
        assignment,
        counted: decision.counted,
        absent: decision.absent,
        rejected: decision.rejected,
        outerHash: decision.hash,
        hashes,
        segments,
        loss: segments.reduce((a, s) => a + s.loss * s.steps, 0) /
          Math.max(1, segments.reduce((a, s) => a + s.steps, 0)),
        bytesSent: new Map(members.map((m) => [m, all.get(m)!.bytesSent - sentBefore.get(m)!])),
        innerMs,
        commMs,
        aggregateMs,
      };
      reports.push(report);
      options.onRound?.(report);
      // Workers that did not count leave the membership (they may join again later).
      for (const m of members) {
        if (!decision.counted.includes(m) && live.has(m)) {
          await live.get(m)!.stop();
          live.delete(m);
        }
      }
      members = nextMembers({ counted: decision.counted });
    }
    const any = live.get(members[0]);
    if (!any) throw new SpecError("SPEC_NO_MEMBERS", "no worker finished the job");
    return {
      outer: any.outer,
      rounds: reports,
      bytesSent: new Map([...all].map(([id, w]) => [id, w.bytesSent])),
    };
  } finally {
    for (const w of all.values()) await w.stop();
  }
}
