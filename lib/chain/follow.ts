/**
 * Following a contract's events as blocks arrive: the one loop every node role uses to watch the
 * chain (commits for the verifier, disputes for the parties and referees, a job's life for its
 * submitter), with one failure policy.
 *
 * - **Cursor.** Reading starts at `fromBlock` (or at the saved {@linkcode BlockCursor}) and goes
 *   forward in ranges of at most `blocksPerCall` blocks, up to `confirmations` blocks behind the
 *   head. Each non-empty range is one batch, in block and log order. The cursor moves past a batch
 *   when the consumer asks for the next one, and is saved then: delivery is at least once (a
 *   crash while a batch is processed delivers it again after the restart), so consumers must be
 *   idempotent.
 * - **Failures.** A failed RPC call is retried after `pollMs`, then twice as long each time up to
 *   `maxBackoffMs`; every failure is reported to `onStall` with the count of failures in a row,
 *   and after `maxFailures` of them the follower throws a `ChainError` (`CHAIN_STALLED`). Every
 *   wait ends as soon as `signal` aborts; a call already sent finishes first (the transport's own
 *   timeout bounds it).
 *
 * Reorgs: logs are read only from blocks `confirmations` deep, and nothing already delivered is
 * taken back. Devnets (anvil) never reorg, so the default is 0; on a chain that does, set it to a
 * depth past which blocks are final there.
 *
 * @module
 */

import { ChainError } from "../core/errors.ts";
import { sleep } from "../core/sleep.ts";
import type { BlockCursor } from "./cursor.ts";
import { blocksPerCallOf, type LogFilter, logsBetween } from "./logs.ts";
import type { Abi, ContractEventName, DecodedLog } from "./types.ts";

/** How chain calls are retried: the one failure policy of followers. */
export interface RetryPolicy {
  /** The first wait after a failure, doubled after each further one (and the poll interval). Default 200 ms. */
  pollMs?: number;
  /** The longest wait between tries. Default 5000 ms. */
  maxBackoffMs?: number;
  /**
   * Failures in a row after which the call throws `CHAIN_STALLED` instead of trying again.
   * Default `Infinity`: keep trying as long as `signal` allows.
   */
  maxFailures?: number;
  /** Told of every failure, with the number of failures in a row so far (log it, show "stalled"). */
  onStall?: (error: Error, consecutiveFailures: number) => void;
  /** Stops waiting and trying. */
  signal?: AbortSignal;
}

/** Options of {@linkcode followLogs}. */
export interface FollowLogsOptions<
  abi extends Abi,
  eventName extends ContractEventName<abi> | undefined = undefined,
> extends LogFilter<abi, eventName>, RetryPolicy {
  /** First block read when the cursor has none saved. Default 0. */
  fromBlock?: bigint;
  /**
   * Blocks left unread behind the head, so that a reorg shallower than this never reaches a
   * delivered log. Default 0 (devnets do not reorg).
   */
  confirmations?: number;
  /**
   * Where the follower resumes and what it saves after each processed batch (and after
   * `blocksPerCall` empty blocks, so a restart rereads at most one call's worth of them).
   * Default: nothing saved; every start reads from `fromBlock`.
   */
  cursor?: BlockCursor;
}

/**
 * Follows the logs of one contract from `fromBlock` (or the saved cursor) on, yielding each
 * non-empty batch in block and log order, until `signal` aborts (the generator then returns) or
 * `maxFailures` chain calls in a row failed (it throws `CHAIN_STALLED`). The cursor passes a
 * batch only when the consumer asks for the next one; a consumer that breaks out of the loop
 * leaves it before the batch it was given.
 *
 * @example
 * ```ts
 * import { followLogs } from "./follow.ts";
 * import { fileCursor } from "./cursor.ts";
 * import { jobMarketAbi } from "./artifacts/JobMarket.ts";
 * declare const chain: import("./client.ts").ChainClient;
 * const stop = new AbortController();
 * for await (
 *   const batch of followLogs({
 *     client: chain.public,
 *     address: chain.addresses.jobMarket,
 *     abi: jobMarketAbi,
 *     eventName: "JobCommitted",
 *     cursor: fileCursor(".data/commits.json"),
 *     onStall: (error, failures) => console.log(`stalled (${failures}): ${error.message}`),
 *     signal: stop.signal,
 *   })
 * ) {
 *   for (const log of batch) console.log(log.blockNumber, log.args.jobId, log.args.slot);
 * }
 * ```
 */
