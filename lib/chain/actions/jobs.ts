/**
 * Job market actions: create (escrow), claim, release, commit (whole or by work units), finalize,
 * cancel, refund, reassign, and reads. Each
 * is a standalone function `action(client, params)`; `ProtocolClient.jobs` binds them.
 *
 * @module
 */

import { encodeAbiParameters, keccak256 } from "npm:viem@2.57.20";
import type { Address, Hex } from "../types.ts";
import { ChainError } from "../../core/errors.ts";
import { jobMarketAbi } from "../artifacts/JobMarket.ts";
import type { ChainClient } from "../client.ts";
import { slotStatusName, toChainError } from "../revert.ts";
import { ensureAllowance, eventsOf, inAllowanceTurn, send, type TxResult } from "../transact.ts";

/** Parameters of {@linkcode createJob}. */
export interface CreateJobParams {
  /**
   * Hash of the job spec. The job id is derived from it and the submitter
   * ({@linkcode jobIdFor}), so each submitter's spec hashes are its own.
   */
  specHash: Hex;
  /** Total payment escrowed, split evenly over the replicas, in wei. */
  paymentWei: bigint;
  /** Deadline for commits, unix seconds. Give this or `timeoutSec`. */
  deadline?: bigint;
  /** Deadline relative to the latest block, in seconds; used when `deadline` is absent. */
  timeoutSec?: number;
  /** Independent providers training the job; default 1. */
  replicas?: number;
  /** Steps between checkpoints; default 100. */
  checkpointInterval?: number;
  /** Training steps of the job (the dispute game maps checkpoint segments to steps); default `checkpointInterval`. */
  steps?: number;
  /** Seconds after a commit during which it can be disputed; default 3600. */
  challengeWindowSec?: number;
  /**
   * Stake each provider must lock to claim, in wei; default (and least allowed): the market's
   * governed `minRequiredStakeTokens` (1 AIGENSYN at deployment).
   */
  requiredStakeWei?: bigint;
  /**
   * Work units (rounds) of a distributed job: each worker commits the units it counted in
   * ({@linkcode commitWork}) and is paid that fraction of its share. Default 0: a plain job.
   */
  workUnits?: number;
  /**
   * Size of the staked referee committee that rules on this job's disputes: an odd number up to
   * 9, drawn by the dispute game from the verifier registry when a dispute needs a ruling. Default
   * 0: the dispute game's `defaultCommittee` (3). No party to the job ever referees it.
   */
  refereeCommittee?: number;
}

/** Result of {@linkcode createJob}. */
export interface CreateJobResult extends TxResult {
  /** The job id: {@linkcode jobIdFor} the client's account and the spec hash. */
  jobId: Hex;
  /** The escrow approval sent first, when the allowance was short. */
  approval?: TxResult;
}

/** Timestamp of the latest block, in unix seconds. */
export async function chainTime(client: ChainClient): Promise<bigint> {
  return (await client.public.getBlock({ blockTag: "latest" })).timestamp;
}

/**
 * Creates a job and escrows its payment from the client's account (approving the market first if
 * the allowance is short).
 *
 * @example
 * ```ts
 * import { createJob } from "./jobs.ts";
 * declare const client: import("../client.ts").ChainClient;
 * const { jobId } = await createJob(client, {
 *   specHash: "0x" + "ab".repeat(32) as `0x${string}`,
 *   paymentWei: 10n ** 18n,
 *   timeoutSec: 3600,
 * });
 * ```
 */
