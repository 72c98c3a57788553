/**
 * The chain types the coordination layer's public signatures use, declared here so its API and
 * docs stand on their own. Hex strings and addresses are structural (viem's values fit them
 * as they are); ABIs, receipts, accounts and clients alias viem's.
 *
 * @module
 */

import type * as viem from "npm:viem@2.57.20";

/** A 0x-prefixed hex string (hashes, calldata, signatures, snapshot ids). */
export type Hex = `0x${string}`;

/** A 20-byte account or contract address, 0x-prefixed hex (checksummed or not). */
export type Address = `0x${string}`;

/** A contract's JSON ABI. */
export type Abi = viem.Abi;

/** A mined transaction's receipt: status, gas used, block, logs. */
export type TransactionReceipt = viem.TransactionReceipt;

/** A signing account: a local key (signs in process) or a JSON-RPC account the node unlocked. */
export type Account = viem.Account;

/** A viem public client (reads, receipts, logs) bound to a chain. */
export type PublicClient = viem.PublicClient;

/** A viem wallet client bound to a chain and one account. */
export type WalletClient = viem.WalletClient;
