/**
 * Node identity: one secp256k1 key that is both the node's libp2p peer id and (if the node wants)
 * its Ethereum account, persisted encrypted under the node's data directory.
 *
 * At rest the key lives in `<dataDir>/identity.json`, sealed with AES-256-GCM (WebCrypto) under a
 * key derived from a password with PBKDF2-HMAC-SHA256. The password comes from the caller or from
 * the `GENSYN_NODE_PASSWORD` environment variable. A {@link NodeIdentity} never prints its key:
 * `toString`, `toJSON` and Deno's inspector show the peer id only.
 *
 * The on-chain binding "this peer id belongs to this address" is {@link signPeerBinding}; its
 * message format is documented there so the `Staking` contract checks exactly the same bytes.
 *
 * @module
 */

import { generateKeyPair, privateKeyFromRaw } from "npm:@libp2p/crypto@5.1.23/keys";
import type { Address, Hex, PeerId, PrivateKey } from "./types.ts";
import { peerIdFromPrivateKey } from "npm:@libp2p/peer-id@6.0.15";
import { secp256k1 } from "npm:@noble/curves@2.4.0/secp256k1.js";
import { getAddress, keccak256, toBytes, toHex } from "npm:viem@2.57.20";
import { publicKeyToAddress, sign } from "npm:viem@2.57.20/accounts";
import { PeerError } from "../core/errors.ts";
import { writeJsonAtomic } from "../core/files.ts";

/** Name of the environment variable holding the identity password when none is passed. */
export const PASSWORD_ENV = "GENSYN_NODE_PASSWORD";

/** File name of the sealed key inside the data directory. */
export const IDENTITY_FILE = "identity.json";

/** Default PBKDF2 iteration count (OWASP 2023 guidance for PBKDF2-HMAC-SHA256). */
export const DEFAULT_PBKDF2_ITERATIONS = 600_000;

const inspect = Symbol.for("Deno.customInspect");
const nodeInspect = Symbol.for("nodejs.util.inspect.custom");

/**
 * A node's secp256k1 key with its libp2p peer id. The secret never appears in logs or JSON.
 *
 * @example
 * ```ts
 * import { NodeIdentity } from "./identity.ts";
 * const id = await NodeIdentity.generate();
 * console.log(`${id}`); // NodeIdentity(16Uiu2HAm...)
 * ```
 */
export class NodeIdentity {
  readonly #key: PrivateKey;
  /** The libp2p peer id derived from the key. */
  readonly peerId: PeerId;

  private constructor(key: PrivateKey) {
    if (key.type !== "secp256k1") {
      throw new PeerError(
        "PEER_IDENTITY_KEY_TYPE",
        `node identities are secp256k1 keys (got ${key.type}) so the chain can ecrecover them`,
      );
    }
    this.#key = key;
    this.peerId = peerIdFromPrivateKey(key);
  }

  /** A fresh random identity (not persisted). */
  static async generate(): Promise<NodeIdentity> {
    return new NodeIdentity(await generateKeyPair("secp256k1"));
  }

  /** An identity from 32 raw secp256k1 private key bytes. */
  static fromSecretKey(secret: Uint8Array): NodeIdentity {
    if (secret.length !== 32) {
      throw new PeerError(
        "PEER_IDENTITY_KEY_TYPE",
        `a secp256k1 secret key is 32 bytes, got ${secret.length}`,
      );
    }
    // Copy: libp2p keeps a reference to the bytes it is given, and callers wipe theirs.
    return new NodeIdentity(privateKeyFromRaw(new Uint8Array(secret)));
  }

  /** The libp2p private key, for handing to libp2p only. */
  get privateKey(): PrivateKey {
    return this.#key;
  }

