/**
 * AIGENSYN token actions: balances, transfers, approvals, supply accounting.
 *
 * @module
 */

import type { Address } from "../types.ts";
import { tokenAbi } from "../artifacts/Token.ts";
import type { ChainClient } from "../client.ts";
import { send, type TxResult } from "../transact.ts";

/** AIGENSYN (or `token`) balance of `account` (default: the client's account). */
export async function balanceOf(
  client: ChainClient,
  params: { account?: Address; token?: Address } = {},
): Promise<bigint> {
  return await client.public.readContract({
    address: params.token ?? client.addresses.token,
    abi: tokenAbi,
    functionName: "balanceOf",
    args: [params.account ?? client.account],
  });
}

/** Transfers `amountWei` of AIGENSYN (or `token`) to `to`. */
export async function transfer(
  client: ChainClient,
  params: { to: Address; amountWei: bigint; token?: Address },
): Promise<TxResult> {
  return await send(client, {
    address: params.token ?? client.addresses.token,
    abi: tokenAbi,
    functionName: "transfer",
    args: [params.to, params.amountWei],
    action: "token.transfer",
  });
}

/** Approves `spender` to pull `amountWei` of AIGENSYN (or `token`). */
export async function approve(
  client: ChainClient,
  params: { spender: Address; amountWei: bigint; token?: Address },
): Promise<TxResult> {
  return await send(client, {
    address: params.token ?? client.addresses.token,
    abi: tokenAbi,
    functionName: "approve",
    args: [params.spender, params.amountWei],
    action: "token.approve",
  });
}

/** Supply accounting of AIGENSYN: minted once, burned since, and what is left. */
export interface SupplyView {
  /** Minted at deployment. */
  mintedWei: bigint;
  /** Burned so far. */
  burnedWei: bigint;
  /** Current total supply. */
  totalSupplyWei: bigint;
}

/** Reads minted, burned and total supply. */
export async function supply(client: ChainClient): Promise<SupplyView> {
  const read = (functionName: "totalMinted" | "totalBurned" | "totalSupply") =>
    client.public.readContract({ address: client.addresses.token, abi: tokenAbi, functionName });
  const [mintedWei, burnedWei, totalSupplyWei] = await Promise.all([
    read("totalMinted"),
    read("totalBurned"),
    read("totalSupply"),
  ]);
  return { mintedWei, burnedWei, totalSupplyWei };
}
