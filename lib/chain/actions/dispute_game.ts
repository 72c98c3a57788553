/**
 * The dispute game's moves and reads: open (execution, availability or work), the bisection moves of
 * both phases, the referee's ruling and timeouts. Each is a standalone function
 * `action(client, params)`; `ProtocolClient.game` binds them. See `contracts/DisputeGame.sol` for
 * the rules.
 *
 * @module
 */

import { encodeFunctionData } from "npm:viem@2.57.20";
import type { Address, Hex } from "../types.ts";
import { ChainError } from "../../core/errors.ts";
import { disputeGameAbi } from "../artifacts/DisputeGame.ts";
import { jobMarketAbi } from "../artifacts/JobMarket.ts";
import { verifierRegistryAbi } from "../artifacts/VerifierRegistry.ts";
import type { ChainClient } from "../client.ts";
import { toChainError } from "../revert.ts";
import {
  ensureAllowance,
  eventsOf,
  inAllowanceTurn,
  send,
  type TxResult,
  type WriteRequest,
} from "../transact.ts";

/** What a dispute is about: a bisectable trace, a withheld blob, or a distributed worker's round. */
export type DisputeKind = "Execution" | "Availability" | "Work";
/** Where a dispute is. */
export type DisputePhase = "None" | "Steps" | "OpsCommit" | "Ops" | "Referee" | "Done";
/** How a dispute ended. */
export type DisputeOutcome =
  | "Pending"
  | "ProviderWon"
  | "ChallengerWon"
  | "BothFaulty"
  | "Voided";
/** The referee's ruling. */
export type DisputeRuling = "Provider" | "Challenger" | "Both";

const KINDS: readonly DisputeKind[] = ["Execution", "Availability", "Work"];
const PHASES: readonly DisputePhase[] = ["None", "Steps", "OpsCommit", "Ops", "Referee", "Done"];
const OUTCOMES: readonly DisputeOutcome[] = [
  "Pending",
  "ProviderWon",
  "ChallengerWon",
  "BothFaulty",
  "Voided",
];
const RULINGS: readonly DisputeRuling[] = ["Provider", "Challenger", "Both"];

/** Marks the step of a dispute over the initial state (no step was bisected). */
export const INITIAL_STATE_STEP = 0xffff_ffff;

/** A dispute as the contract holds it. */
export interface DisputeView {
  /** The dispute id. */
  id: bigint;
  /** The job. */
  jobId: Hex;
  /** The disputed slot. */
  slot: number;
  /** Who opened it. */
  challenger: Address;
  /** The slot's provider. */
  provider: Address;
  /**
   * The job's submitter. It never rules (a committee of staked verifiers does, see
   * {@linkcode disputeCommittee}); it is paid the slash of a `Both` ruling.
   */
  submitter: Address;
  /** Execution, availability or work. */
  kind: DisputeKind;
  /** Where it is. */
  phase: DisputePhase;
  /** How it ended (`Pending` while open). */
  outcome: DisputeOutcome;
  /** When the current move is due, unix seconds. */
  deadline: bigint;
  /** Agreed point: a step in phase 1, an op-prefix length in phase 2. */
  lo: number;
  /** Disputed point. */
  hi: number;
  /** Agreed hash at `lo`. */
  loHash: Hex;
  /** The provider's hash at `hi`. */
  hiProvider: Hex;
  /** The challenger's hash at `hi`. */
  hiChallenger: Hex;
  /** The provider's last midpoint hash. */
  midHash: Hex;
  /** Whether that hash awaits the challenger's answer. */
  pending: boolean;
  /** Agreed step `t` once phase 1 ended (`INITIAL_STATE_STEP` for an initial-state dispute). */
  step: number;
  /** Op records the provider committed for the disputed step (0 until it did). */
  providerOps: number;
  /** Op records the challenger committed. */
  challengerOps: number;
  /** The challenger's bond, wei. */
  bondWei: bigint;
  /** Seconds left on the provider's chess clock. */
  providerClockSec: number;
  /** Seconds left on the challenger's chess clock. */
  challengerClockSec: number;
  /**
   * Availability: what was withheld (a checkpoint hash, or zero for the trace). Work: the disputed
   * round plus one, or zero for the worker's whole trace (decode it with {@linkcode workRoundOf}).
   * Zero for execution.
   */
  subject: Hex;
}