  /** A copy of the 32 raw secp256k1 private key bytes (e.g. to derive an Ethereum account). */
  secretKeyBytes(): Uint8Array {
    return new Uint8Array(this.#key.raw);
  }

  /** The 33-byte compressed secp256k1 public key. */
  publicKeyBytes(): Uint8Array {
    return new Uint8Array(this.#key.publicKey.raw);
  }

  /** The Ethereum address of this key (keccak256 of the uncompressed public key, last 20 bytes). */
  address(): Address {
    return publicKeyToAddress(toHex(uncompressed(this.publicKeyBytes())));
  }

  /** Shows the peer id only. */
  toString(): string {
    return `NodeIdentity(${this.peerId.toString()})`;
  }

  /** Serialises to the peer id only, never the key. */
  toJSON(): { peerId: string } {
    return { peerId: this.peerId.toString() };
  }

  /** Deno's inspector shows the peer id only. */
  [inspect](): string {
    return this.toString();
  }

  /** Node's inspector shows the peer id only. */
  [nodeInspect](): string {
    return this.toString();
  }
}

/** Options of {@link loadOrCreateIdentity}. */
export interface IdentityStoreOptions {
  /** Folder holding `identity.json`; created if missing. */
  dataDir: string;
  /** Password sealing the key; defaults to the `GENSYN_NODE_PASSWORD` environment variable. */
  password?: string;
  /** PBKDF2 iterations for a newly created file (default 600,000); stored in the file. */
  iterations?: number;
}

interface SealedIdentity {
  version: 1;
  keyType: "secp256k1";
  peerId: string;
  kdf: { name: "PBKDF2-SHA256"; iterations: number; salt: string };
  cipher: { name: "AES-256-GCM"; iv: string; ciphertext: string };
}

/**
 * Loads the node identity from `<dataDir>/identity.json`, or creates and seals a new one there.
 *
 * Fails with `PeerError` `PEER_IDENTITY_NO_PASSWORD` when no password is given or set in the
 * environment, `PEER_IDENTITY_LOCKED` when the password is wrong, and `PEER_IDENTITY_CORRUPT`
 * when the file is not a sealed identity.
 *
 * @example
 * ```ts
 * import { loadOrCreateIdentity } from "./identity.ts";
 * const dataDir = await Deno.makeTempDir();
 * const id = await loadOrCreateIdentity({ dataDir, password: "correct horse" });
 * const again = await loadOrCreateIdentity({ dataDir, password: "correct horse" });
 * console.log(id.peerId.equals(again.peerId)); // true
 * ```
 */
export async function loadOrCreateIdentity(options: IdentityStoreOptions): Promise<NodeIdentity> {
  const password = options.password ?? readPasswordEnv();
  if (password === undefined || password.length === 0) {
    throw new PeerError(
      "PEER_IDENTITY_NO_PASSWORD",
      `no password for the node key in ${options.dataDir}; pass one or set ${PASSWORD_ENV}`,
    );
  }
  const path = `${options.dataDir}/${IDENTITY_FILE}`;
  let text: string | undefined;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  if (text !== undefined) return await unseal(text, password, path);

  const identity = await NodeIdentity.generate();
  await Deno.mkdir(options.dataDir, { recursive: true });
  const sealed = await seal(identity, password, options.iterations ?? DEFAULT_PBKDF2_ITERATIONS);
  // Atomic, so a crash never leaves half a key file; 0o600 keeps other users out.
  await writeJsonAtomic(path, sealed, { indent: 2, mode: 0o600 });
  return identity;
}

function readPasswordEnv(): string | undefined {
  try {
    return Deno.env.get(PASSWORD_ENV);
  } catch (e) {
    // Without --allow-env the variable is simply unavailable; the caller reports the missing password.
    if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
      return undefined;
    }
    throw e;
  }
}

async function deriveKey(
  password: string,
  salt: Uint8Array,
  iterations: number,
): Promise<CryptoKey> {
  const base = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(password),
    "PBKDF2",
    false,
    ["deriveKey"],
  );
  return await crypto.subtle.deriveKey(
    { name: "PBKDF2", hash: "SHA-256", salt: salt as Uint8Array<ArrayBuffer>, iterations },
    base,
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt", "decrypt"],
  );
}

async function seal(
  identity: NodeIdentity,
  password: string,
  iterations: number,
): Promise<SealedIdentity> {
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const key = await deriveKey(password, salt, iterations);
  const secret = identity.secretKeyBytes() as Uint8Array<ArrayBuffer>;
  // The peer id is authenticated as associated data, so a file whose id was edited fails to open.
  const peerId = identity.peerId.toString();
  const ciphertext = new Uint8Array(
    await crypto.subtle.encrypt(
      { name: "AES-GCM", iv, additionalData: new TextEncoder().encode(peerId) },
      key,
      secret,
    ),
  );
  secret.fill(0);
  return {
    version: 1,
    keyType: "secp256k1",
    peerId,
    kdf: { name: "PBKDF2-SHA256", iterations, salt: b64(salt) },
    cipher: { name: "AES-256-GCM", iv: b64(iv), ciphertext: b64(ciphertext) },
  };
}

async function unseal(text: string, password: string, path: string): Promise<NodeIdentity> {
  let sealed: SealedIdentity;
  let salt: Uint8Array, iv: Uint8Array, ciphertext: Uint8Array;
  try {
    sealed = JSON.parse(text);
    if (
      sealed.version !== 1 || sealed.keyType !== "secp256k1" ||
      sealed.kdf?.name !== "PBKDF2-SHA256" || sealed.cipher?.name !== "AES-256-GCM" ||
      !Number.isSafeInteger(sealed.kdf.iterations) || sealed.kdf.iterations < 1 ||
      typeof sealed.peerId !== "string"
    ) throw new Error("unsupported fields");
    salt = unb64(sealed.kdf.salt);
    iv = unb64(sealed.cipher.iv);
    ciphertext = unb64(sealed.cipher.ciphertext);
  } catch (cause) {
    throw new PeerError(
      "PEER_IDENTITY_CORRUPT",
      `${path} is not a sealed node identity (version 1); restore it from a backup or move it ` +
        `away to create a new identity`,
      { cause },
    );
  }
  const key = await deriveKey(password, salt, sealed.kdf.iterations);
  let secret: Uint8Array;
  try {
    secret = new Uint8Array(
      await crypto.subtle.decrypt(
        {
          name: "AES-GCM",
          iv: iv as Uint8Array<ArrayBuffer>,
          additionalData: new TextEncoder().encode(sealed.peerId),
        },
        key,
        ciphertext as Uint8Array<ArrayBuffer>,
      ),
    );
  } catch (cause) {
    throw new PeerError(
      "PEER_IDENTITY_LOCKED",
      `cannot open the node key in ${path}: wrong password (or the file was altered); pass the ` +
        `password it was created with or set ${PASSWORD_ENV}`,
      { cause },
    );
  }
  const identity = NodeIdentity.fromSecretKey(secret);
  secret.fill(0);
  if (identity.peerId.toString() !== sealed.peerId) {
    throw new PeerError(
      "PEER_IDENTITY_CORRUPT",
      `${path} names peer ${sealed.peerId} but its key is ${identity.peerId}; restore the file`,
    );
  }
  return identity;
}

