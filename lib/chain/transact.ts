/**
 * The one way this layer sends a transaction: write, wait for the receipt, report gas, and turn
 * any revert into a typed `ChainError`. Actions build on it.
 *
 * @module
 */

import { maxUint256, parseEventLogs } from "npm:viem@2.57.20";
import type { Abi, Address, Hex, TransactionReceipt } from "./types.ts";
import type { ChainError } from "../core/errors.ts";
import { tokenAbi } from "./artifacts/Token.ts";
import type { ChainClient } from "./client.ts";
import { MinedRevertError, toChainError } from "./revert.ts";

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
  /**
   * Gas limit floor, for a call whose cost depends on what lands before it in the same block
   * (a committee vote estimated before another vote, and mined after it, can be the one that
   * settles the dispute). Default: the estimate plus its margin only.
   */
  minGas?: bigint;
}

/**
 * Least gas added over an estimate: two storage slots created that the estimate did not see
 * (SSTORE zero to non-zero on a cold slot, 22,100 gas each under EIP-2200 and EIP-2929), with
 * change. A transaction is estimated in one block context and mined in a later one; when the
 * timestamp moves on in between, ERC20Votes pushes a new checkpoint (a burn's total supply, each
 * delegate's votes: two at most per token movement) where the estimate updated the last one in
 * place. 20% of a small transaction's estimate (a 52,000-gas burn) does not cover that.
 */
const MIN_GAS_MARGIN = 50_000n;

/** Runs callbacks one after another per key, in the order they were queued. */
function turnsByKey(): <T>(key: string, run: () => Promise<T>) => Promise<T> {
  /** The last callback queued per key (resolves, never rejects). */
  const last = new Map<string, Promise<void>>();
  return async (key, run) => {
    const before = last.get(key) ?? Promise.resolve();
    let done!: () => void;
    const mine = before.then(() => new Promise<void>((resolve) => done = resolve));
    last.set(key, mine);
    await before;
    try {
      return await run();
    } finally {
      done();
      if (last.get(key) === mine) last.delete(key);
    }
  };
}

const sendTurns = turnsByKey();
const allowanceTurns = turnsByKey();

function accountKey(client: ChainClient): string {
  const account = client.wallet.account?.address ?? "";
  return `${client.wallet.chain?.id ?? ""}:${account.toLowerCase()}`;
}

/**
 * Runs `submit` (which signs and hands one transaction to the node) after every submission this
 * process queued before it for the same account on the same chain. A transaction's nonce is read
 * when it is signed: two sent at once from one account (a provider claiming one job while it
 * commits another) would otherwise read the same nonce, and the second would fail with "nonce
 * too low". The turn ends once the node has the transaction; receipts are awaited outside it.
 */
export function inSendTurn<T>(client: ChainClient, submit: () => Promise<T>): Promise<T> {
  return sendTurns(accountKey(client), submit);
}

/**
 * Runs `sequence` (which approves a contract with {@linkcode ensureAllowance} and then calls it
 * to pull the tokens) after every such sequence this process queued before it for the same
 * account. Two at once would each see the allowance they need, or approve over each other, and
 * the second pull would fail with `ERC20InsufficientAllowance`.
 *
 * @example
 * ```ts ignore
 * await inAllowanceTurn(client, async () => {
 *   await ensureAllowance(client, { spender, amountWei });
 *   return await send(client, { address: spender, abi, functionName: "deposit", action: "x" });
 * });
 * ```
 */
export function inAllowanceTurn<T>(client: ChainClient, sequence: () => Promise<T>): Promise<T> {
  return allowanceTurns(accountKey(client), sequence);
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
    hash = await inSendTurn(client, async () => {
      // Estimating first surfaces a revert with its data (and so its custom error) before
      // anything is sent; a node would otherwise mine the failing transaction and keep only its
      // status. Inside the turn, it sees the state after this account's earlier transactions.
      const estimate = await client.public.estimateContractGas(
        call as Parameters<typeof client.public.estimateContractGas>[0],
      );
      const gas = request.minGas !== undefined && request.minGas > estimate
        ? request.minGas
        : estimate;
      return await client.wallet.writeContract(
        {
          ...call,
          chain: client.wallet.chain,
          gas: gas + (gas / 5n > MIN_GAS_MARGIN ? gas / 5n : MIN_GAS_MARGIN),
        } as Parameters<typeof client.wallet.writeContract>[0],
      );
    });
  } catch (error) {
    throw toChainError(error, request.action);
  }
  return await receiptOf(client, hash, request.action);
}

/**
 * Waits for the receipt of `hash`; fails with a {@linkcode MinedRevertError} when the transaction
 * was mined reverted, carrying the revert recovered by replaying it on the state before its block
 * (or, when it passes there, on the state its block left).
 */
export async function receiptOf(client: ChainClient, hash: Hex, action: string): Promise<TxResult> {
  const receipt = await client.public.getTransactionReceipt({ hash }).catch(() =>
    client.public.waitForTransactionReceipt({ hash, timeout: 60_000 })
  );
  if (receipt.status !== "success") {
    const tx = await client.public.getTransaction({ hash });
    const replay = async (blockNumber: bigint): Promise<ChainError | undefined> => {
      try {
        await client.public.call({
          account: tx.from,
          to: tx.to,
          data: tx.input,
          value: tx.value,
          gas: tx.gas,
          blockNumber,
        });
        return undefined;
      } catch (error) {
        return toChainError(error, action);
      }
    };
    // Before its block: the call was wrong on the state it was estimated on. Otherwise on the
    // state its block left: another transaction mined first in the block made it fail.
    const before = await replay(receipt.blockNumber - 1n);
    const after = before ? undefined : await replay(receipt.blockNumber);
    throw new MinedRevertError({
      action,
      hash,
      blockNumber: receipt.blockNumber,
      gasUsed: receipt.gasUsed,
      gasLimit: tx.gas,
      reason: before ?? after,
      ...(after ? { replayedOn: "after" as const } : {}),
    });
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
