/**
 * Delphi settlement actions: start a market's evaluation job after the close, drive its slots to
 * a settled state through the `JobMarket`, resolve the market from the verified scores (or void
 * it when the evaluation names no winner), and pay everyone out: winning shares, held sale
 * proceeds, deposit refunds, the creator's liquidity, the unspent evaluation escrow, fees.
 *
 * The market owns its evaluation job: `Delphi.startEvaluation` creates it with the terms the
 * creator fixed and keeps the id the job market returns, so nobody else's job (and nothing
 * committed before the close) can decide a market. A market that names no winner (voided, or
 * expired unresolved) refunds every account's net deposit and the creator's funding: stopping a
 * market from resolving pays nobody.
 *
 * @module
 */

import type { Hex } from "../chain/types.ts";
import { delphiAbi } from "../chain/artifacts/Delphi.ts";
import type { ChainClient } from "../chain/client.ts";
import { eventsOf, type TxResult } from "../chain/transact.ts";
import { chainTime, finalizeJob, getJob, getSlot, refundJob } from "../chain/actions/jobs.ts";
import { readDelphi as read, writeDelphi as write } from "./contract.ts";
import { getEvaluation, getLedger, getMarket, getPositions } from "./market_state.ts";

// ---------------------------------------------------------------------------------- evaluate

/** Result of {@linkcode startEvaluation}. */
export interface StartEvaluationResult extends TxResult {
  /** The `JobMarket` id of the market's evaluation job, as the job market returned it. */
  jobId: Hex;
}

/**
 * Creates the market's evaluation job (Delphi pays it from the creator's escrow, with the terms
 * fixed at creation); anyone may call once the market closed, until the evaluation deadline.
 * Fails with `MarketNotClosed` before the close and `EvaluationAlreadyStarted` the second time.
 *
 * @example
 * ```ts
 * import { startEvaluation } from "./settlement.ts";
 * declare const client: import("../chain/client.ts").ChainClient;
 * const { jobId } = await startEvaluation(client, { marketId: 1n });
 * // a staked provider now claims `jobId`, evaluates and commits the scores
 * ```
 */
export async function startEvaluation(
  client: ChainClient,
  params: { marketId: bigint },
): Promise<StartEvaluationResult> {
  const tx = await write(client, "startEvaluation", [params.marketId], "delphi.startEvaluation");
  const [event] = eventsOf(delphiAbi, tx.receipt, "EvaluationStarted");
  return { ...tx, jobId: event.args.jobId as Hex };
}

/** What {@linkcode settleEvaluation} did. */
export interface SettleEvaluationResult {
  /** The evaluation job, or `undefined` when it has not started. */
  jobId: Hex | undefined;
  /** Slots it finalized (committed, challenge window over: the evaluator got paid). */
  finalized: number[];
  /** Whether it refunded the job's open and abandoned slots (past the job's deadline). */
  refunded: boolean;
  /** Slots still unsettled: claimed or committed within their time, or disputed. */
  pending: number[];
}

/**
 * Pushes every slot of the market's evaluation job that can be settled now to its end through
 * the `JobMarket` (anyone may): finalizes committed slots whose challenge window passed, and
 * after the job's deadline refunds open and abandoned ones. Run before resolving or voiding.
 */
export async function settleEvaluation(
  client: ChainClient,
  params: { marketId: bigint },
): Promise<SettleEvaluationResult> {
  const { jobId } = await getEvaluation(client, params.marketId);
  const result: SettleEvaluationResult = { jobId, finalized: [], refunded: false, pending: [] };
  if (!jobId) return result;
  const job = await getJob(client, jobId);
  const now = await chainTime(client);
  let refundable = false;
  for (let slot = 0; slot < job.replicas; slot++) {
    const s = await getSlot(client, { jobId, slot });
    if (s.status === "Committed" && now >= s.committedAt + BigInt(job.challengeWindowSec)) {
      await finalizeJob(client, { jobId, slot });
      result.finalized.push(slot);
    } else if ((s.status === "Open" || s.status === "Claimed") && now >= job.deadline) {
      refundable = true;
    } else if (s.status !== "Paid" && s.status !== "Refunded" && s.status !== "Slashed") {
      result.pending.push(slot);
    }
  }
  if (refundable) {
    await refundJob(client, { jobId });
    result.refunded = true;
  }
  return result;
}

// ---------------------------------------------------------------------------------- resolve

