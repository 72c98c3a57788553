/**
 * Playing one side of a dispute to its end ({@link playDispute}), and the dispute parties that
 * compute a side's states: from checkpoints ({@link checkpointParty}), from a run this node stored
 * ({@link storedRunParty}), or none ({@link NO_MOVES}). Shared by the challenger, the responder and
 * the referee, with the readers of the game's events they follow.
 *
 * @module
 */

import {
  chainTime,
  contractRevertOf,
  type DecodedLog,
  type DisputeView,
  followLogs,
  midpointOf,
  type ProtocolClient,
} from "../../chain/mod.ts";
import { disputeGameAbi } from "../../chain/artifacts/DisputeGame.ts";
import { jobMarketAbi } from "../../chain/artifacts/JobMarket.ts";
import { VerificationError } from "../../core/errors.ts";
import { type Hash, toBytes32 } from "../../core/hash.ts";
import { sleep } from "../../core/sleep.ts";
import type { TrainingState } from "../../exec/state.ts";
import type { Trainer } from "../../exec/trainer.ts";
import { opChain, type Side } from "../../proof/bisect.ts";
import { type DisputeParty, partyOf } from "../../proof/dispute.ts";
import { encodeEvidence } from "../../proof/evidence.ts";
import { recordStep, type StepRecording } from "../../proof/ops.ts";
import type { BlobStore } from "../../proof/store.ts";
import { type CheckpointRef, decodeTrace } from "../../proof/trace.ts";
import { loadCheckpoint } from "../../proof/checkpoint.ts";
import type { JobSpec } from "../../proof/job.ts";
import { loadJobInputs, trainerForJob } from "../executor.ts";
import type { Dataset } from "../../exec/dataset.ts";

/**
 * A dispute party backed by checkpoints: its state at any step is the last checkpoint at or
 * before it, trained forward. At a checkpoint step its hash is the checkpoint's (what it
 * committed), so a provider whose checkpoints lie cannot hide the lie from the bisection.
 *
 * @example
 * ```ts
 * import { checkpointParty } from "./play.ts";
 * declare const trainer: import("../../exec/trainer.ts").Trainer;
 * declare const store: import("../../proof/store.ts").BlobStore;
 * declare const trace: import("../../proof/trace.ts").Trace;
 * import { loadCheckpoint } from "../../proof/checkpoint.ts";
 * const party = checkpointParty({ trainer, checkpoints: trace.checkpoints, load: (h) => loadCheckpoint(store, h) });
 * console.log(await party.stateHashAt(7));
 * ```
 */
export function checkpointParty(options: {
  trainer: Trainer;
  checkpoints: readonly CheckpointRef[];
  load: (hash: Hash) => Promise<TrainingState>;
}): DisputeParty {
  const { trainer, checkpoints, load } = options;
  const states = new Map<number, Promise<TrainingState>>();
  const stateAt = (step: number): Promise<TrainingState> => {
    const base = [...checkpoints].reverse().find((c) => c.step <= step);
    if (!Number.isSafeInteger(step) || base === undefined) {
      return Promise.reject(
        new VerificationError("VERIFY_BAD_STEP", `no checkpoint at or before step ${step}`, {
          value: step,
        }),
      );
    }
    let state = states.get(step);
    if (!state) {
      state = (async () => {
        // Start from the nearest state already computed between the checkpoint and `step`.
        let from = base.step;
        for (const s of states.keys()) if (s > from && s < step) from = s;
        const start = from === base.step ? await load(base.hash) : await states.get(from)!;
        return step === from ? start : await trainer.run(start, step - from);
      })();
      states.set(step, state);
    }
    return state;
  };
  return partyOf({
    checkpoints,
    stateAt,
    recordStep: async (fromStep) => await recordStep(trainer, await stateAt(fromStep)),
  });
}

/**
 * A trainer for exactly the plan of `spec`, from the model and dataset blobs in `store` (checked
 * against the ids the spec pins; a dataset decoded before is reused from `datasets`).
 */
