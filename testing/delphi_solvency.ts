/**
 * The market-solvency property, run against a real chain: random markets (2 to 20 outcomes,
 * random funding), random buy and sell sequences from several traders, each market then resolved
 * through its own evaluation job to a random winner (ties included), voided (its job ends with no
 * result), or left to expire, and every holder and the creator paid out. After every step the
 * contract must hold at least everything it could owe: accrued fees plus, per market, the most any
 * resolution could pay (`max_i q_i` plus held sale proceeds); and until a resolution its pool must
 * be exactly the creator's funding plus every account's deposit, which is what a refund pays. A
 * market that names no winner must leave every trader down exactly the fees it paid and the
 * creator even; and once everyone is paid, no collateral (beyond unswept fees) and no AIGENSYN
 * escrow may stay in Delphi. Each run starts from an `evm_snapshot` and ends with an
 * `evm_revert`, so runs are independent. Property-based with `fast-check`, like the chain layer's
 * own invariant fuzz.
 *
 * @module
 */

import fc from "npm:fast-check@4.10.2";
import { maxUint256 } from "npm:viem@2.57.20";
import type { Address } from "../lib/chain/types.ts";
import type { Devnet } from "../lib/chain/devnet.ts";
import type { ProtocolClient } from "../lib/chain/protocol.ts";
import { ContractRevertError } from "../lib/chain/revert.ts";
import { send } from "../lib/chain/transact.ts";
import { testStableAbi } from "../lib/chain/artifacts/TestStable.ts";
import { delphiAbi } from "../lib/chain/artifacts/Delphi.ts";
import { buy, createMarket, sell } from "../lib/delphi/market.ts";
import { getLedger, getMarket, getPrices } from "../lib/delphi/market_state.ts";
import {
  claim,
  reclaimEvaluationEscrow,
  resolveMarket,
  startEvaluation,
  voidMarket,
  withdrawLiquidity,
} from "../lib/delphi/settlement.ts";
import { scoresHash } from "../lib/delphi/evaluate.ts";

/** Options of {@linkcode runSolvencyFuzz}. */
export interface SolvencyOptions {
  /** Random trade sequences (markets); default 300. */
  runs?: number;
  /** fast-check seed, for reproducible runs; default 42. */
  seed?: number;
  /** Most trades per sequence; default 12. */
  maxTrades?: number;
}

/** What a solvency run found. */
export interface SolvencyResult {
  /** Sequences run. */
  runs: number;
  /** Trades attempted. */
  trades: number;
  /** Trades the contract refused as expected (price saturation). */
  refusedTrades: number;
  /** Steps at which the contract held less than it could owe, with what it held and owed. */
  violations: string[];
  /** Errors that should not happen (a failed redeem, an unknown revert). */
  unexpected: string[];
  /** Worst creator loss seen divided by the LMSR bound `b ln n` (at most 1 when sound). */
  maxCreatorLossVsBound: number;
  /** Markets resolved from an evaluation job. */
  resolved: number;
  /** Markets left to expire. */
  expired: number;
  /** Markets voided (their evaluation job ended with no result). */
  voided: number;
}

interface TradeStep {
  trader: number;
  outcome: number;
  side: "buy" | "sell";
  /** Share amount as a fraction of b (buy) or of the holding (sell), in 1/10,000. */
  size: number;
}

interface Plan {
  outcomes: number;
  liquidity: bigint;
  trades: TradeStep[];
  ending:
    | { kind: "resolve"; winner: number; tieWith: number | null }
    | { kind: "expire" }
    | { kind: "void" };
}

const TRADERS = 5;
const CHALLENGE_WINDOW_SEC = 3_600;
const EVAL_TIMEOUT_SEC = 3_600;
const CLOSE_IN_SEC = 1_000;
const RESOLVE_WITHIN_SEC = 2 * 86_400;
const TOKEN = 10n ** 18n;