export async function* followLogs<
  const abi extends Abi,
  eventName extends ContractEventName<abi> | undefined = undefined,
>(
  options: FollowLogsOptions<abi, eventName>,
): AsyncGenerator<readonly DecodedLog<abi, eventName>[], void, undefined> {
  const { client, signal, cursor } = options;
  const pollMs = options.pollMs ?? DEFAULT_POLL_MS;
  const blocksPerCall = blocksPerCallOf(options);
  const confirmations = BigInt(options.confirmations ?? 0);
  const stalls = new Stalls(options);
  let next = (await cursor?.load()) ?? options.fromBlock ?? 0n;
  let savedAt = next;
  while (!signal?.aborted) {
    let safe: bigint;
    let to: bigint;
    let logs: DecodedLog<abi, eventName>[] = [];
    try {
      safe = await client.getBlockNumber({ cacheTime: 0 }) - confirmations;
      to = safe - next >= blocksPerCall ? next + blocksPerCall - 1n : safe;
      if (to >= next) logs = await logsBetween(options, next, to);
    } catch (error) {
      if (signal?.aborted) return;
      await stalls.failed(error, `reading the logs of ${options.address} from block ${next}`);
      continue;
    }
    stalls.recovered();
    if (to < next) {
      await sleep(pollMs, signal); // nothing new (deep enough) yet
      continue;
    }
    if (logs.length > 0) yield logs; // resumes once the consumer asks for the next batch
    next = to + 1n;
    if (cursor && (logs.length > 0 || next - savedAt >= blocksPerCall)) {
      await cursor.save(next);
      savedAt = next;
    }
    if (to >= safe) await sleep(pollMs, signal); // caught up: wait for new blocks
  }
}

/**
 * Calls `call` until it succeeds, under the follower's failure policy: for a one-off chain read
 * that must not fail on a brief outage. Throws `CHAIN_STALLED` after `maxFailures` failures in a
 * row, and `signal.reason` when `signal` aborts.
 *
 * @example
 * ```ts
 * import { retryChainCall } from "./follow.ts";
 * declare const chain: import("./client.ts").ChainClient;
 * const genesis = await retryChainCall(() => chain.public.getBlock({ blockNumber: 0n }), {
 *   what: "reading the genesis block",
 *   onStall: (error) => console.log(`chain unreachable: ${error.message}`),
 * });
 * console.log(genesis.hash);
 * ```
 */
export async function retryChainCall<T>(
  call: () => Promise<T>,
  policy: RetryPolicy & { what?: string } = {},
): Promise<T> {
  const stalls = new Stalls(policy);
  while (true) {
    policy.signal?.throwIfAborted();
    try {
      return await call();
    } catch (error) {
      policy.signal?.throwIfAborted();
      await stalls.failed(error, policy.what ?? "a chain call");
    }
  }
}

/** Poll interval and first retry wait, ms. */
const DEFAULT_POLL_MS = 200;
/** Longest wait between retries, ms. */
const DEFAULT_MAX_BACKOFF_MS = 5_000;

/** Failures in a row, and the capped exponential wait before the next try. */
class Stalls {
  #failures = 0;
  #waitMs: number;
  readonly #policy: RetryPolicy;

  constructor(policy: RetryPolicy) {
    this.#policy = policy;
    this.#waitMs = policy.pollMs ?? DEFAULT_POLL_MS;
  }

  /** Reports a failure, throws when there were too many in a row, else waits before the next try. */
  async failed(error: unknown, what: string): Promise<void> {
    const failures = ++this.#failures;
    const cause = error instanceof Error ? error : new Error(String(error));
    this.#policy.onStall?.(cause, failures);
    if (failures >= (this.#policy.maxFailures ?? Infinity)) {
      throw new ChainError(
        "CHAIN_STALLED",
        `${what} failed ${failures} times in a row (last: ${firstLine(cause.message)}); ` +
          "check that the chain's RPC endpoint is up and reachable from here, and lower " +
          "blocksPerCall if it limits eth_getLogs ranges",
        { cause: error, value: failures },
      );
    }
    await sleep(this.#waitMs, this.#policy.signal);
    this.#waitMs = Math.min(this.#waitMs * 2, this.#policy.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS);
  }

  /** A call went through: the next failure starts the count and the backoff over. */
  recovered(): void {
    this.#failures = 0;
    this.#waitMs = this.#policy.pollMs ?? DEFAULT_POLL_MS;
  }
}

/** viem's messages run over many lines (request body, docs link); the first says what failed. */
function firstLine(message: string): string {
  return message.split("\n")[0];
}
