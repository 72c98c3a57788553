/**
 * Delphi market actions before settlement: create a market (with its evaluation's terms and
 * escrow), quote, buy and sell. Each is a standalone function `action(client, params)` (viem's
 * shape); the {@linkcode Market} handle in `client.ts` binds them to one market. Reads live in
 * `market_state.ts`, settlement (evaluation, resolution, refunds, payouts) in `settlement.ts`.
 *
 * Amounts are in collateral base units (the stable token has 6 decimals) and one share pays one
 * base unit if its outcome wins. Prices are fractions in [0, 1]. Evaluation payments and stakes
 * are in AIGENSYN wei.
 *
 * @module
 */

import type { Hex } from "../chain/types.ts";
import { ChainError } from "../core/errors.ts";
import { delphiAbi } from "../chain/artifacts/Delphi.ts";
import type { ChainClient } from "../chain/client.ts";
import { ensureAllowance, eventsOf, inAllowanceTurn, type TxResult } from "../chain/transact.ts";
import { chainTime } from "../chain/actions/jobs.ts";
import {
  delphiAddress,
  EVAL_SETTLEMENT_MARGIN_SEC,
  MIN_EVAL_CHALLENGE_WINDOW_SEC,
  readDelphi as read,
  writeDelphi as write,
} from "./contract.ts";
import {
  type Direction,
  directionCode,
  type Metric,
  METRIC_DIRECTION,
  toBytes32,
} from "./evaluate.ts";

/** Basis-point denominator. */
const BPS = 10_000n;
/** Default slippage allowance of `buy` and `sell` when no explicit limit is given: 1%. */
export const DEFAULT_SLIPPAGE_BPS = 100;

/** Default time evaluators get after the close to commit: one day. */
export const DEFAULT_EVAL_TIMEOUT_SEC = 86_400;
/** Default resolution window after the close, when it leaves the evaluation room: 7 days. */
export const DEFAULT_RESOLVE_WITHIN_SEC = 7 * 86_400;

// ---------------------------------------------------------------------------------- create

/** How a market resolves: what its evaluation computes, and the terms of its evaluation job. */
export interface EvaluationParams {
  /** Content id of the evaluation dataset. */
  datasetId: string;
  /** The metric. */
  metric: Metric;
  /** Which way it ranks; default the metric's natural direction. */
  direction?: Direction;
  /** Execution profile id the evaluation runs under. */
  profile: string;
  /** AIGENSYN escrowed for the evaluators now, split evenly over the replicas, wei. */
  paymentWei: bigint;
  /** Stake each evaluator locks while its result can be disputed, wei; non-zero. */
  stakeWei: bigint;
  /** Independent evaluators, 1 to 8; default 1. */
  replicas?: number;
  /** Seconds a committed evaluation can be disputed; default (and least) 3,600. */
  challengeWindowSec?: number;
  /** Seconds after the close by which evaluators must commit; default one day. */
  timeoutSec?: number;
}

/** Parameters of {@linkcode createMarket}. */
export interface CreateMarketParams {
  /** The question, for people (stored in the creation event only). */
  question: string;
  /** Candidate ids, 2 to 20: model content ids (`candidateIdOf`) or job ids (32 bytes). */
  outcomes: readonly string[];
  /** How the market resolves. */
  evaluation: EvaluationParams;
  /** Creator's funding, collateral base units; the LMSR creator loss is bounded by it. */
  liquidity: bigint;
  /** Trading close, unix seconds; or give `closeInSec`. */
  closeTime?: bigint;
  /** Trading close relative to the latest block, seconds. */
  closeInSec?: number;
  /** Resolution deadline, unix seconds; or give `resolveWithinSec`. */
  resolutionDeadline?: bigint;
  /**
   * Resolution deadline relative to the close, seconds; default 7 days, or the evaluation's
   * timeout, challenge window and the one-day settlement margin if they need longer.
   */
  resolveWithinSec?: number;
}

/** Result of {@linkcode createMarket}. */
export interface CreateMarketResult extends TxResult {
  /** The new market's id. */
  marketId: bigint;
  /** What its evaluation computes (see `evaluationSpecHash`); its job exists after the close. */
  evalSpecHash: Hex;
  /** LMSR liquidity parameter `b`, collateral base units. */
  b: bigint;
}

