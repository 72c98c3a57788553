/**
 * The Delphi adversary catalogue: attacks on a market's resolution, each played end to end
 * against the real contracts on a devnet by an attacker with several accounts (a trader, a sybil
 * trader and a staked sybil provider), next to honest traders, an honest creator and an honest
 * evaluator. Each attack ends with everyone paid out, and reports what the attacker's accounts
 * together made in collateral (and in AIGENSYN), what every honest party made, and which of the
 * attacker's moves the contracts refused. The tests (`tests/delphi/attacks_test.ts`) check that
 * attackers lose and honest parties lose nothing but fees; the bench
 * (`deno task bench delphi`) prints the best attacker profit as `delphi.attack_profit_max_wei`.
 *
 * Attacks (the audit's findings and the variants a fix must also stop):
 * - `jobHijack`: the attacker creates a job under the market's evaluation spec hash, with its own
 *   terms (a 1-wei payment, no referee committee, the shortest window), has a sybil commit fake
 *   scores to it before the close, buys the outcome it chose and resolves.
 * - `commitBeforeClose`: the attacker tries to start or take the evaluation before the close.
 * - `blockedEvaluation`: the attacker pushes one outcome to 0.9975 just before the close, then its
 *   staked sybil takes the only evaluation slot and never commits, so the market voids.
 * - `expiryAfterPush`: the same push, then nobody evaluates and the market expires.
 * - `washThenVoid`: one attacker account buys low, a sybil pushes the price up, the first sells
 *   high (so the loss sits with the sybil's deposit), then the evaluation is blocked.
 * - `transferredShares`: the attacker moves its shares to a sybil, which sells them, then blocks
 *   the evaluation, to claim the deposit and the sale both.
 * - `conflictingReplica`: on a two-replica evaluation the attacker's provider commits fake scores
 *   next to the honest ones; nobody disputes, so the paid slots disagree.
 *
 * Harness only: never imported by `lib/`.
 *
 * @module
 */

import type { Devnet } from "../../lib/chain/devnet.ts";
import type { ProtocolClient } from "../../lib/chain/protocol.ts";
import type { Address, Hex } from "../../lib/chain/types.ts";
import { delphiAbi } from "../../lib/chain/artifacts/Delphi.ts";
import { testStableAbi } from "../../lib/chain/artifacts/TestStable.ts";
import { send } from "../../lib/chain/transact.ts";
import { ChainError } from "../../lib/core/errors.ts";
import { type Market, type MarketPhase, scoresHash } from "../../lib/delphi/mod.ts";
import { delphi } from "../../lib/delphi/client.ts";
import { sweepEvaluationSurplus } from "../../lib/delphi/settlement.ts";

const USD = 10n ** 6n;
const TOKEN = 10n ** 18n;
/** The creator's funding of every attacked market. */
export const FUNDING = 1_000n * USD;
/** The evaluation payment of every attacked market. */
export const EVAL_PAYMENT = 10n * TOKEN;
const EVAL_STAKE = 100n * TOKEN;
const CLOSE_IN_SEC = 3_600;
const EVAL_TIMEOUT_SEC = 3_600;
const CHALLENGE_WINDOW_SEC = 3_600;
/** What the evaluation really finds: outcome 0 is best. */
const TRUE_SCORES = [900_000n, 500_000n, 100_000n];
/** What the attacker would like it to find: outcome 2 is best. */
const FAKE_SCORES = [100_000n, 500_000n, 900_000n];
const TRACE_ROOT = scoresHash([42n]);

/** How an honest party should come out of an attack. */
export type Expectation =
  /** The market named no winner: down exactly the fees it paid (creator: even). */
  | "refunded"
  /** Holds the true winner of a resolved market: up. */
  | "wins"
  /** Market risk on a resolved market (a losing bet, the creator's bounded LMSR loss). */
  | "market";

