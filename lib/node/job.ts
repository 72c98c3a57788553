/**
 * The submitter's handle on a job: live progress, the verified result, settlement, cancellation.
 *
 * Nothing a provider says is taken on its word. The result is accepted only if the trace rebuilt
 * from the provider's published checkpoints, under exactly this job's plan, has the Merkle root
 * the provider committed on-chain and ends at the committed final state, and if the final
 * checkpoint fetched from the provider hashes to that state.
 *
 * @module
 */

import { SpecError, TrainingError, VerificationError } from "../core/errors.ts";
import type { EventLog } from "../core/event_log.ts";
import type { Hash } from "../core/hash.ts";
import { buildModel, type LayersModel, type ModelSpec } from "../exec/model.ts";
import type { TrainingState } from "../exec/state.ts";
import { loadWeights } from "../exec/trainer.ts";
import { loadCheckpoint } from "../proof/checkpoint.ts";
import { type JobSpec, planOfJob } from "../proof/job.ts";
import type { BlobStore } from "../proof/store.ts";
import { buildTrace, checkpointSteps, type Trace } from "../proof/trace.ts";
import type { ProtocolClient } from "../chain/mod.ts";
import { peerIdOfAccount } from "./p2p_wire.ts";
import { challengeEndsAt, finalizeIfDue, toBytes32 } from "./settlement.ts";
import { sleep } from "../core/sleep.ts";
import { interruptScope } from "./interrupt.ts";
import type { JobEvent } from "./watch.ts";
import {
  type DistributedResult,
  type RoundSummary,
  summarizeRounds,
  verifiedDistributedResult,
} from "./dist_result.ts";
import type { NodeWire } from "./wire.ts";

/** A trained, verified result. */
export interface TrainedResult {
  /** The trained model, weights loaded. The caller owns it. */
  readonly model: LayersModel;
  /** The final training state (weights and optimizer slots). */
  readonly state: TrainingState;
  /** The proof-of-learning trace. */
  readonly trace: Trace;
  /** Commitment of the final state. */
  readonly finalHash: Hash;
  /** The provider's account. */
  readonly provider: string;
}

/** What a job's settlement paid. */
export interface Settlement {
  /** Paid to the provider, wei. */
  readonly paidWei: bigint;
  /** Protocol fee, wei (70% burned, 30% treasury once distributed). */
  readonly feeWei: bigint;
  /**
   * Sent back to the submitter for a distributed job (0 for a plain job): the share of the rounds
   * a worker did not count in, and the whole share of a worker slashed in a dispute, wei.
   */
  readonly refundedWei: bigint;
}

/** What {@link Job} needs from its network. */
export interface JobContext {
  /** Chain client acting as the submitter. */
  chain: ProtocolClient;
  /** The submitter's network. */
  wire: NodeWire;
  /** The submitter's blob store (results are fetched into it). */
  store: BlobStore;
  /** The job's events (see `watch.ts`). */
  events: EventLog<JobEvent>;
  /** Stops following the job. */
  stop: () => void;
}

/**
 * Seconds a slot may stay unfinalized past its challenge window (counted from when `Job.settled()`
 * first sees it due) before `settled()` finalizes it for the provider; a live provider finalizes
 * its own slot well before.
 */
export const SUBMITTER_FINALIZE_GRACE_SEC = 30;
/** How often `Job.settled()` looks for slots to finalize, ms. */
const FINALIZE_POLL_MS = 2_000;

/**
 * A training job submitted to the network.
 *
 * @example
 * ```ts
 * declare const job: import("./job.ts").Job;
 * for await (const e of job.progress()) if (e.kind === "step") console.log(e.step, e.loss);
 * const { model, trace } = await job.result();
 * const { paidWei, feeWei } = await job.settled();
 * ```
 */
export class Job {
  /** Job id (hash of the spec; `0x` + this on-chain). */
  readonly id: Hash;
  /** The job spec. */
  readonly spec: JobSpec;
  /** The model spec being trained. */
  readonly modelSpec: ModelSpec;
  readonly #context: JobContext;
  #result: Promise<TrainedResult> | undefined;
  #distResult: Promise<DistributedResult> | undefined;