/**
 * Opens a market, pulling the creator's liquidity (stable token) and the evaluation payment
 * (AIGENSYN), approving Delphi on each first when the allowance is short. The evaluation job
 * itself is created after the close ({@linkcode startEvaluation}) with the terms fixed here.
 *
 * @example
 * ```ts
 * import { createMarket } from "./market.ts";
 * declare const client: import("../chain/client.ts").ChainClient;
 * declare const ids: string[];
 * const { marketId } = await createMarket(client, {
 *   question: "Which model scores best on the held-out set?",
 *   outcomes: ids,
 *   evaluation: {
 *     datasetId: "ab".repeat(32),
 *     metric: "accuracy",
 *     profile: "cpu@tfjs-4.22.0",
 *     paymentWei: 10n ** 19n, // 10 AIGENSYN to the evaluator
 *     stakeWei: 10n ** 20n, // that it can lose if it commits wrong scores
 *   },
 *   liquidity: 1_000_000_000n, // 1,000 units of a 6-decimal stable token
 *   closeInSec: 86_400,
 * });
 * ```
 */
export async function createMarket(
  client: ChainClient,
  params: CreateMarketParams,
): Promise<CreateMarketResult> {
  let closeTime = params.closeTime;
  if (closeTime === undefined) {
    if (params.closeInSec === undefined) {
      throw new ChainError("MARKET_PARAMS", "createMarket needs a closeTime or a closeInSec", {
        value: params,
      });
    }
    closeTime = (await chainTime(client)) + BigInt(params.closeInSec);
  }
  const evaluation = params.evaluation;
  for (const field of ["paymentWei", "stakeWei"] as const) {
    // Its value is the contract's to check (a typed MarketError); a missing one is caught here.
    if (typeof evaluation?.[field] !== "bigint") {
      throw new ChainError(
        "MARKET_PARAMS",
        `createMarket needs evaluation.${field}, a bigint of AIGENSYN wei: ` +
          (field === "paymentWei"
            ? "what the evaluation job pays its evaluators"
            : "the stake each evaluator locks and loses if it commits wrong scores"),
        { value: evaluation?.[field] },
      );
    }
  }
  const timeoutSec = evaluation.timeoutSec ?? DEFAULT_EVAL_TIMEOUT_SEC;
  const challengeWindowSec = evaluation.challengeWindowSec ?? MIN_EVAL_CHALLENGE_WINDOW_SEC;
  const needed = timeoutSec + challengeWindowSec + EVAL_SETTLEMENT_MARGIN_SEC;
  const deadline = params.resolutionDeadline ??
    closeTime + BigInt(params.resolveWithinSec ?? Math.max(DEFAULT_RESOLVE_WITHIN_SEC, needed));
  const direction = evaluation.direction ?? METRIC_DIRECTION[evaluation.metric];
  const spender = delphiAddress(client);
  const tx = await inAllowanceTurn(client, async () => {
    await ensureAllowance(client, {
      token: client.addresses.stable,
      spender,
      amountWei: params.liquidity,
    });
    await ensureAllowance(client, { spender, amountWei: evaluation.paymentWei });
    return await write(client, "createMarket", [{
      question: params.question,
      outcomes: params.outcomes.map(toBytes32),
      evalDataset: toBytes32(evaluation.datasetId),
      metric: evaluation.metric,
      direction: directionCode(direction),
      profile: evaluation.profile,
      closeTime: Number(closeTime),
      resolutionDeadline: Number(deadline),
      liquidity: params.liquidity,
      evaluation: {
        payment: evaluation.paymentWei,
        requiredStake: evaluation.stakeWei,
        timeout: timeoutSec,
        challengeWindow: challengeWindowSec,
        replicas: evaluation.replicas ?? 1,
      },
    }], "delphi.create");
  });
  const [event] = eventsOf(delphiAbi, tx.receipt, "MarketCreated");
  return {
    ...tx,
    marketId: event.args.marketId as bigint,
    evalSpecHash: event.args.evalSpecHash as Hex,
    b: event.args.b as bigint,
  };
}

// ---------------------------------------------------------------------------------- trade

/** A trade's quote. */
export interface Quote {
  /** Collateral into the pool (buy) or out of it (sell), before the fee. */
  collateral: bigint;
  /** Protocol fee (0.5%, rounded up). */
  fee: bigint;
  /** What the trader pays (buy: collateral + fee) or receives (sell: collateral - fee). */
  total: bigint;
  /** Average price per share of the trade, as a fraction. */
  averagePrice: number;
}

/** Parameters of a quote. */
export interface QuoteParams {
  /** The market. */
  marketId: bigint;
  /** Outcome index. */
  outcome: number;
  /** Shares to trade. */
  shares: bigint;
  /** Buy (default) or sell. */
  side?: "buy" | "sell";
}

