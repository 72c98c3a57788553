/**
 * The coordination layer: protocol contracts on an EVM chain, driven with viem. Start an embedded
 * chain with {@linkcode startDevnet} or {@linkcode connect} to an existing one; both give a
 * {@linkcode ProtocolClient} whose actions read like sentences (`jobs.create`, `staking.stake`,
 * `governance.propose`). Every action is also a standalone function `action(client, params)`.
 *
 * @example
 * ```ts
 * import { startDevnet } from "./mod.ts";
 * await using devnet = await startDevnet();
 * const submitter = devnet.client(1);
 * const { jobId } = await submitter.jobs.create({
 *   specHash: `0x${"11".repeat(32)}`,
 *   paymentWei: 10n ** 18n,
 *   timeoutSec: 3600,
 * });
 * ```
 *
 * @module
 */

export * from "./actions/disputes.ts";
export * from "./actions/dispute_game.ts";
export * from "./actions/fees.ts";
export * from "./actions/governance.ts";
export * from "./actions/identity.ts";
export * from "./actions/jobs.ts";
export * from "./actions/staking.ts";
export * from "./actions/token.ts";
export * from "./actions/verifiers.ts";
export * from "./anvil.ts";
export * from "./client.ts";
export * from "./cursor.ts";
export * from "./deploy.ts";
export * from "./devnet.ts";
export * from "./follow.ts";
export { DEFAULT_BLOCKS_PER_CALL, readLogs } from "./logs.ts";
export type { LogFilter, ReadLogsOptions } from "./logs.ts";
export * from "./metrics.ts";
export * from "./protocol.ts";
export * from "./revert.ts";
export { ensureAllowance, eventsOf, receiptOf, send } from "./transact.ts";
export type { AllowanceParams, TxResult, WriteRequest } from "./transact.ts";
export * from "./invariants.ts";
export * from "./liveness.ts";
// The protocol contracts' ABIs, to read their events and views directly with viem.
export { delphiAbi } from "./artifacts/Delphi.ts";
export { disputeGameAbi } from "./artifacts/DisputeGame.ts";
export { feeRouterAbi } from "./artifacts/FeeRouter.ts";
export { jobMarketAbi } from "./artifacts/JobMarket.ts";
export { protocolGovernorAbi } from "./artifacts/ProtocolGovernor.ts";
export { stakingAbi } from "./artifacts/Staking.ts";
export { tokenAbi } from "./artifacts/Token.ts";
export { verifierRegistryAbi } from "./artifacts/VerifierRegistry.ts";
// The error family of this layer and its base, declared with the others in core.
export { ChainError, ToolkitError, type ToolkitErrorOptions } from "../core/errors.ts";
export type * from "./types.ts";
