/**
 * Following a job from the submitter's side: its on-chain life (claimed, committed, paid,
 * refunded) from `JobMarket` events, and its training progress from the claiming provider's
 * progress stream, found through the provider's on-chain peer binding. Everything lands in one
 * {@link EventLog} of {@link JobEvent}s.
 *
 * @module
 */

import {
  type DecodedLog,
  followLogs,
  type ProtocolClient,
  type ReleaseReason,
  releaseReasonOf,
} from "../chain/mod.ts";
import { jobMarketAbi } from "../chain/artifacts/JobMarket.ts";
import type { EventLog } from "../core/event_log.ts";
import { sleep } from "../core/sleep.ts";
import type { Hash } from "../core/hash.ts";
import { peerIdOfAccount } from "./p2p_wire.ts";
import { fromBytes32, toBytes32 } from "./settlement.ts";
import type { NodeWire } from "./wire.ts";
import { checkSender, joinDistTopic } from "./dist_topic.ts";

/** What happens to a job, as its submitter sees it. */
export type JobEvent =
  | { readonly kind: "claimed"; readonly slot: number; readonly provider: string }
  | { readonly kind: "step"; readonly step: number; readonly loss: number }
  | { readonly kind: "checkpoint"; readonly step: number; readonly hash: Hash }
  | {
    readonly kind: "committed";
    readonly slot: number;
    readonly provider: string;
    readonly finalHash: Hash;
    readonly traceRoot: Hash;
    /** Work units (rounds counted in) a distributed worker committed; absent for a whole commit. */
    readonly units?: number;
  }
  | {
    readonly kind: "paid";
    readonly slot: number;
    readonly paidWei: bigint;
    readonly feeWei: bigint;
  }
  | {
    /** One worker's report of one round of a distributed job (from the job's gossip topic). */
    readonly kind: "round";
    readonly round: number;
    /** The reporting worker (its slot). */
    readonly worker: number;
    readonly members: readonly number[];
    /** Workers whose delta counted, as this worker computed under the round rule. */
    readonly counted: readonly number[];
    readonly absent: readonly number[];
    readonly rejected: readonly number[];
    /** Mean inner training loss of the worker's segments. */
    readonly loss: number;
    /** Bytes the worker sent this round. */
    readonly bytesSent: number;
    /** Outer-state hash after the round. */
    readonly outerHash: Hash;
  }
  | { readonly kind: "refunded"; readonly amountWei: bigint }
  | {
    /** A dispute went against the slot's provider: its stake was slashed and its share refunded. */
    readonly kind: "slashed";
    readonly slot: number;
    readonly slashedWei: bigint;
  }
  | {
    /** The unworked share of a slot paid for partial work, sent back to the submitter. */
    readonly kind: "work-refunded";
    readonly slot: number;
    readonly amountWei: bigint;
  }
  | {
    /** A provider reported that it cannot train the job (on its progress stream). */
    readonly kind: "failed";
    readonly reason: string;
    /** The provider's error code, when it gave one. */
    readonly code?: string;
    /** The provider's account. */
    readonly provider?: string;
  }
  | {
    /**
     * A provider gave its claimed slot back on-chain (`JobMarket.releaseJob`): the slot is open
     * again. `reason` `job` means the job itself fails as specified; `node`, that provider could
     * not run it. `code` and `message` are the provider's own report, when it sent one.
     */
    readonly kind: "released";
    readonly slot: number;
    readonly provider: string;
    readonly reason: ReleaseReason;
    readonly slashedWei: bigint;
    readonly code?: string;
    readonly message?: string;
  }
  | {
    /**
     * A provider refused the job without claiming it (it is over that node's limits: `code`
     * `SPEC_TOO_LARGE`), as its presence on the network says. Once every provider seen that runs
     * the job's profile refused it, a `stalled` event says so.
     */
    readonly kind: "refused";
    readonly provider: string;
    readonly code: string;
    readonly reason: string;
  }
  | {
    /**
     * The submitter reassigned the job after its deadline (`JobMarket.reassignJob`): slots whose
     * provider abandoned them (it was slashed) and slots still open are open again, under
     * `deadline` (unix seconds).
     */
    readonly kind: "reassigned";
    readonly reopened: number;
    readonly deadline: number;
  }
  | { readonly kind: "stalled"; readonly reason: string };

/** Options of {@link watchJob}. */
export interface WatchJobOptions {
  /** Chain client (any account). */
  chain: ProtocolClient;
  /** The watcher's network. */
  wire: NodeWire;
  /** The job. */
  jobId: Hash;
  /** Where events go; the log ends when the job is paid, refunded or failed. */
  events: EventLog<JobEvent>;
  /** Stops watching. */
  signal: AbortSignal;
  /** Chain polling interval. Default 200 ms. */
  pollMs?: number;
  /**
   * Slots of the job. The log ends once every slot is paid, or at a refund once every committed
   * slot is paid. Default 1.
   */
  slots?: number;
}