/** Parameters of {@linkcode openDispute}. */
export interface OpenDisputeParams {
  /** The job. */
  jobId: Hex;
  /** The slot; default 0. */
  slot?: number;
  /** The slot's committed final state hash. */
  finalStateHash: Hex;
  /** The slot's committed trace root. */
  traceRoot: Hex;
  /** The first segment the challenger disagrees on. */
  segment: number;
  /** The provider's checkpoint hash at the segment's start, and its Merkle proof (sibling hashes, leaf to root). */
  providerFrom: Hex;
  /** Proof of `providerFrom`. */
  proofFrom: readonly Hex[];
  /** The provider's checkpoint hash at the segment's end. */
  providerTo: Hex;
  /** Proof of `providerTo`. */
  proofTo: readonly Hex[];
  /** The challenger's state hash at the segment's start (equal to `providerFrom` unless segment 0's initial state is disputed). */
  challengerFrom: Hex;
  /** The challenger's state hash at the segment's end. */
  challengerTo: Hex;
}

/** Result of opening a dispute. */
export interface OpenDisputeResult extends TxResult {
  /** The dispute id. */
  id: bigint;
  /** The bond approval sent first, when the allowance was short. */
  approval?: TxResult;
}

async function bondApproval(client: ChainClient): Promise<TxResult | undefined> {
  const bond = await client.public.readContract({
    address: client.addresses.disputeGame,
    abi: disputeGameAbi,
    functionName: "bond",
  });
  if (bond === 0n) return undefined;
  return await ensureAllowance(client, { spender: client.addresses.disputeGame, amountWei: bond });
}

/** Approves the bond when the allowance is short, then opens the dispute `request` sends. */
function openWithBond(client: ChainClient, request: WriteRequest): Promise<OpenDisputeResult> {
  return inAllowanceTurn(client, async () => {
    const approval = await bondApproval(client);
    const tx = await send(client, request);
    return { ...tx, id: openedId(tx), ...(approval ? { approval } : {}) };
  });
}

function openedId(tx: TxResult): bigint {
  const [event] = eventsOf(disputeGameAbi, tx.receipt, "DisputeOpened");
  return event.args.id as bigint;
}

/**
 * Opens an execution dispute on a committed slot (approving the bond first when needed).
 *
 * @example
 * ```ts
 * import { openDispute } from "./dispute_game.ts";
 * declare const client: import("../client.ts").ChainClient;
 * declare const params: import("./dispute_game.ts").OpenDisputeParams;
 * const { id } = await openDispute(client, params);
 * console.log(`dispute ${id} opened`);
 * ```
 */
export async function openDispute(
  client: ChainClient,
  params: OpenDisputeParams,
): Promise<OpenDisputeResult> {
  return await openWithBond(client, {
    address: client.addresses.disputeGame,
    abi: disputeGameAbi,
    functionName: "open",
    args: [{
      jobId: params.jobId,
      slot: params.slot ?? 0,
      finalStateHash: params.finalStateHash,
      traceRoot: params.traceRoot,
      segment: params.segment,
      providerFrom: params.providerFrom,
      proofFrom: params.proofFrom,
      providerTo: params.providerTo,
      proofTo: params.proofTo,
      challengerFrom: params.challengerFrom,
      challengerTo: params.challengerTo,
    }],
    action: "game.open",
  });
}

/** Parameters of {@linkcode openAvailabilityDispute}. */
export interface OpenAvailabilityParams {
  /** The job. */
  jobId: Hex;
  /** The slot; default 0. */
  slot?: number;
  /** The slot's committed final state hash. */
  finalStateHash: Hex;
  /** The slot's committed trace root. */
  traceRoot: Hex;
  /** What the provider withheld: a checkpoint hash, or zero (default) for its trace. */
  subject?: Hex;
}

