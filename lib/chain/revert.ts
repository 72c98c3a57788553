/**
 * Revert decoding: turns a failed call or transaction into a typed {@linkcode ContractRevertError}
 * that names the contract's custom error, its arguments, and what the caller should do. Errors are
 * decoded against every protocol ABI at once, because a revert often bubbles up from a nested call
 * (a claim in `JobMarket` failing inside `Staking.lock`).
 *
 * @module
 */

import { BaseError, decodeErrorResult } from "npm:viem@2.57.20";
import type { Abi, Hex } from "./types.ts";
import { ChainError } from "../core/errors.ts";
import * as artifacts from "./artifacts/mod.ts";

/** A contract call reverted with a known custom error. */
export class ContractRevertError extends ChainError {
  /** The Solidity error name, e.g. `UnknownJob`. */
  readonly errorName: string;
  /** The decoded error arguments, in declaration order. */
  readonly args: readonly unknown[];

  /** Creates the error; `code` is the error name in SCREAMING_SNAKE_CASE. */
  constructor(errorName: string, args: readonly unknown[], message: string, cause?: unknown) {
    super(screamingSnake(errorName), message, { value: args, cause });
    this.errorName = errorName;
    this.args = args;
  }
}

/** What {@linkcode MinedRevertError} records about the failed transaction. */
export interface MinedRevertDetails {
  /** Name of the action, for the message (e.g. `token.burn`). */
  action: string;
  /** Transaction hash. */
  hash: Hex;
  /** Block it was mined in. */
  blockNumber: bigint;
  /** Gas it used before reverting. */
  gasUsed: bigint;
  /** Gas limit it was sent with. */
  gasLimit: bigint;
  /**
   * The revert recovered by replaying the call on the state before its block, or else on the
   * state its block left (a transaction mined before it in the block changed the state).
   */
  reason?: ChainError;
  /** Where the replay reverted: `before` its block (the default) or at the end of it (`after`). */
  replayedOn?: "before" | "after";
}

/**
 * A transaction was mined and reverted. Sent through `send`, it had passed gas estimation just
 * before, so this is never an ordinary invalid call: the state or block context changed between
 * estimation and mining, or the gas limit was too low. `code` is `TX_REVERTED`.
 */
export class MinedRevertError extends ChainError {
  /** Transaction hash. */
  readonly hash: Hex;
  /** Block it was mined in. */
  readonly blockNumber: bigint;
  /** Gas it used before reverting. */
  readonly gasUsed: bigint;
  /** Gas limit it was sent with. */
  readonly gasLimit: bigint;
  /** The revert recovered by replaying the call (see {@linkcode MinedRevertDetails.reason}). */
  readonly reason: ChainError | undefined;

  /** Creates the error from what the receipt and the replay told. */
  constructor(details: MinedRevertDetails) {
    const { action, hash, blockNumber, gasUsed, gasLimit, reason } = details;
    const why = reason
      ? details.replayedOn === "after"
        ? "; a transaction mined before it in its block changed the state, and replayed on the " +
          `state its block left: ${reason.message}`
        : `; replayed on the state before its block: ${reason.message}`
      : gasUsed * 64n >= gasLimit * 63n
      ? "; it used (nearly) all its gas: raise the gas margin over the estimate"
      : "; the replay succeeds, so the block context (time, state) changed after estimation";
    super(
      "TX_REVERTED",
      `${action} was mined but reverted (tx ${hash}, block ${blockNumber}, ${gasUsed} of ${gasLimit} gas used)${why}`,
      { value: hash, cause: reason },
    );
    this.hash = hash;
    this.blockNumber = blockNumber;
    this.gasUsed = gasUsed;
    this.gasLimit = gasLimit;
    this.reason = reason;
  }
}

/**
 * The contract's own revert behind `error`: the error itself when the call was refused at
 * estimation, or the revert its replay recovered when the transaction was mined reverted (the
 * state changed between estimation and mining: someone else's transaction landed first).
 * `undefined` for any other failure (a transport fault, a transaction out of gas).
 *
 * @example
 * ```ts
 * import { contractRevertOf } from "./revert.ts";
 * declare const error: unknown;
 * if (contractRevertOf(error)?.errorName === "CommitteeAlreadyDrawn") console.log("drawn already");
 * ```
 */