export async function createJob(
  client: ChainClient,
  params: CreateJobParams,
): Promise<CreateJobResult> {
  let deadline = params.deadline;
  if (deadline === undefined) {
    if (params.timeoutSec === undefined) {
      throw new ChainError("JOB_PARAMS", "createJob needs a deadline or a timeoutSec", {
        value: params,
      });
    }
    deadline = (await chainTime(client)) + BigInt(params.timeoutSec);
  }
  return await inAllowanceTurn(client, async () => {
    const approval = await ensureAllowance(client, {
      spender: client.addresses.jobMarket,
      amountWei: params.paymentWei,
    });
    const requiredStake = params.requiredStakeWei ?? BigInt(
          await client.public.readContract({
            address: client.addresses.jobMarket,
            abi: jobMarketAbi,
            functionName: "minRequiredStakeTokens",
          }),
        ) * 10n ** 18n;
    const tx = await send(client, {
      address: client.addresses.jobMarket,
      abi: jobMarketAbi,
      functionName: "createJob",
      args: [{
        specHash: params.specHash,
        payment: params.paymentWei,
        replicas: params.replicas ?? 1,
        checkpointInterval: params.checkpointInterval ?? 100,
        steps: params.steps ?? params.checkpointInterval ?? 100,
        deadline: Number(deadline),
        challengeWindow: params.challengeWindowSec ?? 3600,
        requiredStake: requiredStake,
        workUnits: params.workUnits ?? 0,
        refereeCommittee: params.refereeCommittee ?? 0,
      }],
      action: "jobs.create",
    });
    const [created] = eventsOf(jobMarketAbi, tx.receipt, "JobCreated");
    return { ...tx, jobId: created.args.jobId as Hex, approval };
  });
}

/**
 * The id of the job `submitter` creates for `specHash`: `keccak256(abi.encode(submitter,
 * specHash))`, as the job market derives it. Nobody else can create a job under this id.
 *
 * @example
 * ```ts
 * import { jobIdFor } from "./jobs.ts";
 * const id = jobIdFor("0x70997970C51812dc3A010C7d01b50e0d17dc79C8", `0x${"ab".repeat(32)}`);
 * console.log(id);
 * ```
 */
export function jobIdFor(submitter: Address, specHash: Hex): Hex {
  return keccak256(
    encodeAbiParameters([{ type: "address" }, { type: "bytes32" }], [submitter, specHash]),
  );
}

/** Spec hashes of jobs already looked up: a job's spec hash never changes. */
const specHashes = new Map<string, Hex>();

/**
 * The spec hash job `jobId` was created with (from its `JobCreated` event). Fails with
 * `UNKNOWN_JOB` when no such job was created.
 */
export async function jobSpecHash(client: ChainClient, jobId: Hex): Promise<Hex> {
  const key = `${client.addresses.jobMarket}:${jobId}`.toLowerCase();
  const known = specHashes.get(key);
  if (known) return known;
  const [created] = await client.public.getContractEvents({
    address: client.addresses.jobMarket,
    abi: jobMarketAbi,
    eventName: "JobCreated",
    args: { jobId },
    fromBlock: 0n,
  });
  if (!created) {
    throw new ChainError("UNKNOWN_JOB", `no job ${jobId} was created on this job market`, {
      value: jobId,
    });
  }
  const specHash = (created.args as { specHash: Hex }).specHash;
  specHashes.set(key, specHash);
  return specHash;
}

/** Result of an action on one slot. */
export interface SlotResult extends TxResult {
  /** The slot index acted on. */
  slot: number;
}

/** Claims an open slot of `jobId` for the client's account, locking the required stake. */
export async function claimJob(client: ChainClient, params: { jobId: Hex }): Promise<SlotResult> {
  const tx = await send(client, {
    address: client.addresses.jobMarket,
    abi: jobMarketAbi,
    functionName: "claimJob",
    args: [params.jobId],
    action: "jobs.claim",
  });
  const [event] = eventsOf(jobMarketAbi, tx.receipt, "JobClaimed");
  return { ...tx, slot: Number(event.args.slot) };
}

/**
 * Why a provider gives a claimed slot back (`JobMarket.releaseJob`'s reason code):
 * - `job`: the job itself cannot be trained as specified; any provider would fail the same way.
 * - `node`: this provider cannot run it (resources, a fetch that failed, a crash); another may.
 * - `unspecified`: no reason given.
 */
