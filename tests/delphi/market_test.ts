import assert from "node:assert/strict";
import { maxUint256 } from "viem";
import { delphiAbi } from "../../lib/chain/artifacts/Delphi.ts";
import { feeRouterAbi } from "../../lib/chain/artifacts/FeeRouter.ts";
import { testStableAbi } from "../../lib/chain/artifacts/TestStable.ts";
import { type Devnet, type ProtocolClient, startDevnet } from "../../lib/chain/mod.ts";
import { eventsOf } from "../../lib/chain/transact.ts";
import type { Address } from "../../lib/chain/types.ts";
import {
  type Candidate,
  candidateIdOf,
  delphi,
  EVAL_SETTLEMENT_MARGIN_SEC,
  evaluateCandidates,
  EvaluationError,
  type EvaluationParams,
  evaluationSpecHash,
  InsufficientSharesError,
  MarketClosedError,
  MarketError,
  MAX_EVAL_REPLICAS,
  MIN_EVAL_CHALLENGE_WINDOW_SEC,
  MIN_EVAL_TIMEOUT_SEC,
  NotResolvedError,
  NotWinningOutcomeError,
  SlippageExceededError,
  winnersOf,
} from "../../lib/delphi/mod.ts";
import { loadMnist } from "../../lib/exec/mnist.ts";
import { Trainer } from "../../lib/exec/trainer.ts";
import { DEFAULT_PROFILE } from "../../lib/exec/profile.ts";
import { mnistSubset, smallMlpSpec } from "../_fixtures/mlp.ts";

const USD = 10n ** 6n;
const TOKEN = 10n ** 18n;

/** Asserts that `promise` rejects with an error of `Class` decoded from `errorName`. */
async function refuses(
  promise: Promise<unknown>,
  Class: abstract new (...args: never[]) => Error,
  errorName: string,
): Promise<void> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof Class, `expected ${Class.name}, got ${error}`);
    assert.ok(error instanceof MarketError);
    assert.equal(error.errorName, errorName, error.message);
    assert.match(error.message, new RegExp(`reverted with ${errorName}: \\S`));
    return;
  }
  assert.fail(`expected ${errorName}, but the call succeeded`);
}

async function stable(devnet: Devnet, account: Address): Promise<bigint> {
  return await devnet.deployer.public.readContract({
    address: devnet.addresses.stable,
    abi: testStableAbi,
    functionName: "balanceOf",
    args: [account],
  });
}

/** Three candidates of clearly different quality: 0, 8 and 40 training steps. */
async function trainCandidates(): Promise<Candidate[]> {
  const data = await mnistSubset(1024);
  const candidates: Candidate[] = [];
  for (const [i, steps] of [0, 8, 40].entries()) {
    const spec = await smallMlpSpec({ name: "adam", learningRate: 0.01 }, 3 + i);
    const trainer = await Trainer.create({ spec, dataset: data, batchSize: 64, dataSeed: i });
    try {
      candidates.push({ spec, state: await trainer.run(trainer.initialState(), steps) });
    } finally {
      trainer.dispose();
    }
  }
  return candidates;
}

