/**
 * Delphi market actions: create a market, quote, buy, sell, read prices, positions and price
 * history, request the evaluation job, resolve from it, redeem, withdraw the creator's liquidity
 * and sweep fees. Each is a standalone function `action(client, params)` (viem's shape); the
 * {@linkcode Market} handle in `client.ts` binds them to one market.
 *
 * Amounts are in collateral base units (the stable token has 6 decimals) and one share pays one
 * base unit if its outcome wins. Prices are fractions in [0, 1].
 *
 * @module
 */

import type { Address, Hex } from "../chain/types.ts";
import { ChainError } from "../core/errors.ts";
import { delphiAbi } from "../chain/artifacts/Delphi.ts";
import type { ChainClient } from "../chain/client.ts";
import { ensureAllowance, eventsOf, send, type TxResult } from "../chain/transact.ts";
import { chainTime, createJob, finalizeJob, getJob, getSlot } from "../chain/actions/jobs.ts";
import { toMarketError } from "./errors.ts";
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
export type MarketPhase = "Trading" | "Closed" | "Resolved" | "Expired";
const PHASES: MarketPhase[] = ["Trading", "Closed", "Resolved", "Expired"];

function delphiAddress(client: ChainClient): Address {
  const address = client.addresses.delphi;
  if (!address) {
    throw new ChainError(
      "DELPHI_NOT_DEPLOYED",
      "these protocol addresses have no Delphi contract",
      {
        value: client.addresses,
      },
    );
  }
  return address;
}

async function read<T>(
  client: ChainClient,
  functionName: string,
  args: readonly unknown[],
  action: string,
): Promise<T> {
  try {
    return await client.public.readContract(
      {
        address: delphiAddress(client),
        abi: delphiAbi,
        functionName,
        args,
      } as Parameters<typeof client.public.readContract>[0],
    ) as T;
  } catch (error) {
    throw toMarketError(error, action);
  }
}

async function write(
  client: ChainClient,
  functionName: string,
  args: readonly unknown[],
  action: string,
): Promise<TxResult> {
  try {
    return await send(client, {
      address: delphiAddress(client),
      abi: delphiAbi,
      functionName,
      args,
      action,
    });
  } catch (error) {
    throw toMarketError(error, action);
  }
}

// ---------------------------------------------------------------------------------- create

/** Parameters of {@linkcode createMarket}. */
export interface CreateMarketParams {
  /** The question, for people (stored in the creation event only). */
  question: string;
  /** Candidate ids, 2 to 20: model content ids (`candidateIdOf`) or job ids (32 bytes). */
  outcomes: readonly string[];
  /** How the market resolves. */
  evaluation: {
    /** Content id of the evaluation dataset. */
    datasetId: string;
    /** The metric. */
    metric: Metric;
    /** Which way it ranks; default the metric's natural direction. */
    direction?: Direction;
    /** Execution profile id the evaluation runs under. */
    profile: string;
  };
  /** Creator's funding, collateral base units; the LMSR creator loss is bounded by it. */
  liquidity: bigint;
  /** Trading close, unix seconds; or give `closeInSec`. */
  closeTime?: bigint;
  /** Trading close relative to the latest block, seconds. */
  closeInSec?: number;
  /** Resolution deadline, unix seconds; or give `resolveWithinSec`. */
  resolutionDeadline?: bigint;
  /** Resolution deadline relative to the close, seconds; default 7 days. */
  resolveWithinSec?: number;
  /** Least stake an evaluation provider must lock for the job to count, wei; default 0. */
  minEvalStakeWei?: bigint;
}

/** Result of {@linkcode createMarket}. */
export interface CreateMarketResult extends TxResult {
  /** The new market's id. */
  marketId: bigint;
  /** The `JobMarket` id of its evaluation job. */
  evalJobId: Hex;
  /** LMSR liquidity parameter `b`, collateral base units. */
  b: bigint;
}

