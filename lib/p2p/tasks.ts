/**
 * The task stream (`/gensyn/tasks/1.0.0`): progress of a training job pushed from the provider to
 * the submitter over one long-lived stream.
 *
 * The provider keeps each job's events in order, numbered by `seq`. A submitter opens a stream,
 * asks for a job from a `seq` on (so a reconnecting watcher misses nothing), gets the history, then
 * live events, and the stream ends after a terminal status (`done`, `failed`, `cancelled`).
 *
 * @module
 */

import type { PeerId } from "./types.ts";
import { PeerError } from "../core/errors.ts";
import type { P2PHost } from "./host.ts";
import type { FramedStream } from "./stream.ts";
import { finite, hash, literal, object, optional, str, uint, union } from "./schema.ts";

/** Protocol id of task progress streams. */
export const TASKS_PROTOCOL = "/gensyn/tasks/1.0.0";

/** Status of a job in a progress event. */
export type TaskStatus = "queued" | "running" | "done" | "failed" | "cancelled";

const TERMINAL: ReadonlySet<TaskStatus> = new Set(["done", "failed", "cancelled"]);

/** One progress event of a job. */
export interface ProgressEvent {
  /** The job. */
  jobId: string;
  /** Position in the job's event sequence, from 0 (assigned by the publisher). */
  seq: number;
  /** Training step reached. */
  step: number;
  /** Loss at that step (NaN is not allowed on the wire; omit it instead). */
  loss?: number;
  /** A checkpoint written at this point. */
  checkpoint?: { step: number; hash: string };
  /** Blob id of the provider's trace, once committed (distributed jobs publish it). */
  trace?: string;
  /** Job status. */
  status: TaskStatus;
  /** Free text for failures. */
  message?: string;
  /** Error code of a failure. */
  code?: string;
}

const statusSchema = literal("queued", "running", "done", "failed", "cancelled");
const eventSchema = object({
  t: literal("ev"),
  jobId: hash,
  seq: uint(),
  step: uint(),
  loss: optional(finite),
  checkpoint: optional(object({ step: uint(), hash })),
  trace: optional(hash),
  status: statusSchema,
  message: optional(str(1024)),
  code: optional(str(64)),
});
const replySchema = union({
  ev: eventSchema,
  err: object({ t: literal("err"), code: str(64), message: str(1024) }),
});
const subscribeSchema = object({ t: literal("sub"), jobId: hash, fromSeq: uint() });

/** Options of {@link serveTaskProgress}. */
export interface TaskPublisherOptions {
  /** Most events kept per job (default 100,000); older ones are dropped from the history. */
  maxEventsPerJob?: number;
  /** Which peers may watch a job (default: anyone). */
  canWatch?: (peer: PeerId, jobId: string) => boolean;
}

/** The provider side: publishes events of its jobs. */
export interface TaskPublisher {
  /** Appends an event to a job (its `seq` is assigned) and pushes it to watchers. */
  publish(event: Omit<ProgressEvent, "seq">): ProgressEvent;
  /** Events held for a job. */
  history(jobId: string): readonly ProgressEvent[];
  /** Stops serving; open watchers' streams are closed. */
  close(): Promise<void>;
}

interface JobLog {
  events: ProgressEvent[];
  first: number;
  watchers: Set<(e: ProgressEvent) => void>;
}

/**
 * Serves progress of this node's jobs to watchers.
 *
 * @example
 * ```ts ignore
 * const tasks = await serveTaskProgress(host);
 * tasks.publish({ jobId, step: 10, loss: 0.4, status: "running" });
 * ```
 */
