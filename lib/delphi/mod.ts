/**
 * Delphi: prediction markets on which model scores best on an evaluation, settled by an evaluation
 * job the network runs and verifies like any training job. Open a market over trained candidates
 * with {@linkcode delphi}, trade with slippage limits, read prices, positions and history, then
 * resolve from the verified scores (or let it expire) and redeem.
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
 *   evaluation: { datasetId: test.id, metric: "accuracy", profile: "cpu@tfjs-4.22.0" },
 *   liquidity: 1_000_000_000n,
 *   closeInSec: 3600,
 * });
 * await market.buy({ outcome: 2, shares: 50_000_000n });
 * // ... after the close, a provider evaluates and commits; after the challenge window:
 * const { scores, traceRoot } = await evaluateCandidates({ candidates, dataset: test, metric: "accuracy" });
 * await market.resolve({ scores, traceRoot });
 * await market.redeem();
 * ```
 *
 * @module
 */

export * from "./client.ts";
export * from "./errors.ts";
export * from "./evaluate.ts";
export * from "./market.ts";
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