export async function jobTrainer(
  store: BlobStore,
  spec: JobSpec,
  datasets?: Map<Hash, Promise<Dataset>>,
): Promise<Trainer> {
  const { modelSpec, dataset } = await loadJobInputs({
    spec,
    store,
    ...(datasets ? { datasets } : {}),
  });
  return await trainerForJob(spec, modelSpec, dataset);
}

/**
 * The dispute party of a run this node trained and stored: its trace (a blob) names the
 * checkpoints, the job's inputs rebuild its trainer. Call `dispose` when the dispute is over.
 */
export async function storedRunParty(options: {
  store: BlobStore;
  spec: JobSpec;
  traceBlob: Hash;
  datasets?: Map<Hash, Promise<Dataset>>;
}): Promise<DisputeParty & { dispose(): void }> {
  const { store, spec } = options;
  const trace = await decodeTrace(await store.get(options.traceBlob));
  const trainer = await jobTrainer(store, spec, options.datasets);
  const party = checkpointParty({
    trainer,
    checkpoints: trace.checkpoints,
    load: (hash) => loadCheckpoint(store, hash),
  });
  return { ...party, dispose: () => trainer.dispose() };
}

/**
 * The party of a dispute that has no bisection moves (availability and work disputes go straight
 * to the referee): it never computes a state.
 */
export const NO_MOVES: DisputeParty = {
  checkpoints: [],
  stateAt: () => Promise.reject(new Error("this dispute has no moves")),
  stateHashAt: () => Promise.reject(new Error("this dispute has no moves")),
  recordStep: () => Promise.reject(new Error("this dispute has no moves")),
};

/** Options shared by the players. */
export interface PlayOptions {
  /** The acting party's chain client. */
  chain: ProtocolClient;
  /** Where evidence blobs go (served by the party's wire). */
  store: BlobStore;
  /** Poll interval. Default 200 ms. */
  pollMs?: number;
  /** Stops playing (the dispute goes on without this party). */
  signal?: AbortSignal;
  /** Log sink. */
  log?: (line: string) => void;
  /**
   * Called with the id of a dispute this party opened, before its first move: a party that
   * restarts finds the id there and plays on with {@link playDispute}.
   */
  onOpened?: (id: bigint) => Promise<void> | void;
}

/** How the game ended for one dispute, read back from the chain. */
export interface DisputeResult {
  /** The dispute as it ended. */
  readonly dispute: DisputeView;
  /** What the job market slashed from the provider, wei (0 when it won). */
  readonly slashedWei: bigint;
  /** Bisection moves this party sent. */
  readonly moves: number;
  /** Gas this party's transactions used. */
  readonly gasUsed: bigint;
}

/**
 * Plays one side of a dispute until it is over: posts (provider) or answers (challenger) at each
 * midpoint, commits the op records of the disputed step with an evidence blob, and calls `timeout`
 * when the other side (or the referee) is past its deadline.
 */