/**
 * Opens a market, pulling the creator's liquidity (approving Delphi on the stable token first when
 * the allowance is short).
 *
 * @example
 * ```ts
 * import { createMarket } from "./market.ts";
 * declare const client: import("../chain/client.ts").ChainClient;
 * declare const ids: string[];
 * const { marketId } = await createMarket(client, {
 *   question: "Which model scores best on the held-out set?",
 *   outcomes: ids,
 *   evaluation: { datasetId: "ab".repeat(32), metric: "accuracy", profile: "cpu@tfjs-4.22.0" },
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
  const deadline = params.resolutionDeadline ??
    closeTime + BigInt(params.resolveWithinSec ?? 7 * 86_400);
  const direction = params.evaluation.direction ?? METRIC_DIRECTION[params.evaluation.metric];
  await ensureAllowance(client, {
    token: client.addresses.stable,
    spender: delphiAddress(client),
    amountWei: params.liquidity,
  });
  const tx = await write(client, "createMarket", [{
    question: params.question,
    outcomes: params.outcomes.map(toBytes32),
    evalDataset: toBytes32(params.evaluation.datasetId),
    metric: params.evaluation.metric,
    direction: directionCode(direction),
    profile: params.evaluation.profile,
    closeTime: Number(closeTime),
    resolutionDeadline: Number(deadline),
    liquidity: params.liquidity,
    minEvalStake: params.minEvalStakeWei ?? 0n,
  }], "delphi.create");
  const [event] = eventsOf(delphiAbi, tx.receipt, "MarketCreated");
  return {
    ...tx,
    marketId: event.args.marketId as bigint,
    evalJobId: event.args.evalJobId as Hex,
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
  /** Collateral backing the market maker (fees excluded). */
  pool: bigint;
  /** Trading fees accrued, not yet swept to the fee router. */
  fees: bigint;
  /** Trading close, unix seconds. */
  closeTime: bigint;
  /** Resolution deadline, unix seconds. */
  resolutionDeadline: bigint;
  /** Metric direction. */
  direction: Direction;
  /** Winning outcome indices, once resolved. */
  winners: number[];
  /** `JobMarket` id of the evaluation job. */
  evalJobId: Hex;
  /** Least stake of an evaluation provider, wei. */
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
  creator: Address;
  minEvalStake: bigint;
  evalJobId: Hex;
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
    closeTime: BigInt(m.closeTime),
    resolutionDeadline: BigInt(m.deadline),
    direction: m.direction === 0 ? "higher" : "lower",
    winners,
    evalJobId: m.evalJobId,
    minEvalStakeWei: m.minEvalStake,
    sumExpWad: m.sumExp,
  };
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
  /** Protocol fee paid. */
  fee: bigint;
  /** What the trader paid (buy) or received (sell). */
  total: bigint;
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
  return { ...tx, collateral, fee, total: collateral + fee };
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
 * Sells shares of an outcome with a slippage limit. Fails with `InsufficientSharesError` when the
 * account holds fewer shares.
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
  return { ...tx, collateral, fee, total: collateral - fee };
}

// ---------------------------------------------------------------------------------- settle

/** Parameters of {@linkcode requestEvaluation}. */
export interface RequestEvaluationParams {
  /** The market. */
  marketId: bigint;
  /** Payment to the evaluation providers, AIGENSYN wei. */
  paymentWei: bigint;
  /** Deadline of the evaluation job relative to the latest block, seconds. */
  timeoutSec: number;
  /** Challenge window of the evaluation job, seconds; default 3600. */
  challengeWindowSec?: number;
  /** Stake each provider must lock, wei; default the market's minimum. */
  requiredStakeWei?: bigint;
  /** Independent providers; default 1. */
  replicas?: number;
}

/** Creates the market's evaluation job in the `JobMarket` (escrowing AIGENSYN from the caller). */
export async function requestEvaluation(
  client: ChainClient,
  params: RequestEvaluationParams,
): Promise<TxResult & { jobId: Hex }> {
  const market = await getMarket(client, params.marketId);
  const job = await createJob(client, {
    specHash: market.evalJobId,
    paymentWei: params.paymentWei,
    timeoutSec: params.timeoutSec,
    challengeWindowSec: params.challengeWindowSec,
    requiredStakeWei: params.requiredStakeWei ?? market.minEvalStakeWei,
    replicas: params.replicas,
    checkpointInterval: 1,
  });
  return { ...job, jobId: job.jobId };
}

/** Parameters of {@linkcode resolveMarket}. */
export interface ResolveParams {
  /** The market. */
  marketId: bigint;
  /** The scores the evaluation job committed, in outcome order. */
  scores: readonly bigint[];
  /** The trace root it committed. */
  traceRoot: Hex;
  /** Finalize committed slots whose challenge window passed before resolving; default true. */
  finalize?: boolean;
}

