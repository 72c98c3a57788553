/**
 * Staking actions: stake, request an unstake, withdraw after unbonding, and read stake (and the
 * lock shortfall a slash leaves behind).
 *
 * @module
 */

import type { Address } from "../types.ts";
import { stakingAbi } from "../artifacts/Staking.ts";
import type { ChainClient } from "../client.ts";
import { ensureAllowance, inAllowanceTurn, send, type TxResult } from "../transact.ts";

/**
 * Stakes `amountWei` AIGENSYN from the client's account (approving Staking first when short).
 *
 * @example
 * ```ts
 * import { stake } from "./staking.ts";
 * declare const client: import("../client.ts").ChainClient;
 * await stake(client, { amountWei: 1000n * 10n ** 18n });
 * ```
 */
export async function stake(
  client: ChainClient,
  params: { amountWei: bigint },
): Promise<TxResult & { approval?: TxResult }> {
  return await inAllowanceTurn(client, async () => {
    const approval = await ensureAllowance(client, {
      spender: client.addresses.staking,
      amountWei: params.amountWei,
    });
    const tx = await send(client, {
      address: client.addresses.staking,
      abi: stakingAbi,
      functionName: "stake",
      args: [params.amountWei],
      action: "staking.stake",
    });
    return { ...tx, approval };
  });
}

/** Moves `amountWei` of unlocked stake into unbonding. */
export async function requestUnstake(
  client: ChainClient,
  params: { amountWei: bigint },
): Promise<TxResult> {
  return await send(client, {
    address: client.addresses.staking,
    abi: stakingAbi,
    functionName: "requestUnstake",
    args: [params.amountWei],
    action: "staking.requestUnstake",
  });
}

/** Withdraws unbonded stake once the unbonding delay has passed. */
export async function withdrawStake(client: ChainClient): Promise<TxResult> {
  return await send(client, {
    address: client.addresses.staking,
    abi: stakingAbi,
    functionName: "withdraw",
    action: "staking.withdraw",
  });
}

/** An account's stake. */
export interface StakeView {
  /** Active stake, locked part included. */
  stakedWei: bigint;
  /** Part of the stake backing jobs or audits. */
  lockedWei: bigint;
  /** Stake on its way out. */
  unbondingWei: bigint;
  /** When the unbonding stake can be withdrawn, unix seconds (0 when none). */
  releaseAt: bigint;
}

/** Reads the stake of `account` (default: the client's account). */
export async function getStake(client: ChainClient, account?: Address): Promise<StakeView> {
  const who = account ?? client.account;
  const [[stakedWei, lockedWei], [unbondingWei, releaseAt]] = await Promise.all([
    client.public.readContract({
      address: client.addresses.staking,
      abi: stakingAbi,
      functionName: "stakeOf",
      args: [who],
    }),
    client.public.readContract({
      address: client.addresses.staking,
      abi: stakingAbi,
      functionName: "unbondingOf",
      args: [who],
    }),
  ]);
  return { stakedWei, lockedWei, unbondingWei, releaseAt };
}

/**
 * Locks on `account` (default: the client's) that a slash already took, wei: the contracts holding
 * them can still unlock them in full, but they release no stake. A slash takes free stake first,
 * so this is non-zero only after a penalty larger than the free stake.
 *
 * @example
 * ```ts
 * import { getLockShortfall } from "./staking.ts";
 * declare const client: import("../client.ts").ChainClient;
 * if (await getLockShortfall(client) > 0n) console.log("a slash reached stake backing jobs");
 * ```
 */
export async function getLockShortfall(client: ChainClient, account?: Address): Promise<bigint> {
  return await client.public.readContract({
    address: client.addresses.staking,
    abi: stakingAbi,
    functionName: "lockShortfallOf",
    args: [account ?? client.account],
  });
}
