/**
 * The protocol client: a `ChainClient` with every action bound under a namespace, so that code
 * reads like sentences (`jobs.create`, `staking.stake`, `verifiers.register`, `governance.propose`). The standalone
 * actions stay the primitive (viem's shape); this is sugar over them.
 *
 * @module
 */

import type { Account, Address, Hex } from "./types.ts";
import * as disputes from "./actions/disputes.ts";
import * as game from "./actions/dispute_game.ts";
import * as fees from "./actions/fees.ts";
import * as governance from "./actions/governance.ts";
import * as identity from "./actions/identity.ts";
import * as jobs from "./actions/jobs.ts";
import * as staking from "./actions/staking.ts";
import * as token from "./actions/token.ts";
import * as verifiers from "./actions/verifiers.ts";
import * as metrics from "./metrics.ts";
import {
  type ChainClient,
  createChainClient,
  type ProtocolAddresses,
  withAccount,
} from "./client.ts";
import type { TxResult } from "./transact.ts";

/** Job market actions bound to a client. */
export interface JobActions {
  /** Creates a job and escrows its payment. */
  create(params: jobs.CreateJobParams): Promise<jobs.CreateJobResult>;
  /** The spec hash a job was created with. */
  specHash(jobId: Hex): Promise<Hex>;
  /** Claims an open slot. */
  claim(params: { jobId: Hex }): Promise<jobs.SlotResult>;
  /** Gives a claimed slot back with a reason (free within the release grace). */
  release(params: { jobId: Hex; reason: jobs.ReleaseReason }): Promise<jobs.ReleaseJobResult>;
  /** The submitter takes back every unclaimed slot at once. */
  cancel(params: { jobId: Hex }): Promise<TxResult & { refundedWei: bigint; slots: number }>;
  /** Commits a result. */
  commit(params: jobs.CommitJobParams): Promise<jobs.SlotResult>;
  /** Commits a distributed worker's result and the work units (rounds) it counted in. */
  commitWork(params: jobs.CommitWorkParams): Promise<jobs.SlotResult>;
  /** Pays a committed slot after its challenge window. */
  finalize(params: { jobId: Hex; slot?: number }): Promise<jobs.FinalizeJobResult>;
  /** Refunds unclaimed and abandoned slots after the deadline. */
  refund(params: { jobId: Hex }): Promise<jobs.RefundJobResult>;
  /** Reopens abandoned slots with a new deadline. */
  reassign(params: { jobId: Hex; deadline: bigint }): Promise<TxResult & { reopened: number }>;
  /** Reads a job. */
  get(jobId: Hex): Promise<jobs.JobView>;
  /** Reads a slot. */
  slot(params: { jobId: Hex; slot?: number }): Promise<jobs.SlotView>;
}

/** Staking and identity actions bound to a client. */
export interface StakingActions {
  /** Stakes tokens. */
  stake(params: { amountWei: bigint }): Promise<TxResult>;
  /** Starts unbonding. */
  requestUnstake(params: { amountWei: bigint }): Promise<TxResult>;
  /** Withdraws unbonded stake. */
  withdraw(): Promise<TxResult>;
  /** Reads stake. */
  get(account?: Address): Promise<staking.StakeView>;
  /** Locks a slash already took, wei. */
  lockShortfall(account?: Address): Promise<bigint>;
  /** Binds a libp2p peer id to this account. */
  bindPeer(params: { peerPrivateKey: Hex }): Promise<identity.BindPeerResult>;
  /** The account bound to a peer id. */
  ownerOfPeer(peerId: Uint8Array): Promise<Address | undefined>;
}

