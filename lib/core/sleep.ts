/**
 * Waiting that can be cut short: a pause that ends early, without leaving a timer behind, when its
 * signal aborts.
 *
 * @module
 */

/**
 * Resolves after `ms`, or as soon as `signal` aborts (never rejects).
 *
 * @example
 * ```ts
 * import { sleep } from "./sleep.ts";
 * const stop = new AbortController();
 * await sleep(1000, stop.signal);
 * ```
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