/** Parameters of {@linkcode resolveMarket}. */
export interface ResolveParams {
  /** The market. */
  marketId: bigint;
  /** The scores the evaluation job committed, in outcome order. */
  scores: readonly bigint[];
  /** The trace root it committed. */
  traceRoot: Hex;
  /** Settle the job's slots first ({@linkcode settleEvaluation}); default true. */
  settle?: boolean;
}

/** Result of {@linkcode resolveMarket}. */
export interface ResolveResult extends TxResult {
  /** Winning outcome indices (ties all win and split the payout). */
  winners: number[];
  /** The evaluation job that resolved it. */
  jobId: Hex;
}

/**
 * Resolves a market from its verified evaluation job: first settles the job's slots that can be
 * settled, then calls `Delphi.resolve`. Fails with an `EvaluationError` when the evaluation has
 * not started, a slot is still in its challenge window or disputed, no slot was paid, paid slots
 * disagree (void the market instead), or the scores are not the committed ones.
 *
 * @example
 * ```ts
 * import { resolveMarket } from "./settlement.ts";
 * declare const client: import("../chain/client.ts").ChainClient;
 * declare const scores: bigint[];
 * declare const traceRoot: `0x${string}`;
 * const { winners } = await resolveMarket(client, { marketId: 1n, scores, traceRoot });
 * ```
 */
export async function resolveMarket(
  client: ChainClient,
  params: ResolveParams,
): Promise<ResolveResult> {
  if (params.settle ?? true) await settleEvaluation(client, params);
  const tx = await write(
    client,
    "resolve",
    [params.marketId, params.scores, params.traceRoot],
    "delphi.resolve",
  );
  const [event] = eventsOf(delphiAbi, tx.receipt, "Resolved");
  const mask = event.args.winners as bigint;
  const winners = params.scores.flatMap((_, i) => (mask >> BigInt(i)) & 1n ? [i] : []);
  return { ...tx, winners, jobId: event.args.evalJobId as Hex };
}

/** Why a market was voided. */
export type VoidReason = "NotEvaluated" | "NoResult" | "Conflicting";
const VOID_REASONS: VoidReason[] = ["NotEvaluated", "NoResult", "Conflicting"];

/**
 * Voids a market whose evaluation can name no winner (never started before its deadline, every
 * slot refunded or slashed, or paid slots that disagree), after settling the job's slots that can
 * be settled; every account can then take its deposit back with {@linkcode refund}. Fails with
 * `EvaluationConclusive` when the evaluation has a result (resolve instead).
 */
export async function voidMarket(
  client: ChainClient,
  params: { marketId: bigint; settle?: boolean },
): Promise<TxResult & { reason: VoidReason }> {
  if (params.settle ?? true) await settleEvaluation(client, params);
  const tx = await write(client, "voidMarket", [params.marketId], "delphi.void");
  const [event] = eventsOf(delphiAbi, tx.receipt, "MarketVoided");
  return { ...tx, reason: VOID_REASONS[Number(event.args.reason)] };
}