/** One honest party's result. */
export interface HonestResult {
  /** Who. */
  name: string;
  /** Collateral gained (negative: lost), base units. */
  pnlWei: bigint;
  /** Trading fees it paid, base units. */
  feesWei: bigint;
  /** How it should come out. */
  expectation: Expectation;
}

/** What one attack came to. */
export interface AttackOutcome {
  /** The attack's name in {@linkcode ATTACKS}. */
  name: string;
  /** How the market ended. */
  phase: MarketPhase;
  /** Collateral the attacker's accounts made together, base units (negative: lost). */
  attackerProfitWei: bigint;
  /** AIGENSYN the attacker's accounts made together (stake included), wei. */
  attackerTokenProfitWei: bigint;
  /** Each honest party's result. */
  honest: HonestResult[];
  /** The creator's AIGENSYN result (the evaluation it paid for), wei. */
  creatorTokenPnlWei: bigint;
  /** The attacker's moves the contracts refused: `step: ErrorName`. */
  refused: string[];
  /** Delphi's AIGENSYN balance once everything was reclaimed and swept: must be 0. */
  strandedTokenWei: bigint;
  /** Delphi's collateral balance for this market once everyone was paid, fees apart: must be 0. */
  strandedCollateralWei: bigint;
}

/** The accounts an attack plays with. */
export interface Cast {
  /** The chain. */
  devnet: Devnet;
  /** Funds the market. */
  creator: ProtocolClient;
  /** Honest traders. */
  alice: ProtocolClient;
  /** Honest traders. */
  bob: ProtocolClient;
  /** A staked honest provider that evaluates correctly. */
  evaluator: ProtocolClient;
  /** The attacker's trading account. */
  attacker: ProtocolClient;
  /** The attacker's second trading account. */
  sybil: ProtocolClient;
  /** The attacker's staked provider. */
  sybilProvider: ProtocolClient;
}

/** Sets up the cast on a devnet: accounts 1 to 7, providers staked. */
export async function castOf(devnet: Devnet): Promise<Cast> {
  const cast: Cast = {
    devnet,
    creator: devnet.client(1),
    alice: devnet.client(2),
    bob: devnet.client(3),
    evaluator: devnet.client(4),
    attacker: devnet.client(5),
    sybil: devnet.client(6),
    sybilProvider: devnet.client(7),
  };
  await cast.evaluator.staking.stake({ amountWei: 1_000n * TOKEN });
  await cast.sybilProvider.staking.stake({ amountWei: 1_000n * TOKEN });
  return cast;
}

/** One attack's play, on a fresh market of {@linkcode openMarket}. */
type Play = (cast: Cast, run: Run) => Promise<void>;

/** What a play records as it goes. */
interface Run {
  market: Market;
  /** Fees each honest trader paid. */
  fees: Map<string, bigint>;
  /** Expectation of each honest party by name. */
  expect: Map<string, Expectation>;
  refused: string[];
}

/** Opens the attacked market: three outcomes, honest creator. */
async function openMarket(cast: Cast, replicas = 1): Promise<Market> {
  return await delphi(cast.creator).create({
    question: "Which of three models is most accurate?",
    outcomes: [1, 2, 3].map((i) => i.toString(16).padStart(64, "0")),
    evaluation: {
      datasetId: "ab".repeat(32),
      metric: "accuracy",
      profile: "cpu",
      paymentWei: EVAL_PAYMENT,
      stakeWei: EVAL_STAKE,
      replicas,
      timeoutSec: EVAL_TIMEOUT_SEC,
      challengeWindowSec: CHALLENGE_WINDOW_SEC,
    },
    liquidity: FUNDING,
    closeInSec: CLOSE_IN_SEC,
  });
}