  /**
   * Follows a job by id from any process (the same as `network.attach(jobId)`): its events from
   * the start, its verified result and its settlement.
   *
   * @example
   * ```ts ignore
   * const job = await Job.attach(network, "ab12...");
   * for await (const e of job.progress()) console.log(e.kind);
   * ```
   */
  static attach(network: { attach(jobId: Hash): Promise<Job> }, jobId: Hash): Promise<Job> {
    return network.attach(jobId);
  }

  /** Wraps a submitted job. */
  constructor(id: Hash, spec: JobSpec, modelSpec: ModelSpec, context: JobContext) {
    this.id = id;
    this.spec = spec;
    this.modelSpec = modelSpec;
    this.#context = context;
  }

  /**
   * `promise` bounded by `options`; without a signal of the caller's, an interrupt (Ctrl-C,
   * Jupyter's ■) ends the wait with `TRAINING_WAIT_ABORTED`, leaving the job going.
   */
  async #wait<T>(promise: Promise<T>, options: WaitOptions, what: string): Promise<T> {
    const label = `the ${what} of job ${this.id.slice(0, 10)}`;
    if (options.signal) return await within(promise, options, label);
    using interrupt = interruptScope();
    return await within(promise, { ...options, signal: interrupt.signal }, label);
  }

  /** Every event of the job so far and as it happens: claim, steps, checkpoints, commit, pay. */
  progress(): AsyncIterable<JobEvent> {
    return this.#context.events;
  }

  /** Whether the job is trained by several workers together (`network.train({ workers })`). */
  get distributed(): boolean {
    return this.spec.distributed !== undefined;
  }

  /**
   * Waits for the commit and returns the verified result with the weights loaded. For a
   * distributed job use {@link Job.distributedResult}.
   */
  result(options: WaitOptions = {}): Promise<TrainedResult> {
    if (this.spec.distributed) {
      return Promise.reject(
        new SpecError(
          "SPEC_DISTRIBUTED_JOB",
          `job ${this.id.slice(0, 10)} is trained by ${this.spec.distributed.workers} workers; ` +
            "await job.distributedResult() for its outer state, weights and rounds",
        ),
      );
    }
    this.#result ??= this.#verifiedResult();
    return this.#wait(this.#result, options, "result");
  }

  /**
   * Waits until the workers of a distributed job commit and returns the verified final outer
   * state with the weights loaded, and per-round summaries (loss, bytes, who counted).
   *
   * @example
   * ```ts ignore
   * const job = await network.train({ model, data, steps: 200, batchSize: 64, workers: 3, rounds: 4 });
   * const { model, finalHash, rounds } = await job.distributedResult();
   * for (const r of rounds) console.log(r.round, r.loss, r.counted, r.bytesSent);
   * ```
   */
  distributedResult(options: WaitOptions = {}): Promise<DistributedResult> {
    const dist = this.spec.distributed;
    if (!dist) {
      return Promise.reject(
        new SpecError(
          "SPEC_NOT_DISTRIBUTED",
          `job ${this.id.slice(0, 10)} has one provider; await job.result() instead`,
        ),
      );
    }
    this.#distResult ??= (async () => {
      const { events } = this.#context;
      await nextEvent(events, this.id, "committed");
      // Every worker still counted after the last round commits; wait for all their commits.
      await this.#waitForFinalCommits();
      return verifiedDistributedResult({
        spec: this.spec,
        modelSpec: this.modelSpec,
        events: events.events,
        chain: this.#context.chain,
        wire: this.#context.wire,
        store: this.#context.store,
      });
    })();
    return this.#wait(this.#distResult, options, "result");
  }

  /** Per-round summaries of a distributed job so far (empty for a plain job). */
  rounds(): RoundSummary[] {
    return summarizeRounds(this.#context.events.events);
  }

  /**
   * Waits until the provider has been paid. For a distributed job, until every worker that had
   * committed when the result was verified has been paid (each for the rounds it counted in,
   * `JobMarket.commitWork`; the amounts are summed, with the unworked shares refunded) or slashed.
   * A slot nobody finalizes {@link SUBMITTER_FINALIZE_GRACE_SEC} seconds after its challenge window
   * closed (its provider's node is gone) is finalized by the submitter, paying the provider.
   */
  async settled(options: WaitOptions = {}): Promise<Settlement> {
    const stop = new AbortController();
    const finalizing = this.#finalizeStale(stop.signal);
    try {
      return await within(
        this.#settled(),
        options,
        `the settlement of job ${this.id.slice(0, 10)}`,
      );
    } finally {
      stop.abort();
      await finalizing;
    }
  }

  /**
   * While `settled()` waits: finalizes, on the provider's behalf, each committed slot that has
   * been due (its challenge window closed) for {@link SUBMITTER_FINALIZE_GRACE_SEC} seconds and
   * that nobody finalized. Providers finalize their own slots within seconds; this is for one whose node
   * is gone, which is still paid what it earned, so the submitter does not wait forever.
   */
  async #finalizeStale(signal: AbortSignal): Promise<void> {
    const { chain, events } = this.#context;
    // Wall-clock time each slot was first seen due: a devnet's latest block time stands still
    // without transactions, so the grace is measured here, not on-chain.
    const dueSince = new Map<number, number>();
    while (!signal.aborted) {
      await sleep(FINALIZE_POLL_MS, signal).catch(() => {});
      if (signal.aborted) return;
      const done = new Set<number>();
      const committed = new Set<number>();
      for (const e of events.events) {
        if (e.kind === "paid" || e.kind === "slashed") done.add(e.slot);
        if (e.kind === "committed") committed.add(e.slot);
      }
      for (const slot of committed) {
        if (done.has(slot) || signal.aborted) continue;
        try {
          const ends = await challengeEndsAt(chain, { jobId: this.id, slot });
          if (ends === undefined) continue;
          const now = (await chain.public.getBlock({ blockTag: "latest" })).timestamp;
          if (now < ends) continue;
          if (!dueSince.has(slot)) dueSince.set(slot, Date.now());
          if (Date.now() - dueSince.get(slot)! < SUBMITTER_FINALIZE_GRACE_SEC * 1000) continue;
          await finalizeIfDue(chain, { jobId: this.id, slot });
        } catch {
          // A busy RPC endpoint or a race with the provider: tried again at the next poll.
        }
      }
    }
  }

  async #settled(): Promise<Settlement> {
    if (!this.spec.distributed) {
      const paid = await nextEvent(this.#context.events, this.id, "paid");
      return { paidWei: paid.paidWei, feeWei: paid.feeWei, refundedWei: 0n };
    }
    await this.distributedResult();
    const { events } = this.#context;
    const committed = new Set(
      events.events.filter((e) => e.kind === "committed").map((e) => (e as { slot: number }).slot),
    );
    const paid = new Map<number, { paidWei: bigint; feeWei: bigint }>();
    const slashed = new Set<number>();
    for await (const e of events) {
      if (e.kind === "paid") paid.set(e.slot, e);
      if (e.kind === "slashed") slashed.add(e.slot);
      if ([...committed].every((s) => paid.has(s) || slashed.has(s))) break;
    }
    // A work refund is logged in its slot's finalize transaction, and a slashed slot's refund in
    // its dispute's settlement, so the watch pushed each in the same poll as the payment or the
    // slash, before this loop resumed.
    let refundedWei = 0n;
    for (const e of events.events) {
      if (e.kind === "work-refunded" && committed.has(e.slot)) refundedWei += e.amountWei;
      if (e.kind === "refunded") refundedWei += e.amountWei;
    }
    let paidWei = 0n;
    let feeWei = 0n;
    for (const p of paid.values()) {
      paidWei += p.paidWei;
      feeWei += p.feeWei;
    }
    return { paidWei, feeWei, refundedWei };
  }

  /**
   * Waits for the commits of the workers that counted in the last round (from the round
   * reports), or, without reports, for every slot, up to the job's deadline.
   */
  async #waitForFinalCommits(): Promise<void> {
    const { events } = this.#context;
    const dist = this.spec.distributed!;
    const expected = (): number[] | undefined => {
      const last = summarizeRounds(events.events).find((r) => r.round === dist.rounds - 1);
      return last ? [...last.counted] : undefined;
    };
    const done = (): boolean => {
      const slots = new Set(
        events.events.filter((e) => e.kind === "committed").map((e) =>
          (e as { slot: number }).slot
        ),
      );
      const want = expected() ?? Array.from({ length: dist.workers }, (_, i) => i);
      return want.every((s) => slots.has(s));
    };
    if (done()) return;
    for await (const _ of events) if (done()) return;
  }

  /**
   * Takes the job's money back: before the deadline, every slot no provider holds (unclaimed, or
   * released by a provider that could not run it) is refunded at once, while a provider at work
   * keeps its slot; after the deadline, abandoned slots are refunded too (their providers are
   * slashed). Returns the refunded amount; fails with the chain's `NothingToSettle` when no slot
   * can be refunded now.
   *
   * @example
   * ```ts ignore
   * const refundedWei = await job.cancel();
   * ```
   */
  async cancel(): Promise<bigint> {
    const { chain, events, stop } = this.#context;
    const jobId = toBytes32(this.id);
    const job = await chain.jobs.get(jobId);
    const now = (await chain.public.getBlock({ blockTag: "latest" })).timestamp;
    const refundedWei = now >= job.deadline
      ? (await chain.jobs.refund({ jobId })).refundedWei
      : (await chain.jobs.cancel({ jobId })).refundedWei;
    const live: string[] = [];
    for (let slot = 0; slot < job.replicas; slot++) {
      const { status } = await chain.jobs.slot({ jobId, slot });
      if (status === "Claimed" || status === "Committed" || status === "Disputed") {
        live.push(status);
      }
    }
    if (live.length === 0 && !events.ended) {
      // Nothing left in play: stop following, with the refund as the last word.
      stop();
      if (!events.events.some((e) => e.kind === "refunded")) {
        events.push({ kind: "refunded", amountWei: refundedWei });
      }
      events.end();
    }
    return refundedWei;
  }

  /**
   * After the deadline, reopens slots whose provider abandoned the job (it is slashed) with a new
   * deadline `timeoutSec` from now, and offers the job to the network again. Returns how many
   * slots reopened.
   */
  async reassign(options: { timeoutSec?: number } = {}): Promise<number> {
    const { chain, wire } = this.#context;
    const now = (await chain.public.getBlock({ blockTag: "latest" })).timestamp;
    const deadline = now + BigInt(options.timeoutSec ?? 3600);
    const { reopened } = await chain.jobs.reassign({ jobId: toBytes32(this.id), deadline });
    if (reopened > 0) await wire.announce(this.spec, this.id, Number(deadline));
    return reopened;
  }

  /**
   * The checkpoint hashes the provider published for `steps`. A provider that committed but is
   * not reachable right now (restarting, on a new address, a network blip) is waited for, shown
   * as `stalled`, until its slot's challenge window closes; only then is the commitment
   * unverifiable, and it is disputable while the window is open.
   */
  async #checkpointsOf(
    slot: number,
    provider: string,
    steps: readonly number[],
  ): Promise<Map<number, Hash>> {
    const { events, chain, wire } = this.#context;
    const checkpoints = new Map<number, Hash>();
    const missing = () => {
      for (const e of events.events) if (e.kind === "checkpoint") checkpoints.set(e.step, e.hash);
      return steps.filter((s) => !checkpoints.has(s));
    };
    const started = Date.now();
    let reported = false;
    while (missing().length > 0) {
      // Ask the provider's progress stream directly (the job's log may have ended already, or
      // lost the stream): it serves the checkpoints of the trace it committed.
      try {
        const peer = await peerIdOfAccount(chain, provider);
        const signal = AbortSignal.timeout(CHECKPOINTS_PULL_MS);
        for await (const update of wire.watchProgress(peer, this.id, signal)) {
          if (update.checkpoint) checkpoints.set(update.checkpoint.step, update.checkpoint.hash);
          if (steps.every((s) => checkpoints.has(s))) return checkpoints;
        }
      } catch {
        // Unreachable for now (restarting, on a new address the presence topic will bring).
      }
      if (steps.every((s) => checkpoints.has(s))) return checkpoints;
      if (!reported && Date.now() - started > CHECKPOINTS_STALL_MS) {
        reported = true;
        if (!events.ended) {
          events.push({
            kind: "stalled",
            reason: "the provider committed but is unreachable for its checkpoints; waiting " +
              "for it to come back until its challenge window closes",
          });
        }
      }
      const { status } = await chain.jobs.slot({ jobId: toBytes32(this.id), slot });
      const ends = await challengeEndsAt(chain, { jobId: this.id, slot }).catch(() => undefined);
      const now = (await chain.public.getBlock({ blockTag: "latest" })).timestamp;
      // Disputed: the dispute game settles it; committed: until its window closes.
      if (status !== "Disputed" && (ends === undefined || now >= ends)) {
        const left = missing();
        throw new VerificationError(
          "VERIFY_TRACE_INCOMPLETE",
          `the provider published no checkpoint for steps ${left.slice(0, 5).join(", ")} ` +
            "while its commitment could be disputed; it cannot be checked",
          { value: left },
        );
      }
      await sleep(CHECKPOINTS_POLL_MS);
    }
    return checkpoints;
  }

  async #verifiedResult(): Promise<TrainedResult> {
    const { wire, store, events, chain } = this.#context;
    const committed = await nextEvent(events, this.id, "committed");
    const steps = checkpointSteps(this.spec.steps, this.spec.k);
    const checkpoints = await this.#checkpointsOf(committed.slot, committed.provider, steps);
    const trace = await buildTrace({
      plan: planOfJob(this.spec),
      k: this.spec.k,
      steps: this.spec.steps,
      jobId: this.id,
      checkpoints: steps.map((step) => ({
        step,
        cursor: step * this.spec.batchSize,
        hash: checkpoints.get(step)!,
      })),
    });
    const last = trace.checkpoints[trace.checkpoints.length - 1];
    if (trace.root !== committed.traceRoot || last.hash !== committed.finalHash) {
      throw new VerificationError(
        "VERIFY_TRACE_MISMATCH",
        `the checkpoints the provider published give trace root ${trace.root}, but it committed ` +
          `${committed.traceRoot}; dispute the job`,
        { value: { published: trace.root, committed: committed.traceRoot } },
      );
    }
    const peer = await peerIdOfAccount(chain, committed.provider);
    await wire.fetchBlob(peer, committed.finalHash, store);
    const state = await loadCheckpoint(store, committed.finalHash);
    if (state.step !== this.spec.steps) {
      throw new VerificationError(
        "VERIFY_TRACE_MISMATCH",
        `the final checkpoint is at step ${state.step}, the job has ${this.spec.steps}`,
      );
    }
    const model = loadWeights(await buildModel(this.modelSpec), state);
    return { model, state, trace, finalHash: committed.finalHash, provider: committed.provider };
  }
}

