/**
 * Delphi: prediction markets on which model scores best on an evaluation, settled by an evaluation
 * job the network runs and verifies like any training job. Open a market over trained candidates
 * with {@linkcode delphi}, trade with slippage limits, read prices, positions and history, then
 * resolve from the verified scores (or refund deposits when it names no winner) and claim.
 *
 * **Cost function: LMSR** (Hanson), `C(q) = b ln(sum_i exp(q_i / b))`, with `b` set from the
 * creator's funding `F` as the largest `b` with `b ln n <= F`, so the creator's worst loss is
 * bounded by what it put in. We kept LMSR over the dynamic pari-mutuel `k sqrt(sum q_i^2)` that
 * Delphi's later markets use: LMSR's loss bound is tight and independent of volume, its prices
 * are a softmax that never leaves (0, 1), and for model-ranking markets with a verified result
 * (no creator judgement) a fixed subsidy is the simpler contract to audit. The usual objection,
 * gas (a sum of `n` exponentials per trade), is answered by caching: the contract stores
 * `e_i = exp(q_i / b)` per outcome and their sum `S`, so a trade on outcome `i` moves one `e_i`
 * and costs `b ln(S' / S)`: one `exp` and one `ln` (PRB math) whatever `n` is. A buy costs about
 * 0.6x a Uniswap V2 swap (`deno task bench delphi`).
 *
 * **Solvency.** Each stored `e_i` is rounded up so `b ln e_i >= q_i`; buy costs are rounded up
 * and sale proceeds down so the pool (less the held proceeds below) stays `>= b ln S`. Since
 * `ln S >= ln e_i`, it covers `max_i q_i`, whatever wins. The 0.5% fee is rounded up and kept
 * apart.
 *
 * **Resolution.** The market owns its evaluation job. The creator escrows its payment in
 * AIGENSYN and fixes its terms (replicas, evaluator stake, challenge window, commit deadline) at
 * creation; after the close anyone calls `startEvaluation` and Delphi creates the job in the
 * `JobMarket` with a staked referee committee, keeping the returned job id. A staked provider
 * evaluates every candidate under the pinned profile and commits `keccak256(abi.encode(scores))`.
 * Once every slot is settled (anyone finalizes a slot after its challenge window, or refunds it
 * after the job's deadline) anyone resolves with the scores: the contract checks them against the
 * paid slots' commitments and picks the best score per the metric's direction; tied outcomes
 * share the payout.
 *
 * **No winner: refunds.** If the evaluation ends with no paid slot or with paid slots that
 * disagree (`voidMarket`), or the market reaches its deadline unresolved, no share pays: every
 * account takes back its net deposit and the creator its funding. A sale pays back the seller's
 * deposit at once and holds any proceeds beyond it until the market resolves (forfeited to the
 * refunds otherwise), so the pool is always exactly the funding plus every deposit: a refund makes
 * every trader whole up to fees, and nobody (alone or with sybils) profits from stopping a market
 * from resolving. Refunds follow the depositor, not the share balance, so transferred shares
 * cannot claim twice. No collateral or AIGENSYN stays behind: the unspent evaluation escrow goes
 * back to the creator (`reclaimEvaluationEscrow`).
 *
 * @example
 * ```ts
 * import { delphi, evaluateCandidates } from "./mod.ts";
 * declare const client: import("../chain/client.ts").ChainClient;
 * declare const candidates: import("./evaluate.ts").Candidate[];
 * declare const ids: string[];
 * declare const test: import("../exec/dataset.ts").Dataset;
 * const market = await delphi(client).create({
 *   question: "Which model is most accurate?",
 *   outcomes: ids,
 *   evaluation: {
 *     datasetId: test.id,
 *     metric: "accuracy",
 *     profile: "cpu@tfjs-4.22.0",
 *     paymentWei: 10n ** 19n,
 *     stakeWei: 10n ** 20n,
 *   },
 *   liquidity: 1_000_000_000n,
 *   closeInSec: 3600,
 * });
 * await market.buy({ outcome: 2, shares: 50_000_000n });
 * // ... after the close:
 * const { jobId } = await market.startEvaluation();
 * // a staked provider claims jobId, evaluates and commits; after the challenge window:
 * const { scores, traceRoot } = await evaluateCandidates({ candidates, dataset: test, metric: "accuracy" });
 * await market.resolve({ scores, traceRoot });
 * await market.claim();
 * ```
 *
 * @module
 */

export * from "./client.ts";
export {
  EVAL_SETTLEMENT_MARGIN_SEC,
  MAX_EVAL_REPLICAS,
  MIN_EVAL_CHALLENGE_WINDOW_SEC,
  MIN_EVAL_TIMEOUT_SEC,
} from "./contract.ts";
export * from "./errors.ts";
export * from "./evaluate.ts";
export * from "./market.ts";
export * from "./market_state.ts";
export * from "./settlement.ts";
// Types from the layers below that this module's signatures use, so its docs stand on their own.
export type {
  Account,
  Address,
  Hex,
  PublicClient,
  TransactionReceipt,
  WalletClient,
} from "../chain/types.ts";
export type { ChainClient, ProtocolAddresses } from "../chain/client.ts";
export type { TxResult } from "../chain/transact.ts";
export { ChainError, ToolkitError } from "../core/errors.ts";
export type { CanonicalValue } from "../core/canonical.ts";
export type { Hash } from "../core/hash.ts";
export type { Dataset } from "../exec/dataset.ts";
export type {
  AdamConfig,
  LossName,
  ModelSpec,
  MomentumConfig,
  OptimizerConfig,
  SgdConfig,
} from "../exec/model.ts";
export { MODEL_SPEC_FORMAT } from "../exec/model.ts";
export type { StateVariable, TrainingState } from "../exec/state.ts";
export type { Evaluation } from "../exec/trainer.ts";
