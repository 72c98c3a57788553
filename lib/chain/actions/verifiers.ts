/**
 * Verifier registry actions: register as a staked verifier, leave, evict an under-staked entry,
 * and read who may be drawn to audit a job or sit on a committee. The draw itself is a pure
 * function of chain data (`selectVerifiers` in `lib/proof/audit.ts`); this module only reads and
 * writes the registry.
 *
 * The registry is bounded but not lockable by sybils: an entry whose active stake fell below the
 * minimum can be evicted by anyone, a newcomer to a full registry takes the slot of such an entry
 * or of the lowest-staked one if its own stake is higher, and a new entry is drawable only after
 * the governed warm-up (`contracts/VerifierRegistry.sol`).
 *
 * @module
 */

import type { Address } from "../types.ts";
import { verifierRegistryAbi } from "../artifacts/VerifierRegistry.ts";
import type { ChainClient } from "../client.ts";
import { send, type TxResult } from "../transact.ts";
import { toChainError } from "../revert.ts";

/**
 * Registers the client's account as a verifier; it needs the registry's minimum of active stake
 * (`VerifierStakeTooLow` otherwise) and must not be registered already. In a full registry it
 * takes the slot of an under-staked entry, or of the lowest-staked one if its own stake is strictly
 * higher (`VerifierRegistryFull` otherwise). It is drawable once the warm-up has passed.
 *
 * @example
 * ```ts
 * import { registerVerifier } from "./verifiers.ts";
 * import { stake } from "./staking.ts";
 * declare const client: import("../client.ts").ChainClient;
 * await stake(client, { amountWei: 100n * 10n ** 18n });
 * await registerVerifier(client);
 * ```
 */
export async function registerVerifier(client: ChainClient): Promise<TxResult> {
  return await send(client, {
    address: client.addresses.verifierRegistry,
    abi: verifierRegistryAbi,
    functionName: "registerVerifier",
    action: "verifiers.register",
  });
}

/**
 * Registers the client's account for referee committees only: the same stake, warm-up and
 * eviction rules as {@linkcode registerVerifier}, but it is never drawn to audit commits (it runs
 * no audits), only to rule on disputes.
 *
 * @example
 * ```ts
 * import { registerReferee } from "./verifiers.ts";
 * declare const client: import("../client.ts").ChainClient;
 * await registerReferee(client);
 * ```
 */
export async function registerReferee(client: ChainClient): Promise<TxResult> {
  return await send(client, {
    address: client.addresses.verifierRegistry,
    abi: verifierRegistryAbi,
    functionName: "registerReferee",
    action: "verifiers.registerReferee",
  });
}

/** Removes the client's account from the verifier registry (its stake stays where it is). */
export async function deregisterVerifier(client: ChainClient): Promise<TxResult> {
  return await send(client, {
    address: client.addresses.verifierRegistry,
    abi: verifierRegistryAbi,
    functionName: "deregisterVerifier",
    action: "verifiers.deregister",
  });
}

/**
 * Removes `account` from the verifier registry because its active stake is below the minimum;
 * anyone may (`VerifierNotEvictable` while its stake meets the minimum).
 *
 * @example
 * ```ts
 * import { evictVerifier } from "./verifiers.ts";
 * declare const client: import("../client.ts").ChainClient;
 * declare const unstaked: `0x${string}`;
 * await evictVerifier(client, { account: unstaked });
 * ```
 */
export async function evictVerifier(
  client: ChainClient,
  params: { account: Address },
): Promise<TxResult> {
  return await send(client, {
    address: client.addresses.verifierRegistry,
    abi: verifierRegistryAbi,
    functionName: "evict",
    args: [params.account],
    action: "verifiers.evict",
  });
}

/** Options of {@linkcode listVerifiers}. */
export interface ListVerifiersParams {
  /**
   * Only verifiers that can be drawn now (active stake at least the minimum, warm-up passed: the
   * candidates of a draw), or every registered one. Default true.
   */
  eligibleOnly?: boolean;
  /** Read the registry as of this block (a draw reads it at the commit's block). Default: latest. */
  blockNumber?: bigint;
}