/**
 * How long the submitter waits for a committed provider's checkpoints before it reports the
 * provider unreachable (it goes on waiting until the challenge window closes), ms.
 */
const CHECKPOINTS_STALL_MS = 5_000;
/** How often the submitter asks a committed provider again for missing checkpoints, ms. */
const CHECKPOINTS_POLL_MS = 1_000;
/** How long one request for a committed provider's checkpoints may take, ms. */
const CHECKPOINTS_PULL_MS = 15_000;

/**
 * The first event of `kind` (past or future); a refund (after a job fault, the provider's report
 * is the error) or a lost watch throws.
 */
async function nextEvent<K extends JobEvent["kind"]>(
  events: EventLog<JobEvent>,
  jobId: Hash,
  kind: K,
): Promise<Extract<JobEvent, { kind: K }>> {
  let event: JobEvent;
  try {
    event = await events.first((e) => e.kind === kind || e.kind === "refunded");
  } catch (cause) {
    throw new TrainingError(
      "TRAINING_JOB_FAILED",
      `job ${jobId.slice(0, 10)} ended before it was ${kind}: ${(cause as Error).message}`,
      { value: jobId, cause },
    );
  }
  if (event.kind === "refunded" && kind !== "refunded") {
    const fault = events.events.find((e) => e.kind === "released" && e.reason === "job");
    if (fault?.kind === "released") throw jobFaultError(jobId, fault, events);
    throw new TrainingError(
      "TRAINING_JOB_REFUNDED",
      `job ${jobId.slice(0, 10)} was refunded (${event.amountWei} wei) before it was ${kind}`,
      { value: jobId },
    );
  }
  return event as Extract<JobEvent, { kind: K }>;
}