/** Result of {@linkcode resolveMarket}. */
export interface ResolveResult extends TxResult {
  /** Winning outcome indices (ties all win and split the payout). */
  winners: number[];
}

/**
 * Resolves a market from its verified evaluation job. First finalizes (pays) every committed slot
 * of the job whose challenge window has passed, then calls `Delphi.resolve`. Fails with an
 * `EvaluationError` when the job is missing, still in its challenge window, disputed, or committed
 * other scores.
 */
export async function resolveMarket(
  client: ChainClient,
  params: ResolveParams,
): Promise<ResolveResult> {
  if (params.finalize ?? true) {
    const market = await getMarket(client, params.marketId);
    const job = await getJob(client, market.evalJobId).catch(() => undefined);
    const now = await chainTime(client);
    for (let slot = 0; job && slot < job.replicas; slot++) {
      const s = await getSlot(client, { jobId: market.evalJobId, slot });
      if (s.status === "Committed" && now >= s.committedAt + BigInt(job.challengeWindowSec)) {
        await finalizeJob(client, { jobId: market.evalJobId, slot });
      }
    }
  }
  const tx = await write(
    client,
    "resolve",
    [params.marketId, params.scores, params.traceRoot],
    "delphi.resolve",
  );
  const [event] = eventsOf(delphiAbi, tx.receipt, "Resolved");
  const mask = event.args.winners as bigint;
  const winners = params.scores.flatMap((_, i) => (mask >> BigInt(i)) & 1n ? [i] : []);
  return { ...tx, winners };
}

/** One redemption. */
export interface Redemption extends TxResult {
  /** Outcome redeemed. */
  outcome: number;
  /** Shares burned. */
  shares: bigint;
  /** Collateral received. */
  payout: bigint;
}

/**
 * Redeems the account's shares of a resolved or expired market: of `outcome` when given, else of
 * every outcome it holds that pays (winners when resolved, all when expired). Fails with
 * `NotResolvedError` before settlement and `NotWinningOutcomeError` for a losing outcome.
 */
export async function redeem(
  client: ChainClient,
  params: { marketId: bigint; outcome?: number },
): Promise<Redemption[]> {
  let outcomes: number[];
  if (params.outcome !== undefined) {
    outcomes = [params.outcome];
  } else {
    const [market, positions] = await Promise.all([
      getMarket(client, params.marketId),
      getPositions(client, { marketId: params.marketId }),
    ]);
    outcomes = positions.filter((p) =>
      p.shares > 0n && (market.phase !== "Resolved" || market.winners.includes(p.outcome))
    ).map((p) => p.outcome);
    if (outcomes.length === 0 && market.phase !== "Resolved" && market.phase !== "Expired") {
      outcomes = [0]; // let the contract say why (not settled)
    }
  }
  const results: Redemption[] = [];
  for (const outcome of outcomes) {
    const tx = await write(client, "redeem", [params.marketId, BigInt(outcome)], "delphi.redeem");
    const [event] = eventsOf(delphiAbi, tx.receipt, "Redeemed");
    results.push({
      ...tx,
      outcome,
      shares: event.args.shares as bigint,
      payout: event.args.payout as bigint,
    });
  }
  return results;
}

/** Pays the creator what a settled market's pool holds beyond outstanding claims. */
export async function withdrawLiquidity(
  client: ChainClient,
  params: { marketId: bigint },
): Promise<TxResult & { amount: bigint }> {
  const tx = await write(client, "withdrawLiquidity", [params.marketId], "delphi.withdraw");
  const [event] = eventsOf(delphiAbi, tx.receipt, "LiquidityWithdrawn");
  return { ...tx, amount: event.args.amount as bigint };
}

/** Sends the trading fees accrued in `marketIds` to the protocol fee router. */
export async function sweepMarketFees(
  client: ChainClient,
  params: { marketIds: readonly bigint[] },
): Promise<TxResult & { amount: bigint }> {
  const tx = await write(client, "sweepFees", [params.marketIds], "delphi.sweepFees");
  const [event] = eventsOf(delphiAbi, tx.receipt, "FeesSwept");
  return { ...tx, amount: event.args.amount as bigint };
}

/** The most the market could owe holders now (see `Delphi.liabilityOf`). */
export async function getLiability(client: ChainClient, marketId: bigint): Promise<bigint> {
  return await read<bigint>(client, "liabilityOf", [marketId], "delphi.liability");
}
