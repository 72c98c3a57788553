/**
 * Interrupts as cancellation: SIGINT (Ctrl-C in a terminal; Jupyter's interrupt ■ on the project
 * kernel) ends the waits that asked for it, and nothing else. The job, the nodes and the chain go
 * on, and the network stays usable and closeable.
 *
 * Why a signal: Deno's kernel (2.9.6, `cli/js/jupyter_kernel.js`) answers a message interrupt
 * (`interrupt_request`) by calling V8's `TerminateExecution` on the notebook's isolate. That stops a
 * busy loop, but a cell awaiting a promise runs no JavaScript: the termination hits whatever runs
 * next (a timer, an op completion, a provider's training step), uncatchably and without `finally`,
 * so that promise never settles, the cell never replies and the cells queued after it never run.
 * No event reaches code in the notebook. The project kernelspec therefore interrupts with a signal,
 * which its launcher ignores by default (the kernel survives an interrupt nobody listens for), and
 * this module listens for it while a wait is open.
 *
 * In a Jupyter kernel the listener stays once added: Deno restores SIGINT's default action (exit)
 * when its last listener goes, which would turn the next interrupt into a dead kernel. Elsewhere it
 * goes with the last open wait, so Ctrl-C stops a script again.
 *
 * @module
 */

import { TrainingError } from "../core/errors.ts";

/** An interruptible wait: `signal` aborts when this process is interrupted; dispose when done. */
export interface InterruptScope extends Disposable {
  /** Aborts, with a `TRAINING_WAIT_ABORTED` {@link TrainingError}, on the next interrupt. */
  readonly signal: AbortSignal;
}

const open = new Set<AbortController>();
let listening = false;
let kernel: boolean | undefined;

function onInterrupt(): void {
  const reason = new TrainingError(
    "TRAINING_WAIT_ABORTED",
    "interrupted: stopped waiting; the job and the network go on: wait again (followJob, " +
      "job.result()), or close the network",
  );
  for (const controller of open) controller.abort(reason);
  open.clear();
  release();
}

function listen(): void {
  if (listening) return;
  Deno.addSignalListener("SIGINT", onInterrupt);
  listening = true;
}

function release(): void {
  if (!listening || open.size > 0 || inKernel()) return;
  Deno.removeSignalListener("SIGINT", onInterrupt);
  listening = false;
}

function inKernel(): boolean {
  if (kernel === undefined) {
    try {
      // Outside `deno jupyter`, reading Deno.jupyter throws; that is the whole test.
      kernel = typeof Deno.jupyter?.display === "function";
    } catch {
      kernel = false;
    }
  }
  return kernel;
}

/**
 * Opens an interruptible wait: its `signal` aborts on the next interrupt (SIGINT) until disposed.
 * While one is open, an interrupt ends the waits instead of the process.
 *
 * @example
 * ```ts
 * import { interruptScope } from "./interrupt.ts";
 * declare const job: import("./job.ts").Job;
 * using interrupt = interruptScope();
 * const result = await job.result({ signal: interrupt.signal });
 * ```
 */
export function interruptScope(): InterruptScope {
  const controller = new AbortController();
  open.add(controller);
  listen();
  return {
    signal: controller.signal,
    [Symbol.dispose]() {
      open.delete(controller);
      release();
    },
  };
}

/**
 * Runs `wait` with a signal that aborts on the next interrupt: `await interruptible((signal) =>
 * job.result({ signal }))` is a wait that Jupyter's ■ ends.
 *
 * @example
 * ```ts
 * import { interruptible } from "./interrupt.ts";
 * declare const job: import("./job.ts").Job;
 * const { paidWei } = await interruptible((signal) => job.settled({ signal }));
 * ```
 */
export async function interruptible<T>(wait: (signal: AbortSignal) => Promise<T>): Promise<T> {
  using interrupt = interruptScope();
  return await wait(interrupt.signal);
}

/**
 * `source`'s items until `signal` aborts; then it throws `signal.reason` at once, even while an
 * item is awaited, and lets go of the source.
 *
 * @example
 * ```ts
 * import { abortable } from "./interrupt.ts";
 * declare const job: import("./job.ts").Job;
 * for await (const e of abortable(job.progress(), AbortSignal.timeout(60_000))) console.log(e.kind);
 * ```
 */
export async function* abortable<T>(
  source: AsyncIterable<T>,
  signal: AbortSignal,
): AsyncGenerator<T, void, undefined> {
  const iterator = source[Symbol.asyncIterator]();
  let onAbort = (): void => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
  });
  // Only a race below ever awaits it; an abort after the loop is nobody's error.
  aborted.catch(() => {});
  signal.addEventListener("abort", onAbort, { once: true });
  let finished = false;
  try {
    signal.throwIfAborted();
    while (true) {
      const next = await Promise.race([iterator.next(), aborted]);
      if (next.done) {
        finished = true;
        return;
      }
      yield next.value;
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
    // Not awaited: a generator's return waits for its pending next(), which may never come.
    if (!finished) iterator.return?.()?.catch(() => {});
  }
}
