/**
 * What a Delphi market holds, read from the chain: its stored state and phase, its evaluation's
 * terms and job, every outcome's price, an account's positions and ledger (deposit and held sale
 * proceeds), and its trade history with the prices after each trade. Pure reads: nothing here
 * sends a transaction.
 *
 * @module
 */

import type { Address, Hex } from "../chain/types.ts";
import { delphiAbi } from "../chain/artifacts/Delphi.ts";
import type { ChainClient } from "../chain/client.ts";
import { toMarketError } from "./errors.ts";
import { delphiAddress, readDelphi as read } from "./contract.ts";
import type { Direction } from "./evaluate.ts";

/** Fixed-point one of on-chain prices. */
const WAD = 10n ** 18n;

/** Life stage of a market. */
export type MarketPhase = "Trading" | "Closed" | "Resolved" | "Expired" | "Voided";
const PHASES: MarketPhase[] = ["Trading", "Closed", "Resolved", "Expired", "Voided"];

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
