/**
 * The verifier's audit pool, in two stages: up to `preparing` audits run at once up to their
 * draw (chain reads and the spec: waiting on the chain and on peers, not on this machine's cores),
 * and of those, up to `checking` fetch and re-execute at once. An audit that opens a dispute
 * releases its place, so audits never wait behind a dispute.
 *
 * @module
 */

/** One queued audit as the pool runs it. */
export interface PoolRun<Job> {
  /** The job queued. */
  readonly job: Job;
  /** How long it waited in the queue, ms. */
  readonly waitedMs: number;
  /** Frees its place before it ends (idempotent; it is freed at the latest when it ends). */
  readonly release: () => void;
}

/** What a pool runs, and how many at once. */
export interface AuditPoolOptions<Job> {
  /** Audits running at once up to their draw. */
  preparing: number;
  /** Audits fetching and re-executing at once (see {@link AuditPool.checkingPlace}). */
  checking: number;
  /** Runs one queued audit. */
  run(run: PoolRun<Job>): Promise<void>;
  /** Closing the pool: nothing queued starts after it aborts, waiters wake. */
  signal: AbortSignal;
}

/** A two-stage pool of audits; see the module doc. */
export class AuditPool<Job> {
  readonly #options: AuditPoolOptions<Job>;
  /** Audits waiting for a place, oldest first. */
  readonly #waiting: { job: Job; queuedAt: number }[] = [];
  /** Audits holding a place (past their queue, before their dispute). */
  #running = 0;
  /** Places held by audits fetching and re-executing, and who waits for one. */
  #checking = 0;
  readonly #checkingWaiters: (() => void)[] = [];
  /** Every audit started and not finished (waited for on close). */
  readonly #tasks = new Set<Promise<void>>();
  /** Audits queued, delayed or running. */
  #pending = 0;
  readonly #idleWaiters: (() => void)[] = [];

  constructor(options: AuditPoolOptions<Job>) {
    this.#options = options;
  }

  /** Queues an audit, after `delayMs` when given (dropped if the pool closes meanwhile). */
  enqueue(job: Job, delayMs = 0): void {
    const { signal } = this.#options;
    this.#pending++;
    const queue = () => {
      this.#waiting.push({ job, queuedAt: Date.now() });
      this.#pump();
    };
    if (delayMs === 0) return queue();
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", cancel);
      queue();
    }, delayMs);
    const cancel = () => {
      clearTimeout(timer);
      this.#done();
    };
    signal.addEventListener("abort", cancel, { once: true });
  }

  /**
   * Waits for one of the places where an audit fetches and re-executes; returns what frees it
   * (idempotent). Closing the pool wakes the waiters.
   */
  async checkingPlace(): Promise<() => void> {
    while (this.#checking >= this.#options.checking && !this.#options.signal.aborted) {
      await new Promise<void>((wake) => this.#checkingWaiters.push(wake));
    }
    this.#checking++;
    let freed = false;
    return () => {
      if (freed) return;
      freed = true;
      this.#checking--;
      this.#checkingWaiters.shift()?.();
    };
  }

  /** Resolves when no audit is queued, delayed or running. */
  idle(): Promise<void> {
    if (this.#pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** After the signal aborted: wakes the waiters, drops the queue, waits for running audits. */
  async close(): Promise<void> {
    this.wake();
    this.#waiting.splice(0);
    await Promise.all([...this.#tasks]);
  }

  /** Wakes the audits waiting for a checking place (after the signal aborted: they stop). */
  wake(): void {
    for (const wake of this.#checkingWaiters.splice(0)) wake();
  }

  #done(): void {
    if (--this.#pending === 0) { for (const wake of this.#idleWaiters.splice(0)) wake(); }
  }

  /** Starts waiting audits while the pool has room. */
  #pump(): void {
    const { preparing, signal } = this.#options;
    while (this.#running < preparing && this.#waiting.length > 0 && !signal.aborted) {
      const { job, queuedAt } = this.#waiting.shift()!;
      this.#running++;
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        this.#running--;
        this.#pump();
      };
      const waitedMs = Date.now() - queuedAt;
      const task: Promise<void> = this.#options.run({ job, waitedMs, release }).finally(() => {
        release();
        this.#tasks.delete(task);
        this.#done();
      });
      this.#tasks.add(task);
    }
  }
}
