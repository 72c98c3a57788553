/**
 * Peer identity: derive a libp2p peer id from a secp256k1 key, sign the binding of that peer id to
 * an Ethereum account, and bind it on-chain in `Staking`.
 *
 * @module
 */

import { hashTypedData, keccak256, toHex } from "npm:viem@2.57.20";
import type { Address, Hex } from "../types.ts";
import { privateKeyToAccount, sign } from "npm:viem@2.57.20/accounts";
import { stakingAbi } from "../artifacts/Staking.ts";
import type { ChainClient } from "../client.ts";
import { send, type TxResult } from "../transact.ts";

/** Protobuf + identity multihash prefix of a secp256k1 libp2p public key (libp2p peer-ids spec). */
const PEER_ID_PREFIX = [0x00, 0x25, 0x08, 0x02, 0x12, 0x21];

/**
 * The libp2p peer id bytes of a secp256k1 public key given uncompressed (`0x04 || x || y`, or the
 * 64 bytes `x || y`).
 */
export function peerIdFromPublicKey(publicKey: Hex): Uint8Array {
  const hex = publicKey.slice(2);
  const xy = hex.length === 130 ? hex.slice(2) : hex;
  const x = xy.slice(0, 64);
  const yLast = parseInt(xy.slice(126, 128), 16);
  const out = new Uint8Array(39);
  out.set(PEER_ID_PREFIX, 0);
  out[6] = (yLast & 1) === 1 ? 0x03 : 0x02;
  for (let i = 0; i < 32; i++) out[7 + i] = parseInt(x.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/** Base58btc text of peer id bytes (the `16Uiu2...` form libp2p prints for secp256k1 keys). */
export function peerIdToString(peerId: Uint8Array): string {
  let n = 0n;
  for (const b of peerId) n = (n << 8n) | BigInt(b);
  let out = "";
  while (n > 0n) {
    out = BASE58[Number(n % 58n)] + out;
    n /= 58n;
  }
  for (const b of peerId) {
    if (b !== 0) break;
    out = "1" + out;
  }
  return out;
}

/**
 * What a peer key signs to bind its peer id to `account` (EIP-712, domain of the Staking
 * contract): the key's binding `nonce` (`peerNonce` on-chain) and a `deadline` make each
 * signature single-use and short-lived.
 */
export function peerBindingDigest(
  params: {
    account: Address;
    peerId: Uint8Array;
    staking: Address;
    chainId: number;
    nonce: bigint;
    deadline: bigint;
  },
): Hex {
  return hashTypedData({
    domain: {
      name: "AIGENSYN Staking",
      version: "1",
      chainId: params.chainId,
      verifyingContract: params.staking,
    },
    types: {
      PeerBinding: [
        { name: "account", type: "address" },
        { name: "peerIdHash", type: "bytes32" },
        { name: "nonce", type: "uint256" },
        { name: "deadline", type: "uint256" },
      ],
    },
    primaryType: "PeerBinding",
    message: {
      account: params.account,
      peerIdHash: keccak256(params.peerId),
      nonce: params.nonce,
      deadline: params.deadline,
    },
  });
}

/** Seconds a peer binding signature stays valid. */
const BINDING_VALIDITY_SEC = 3_600n;

/** Result of {@linkcode bindPeer}. */
export interface BindPeerResult extends TxResult {
  /** Peer id bytes bound. */
  peerId: Uint8Array;
  /** Its base58btc text. */
  peerIdText: string;
}

/**
 * Binds the libp2p peer id of `peerPrivateKey` (a secp256k1 key) to the client's account.
 *
 * @example
 * ```ts
 * import { bindPeer } from "./identity.ts";
 * import { generatePrivateKey } from "viem/accounts";
 * declare const client: import("../client.ts").ChainClient;
 * const { peerIdText } = await bindPeer(client, { peerPrivateKey: generatePrivateKey() });
 * ```
 */
export async function bindPeer(
  client: ChainClient,
  params: { peerPrivateKey: Hex },
): Promise<BindPeerResult> {
  const publicKey = privateKeyToAccount(params.peerPrivateKey).publicKey;
  const peerId = peerIdFromPublicKey(publicKey);
  const nonce = await client.public.readContract({
    address: client.addresses.staking,
    abi: stakingAbi,
    functionName: "peerNonce",
    args: [keccak256(peerId)],
  });
  // Valid for an hour of chain time: long enough to be mined, too short to be kept for later.
  const deadline = (await client.public.getBlock({ blockTag: "latest" })).timestamp +
    BINDING_VALIDITY_SEC;
  const digest = peerBindingDigest({
    account: client.account,
    peerId,
    staking: client.addresses.staking,
    chainId: client.chainId,
    nonce,
    deadline,
  });
  const signature = await sign({ hash: digest, privateKey: params.peerPrivateKey, to: "hex" });
  const tx = await send(client, {
    address: client.addresses.staking,
    abi: stakingAbi,
    functionName: "bindPeer",
    args: [`0x${publicKey.slice(4)}`, signature, deadline],
    action: "staking.bindPeer",
  });
  return { ...tx, peerId, peerIdText: peerIdToString(peerId) };
}

/** The account a peer id is bound to, or undefined. */
export async function ownerOfPeer(
  client: ChainClient,
  peerId: Uint8Array,
): Promise<Address | undefined> {
  const owner = await client.public.readContract({
    address: client.addresses.staking,
    abi: stakingAbi,
    functionName: "ownerOfPeer",
    args: [toHex(peerId)],
  });
  return /^0x0{40}$/.test(owner) ? undefined : owner;
}
