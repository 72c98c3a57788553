/**
 * The one way this layer sends a transaction: write, wait for the receipt, report gas, and turn
 * any revert into a typed `ChainError`. Actions build on it.
 *
 * @module
 */

import {
  type Abi,
  type Address,
  type Hex,
  maxUint256,
  parseEventLogs,
  type TransactionReceipt,
} from "viem";
import { ChainError } from "../core/errors.ts";
import { tokenAbi } from "./artifacts/Token.ts";
import type { ChainClient } from "./client.ts";
import { toChainError } from "./revert.ts";

/** What every write action returns. */
export interface TxResult {
  /** Transaction hash. */
  hash: Hex;
  /** Gas the transaction used. */
  gasUsed: bigint;
  /** The full receipt (logs, block). */
  receipt: TransactionReceipt;
}

/** A contract write, as `send` takes it. */
export interface WriteRequest {
  /** Contract address. */
  address: Address;
  /** Contract ABI. */
  abi: Abi;
  /** Function to call. */
  functionName: string;
  /** Call arguments. */
  args?: readonly unknown[];
  /** Name of the action, for error messages (e.g. `jobs.claim`). */
  action: string;
}

/** Sends a contract write as the client's account and waits for its receipt. */
export async function send(client: ChainClient, request: WriteRequest): Promise<TxResult> {
  const call = {
    address: request.address,
    abi: request.abi,
    functionName: request.functionName,
    args: request.args ?? [],
    account: client.wallet.account,
  };
  let hash: Hex;
  try {
    // Estimating first surfaces a revert with its data (and so its custom error) before anything
    // is sent; a node would otherwise mine the failing transaction and keep only its status.
    const gas = await client.public.estimateContractGas(
      call as Parameters<typeof client.public.estimateContractGas>[0],
    );
    hash = await client.wallet.writeContract(
      {
        ...call,
        chain: client.wallet.chain,
        gas: gas + gas / 5n,
      } as Parameters<typeof client.wallet.writeContract>[0],
    );
  } catch (error) {
    throw toChainError(error, request.action);
  }
  return await receiptOf(client, hash, request.action);
}

/** Waits for the receipt of `hash` and fails with a `ChainError` when the transaction reverted. */
export async function receiptOf(client: ChainClient, hash: Hex, action: string): Promise<TxResult> {
  const receipt = await client.public.getTransactionReceipt({ hash }).catch(() =>
    client.public.waitForTransactionReceipt({ hash, timeout: 60_000 })
  );
  if (receipt.status !== "success") {
    // Replay the call on the state before its block to recover the revert reason.
    const tx = await client.public.getTransaction({ hash });
    try {
      await client.public.call({
        account: tx.from,
        to: tx.to,
        data: tx.input,
        value: tx.value,
        gas: tx.gas,
        blockNumber: receipt.blockNumber - 1n,
      });
    } catch (error) {
      throw toChainError(error, `${action} (mined in block ${receipt.blockNumber}, tx ${hash})`);
    }
    throw new ChainError(
      "TX_REVERTED",
      `${action} was mined but reverted (tx ${hash}, ${receipt.gasUsed} of ${tx.gas} gas used)`,
      { value: hash },
    );
  }
  return { hash, gasUsed: receipt.gasUsed, receipt };
}

/** Decoded events named `eventName` from a receipt. */
export function eventsOf<const abi extends Abi>(
  abi: abi,
  receipt: TransactionReceipt,
  eventName: string,
): { args: Record<string, unknown> }[] {
  return parseEventLogs({ abi, logs: receipt.logs }).filter((e) =>
    (e as { eventName: string }).eventName === eventName
  ) as unknown as { args: Record<string, unknown> }[];
}

/** Options of {@linkcode ensureAllowance}. */
export interface AllowanceParams {
  /** Token to approve; default AIGENSYN. */
  token?: Address;
  /** Contract that will pull the tokens. */
  spender: Address;
  /** Amount it must be allowed to pull. */
  amountWei: bigint;
  /** Approve this much when short; default `amountWei` (pass `maxUint256` for a standing approval). */
  approveWei?: bigint;
}

/** Approves `spender` when its allowance is below `amountWei`; returns the approval, if any. */
export async function ensureAllowance(
  client: ChainClient,
  params: AllowanceParams,
): Promise<TxResult | undefined> {
  const token = params.token ?? client.addresses.token;
  const current = await client.public.readContract({
    address: token,
    abi: tokenAbi,
    functionName: "allowance",
    args: [client.account, params.spender],
  });
  if (current >= params.amountWei) return undefined;
  const amount = params.approveWei ?? params.amountWei;
  return await send(client, {
    address: token,
    abi: tokenAbi,
    functionName: "approve",
    args: [params.spender, amount > maxUint256 ? maxUint256 : amount],
    action: "token.approve",
  });
}