export type ReleaseReason = "job" | "node" | "unspecified";

const RELEASE_CODES: Record<ReleaseReason, number> = { unspecified: 0, job: 1, node: 2 };

/** The reason a `JobReleased` event's code stands for. */
export function releaseReasonOf(code: number): ReleaseReason {
  return code === 1 ? "job" : code === 2 ? "node" : "unspecified";
}

/** Result of {@linkcode releaseJob}. */
export interface ReleaseJobResult extends SlotResult {
  /** Stake slashed to the submitter: 0 within the market's release grace after the claim. */
  slashedWei: bigint;
}

/**
 * Gives the client's claimed, uncommitted slot of a job back, with a reason: the slot opens for
 * other providers and this account may not claim the job again. Free within the market's
 * `releaseGrace` of the claim; later it costs the abandonment slash.
 *
 * @example
 * ```ts
 * import { releaseJob } from "./jobs.ts";
 * declare const client: import("../client.ts").ChainClient;
 * const { slot, slashedWei } = await releaseJob(client, { jobId: "0x...", reason: "job" });
 * ```
 */
export async function releaseJob(
  client: ChainClient,
  params: { jobId: Hex; reason: ReleaseReason },
): Promise<ReleaseJobResult> {
  const tx = await send(client, {
    address: client.addresses.jobMarket,
    abi: jobMarketAbi,
    functionName: "releaseJob",
    args: [params.jobId, RELEASE_CODES[params.reason]],
    action: "jobs.release",
  });
  const [event] = eventsOf(jobMarketAbi, tx.receipt, "JobReleased");
  return { ...tx, slot: Number(event.args.slot), slashedWei: event.args.slashed as bigint };
}

/**
 * The submitter takes back every unclaimed slot of its job at once, before or after the deadline
 * (slots a provider holds are untouched). Fails with `NothingToSettle` when no slot is open.
 *
 * @example
 * ```ts
 * import { cancelJob } from "./jobs.ts";
 * declare const client: import("../client.ts").ChainClient;
 * const { refundedWei } = await cancelJob(client, { jobId: "0x..." });
 * ```
 */
export async function cancelJob(
  client: ChainClient,
  params: { jobId: Hex },
): Promise<TxResult & { refundedWei: bigint; slots: number }> {
  const tx = await send(client, {
    address: client.addresses.jobMarket,
    abi: jobMarketAbi,
    functionName: "cancelJob",
    args: [params.jobId],
    action: "jobs.cancel",
  });
  const [refund] = eventsOf(jobMarketAbi, tx.receipt, "JobRefunded");
  const [cancelled] = eventsOf(jobMarketAbi, tx.receipt, "JobCancelled");
  return {
    ...tx,
    refundedWei: refund.args.amount as bigint,
    slots: Number(cancelled.args.slots),
  };
}

/** Parameters of {@linkcode commitJob}. */
export interface CommitJobParams {
  /** The job. */
  jobId: Hex;
  /** Hash of the final training state. */
  finalStateHash: Hex;
  /** Merkle root of the checkpoint trace. */
  traceRoot: Hex;
}

/** Commits the client's result for its slot of a job; opens the challenge window. */
export async function commitJob(client: ChainClient, params: CommitJobParams): Promise<SlotResult> {
  const tx = await send(client, {
    address: client.addresses.jobMarket,
    abi: jobMarketAbi,
    functionName: "commitJob",
    args: [params.jobId, params.finalStateHash, params.traceRoot],
    action: "jobs.commit",
  });
  const [event] = eventsOf(jobMarketAbi, tx.receipt, "JobCommitted");
  return { ...tx, slot: Number(event.args.slot) };
}

/** Parameters of {@linkcode commitWork}. */
export interface CommitWorkParams extends CommitJobParams {
  /** Work units (rounds) the worker counted in: 1 to the job's `workUnits`. */
  units: number;
}