/** Runs `action`, which must be refused; records the refusal, rethrows anything else. */
async function refused(run: Run, step: string, action: () => Promise<unknown>): Promise<void> {
  try {
    await action();
  } catch (error) {
    if (!(error instanceof ChainError)) throw error;
    const name = (error as { errorName?: string }).errorName ?? error.code;
    run.refused.push(`${step}: ${name}`);
    return;
  }
  throw new Error(`the contracts let the attacker ${step}`);
}

/** An honest buy, its fee recorded. */
async function honestBuy(
  run: Run,
  who: ProtocolClient,
  name: string,
  outcome: number,
  shares: bigint,
): Promise<void> {
  const trade = await run.market.as(who).buy({ outcome, shares });
  run.fees.set(name, (run.fees.get(name) ?? 0n) + trade.fee);
}

/** The honest evaluator takes the market's job and commits the true scores. */
async function honestEvaluation(cast: Cast, jobId: Hex): Promise<void> {
  await cast.evaluator.jobs.claim({ jobId });
  await cast.evaluator.jobs.commit({
    jobId,
    finalStateHash: scoresHash(TRUE_SCORES),
    traceRoot: TRACE_ROOT,
  });
  await cast.devnet.increaseTime(CHALLENGE_WINDOW_SEC);
}

/** Honest trading every attack starts with: Alice backs the true winner, Bob outcome 1. */
async function honestTrading(run: Run, cast: Cast): Promise<void> {
  await honestBuy(run, cast.alice, "alice", 0, 200n * USD);
  await honestBuy(run, cast.bob, "bob", 1, 150n * USD);
}

/** The attacker's evaluation block: its staked sybil takes the only slot and never commits. */
async function blockEvaluation(cast: Cast, run: Run): Promise<void> {
  const { jobId } = await run.market.as(cast.attacker).startEvaluation();
  await cast.sybilProvider.jobs.claim({ jobId });
  await refused(run, "let the honest evaluator in", () => cast.evaluator.jobs.claim({ jobId }));
  await cast.devnet.increaseTime(EVAL_TIMEOUT_SEC);
  await refused(
    run,
    "resolve with its scores",
    () => run.market.as(cast.attacker).resolve({ scores: FAKE_SCORES, traceRoot: TRACE_ROOT }),
  );
  await run.market.as(cast.attacker).voidMarket();
}

/** Pushes outcome 1 to a price of about 0.9975 just before the close. */
async function pushPrice(cast: Cast, run: Run): Promise<void> {
  const { b } = await run.market.info();
  // With q_0, q_2 small, p_1 = 0.9975 needs q_1 about b ln(0.9975 / 0.0025 * 2) above the rest.
  const shares = b * 66n / 10n;
  await run.market.as(cast.attacker).buy({ outcome: 1, shares, slippageBps: 10_000 });
  const { prices } = await run.market.prices();
  if (prices[1] < 0.99) throw new Error(`the push reached only ${prices[1]}`);
  await cast.devnet.increaseTime(CLOSE_IN_SEC);
}

