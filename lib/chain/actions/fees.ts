/**
 * Fee router actions: split AIGENSYN fees (70% burned, 30% treasury) and buy back AIGENSYN with
 * fees paid in other tokens through the Uniswap V2 pair. Anyone may call either.
 *
 * @module
 */

import type { Address } from "../types.ts";
import { feeRouterAbi } from "../artifacts/FeeRouter.ts";
import { jobMarketAbi } from "../artifacts/JobMarket.ts";
import type { ChainClient } from "../client.ts";
import { eventsOf, send, type TxResult } from "../transact.ts";

/** How a distribution split the fees. */
export interface DistributionResult extends TxResult {
  /** AIGENSYN burned. */
  burnedWei: bigint;
  /** AIGENSYN sent to the treasury. */
  treasuryWei: bigint;
}

/** Result of {@linkcode sweepFees}. */
export interface SweepResult extends TxResult {
  /** Fees moved from the job market to the fee router. */
  amountWei: bigint;
}

/** Moves the job market's accrued protocol fees to the fee router; anyone may call. */
export async function sweepFees(client: ChainClient): Promise<SweepResult> {
  const tx = await send(client, {
    address: client.addresses.jobMarket,
    abi: jobMarketAbi,
    functionName: "sweepFees",
    action: "fees.sweep",
  });
  const [event] = eventsOf(jobMarketAbi, tx.receipt, "FeesSwept");
  return { ...tx, amountWei: event.args.amount as bigint };
}

/** Fees accrued in the job market, not yet swept to the fee router. */
export async function accruedFees(client: ChainClient): Promise<bigint> {
  return await client.public.readContract({
    address: client.addresses.jobMarket,
    abi: jobMarketAbi,
    functionName: "accruedFees",
  });
}

/**
 * Splits the fee router's AIGENSYN balance (burn share burned, the rest to the treasury), first
 * sweeping the job market's accrued fees into it when there are any.
 */
export async function distributeFees(
  client: ChainClient,
): Promise<DistributionResult & { sweep?: SweepResult }> {
  const sweep = (await accruedFees(client)) > 0n ? await sweepFees(client) : undefined;
  const tx = await send(client, {
    address: client.addresses.feeRouter,
    abi: feeRouterAbi,
    functionName: "distribute",
    action: "fees.distribute",
  });
  const [event] = eventsOf(feeRouterAbi, tx.receipt, "FeesDistributed");
  return {
    ...tx,
    burnedWei: event.args.burned as bigint,
    treasuryWei: event.args.toTreasury as bigint,
    sweep,
  };
}

/** Parameters of {@linkcode buyback}. */
export interface BuybackParams {
  /** Fee token to sell; default the devnet stable token. */
  tokenIn?: Address;
  /** The caller's own floor on AIGENSYN bought (on top of the contract's slippage bound). */
  minAmountOutWei?: bigint;
}

/** Result of {@linkcode buyback}. */
export interface BuybackResult extends DistributionResult {
  /** Fee tokens sold. */
  amountIn: bigint;
  /** AIGENSYN bought. */
  amountOutWei: bigint;
}

/**
 * Swaps the router's whole balance of `tokenIn` for AIGENSYN through Uniswap V2, then distributes.
 *
 * @example
 * ```ts
 * import { buyback } from "./fees.ts";
 * declare const client: import("../client.ts").ChainClient;
 * const { amountOutWei, burnedWei } = await buyback(client, {});
 * ```
 */
export async function buyback(client: ChainClient, params: BuybackParams): Promise<BuybackResult> {
  const tx = await send(client, {
    address: client.addresses.feeRouter,
    abi: feeRouterAbi,
    functionName: "buyback",
    args: [params.tokenIn ?? client.addresses.stable, params.minAmountOutWei ?? 0n],
    action: "fees.buyback",
  });
  const [bought] = eventsOf(feeRouterAbi, tx.receipt, "BoughtBack");
  const [split] = eventsOf(feeRouterAbi, tx.receipt, "FeesDistributed");
  return {
    ...tx,
    amountIn: bought.args.amountIn as bigint,
    amountOutWei: bought.args.amountOut as bigint,
    burnedWei: split.args.burned as bigint,
    treasuryWei: split.args.toTreasury as bigint,
  };
}
