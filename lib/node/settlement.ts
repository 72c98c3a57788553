/**
 * A provider's side of the job market: keep enough stake, bind the node's peer id to its account,
 * claim, commit, and collect payment. Thin wrappers over the chain actions that turn the expected
 * races (another provider claimed first, the window is still open) into plain results instead of
 * errors.
 *
 * @module
 */

import { contractRevertOf, peerIdFromPublicKey, type ProtocolClient } from "../chain/mod.ts";
import { PeerError } from "../core/errors.ts";
import { type Hash, toBytes32, toHex } from "../core/hash.ts";
import { privateKeyToAccount } from "npm:viem@2.57.20/accounts";

/** `0x`-prefixed 32-byte hex, as the chain takes ids and hashes. */
export type Bytes32 = `0x${string}`;

/** A content id as a `bytes32` chain value (validated; see `lib/core/hash.ts`). */
export { toBytes32 };

/** A `bytes32` chain value as a content id. */
export function fromBytes32(value: string): Hash {
  return value.slice(2).toLowerCase();
}

/** The custom error a chain call reverted with (at estimation, or replayed after mining). */
function revertName(error: unknown): string | undefined {
  return contractRevertOf(error)?.errorName;
}

/**
 * Tops the account's unlocked stake up to `minWei` (staking the shortfall); returns what it staked.
 *
 * @example
 * ```ts
 * import { ensureStake } from "./settlement.ts";
 * declare const chain: import("../chain/mod.ts").ProtocolClient;
 * await ensureStake(chain, 1000n * 10n ** 18n);
 * ```
 */
export async function ensureStake(chain: ProtocolClient, minWei: bigint): Promise<bigint> {
  const { stakedWei, lockedWei } = await chain.staking.get();
  const unlocked = stakedWei - lockedWei;
  if (unlocked >= minWei) return 0n;
  const shortfall = minWei - unlocked;
  await chain.staking.stake({ amountWei: shortfall });
  return shortfall;
}

/**
 * Binds the node's libp2p peer id (from its secp256k1 key) to the chain account, unless it is
 * bound already. Fails with `PEER_BOUND_ELSEWHERE` if another account holds it.
 */
export async function ensurePeerBound(
  chain: ProtocolClient,
  peerPrivateKey: Uint8Array,
): Promise<void> {
  const keyHex = `0x${toHex(peerPrivateKey)}` as Bytes32;
  const peerId = peerIdFromPublicKey(privateKeyToAccount(keyHex).publicKey);
  const owner = await chain.staking.ownerOfPeer(peerId);
  if (owner?.toLowerCase() === chain.account.toLowerCase()) return;
  if (owner) {
    throw new PeerError(
      "PEER_BOUND_ELSEWHERE",
      `this node's peer id is bound on-chain to ${owner}, not to ${chain.account}; start the node ` +
        "with that account, or with a fresh --data-dir to get a new peer key",
      { value: owner },
    );
  }
  await chain.staking.bindPeer({ peerPrivateKey: keyHex });
}

/**
 * Claims a slot of a job; returns the slot, or undefined when another provider was faster or the
 * job is no longer claimable (those are the normal outcomes of a race, not failures).
 */
export async function tryClaim(chain: ProtocolClient, jobId: Hash): Promise<number | undefined> {
  try {
    return (await chain.jobs.claim({ jobId: toBytes32(jobId) })).slot;
  } catch (error) {
    const name = revertName(error);
    if (name === "NoOpenSlot" || name === "JobExpired" || name === "AlreadyClaimed") {
      return undefined;
    }
    throw error;
  }
}

/** Commits a trained result: the final state commitment and the trace root. */
export async function commitResult(
  chain: ProtocolClient,
  params: { jobId: Hash; finalHash: Hash; traceRoot: Hash },
): Promise<number> {
  const result = await chain.jobs.commit({
    jobId: toBytes32(params.jobId),
    finalStateHash: toBytes32(params.finalHash),
    traceRoot: toBytes32(params.traceRoot),
  });
  return result.slot;
}

/** When a committed slot's challenge window ends (unix seconds), or undefined if not committed. */
export async function challengeEndsAt(
  chain: ProtocolClient,
  params: { jobId: Hash; slot: number },
): Promise<bigint | undefined> {
  const [job, slot] = await Promise.all([
    chain.jobs.get(toBytes32(params.jobId)),
    chain.jobs.slot({ jobId: toBytes32(params.jobId), slot: params.slot }),
  ]);
  if (slot.status !== "Committed") return undefined;
  return slot.committedAt + BigInt(job.challengeWindowSec);
}

/**
 * Finalizes a committed slot if its challenge window has passed; returns the payment, or
 * undefined when it is not due yet (or someone else finalized it already).
 */
export async function finalizeIfDue(
  chain: ProtocolClient,
  params: { jobId: Hash; slot: number },
): Promise<{ paidWei: bigint; feeWei: bigint } | undefined> {
  const ends = await challengeEndsAt(chain, params);
  if (ends === undefined) return undefined;
  const now = (await chain.public.getBlock({ blockTag: "latest" })).timestamp;
  if (now < ends) return undefined;
  try {
    const result = await chain.jobs.finalize({ jobId: toBytes32(params.jobId), slot: params.slot });
    return { paidWei: result.paidWei, feeWei: result.feeWei };
  } catch (error) {
    const name = revertName(error);
    if (name === "ChallengeWindowOpen" || name === "WrongSlotStatus") return undefined;
    throw error;
  }
}

/**
 * The spec hash of job `jobId` (the content id of its spec's blob), as the job market recorded it
 * at creation: a job's id is derived from its submitter and this hash.
 *
 * @example
 * ```ts
 * import { specHashOfJob } from "./settlement.ts";
 * declare const chain: import("../chain/mod.ts").ProtocolClient;
 * const specHash = await specHashOfJob(chain, "ab".repeat(32));
 * console.log(specHash);
 * ```
 */
export async function specHashOfJob(chain: ProtocolClient, jobId: Hash): Promise<Hash> {
  return fromBytes32(await chain.jobs.specHash(toBytes32(jobId)));
}