function b64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function unb64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

function uncompressed(compressed: Uint8Array): Uint8Array {
  return secp256k1.Point.fromBytes(compressed).toBytes(false);
}

/** Domain tag that starts every peer-binding message. */
export const PEER_BINDING_TAG = "gensyn peer binding";

/** A signed statement that a peer id belongs to an Ethereum address. */
export interface PeerBinding {
  /** The peer id as a base58 string. */
  peerId: string;
  /** The peer id's multihash bytes (39 bytes for a secp256k1 key). */
  peerIdBytes: Uint8Array;
  /** The 33-byte compressed secp256k1 public key inside the peer id. */
  pubkey: Uint8Array;
  /** The same key uncompressed, 64 bytes `x || y` (no 0x04 prefix), for on-chain checks. */
  pubkeyUncompressed: Uint8Array;
  /** Ethereum address of the peer's key: what `ecrecover(digest, v, r, s)` returns. */
  keyAddress: Address;
  /** The address being bound (checksummed). */
  address: Address;
  /** keccak256 of the binding message: the hash that was signed. */
  digest: Hex;
  /** 65 bytes `r || s || v` with `v` in {27, 28}. */
  signature: Uint8Array;
}

/**
 * The bytes signed by {@link signPeerBinding}:
 *
 * ```
 * message = utf8("gensyn peer binding")   // 19 bytes, no terminator
 *        || address                       // 20 raw bytes of the Ethereum address being bound
 *        || peerIdBytes                   // the peer id's multihash bytes:
 *                                         //   0x00 0x25 0x08 0x02 0x12 0x21 || 33-byte compressed key
 * digest  = keccak256(message)
 * ```
 *
 * In Solidity: `keccak256(abi.encodePacked("gensyn peer binding", address, peerIdBytes))`.
 */
export function peerBindingDigest(address: Address, peerIdBytes: Uint8Array): Hex {
  const tag = new TextEncoder().encode(PEER_BINDING_TAG);
  const addr = toBytes(getAddress(address));
  const message = new Uint8Array(tag.length + addr.length + peerIdBytes.length);
  message.set(tag, 0);
  message.set(addr, tag.length);
  message.set(peerIdBytes, tag.length + addr.length);
  return keccak256(message);
}

/**
 * Signs "this peer id is bound to `ethAddress`" with the peer's own secp256k1 key.
 *
 * The digest is {@link peerBindingDigest} and is signed raw (no EIP-191 prefix), so a contract
 * checks it with `ecrecover(digest, v, r, s) == keyAddress`, where `keyAddress` is the last 20
 * bytes of `keccak256(pubkeyUncompressed)`, and checks that `pubkeyUncompressed` compresses to the
 * key inside `peerIdBytes` (`(y & 1 == 1 ? 0x03 : 0x02) || x`). The address itself is
 * authenticated by being `msg.sender` of the registration.
 *
 * @example
 * ```ts
 * import { NodeIdentity, signPeerBinding } from "./identity.ts";
 * const id = await NodeIdentity.generate();
 * const b = await signPeerBinding(id, "0x000000000000000000000000000000000000dEaD");
 * console.log(b.signature.length, b.pubkey.length); // 65 33
 * ```
 */
export async function signPeerBinding(
  identity: NodeIdentity,
  ethAddress: Address,
): Promise<PeerBinding> {
  const peerIdBytes = identity.peerId.toMultihash().bytes;
  const digest = peerBindingDigest(ethAddress, peerIdBytes);
  const secret = identity.secretKeyBytes();
  const sig = await sign({ hash: digest, privateKey: toHex(secret) });
  secret.fill(0);
  const signature = new Uint8Array(65);
  signature.set(toBytes(sig.r, { size: 32 }), 0);
  signature.set(toBytes(sig.s, { size: 32 }), 32);
  signature[64] = 27 + (sig.yParity ?? Number(sig.v! - 27n));
  const pubkey = identity.publicKeyBytes();
  return {
    peerId: identity.peerId.toString(),
    peerIdBytes,
    pubkey,
    pubkeyUncompressed: uncompressed(pubkey).slice(1),
    keyAddress: identity.address(),
    address: getAddress(ethAddress),
    digest,
    signature,
  };
}
