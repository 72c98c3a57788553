/**
 * Shared test helpers for the chain tests: run a step from a snapshot so steps do not see each
 * other's state, assert that a promise fails with a given custom error, act as governance without
 * a vote, and put several transactions in one block.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type Hex, keccak256, toBytes, type TransactionReceipt } from "viem";
import {
  ChainError,
  ContractRevertError,
  type Devnet,
  type ProtocolClient,
} from "../../lib/chain/mod.ts";

/** Runs `fn` and reverts the chain to the state before it, whatever happens. */
export async function isolated(devnet: Devnet, fn: () => Promise<void>): Promise<void> {
  const id = await devnet.snapshot();
  try {
    await fn();
  } finally {
    await devnet.revert(id);
  }
}

/** Asserts that `promise` rejects with the custom error `errorName`, decoded with a hint. */
export async function assertReverts(
  promise: Promise<unknown>,
  errorName: string,
): Promise<ContractRevertError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ContractRevertError, `expected ${errorName}, got ${error}`);
    assert.equal(error.errorName, errorName, error.message);
    assert.match(error.message, new RegExp(`reverted with ${errorName}: \\S`));
    return error;
  }
  assert.fail(`expected a revert with ${errorName}, but the call succeeded`);
}

/** A deterministic 32-byte id from a label. */
export function id(label: string): Hex {
  return keccak256(toBytes(label));
}

/** One AIGENSYN in wei. */
export const TOKEN = 10n ** 18n;

/** Calls an anvil JSON-RPC method on the devnet. */
export async function anvilRpc<T>(devnet: Devnet, method: string, params: unknown[]): Promise<T> {
  const response = await fetch(devnet.rpcUrl, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  const body = await response.json() as { result?: T; error?: { message: string } };
  if (body.error) throw new ChainError("RPC_FAILED", `${method} failed: ${body.error.message}`);
  return body.result as T;
}

/**
 * A client acting as the timelock, which owns every parameter: anvil impersonates it (and gives it
 * gas money), so a test reaches a governed function without a vote. Governance's own path is
 * tested in governance_test.ts.
 */
export async function asGovernance(devnet: Devnet): Promise<ProtocolClient> {
  const timelock = devnet.addresses.timelock;
  await anvilRpc(devnet, "anvil_impersonateAccount", [timelock]);
  await anvilRpc(devnet, "anvil_setBalance", [timelock, `0x${(10n ** 20n).toString(16)}`]);
  return devnet.deployer.as(timelock);
}

/**
 * Mines the transactions `submit` sends, in its order, in one block: automining is off while it
 * runs (and back on however it ends). Each transaction needs an explicit gas limit, since an
 * estimate would run against a state without the ones before it. Returns the receipts in order.
 */
export async function inOneBlock(
  devnet: Devnet,
  submit: () => Promise<Hex[]>,
): Promise<TransactionReceipt[]> {
  await anvilRpc(devnet, "evm_setAutomine", [false]);
  let hashes: Hex[];
  try {
    hashes = await submit();
    await anvilRpc(devnet, "evm_mine", []);
  } finally {
    await anvilRpc(devnet, "evm_setAutomine", [true]);
  }
  const receipts = await Promise.all(
    hashes.map((hash) => devnet.deployer.public.getTransactionReceipt({ hash })),
  );
  assert.equal(new Set(receipts.map((r) => r.blockNumber)).size, 1, "not mined in one block");
  return receipts;
}

/** The revert data of a mined transaction, from anvil's call tracer. */
export async function revertDataOf(devnet: Devnet, hash: Hex): Promise<Hex> {
  const trace = await anvilRpc<{ output?: Hex; error?: string }>(
    devnet,
    "debug_traceTransaction",
    [hash, { tracer: "callTracer" }],
  );
  assert.ok(trace.error && trace.output, `transaction ${hash} did not revert with data`);
  return trace.output;
}