export async function serveTaskProgress(
  host: P2PHost,
  options: TaskPublisherOptions = {},
): Promise<TaskPublisher> {
  const max = options.maxEventsPerJob ?? 100_000;
  const logs = new Map<string, JobLog>();
  const open = new Set<FramedStream>();
  const log = (jobId: string): JobLog => {
    let l = logs.get(jobId);
    if (l === undefined) logs.set(jobId, l = { events: [], first: 0, watchers: new Set() });
    return l;
  };

  await host.handle(TASKS_PROTOCOL, async ({ framed, peer }) => {
    const sub = await framed.readOne(subscribeSchema);
    if (options.canWatch !== undefined && !options.canWatch(peer, sub.jobId)) {
      await framed.fail("PEER_FORBIDDEN", `not allowed to watch job ${sub.jobId}`);
      return;
    }
    const l = log(sub.jobId);
    open.add(framed);
    // Queue live events from now on; send history first, then drain the queue, in seq order.
    const queue: ProgressEvent[] = [];
    let wake: (() => void) | undefined;
    const watcher = (e: ProgressEvent): void => {
      queue.push(e);
      wake?.();
    };
    l.watchers.add(watcher);
    try {
      let next = Math.max(sub.fromSeq, l.first);
      const send = async (e: ProgressEvent): Promise<boolean> => {
        if (e.seq < next) return false;
        await framed.write({ t: "ev", ...e });
        next = e.seq + 1;
        return TERMINAL.has(e.status);
      };
      for (const e of l.events.slice(Math.max(0, next - l.first))) {
        if (await send(e)) return;
      }
      while (true) {
        while (queue.length === 0) {
          if (framed.stream.status !== "open") return;
          await new Promise<void>((r) => {
            wake = r;
            framed.stream.addEventListener("close", () => r(), { once: true });
          });
        }
        if (await send(queue.shift()!)) return;
      }
    } finally {
      l.watchers.delete(watcher);
      open.delete(framed);
      if (framed.stream.status === "open") {
        await framed.close().catch(() => framed.abort("closing"));
      }
    }
  });

  const publisher: TaskPublisher = {
    publish(event): ProgressEvent {
      const l = log(event.jobId);
      const e: ProgressEvent = { ...event, seq: l.first + l.events.length };
      l.events.push(e);
      if (l.events.length > max) {
        l.events.shift();
        l.first++;
      }
      for (const w of l.watchers) w(e);
      return e;
    },
    history(jobId): readonly ProgressEvent[] {
      return logs.get(jobId)?.events ?? [];
    },
    async close(): Promise<void> {
      for (const f of open) f.abort("publisher closed");
      open.clear();
      await Promise.resolve();
    },
  };
  host.onStop(() => publisher.close());
  return publisher;
}

/** Options of {@link watchTaskProgress}. */
export interface WatchOptions {
  /** The provider running the job. */
  peer: PeerId | string;
  /** The job. */
  jobId: string;
  /** First event wanted (default 0: the whole history). */
  fromSeq?: number;
  /** Stops watching. */
  signal?: AbortSignal;
}

/**
 * Watches a job's progress on its provider: yields events in order, ends after a terminal status.
 *
 * Throws `PeerError` `PEER_TRANSFER_INTERRUPTED` if the stream breaks before a terminal event
 * (call again with `fromSeq` one past the last event seen to resume).
 *
 * @example
 * ```ts ignore
 * for await (const e of watchTaskProgress(host, { peer: provider, jobId })) {
 *   console.log(e.step, e.loss, e.status);
 * }
 * ```
 */
export async function* watchTaskProgress(
  host: P2PHost,
  options: WatchOptions,
): AsyncGenerator<ProgressEvent, void, undefined> {
  // A training step can take long: a watcher waits for events without a read timeout.
  const framed = await host.open(options.peer, TASKS_PROTOCOL, options.signal, 0);
  const onAbort = (): void => framed.abort("watch aborted");
  options.signal?.addEventListener("abort", onAbort, { once: true });
  let expected = options.fromSeq ?? 0;
  try {
    await framed.write({ t: "sub", jobId: options.jobId, fromSeq: expected });
    while (true) {
      let msg;
      try {
        msg = await framed.read(replySchema);
      } catch (cause) {
        if (options.signal?.aborted) return;
        if (cause instanceof PeerError && cause.code !== "PEER_TIMEOUT") throw cause;
        throw new PeerError(
          "PEER_TRANSFER_INTERRUPTED",
          `progress stream of ${options.jobId} broke`,
          { cause },
        );
      }
      if (msg === undefined) {
        if (options.signal?.aborted) return;
        throw new PeerError(
          "PEER_TRANSFER_INTERRUPTED",
          `provider closed the progress stream of ${options.jobId} before it finished; watch again from seq ${expected}`,
          { value: expected },
        );
      }
      if (msg.t === "err") throw new PeerError(msg.code, `provider refused: ${msg.message}`);
      const { t: _t, ...event } = msg;
      if (event.jobId !== options.jobId || event.seq < expected) {
        throw new PeerError(
          "PEER_MALFORMED",
          `provider sent event ${event.seq} of ${event.jobId} out of order`,
        );
      }
      expected = event.seq + 1;
      yield event;
      if (TERMINAL.has(event.status)) return;
    }
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    if (framed.stream.status === "open") framed.abort("watch ended");
  }
}