/** The error for a job its provider found cannot be trained as specified. */
function jobFaultError(
  jobId: Hash,
  fault: Extract<JobEvent, { kind: "released" }>,
  events: EventLog<JobEvent>,
): TrainingError {
  const refunded = events.events.find((e) => e.kind === "refunded");
  const what = fault.code ? `${fault.code}: ${fault.message ?? ""}` : fault.message ??
    "no report";
  return new TrainingError(
    "TRAINING_JOB_FAILED",
    `job ${jobId.slice(0, 10)} cannot be trained as specified: provider ${fault.provider} ` +
      `released it (${what})` +
      (refunded?.kind === "refunded"
        ? `; its escrow (${refunded.amountWei} wei) was refunded`
        : "; job.cancel() refunds its escrow now") +
      ". Fix the job and submit it again",
    {
      value: {
        jobId,
        provider: fault.provider,
        code: fault.code,
        message: fault.message,
        reason: fault.reason,
      },
    },
  );
}

/** How long to wait, and a signal to stop waiting (the job itself goes on). */
export interface WaitOptions {
  /** Give up after this many ms with `TRAINING_WAIT_TIMEOUT`. Default: wait as long as it takes. */
  timeoutMs?: number;
  /** Give up when this aborts, with `TRAINING_WAIT_ABORTED`. */
  signal?: AbortSignal;
}