/** Quotes a trade at the current state, exactly as the contract would price it now. */
export async function quote(client: ChainClient, params: QuoteParams): Promise<Quote> {
  const args = [params.marketId, BigInt(params.outcome), params.shares];
  if ((params.side ?? "buy") === "buy") {
    const [cost, fee] = await read<[bigint, bigint]>(client, "quoteBuy", args, "delphi.quote");
    const total = cost + fee;
    return { collateral: cost, fee, total, averagePrice: Number(total) / Number(params.shares) };
  }
  const [payout, fee] = await read<[bigint, bigint]>(client, "quoteSell", args, "delphi.quote");
  return {
    collateral: payout + fee,
    fee,
    total: payout,
    averagePrice: Number(payout) / Number(params.shares),
  };
}

/** Parameters of {@linkcode buy}. */
export interface BuyParams {
  /** The market. */
  marketId: bigint;
  /** Outcome index. */
  outcome: number;
  /** Shares to buy. */
  shares: bigint;
  /** Most collateral to pay, fee included; default the quote plus `slippageBps`. */
  maxCost?: bigint;
  /** Allowed price move over the quote when `maxCost` is absent; default 100 (1%). */
  slippageBps?: number;
}

/** Result of a trade. */
export interface TradeResult extends TxResult {
  /** Collateral into (buy) or out of (sell) the pool, fee excluded. */
  collateral: bigint;
  /** Protocol fee paid (on a sale, part of it may be due with the held proceeds). */
  fee: bigint;
  /** What the trader paid (buy) or is due in all (sell: paid now plus held). */
  total: bigint;
  /** Of a sale's `total`, what exceeded the seller's deposit and is held until the market resolves. */
  held: bigint;
}

/**
 * Buys shares of an outcome with a slippage limit, approving Delphi on the stable token first when
 * the allowance is short. Fails with `SlippageExceededError` when the price moved past the limit
 * and `MarketClosedError` after the close.
 */
export async function buy(client: ChainClient, params: BuyParams): Promise<TradeResult> {
  let maxCost = params.maxCost;
  if (maxCost === undefined) {
    const q = await quote(client, params);
    maxCost = q.total + q.total * BigInt(params.slippageBps ?? DEFAULT_SLIPPAGE_BPS) / BPS;
  }
  const cap = maxCost;
  const tx = await inAllowanceTurn(client, async () => {
    await ensureAllowance(client, {
      token: client.addresses.stable,
      spender: delphiAddress(client),
      amountWei: cap,
    });
    return await write(
      client,
      "buy",
      [params.marketId, BigInt(params.outcome), params.shares, cap],
      "delphi.buy",
    );
  });
  const [event] = eventsOf(delphiAbi, tx.receipt, "Traded");
  const collateral = event.args.collateral as bigint;
  const fee = event.args.fee as bigint;
  return { ...tx, collateral, fee, total: collateral + fee, held: 0n };
}

/** Parameters of {@linkcode sell}. */
export interface SellParams {
  /** The market. */
  marketId: bigint;
  /** Outcome index. */
  outcome: number;
  /** Shares to sell. */
  shares: bigint;
  /** Least collateral to receive, after the fee; default the quote minus `slippageBps`. */
  minPayout?: bigint;
  /** Allowed price move under the quote when `minPayout` is absent; default 100 (1%). */
  slippageBps?: number;
}

/**
 * Sells shares of an outcome with a slippage limit. The sale pays back the seller's deposit at
 * once; proceeds beyond it (a gain) are held until the market resolves (`releaseProceeds`) and
 * go to the refunds if it names no winner. Fails with `InsufficientSharesError` when the account
 * holds fewer shares.
 */
export async function sell(client: ChainClient, params: SellParams): Promise<TradeResult> {
  let minPayout = params.minPayout;
  if (minPayout === undefined) {
    const q = await quote(client, { ...params, side: "sell" });
    minPayout = q.total - q.total * BigInt(params.slippageBps ?? DEFAULT_SLIPPAGE_BPS) / BPS;
  }
  const tx = await write(
    client,
    "sell",
    [params.marketId, BigInt(params.outcome), params.shares, minPayout],
    "delphi.sell",
  );
  const [event] = eventsOf(delphiAbi, tx.receipt, "Traded");
  const collateral = event.args.collateral as bigint;
  const fee = event.args.fee as bigint;
  const [held] = eventsOf(delphiAbi, tx.receipt, "ProceedsHeld");
  return {
    ...tx,
    collateral,
    fee,
    total: collateral - fee,
    held: (held?.args.amount as bigint | undefined) ?? 0n,
  };
}
