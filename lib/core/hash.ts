/**
 * Content hashing: SHA-256 through WebCrypto (native speed, about 1 GB/s) and the hex content ids
 * used for specs, datasets, checkpoints and traces.
 *
 * @module
 */

import { SpecError } from "./errors.ts";

/** A lowercase hex SHA-256 digest: 64 characters. */
export type Hash = string;

/** Bytes accepted by the hash functions. */
export type Bytes = Uint8Array<ArrayBuffer>;

/**
 * SHA-256 of bytes, as raw bytes.
 *
 * @example
 * ```ts
 * import { sha256 } from "./hash.ts";
 * const digest = await sha256(new TextEncoder().encode("abc"));
 * console.log(digest.length); // 32
 * ```
 */
export async function sha256(data: Uint8Array): Promise<Bytes> {
  const view = data.buffer instanceof ArrayBuffer ? data as Bytes : new Uint8Array(data) as Bytes;
  return new Uint8Array(await crypto.subtle.digest("SHA-256", view));
}

/**
 * SHA-256 of bytes as lowercase hex: the content id of a blob.
 *
 * @example
 * ```ts
 * import { sha256Hex } from "./hash.ts";
 * console.log(await sha256Hex(new Uint8Array())); // "e3b0c442..."
 * ```
 */
export async function sha256Hex(data: Uint8Array): Promise<Hash> {
  return toHex(await sha256(data));
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** Lowercase hex of bytes. */
export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i]];
  return out;
}

/** Bytes of a hex string (no `0x` prefix); throws `RangeError` on malformed input. */
export function fromHex(hex: string): Bytes {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new RangeError(`not a hex string: ${hex.slice(0, 40)}`);
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** True if `value` is a well-formed lowercase hex SHA-256 digest. */
export function isHash(value: unknown): value is Hash {
  return typeof value === "string" && /^[0-9a-f]{64}$/.test(value);
}

/** Concatenates byte arrays into one. */
export function concatBytes(parts: readonly Uint8Array[]): Bytes {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/**
 * A 64-hex content id (with or without `0x`) as the `0x`-prefixed lowercase `bytes32` the chain
 * takes; fails with `SPEC_BAD_ID` on anything else.
 *
 * @example
 * ```ts
 * import { toBytes32 } from "./hash.ts";
 * console.log(toBytes32("ab".repeat(32))); // "0xabab..."
 * ```
 */
export function toBytes32(id: string): `0x${string}` {
  const hex = id.startsWith("0x") ? id.slice(2) : id;
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
    throw new SpecError("SPEC_BAD_ID", `"${id}" is not a 32-byte hex id; pass a content id`, {
      value: id,
    });
  }
  return `0x${hex.toLowerCase()}`;
}