function planArbitrary(maxTrades: number): fc.Arbitrary<Plan> {
  return fc.record({
    outcomes: fc.oneof(
      { weight: 4, arbitrary: fc.integer({ min: 2, max: 6 }) },
      { weight: 1, arbitrary: fc.integer({ min: 7, max: 20 }) },
    ),
    liquidity: fc.oneof(
      fc.bigInt({ min: 1_000_000n, max: 10_000_000n }),
      fc.bigInt({ min: 10_000_000n, max: 5_000_000_000n }),
    ),
    trades: fc.array(
      fc.record({
        trader: fc.integer({ min: 0, max: TRADERS - 1 }),
        outcome: fc.nat({ max: 19 }),
        side: fc.constantFrom("buy" as const, "buy" as const, "sell" as const),
        size: fc.oneof(
          fc.integer({ min: 1, max: 100 }),
          fc.integer({ min: 1, max: 10_000 }),
          fc.integer({ min: 10_000, max: 60_000 }),
        ),
      }),
      { minLength: 1, maxLength: maxTrades },
    ),
    ending: fc.oneof(
      {
        weight: 4,
        arbitrary: fc.record({
          kind: fc.constant("resolve" as const),
          winner: fc.nat({ max: 19 }),
          tieWith: fc.option(fc.nat({ max: 19 }), { freq: 4 }),
        }),
      },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant("expire" as const) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant("void" as const) }) },
    ),
  });
}

async function stableBalance(client: ProtocolClient, account: Address): Promise<bigint> {
  return await client.public.readContract({
    address: client.addresses.stable,
    abi: testStableAbi,
    functionName: "balanceOf",
    args: [account],
  });
}

/**
 * Runs the solvency property; `violations` must come back empty.
 *
 * @example
 * ```ts
 * import { startDevnet } from "../lib/chain/devnet.ts";
 * import { runSolvencyFuzz } from "./delphi_solvency.ts";
 * await using devnet = await startDevnet();
 * const result = await runSolvencyFuzz(devnet, { runs: 20 });
 * console.log(result.violations.length); // 0
 * ```
 */
