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

/**
 * The TypeScript type a Solidity value of ABI type `type` decodes to (viem's, with abitype's
 * defaults: integers of up to 48 bits as numbers, wider ones as bigints; arrays as arrays).
 */
export type SolidityValue<type extends string> = type extends `${infer item}[${string}]`
  ? readonly SolidityValue<item>[]
  : type extends "address" ? Address
  : type extends "bool" ? boolean
  : type extends "string" ? string
  : type extends `bytes${string}` ? Hex
  : type extends `${"u" | ""}int${infer bits}`
    ? bits extends "8" | "16" | "24" | "32" | "40" | "48" ? number : bigint
  : unknown;

/** The name of an event of `abi` (any string when the ABI is not `as const`). */
export type ContractEventName<abi extends Abi = Abi> = Extract<
  abi[number],
  { type: "event" }
>["name"];

/** The ABI entry of event `name` of `abi`. */
export type AbiEventOf<abi extends Abi, name extends string> = Extract<
  abi[number],
  { type: "event"; name: name }
>;

/** The decoded arguments of event `name` of `abi`, by argument name. */
export type EventArgs<abi extends Abi, name extends string> = AbiEventOf<abi, name> extends
  { inputs: readonly (infer input)[] } ? {
    [i in input as i extends { name: infer n extends string } ? n : never]: i extends
      { type: infer t extends string } ? SolidityValue<t> : unknown;
  }
  : Record<string, unknown>;

/**
 * A filter on the indexed arguments of event `name` of `abi` (of any of its events, for a union
 * of names): a log matches when each given argument equals the value, or one of the values.
 */
export type IndexedArgsFilter<abi extends Abi, name extends string> = AbiEventOf<abi, name> extends
  { inputs: readonly (infer input)[] } ? {
    [
      i in input as i extends { name: infer n extends string; indexed: true } ? n : never
    ]?: i extends { type: infer t extends string }
      ? SolidityValue<t> | readonly SolidityValue<t>[] | null
      : unknown;
  }
  : Record<string, unknown>;

/** Where a mined log is: its contract, block, transaction and index in the block. */
export interface LogPosition {
  /** The contract that emitted it. */
  address: Address;
  /** Its block. */
  blockNumber: bigint;
  /** Its block's hash. */
  blockHash: Hex;
  /** Its index among the block's logs. */
  logIndex: number;
  /** The transaction that emitted it. */
  transactionHash: Hex;
  /** That transaction's index in the block. */
  transactionIndex: number;
}

/** Event `name` of `abi` with its decoded arguments; a union, discriminated by name, for several. */
export type DecodedEvent<abi extends Abi, name extends string> = name extends string
  ? { eventName: name; args: EventArgs<abi, name> }
  : never;

/**
 * A mined log decoded against `abi`: `eventName` and `args` typed by the ABI (a union over the
 * ABI's events when `eventName` is not fixed), with its position on the chain.
 */
export type DecodedLog<
  abi extends Abi,
  eventName extends ContractEventName<abi> | undefined = undefined,
> =
  & LogPosition
  & DecodedEvent<abi, eventName extends string ? eventName : ContractEventName<abi>>;