/**
 * Commits the client's work on a distributed job: its result and the units it counted in. The
 * slot pays `units / workUnits` of its share; the rest is refunded to the submitter at finalize.
 *
 * @example
 * ```ts ignore
 * await commitWork(client, { jobId, finalStateHash, traceRoot, units: 2 });
 * ```
 */
export async function commitWork(
  client: ChainClient,
  params: CommitWorkParams,
): Promise<SlotResult> {
  const tx = await send(client, {
    address: client.addresses.jobMarket,
    abi: jobMarketAbi,
    functionName: "commitWork",
    args: [params.jobId, params.finalStateHash, params.traceRoot, params.units],
    action: "jobs.commitWork",
  });
  const [event] = eventsOf(jobMarketAbi, tx.receipt, "JobCommitted");
  return { ...tx, slot: Number(event.args.slot) };
}

/** The commitment the market stores for a result: keccak256 of the ABI-encoded pair. */
export function commitmentOf(finalStateHash: Hex, traceRoot: Hex): Hex {
  return keccak256(encodeAbiParameters([{ type: "bytes32" }, { type: "bytes32" }], [
    finalStateHash,
    traceRoot,
  ]));
}

/** Result of {@linkcode finalizeJob}. */
export interface FinalizeJobResult extends TxResult {
  /** Tokens paid to the provider. */
  paidWei: bigint;
  /** Protocol fee sent to the fee router. */
  feeWei: bigint;
  /** The provider paid. */
  provider: Address;
  /** The unworked share sent back to the submitter (partial work on a distributed job), or 0. */
  refundedWei: bigint;
}

/** Pays a committed slot whose challenge window has passed; anyone may call. */
export async function finalizeJob(
  client: ChainClient,
  params: { jobId: Hex; slot?: number },
): Promise<FinalizeJobResult> {
  const tx = await send(client, {
    address: client.addresses.jobMarket,
    abi: jobMarketAbi,
    functionName: "finalizeJob",
    args: [params.jobId, BigInt(params.slot ?? 0)],
    action: "jobs.finalize",
  });
  const [event] = eventsOf(jobMarketAbi, tx.receipt, "JobFinalized");
  const [refund] = eventsOf(jobMarketAbi, tx.receipt, "WorkRefunded");
  return {
    ...tx,
    paidWei: event.args.paid as bigint,
    feeWei: event.args.fee as bigint,
    provider: event.args.provider as Address,
    refundedWei: (refund?.args.amount as bigint | undefined) ?? 0n,
  };
}

/** Result of {@linkcode refundJob}. */
export interface RefundJobResult extends TxResult {
  /** Tokens returned to the submitter. */
  refundedWei: bigint;
  /** Providers slashed for abandoning a claimed slot. */
  abandoned: Address[];
}

/** After the deadline, refunds unclaimed and abandoned slots to the submitter; anyone may call. */
export async function refundJob(
  client: ChainClient,
  params: { jobId: Hex },
): Promise<RefundJobResult> {
  const tx = await send(client, {
    address: client.addresses.jobMarket,
    abi: jobMarketAbi,
    functionName: "refundJob",
    args: [params.jobId],
    action: "jobs.refund",
  });
  const [event] = eventsOf(jobMarketAbi, tx.receipt, "JobRefunded");
  const abandoned = eventsOf(jobMarketAbi, tx.receipt, "JobAbandoned").map((e) =>
    e.args.provider as Address
  );
  return { ...tx, refundedWei: event.args.amount as bigint, abandoned };
}

/** After the deadline, the submitter reopens abandoned slots with a new deadline. */
export async function reassignJob(
  client: ChainClient,
  params: { jobId: Hex; deadline: bigint },
): Promise<TxResult & { reopened: number }> {
  const tx = await send(client, {
    address: client.addresses.jobMarket,
    abi: jobMarketAbi,
    functionName: "reassignJob",
    args: [params.jobId, Number(params.deadline)],
    action: "jobs.reassign",
  });
  const [event] = eventsOf(jobMarketAbi, tx.receipt, "JobReassigned");
  return { ...tx, reopened: Number(event.args.reopened) };
}

