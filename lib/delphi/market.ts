/**
 * Delphi market actions before settlement: create a market (with its evaluation's terms and
 * escrow), read it, its prices, positions, ledger and price history, quote, buy and sell. Each is
 * a standalone function `action(client, params)` (viem's shape); the {@linkcode Market} handle in
 * `client.ts` binds them to one market. Settlement (evaluation, resolution, refunds, payouts)
 * lives in `settlement.ts`.
 *
 * Amounts are in collateral base units (the stable token has 6 decimals) and one share pays one
 * base unit if its outcome wins. Prices are fractions in [0, 1]. Evaluation payments and stakes
 * are in AIGENSYN wei.
 *
 * @module
 */

import type { Address, Hex } from "../chain/types.ts";
import { ChainError } from "../core/errors.ts";
import { delphiAbi } from "../chain/artifacts/Delphi.ts";
import type { ChainClient } from "../chain/client.ts";
import { ensureAllowance, eventsOf, type TxResult } from "../chain/transact.ts";
import { chainTime } from "../chain/actions/jobs.ts";
import { toMarketError } from "./errors.ts";
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

/** Fixed-point one of on-chain prices. */
const WAD = 10n ** 18n;
/** Basis-point denominator. */
const BPS = 10_000n;
/** Default slippage allowance of `buy` and `sell` when no explicit limit is given: 1%. */
export const DEFAULT_SLIPPAGE_BPS = 100;