/**
 * Follows a job until it is paid, refunded or failed, or `signal` aborts.
 *
 * @example
 * ```ts
 * import { watchJob } from "./watch.ts";
 * import { EventLog } from "../core/event_log.ts";
 * declare const options: Omit<import("./watch.ts").WatchJobOptions, "events">;
 * const events = new EventLog<import("./watch.ts").JobEvent>();
 * watchJob({ ...options, events });
 * for await (const e of events) console.log(e.kind);
 * ```
 */
export async function watchJob(options: WatchJobOptions): Promise<void> {
  const { chain, jobId, events, signal } = options;
  const watching = new Set<string>();
  const slots = options.slots ?? 1;
  const committed = new Set<number>();
  const paid = new Set<number>();
  const slashed = new Set<number>();
  let refunded = false;
  const endIfSettled = (): void => {
    const done = paid.size + slashed.size;
    if (done >= slots || (refunded && done >= committed.size)) events.end();
  };
  // The watch also ends when the log does (a fault rule may end it): stop following then.
  const logEnded = new AbortController();
  events.first(() => false).catch(() => {
    // The log ended (with or without an error): that is all this waits for.
  }).finally(() => logEnded.abort());
  try {
    for await (
      const logs of followLogs({
        client: chain.public,
        address: chain.addresses.jobMarket,
        abi: jobMarketAbi,
        args: { jobId: toBytes32(jobId) },
        pollMs: options.pollMs ?? 200,
        // A slow or briefly unreachable RPC endpoint (a busy machine) is retried; only a chain
        // that keeps failing ends the watch.
        maxFailures: MAX_POLL_FAILURES,
        onStall: (error, failures) => {
          if (failures >= MAX_POLL_FAILURES) return; // the watch ends with the error instead
          events.push({ kind: "stalled", reason: `chain poll failed: ${error.message}` });
        },
        signal: AbortSignal.any([signal, logEnded.signal]),
      })
    ) {
      // Decoded whole before anything is pushed: the follower passes a batch only once this loop
      // asks for the next, so no event is pushed twice.
      for (const event of jobEventsOf(logs)) {
        switch (event.kind) {
          case "claimed":
            events.push(event);
            if (!watching.has(event.provider)) {
              watching.add(event.provider);
              followProgress({ ...options, provider: event.provider });
            }
            break;
          case "committed":
            committed.add(event.slot);
            events.push(event);
            break;
          case "paid":
            events.push(event);
            paid.add(event.slot);
            break;
          case "slashed":
            slashed.add(event.slot);
            events.push(event);
            break;
          case "released": {
            // The provider reports why on its progress stream just before it releases.
            const report = await failureReport(events, event.provider, signal);
            events.push({
              ...event,
              ...(report?.code ? { code: report.code } : {}),
              ...(report ? { message: report.reason } : {}),
            });
            break;
          }
          case "refunded":
            events.push(event);
            refunded = true;
            break;
          default:
            events.push(event);
        }
      }
      // After the whole batch: a payment's work refund is logged after it in the same block.
      endIfSettled();
      if (events.ended) return;
    }
  } catch (error) {
    if (!signal.aborted) events.end(error);
  }
}

/** A batch of one job's `JobMarket` logs as the submitter's events (pure; in log order). */
function jobEventsOf(logs: readonly DecodedLog<typeof jobMarketAbi>[]): JobEvent[] {
  // A commitWork emits JobCommitted then WorkCommitted in one transaction.
  const unitsOf = new Map<string, number>();
  for (const log of logs) {
    if (log.eventName !== "WorkCommitted") continue;
    unitsOf.set(`${log.transactionHash}/${log.args.slot}`, Number(log.args.units));
  }
  const out: JobEvent[] = [];
  for (const log of logs) {
    switch (log.eventName) {
      case "JobClaimed":
        out.push({ kind: "claimed", slot: Number(log.args.slot), provider: log.args.provider });
        break;
      case "JobCommitted": {
        const units = unitsOf.get(`${log.transactionHash}/${log.args.slot}`);
        out.push({
          kind: "committed",
          slot: Number(log.args.slot),
          provider: log.args.provider,
          finalHash: fromBytes32(log.args.finalStateHash),
          traceRoot: fromBytes32(log.args.traceRoot),
          ...(units === undefined ? {} : { units }),
        });
        break;
      }
      case "WorkRefunded":
        out.push({
          kind: "work-refunded",
          slot: Number(log.args.slot),
          amountWei: log.args.amount,
        });
        break;
      case "JobFinalized":
        out.push({
          kind: "paid",
          slot: Number(log.args.slot),
          paidWei: log.args.paid,
          feeWei: log.args.fee,
        });
        break;
      case "DisputeSettled":
        if (!log.args.providerHonest) {
          out.push({ kind: "slashed", slot: Number(log.args.slot), slashedWei: log.args.slashed });
        }
        break;
      case "JobReleased":
        out.push({
          kind: "released",
          slot: Number(log.args.slot),
          provider: log.args.provider,
          reason: releaseReasonOf(Number(log.args.reason)),
          slashedWei: log.args.slashed,
        });
        break;
      case "JobRefunded":
        out.push({ kind: "refunded", amountWei: log.args.amount });
        break;
      case "JobReassigned":
        out.push({
          kind: "reassigned",
          reopened: Number(log.args.reopened),
          deadline: Number(log.args.deadline),
        });
        break;
    }
  }
  return out;
}