// ---------------------------------------------------------------------------------- pay out

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
 * Redeems the account's winning shares of a resolved market: of `outcome` when given, else of
 * every winning outcome it holds. Fails with `NotResolvedError` before settlement,
 * `NotWinningOutcomeError` for a losing outcome, and `MarketRefunding` when the market named no
 * winner (use {@linkcode refund}).
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
    outcomes = positions.filter((p) => p.shares > 0n && market.winners.includes(p.outcome))
      .map((p) => p.outcome);
    if (outcomes.length === 0 && market.phase !== "Resolved") {
      outcomes = [0]; // let the contract say why (not settled, or refunding)
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

/** Pays the account its sale proceeds held back until the market resolved, less their fee. */
export async function releaseProceeds(
  client: ChainClient,
  params: { marketId: bigint },
): Promise<TxResult & { amount: bigint }> {
  const tx = await write(client, "releaseProceeds", [params.marketId], "delphi.releaseProceeds");
  const [event] = eventsOf(delphiAbi, tx.receipt, "ProceedsReleased");
  return { ...tx, amount: event.args.amount as bigint };
}

/**
 * Pays the account back its deposit (collateral it paid in, less what its sales took out; fees
 * are not refunded) from a voided or expired market.
 */
export async function refund(
  client: ChainClient,
  params: { marketId: bigint },
): Promise<TxResult & { amount: bigint }> {
  const tx = await write(client, "refund", [params.marketId], "delphi.refund");
  const [event] = eventsOf(delphiAbi, tx.receipt, "Refunded");
  return { ...tx, amount: event.args.amount as bigint };
}

/** What {@linkcode claim} paid the account. */
export interface ClaimResult {
  /** Winning shares redeemed (resolved market). */
  redemptions: Redemption[];
  /** Held sale proceeds released (resolved market). */
  releasedWei: bigint;
  /** Deposit refunded (voided or expired market). */
  refundedWei: bigint;
  /** Everything received. */
  totalWei: bigint;
}

/**
 * Collects everything a settled market owes the account: after a resolution its winning shares
 * and held sale proceeds, after a void or expiry its deposit. Claims nothing (and sends nothing)
 * where it is owed nothing; fails with `NotResolvedError` before settlement.
 *
 * @example
 * ```ts
 * import { claim } from "./settlement.ts";
 * declare const client: import("../chain/client.ts").ChainClient;
 * const { totalWei } = await claim(client, { marketId: 1n });
 * ```
 */
export async function claim(
  client: ChainClient,
  params: { marketId: bigint },
): Promise<ClaimResult> {
  const result: ClaimResult = { redemptions: [], releasedWei: 0n, refundedWei: 0n, totalWei: 0n };
  const [market, ledger] = await Promise.all([
    getMarket(client, params.marketId),
    getLedger(client, params),
  ]);
  if (market.phase === "Resolved") {
    const positions = await getPositions(client, params);
    if (positions.some((p) => p.shares > 0n && market.winners.includes(p.outcome))) {
      result.redemptions = await redeem(client, params);
    }
    if (ledger.heldProceedsWei > 0n) {
      result.releasedWei = (await releaseProceeds(client, params)).amount;
    }
  } else if (market.phase === "Voided" || market.phase === "Expired") {
    if (ledger.depositWei > 0n) result.refundedWei = (await refund(client, params)).amount;
  } else {
    await redeem(client, { ...params, outcome: 0 }); // the contract says why: not settled
  }
  result.totalWei = result.redemptions.reduce((s, r) => s + r.payout, 0n) + result.releasedWei +
    result.refundedWei;
  return result;
}

/**
 * Pays the creator what a settled market's pool holds beyond outstanding claims: after a
 * resolution the rest of the pool, after a void or expiry its funding.
 */
export async function withdrawLiquidity(
  client: ChainClient,
  params: { marketId: bigint },
): Promise<TxResult & { amount: bigint }> {
  const tx = await write(client, "withdrawLiquidity", [params.marketId], "delphi.withdraw");
  const [event] = eventsOf(delphiAbi, tx.receipt, "LiquidityWithdrawn");
  return { ...tx, amount: event.args.amount as bigint };
}

/**
 * Sends the creator the unspent evaluation escrow: all of it when the evaluation never started
 * (and no longer can), else the share of each refunded or slashed slot once every slot settled.
 * Settles the job's slots first (default).
 */
export async function reclaimEvaluationEscrow(
  client: ChainClient,
  params: { marketId: bigint; settle?: boolean },
): Promise<TxResult & { amountWei: bigint }> {
  if (params.settle ?? true) await settleEvaluation(client, params);
  const tx = await write(
    client,
    "reclaimEvaluationEscrow",
    [params.marketId],
    "delphi.reclaimEscrow",
  );
  const [event] = eventsOf(delphiAbi, tx.receipt, "EscrowReclaimed");
  return { ...tx, amountWei: event.args.amount as bigint };
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

/**
 * Sends the fee router the AIGENSYN Delphi holds beyond every unreclaimed evaluation escrow:
 * slash compensation paid to Delphi as the submitter of evaluation jobs.
 */
export async function sweepEvaluationSurplus(
  client: ChainClient,
): Promise<TxResult & { amountWei: bigint }> {
  const tx = await write(client, "sweepEvaluationSurplus", [], "delphi.sweepSurplus");
  const [event] = eventsOf(delphiAbi, tx.receipt, "SurplusSwept");
  return { ...tx, amountWei: event.args.amount as bigint };
}

/** What the market owes holders now (see `Delphi.liabilityOf`). */
export async function getLiability(client: ChainClient, marketId: bigint): Promise<bigint> {
  return await read<bigint>(client, "liabilityOf", [marketId], "delphi.liability");
}