/**
 * Registered verifiers, in registry order: by default the drawable ones (stake and warm-up), which
 * are the candidates `selectVerifiers` draws a job's auditors from.
 *
 * @example
 * ```ts
 * import { listVerifiers } from "./verifiers.ts";
 * declare const client: import("../client.ts").ChainClient;
 * const candidates = await listVerifiers(client, { blockNumber: 123n });
 * ```
 */
export async function listVerifiers(
  client: ChainClient,
  params: ListVerifiersParams = {},
): Promise<Address[]> {
  try {
    const accounts = await client.public.readContract({
      address: client.addresses.verifierRegistry,
      abi: verifierRegistryAbi,
      functionName: params.eligibleOnly === false ? "verifiers" : "activeVerifiers",
      ...(params.blockNumber === undefined ? {} : { blockNumber: params.blockNumber }),
    });
    return [...accounts];
  } catch (error) {
    throw toChainError(error, "verifiers.list");
  }
}

/** Whether `account` (default: the client's) is registered as a verifier, whatever its stake. */
export async function isRegisteredVerifier(
  client: ChainClient,
  account?: Address,
): Promise<boolean> {
  try {
    return await client.public.readContract({
      address: client.addresses.verifierRegistry,
      abi: verifierRegistryAbi,
      functionName: "isVerifier",
      args: [account ?? client.account],
    });
  } catch (error) {
    throw toChainError(error, "verifiers.isRegistered");
  }
}

/** Active stake a verifier needs to register and to be drawn, wei (a governed parameter). */
export async function minVerifierStake(client: ChainClient): Promise<bigint> {
  try {
    return await client.public.readContract({
      address: client.addresses.verifierRegistry,
      abi: verifierRegistryAbi,
      functionName: "minVerifierStake",
    });
  } catch (error) {
    throw toChainError(error, "verifiers.minStake");
  }
}

/** One candidate of a stake-weighted committee draw. */
export interface DrawCandidate {
  /** The verifier. */
  account: Address;
  /** Its active stake at the block read, wei: its weight in the draw. */
  stakeWei: bigint;
}

/**
 * The pool a committee is drawn from, in registry order: registered verifiers whose active stake
 * meets the minimum and whose warm-up has passed, each with its active stake.
 *
 * @example
 * ```ts
 * import { drawPool } from "./verifiers.ts";
 * declare const client: import("../client.ts").ChainClient;
 * const pool = await drawPool(client);
 * const totalWei = pool.reduce((sum, c) => sum + c.stakeWei, 0n);
 * ```
 */
export async function drawPool(
  client: ChainClient,
  params: { blockNumber?: bigint } = {},
): Promise<DrawCandidate[]> {
  try {
    const [accounts, stakes] = await client.public.readContract({
      address: client.addresses.verifierRegistry,
      abi: verifierRegistryAbi,
      functionName: "drawPool",
      ...(params.blockNumber === undefined ? {} : { blockNumber: params.blockNumber }),
    });
    return accounts.map((account, i) => ({ account, stakeWei: stakes[i] }));
  } catch (error) {
    throw toChainError(error, "verifiers.drawPool");
  }
}

/**
 * When `account` (default: the client's) registered, unix seconds; undefined when not registered.
 * It is drawable from `registeredAt + warmup`.
 *
 * @example
 * ```ts
 * import { verifierRegisteredAt, verifierWarmup } from "./verifiers.ts";
 * declare const client: import("../client.ts").ChainClient;
 * const at = await verifierRegisteredAt(client);
 * if (at !== undefined) console.log("drawable from", at + await verifierWarmup(client));
 * ```
 */
export async function verifierRegisteredAt(
  client: ChainClient,
  account?: Address,
): Promise<bigint | undefined> {
  try {
    const at = await client.public.readContract({
      address: client.addresses.verifierRegistry,
      abi: verifierRegistryAbi,
      functionName: "registeredAt",
      args: [account ?? client.account],
    });
    return at === 0n ? undefined : at;
  } catch (error) {
    throw toChainError(error, "verifiers.registeredAt");
  }
}

/** Seconds after registering before a verifier can be drawn (a governed parameter). */
export async function verifierWarmup(client: ChainClient): Promise<bigint> {
  try {
    return await client.public.readContract({
      address: client.addresses.verifierRegistry,
      abi: verifierRegistryAbi,
      functionName: "warmup",
    });
  } catch (error) {
    throw toChainError(error, "verifiers.warmup");
  }
}
