/**
 * Verifier registry actions: register as a staked verifier, leave, and read who may be drawn to
 * audit a job. The draw itself is a pure function of chain data (`selectVerifiers` in
 * `lib/proof/audit.ts`); this module only reads and writes the registry.
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
 * (`VerifierStakeTooLow` otherwise) and must not be registered already.
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

/** Removes the client's account from the verifier registry (its stake stays where it is). */
export async function deregisterVerifier(client: ChainClient): Promise<TxResult> {
  return await send(client, {
    address: client.addresses.verifierRegistry,
    abi: verifierRegistryAbi,
    functionName: "deregisterVerifier",
    action: "verifiers.deregister",
  });
}

/** Options of {@linkcode listVerifiers}. */
export interface ListVerifiersParams {
  /**
   * Only verifiers whose active stake meets the minimum now (the candidates of a draw), or every
   * registered one. Default true.
   */
  eligibleOnly?: boolean;
  /** Read the registry as of this block (a draw reads it at the commit's block). Default: latest. */
  blockNumber?: bigint;
}

/**
 * Registered verifiers, in registry order: by default the eligible ones, which are the candidates
 * `selectVerifiers` draws a job's auditors from.
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
