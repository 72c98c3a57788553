/**
 * An append-only event log with any number of readers: each reader gets every event from the
 * start, then waits for new ones, until the log ends (or fails). Jobs use it for progress, so a
 * notebook cell that starts iterating late still sees the whole story.
 *
 * @module
 */

/**
 * Events in order, readable many times.
 *
 * @example
 * ```ts
 * import { EventLog } from "./event_log.ts";
 * const log = new EventLog<number>();
 * log.push(1);
 * setTimeout(() => { log.push(2); log.end(); }, 10);
 * for await (const n of log) console.log(n); // 1, 2
 * ```
 */
export class EventLog<T> implements AsyncIterable<T> {
  readonly #events: T[] = [];
  #ended = false;
  #error: unknown = undefined;
  #wake: (() => void)[] = [];

  /** Appends an event (ignored after the log ended). */
  push(event: T): void {
    if (this.#ended) return;
    this.#events.push(event);
    this.#notify();
  }

  /** Ends the log; readers finish after the last event, or throw `error` if given. */
  end(error?: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#error = error;
    this.#notify();
  }

  /** Whether the log has ended. */
  get ended(): boolean {
    return this.#ended;
  }

  /** The events so far. */
  get events(): readonly T[] {
    return this.#events;
  }

  /** Resolves with the first event (past or future) matching `predicate`. */
  async first<S extends T>(predicate: (event: T) => event is S): Promise<S>;
  /** Resolves with the first event (past or future) matching `predicate`. */
  async first(predicate: (event: T) => boolean): Promise<T>;
  async first(predicate: (event: T) => boolean): Promise<T> {
    for await (const event of this) if (predicate(event)) return event;
    throw new Error("the log ended without a matching event");
  }

  /** Iterates every event from the first, waiting for new ones until the log ends. */
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    let next = 0;
    while (true) {
      while (next < this.#events.length) yield this.#events[next++];
      if (this.#ended) {
        if (this.#error !== undefined) throw this.#error;
        return;
      }
      await new Promise<void>((resolve) => this.#wake.push(resolve));
    }
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = [];
    for (const w of wake) w();
  }
}
