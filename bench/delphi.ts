/**
 * Delphi bench: gas of create, buy, sell, evaluation start, resolve and redeem on the real
 * contract (anvil) next to a Uniswap V2 swap measured in the same run; the solvency property over
 * random trade sequences, each resolved through the market's own evaluation job (or voided, or
 * left to expire); and the adversary catalogue (`testing/delphi/attacks.ts`): the best profit any
 * attack made its attacker (`delphi.attack_profit_max_wei`, at most 0 when the market is sound).
 *
 * Gas is measured in steady state, as on a live market: the trader already holds shares of the
 * outcome it trades and the swapper already holds the token it buys, so neither pays for a fresh
 * storage slot; approvals are standing (max) allowances in both.
 *
 * Usage: `deno task bench delphi [runs] [seed]` (default 300 runs, seed 42).
 *
 * @module
 */

import { maxUint256 } from "viem";
import { testStableAbi } from "../lib/chain/artifacts/TestStable.ts";
import { type Devnet, send, startDevnet } from "../lib/chain/mod.ts";
import { createMarket, delphi, scoresHash } from "../lib/delphi/mod.ts";
import { runSolvencyFuzz } from "../testing/delphi_solvency.ts";
import { playAttacks } from "../testing/delphi/attacks.ts";
import { univ2SwapGas } from "./_univ2.ts";
import { figure } from "./figure.ts";

const USD = 10n ** 6n;

async function gasFigures(devnet: Devnet): Promise<void> {
  const creator = devnet.client(1);
  const trader = devnet.client(2);
  const provider = devnet.client(3);
  for (const c of [creator, trader]) {
    await send(c, {
      address: devnet.addresses.stable,
      abi: testStableAbi,
      functionName: "approve",
      args: [devnet.addresses.delphi, maxUint256],
      action: "approve",
    });
  }
  const ids = [1, 2, 3].map((i) => `0x${i.toString(16).padStart(64, "0")}`);
  const params = {
    question: "Which of three models is most accurate?",
    outcomes: ids,
    evaluation: {
      datasetId: "ab".repeat(32),
      metric: "accuracy" as const,
      profile: "cpu",
      paymentWei: 10n ** 18n,
      stakeWei: 100n * 10n ** 18n,
    },
    liquidity: 1_000n * USD,
    closeInSec: 3600,
  };
  // A market created earlier, so the measured one is not the contract's first.
  await delphi(creator).create(params);
  const created = await createMarket(creator, params);
  figure("gas.delphi_create", Number(created.gasUsed), "gas");
  const market = delphi(trader).market(created.marketId);

  // Steady state: the trader holds shares of outcome 0 already.
  await market.buy({ outcome: 0, shares: 20n * USD });
  await market.buy({ outcome: 1, shares: 20n * USD });
  const bought = await market.buy({ outcome: 0, shares: 50n * USD });
  figure("gas.delphi_buy", Number(bought.gasUsed), "gas");
  const sold = await market.sell({ outcome: 0, shares: 10n * USD });
  figure("gas.delphi_sell", Number(sold.gasUsed), "gas");

  // Resolve through the market's own evaluation job, then redeem.
  await provider.staking.stake({ amountWei: 1_000n * 10n ** 18n });
  await devnet.increaseTime(3601);
  const started = await market.startEvaluation();
  figure("gas.delphi_start_evaluation", Number(started.gasUsed), "gas");
  const scores = [950_000n, 900_000n, 100_000n];
  const traceRoot = scoresHash([1n]);
  await provider.jobs.claim({ jobId: started.jobId });
  await provider.jobs.commit({
    jobId: started.jobId,
    finalStateHash: scoresHash(scores),
    traceRoot,
  });
  await devnet.increaseTime(3601);
  await market.settleEvaluation();
  const resolved = await market.as(creator).resolve({ scores, traceRoot, settle: false });
  figure("gas.delphi_resolve", Number(resolved.gasUsed), "gas");
  const [redeemed] = await market.redeem(0);
  figure("gas.delphi_redeem", Number(redeemed.gasUsed), "gas");

  // The reference: a Uniswap V2 router swap, stable -> AIGENSYN, by an account holding both.
  const swapGas = await univ2SwapGas(devnet, 100n * USD);
  figure("gas.univ2_swap", Number(swapGas), "gas");
  figure("delphi.trade_gas_vs_swap", Number(bought.gasUsed) / Number(swapGas), "ratio");
  figure("delphi.sell_gas_vs_swap", Number(sold.gasUsed) / Number(swapGas), "ratio");
}

const runs = Number(Deno.args[1] ?? 300);
const seed = Number(Deno.args[2] ?? 42);
{
  await using devnet = await startDevnet();
  await gasFigures(devnet);
}
{
  await using devnet = await startDevnet();
  const started = performance.now();
  const result = await runSolvencyFuzz(devnet, { runs, seed });
  figure("delphi.solvency_runs", result.runs, "runs");
  figure("delphi.solvency_trades", result.trades, "trades");
  figure("delphi.solvency_resolved", result.resolved, "markets");
  figure("delphi.solvency_expired", result.expired, "markets");
  figure("delphi.solvency_voided", result.voided, "markets");
  figure("delphi.solvency_violations", result.violations.length, "violations");
  figure("delphi.solvency_unexpected_errors", result.unexpected.length, "errors");
  figure("delphi.max_creator_loss_vs_bound", result.maxCreatorLossVsBound, "ratio");
  figure("delphi.solvency_seconds", (performance.now() - started) / 1000, "s");
  for (const v of [...result.violations, ...result.unexpected].slice(0, 5)) console.error(v);
}
{
  await using devnet = await startDevnet();
  const outcomes = await playAttacks(devnet);
  let best = -(2n ** 255n);
  let honestLosses = 0;
  for (const o of outcomes) {
    if (o.attackerProfitWei > best) best = o.attackerProfitWei;
    figure(`delphi.attack_profit.${o.name}`, Number(o.attackerProfitWei), "wei");
    // An honest party that lost more than its fees, or a creator drained on a market with no winner.
    honestLosses += o.honest.filter((h) =>
      h.expectation === "refunded" && h.pnlWei !== -h.feesWei
    ).length;
  }
  figure("delphi.attacks", outcomes.length, "attacks");
  figure("delphi.attack_profit_max_wei", Number(best), "wei");
  figure("delphi.attack_honest_losses", honestLosses, "parties");
}