/** Opens an availability dispute: the referee checks whether the provider serves `subject`. */
export async function openAvailabilityDispute(
  client: ChainClient,
  params: OpenAvailabilityParams,
): Promise<OpenDisputeResult> {
  return await openWithBond(client, {
    address: client.addresses.disputeGame,
    abi: disputeGameAbi,
    functionName: "openAvailability",
    args: [
      params.jobId,
      params.slot ?? 0,
      params.finalStateHash,
      params.traceRoot,
      params.subject ?? `0x${"00".repeat(32)}`,
    ],
    action: "game.openAvailability",
  });
}

/** Parameters of {@linkcode openWorkDispute}. */
export interface OpenWorkParams {
  /** The distributed job (created with `workUnits > 0`). */
  jobId: Hex;
  /** The worker's slot; default 0. */
  slot?: number;
  /** The slot's committed final state hash. */
  finalStateHash: Hex;
  /** The slot's committed trace root (over the worker's round records). */
  traceRoot: Hex;
  /** The disputed round; absent for the worker's trace as a whole (its units claim). */
  round?: number;
}

/**
 * The on-chain subject of a work dispute: `round + 1` as bytes32, or zero for the whole trace.
 *
 * @example
 * ```ts
 * import { workRoundOf, workSubjectOf } from "./dispute_game.ts";
 * console.log(workRoundOf(workSubjectOf(3))); // 3
 * ```
 */
export function workSubjectOf(round?: number): Hex {
  if (round === undefined) return `0x${"00".repeat(32)}`;
  if (!Number.isSafeInteger(round) || round < 0) {
    throw new ChainError("WORK_ROUND", `a work dispute names a round >= 0, not ${round}`, {
      value: round,
    });
  }
  return `0x${(round + 1).toString(16).padStart(64, "0")}`;
}

/** The round a work dispute's `subject` names, or `undefined` when it disputes the whole trace. */
export function workRoundOf(subject: Hex): number | undefined {
  const value = BigInt(subject);
  return value === 0n ? undefined : Number(value - 1n);
}

/**
 * Opens a work dispute on a distributed job's worker slot (approving the bond first when needed):
 * the referee re-audits the named round, or the worker's units claim when no round is named.
 *
 * @example
 * ```ts
 * import { openWorkDispute } from "./dispute_game.ts";
 * declare const client: import("../client.ts").ChainClient;
 * declare const params: Omit<import("./dispute_game.ts").OpenWorkParams, "round">;
 * const { id } = await openWorkDispute(client, { ...params, round: 2 });
 * console.log(`work dispute ${id} opened on round 2`);
 * ```
 */
export async function openWorkDispute(
  client: ChainClient,
  params: OpenWorkParams,
): Promise<OpenDisputeResult> {
  const subject = workSubjectOf(params.round);
  return await openWithBond(client, {
    address: client.addresses.disputeGame,
    abi: disputeGameAbi,
    functionName: "openWork",
    args: [params.jobId, params.slot ?? 0, params.finalStateHash, params.traceRoot, subject],
    action: "game.openWork",
  });
}

/** The provider's hash at the current midpoint. */
export async function postMove(
  client: ChainClient,
  params: { id: bigint; hash: Hex },
): Promise<TxResult> {
  return await send(client, {
    address: client.addresses.disputeGame,
    abi: disputeGameAbi,
    functionName: "post",
    args: [params.id, params.hash],
    action: "game.post",
  });
}

/** The challenger's hash at the current midpoint. */
export async function answerMove(
  client: ChainClient,
  params: { id: bigint; hash: Hex },
): Promise<TxResult> {
  return await send(client, {
    address: client.addresses.disputeGame,
    abi: disputeGameAbi,
    functionName: "answer",
    args: [params.id, params.hash],
    action: "game.answer",
  });
}