export function contractRevertOf(error: unknown): ContractRevertError | undefined {
  for (let e = error; e instanceof ChainError; e = e.cause) {
    if (e instanceof ContractRevertError) return e;
  }
  return undefined;
}

/** `UnknownJob` -> `UNKNOWN_JOB`. */
function screamingSnake(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, "$1_$2").replace(/([A-Z])([A-Z][a-z])/g, "$1_$2")
    .toUpperCase();
}

/** A custom error entry of a JSON ABI. */
interface AbiError {
  type: "error";
  name: string;
  inputs: readonly { type: string; name?: string }[];
}

/** Every custom error of every protocol contract, deduplicated by signature. */
export const protocolErrorsAbi: Abi = (() => {
  const seen = new Map<string, AbiError>();
  for (const value of Object.values(artifacts)) {
    if (!Array.isArray(value)) continue;
    for (const item of value as readonly { type: string }[]) {
      if (item.type !== "error") continue;
      const e = item as AbiError;
      seen.set(`${e.name}(${e.inputs.map((i) => i.type).join(",")})`, e);
    }
  }
  return [...seen.values()] as unknown as Abi;
})();

const fmt = (v: unknown): string => typeof v === "bigint" ? v.toString() : String(v);

/** What to do about each custom error; `a` holds the decoded arguments. */
const HINTS: Record<string, (a: readonly unknown[]) => string> = {
  ZeroAmount: () => "pass an amount greater than zero",
  ZeroAddress: () => "pass a non-zero address",
  ZeroSpecHash: () => "pass the job spec's hash as specHash",
  ZeroCommitment: () => "commit non-zero finalStateHash and traceRoot",
  ZeroCheckpointInterval: () => "set checkpointInterval to at least 1 step",
  ZeroSteps: () => "set steps to the job's number of training steps (at least 1)",
  InvalidWorkUnits: (a) =>
    Number(a[2]) === 0
      ? `job ${fmt(a[0])} is not distributed (no work units); commit with jobs.commit`
      : `commit between 1 and ${fmt(a[2])} work units (rounds counted in), not ${fmt(a[1])}`,
  UnknownDispute: (a) => `no dispute ${fmt(a[0])}; ids run from 1 to the game's disputeCount`,
  WrongPhase: (a) =>
    `dispute ${fmt(a[0])} is in phase ${
      DISPUTE_PHASE[Number(a[1])] ?? fmt(a[1])
    }; read it with game.get and make the move that phase needs`,
  NotYourMove: (a) =>
    `${fmt(a[1])} does not owe the next move of dispute ${
      fmt(a[0])
    }; the provider posts, the challenger answers, a member of the dispute's committee (see game.committee) rules`,
  PartyCannotChallenge: (a) =>
    `${fmt(a[1])} is the provider or the submitter of job ${
      fmt(a[0])
    }; a party to the job cannot challenge it (a verifier does)`,
  DistributedJob: (a) =>
    `job ${fmt(a[0])} is distributed; dispute a worker's round with game.openWork`,
  CommitteeNotDrawn: (a) =>
    `the committee of dispute ${fmt(a[0])} is not drawn yet; call game.drawCommittee first`,
  CommitteeAlreadyDrawn: (a) => `the committee of dispute ${fmt(a[0])} is drawn already`,
  PoolMismatch: (a) =>
    `the pool given is not the one snapshotted for dispute ${
      fmt(a[0])
    }; pass the latest CommitteePending pool (game.committeePool)`,
  DrawTooEarly: (a) =>
    `the committee of dispute ${fmt(a[0])} is drawn from the hash of block ${
      fmt(a[1])
    }; draw from the next block on`,
  AlreadyVoted: (a) =>
    `${fmt(a[1])} ruled on dispute ${fmt(a[0])} already; each committee member rules once`,
  MoveTooLate: (a) =>
    `the move deadline of dispute ${fmt(a[0])} passed at ${fmt(a[1])}; call game.timeout`,
  TooEarly: (a) => `dispute ${fmt(a[0])} has until ${fmt(a[1])} for its move; wait for it`,
  ZeroHash: () => "post a non-zero hash",
  CommitmentMismatch: (a) =>
    `slot ${fmt(a[1])} of job ${
      fmt(a[0])
    } holds another commitment; pass the final state and trace root it committed`,
  SegmentOutOfRange: (a) =>
    `segment ${fmt(a[0])} is outside the trace's ${fmt(a[1])} segments; count from 0`,
  BadProof: (a) =>
    `the Merkle proof of checkpoint ${
      fmt(a[0])
    } does not lead to the committed trace root; rebuild it from the provider's trace`,
  NothingDisputed: () =>
    "your hash at the segment's end equals the provider's; there is nothing to dispute there",
  StartNotAgreed: (a) =>
    `you disagree at the start of segment ${
      fmt(a[0])
    }; open the dispute on the first segment you disagree on`,
  BadOpCount: (a) => `op count ${fmt(a[0])} is zero or too large`,
  AlreadyCommitted: (a) => `${fmt(a[1])} committed its ops of dispute ${fmt(a[0])} already`,
  InconsistentRuling: (a) =>
    `the op hashes of the ruling do not extend the agreed prefix to ${
      fmt(a[1])
    }'s posted one in dispute ${fmt(a[0])}; judge the records the parties committed`,
  BadParameter: (a) => `parameter ${fmt(a[0])} cannot be ${fmt(a[1])}`,
  UnknownSteps: (a) => `job ${fmt(a[0])} was created without its step count; it cannot be bisected`,
  JobExists: (a) =>
    `job ${fmt(a[0])} exists already: you created a job with this spec hash; change the spec`,
  UnknownJob: (a) =>
    `no job ${fmt(a[0])}; check the id (jobs.create returns it) or create the job first`,
  UnknownSlot: (a) => `job ${fmt(a[0])} has no slot ${fmt(a[1])}; slots count from 0 to replicas-1`,
  StakeBelowMinimum: (a) =>
    `the job requires ${fmt(a[0])} wei of stake, below the market's minimum ${
      fmt(a[1])
    }; require at least that (with none, a cheating provider risks nothing)`,
  PeerBindingExpired: (a) =>
    `the peer binding signature expired at ${fmt(a[0])}; sign a new one (staking.bindPeer does)`,
  InvalidReplicas: (a) => `replicas must be between 1 and ${fmt(a[1])}, got ${fmt(a[0])}`,
  InvalidRefereeCommittee: (a) =>
    `refereeCommittee must be 0 (the protocol's default committee) or odd up to ${fmt(a[1])}, got ${
      fmt(a[0])
    }`,
  PaymentNotDivisible: (a) =>
    `payment ${fmt(a[0])} does not split evenly over ${fmt(a[1])} replicas; round it`,
  DeadlineInPast: (a) =>
    `deadline ${fmt(a[0])} is not after chain time ${fmt(a[1])}; pick a later one`,
  InvalidChallengeWindow: (a) =>
    `challenge window ${fmt(a[0])}s is outside [${fmt(a[1])}, ${fmt(a[2])}]s`,
  JobExpired: (a) => `job ${fmt(a[0])} passed its deadline ${fmt(a[1])}; refund or reassign it`,
  NoOpenSlot: (a) => `every slot of job ${fmt(a[0])} is taken; look for another job`,
  AlreadyClaimed: (a) => `${fmt(a[1])} already holds a slot of job ${fmt(a[0])}; commit instead`,
  NotClaimant: (a) =>
    `${fmt(a[1])} holds no uncommitted slot of job ${fmt(a[0])}; only its claimant commits`,
  WrongSlotStatus: (a) =>
    `slot ${fmt(a[1])} of job ${fmt(a[0])} is ${
      slotStatusName(a[2])
    }; this action needs another state`,
  ChallengeWindowOpen: (a) =>
    `the challenge window of slot ${fmt(a[1])} ends at ${fmt(a[2])}; finalize after that`,
  ChallengeWindowClosed: (a) =>
    `the challenge window of slot ${fmt(a[1])} closed at ${
      fmt(a[2])
    }; it can no longer be disputed`,
  DeadlineNotReached: (a) => `job ${fmt(a[0])} runs until ${fmt(a[1])}; wait for its deadline`,
  NothingToSettle: (a) => `job ${fmt(a[0])} has no unclaimed or abandoned slot left`,
  ReleasedBefore: (a) =>
    `${fmt(a[1])} released a slot of job ${fmt(a[0])} before and may not claim it again`,
  NotSubmitter: (a) => `only the submitter of job ${fmt(a[0])} may do this, not ${fmt(a[1])}`,
  NotVerifier: (a) => `${fmt(a[0])} is not an authorised verification contract`,
  InsufficientUnlockedStake: (a) =>
    `${fmt(a[0])} has ${fmt(a[1])} wei of unlocked stake but ${fmt(a[2])} is needed; ` +
    `stake more (staking.stake) or wait for its jobs to finalize`,
  LockUnderflow: (a) =>
    `${fmt(a[0])} has only ${fmt(a[1])} wei locked (lock shortfall included) but ${
      fmt(a[2])
    } is being unlocked; an authorised contract unlocks only what it locked, so this is a bug in it`,
  NothingToWithdraw: (a) => `${fmt(a[0])} has nothing unbonding; call staking.requestUnstake first`,
  StillUnbonding: (a) => `stake of ${fmt(a[0])} unbonds at ${fmt(a[1])}; withdraw after that`,
  NotAuthorized: (a) => `${fmt(a[0])} is not an authorised protocol contract`,
  VerifierAlreadyRegistered: (a) =>
    `${fmt(a[0])} is registered as a verifier already; nothing to do`,
  VerifierNotRegistered: (a) =>
    `${fmt(a[0])} is not a registered verifier; register first (verifiers.register)`,
  VerifierStakeTooLow: (a) =>
    `${fmt(a[0])} has ${fmt(a[1])} wei of active stake, the verifier minimum is ${
      fmt(a[2])
    }; stake more (staking.stake) before registering`,
  VerifierRegistryFull: (a) =>
    `the verifier registry holds its maximum of ${fmt(a[0])} verifiers, the lowest with ${
      fmt(a[1])
    } wei of active stake, not below your ${
      fmt(a[2])
    }; stake more than that (staking.stake) to take its slot`,
  VerifierNotEvictable: (a) =>
    `${fmt(a[0])} has ${fmt(a[1])} wei of active stake, at least the verifier minimum ${
      fmt(a[2])
    }; only an entry below the minimum can be evicted`,
  WarmupTooLong: (a) => `verifier warm-up ${fmt(a[0])}s exceeds the ${fmt(a[1])}s maximum`,
  ZeroStaking: () => "the verifier registry needs the staking contract's address",
  UnbondingDelayTooLong: (a) => `unbonding delay ${fmt(a[0])}s exceeds the ${fmt(a[1])}s maximum`,
  InvalidPublicKey: (a) => `the peer public key must be 64 bytes (x || y), got ${fmt(a[0])}`,
  InvalidPeerSignature: (a) =>
    `the signature is not by the peer key ${fmt(a[0])} (recovered ${fmt(a[1])}); sign with it`,
  PeerIdAlreadyBound: (a) =>
    `peer id ${fmt(a[0])} is already bound to ${
      fmt(a[1])
    }; use a fresh libp2p key for this account`,
  NothingToRoute: (a) => `the fee router holds no ${fmt(a[0])}; nothing to distribute or buy back`,
  SlippageExceeded: (a) =>
    `the swap would return ${fmt(a[1])} wei, below the bound ${fmt(a[0])}: the pool's price is ` +
    `off its TWAP (moved in this block?) or your own floor is too high; wait for arbitrage to ` +
    `bring it back and quote again (fees.quote), or buy back less at once`,
  NoPool: (a) =>
    `no funded Uniswap V2 pool pairs ${fmt(a[0])} with AIGENSYN; create and fund one first`,
  CannotBuyBackProtocolToken: () => "AIGENSYN fees are split with fees.distribute, not bought back",
  NotFeeToken: (a) =>
    `${fmt(a[0])} is not an accepted fee token; governance accepts one with setFeeToken`,
  TwapUnavailable: (a) =>
    `no price observation of ${fmt(a[0])} is old enough (one twapWindow) and fresh enough ` +
    `(two): call fees.observe now, then buy back from chain time ${fmt(a[1])}`,
  BuybackTooLarge: (a) =>
    `one buyback may sell at most ${fmt(a[2])} of ${fmt(a[0])} now (maxSwapBps of the pool), not ` +
    `${fmt(a[1])}; quote again (fees.quote) and buy back the rest in later blocks`,
  AmountExceedsBalance: (a) =>
    `the fee router holds ${fmt(a[2])} of ${fmt(a[0])}, less than ${fmt(a[1])}; sell at most that`,
  BuybackThisBlock: (a) =>
    `${fmt(a[0])} was bought back in this block already; one buyback per block, retry in the next`,
  NotRescuable: (a) =>
    `${fmt(a[0])} is AIGENSYN or an accepted fee token: it leaves the fee router only through ` +
    `distribute or buyback (governance must stop accepting a fee token before rescuing it)`,
  SlippageBelowCosts: (a) =>
    `maxSlippageBps ${fmt(a[0])} is below what a buyback at the TWAP costs itself, ${
      fmt(a[1])
    } bps (pool fee + maxSwapBps + callerRewardBps); lower those first or keep the slippage higher`,
  TwapWindowOutOfRange: (a) =>
    `twapWindow must be between ${fmt(a[1])}s and ${fmt(a[2])}s, not ${fmt(a[0])}s`,
  BpsTooHigh: (a) => `${fmt(a[0])} bps exceeds the ${fmt(a[1])} bps bound`,
  OwnableUnauthorizedAccount: (a) =>
    `${fmt(a[0])} cannot change protocol parameters; only governance can (governance.propose)`,
  OwnableInvalidOwner: (a) => `${fmt(a[0])} cannot own a contract; pass a non-zero owner`,
  SafeERC20FailedOperation: (a) =>
    `token ${fmt(a[0])} refused the transfer (returned false); check its balance and rules`,
  ReentrancyGuardReentrantCall: () =>
    "a contract called back into the protocol mid-call; the nested call was refused and nothing moved",
  ERC20InsufficientAllowance: (a) =>
    `allowance of ${fmt(a[0])} is ${fmt(a[1])}, ${fmt(a[2])} needed; approve the contract first`,
  ERC20InsufficientBalance: (a) => `${fmt(a[0])} holds ${fmt(a[1])} wei, ${fmt(a[2])} needed`,
  GovernorUnexpectedProposalState: (a) =>
    `proposal ${fmt(a[0])} is in state ${fmt(a[1])}; wait for the right phase (voting, queue, eta)`,
  GovernorAlreadyCastVote: (a) => `${fmt(a[0])} has voted already`,
  TimelockUnexpectedOperationState: () =>
    "the timelock delay has not passed; advance time and retry",
  // Delphi prediction markets.
  CollateralIsEvaluationToken: (a) =>
    `Delphi's collateral ${fmt(a[0])} is the job market's token; deploy it with a stable token`,
  UnknownMarket: (a) => `no Delphi market ${fmt(a[0])}; market ids count from 1`,
  InvalidOutcomeCount: (a) =>
    `a market needs between ${fmt(a[1])} and ${fmt(a[2])} outcomes, got ${fmt(a[0])}`,
  InvalidOutcomeId: (a) =>
    `outcome ${fmt(a[0])} is zero or repeats an earlier one; give distinct ids`,
  InvalidSchedule: (a) =>
    `close time ${fmt(a[0])} must be after chain time ${fmt(a[2])} and before the resolution ` +
    `deadline ${fmt(a[1])}`,
  InvalidLiquidity: (a) =>
    `creator liquidity must be between ${fmt(a[1])} and ${fmt(a[2])} collateral units, got ${
      fmt(a[0])
    }`,
  InvalidEvalPayment: (a) =>
    `the evaluation payment ${fmt(a[0])} wei must be non-zero and split evenly over ${
      fmt(a[1])
    } replicas`,
  InvalidEvalReplicas: (a) => `an evaluation takes 1 to ${fmt(a[1])} replicas, not ${fmt(a[0])}`,
  ZeroEvalStake: () =>
    "evaluators must lock some stake (evaluation.stakeWei): a result nobody loses by faking " +
    "settles nothing",
  InvalidEvalChallengeWindow: (a) =>
    `the evaluation's challenge window must be between ${fmt(a[1])} and ${fmt(a[2])} s, got ${
      fmt(a[0])
    }`,
  InvalidEvalTimeout: (a) =>
    `evaluators need at least ${fmt(a[1])} s after the close to commit, got ${fmt(a[0])}`,
  InvalidEvaluationSchedule: (a) =>
    `the evaluation may settle as late as ${fmt(a[0])} (its timeout, challenge window and the ` +
    `settlement margin after the close), after the resolution deadline ${
      fmt(a[1])
    }; move the deadline later or shorten the evaluation`,
  MarketClosed: (a) =>
    `market ${fmt(a[0])} stopped trading at ${fmt(a[1])}; claim once it resolves, voids or expires`,
  UnknownOutcome: (a) =>
    `market ${fmt(a[0])} has outcomes 0..${Number(a[2]) - 1}, not ${fmt(a[1])}`,
  ZeroShares: () => "trade at least one share unit",
  PriceLimitExceeded: (a) =>
    `the trade would settle at ${fmt(a[1])} against your limit ${
      fmt(a[2])
    }; the price moved: quote again or widen the slippage limit`,
  InsufficientShares: (a) =>
    `you hold ${fmt(a[2])} shares of outcome ${fmt(a[1])} in market ${fmt(a[0])}, not ${
      fmt(a[3])
    }; sell at most what you hold`,
  MarketNotClosed: (a) =>
    `market ${fmt(a[0])} trades until ${
      fmt(a[1])
    }; it is evaluated and resolved only after it closes`,
  AlreadyResolved: (a) => `market ${fmt(a[0])} is resolved already; redeem winning shares`,
  AlreadyVoided: (a) =>
    `market ${fmt(a[0])} was voided: it names no winner; take your deposit back (refund)`,
  MarketExpired: (a) =>
    `market ${fmt(a[0])} passed its resolution deadline ${
      fmt(a[1])
    } unresolved: every account takes its deposit back (refund), the creator its funding`,
  EvaluationAlreadyStarted: (a) =>
    `the evaluation of market ${fmt(a[0])} started already as job ${fmt(a[1])}; claim that job`,
  EvaluationWindowPassed: (a) =>
    `the evaluation of market ${fmt(a[0])} could start only before ${
      fmt(a[1])
    }; void the market (voidMarket) so deposits are refunded`,
  EvaluationNotStarted: (a) =>
    `nobody started the evaluation of market ${fmt(a[0])}; after the close anyone can ` +
    `(startEvaluation), until ${fmt(a[1])}`,
  EvaluationNotFinal: (a) =>
    `slot ${fmt(a[2])} of evaluation job ${fmt(a[1])} is ${
      slotStatusName(a[3])
    }; wait for its challenge window and finalize it, or past the job's deadline refund it ` +
    `(settleEvaluation), or wait for its dispute to end`,
  EvaluationConflict: (a) =>
    `paid slots ${fmt(a[2])} and ${fmt(a[3])} of evaluation job ${
      fmt(a[1])
    } committed different scores: no winner can be trusted; void market ${fmt(a[0])} (voidMarket)`,
  NoEvaluationResult: (a) =>
    `every slot of evaluation job ${fmt(a[1])} was refunded or slashed: no result; void market ${
      fmt(a[0])
    } (voidMarket)`,
  EvaluationConclusive: (a) =>
    `evaluation job ${fmt(a[1])} has a result its paid slots agree on; resolve market ${
      fmt(a[0])
    } with the committed scores instead`,
  ScoresMismatch: (a) =>
    `the scores do not match what slot ${fmt(a[2])} of evaluation job ${
      fmt(a[1])
    } committed; pass the committed scores and trace root`,
  WrongScoreCount: (a) =>
    `market ${fmt(a[0])} has ${fmt(a[2])} outcomes; pass one score each, not ${fmt(a[1])}`,
  NotSettled: (a) =>
    `market ${fmt(a[0])} is not settled yet; resolve it from its evaluation, void it, or wait ` +
    `for its deadline ${fmt(a[1])}`,
  MarketRefunding: (a) =>
    `market ${
      fmt(a[0])
    } named no winner: shares and held sale proceeds pay nothing; take your deposit back (refund)`,
  NoRefunds: (a) =>
    `market ${fmt(a[0])} resolved: it pays winning shares and held proceeds, not deposits`,
  NotWinningOutcome: (a) =>
    `outcome ${fmt(a[1])} did not win market ${fmt(a[0])}; its shares pay nothing`,
  NothingToRedeem: (a) => `you hold no shares of outcome ${fmt(a[1])} in market ${fmt(a[0])}`,
  NothingToRefund: (a) => `${fmt(a[1])} has no deposit in market ${fmt(a[0])}`,
  NoHeldProceeds: (a) => `${fmt(a[1])} has no held sale proceeds in market ${fmt(a[0])}`,
  NothingToReclaim: (a) => `market ${fmt(a[0])} holds nothing beyond what its holders are owed`,
  EscrowAlreadyReclaimed: (a) =>
    `the evaluation escrow of market ${fmt(a[0])} went back to its creator already`,
  NoSurplus: () => "Delphi holds no AIGENSYN beyond the evaluation escrows; nothing to sweep",
  NoFeesAccrued: () => "no fees have accrued since the last sweep; nothing to send",
  OutcomeSaturated: () =>
    "the trade would push an outcome's price within e^-40 of one; trade fewer shares",
};