/** Life stage of a market. */
export type MarketPhase = "Trading" | "Closed" | "Resolved" | "Expired" | "Voided";
const PHASES: MarketPhase[] = ["Trading", "Closed", "Resolved", "Expired", "Voided"];

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
  const timeoutSec = evaluation.timeoutSec ?? DEFAULT_EVAL_TIMEOUT_SEC;
  const challengeWindowSec = evaluation.challengeWindowSec ?? MIN_EVAL_CHALLENGE_WINDOW_SEC;
  const needed = timeoutSec + challengeWindowSec + EVAL_SETTLEMENT_MARGIN_SEC;
  const deadline = params.resolutionDeadline ??
    closeTime + BigInt(params.resolveWithinSec ?? Math.max(DEFAULT_RESOLVE_WITHIN_SEC, needed));
  const direction = evaluation.direction ?? METRIC_DIRECTION[evaluation.metric];
  const spender = delphiAddress(client);
  await ensureAllowance(client, {
    token: client.addresses.stable,
    spender,
    amountWei: params.liquidity,
  });
  await ensureAllowance(client, { spender, amountWei: evaluation.paymentWei });
  const tx = await write(client, "createMarket", [{
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
  const [event] = eventsOf(delphiAbi, tx.receipt, "MarketCreated");
  return {
    ...tx,
    marketId: event.args.marketId as bigint,
    evalSpecHash: event.args.evalSpecHash as Hex,
    b: event.args.b as bigint,
  };
}

// ---------------------------------------------------------------------------------- reads

/** A market as stored on-chain, with its phase. */
export interface MarketView {
  /** Market id. */
  id: bigint;
  /** Who funded it. */
  creator: Address;
  /** Where it is in its life. */
  phase: MarketPhase;
  /** Number of outcomes. */
  outcomeCount: number;
  /** LMSR liquidity parameter, collateral base units. */
  b: bigint;
  /** Collateral held for the market: the creator's funding plus every deposit (fees excluded). */
  pool: bigint;
  /** Trading fees accrued, not yet swept to the fee router. */
  fees: bigint;
  /** The creator's funding still in the pool (0 once it took it back from a refunding market). */
  funding: bigint;
  /** Sale proceeds beyond the sellers' deposits, held until the market resolves. */
  heldProceeds: bigint;
  /** Trading close, unix seconds. */
  closeTime: bigint;
  /** Resolution deadline, unix seconds. */
  resolutionDeadline: bigint;
  /** Metric direction. */
  direction: Direction;
  /** Winning outcome indices, once resolved. */
  winners: number[];
  /** Stake each evaluator locks, wei. */
  minEvalStakeWei: bigint;
  /** Sum of the cached exponentials (WAD); prices are `e_i / sumExp`. */
  sumExpWad: bigint;
}

interface RawMarket {
  sumExp: bigint;
  pool: bigint;
  fees: bigint;
  b: bigint;
  closeTime: number;
  deadline: number;
  outcomeCount: number;
  resolved: boolean;
  winners: number;
  winnerCount: number;
  direction: number;
  voided: boolean;
  creator: Address;
  funding: bigint;
  heldProceeds: bigint;
  minEvalStake: bigint;
}

/** Reads a market; fails with `UNKNOWN_MARKET` when there is none. */
export async function getMarket(client: ChainClient, marketId: bigint): Promise<MarketView> {
  const [m, phase] = await Promise.all([
    read<RawMarket>(client, "getMarket", [marketId], "delphi.getMarket"),
    read<number>(client, "phaseOf", [marketId], "delphi.getMarket"),
  ]);
  const winners: number[] = [];
  for (let i = 0; i < m.outcomeCount; i++) if (m.resolved && (m.winners >> i) & 1) winners.push(i);
  return {
    id: marketId,
    creator: m.creator,
    phase: PHASES[phase],
    outcomeCount: m.outcomeCount,
    b: m.b,
    pool: m.pool,
    fees: m.fees,
    funding: m.funding,
    heldProceeds: m.heldProceeds,
    closeTime: BigInt(m.closeTime),
    resolutionDeadline: BigInt(m.deadline),
    direction: m.direction === 0 ? "higher" : "lower",
    winners,
    minEvalStakeWei: m.minEvalStake,
    sumExpWad: m.sumExp,
  };
}

/** A market's evaluation: the terms its job is created with, and the job once started. */
export interface EvaluationView {
  /** What the evaluation computes (see `evaluationSpecHash`). */
  specHash: Hex;
  /** The `JobMarket` id of the job Delphi created, or `undefined` before `startEvaluation`. */
  jobId: Hex | undefined;
  /** AIGENSYN escrowed for the evaluators, wei. */
  paymentWei: bigint;
  /** Evaluators must commit before this, unix seconds; the evaluation can start until then. */
  deadline: bigint;
  /** Seconds a commitment can be disputed. */
  challengeWindowSec: number;
  /** Independent evaluators. */
  replicas: number;
  /** Whether the unspent escrow went back to the creator. */
  escrowReclaimed: boolean;
}

const ZERO_HASH = `0x${"00".repeat(32)}`;

/** Reads a market's evaluation; fails with `UNKNOWN_MARKET` when there is none. */
export async function getEvaluation(
  client: ChainClient,
  marketId: bigint,
): Promise<EvaluationView> {
  const e = await read<{
    specHash: Hex;
    jobId: Hex;
    payment: bigint;
    deadline: number;
    challengeWindow: number;
    replicas: number;
    escrowReclaimed: boolean;
  }>(client, "getEvaluation", [marketId], "delphi.getEvaluation");
  return {
    specHash: e.specHash,
    jobId: e.jobId === ZERO_HASH ? undefined : e.jobId,
    paymentWei: e.payment,
    deadline: BigInt(e.deadline),
    challengeWindowSec: e.challengeWindow,
    replicas: e.replicas,
    escrowReclaimed: e.escrowReclaimed,
  };
}

/** One account's money in one market. */
export interface Ledger {
  /** Collateral it paid into the pool, less what its sales took back: what a refund returns. */
  depositWei: bigint;
  /** Sale proceeds beyond its deposit, fee included, paid once the market resolves. */
  heldProceedsWei: bigint;
  /** The fee still due on the held proceeds. */
  heldFeeWei: bigint;
}

/** The deposit and held proceeds of `account` (default the client's) in a market. */
export async function getLedger(
  client: ChainClient,
  params: { marketId: bigint; account?: Address },
): Promise<Ledger> {
  const l = await read<{ deposit: bigint; heldProceeds: bigint; heldFee: bigint }>(
    client,
    "ledgerOf",
    [params.marketId, params.account ?? client.account],
    "delphi.ledger",
  );
  return { depositWei: l.deposit, heldProceedsWei: l.heldProceeds, heldFeeWei: l.heldFee };
}

/** Prices and shares outstanding of every outcome. */
export interface MarketPrices {
  /** Price of each outcome as a fraction (sums to 1 up to rounding). */
  prices: number[];
  /** The same in WAD (1e18 = 1), exactly as the contract computes them. */
  pricesWad: bigint[];
  /** Shares outstanding of each outcome. */
  supplies: bigint[];
  /** Each outcome's cached `exp(q_i / b)` (WAD, rounded up), the LMSR state. */
  expsWad: bigint[];
}

/** Current prices of every outcome. */
export async function getPrices(client: ChainClient, marketId: bigint): Promise<MarketPrices> {
  const [pricesWad, supplies, expsWad] = await read<
    [readonly bigint[], readonly bigint[], readonly bigint[]]
  >(
    client,
    "pricesOf",
    [marketId],
    "delphi.prices",
  );
  return {
    prices: pricesWad.map((p) => Number(p) / 1e18),
    pricesWad: [...pricesWad],
    supplies: [...supplies],
    expsWad: [...expsWad],
  };
}

/** One outcome held by an account. */
export interface Position {
  /** Outcome index. */
  outcome: number;
  /** Shares held. */
  shares: bigint;
  /** The outcome's current price, as a fraction. */
  price: number;
  /** Mark-to-market value at the current price, collateral base units (rounded down). */
  value: bigint;
}

/** The shares `account` (default the client's) holds in every outcome of a market. */
export async function getPositions(
  client: ChainClient,
  params: { marketId: bigint; account?: Address },
): Promise<Position[]> {
  const account = params.account ?? client.account;
  const { pricesWad, prices } = await getPrices(client, params.marketId);
  const shares = await Promise.all(pricesWad.map((_, i) =>
    read<bigint>(
      client,
      "balanceOf",
      [account, (params.marketId << 8n) | BigInt(i)],
      "delphi.positions",
    )
  ));
  return shares.map((s, i) => ({
    outcome: i,
    shares: s,
    price: prices[i],
    value: s * pricesWad[i] / WAD,
  }));
}

/** One trade of a market's history, with every outcome's price after it. */
export interface TradeRecord {
  /** Block of the trade. */
  blockNumber: bigint;
  /** Transaction hash. */
  hash: Hex;
  /** Who traded. */
  trader: Address;
  /** Outcome traded. */
  outcome: number;
  /** Buy or sell. */
  side: "buy" | "sell";
  /** Shares traded. */
  shares: bigint;
  /** Collateral into the pool (buy) or out of it (sell), fee excluded. */
  collateral: bigint;
  /** Protocol fee paid. */
  fee: bigint;
  /** Every outcome's price after the trade, as fractions. */
  prices: number[];
}

/**
 * The market's trades in order, read from `Traded` events, with the price of every outcome after
 * each one (reconstructed exactly from the exponentials the events carry).
 */
export async function getHistory(
  client: ChainClient,
  params: { marketId: bigint; fromBlock?: bigint },
): Promise<TradeRecord[]> {
  const market = await getMarket(client, params.marketId);
  let logs;
  try {
    logs = await client.public.getContractEvents({
      address: delphiAddress(client),
      abi: delphiAbi,
      eventName: "Traded",
      args: { marketId: params.marketId },
      fromBlock: params.fromBlock ?? 0n,
      toBlock: "latest",
    });
  } catch (error) {
    throw toMarketError(error, "delphi.history");
  }
  const exps = Array.from({ length: market.outcomeCount }, () => WAD);
  let sum = WAD * BigInt(market.outcomeCount);
  return logs.map((log) => {
    const a = log.args as {
      trader: Address;
      outcome: bigint;
      isBuy: boolean;
      shares: bigint;
      collateral: bigint;
      fee: bigint;
      expWad: bigint;
    };
    const i = Number(a.outcome);
    sum = sum - exps[i] + a.expWad;
    exps[i] = a.expWad;
    return {
      blockNumber: log.blockNumber,
      hash: log.transactionHash,
      trader: a.trader,
      outcome: i,
      side: a.isBuy ? "buy" : "sell",
      shares: a.shares,
      collateral: a.collateral,
      fee: a.fee,
      prices: exps.map((e) => Number(e * WAD / sum) / 1e18),
    };
  });
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
  await ensureAllowance(client, {
    token: client.addresses.stable,
    spender: delphiAddress(client),
    amountWei: maxCost,
  });
  const tx = await write(
    client,
    "buy",
    [params.marketId, BigInt(params.outcome), params.shares, maxCost],
    "delphi.buy",
  );
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