/** Parameters of {@linkcode commitOps}. */
export interface CommitOpsParams {
  /** The dispute. */
  id: bigint;
  /** Number of op records of the disputed step. */
  count: number;
  /** Chain hash over all of them (`opChain` in `lib/proof/bisect.ts`). */
  root: Hex;
  /** Content id of the evidence blob (records and input tensors) the party serves. */
  evidence: Hex;
}

/** Commits a party's op records of the disputed step: count, chain hash and evidence blob. */
export async function commitOps(client: ChainClient, params: CommitOpsParams): Promise<TxResult> {
  return await send(client, {
    address: client.addresses.disputeGame,
    abi: disputeGameAbi,
    functionName: "commitOps",
    args: [params.id, params.count, params.root, params.evidence],
    action: "game.commitOps",
    // Both parties commit at once: each is estimated as the first, but the one mined second
    // starts the op bisection, and may hand the dispute to the referee (snapshotting the whole
    // committee pool). Its limit must cover that path; only the gas used is paid.
    minGas: await commitOpsMinGas(client),
  });
}

/**
 * A limit that covers `commitOps` mined second: the pool snapshot (the registry's `drawPool`, read
 * from the game, its event and its hash) plus the move to the next phase.
 */
async function commitOpsMinGas(client: ChainClient): Promise<bigint> {
  const read = {
    address: client.addresses.verifierRegistry,
    abi: verifierRegistryAbi,
    functionName: "drawPool",
  } as const;
  const [poolGas, [accounts]] = await Promise.all([
    client.public.estimateGas({
      account: client.addresses.disputeGame,
      to: read.address,
      data: encodeFunctionData(read),
    }),
    client.public.readContract(read),
  ]);
  return COMMIT_OPS_BASE_GAS + poolGas + COMMIT_OPS_GAS_PER_MEMBER * BigInt(accounts.length);
}

/** Gas of `commitOps` mined second, beyond the pool read: writes, the phase change, the event. */
const COMMIT_OPS_BASE_GAS = 250_000n;
/** Gas per pool member beyond its read: the snapshot event's two words, hashing, memory. */
const COMMIT_OPS_GAS_PER_MEMBER = 3_000n;

/** Parameters of {@linkcode ruleDispute}. */
export interface RuleParams {
  /** The dispute. */
  id: bigint;
  /** Who was right. */
  ruling: DisputeRuling;
  /** Hash of the provider's record at the disputed op (zero when it has none or none applies). */
  providerOp?: Hex;
  /** Hash of the challenger's record there. */
  challengerOp?: Hex;
  /** The judged kernel. */
  kernel: string;
}

/** Gas limit floor of a ruling (see {@linkcode ruleDispute}); only the gas used is paid. */
export const RULE_MIN_GAS = 1_000_000n;

/**
 * The referee's ruling, or a committee member's vote; the ruling (or the vote that makes the
 * majority) settles the slot and the bond.
 */
export async function ruleDispute(client: ChainClient, params: RuleParams): Promise<TxResult> {
  const zero = `0x${"00".repeat(32)}` as Hex;
  return await send(client, {
    address: client.addresses.disputeGame,
    abi: disputeGameAbi,
    functionName: "rule",
    args: [
      params.id,
      RULINGS.indexOf(params.ruling),
      params.providerOp ?? zero,
      params.challengerOp ?? zero,
      params.kernel,
    ],
    action: "game.rule",
    // A committee vote is estimated alone but may be mined after another one, and then reach the
    // majority and pay for the whole settlement (slash, transfers, penalties).
    minGas: RULE_MIN_GAS,
  });
}

/** Ends a dispute whose move deadline passed; anyone may call. */
export async function timeoutDispute(client: ChainClient, id: bigint): Promise<TxResult> {
  return await send(client, {
    address: client.addresses.disputeGame,
    abi: disputeGameAbi,
    functionName: "timeout",
    args: [id],
    action: "game.timeout",
  });
}

