/**
 * Shared test helpers for the chain tests: run a step from a snapshot so steps do not see each
 * other's state, and assert that a promise fails with a given custom error.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type Hex, keccak256, toBytes } from "viem";
import { ContractRevertError, type Devnet } from "../../lib/chain/mod.ts";

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
