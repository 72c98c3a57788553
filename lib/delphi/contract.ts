/**
 * The Delphi contract as the market actions see it: its address in a client's protocol
 * addresses, a read and a write that turn any failure into a typed {@linkcode MarketError}, and
 * the protocol constants the client mirrors (checked against the contract by the tests).
 *
 * @module
 */

import type { Address } from "../chain/types.ts";
import { ChainError } from "../core/errors.ts";
import { delphiAbi } from "../chain/artifacts/Delphi.ts";
import type { ChainClient } from "../chain/client.ts";
import { send, type TxResult } from "../chain/transact.ts";
import { toMarketError } from "./errors.ts";

/** Shortest challenge window of an evaluation job, seconds (`MIN_EVAL_CHALLENGE_WINDOW`). */
export const MIN_EVAL_CHALLENGE_WINDOW_SEC = 3_600;
/** Shortest time evaluators get after the close, seconds (`MIN_EVAL_TIMEOUT`). */
export const MIN_EVAL_TIMEOUT_SEC = 3_600;
/**
 * Time a market's schedule keeps after its evaluation's last challenge window could end, for a
 * dispute to play out and anyone to resolve, seconds (`SETTLEMENT_MARGIN`).
 */
export const EVAL_SETTLEMENT_MARGIN_SEC = 86_400;
/** Most evaluation replicas per market (`MAX_EVAL_REPLICAS`). */
export const MAX_EVAL_REPLICAS = 8;

/** The Delphi contract's address; fails with `DELPHI_NOT_DEPLOYED` when the client has none. */
export function delphiAddress(client: ChainClient): Address {
  const address = client.addresses.delphi;
  if (!address) {
    throw new ChainError(
      "DELPHI_NOT_DEPLOYED",
      "these protocol addresses have no Delphi contract",
      { value: client.addresses },
    );
  }
  return address;
}

/** Calls a Delphi view; a revert becomes a {@linkcode MarketError} naming `action`. */
export async function readDelphi<T>(
  client: ChainClient,
  functionName: string,
  args: readonly unknown[],
  action: string,
): Promise<T> {
  try {
    return await client.public.readContract(
      {
        address: delphiAddress(client),
        abi: delphiAbi,
        functionName,
        args,
      } as Parameters<typeof client.public.readContract>[0],
    ) as T;
  } catch (error) {
    throw toMarketError(error, action);
  }
}

/** Sends a Delphi transaction; a revert becomes a {@linkcode MarketError} naming `action`. */
export async function writeDelphi(
  client: ChainClient,
  functionName: string,
  args: readonly unknown[],
  action: string,
): Promise<TxResult> {
  try {
    return await send(client, {
      address: delphiAddress(client),
      abi: delphiAbi,
      functionName,
      args,
      action,
    });
  } catch (error) {
    throw toMarketError(error, action);
  }
}