/** The catalogue. */
export const ATTACKS: Readonly<Record<string, { replicas?: number; play: Play }>> = {
  jobHijack: {
    play: async (cast, run) => {
      const { market } = run;
      await honestTrading(run, cast);
      run.expect.set("alice", "wins").set("bob", "market").set("creator", "market");
      const { specHash } = await market.evaluation();
      // The attacker's own job under the market's spec hash, with its own terms.
      const own = await cast.attacker.jobs.create({
        specHash,
        paymentWei: 1n,
        timeoutSec: CLOSE_IN_SEC * 4,
        challengeWindowSec: 60,
        checkpointInterval: 1,
      });
      await cast.sybilProvider.jobs.claim({ jobId: own.jobId });
      await cast.sybilProvider.jobs.commit({
        jobId: own.jobId,
        finalStateHash: scoresHash(FAKE_SCORES),
        traceRoot: TRACE_ROOT,
      });
      await cast.devnet.increaseTime(61);
      await cast.sybilProvider.jobs.finalize({ jobId: own.jobId });
      await market.as(cast.attacker).buy({ outcome: 2, shares: 400n * USD });
      const fake = { scores: FAKE_SCORES, traceRoot: TRACE_ROOT };
      await refused(run, "resolve before the close", () => market.as(cast.attacker).resolve(fake));
      await cast.devnet.increaseTime(CLOSE_IN_SEC);
      await refused(
        run,
        "resolve from its own job",
        () => market.as(cast.attacker).resolve(fake),
      );
      // Delphi's own job, whatever id the attacker's holds.
      const { jobId } = await market.as(cast.alice).startEvaluation();
      if (jobId === own.jobId) throw new Error("Delphi took the attacker's job");
      await honestEvaluation(cast, jobId);
      await refused(run, "resolve with its scores", () => market.as(cast.attacker).resolve(fake));
      await market.as(cast.bob).resolve({ scores: TRUE_SCORES, traceRoot: TRACE_ROOT });
    },
  },
  commitBeforeClose: {
    play: async (cast, run) => {
      const { market } = run;
      await honestTrading(run, cast);
      run.expect.set("alice", "wins").set("bob", "market").set("creator", "market");
      await market.as(cast.attacker).buy({ outcome: 2, shares: 300n * USD });
      await refused(
        run,
        "start the evaluation before the close",
        () => market.as(cast.attacker).startEvaluation(),
      );
      const { specHash, jobId } = await market.evaluation();
      if (jobId !== undefined) throw new Error("an evaluation job exists before the close");
      await refused(
        run,
        "claim the evaluation before the close",
        () => cast.sybilProvider.jobs.claim({ jobId: specHash }),
      );
      await cast.devnet.increaseTime(CLOSE_IN_SEC);
      const started = await market.as(cast.bob).startEvaluation();
      await honestEvaluation(cast, started.jobId);
      await market.as(cast.alice).resolve({ scores: TRUE_SCORES, traceRoot: TRACE_ROOT });
    },
  },
  blockedEvaluation: {
    play: async (cast, run) => {
      await honestTrading(run, cast);
      run.expect.set("alice", "refunded").set("bob", "refunded").set("creator", "refunded");
      await pushPrice(cast, run);
      await blockEvaluation(cast, run);
    },
  },
  expiryAfterPush: {
    play: async (cast, run) => {
      await honestTrading(run, cast);
      run.expect.set("alice", "refunded").set("bob", "refunded").set("creator", "refunded");
      await pushPrice(cast, run);
      const { resolutionDeadline, closeTime } = await run.market.info();
      await cast.devnet.increaseTime(Number(resolutionDeadline - closeTime));
      await refused(
        run,
        "start the evaluation after its deadline",
        () => run.market.as(cast.attacker).startEvaluation(),
      );
    },
  },
  washThenVoid: {
    play: async (cast, run) => {
      const { market } = run;
      await honestBuy(run, cast.alice, "alice", 0, 150n * USD);
      run.expect.set("alice", "refunded").set("creator", "refunded");
      // Buy low with one account, push with another, sell high with the first: the sale's gain
      // would be the sybil's loss, socialised if refunds were paid pro rata or from the funding.
      const { b } = await market.info();
      for (let round = 0; round < 3; round++) {
        await market.as(cast.attacker).buy({ outcome: 1, shares: b, slippageBps: 10_000 });
        await market.as(cast.sybil).buy({ outcome: 1, shares: 4n * b, slippageBps: 10_000 });
        await market.as(cast.attacker).sell({ outcome: 1, shares: b, minPayout: 0n });
        await market.as(cast.sybil).sell({ outcome: 1, shares: 4n * b, minPayout: 0n });
      }
      await honestBuy(run, cast.bob, "bob", 2, 100n * USD);
      run.expect.set("bob", "refunded");
      await market.as(cast.sybil).buy({ outcome: 1, shares: 2n * b, slippageBps: 10_000 });
      await cast.devnet.increaseTime(CLOSE_IN_SEC);
      await blockEvaluation(cast, run);
    },
  },
  transferredShares: {
    play: async (cast, run) => {
      const { market } = run;
      await honestTrading(run, cast);
      run.expect.set("alice", "refunded").set("bob", "refunded").set("creator", "refunded");
      await market.as(cast.attacker).buy({ outcome: 2, shares: 300n * USD });
      const id = await cast.attacker.public.readContract({
        address: cast.devnet.addresses.delphi,
        abi: delphiAbi,
        functionName: "tokenIdOf",
        args: [market.id, 2n],
      });
      await send(cast.attacker, {
        address: cast.devnet.addresses.delphi,
        abi: delphiAbi,
        functionName: "transfer",
        args: [cast.sybil.account, id, 300n * USD],
        action: "delphi.transfer",
      });
      await market.as(cast.sybil).sell({ outcome: 2, shares: 300n * USD, minPayout: 0n });
      await cast.devnet.increaseTime(CLOSE_IN_SEC);
      await blockEvaluation(cast, run);
      await refused(run, "refund the sybil's sale", () => market.as(cast.sybil).refund());
      await refused(run, "release the sybil's sale", () => market.as(cast.sybil).releaseProceeds());
    },
  },
  conflictingReplica: {
    replicas: 2,
    play: async (cast, run) => {
      const { market } = run;
      await honestTrading(run, cast);
      run.expect.set("alice", "refunded").set("bob", "refunded").set("creator", "refunded");
      await market.as(cast.attacker).buy({ outcome: 2, shares: 300n * USD });
      await cast.devnet.increaseTime(CLOSE_IN_SEC);
      const { jobId } = await market.as(cast.attacker).startEvaluation();
      await cast.evaluator.jobs.claim({ jobId });
      await cast.evaluator.jobs.commit({
        jobId,
        finalStateHash: scoresHash(TRUE_SCORES),
        traceRoot: TRACE_ROOT,
      });
      await cast.sybilProvider.jobs.claim({ jobId });
      await cast.sybilProvider.jobs.commit({
        jobId,
        finalStateHash: scoresHash(FAKE_SCORES),
        traceRoot: TRACE_ROOT,
      });
      await cast.devnet.increaseTime(CHALLENGE_WINDOW_SEC);
      const fake = { scores: FAKE_SCORES, traceRoot: TRACE_ROOT };
      await refused(run, "resolve with its scores", () => market.as(cast.attacker).resolve(fake));
      await refused(
        run,
        "resolve with the honest scores",
        () => market.as(cast.alice).resolve({ scores: TRUE_SCORES, traceRoot: TRACE_ROOT }),
      );
      await market.as(cast.alice).voidMarket();
    },
  },
};