/** Verifier registry actions bound to a client. */
export interface VerifierActions {
  /** Registers this account as a staked verifier. */
  register(): Promise<TxResult>;
  /** Registers for referee committees only (never drawn to audit). */
  registerReferee(): Promise<TxResult>;
  /** Leaves the registry. */
  deregister(): Promise<TxResult>;
  /** Evicts an entry whose active stake is below the minimum (anyone may). */
  evict(params: { account: Address }): Promise<TxResult>;
  /** Registered verifiers (by default the drawable ones: the candidates of a draw). */
  list(params?: verifiers.ListVerifiersParams): Promise<Address[]>;
  /** The committee draw pool: drawable verifiers with their active stake. */
  drawPool(params?: { blockNumber?: bigint }): Promise<verifiers.DrawCandidate[]>;
  /** Whether an account (default: this one) is registered. */
  isRegistered(account?: Address): Promise<boolean>;
  /** When an account (default: this one) registered, unix seconds; undefined when it is not. */
  registeredAt(account?: Address): Promise<bigint | undefined>;
  /** Active stake a verifier needs, wei. */
  minStake(): Promise<bigint>;
  /** Seconds after registering before a verifier can be drawn. */
  warmup(): Promise<bigint>;
}

/** Fee router actions bound to a client. */
export interface FeeActions {
  /** Sweeps accrued market fees, then splits AIGENSYN fees: burn and treasury. */
  distribute(): Promise<fees.DistributionResult & { sweep?: fees.SweepResult }>;
  /** Moves accrued market fees to the fee router. */
  sweep(): Promise<fees.SweepResult>;
  /** Fees accrued in the market, not yet swept. */
  accrued(): Promise<bigint>;
  /** Buys back AIGENSYN with another fee token at no less than its TWAP value, then splits. */
  buyback(params?: fees.BuybackParams): Promise<fees.BuybackResult>;
  /** Records the pair's cumulative price, the start of the TWAP a buyback measures. */
  observe(params?: fees.FeeTokenParams): Promise<fees.ObserveResult>;
  /** What a buyback would sell now, and the least it must buy. */
  quote(params?: fees.FeeTokenParams): Promise<fees.BuybackQuote>;
}

/** Governance actions bound to a client. */
export interface GovernanceActions {
  /** Delegates voting power. */
  delegate(params?: { to?: Address }): Promise<TxResult>;
  /** The call that changes one parameter. */
  parameterCall(change: governance.ParameterChange): governance.ProposalCall;
  /** Submits a proposal. */
  propose(
    proposal: governance.Proposal,
  ): Promise<TxResult & { proposalId: bigint; voteStart: bigint; voteEnd: bigint }>;
  /** Votes. */
  vote(params: { proposalId: bigint; support: governance.VoteSupport }): Promise<TxResult>;
  /** Queues a passed proposal in the timelock. */
  queue(proposal: governance.Proposal): Promise<TxResult>;
  /** Executes a queued proposal. */
  execute(proposal: governance.Proposal): Promise<TxResult>;
  /** Reads a proposal's state. */
  state(proposalId: bigint): Promise<governance.ProposalState>;
}

/** Verification hooks bound to a client (authorised verifiers only). */
export interface DisputeActions {
  /** Marks a committed slot disputed. */
  open(params: { jobId: Hex; slot?: number }): Promise<TxResult>;
  /** Settles a dispute. */
  settle(params: disputes.SettleDisputeParams): Promise<TxResult & { slashedWei: bigint }>;
}

/** Dispute game moves bound to a client. */
export interface GameActions {
  /** Opens an execution dispute. */
  open(params: game.OpenDisputeParams): Promise<game.OpenDisputeResult>;
  /** Opens an availability dispute. */
  openAvailability(params: game.OpenAvailabilityParams): Promise<game.OpenDisputeResult>;
  /** Opens a work dispute on a distributed job's worker round. */
  openWork(params: game.OpenWorkParams): Promise<game.OpenDisputeResult>;
  /** The provider's hash at the midpoint. */
  post(params: { id: bigint; hash: Hex }): Promise<TxResult>;
  /** The challenger's hash at the midpoint. */
  answer(params: { id: bigint; hash: Hex }): Promise<TxResult>;
  /** Commits a party's op records of the disputed step. */
  commitOps(params: game.CommitOpsParams): Promise<TxResult>;
  /** The referee's ruling. */
  rule(params: game.RuleParams): Promise<TxResult>;
  /** Ends a dispute past its deadline. */
  timeout(id: bigint): Promise<TxResult>;
  /** Reads a dispute. */
  get(id: bigint): Promise<game.DisputeView>;
  /** A dispute's referee committee and its votes (empty until drawn). */
  committee(id: bigint): Promise<game.DisputeCommittee>;
  /** The pool a dispute's committee is drawn from, once it reached its referee. */
  committeePool(id: bigint): Promise<game.CommitteePool | undefined>;
  /** Draws a dispute's referee committee (anyone, from the block after it reached its referee). */
  drawCommittee(id: bigint): Promise<game.DrawCommitteeResult>;
  /** Disputes opened so far. */
  count(): Promise<bigint>;
  /** Where phase 1 ended and what each party committed for phase 2. */
  evidence(id: bigint): ReturnType<typeof game.disputeEvidence>;
}