/** Reads a dispute; fails with `UNKNOWN_DISPUTE` when there is none. */
export async function getDispute(client: ChainClient, id: bigint): Promise<DisputeView> {
  try {
    const d = await client.public.readContract({
      address: client.addresses.disputeGame,
      abi: disputeGameAbi,
      functionName: "getDispute",
      args: [id],
    });
    return {
      id,
      jobId: d.jobId,
      slot: d.slot,
      challenger: d.challenger,
      provider: d.provider,
      submitter: (await client.public.readContract({
        address: client.addresses.jobMarket,
        abi: jobMarketAbi,
        functionName: "getJob",
        args: [d.jobId],
      })).submitter,
      kind: KINDS[d.kind],
      phase: PHASES[d.phase],
      outcome: OUTCOMES[d.outcome],
      deadline: BigInt(d.deadline),
      lo: d.lo,
      hi: d.hi,
      loHash: d.loHash,
      hiProvider: d.hiProvider,
      hiChallenger: d.hiChallenger,
      midHash: d.midHash,
      pending: d.pending,
      step: d.step,
      providerOps: d.providerOps,
      challengerOps: d.challengerOps,
      bondWei: d.bond,
      providerClockSec: d.providerClock,
      challengerClockSec: d.challengerClock,
      subject: d.subject,
    };
  } catch (error) {
    throw toChainError(error, "game.get");
  }
}

/** The pool a dispute's committee is drawn from, snapshotted when it reached its referee. */
export interface CommitteePool {
  /** Eligible verifiers (staked, warmed up, none of the dispute's parties nor the submitter). */
  pool: Address[];
  /** Their stake at the snapshot, wei (the draw weights). */
  stakesWei: bigint[];
  /** The block whose hash seeds the draw; `drawCommittee` works from the next block on. */
  seedBlock: bigint;
}

/**
 * The latest committee pool snapshotted for dispute `id` (from `CommitteePending`), or
 * `undefined` while the dispute has not reached its referee (or was voided for want of one).
 */
export async function committeePool(
  client: ChainClient,
  id: bigint,
): Promise<CommitteePool | undefined> {
  const logs = await client.public.getContractEvents({
    address: client.addresses.disputeGame,
    abi: disputeGameAbi,
    eventName: "CommitteePending",
    args: { id },
    fromBlock: 0n,
  });
  const last = logs.at(-1);
  if (!last) return undefined;
  const a = last.args as { pool: readonly Address[]; stakes: readonly bigint[]; seedBlock: bigint };
  return { pool: [...a.pool], stakesWei: [...a.stakes], seedBlock: a.seedBlock };
}

/** Result of {@linkcode drawCommittee}. */
export interface DrawCommitteeResult extends TxResult {
  /** The members drawn; empty when the draw was re-armed on a newer block (call again). */
  members: Address[];
}

/**
 * Draws the referee committee of dispute `id` from the pool snapshotted when it reached its
 * referee; anyone may call, from the block after the snapshot on. Fails with
 * `CommitteeAlreadyDrawn` when someone drew it first and `DrawTooEarly` before the next block.
 *
 * @example
 * ```ts
 * import { drawCommittee } from "./dispute_game.ts";
 * declare const client: import("../client.ts").ChainClient;
 * const { members } = await drawCommittee(client, 1n);
 * console.log(members);
 * ```
 */
export async function drawCommittee(client: ChainClient, id: bigint): Promise<DrawCommitteeResult> {
  const pending = await committeePool(client, id);
  if (!pending) {
    throw new ChainError(
      "NO_COMMITTEE_PENDING",
      `dispute ${id} has no committee to draw: it has not reached its referee`,
      { value: id },
    );
  }
  const tx = await send(client, {
    address: client.addresses.disputeGame,
    abi: disputeGameAbi,
    functionName: "drawCommittee",
    args: [id, pending.pool, pending.stakesWei],
    action: "game.drawCommittee",
  });
  const [drawn] = eventsOf(disputeGameAbi, tx.receipt, "CommitteeDrawn");
  return { ...tx, members: drawn ? [...(drawn.args.members as readonly Address[])] : [] };
}