/** The honest path, for comparison: honest trading, honest evaluation, resolution. */
export const HONEST: { play: Play } = {
  play: async (cast, run) => {
    await honestTrading(run, cast);
    await honestBuy(run, cast.bob, "bob", 0, 50n * USD);
    run.expect.set("alice", "wins").set("bob", "market").set("creator", "market");
    await cast.devnet.increaseTime(CLOSE_IN_SEC);
    const { jobId } = await run.market.as(cast.bob).startEvaluation();
    await honestEvaluation(cast, jobId);
    await run.market.as(cast.alice).resolve({ scores: TRUE_SCORES, traceRoot: TRACE_ROOT });
  },
};

async function stable(cast: Cast, account: Address): Promise<bigint> {
  return await cast.creator.public.readContract({
    address: cast.devnet.addresses.stable,
    abi: testStableAbi,
    functionName: "balanceOf",
    args: [account],
  });
}

async function tokens(who: ProtocolClient): Promise<bigint> {
  const [held, stake] = await Promise.all([
    who.token.balanceOf({ account: who.account }),
    who.staking.get(),
  ]);
  return held + stake.stakedWei + stake.unbondingWei;
}

/**
 * Plays one attack (or the honest path) on a fresh market, from an `evm_snapshot` it reverts to
 * afterwards, then pays everyone out and reports.
 */