/** Token actions bound to a client. */
export interface TokenActions {
  /** Balance of an account. */
  balanceOf(params?: { account?: Address; token?: Address }): Promise<bigint>;
  /** Transfers tokens. */
  transfer(params: { to: Address; amountWei: bigint; token?: Address }): Promise<TxResult>;
  /** Approves a spender. */
  approve(params: { spender: Address; amountWei: bigint; token?: Address }): Promise<TxResult>;
  /** Minted, burned, total supply. */
  supply(): Promise<token.SupplyView>;
}

/** Metric readers bound to a client. */
export interface MetricActions {
  /** Jobs created and settled, and the value that moved. */
  jobVolume(params?: metrics.RangeParams): Promise<metrics.JobVolume>;
  /** Accounts with stake. */
  activeStakers(params?: metrics.RangeParams): Promise<metrics.StakerStats>;
  /** Fees collected, burned, sent to the treasury, bought back. */
  fees(params?: metrics.RangeParams): Promise<metrics.FeeStats>;
  /** Burned supply over time. */
  burnedSupply(params?: metrics.RangeParams): Promise<metrics.BurnStats>;
}

/** A chain client with every protocol action bound. */
export interface ProtocolClient extends ChainClient {
  /** Job market. */
  readonly jobs: JobActions;
  /** Staking and identity. */
  readonly staking: StakingActions;
  /** Verifier registry. */
  readonly verifiers: VerifierActions;
  /** Fee routing. */
  readonly fees: FeeActions;
  /** Governance. */
  readonly governance: GovernanceActions;
  /** Verification hooks. */
  readonly disputes: DisputeActions;
  /** The dispute game. */
  readonly game: GameActions;
  /** AIGENSYN token. */
  readonly token: TokenActions;
  /** Metrics from events. */
  readonly metrics: MetricActions;
  /** The same client acting as another account. */
  as(account: Account | Address): ProtocolClient;
}

