/**
 * Metrics from contract events: job volume, active stakers, fees and burned supply. Each reader
 * scans logs over a block range (default: the whole chain), so it works against any node that
 * keeps logs, without an indexer.
 *
 * @module
 */

import type { Address } from "./types.ts";
import { feeRouterAbi } from "./artifacts/FeeRouter.ts";
import { jobMarketAbi } from "./artifacts/JobMarket.ts";
import { stakingAbi } from "./artifacts/Staking.ts";
import { tokenAbi } from "./artifacts/Token.ts";
import type { ChainClient } from "./client.ts";

/** Block range of a metric; default from genesis to the latest block. */
export interface RangeParams {
  /** First block scanned; default 0. */
  fromBlock?: bigint;
  /** Last block scanned; default latest. */
  toBlock?: bigint;
}

function range(p: RangeParams = {}): { fromBlock: bigint; toBlock: bigint | "latest" } {
  return { fromBlock: p.fromBlock ?? 0n, toBlock: p.toBlock ?? "latest" };
}

/** Job market volume. */
export interface JobVolume {
  /** Jobs created. */
  jobsCreated: number;
  /** Payment escrowed by those jobs, wei. */
  escrowedWei: bigint;
  /** Slots paid. */
  slotsFinalized: number;
  /** Paid to providers, wei. */
  paidWei: bigint;
  /** Refunded to submitters, wei. */
  refundedWei: bigint;
}

/**
 * Job volume from `JobCreated`, `JobFinalized` and `JobRefunded` events.
 *
 * @example
 * ```ts
 * import { jobVolume } from "./metrics.ts";
 * declare const client: import("./client.ts").ChainClient;
 * const { jobsCreated, paidWei } = await jobVolume(client);
 * ```
 */
export async function jobVolume(client: ChainClient, params?: RangeParams): Promise<JobVolume> {
  const read = (eventName: "JobCreated" | "JobFinalized" | "JobRefunded") =>
    client.public.getContractEvents({
      address: client.addresses.jobMarket,
      abi: jobMarketAbi,
      eventName,
      ...range(params),
    });
  const [created, finalized, refunded] = await Promise.all([
    read("JobCreated"),
    read("JobFinalized"),
    read("JobRefunded"),
  ]);
  const sum = (logs: { args: Record<string, unknown> }[], key: string) =>
    logs.reduce((acc, l) => acc + (l.args[key] as bigint), 0n);
  return {
    jobsCreated: created.length,
    escrowedWei: sum(created, "payment"),
    slotsFinalized: finalized.length,
    paidWei: sum(finalized, "paid"),
    refundedWei: sum(refunded, "amount"),
  };
}

/** Staker statistics. */
export interface StakerStats {
  /** Accounts with non-zero active stake now. */
  activeStakers: number;
  /** Sum of their active stake, wei. */
  totalStakedWei: bigint;
  /** Every account that ever staked. */
  accounts: Address[];
}

/** Active stakers: accounts seen in `Staked` events whose current stake is non-zero. */
export async function activeStakers(
  client: ChainClient,
  params?: RangeParams,
): Promise<StakerStats> {
  const logs = await client.public.getContractEvents({
    address: client.addresses.staking,
    abi: stakingAbi,
    eventName: "Staked",
    ...range(params),
  });
  const accounts = [...new Set(logs.map((l) => l.args.account as Address))];
  const stakes = await Promise.all(accounts.map((account) =>
    client.public.readContract({
      address: client.addresses.staking,
      abi: stakingAbi,
      functionName: "stakeOf",
      args: [account],
    })
  ));
  const active = stakes.filter(([staked]) => staked > 0n);
  return {
    activeStakers: active.length,
    totalStakedWei: active.reduce((acc, [staked]) => acc + staked, 0n),
    accounts,
  };
}

/** Protocol fee statistics. */
export interface FeeStats {
  /** Fees charged on job payments, wei of AIGENSYN. */
  collectedWei: bigint;
  /** AIGENSYN burned by the fee router. */
  burnedWei: bigint;
  /** AIGENSYN sent to the treasury. */
  treasuryWei: bigint;
  /** AIGENSYN bought back with other tokens. */
  boughtBackWei: bigint;
  /** Number of buybacks. */
  buybacks: number;
}

/** Fee flows from `JobFinalized`, `FeesDistributed` and `BoughtBack` events. */
export async function feeStats(client: ChainClient, params?: RangeParams): Promise<FeeStats> {
  const [finalized, distributed, bought] = await Promise.all([
    client.public.getContractEvents({
      address: client.addresses.jobMarket,
      abi: jobMarketAbi,
      eventName: "JobFinalized",
      ...range(params),
    }),
    client.public.getContractEvents({
      address: client.addresses.feeRouter,
      abi: feeRouterAbi,
      eventName: "FeesDistributed",
      ...range(params),
    }),
    client.public.getContractEvents({
      address: client.addresses.feeRouter,
      abi: feeRouterAbi,
      eventName: "BoughtBack",
      ...range(params),
    }),
  ]);
  return {
    collectedWei: finalized.reduce((acc, l) => acc + (l.args.fee as bigint), 0n),
    burnedWei: distributed.reduce((acc, l) => acc + (l.args.burned as bigint), 0n),
    treasuryWei: distributed.reduce((acc, l) => acc + (l.args.toTreasury as bigint), 0n),
    boughtBackWei: bought.reduce((acc, l) => acc + (l.args.amountOut as bigint), 0n),
    buybacks: bought.length,
  };
}

/** Burned supply. */
export interface BurnStats {
  /** Sum of transfers to the zero address in the range, wei. */
  burnedWei: bigint;
  /** The token's own running total (all time), wei. */
  totalBurnedWei: bigint;
  /** Burns in the range, `[blockNumber, amountWei]`, oldest first: a series to plot. */
  series: [bigint, bigint][];
}

/** Burned supply from `Transfer(from, 0x0)` events and the token's `totalBurned`. */
export async function burnedSupply(client: ChainClient, params?: RangeParams): Promise<BurnStats> {
  const [logs, totalBurnedWei] = await Promise.all([
    client.public.getContractEvents({
      address: client.addresses.token,
      abi: tokenAbi,
      eventName: "Transfer",
      args: { to: "0x0000000000000000000000000000000000000000" },
      ...range(params),
    }),
    client.public.readContract({
      address: client.addresses.token,
      abi: tokenAbi,
      functionName: "totalBurned",
    }),
  ]);
  const series = logs.map((l) => [l.blockNumber, l.args.value as bigint] as [bigint, bigint]);
  return { burnedWei: series.reduce((acc, [, v]) => acc + v, 0n), totalBurnedWei, series };
}
