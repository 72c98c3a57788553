/**
 * Typed errors of the Delphi client: one family, {@linkcode MarketError}, with a subclass for each
 * failure a trader meets in normal use (the market closed, the price moved past the slippage
 * limit, the market is not resolved yet, ...). Each wraps the contract's decoded custom error, so
 * the message names what happened and what to do.
 *
 * @module
 */

import { ChainError } from "../core/errors.ts";
import { ContractRevertError, toChainError } from "../chain/revert.ts";

/** A Delphi market refused an action; `code` is the contract error in SCREAMING_SNAKE_CASE. */
export class MarketError extends ChainError {
  /** The Solidity error name, e.g. `MarketClosed`. */
  readonly errorName: string;
  /** The decoded error arguments, in declaration order. */
  readonly args: readonly unknown[];

  /** Wraps a decoded revert. */
  constructor(revert: ContractRevertError) {
    super(revert.code, revert.message, { value: revert.args, cause: revert });
    this.errorName = revert.errorName;
    this.args = revert.args;
  }
}

/** Trading in the market has closed (its close time passed, or it resolved). */
export class MarketClosedError extends MarketError {}

/** The trade's price moved past the caller's limit (`maxCost` or `minPayout`). */
export class SlippageExceededError extends MarketError {}

/** The market is neither resolved nor expired, so shares cannot be redeemed yet. */
export class NotResolvedError extends MarketError {}

/** The account sells more shares than it holds. */
export class InsufficientSharesError extends MarketError {}

/** The redeemed outcome did not win. */
export class NotWinningOutcomeError extends MarketError {}

/** The market's evaluation job is missing, not final, or does not match the given scores. */
export class EvaluationError extends MarketError {}

const CLASSES: Record<string, new (revert: ContractRevertError) => MarketError> = {
  MarketClosed: MarketClosedError,
  MarketExpired: MarketClosedError,
  AlreadyResolved: MarketClosedError,
  PriceLimitExceeded: SlippageExceededError,
  NotSettled: NotResolvedError,
  InsufficientShares: InsufficientSharesError,
  NotWinningOutcome: NotWinningOutcomeError,
  EvaluationMissing: EvaluationError,
  EvaluationNotFinal: EvaluationError,
  EvaluationStakeTooLow: EvaluationError,
  ScoresMismatch: EvaluationError,
};

/** Names of the Delphi contract's own errors (everything it can refuse with). */
const DELPHI_ERRORS = new Set([
  ...Object.keys(CLASSES),
  "UnknownMarket",
  "InvalidOutcomeCount",
  "InvalidOutcomeId",
  "InvalidSchedule",
  "InvalidLiquidity",
  "UnknownOutcome",
  "ZeroShares",
  "MarketNotClosed",
  "WrongScoreCount",
  "NothingToRedeem",
  "NothingToReclaim",
  "OutcomeSaturated",
]);

/**
 * Converts an error from a Delphi call into the most specific {@linkcode MarketError} subclass
 * (a plain `MarketError` for the other contract errors); anything else becomes a `ChainError`.
 *
 * @example
 * ```ts
 * import { toMarketError } from "./errors.ts";
 * const err = toMarketError(new Error("boom"), "delphi.buy");
 * console.log(err.code); // "CALL_FAILED"
 * ```
 */
export function toMarketError(error: unknown, action: string): ChainError {
  const chainError = toChainError(error, action);
  if (!(chainError instanceof ContractRevertError)) return chainError;
  const Class = CLASSES[chainError.errorName];
  if (Class) return new Class(chainError);
  return DELPHI_ERRORS.has(chainError.errorName) ? new MarketError(chainError) : chainError;
}