/** A dispute's referee committee, from {@linkcode disputeCommittee}. */
export interface DisputeCommittee {
  /** The drawn members; empty until {@linkcode drawCommittee}. */
  members: Address[];
  /** Each member's ruling so far, in `members` order (`undefined` while it has not ruled). */
  votes: (DisputeRuling | undefined)[];
  /** Matching rulings that decide the dispute (0 until drawn). */
  quorum: number;
}

/**
 * The referee committee of dispute `id` and its votes. Every dispute gets one, drawn from the
 * staked verifiers after it reaches its ruling; until then `members` is empty.
 *
 * @example
 * ```ts
 * import { disputeCommittee } from "./dispute_game.ts";
 * declare const client: import("../client.ts").ChainClient;
 * const { members, votes, quorum } = await disputeCommittee(client, 1n);
 * console.log(members.length, votes.filter(Boolean).length, quorum);
 * ```
 */
export async function disputeCommittee(client: ChainClient, id: bigint): Promise<DisputeCommittee> {
  try {
    const [members, votes, quorum] = await client.public.readContract({
      address: client.addresses.disputeGame,
      abi: disputeGameAbi,
      functionName: "committeeOf",
      args: [id],
    });
    return {
      members: [...members],
      votes: votes.map((v) => (v === 0 ? undefined : RULINGS[v - 1])),
      quorum: Number(quorum),
    };
  } catch (error) {
    throw toChainError(error, "game.committee");
  }
}

/** Number of disputes opened so far (ids run from 1 to it). */
export async function disputeCount(client: ChainClient): Promise<bigint> {
  return await client.public.readContract({
    address: client.addresses.disputeGame,
    abi: disputeGameAbi,
    functionName: "disputeCount",
  });
}

/** What each party committed for the disputed step of dispute `id` (from `OpsCommitted`). */
export interface OpsCommitment {
  /** Number of records. */
  count: number;
  /** Chain hash over them. */
  root: Hex;
  /** Content id of the evidence blob. */
  evidence: Hex;
}

/** The end of phase 1 (from `StepFound`): agreed step, agreed state, both claims after it. */
export interface StepFound {
  /** The agreed step `t`. */
  step: number;
  /** Agreed state hash at `t`. */
  agreedState: Hex;
  /** The provider's state hash at `t + 1`. */
  providerClaim: Hex;
  /** The challenger's state hash at `t + 1`. */
  challengerClaim: Hex;
}

/** The phase-2 evidence of a dispute: where phase 1 ended and each party's op commitment. */
export async function disputeEvidence(
  client: ChainClient,
  id: bigint,
): Promise<{ found?: StepFound; ops: Map<string, OpsCommitment> }> {
  const common = { address: client.addresses.disputeGame, abi: disputeGameAbi, fromBlock: 0n };
  const [found] = await client.public.getContractEvents({
    ...common,
    eventName: "StepFound",
    args: { id },
  });
  const committed = await client.public.getContractEvents({
    ...common,
    eventName: "OpsCommitted",
    args: { id },
  });
  const ops = new Map<string, OpsCommitment>();
  for (const log of committed) {
    const a = log.args as { party: Address; count: bigint; root: Hex; evidence: Hex };
    ops.set(a.party.toLowerCase(), { count: Number(a.count), root: a.root, evidence: a.evidence });
  }
  if (!found) return { ops };
  const f = found.args as {
    step: bigint;
    agreedState: Hex;
    providerClaim: Hex;
    challengerClaim: Hex;
  };
  return {
    found: {
      step: Number(f.step),
      agreedState: f.agreedState,
      providerClaim: f.providerClaim,
      challengerClaim: f.challengerClaim,
    },
    ops,
  };
}

/** Midpoint of the current bisection move: `lo + floor((hi - lo) / 2)`. */
export function midpointOf(d: Pick<DisputeView, "lo" | "hi">): number {
  return d.lo + Math.floor((d.hi - d.lo) / 2);
}