/** Binds every action to `client`. */
export function createProtocolClient(client: ChainClient): ProtocolClient {
  const c = client;
  return {
    ...c,
    jobs: {
      create: (p) => jobs.createJob(c, p),
      specHash: (jobId) => jobs.jobSpecHash(c, jobId),
      claim: (p) => jobs.claimJob(c, p),
      release: (p) => jobs.releaseJob(c, p),
      cancel: (p) => jobs.cancelJob(c, p),
      commit: (p) => jobs.commitJob(c, p),
      commitWork: (p) => jobs.commitWork(c, p),
      finalize: (p) => jobs.finalizeJob(c, p),
      refund: (p) => jobs.refundJob(c, p),
      reassign: (p) => jobs.reassignJob(c, p),
      get: (id) => jobs.getJob(c, id),
      slot: (p) => jobs.getSlot(c, p),
    },
    staking: {
      stake: (p) => staking.stake(c, p),
      requestUnstake: (p) => staking.requestUnstake(c, p),
      withdraw: () => staking.withdrawStake(c),
      get: (account) => staking.getStake(c, account),
      lockShortfall: (account) => staking.getLockShortfall(c, account),
      bindPeer: (p) => identity.bindPeer(c, p),
      ownerOfPeer: (peerId) => identity.ownerOfPeer(c, peerId),
    },
    verifiers: {
      register: () => verifiers.registerVerifier(c),
      registerReferee: () => verifiers.registerReferee(c),
      deregister: () => verifiers.deregisterVerifier(c),
      evict: (p) => verifiers.evictVerifier(c, p),
      list: (p) => verifiers.listVerifiers(c, p),
      drawPool: (p) => verifiers.drawPool(c, p),
      isRegistered: (account) => verifiers.isRegisteredVerifier(c, account),
      registeredAt: (account) => verifiers.verifierRegisteredAt(c, account),
      minStake: () => verifiers.minVerifierStake(c),
      warmup: () => verifiers.verifierWarmup(c),
    },
    fees: {
      distribute: () => fees.distributeFees(c),
      sweep: () => fees.sweepFees(c),
      accrued: () => fees.accruedFees(c),
      buyback: (p) => fees.buyback(c, p ?? {}),
      observe: (p) => fees.observeFeePrice(c, p ?? {}),
      quote: (p) => fees.quoteBuyback(c, p ?? {}),
    },
    governance: {
      delegate: (p) => governance.delegateVotes(c, p),
      parameterCall: (change) => governance.parameterCall(c, change),
      propose: (p) => governance.propose(c, p),
      vote: (p) => governance.castVote(c, p),
      queue: (p) => governance.queueProposal(c, p),
      execute: (p) => governance.executeProposal(c, p),
      state: (id) => governance.proposalState(c, id),
    },
    disputes: {
      open: (p) => disputes.markDisputed(c, p),
      settle: (p) => disputes.settleDispute(c, p),
    },
    game: {
      open: (p) => game.openDispute(c, p),
      openAvailability: (p) => game.openAvailabilityDispute(c, p),
      openWork: (p) => game.openWorkDispute(c, p),
      post: (p) => game.postMove(c, p),
      answer: (p) => game.answerMove(c, p),
      commitOps: (p) => game.commitOps(c, p),
      rule: (p) => game.ruleDispute(c, p),
      timeout: (id) => game.timeoutDispute(c, id),
      get: (id) => game.getDispute(c, id),
      committee: (id) => game.disputeCommittee(c, id),
      committeePool: (id) => game.committeePool(c, id),
      drawCommittee: (id) => game.drawCommittee(c, id),
      count: () => game.disputeCount(c),
      evidence: (id) => game.disputeEvidence(c, id),
    },
    token: {
      balanceOf: (p) => token.balanceOf(c, p),
      transfer: (p) => token.transfer(c, p),
      approve: (p) => token.approve(c, p),
      supply: () => token.supply(c),
    },
    metrics: {
      jobVolume: (p) => metrics.jobVolume(c, p),
      activeStakers: (p) => metrics.activeStakers(c, p),
      fees: (p) => metrics.feeStats(c, p),
      burnedSupply: (p) => metrics.burnedSupply(c, p),
    },
    as: (account) => createProtocolClient(withAccount(c, account)),
  };
}

/** Options of {@linkcode connect}. */
export interface ConnectOptions {
  /** Acting account: a local viem account or an address the node has unlocked. */
  account: Account | Address;
  /** Chain id; default 31337. */
  chainId?: number;
}

/**
 * Connects to an existing chain where the protocol is deployed.
 *
 * @example
 * ```ts
 * import { connect } from "./protocol.ts";
 * import { privateKeyToAccount } from "viem/accounts";
 * declare const addresses: import("./client.ts").ProtocolAddresses;
 * declare const key: `0x${string}`;
 * const client = connect("https://l2.example/rpc", addresses, { account: privateKeyToAccount(key), chainId: 10 });
 * const job = await client.jobs.get("0x...");
 * ```
 */
export function connect(
  rpcUrl: string,
  addresses: ProtocolAddresses,
  options: ConnectOptions,
): ProtocolClient {
  return createProtocolClient(createChainClient({ rpcUrl, addresses, ...options }));
}