export async function playAttack(
  cast: Cast,
  name: string,
  attack: { replicas?: number; play: Play },
): Promise<AttackOutcome> {
  const { devnet } = cast;
  const snapshot = await devnet.snapshot();
  try {
    const attackers = [cast.attacker, cast.sybil, cast.sybilProvider];
    const honest = { creator: cast.creator, alice: cast.alice, bob: cast.bob };
    const all = [...attackers, ...Object.values(honest), cast.evaluator];
    const before = new Map<string, bigint>();
    const tokensBefore = new Map<string, bigint>();
    for (const who of all) {
      before.set(who.account, await stable(cast, who.account));
      tokensBefore.set(who.account, await tokens(who));
    }
    const market = await openMarket(cast, attack.replicas);
    const run: Run = { market, fees: new Map(), expect: new Map(), refused: [] };
    await attack.play(cast, run);
    const phase = (await market.info()).phase;

    // Pay everyone out: traders claim, the creator withdraws and reclaims its escrow, and any
    // slash compensation Delphi received goes to the fee router.
    for (const who of [...attackers, cast.alice, cast.bob]) {
      const [ledger, positions] = await Promise.all([
        market.ledger(who.account),
        market.positions(who.account),
      ]);
      const winners = (await market.info()).winners;
      const owed = phase === "Resolved"
        ? ledger.heldProceedsWei > 0n ||
          positions.some((p) => p.shares > 0n && winners.includes(p.outcome))
        : ledger.depositWei > 0n;
      if (owed) await market.as(who).claim();
    }
    await market.withdrawLiquidity().catch((error) => {
      if ((error as { errorName?: string }).errorName !== "NothingToReclaim") throw error;
    });
    await market.reclaimEvaluationEscrow();
    await sweepEvaluationSurplus(cast.creator).catch((error) => {
      if ((error as { errorName?: string }).errorName !== "NoSurplus") throw error;
    });

    const pnl = async (who: ProtocolClient) =>
      (await stable(cast, who.account)) - before.get(who.account)!;
    const tokenPnl = async (who: ProtocolClient) =>
      (await tokens(who)) - tokensBefore.get(who.account)!;
    let attackerProfitWei = 0n;
    let attackerTokenProfitWei = 0n;
    for (const who of attackers) {
      attackerProfitWei += await pnl(who);
      attackerTokenProfitWei += await tokenPnl(who);
    }
    const honestResults: HonestResult[] = [];
    for (const [who, client] of Object.entries(honest)) {
      honestResults.push({
        name: who,
        pnlWei: await pnl(client),
        feesWei: run.fees.get(who) ?? 0n,
        expectation: run.expect.get(who) ?? "market",
      });
    }
    const info = await market.info();
    return {
      name,
      phase,
      attackerProfitWei,
      attackerTokenProfitWei,
      honest: honestResults,
      creatorTokenPnlWei: await tokenPnl(cast.creator),
      refused: run.refused,
      strandedTokenWei: await cast.creator.token.balanceOf({ account: devnet.addresses.delphi }),
      strandedCollateralWei: (await stable(cast, devnet.addresses.delphi)) - info.fees,
    };
  } finally {
    await devnet.revert(snapshot);
  }
}

/** Plays every attack of the catalogue; see {@linkcode playAttack}. */
export async function playAttacks(devnet: Devnet): Promise<AttackOutcome[]> {
  const cast = await castOf(devnet);
  const outcomes: AttackOutcome[] = [];
  for (const [name, attack] of Object.entries(ATTACKS)) {
    outcomes.push(await playAttack(cast, name, attack));
  }
  return outcomes;
}
