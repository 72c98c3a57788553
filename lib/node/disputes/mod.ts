/**
 * The three roles of an on-chain dispute (`contracts/DisputeGame.sol`), as node components.
 *
 * - **Challenger** ({@link challengeExecution}, {@link challengeAvailability}): a verifier
 *   whose audit failed opens a dispute on the first segment it disagrees on (its Merkle proofs
 *   bind the segment to the committed trace root), or an availability dispute when the provider
 *   withheld its trace or a checkpoint, and plays its side with {@link playDispute}.
 * - **Provider** ({@link DisputeResponder}): follows disputes against its account and answers
 *   every move from its own checkpoints: state hashes at bisection midpoints, then the op records
 *   of the disputed step, committed as a hash chain with an evidence blob it serves.
 * - **Referee** ({@link Referee}): a staked, registered verifier drawn onto the dispute's
 *   committee (never a party to the job; it also draws committees whose pool it is in). When a
 *   dispute reaches it, it fetches both
 *   parties' evidence blobs over libp2p, checks them against their on-chain moves, applies the
 *   rules of `lib/proof/bisect.ts` and recomputes at most one kernel (`lib/proof/referee.ts`), and
 *   posts the ruling; for availability disputes it tries to fetch what was withheld, and for an
 *   initial-state dispute it derives the spec's initial state.
 *
 * Every party polls the game, makes its move when it owes one, and calls `timeout` when the other
 * side is past its deadline, so a silent counterparty loses without anyone's help.
 *
 * @module
 */

export {
  checkpointParty,
  type DisputeResult,
  jobTrainer,
  NO_MOVES,
  playDispute,
  type PlayOptions,
  storedRunParty,
} from "./play.ts";
export {
  challengeAvailability,
  challengeExecution,
  challengeWork,
  type CommittedSlot,
} from "./challenger.ts";
export { DisputeResponder, type ResponderOptions } from "./responder.ts";
export { Referee, type RefereeOptions, type Ruling } from "./referee.ts";