const DISPUTE_PHASE = ["None", "Steps", "OpsCommit", "Ops", "Referee", "Done"];

const SLOT_STATUS = ["Open", "Claimed", "Committed", "Disputed", "Paid", "Refunded", "Slashed"];

/** Name of a `JobMarket.SlotStatus` value. */
export function slotStatusName(value: unknown): string {
  return SLOT_STATUS[Number(value)] ?? `status ${fmt(value)}`;
}

/** Finds the revert data (`0x` + selector + args) inside a viem error chain. */
function revertData(error: unknown): Hex | undefined {
  let e: unknown = error;
  for (let depth = 0; e && depth < 12; depth++) {
    const data = (e as { data?: unknown }).data;
    if (typeof data === "string" && data.startsWith("0x") && data.length >= 10) return data as Hex;
    if (data && typeof data === "object" && typeof (data as { data?: unknown }).data === "string") {
      return (data as { data: Hex }).data;
    }
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * Converts any error thrown by a chain call into a `ChainError`: a {@linkcode ContractRevertError}
 * when the revert carries a known custom error, a plain `ChainError` otherwise.
 *
 * @example
 * ```ts
 * import { toChainError } from "./revert.ts";
 * const err = toChainError(new Error("boom"), "jobs.claim");
 * console.log(err.code); // "CALL_FAILED"
 * ```
 */
export function toChainError(error: unknown, action: string): ChainError {
  if (error instanceof ChainError) return error;
  const data = revertData(error);
  if (data) {
    try {
      const decoded = decodeErrorResult({ abi: protocolErrorsAbi, data });
      const args = (decoded.args ?? []) as readonly unknown[];
      const hint = HINTS[decoded.errorName]?.(args) ??
        `see the NatSpec of ${decoded.errorName} in contracts/`;
      return new ContractRevertError(
        decoded.errorName,
        args,
        `${action} reverted with ${decoded.errorName}: ${hint}`,
        error,
      );
    } catch {
      // Not a protocol error (e.g. a Uniswap string revert): fall through to the generic message.
    }
  }
  const short = error instanceof BaseError ? error.shortMessage : String(error);
  return new ChainError("CALL_FAILED", `${action} failed: ${short}`, { cause: error, value: data });
}