Deno.test("a Delphi market over three trained models, settled by a verified evaluation", async (t) => {
  await using devnet = await startDevnet();
  const creator = devnet.client(1);
  const traders = [2, 3, 4].map((i) => devnet.client(i));
  const provider = devnet.client(6);
  const candidates = await trainCandidates();
  const ids = await Promise.all(candidates.map(candidateIdOf));
  const evalSet = await loadMnist({ split: "test", limit: 500 });
  const profile = DEFAULT_PROFILE.id;

  const terms = {
    paymentWei: 10n * TOKEN,
    stakeWei: 100n * TOKEN,
    challengeWindowSec: 3_600,
    timeoutSec: 7_200,
  };
  const market = await delphi(creator).create({
    question: "Which of three MLPs is most accurate on 500 MNIST test digits?",
    outcomes: ids,
    evaluation: { datasetId: evalSet.id, metric: "accuracy", profile, ...terms },
    liquidity: 1_000n * USD,
    closeInSec: 3600,
    resolveWithinSec: 3 * 86_400,
  });
  const as = (c: ProtocolClient) => market.as(c);
  let feesPaid = 0n;
  const sharesOf = new Map<string, bigint>();

  await t.step(
    "the evaluation's spec hash is derived from the market; its job does not exist yet",
    async () => {
      const info = await market.info();
      assert.equal(info.phase, "Trading");
      assert.equal(info.outcomeCount, 3);
      const evaluation = await market.evaluation();
      assert.equal(
        evaluation.specHash,
        evaluationSpecHash(
          { chainId: creator.chainId, delphi: devnet.addresses.delphi, marketId: market.id },
          { candidates: ids, datasetId: evalSet.id, metric: "accuracy", profile },
        ),
      );
      assert.equal(evaluation.jobId, undefined);
      // The client's mirror of the contract's evaluation constants.
      for (
        const [name, value] of [
          ["MIN_EVAL_CHALLENGE_WINDOW", MIN_EVAL_CHALLENGE_WINDOW_SEC],
          ["MIN_EVAL_TIMEOUT", MIN_EVAL_TIMEOUT_SEC],
          ["SETTLEMENT_MARGIN", EVAL_SETTLEMENT_MARGIN_SEC],
          ["MAX_EVAL_REPLICAS", MAX_EVAL_REPLICAS],
        ] as const
      ) {
        const onChain = await creator.public.readContract({
          address: devnet.addresses.delphi,
          abi: delphiAbi,
          functionName: name,
        });
        assert.equal(Number(onChain), value, name);
      }
      assert.equal(evaluation.paymentWei, terms.paymentWei);
      assert.equal(evaluation.deadline, info.closeTime + BigInt(terms.timeoutSec));
      assert.equal(info.minEvalStakeWei, terms.stakeWei);
      // The creator's AIGENSYN escrow sits in Delphi until the evaluation starts.
      assert.equal(
        await creator.token.balanceOf({ account: devnet.addresses.delphi }),
        terms.paymentWei,
      );
      // b ln 3 <= the creator's funding: the bounded loss.
      assert.ok(Number(info.b) * Math.log(3) <= 1_000e6);
      assert.ok(Number(info.b) * Math.log(3) > 999.99e6);
      const { prices } = await market.prices();
      for (const p of prices) assert.ok(Math.abs(p - 1 / 3) < 1e-15);
    },
  );

  await t.step("several accounts trade; quotes are exact and prices sum to one", async () => {
    const plan: [number, number, bigint][] = [[0, 2, 300n], [1, 1, 200n], [2, 2, 150n], [
      0,
      0,
      50n,
    ], [1, 2, 100n]];
    for (const [who, outcome, whole] of plan) {
      const shares = whole * USD;
      const q = await as(traders[who]).quote(outcome, shares);
      const before = await stable(devnet, traders[who].account);
      const trade = await as(traders[who]).buy({ outcome, shares });
      assert.equal(trade.total, q.total);
      assert.equal(before - (await stable(devnet, traders[who].account)), q.total);
      // The fee is 0.5% of the cost, rounded up (against the trader).
      assert.equal(trade.fee, (trade.collateral * 50n + 9_999n) / 10_000n);
      feesPaid += trade.fee;
      const key = `${who}:${outcome}`;
      sharesOf.set(key, (sharesOf.get(key) ?? 0n) + shares);
    }
    const { prices, supplies } = await market.prices();
    assert.ok(Math.abs(prices.reduce((a, b) => a + b) - 1) < 1e-12);
    assert.deepEqual(supplies, [50n * USD, 200n * USD, 550n * USD]);
    assert.ok(prices[2] > prices[1] && prices[1] > prices[0]);
    const positions = await market.positions(traders[0].account);
    assert.deepEqual(positions.map((p) => p.shares), [50n * USD, 0n, 300n * USD]);
    const history = await market.history();
    assert.equal(history.length, plan.length);
    assert.deepEqual(history.at(-1)!.prices, prices);
    assert.equal((await market.info()).fees, feesPaid);
  });

  await t.step("every rounding goes against the trader: a round trip loses", async () => {
    const trader = as(traders[2]);
    for (const shares of [1n, 7n, 999n, 12_345_678n]) {
      const bought = await trader.buy({ outcome: 0, shares });
      const sold = await trader.sell({ outcome: 0, shares, minPayout: 0n });
      assert.ok(sold.total < bought.total, `${shares}: paid ${bought.total}, got ${sold.total}`);
      assert.ok(sold.collateral <= bought.collateral);
      feesPaid += bought.fee + sold.fee;
    }
    assert.equal((await market.info()).fees, feesPaid);
  });

  await t.step("selling more than held, a moved price and bad input are refused", async () => {
    const trader = as(traders[1]);
    await refuses(
      trader.sell({ outcome: 1, shares: 200n * USD + 1n }),
      InsufficientSharesError,
      "InsufficientShares",
    );
    const q = await trader.quote(1, 10n * USD);
    await refuses(
      trader.buy({ outcome: 1, shares: 10n * USD, maxCost: q.total - 1n }),
      SlippageExceededError,
      "PriceLimitExceeded",
    );
    const s = await trader.quote(1, 10n * USD, "sell");
    await refuses(
      trader.sell({ outcome: 1, shares: 10n * USD, minPayout: s.total + 1n }),
      SlippageExceededError,
      "PriceLimitExceeded",
    );
    await refuses(trader.buy({ outcome: 3, shares: USD }), MarketError, "UnknownOutcome");
    await refuses(trader.buy({ outcome: 0, shares: 0n, maxCost: 1n }), MarketError, "ZeroShares");
    await refuses(
      delphi(creator).market(999).buy({ outcome: 0, shares: USD }),
      MarketError,
      "UnknownMarket",
    );
    const evaluation: EvaluationParams = {
      datasetId: evalSet.id,
      metric: "accuracy",
      profile,
      ...terms,
    };
    const base = {
      question: "bad",
      outcomes: ids,
      evaluation,
      liquidity: 100n * USD,
      closeInSec: 3600,
    };
    const markets = delphi(creator);
    await refuses(
      markets.create({ ...base, outcomes: ids.slice(0, 1) }),
      MarketError,
      "InvalidOutcomeCount",
    );
    await refuses(
      markets.create({
        ...base,
        outcomes: Array.from({ length: 21 }, (_, i) => `${i + 1}`.padStart(64, "0")),
      }),
      MarketError,
      "InvalidOutcomeCount",
    );
    await refuses(
      markets.create({ ...base, outcomes: [ids[0], ids[1], ids[0]] }),
      MarketError,
      "InvalidOutcomeId",
    );
    await refuses(markets.create({ ...base, closeTime: 1n }), MarketError, "InvalidSchedule");
    await refuses(
      markets.create({ ...base, liquidity: 999_999n }),
      MarketError,
      "InvalidLiquidity",
    );
    // The evaluation's terms and schedule are checked when the market opens.
    const badTerms: [Partial<EvaluationParams>, string][] = [
      [{ stakeWei: 0n }, "ZeroEvalStake"],
      [{ paymentWei: 0n }, "InvalidEvalPayment"],
      [{ paymentWei: 10n, replicas: 3 }, "InvalidEvalPayment"],
      [{ replicas: 0 }, "InvalidEvalReplicas"],
      [{ replicas: 9 }, "InvalidEvalReplicas"],
      [{ challengeWindowSec: 60 }, "InvalidEvalChallengeWindow"],
      [{ timeoutSec: 60 }, "InvalidEvalTimeout"],
    ];
    for (const [bad, errorName] of badTerms) {
      await refuses(
        markets.create({ ...base, evaluation: { ...evaluation, ...bad } }),
        MarketError,
        errorName,
      );
    }
    await refuses(
      markets.create({ ...base, resolveWithinSec: 86_400 }),
      MarketError,
      "InvalidEvaluationSchedule",
    );
    // Nothing about the evaluation can happen before the close.
    await refuses(market.startEvaluation(), MarketError, "MarketNotClosed");
    await refuses(
      market.resolve({ scores: [1n, 2n, 3n], traceRoot: `0x${"11".repeat(32)}` }),
      MarketError,
      "MarketNotClosed",
    );
    await refuses(market.redeem(0), NotResolvedError, "NotSettled");
  });

  await devnet.increaseTime(3601);

  await t.step("trading after the close is refused", async () => {
    assert.equal((await market.info()).phase, "Closed");
    await refuses(
      as(traders[0]).buy({ outcome: 1, shares: USD, maxCost: maxUint256 }),
      MarketClosedError,
      "MarketClosed",
    );
    await refuses(
      as(traders[0]).sell({ outcome: 2, shares: USD, minPayout: 0n }),
      MarketClosedError,
      "MarketClosed",
    );
  });

  let result: Awaited<ReturnType<typeof evaluateCandidates>>;
  await t.step(
    "after the close Delphi creates its evaluation job, with the fixed terms",
    async () => {
      const { jobId } = await market.as(traders[0]).startEvaluation();
      const evaluation = await market.evaluation();
      assert.equal(evaluation.jobId, jobId);
      const job = await provider.jobs.get(jobId);
      assert.equal(job.submitter.toLowerCase(), devnet.addresses.delphi.toLowerCase());
      assert.equal(job.refereeCommittee, 3);
      assert.equal(job.requiredStakeWei, terms.stakeWei);
      assert.equal(job.challengeWindowSec, terms.challengeWindowSec);
      assert.equal(job.deadline, evaluation.deadline);
      assert.equal(job.paymentPerReplicaWei, terms.paymentWei);
      await refuses(market.startEvaluation(), EvaluationError, "EvaluationAlreadyStarted");
    },
  );

  await t.step("a staked provider runs the evaluation job; it is deterministic", async () => {
    const jobId = (await market.evaluation()).jobId!;
    await provider.staking.stake({ amountWei: 1_000n * TOKEN });
    await provider.jobs.claim({ jobId });
    result = await evaluateCandidates({
      candidates,
      dataset: evalSet,
      metric: "accuracy",
      profile,
    });
    assert.equal(result.profile, profile);
    assert.deepEqual(result.candidateIds, ids);
    await provider.jobs.commit({
      jobId,
      finalStateHash: result.finalStateHash,
      traceRoot: result.traceRoot,
    });
    // A verifier re-running the evaluation gets the very same commitment.
    const again = await evaluateCandidates({
      candidates,
      dataset: evalSet,
      metric: "accuracy",
      profile,
    });
    assert.equal(again.finalStateHash, result.finalStateHash);
    assert.equal(again.traceRoot, result.traceRoot);
    // More training scores better here, so the 40-step model should lead.
    assert.ok(result.scores[2] > result.scores[0], `${result.scores}`);
  });

  await t.step(
    "resolving before the evaluation is final, or with other scores, is refused",
    async () => {
      await refuses(
        market.resolve({ scores: result.scores, traceRoot: result.traceRoot }),
        EvaluationError,
        "EvaluationNotFinal",
      );
      await devnet.increaseTime(terms.challengeWindowSec + 1);
      await refuses(
        market.resolve({ scores: [...result.scores].reverse(), traceRoot: result.traceRoot }),
        EvaluationError,
        "ScoresMismatch",
      );
    },
  );

  const winners: number[] = [];
  await t.step("after the challenge window the verified scores resolve the market", async () => {
    const resolved = await market.resolve({ scores: result.scores, traceRoot: result.traceRoot });
    assert.deepEqual(resolved.winners, winnersOf(result.scores, "higher"));
    winners.push(...resolved.winners);
    const info = await market.info();
    assert.equal(info.phase, "Resolved");
    assert.deepEqual(info.winners, resolved.winners);
    assert.equal(resolved.jobId, (await market.evaluation()).jobId);
    const slot = await provider.jobs.slot({ jobId: resolved.jobId });
    assert.equal(slot.status, "Paid");
  });

  await t.step(
    "winners redeem one unit per share, losers are refused, the creator gets the rest",
    async () => {
      const loser = [0, 1, 2].find((i) => !winners.includes(i))!;
      const holder = [0, 1, 2].find((who) => (sharesOf.get(`${who}:${loser}`) ?? 0n) > 0n)!;
      await refuses(as(traders[holder]).redeem(loser), NotWinningOutcomeError, "NotWinningOutcome");
      for (const [who, trader] of traders.entries()) {
        const before = await stable(devnet, trader.account);
        const redemptions = await as(trader).redeem();
        let expected = 0n;
        for (const w of winners) {
          expected += (sharesOf.get(`${who}:${w}`) ?? 0n) /
            BigInt(winners.length);
        }
        const got = redemptions.reduce((s, r) => s + r.payout, 0n);
        assert.equal(got, expected);
        assert.equal((await stable(devnet, trader.account)) - before, expected);
      }
      const creatorBefore = await stable(devnet, creator.account);
      const { amount } = await market.withdrawLiquidity();
      assert.equal((await stable(devnet, creator.account)) - creatorBefore, amount);
      // Everything is paid out: the contract keeps exactly the unswept fees.
      const info = await market.info();
      assert.equal(info.pool, 0n);
      assert.equal(await stable(devnet, devnet.addresses.delphi), feesPaid);
      // The evaluator was paid the whole escrow: nothing comes back, nothing stays in Delphi.
      assert.equal((await market.reclaimEvaluationEscrow()).amountWei, 0n);
      assert.equal(await creator.token.balanceOf({ account: devnet.addresses.delphi }), 0n);
    },
  );

  await t.step(
    "fees go to the fee router and buy back AIGENSYN: 70% burned, 30% treasury",
    async () => {
      const routerBefore = await stable(devnet, devnet.addresses.feeRouter);
      const swept = await market.sweepFees();
      assert.equal(swept.amount, feesPaid);
      assert.equal((await stable(devnet, devnet.addresses.feeRouter)) - routerBefore, feesPaid);
      assert.equal(await stable(devnet, devnet.addresses.delphi), 0n);
      const supplyBefore = (await creator.token.supply()).totalSupplyWei;
      const treasuryBefore = await creator.token.balanceOf({ account: devnet.addresses.timelock });
      // The buyback prices against the pool's TWAP: observe it, wait a window, then buy back.
      const { readyAt } = await traders[0].fees.observe();
      await devnet.increaseTime(readyAt - (await devnet.now()));
      const bought = await traders[0].fees.buyback();
      assert.equal(bought.amountIn, feesPaid + routerBefore);
      const split = bought.amountOutWei - bought.callerRewardWei; // the caller's reward comes first
      assert.equal(bought.burnedWei, split * 7_000n / 10_000n);
      assert.equal(bought.burnedWei + bought.treasuryWei, split);
      assert.equal(supplyBefore - (await creator.token.supply()).totalSupplyWei, bought.burnedWei);
      assert.equal(
        (await creator.token.balanceOf({ account: devnet.addresses.timelock })) - treasuryBefore,
        bought.treasuryWei,
      );
      assert.equal(eventsOf(feeRouterAbi, bought.receipt, "BoughtBack").length, 1);
    },
  );
});