/** How long a release waits for its provider's failure report to arrive, ms. */
const REPORT_WAIT_MS = 2_000;

/** The failure `provider` reported on its progress stream, waiting briefly for it to arrive. */
async function failureReport(
  events: EventLog<JobEvent>,
  provider: string,
  signal: AbortSignal,
): Promise<Extract<JobEvent, { kind: "failed" }> | undefined> {
  const find = () =>
    events.events.findLast((e): e is Extract<JobEvent, { kind: "failed" }> =>
      e.kind === "failed" && e.provider?.toLowerCase() === provider.toLowerCase()
    );
  const until = Date.now() + REPORT_WAIT_MS;
  while (!find() && Date.now() < until && !signal.aborted) {
    await sleep(50, signal).catch(() => {});
  }
  return find();
}

/** Consecutive failed chain polls after which a watch gives up. */
const MAX_POLL_FAILURES = 20;

/**
 * Streams a provider's training progress into the job's events. A lost stream (the provider
 * restarted, the network blipped) is reported as `stalled` and watched again from the start until
 * the job's log ends: a restarted provider re-publishes the checkpoints it resumed from, and its
 * committed trace.
 */
async function followProgress(
  options: WatchJobOptions & { provider: string },
): Promise<void> {
  const { chain, wire, jobId, events, signal, provider } = options;
  let retryMs = 250;
  while (!signal.aborted && !events.ended) {
    try {
      const peer = await peerIdOfAccount(chain, provider);
      for await (const update of wire.watchProgress(peer, jobId, signal)) {
        retryMs = 250;
        if (update.checkpoint) {
          const { step, hash } = update.checkpoint;
          events.push({ kind: "checkpoint", step, hash });
        } else if (update.loss !== undefined) {
          events.push({ kind: "step", step: update.step, loss: update.loss });
        }
        if (update.status === "failed") {
          events.push({
            kind: "failed",
            reason: update.message ?? "the provider reported a failure",
            ...(update.code ? { code: update.code } : {}),
            provider,
          });
          return;
        }
      }
      return; // the provider finished the job (or reported its failure)
    } catch (error) {
      // Also after the commit: a submitter that lost the stream (or attached late) still needs
      // the checkpoints to check the commitment, and a restarted provider serves them again.
      if (signal.aborted || events.ended) return;
      events.push({
        kind: "stalled",
        reason: `provider unreachable (${(error as Error).message}); trying again`,
      });
      await sleep(retryMs, signal);
      retryMs = Math.min(retryMs * 2, 5000);
    }
  }
}

/**
 * Follows a distributed job's gossip topic: every worker's round report becomes a `round` event.
 * Reports are taken only from the bound peer of a claimed slot (`checkSender`). Subscribing also
 * makes the submitter's node relay the topic between workers that reach only it.
 *
 * @example
 * ```ts ignore
 * followDistributedJob({ chain, wire, jobId, events, signal });
 * ```
 */
export function followDistributedJob(options: WatchJobOptions): void {
  const { chain, wire, jobId, events, signal } = options;
  if (!wire.host) return;
  const topic = joinDistTopic(wire.host, jobId);
  const peerOfSlot = new Map<number, string>();
  topic.onMessage((from, message) => {
    if (message.t !== "round" || events.ended) return;
    try {
      checkSender(from, message, peerOfSlot);
    } catch {
      // Not (yet known as) the slot's bound peer: a stranger's or an early report is dropped;
      // the worker's trace, committed on-chain, is the record that counts.
      return;
    }
    events.push({
      kind: "round",
      round: message.round,
      worker: message.slot,
      members: message.members,
      counted: message.counted,
      absent: message.absent,
      rejected: message.rejected,
      loss: message.loss,
      bytesSent: message.bytesSent,
      outerHash: message.outerHash,
    });
  });
  const close = (): void => topic.close();
  signal.addEventListener("abort", close, { once: true });
  // Claims arrive before any report: look each slot's bound peer up as it is claimed.
  (async () => {
    for await (const e of events) {
      if (e.kind !== "claimed" || peerOfSlot.has(e.slot)) continue;
      try {
        peerOfSlot.set(e.slot, await peerIdOfAccount(chain, e.provider));
      } catch {
        // A claimant without a bound peer cannot take part; its reports stay unheard.
      }
    }
  })().catch(() => {
    // The log ended with an error; the topic closes below.
  }).finally(close);
}
