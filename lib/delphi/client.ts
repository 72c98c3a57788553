/**
 * The Delphi client: `delphi(client)` binds the market actions to a chain client, and
 * {@linkcode Market} binds them to one market, so a notebook reads
 * `const market = await markets.create({...}); await market.buy({ outcome: 1, shares })`.
 *
 * @module
 */

import type { Address } from "../chain/types.ts";
import type { ChainClient } from "../chain/client.ts";
import type { TxResult } from "../chain/transact.ts";
import * as m from "./market.ts";
import * as state from "./market_state.ts";
import * as s from "./settlement.ts";

/** A handle on one market: every action with the market id bound. */
export class Market {
  /** The chain client acting. */
  readonly client: ChainClient;
  /** The market id. */
  readonly id: bigint;

  /** Binds `client` to market `id`. */
  constructor(client: ChainClient, id: bigint) {
    this.client = client;
    this.id = id;
  }

  /** The same market, acting through another client (another account). */
  as(client: ChainClient): Market {
    return new Market(client, this.id);
  }

  /** The market's stored state and phase. */
  info(): Promise<state.MarketView> {
    return state.getMarket(this.client, this.id);
  }

  /** Quotes buying (default) or selling `shares` of `outcome`. */
  quote(outcome: number, shares: bigint, side: "buy" | "sell" = "buy"): Promise<m.Quote> {
    return m.quote(this.client, { marketId: this.id, outcome, shares, side });
  }

  /** Buys shares with a slippage limit. */
  buy(params: Omit<m.BuyParams, "marketId">): Promise<m.TradeResult> {
    return m.buy(this.client, { ...params, marketId: this.id });
  }

  /** Sells shares with a slippage limit. */
  sell(params: Omit<m.SellParams, "marketId">): Promise<m.TradeResult> {
    return m.sell(this.client, { ...params, marketId: this.id });
  }

  /** Shares `account` (default the client's) holds in each outcome. */
  positions(account?: Address): Promise<state.Position[]> {
    return state.getPositions(this.client, { marketId: this.id, account });
  }

  /** Current prices of every outcome. */
  prices(): Promise<state.MarketPrices> {
    return state.getPrices(this.client, this.id);
  }

  /** Every trade with the prices after it. */
  history(fromBlock?: bigint): Promise<state.TradeRecord[]> {
    return state.getHistory(this.client, { marketId: this.id, fromBlock });
  }

  /** The market's evaluation: its terms, and its job once started. */
  evaluation(): Promise<state.EvaluationView> {
    return state.getEvaluation(this.client, this.id);
  }

  /** The deposit and held sale proceeds of `account` (default the client's). */
  ledger(account?: Address): Promise<state.Ledger> {
    return state.getLedger(this.client, { marketId: this.id, account });
  }

  /** Creates the market's evaluation job (after the close; anyone may). */
  startEvaluation(): Promise<s.StartEvaluationResult> {
    return s.startEvaluation(this.client, { marketId: this.id });
  }

  /** Finalizes or refunds the evaluation job's slots that can be settled now. */
  settleEvaluation(): Promise<s.SettleEvaluationResult> {
    return s.settleEvaluation(this.client, { marketId: this.id });
  }

  /** Resolves the market from its verified evaluation. */
  resolve(params: Omit<s.ResolveParams, "marketId">): Promise<s.ResolveResult> {
    return s.resolveMarket(this.client, { ...params, marketId: this.id });
  }

  /** Voids the market when its evaluation can name no winner: deposits are refunded. */
  voidMarket(): Promise<TxResult & { reason: s.VoidReason }> {
    return s.voidMarket(this.client, { marketId: this.id });
  }

  /** Redeems the account's winning shares (or those of one outcome). */
  redeem(outcome?: number): Promise<s.Redemption[]> {
    return s.redeem(this.client, { marketId: this.id, outcome });
  }

  /** Pays the account its held sale proceeds once the market resolved. */
  releaseProceeds(): Promise<TxResult & { amount: bigint }> {
    return s.releaseProceeds(this.client, { marketId: this.id });
  }

  /** Pays the account back its deposit from a voided or expired market. */
  refund(): Promise<TxResult & { amount: bigint }> {
    return s.refund(this.client, { marketId: this.id });
  }

  /** Collects everything the settled market owes the account. */
  claim(): Promise<s.ClaimResult> {
    return s.claim(this.client, { marketId: this.id });
  }

  /** Pays the creator what the settled pool holds beyond outstanding claims. */
  withdrawLiquidity(): Promise<TxResult & { amount: bigint }> {
    return s.withdrawLiquidity(this.client, { marketId: this.id });
  }

  /** Sends the creator the unspent evaluation escrow. */
  reclaimEvaluationEscrow(): Promise<TxResult & { amountWei: bigint }> {
    return s.reclaimEvaluationEscrow(this.client, { marketId: this.id });
  }

  /** Sends this market's accrued fees to the protocol fee router. */
  sweepFees(): Promise<TxResult & { amount: bigint }> {
    return s.sweepMarketFees(this.client, { marketIds: [this.id] });
  }
}

/** Delphi bound to a chain client. */
export interface DelphiClient {
  /** Opens a market and returns its handle. */
  create(params: m.CreateMarketParams): Promise<Market>;
  /** A handle on an existing market. */
  market(id: bigint | number): Market;
}

/**
 * Binds Delphi to a chain client.
 *
 * @example
 * ```ts
 * import { delphi } from "./client.ts";
 * declare const client: import("../chain/client.ts").ChainClient;
 * declare const candidateIds: string[];
 * const markets = delphi(client);
 * const market = await markets.create({
 *   question: "Which model is most accurate on the test split?",
 *   outcomes: candidateIds,
 *   evaluation: {
 *     datasetId: "ab".repeat(32),
 *     metric: "accuracy",
 *     profile: "cpu@tfjs-4.22.0",
 *     paymentWei: 10n ** 19n,
 *     stakeWei: 10n ** 20n,
 *   },
 *   liquidity: 1_000_000_000n,
 *   closeInSec: 3600,
 * });
 * console.log(await market.quote(0, 10_000_000n));
 * await market.buy({ outcome: 0, shares: 10_000_000n });
 * console.log((await market.prices()).prices);
 * ```
 */
export function delphi(client: ChainClient): DelphiClient {
  return {
    create: async (params) => new Market(client, (await m.createMarket(client, params)).marketId),
    market: (id) => new Market(client, BigInt(id)),
  };
}