export async function playDispute(
  options: PlayOptions & { id: bigint; role: Side; party: DisputeParty },
): Promise<DisputeResult> {
  const { chain, id, role, party, store } = options;
  const pollMs = options.pollMs ?? 200;
  const log = options.log ?? (() => {});
  let recording: StepRecording | undefined;
  let moves = 0;
  let gasUsed = 0n;
  let lastError = "";
  while (true) {
    const d = await chain.game.get(id);
    if (d.phase === "Done") {
      return { dispute: d, slashedWei: await slashedIn(chain, d), moves, gasUsed };
    }
    if (options.signal?.aborted) {
      throw new VerificationError("VERIFY_DISPUTE_ABANDONED", `stopped playing dispute ${id}`);
    }
    try {
      const tx = await move(d);
      if (tx) {
        moves++;
        gasUsed += tx;
        continue;
      }
      if (await chainTime(chain) > d.deadline) {
        log(`dispute ${id}: the ${d.phase === "Referee" ? "referee" : "other side"} is late`);
        gasUsed += (await chain.game.timeout(id)).receipt.gasUsed;
        continue;
      }
    } catch (error) {
      // A move raced a state change (the other side moved, a timeout landed, a member drew the
      // committee), refused at estimation or mined after the change and reverted: read and go on.
      if (!contractRevertOf(error)) throw error;
      const message = (error as Error).message;
      if (message !== lastError) log(`dispute ${id}: ${message}`);
      lastError = message;
    }
    await sleep(pollMs, options.signal);
  }

  async function move(d: DisputeView): Promise<bigint | undefined> {
    if (d.phase === "Steps" || d.phase === "Ops") {
      const mine = role === "provider" ? !d.pending : d.pending;
      if (!mine) return undefined;
      const mid = midpointOf(d);
      const hash = d.phase === "Steps"
        ? await party.stateHashAt(mid)
        : opChain((recording ??= await party.recordStep(d.step)).opHashes, mid);
      const send = role === "provider" ? chain.game.post : chain.game.answer;
      return (await send({ id, hash: toBytes32(hash) })).receipt.gasUsed;
    }
    if (d.phase === "OpsCommit") {
      const committed = role === "provider" ? d.providerOps : d.challengerOps;
      if (committed !== 0) return undefined;
      recording ??= await party.recordStep(d.step);
      const evidence = await store.put(encodeEvidence(recording, await party.stateAt(d.step)));
      log(`dispute ${id}: step ${d.step} has ${recording.ops.length} op records`);
      return (await chain.game.commitOps({
        id,
        count: recording.ops.length,
        root: toBytes32(opChain(recording.opHashes, recording.ops.length)),
        evidence: toBytes32(evidence),
      })).receipt.gasUsed;
    }
    if (d.phase === "Referee" && (await chain.game.committee(id)).quorum === 0) {
      // Either party may draw the committee (its seed is fixed, so who draws does not matter):
      // a dispute whose committee nobody draws would be voided at the referee's deadline.
      if (!(await chain.game.committeePool(id))) return undefined;
      const drawn = await chain.game.drawCommittee(id);
      log(`dispute ${id}: drew its committee ${drawn.members.map((m) => m.slice(0, 8))}`);
      return drawn.receipt.gasUsed;
    }
    return undefined;
  }
}

/** The arguments of the disputed slot's latest `eventName` event in the job market, if any. */
export async function lastSlotEvent(
  chain: ProtocolClient,
  d: DisputeView,
  eventName: "DisputeSettled" | "JobCommitted",
): Promise<Record<string, unknown> | undefined> {
  const logs = await chain.public.getContractEvents({
    address: chain.addresses.jobMarket,
    abi: jobMarketAbi,
    eventName,
    args: { jobId: d.jobId },
    fromBlock: 0n,
  });
  const mine = logs.filter((l) => Number((l.args as { slot: bigint }).slot) === d.slot);
  return mine.at(-1)?.args as Record<string, unknown> | undefined;
}

/** What the job market slashed when dispute `d` settled. */
export async function slashedIn(chain: ProtocolClient, d: DisputeView): Promise<bigint> {
  return ((await lastSlotEvent(chain, d, "DisputeSettled"))?.slashed as bigint | undefined) ?? 0n;
}

/** The dispute game's events that name a dispute a node may have to act on. */
export type DisputeEventName = "DisputeOpened" | "RefereeNeeded" | "CommitteePending";

/**
 * Follows the game's `eventName` events and yields each dispute id whose event passes `filter`,
 * once. A failed poll is logged and retried (the follower's backoff) until `signal` aborts.
 */
export async function* newDisputes<eventName extends DisputeEventName>(
  chain: ProtocolClient,
  eventName: eventName,
  filter: (args: DecodedLog<typeof disputeGameAbi, eventName>["args"]) => boolean,
  pollMs: number,
  signal: AbortSignal,
  log: (line: string) => void,
): AsyncGenerator<bigint> {
  const seen = new Set<bigint>();
  const logs = followLogs({
    client: chain.public,
    address: chain.addresses.disputeGame,
    abi: disputeGameAbi,
    eventName,
    pollMs,
    signal,
    onStall: (error, failures) =>
      log(`dispute poll failed (${failures} in a row), will retry: ${error.message}`),
  });
  for await (const batch of logs) {
    for (const l of batch) {
      const id = l.args.id;
      if (!seen.has(id) && filter(l.args)) {
        seen.add(id);
        yield id;
      }
    }
  }
}