export async function runSolvencyFuzz(
  devnet: Devnet,
  options: SolvencyOptions = {},
): Promise<SolvencyResult> {
  const runs = options.runs ?? 300;
  const traders = Array.from({ length: TRADERS }, (_, i) => devnet.client(1 + i));
  const creator = devnet.client(7);
  const provider = devnet.client(8);
  const delphi = devnet.addresses.delphi;
  for (const c of [...traders, creator]) {
    await send(c, {
      address: devnet.addresses.stable,
      abi: testStableAbi,
      functionName: "approve",
      args: [delphi, maxUint256],
      action: "approve",
    });
  }
  await creator.token.approve({ spender: delphi, amountWei: maxUint256 });
  await provider.staking.stake({ amountWei: 1_000n * TOKEN });

  const result: SolvencyResult = {
    runs: 0,
    trades: 0,
    refusedTrades: 0,
    violations: [],
    unexpected: [],
    maxCreatorLossVsBound: 0,
    resolved: 0,
    expired: 0,
    voided: 0,
  };

  /**
   * Checks the contract holds what it could owe for `marketId`, and that an unresolved market's
   * pool is exactly its funding plus every deposit; records a violation if not.
   */
  const check = async (marketId: bigint, step: string): Promise<void> => {
    const [market, prices, held, ledgers] = await Promise.all([
      getMarket(creator, marketId),
      getPrices(creator, marketId),
      stableBalance(creator, delphi),
      Promise.all(traders.map((t) => getLedger(creator, { marketId, account: t.account }))),
    ]);
    const deposits = ledgers.reduce((s, l) => s + l.depositWei, 0n);
    let owed: bigint;
    if (market.phase === "Resolved") {
      const k = BigInt(market.winners.length);
      owed = market.winners.reduce((s, i) => s + prices.supplies[i] / k, 0n) +
        market.heldProceeds;
    } else {
      const maxSupply = prices.supplies.reduce((a, b) => a > b ? a : b, 0n);
      const refunds = market.pool - market.funding;
      owed = market.phase === "Expired" || market.phase === "Voided"
        ? refunds
        : maxSupply + market.heldProceeds;
      if (refunds !== deposits) {
        result.violations.push(
          `market ${marketId} ${step}: pool ${market.pool} is not funding ${market.funding} ` +
            `plus deposits ${deposits}`,
        );
      }
    }
    if (market.pool < owed || held < market.pool + market.fees) {
      result.violations.push(
        `market ${marketId} ${step}: holds ${held}, pool ${market.pool}, fees ${market.fees}, owes ${owed}`,
      );
    }
  };

  const property = fc.asyncProperty(planArbitrary(options.maxTrades ?? 12), async (plan) => {
    const snapshot = await devnet.snapshot();
    try {
      await runPlan(plan);
    } catch (error) {
      result.unexpected.push(
        `run ${result.runs}: ${error instanceof Error ? error.message : error}`,
      );
    } finally {
      await devnet.revert(snapshot);
    }
    result.runs++;
    return true;
  });

  const runPlan = async (plan: Plan): Promise<void> => {
    const n = plan.outcomes;
    const outcomes = Array.from(
      { length: n },
      (_, i) => `0x${(i + 1).toString(16).padStart(64, "0")}`,
    );
    const created = await createMarket(creator, {
      question: "fuzz",
      outcomes,
      evaluation: {
        datasetId: "11".repeat(32),
        metric: "accuracy",
        profile: "cpu",
        paymentWei: TOKEN,
        stakeWei: 100n * TOKEN,
        timeoutSec: EVAL_TIMEOUT_SEC,
        challengeWindowSec: CHALLENGE_WINDOW_SEC,
      },
      liquidity: plan.liquidity,
      closeInSec: CLOSE_IN_SEC,
      resolveWithinSec: RESOLVE_WITHIN_SEC,
    });
    const { marketId, b } = created;
    const creatorStart = await stableBalance(creator, creator.account);
    await check(marketId, "created");
    const holdings = traders.map(() => new Array<bigint>(n).fill(0n));
    // What each trader paid in (cost + fee) and got back, and its fees, for the refund check.
    const paidIn = traders.map(() => 0n);
    const paidOut = traders.map(() => 0n);
    const feesOf = traders.map(() => 0n);
    for (const [t, trade] of plan.trades.entries()) {
      const outcome = trade.outcome % n;
      const trader = traders[trade.trader];
      const held = holdings[trade.trader][outcome];
      result.trades++;
      try {
        if (trade.side === "sell" && held > 0n) {
          const shares = held * BigInt(Math.min(trade.size, 10_000)) / 10_000n || 1n;
          const sold = await sell(trader, { marketId, outcome, shares, minPayout: 0n });
          holdings[trade.trader][outcome] -= shares;
          paidOut[trade.trader] += sold.total - sold.held;
          feesOf[trade.trader] += sold.fee;
        } else {
          const shares = b * BigInt(trade.size) / 10_000n || 1n;
          const bought = await buy(trader, { marketId, outcome, shares, maxCost: maxUint256 });
          holdings[trade.trader][outcome] += shares;
          paidIn[trade.trader] += bought.total;
          feesOf[trade.trader] += bought.fee;
        }
      } catch (error) {
        if (error instanceof ContractRevertError && error.errorName === "OutcomeSaturated") {
          result.refusedTrades++;
        } else if (
          error instanceof Error && "errorName" in error && error.errorName === "OutcomeSaturated"
        ) {
          result.refusedTrades++;
        } else {
          throw error;
        }
      }
      await check(marketId, `after trade ${t}`);
    }

    // Settle through the market's own evaluation job (or none).
    await devnet.increaseTime(CLOSE_IN_SEC + 1);
    if (plan.ending.kind === "resolve") {
      const winner = plan.ending.winner % n;
      const scores = Array.from({ length: n }, (_, i) => BigInt(i === winner ? 900 : 100 + i));
      if (plan.ending.tieWith !== null) scores[plan.ending.tieWith % n] = 900n;
      const traceRoot = scoresHash([BigInt(marketId)]);
      const { jobId } = await startEvaluation(creator, { marketId });
      await provider.jobs.claim({ jobId });
      await provider.jobs.commit({ jobId, finalStateHash: scoresHash(scores), traceRoot });
      await devnet.increaseTime(CHALLENGE_WINDOW_SEC);
      await resolveMarket(creator, { marketId, scores, traceRoot });
      result.resolved++;
    } else if (plan.ending.kind === "void") {
      // Started, but nobody evaluates: past its deadline the job refunds and the market voids.
      await startEvaluation(creator, { marketId });
      await devnet.increaseTime(EVAL_TIMEOUT_SEC);
      await voidMarket(creator, { marketId });
      result.voided++;
    } else {
      await devnet.increaseTime(RESOLVE_WITHIN_SEC);
      result.expired++;
    }
    await check(marketId, "settled");
    const phase = (await getMarket(creator, marketId)).phase;

    // Pay everyone out: every claim must succeed, and the creator gets the rest.
    for (const [i, trader] of traders.entries()) {
      const ledger = await getLedger(creator, { marketId, account: trader.account });
      const holds = holdings[i].some((h) => h > 0n);
      if (!holds && ledger.depositWei === 0n && ledger.heldProceedsWei === 0n) continue;
      const got = await claim(trader, { marketId });
      paidOut[i] += got.totalWei;
      await check(marketId, `after claim by trader ${i}`);
      // A market that names no winner leaves each trader down exactly the fees it paid.
      if (phase !== "Resolved" && paidIn[i] - paidOut[i] !== feesOf[i]) {
        result.unexpected.push(
          `market ${marketId} (${phase}): trader ${i} paid ${paidIn[i]}, got ${paidOut[i]}, ` +
            `fees ${feesOf[i]}`,
        );
      }
    }
    let withdrawn = 0n;
    try {
      withdrawn = (await withdrawLiquidity(creator, { marketId })).amount;
    } catch (error) {
      if (
        !(error instanceof Error && "errorName" in error && error.errorName === "NothingToReclaim")
      ) {
        throw error;
      }
    }
    await check(marketId, "after withdraw");
    const creatorEnd = await stableBalance(creator, creator.account);
    if (creatorEnd - creatorStart !== withdrawn) {
      result.unexpected.push(
        `market ${marketId}: creator balance moved by other than the withdrawal`,
      );
    }
    if (phase !== "Resolved" && withdrawn !== plan.liquidity) {
      result.unexpected.push(
        `market ${marketId} (${phase}): creator got ${withdrawn} of its ${plan.liquidity} back`,
      );
    }
    const loss = Number(plan.liquidity - withdrawn);
    const bound = Number(b) * Math.log(n);
    result.maxCreatorLossVsBound = Math.max(result.maxCreatorLossVsBound, loss / bound);
    const after = await getMarket(creator, marketId);
    const held = await stableBalance(creator, delphi);
    // Everything paid out: the contract keeps only the (unswept) fees.
    if (after.pool !== 0n || held !== after.fees) {
      result.violations.push(
        `market ${marketId}: after full payout pool ${after.pool}, holds ${held}, fees ${after.fees}`,
      );
    }
    // And no AIGENSYN: the evaluation escrow is spent or back with the creator.
    await reclaimEvaluationEscrow(creator, { marketId });
    const [escrow, aigensyn] = await Promise.all([
      creator.public.readContract({
        address: delphi,
        abi: delphiAbi,
        functionName: "evaluationEscrow",
      }),
      creator.token.balanceOf({ account: delphi }),
    ]);
    if (escrow !== 0n || aigensyn !== 0n) {
      result.violations.push(
        `market ${marketId}: Delphi keeps ${aigensyn} AIGENSYN, escrow ${escrow}, after settling`,
      );
    }
  };

  await fc.assert(property, { numRuns: runs, seed: options.seed ?? 42 });
  return result;
}
