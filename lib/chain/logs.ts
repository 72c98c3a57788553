/**
 * Reading a contract's event logs, decoded against its ABI: the typed form of `eth_getLogs` that
 * the rest of the toolkit uses instead of casting `args` by hand. A read spans any number of
 * blocks but asks the node for at most {@linkcode DEFAULT_BLOCKS_PER_CALL} at a time, since public
 * RPC endpoints refuse (or time out on) one huge range. {@linkcode followLogs} builds on it to
 * follow new logs as blocks arrive.
 *
 * @module
 */

import type { GetContractEventsParameters } from "npm:viem@2.57.20";
import { ChainError } from "../core/errors.ts";
import type {
  Abi,
  Address,
  ContractEventName,
  DecodedLog,
  IndexedArgsFilter,
  PublicClient,
} from "./types.ts";

/** Blocks one `eth_getLogs` call covers at most, unless told otherwise. */
export const DEFAULT_BLOCKS_PER_CALL = 5_000;

/** Which logs to read: one contract's events, optionally one event and its indexed arguments. */
export interface LogFilter<
  abi extends Abi,
  eventName extends ContractEventName<abi> | undefined = undefined,
> {
  /** Reads with it. */
  client: PublicClient;
  /** The emitting contract. */
  address: Address;
  /** Its ABI, `as const` so `args` are typed. */
  abi: abi;
  /** Only this event; default every event of `abi`. */
  eventName?: eventName;
  /** Only logs whose indexed arguments have these values. */
  args?: IndexedArgsFilter<abi, eventName extends string ? eventName : ContractEventName<abi>>;
  /** Blocks one `eth_getLogs` call covers at most. Default {@linkcode DEFAULT_BLOCKS_PER_CALL}. */
  blocksPerCall?: number;
}

/** Options of {@linkcode readLogs}. */
export interface ReadLogsOptions<
  abi extends Abi,
  eventName extends ContractEventName<abi> | undefined = undefined,
> extends LogFilter<abi, eventName> {
  /** First block read. Default 0. */
  fromBlock?: bigint;
  /** Last block read. Default the latest block. */
  toBlock?: bigint;
}

/**
 * Reads the decoded logs of blocks `fromBlock..toBlock` in block and log order, in calls of at
 * most `blocksPerCall` blocks.
 *
 * @example
 * ```ts
 * import { readLogs } from "./logs.ts";
 * import { jobMarketAbi } from "./artifacts/JobMarket.ts";
 * declare const chain: import("./client.ts").ChainClient;
 * const claims = await readLogs({
 *   client: chain.public,
 *   address: chain.addresses.jobMarket,
 *   abi: jobMarketAbi,
 *   eventName: "JobClaimed",
 * });
 * for (const log of claims) console.log(log.args.slot, log.args.provider);
 * ```
 */
export async function readLogs<
  const abi extends Abi,
  eventName extends ContractEventName<abi> | undefined = undefined,
>(options: ReadLogsOptions<abi, eventName>): Promise<DecodedLog<abi, eventName>[]> {
  const toBlock = options.toBlock ?? await options.client.getBlockNumber({ cacheTime: 0 });
  const step = blocksPerCallOf(options);
  const logs: DecodedLog<abi, eventName>[] = [];
  for (let from = options.fromBlock ?? 0n; from <= toBlock; from += step) {
    const to = from + step - 1n < toBlock ? from + step - 1n : toBlock;
    logs.push(...await logsBetween(options, from, to));
  }
  return logs;
}

/** The decoded logs of blocks `fromBlock..toBlock`, in one `eth_getLogs` call. */
export async function logsBetween<
  const abi extends Abi,
  eventName extends ContractEventName<abi> | undefined = undefined,
>(
  filter: LogFilter<abi, eventName>,
  fromBlock: bigint,
  toBlock: bigint,
): Promise<DecodedLog<abi, eventName>[]> {
  // viem's parameter type is generic over the literal ABI; the filter's fields fit it as they are.
  const parameters = {
    address: filter.address,
    abi: filter.abi,
    eventName: filter.eventName,
    args: filter.args,
    // Strict: every logged argument decoded, so `args` has no optional fields.
    strict: true,
    fromBlock,
    toBlock,
  } as GetContractEventsParameters;
  const logs = await filter.client.getContractEvents(parameters) as unknown as DecodedLog<
    abi,
    eventName
  >[];
  // eth_getLogs answers in this order already; nothing downstream should depend on a node that
  // does not.
  return logs.sort((a, b) =>
    a.blockNumber === b.blockNumber
      ? a.logIndex - b.logIndex
      : a.blockNumber < b.blockNumber
      ? -1
      : 1
  );
}

/** The filter's block span per call, as a bigint (checked: a positive whole number). */
export function blocksPerCallOf(filter: { blocksPerCall?: number }): bigint {
  const n = filter.blocksPerCall ?? DEFAULT_BLOCKS_PER_CALL;
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new ChainError(
      "BLOCKS_PER_CALL",
      `blocksPerCall must be a positive whole number of blocks, not ${n}`,
      { value: n },
    );
  }
  return BigInt(n);
}
