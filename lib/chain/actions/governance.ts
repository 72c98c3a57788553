/**
 * Governance actions: delegate votes, propose parameter changes, vote, queue in the timelock and
 * execute. Every protocol parameter is owned by the timelock, so this is the only way to change one.
 *
 * @module
 */

import { encodeFunctionData, keccak256, toBytes } from "npm:viem@2.57.20";
import type { Address, Hex } from "../types.ts";
import { feeRouterAbi } from "../artifacts/FeeRouter.ts";
import { jobMarketAbi } from "../artifacts/JobMarket.ts";
import { protocolGovernorAbi } from "../artifacts/ProtocolGovernor.ts";
import { stakingAbi } from "../artifacts/Staking.ts";
import { tokenAbi } from "../artifacts/Token.ts";
import { verifierRegistryAbi } from "../artifacts/VerifierRegistry.ts";
import type { ChainClient } from "../client.ts";
import { eventsOf, send, type TxResult } from "../transact.ts";

/** One call a proposal makes through the timelock. */
export interface ProposalCall {
  /** Contract called. */
  target: Address;
  /** Calldata. */
  data: Hex;
  /** Ether sent; default 0. */
  value?: bigint;
}

/** A proposal: its calls and description (together they identify it). */
export interface Proposal {
  /** Calls executed in order. */
  calls: ProposalCall[];
  /** Human-readable description. */
  description: string;
}

/** Governed setters, by contract. */
export type ParameterChange =
  | { contract: "jobMarket"; functionName: "setFeeBps"; value: number }
  | { contract: "jobMarket"; functionName: "setAbandonSlashBps"; value: number }
  | { contract: "jobMarket"; functionName: "setDisputeSlashBps"; value: number }
  | { contract: "jobMarket"; functionName: "setChallengerRewardBps"; value: number }
  | { contract: "jobMarket"; functionName: "setMinChallengeWindow"; value: number }
  | { contract: "jobMarket"; functionName: "setReleaseGrace"; value: number }
  | { contract: "jobMarket"; functionName: "setMinRequiredStakeTokens"; value: number }
  | { contract: "feeRouter"; functionName: "setBurnBps"; value: number }
  | { contract: "feeRouter"; functionName: "setMaxSlippageBps"; value: number }
  | { contract: "feeRouter"; functionName: "setMaxSwapBps"; value: number }
  | { contract: "feeRouter"; functionName: "setCallerRewardBps"; value: number }
  | { contract: "feeRouter"; functionName: "setTwapWindow"; value: number }
  | { contract: "staking"; functionName: "setUnbondingDelay"; value: bigint }
  | { contract: "verifierRegistry"; functionName: "setMinVerifierStake"; value: bigint }
  | { contract: "verifierRegistry"; functionName: "setWarmup"; value: bigint };

/** The proposal call that changes one protocol parameter. */
export function parameterCall(client: ChainClient, change: ParameterChange): ProposalCall {
  const abi = {
    jobMarket: jobMarketAbi,
    feeRouter: feeRouterAbi,
    staking: stakingAbi,
    verifierRegistry: verifierRegistryAbi,
  }[change.contract];
  return {
    target: client.addresses[change.contract],
    data: encodeFunctionData(
      {
        abi,
        functionName: change.functionName,
        args: [change.value],
      } as Parameters<typeof encodeFunctionData>[0],
    ),
  };
}

function proposalArgs(p: Proposal): [Address[], bigint[], Hex[]] {
  return [
    p.calls.map((c) => c.target),
    p.calls.map((c) => c.value ?? 0n),
    p.calls.map((c) => c.data),
  ];
}

/** Delegates the client's voting power (to itself by default); votes count from the next second. */
export async function delegateVotes(
  client: ChainClient,
  params: { to?: Address } = {},
): Promise<TxResult> {
  return await send(client, {
    address: client.addresses.token,
    abi: tokenAbi,
    functionName: "delegate",
    args: [params.to ?? client.account],
    action: "governance.delegate",
  });
}

/**
 * Submits a proposal to the governor.
 *
 * @example
 * ```ts
 * import { parameterCall, propose } from "./governance.ts";
 * declare const client: import("../client.ts").ChainClient;
 * const call = parameterCall(client, { contract: "jobMarket", functionName: "setFeeBps", value: 40 });
 * const { proposalId } = await propose(client, { calls: [call], description: "Lower the fee to 0.4%" });
 * ```
 */
export async function propose(
  client: ChainClient,
  proposal: Proposal,
): Promise<TxResult & { proposalId: bigint; voteStart: bigint; voteEnd: bigint }> {
  const tx = await send(client, {
    address: client.addresses.governor,
    abi: protocolGovernorAbi,
    functionName: "propose",
    args: [...proposalArgs(proposal), proposal.description],
    action: "governance.propose",
  });
  const [event] = eventsOf(protocolGovernorAbi, tx.receipt, "ProposalCreated");
  return {
    ...tx,
    proposalId: event.args.proposalId as bigint,
    voteStart: event.args.voteStart as bigint,
    voteEnd: event.args.voteEnd as bigint,
  };
}

/** A vote choice (GovernorCountingSimple). */
export type VoteSupport = "against" | "for" | "abstain";

/** Casts the client's vote on a proposal. */
export async function castVote(
  client: ChainClient,
  params: { proposalId: bigint; support: VoteSupport },
): Promise<TxResult> {
  return await send(client, {
    address: client.addresses.governor,
    abi: protocolGovernorAbi,
    functionName: "castVote",
    args: [params.proposalId, { against: 0, for: 1, abstain: 2 }[params.support]],
    action: "governance.vote",
  });
}

/** Queues a passed proposal in the timelock. */
export async function queueProposal(client: ChainClient, proposal: Proposal): Promise<TxResult> {
  return await send(client, {
    address: client.addresses.governor,
    abi: protocolGovernorAbi,
    functionName: "queue",
    args: [...proposalArgs(proposal), keccak256(toBytes(proposal.description))],
    action: "governance.queue",
  });
}

/** Executes a queued proposal once the timelock delay has passed. */
export async function executeProposal(client: ChainClient, proposal: Proposal): Promise<TxResult> {
  return await send(client, {
    address: client.addresses.governor,
    abi: protocolGovernorAbi,
    functionName: "execute",
    args: [...proposalArgs(proposal), keccak256(toBytes(proposal.description))],
    action: "governance.execute",
  });
}

/** Governor proposal states (IGovernor.ProposalState). */
export type ProposalState =
  | "Pending"
  | "Active"
  | "Canceled"
  | "Defeated"
  | "Succeeded"
  | "Queued"
  | "Expired"
  | "Executed";

const STATES: ProposalState[] = [
  "Pending",
  "Active",
  "Canceled",
  "Defeated",
  "Succeeded",
  "Queued",
  "Expired",
  "Executed",
];

/** Reads the state of a proposal. */
export async function proposalState(
  client: ChainClient,
  proposalId: bigint,
): Promise<ProposalState> {
  const state = await client.public.readContract({
    address: client.addresses.governor,
    abi: protocolGovernorAbi,
    functionName: "state",
    args: [proposalId],
  });
  return STATES[state];
}
