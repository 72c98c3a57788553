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
import { delphiAbi } from "../chain/artifacts/Delphi.ts";

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

/** The market is neither resolved, voided nor expired, so nothing can be paid out yet. */
export class NotResolvedError extends MarketError {}

/**
 * The market named no winner (voided, or expired unresolved): shares and held sale proceeds pay
 * nothing; every account takes its deposit back with `refund`. Or the reverse: a resolved market
 * pays shares, not refunds.
 */
export class RefundModeError extends MarketError {}

/** The account sells more shares than it holds. */
export class InsufficientSharesError extends MarketError {}

/** The redeemed outcome did not win. */
export class NotWinningOutcomeError extends MarketError {}

/**
 * The market's evaluation cannot settle it as asked: not started, still running or disputed,
 * without a result, conflicting, already started, or not matching the given scores.
 */
export class EvaluationError extends MarketError {}

const CLASSES: Record<string, new (revert: ContractRevertError) => MarketError> = {
  MarketClosed: MarketClosedError,
  MarketExpired: MarketClosedError,
  AlreadyResolved: MarketClosedError,
  AlreadyVoided: MarketClosedError,
  PriceLimitExceeded: SlippageExceededError,
  NotSettled: NotResolvedError,
  MarketRefunding: RefundModeError,
  NoRefunds: RefundModeError,
  InsufficientShares: InsufficientSharesError,
  NotWinningOutcome: NotWinningOutcomeError,
  EvaluationNotStarted: EvaluationError,
  EvaluationAlreadyStarted: EvaluationError,
  EvaluationWindowPassed: EvaluationError,
  EvaluationNotFinal: EvaluationError,
  EvaluationConflict: EvaluationError,
  EvaluationConclusive: EvaluationError,
  NoEvaluationResult: EvaluationError,
  ScoresMismatch: EvaluationError,
};

/** Names of the Delphi contract's errors (everything it can refuse with), from its ABI. */
const DELPHI_ERRORS = new Set<string>(
  delphiAbi.flatMap((item) => item.type === "error" ? [item.name] : []),
);

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