/**
 * `promise`, or a typed rejection when `options.timeoutMs` passes or `options.signal` aborts
 * first. Only the wait ends: the job and the promise go on.
 *
 * @example
 * ```ts
 * import { within } from "./job.ts";
 * await within(Promise.resolve(1), { timeoutMs: 1000 }, "the result");
 * ```
 */
export function within<T>(promise: Promise<T>, options: WaitOptions, what: string): Promise<T> {
  const { timeoutMs, signal } = options;
  if (timeoutMs === undefined && signal === undefined) return promise;
  if (timeoutMs !== undefined && (!Number.isFinite(timeoutMs) || timeoutMs < 0)) {
    return Promise.reject(
      new SpecError("SPEC_INVALID_TIMEOUT", `timeoutMs must be >= 0, got ${timeoutMs}`, {
        value: timeoutMs,
      }),
    );
  }
  return new Promise<T>((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    };
    const onAbort = () => {
      done();
      reject(
        new TrainingError("TRAINING_WAIT_ABORTED", `stopped waiting for ${what}`, {
          cause: signal?.reason,
        }),
      );
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener("abort", onAbort, { once: true });
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => {
        done();
        reject(
          new TrainingError(
            "TRAINING_WAIT_TIMEOUT",
            `${what} did not come within ${timeoutMs} ms; the job goes on: wait again, or ` +
              "job.cancel() once its deadline passed",
            { value: timeoutMs },
          ),
        );
      }, timeoutMs);
    }
    promise.then((value) => {
      done();
      resolve(value);
    }, (error) => {
      done();
      reject(error);
    });
  });
}