/** A job as stored on-chain. */
export interface JobView {
  /** Who escrowed the payment. */
  submitter: Address;
  /** Commit deadline, unix seconds. */
  deadline: bigint;
  /** Challenge window, seconds. */
  challengeWindowSec: number;
  /** Number of replicas. */
  replicas: number;
  /** Fee snapshot at creation, basis points. */
  feeBps: number;
  /** Escrow per replica, wei. */
  paymentPerReplicaWei: bigint;
  /** Stake each provider locks, wei. */
  requiredStakeWei: bigint;
  /** Steps between checkpoints. */
  checkpointInterval: number;
  /** Training steps of the job. */
  steps: number;
  /** Work units (rounds) of a distributed job; 0 for a plain job. */
  workUnits: number;
  /** Size of the job's referee committee; 0 when its submitter referees its disputes. */
  refereeCommittee: number;
}

/** Reads a job; fails with `UNKNOWN_JOB` when there is none. */
export async function getJob(client: ChainClient, jobId: Hex): Promise<JobView> {
  try {
    const [j, workUnits, refereeCommittee] = await Promise.all([
      client.public.readContract({
        address: client.addresses.jobMarket,
        abi: jobMarketAbi,
        functionName: "getJob",
        args: [jobId],
      }),
      client.public.readContract({
        address: client.addresses.jobMarket,
        abi: jobMarketAbi,
        functionName: "workUnitsOf",
        args: [jobId],
      }),
      client.public.readContract({
        address: client.addresses.jobMarket,
        abi: jobMarketAbi,
        functionName: "refereeCommitteeOf",
        args: [jobId],
      }),
    ]);
    return {
      submitter: j.submitter,
      deadline: BigInt(j.deadline),
      challengeWindowSec: j.challengeWindow,
      replicas: j.replicas,
      feeBps: j.feeBps,
      paymentPerReplicaWei: j.paymentPerReplica,
      requiredStakeWei: j.requiredStake,
      checkpointInterval: j.checkpointInterval,
      steps: j.steps,
      workUnits: Number(workUnits),
      refereeCommittee: Number(refereeCommittee),
    };
  } catch (error) {
    throw toChainError(error, "jobs.get");
  }
}

/** Life stage of a slot. */
export type SlotStatus =
  | "Open"
  | "Claimed"
  | "Committed"
  | "Disputed"
  | "Paid"
  | "Refunded"
  | "Slashed";

/** One replica slot of a job. */
export interface SlotView {
  /** The claimant, or the zero address. */
  provider: Address;
  /** Where the slot is. */
  status: SlotStatus;
  /** Commit time, unix seconds; while `Claimed`, the claim time (0 when open). */
  committedAt: bigint;
  /** keccak256 of the committed `(finalStateHash, traceRoot)`, zero before the commit. */
  commitment: Hex;
  /** Work units committed with `commitWork`; 0 for a whole-replica commit (or none yet). */
  units: number;
}

/** Reads one slot of a job. */
export async function getSlot(
  client: ChainClient,
  params: { jobId: Hex; slot?: number },
): Promise<SlotView> {
  try {
    const s = await client.public.readContract({
      address: client.addresses.jobMarket,
      abi: jobMarketAbi,
      functionName: "getSlot",
      args: [params.jobId, BigInt(params.slot ?? 0)],
    });
    return {
      provider: s.provider,
      status: slotStatusName(s.status) as SlotStatus,
      committedAt: BigInt(s.committedAt),
      commitment: s.commitment,
      units: s.units,
    };
  } catch (error) {
    throw toChainError(error, "jobs.getSlot");
  }
}
