/**
 * Fee router actions: split AIGENSYN fees (70% burned, 30% treasury) and buy back AIGENSYN with
 * fees paid in other tokens through the Uniswap V2 pair. Anyone may call either.
 *
 * A buyback is priced against the pair's time-weighted average price (Uniswap V2's cumulative
 * price oracle), never its spot reserves, so a transaction that moves the pool around the buyback
 * (a sandwich) cannot lower what the protocol gets. The TWAP needs an observation at least the
 * router's `twapWindow` old (30 minutes by default): {@linkcode observeFeePrice}, wait, then
 * {@linkcode buyback}. {@linkcode quoteBuyback} tells how much a buyback may sell now and the
 * least it must buy.
 *
 * @module
 */

import type { Address } from "../types.ts";
import { feeRouterAbi } from "../artifacts/FeeRouter.ts";
import { jobMarketAbi } from "../artifacts/JobMarket.ts";
import type { ChainClient } from "../client.ts";
import { toChainError } from "../revert.ts";
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

/** Parameters of the fee router's per-token actions. */
export interface FeeTokenParams {
  /** Fee token; default the devnet stable token. */
  tokenIn?: Address;
}

/** Result of {@linkcode observeFeePrice}. */
export interface ObserveResult extends TxResult {
  /** Whether a new observation was recorded (false while one is still maturing). */
  recorded: boolean;
  /** Chain time from which a buyback can measure its TWAP from the maturing observation. */
  readyAt: bigint;
}

/**
 * Records the Uniswap V2 cumulative price of `tokenIn`'s pair in the fee router, the start of the
 * TWAP a buyback measures; anyone may call. A no-op while an observation is younger than the
 * router's `twapWindow`, so nobody can keep the TWAP from maturing by observing every block.
 *
 * @example
 * ```ts
 * import { buyback, observeFeePrice } from "./fees.ts";
 * declare const client: import("../client.ts").ChainClient;
 * const { readyAt } = await observeFeePrice(client, {});
 * // ... once chain time reaches readyAt:
 * await buyback(client, {});
 * ```
 */
export async function observeFeePrice(
  client: ChainClient,
  params: FeeTokenParams = {},
): Promise<ObserveResult> {
  const tokenIn = params.tokenIn ?? client.addresses.stable;
  const tx = await send(client, {
    address: client.addresses.feeRouter,
    abi: feeRouterAbi,
    functionName: "observe",
    args: [tokenIn],
    action: "fees.observe",
  });
  const recorded = eventsOf(feeRouterAbi, tx.receipt, "Observed").length > 0;
  const at = { blockNumber: tx.receipt.blockNumber };
  const [oracle, window] = await Promise.all([
    client.public.readContract({
      address: client.addresses.feeRouter,
      abi: feeRouterAbi,
      functionName: "oracles",
      args: [tokenIn],
      ...at,
    }),
    client.public.readContract({
      address: client.addresses.feeRouter,
      abi: feeRouterAbi,
      functionName: "twapWindow",
      ...at,
    }),
  ]);
  const pendingTime = oracle[3];
  return { ...tx, recorded, readyAt: pendingTime + BigInt(window) };
}

/** What a buyback would do now: see {@linkcode quoteBuyback}. */
export interface BuybackQuote {
  /** Fee tokens it would sell: the router's balance, capped at what one buyback may sell. */
  amountInWei: bigint;
  /** AIGENSYN that is worth at the TWAP. */
  twapAmountOutWei: bigint;
  /** Least AIGENSYN it must buy: the TWAP value less `maxSlippageBps`, the caller's reward on top. */
  minAmountOutWei: bigint;
}

/**
 * Quotes a buyback from the fee router's TWAP: how much it may sell now and the least AIGENSYN it
 * must buy. Fails like the buyback would (`TwapUnavailable` when no observation is old enough).
 *
 * @example
 * ```ts
 * import { quoteBuyback } from "./fees.ts";
 * declare const client: import("../client.ts").ChainClient;
 * const { amountInWei, minAmountOutWei } = await quoteBuyback(client, {});
 * ```
 */
export async function quoteBuyback(
  client: ChainClient,
  params: FeeTokenParams = {},
): Promise<BuybackQuote> {
  try {
    const [amountInWei, twapAmountOutWei, minAmountOutWei] = await client.public.readContract({
      address: client.addresses.feeRouter,
      abi: feeRouterAbi,
      functionName: "quote",
      args: [params.tokenIn ?? client.addresses.stable],
    });
    return { amountInWei, twapAmountOutWei, minAmountOutWei };
  } catch (error) {
    throw toChainError(error, "fees.quote");
  }
}

/** Parameters of {@linkcode buyback}. */
export interface BuybackParams extends FeeTokenParams {
  /** Fee tokens to sell; default the quote's: the router's balance, capped per buyback. */
  amountInWei?: bigint;
  /**
   * The caller's own floor on the AIGENSYN bought, on top of the contract's TWAP floor. Default:
   * the quote's `minAmountOutWei`, the contract's own floor read just before sending, so the call
   * never goes out unbounded; pass a tighter one from your own price source.
   */
  minAmountOutWei?: bigint;
}

/** Result of {@linkcode buyback}. */
export interface BuybackResult extends DistributionResult {
  /** Fee tokens sold. */
  amountIn: bigint;
  /** AIGENSYN bought, the caller's reward included. */
  amountOutWei: bigint;
  /** What the fee tokens sold were worth at the TWAP, in AIGENSYN. */
  twapAmountOutWei: bigint;
  /** AIGENSYN paid to the caller. */
  callerRewardWei: bigint;
}

/**
 * Sells the fee router's `tokenIn` for AIGENSYN through Uniswap V2 at no less than its TWAP value
 * less `maxSlippageBps`, pays the caller its reward, then distributes. Needs a TWAP: call
 * {@linkcode observeFeePrice} a `twapWindow` before. Sells at most a small share of the pool per buyback
 * (one per block); call again for the rest.
 *
 * @example
 * ```ts
 * import { buyback } from "./fees.ts";
 * declare const client: import("../client.ts").ChainClient;
 * const { amountOutWei, burnedWei, callerRewardWei } = await buyback(client, {});
 * ```
 */
export async function buyback(client: ChainClient, params: BuybackParams): Promise<BuybackResult> {
  const tokenIn = params.tokenIn ?? client.addresses.stable;
  const quote = params.amountInWei !== undefined && params.minAmountOutWei !== undefined
    ? undefined
    : await quoteBuyback(client, { tokenIn });
  const tx = await send(client, {
    address: client.addresses.feeRouter,
    abi: feeRouterAbi,
    functionName: "buyback",
    args: [
      tokenIn,
      params.amountInWei ?? quote!.amountInWei,
      params.minAmountOutWei ?? quote!.minAmountOutWei,
    ],
    action: "fees.buyback",
  });
  const [bought] = eventsOf(feeRouterAbi, tx.receipt, "BoughtBack");
  const [split] = eventsOf(feeRouterAbi, tx.receipt, "FeesDistributed");
  return {
    ...tx,
    amountIn: bought.args.amountIn as bigint,
    amountOutWei: bought.args.amountOut as bigint,
    twapAmountOutWei: bought.args.twapAmountOut as bigint,
    callerRewardWei: bought.args.callerReward as bigint,
    burnedWei: split.args.burned as bigint,
    treasuryWei: split.args.toTreasury as bigint,
  };
}
