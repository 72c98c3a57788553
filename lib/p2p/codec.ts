/**
 * The one message codec of the p2p layer: deterministic CBOR (RFC 8949 §4.2, via `cborg`) with a
 * hard size limit, schema validation at the boundary, and length-prefixed framing for streams.
 *
 * Decoding never trusts a peer: oversized input fails with `PeerError` `PEER_OVERSIZED`, bytes
 * that are not strict CBOR or do not fit the schema fail with `PEER_MALFORMED`. Nothing a peer
 * sends can throw anything else out of this module.
 *
 * Frame format on a stream: a 4-byte big-endian unsigned length, then that many payload bytes.
 *
 * @module
 */

import { decode, encode } from "npm:cborg@6.1.5";
import { PeerError } from "../core/errors.ts";
import type { Schema } from "./schema.ts";

/** Default largest encoded message: 64 KiB. */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024;

/** Bytes of the frame length prefix. */
export const FRAME_HEADER_BYTES = 4;

const DECODE_OPTIONS = {
  strict: true,
  allowIndefinite: false,
  allowUndefined: false,
  allowInfinity: false,
  allowNaN: false,
  allowBigInt: true,
  rejectDuplicateMapKeys: true,
  useMaps: false,
} as const;

/**
 * Encodes a value as deterministic CBOR; fails with `PEER_OVERSIZED` past `maxBytes`.
 *
 * @example
 * ```ts
 * import { decodeMessage, encodeMessage } from "./codec.ts";
 * import { object, uint } from "./schema.ts";
 * const bytes = encodeMessage({ step: 3 });
 * console.log(decodeMessage(bytes, object({ step: uint() })).step); // 3
 * ```
 */
export function encodeMessage(
  value: unknown,
  maxBytes: number = DEFAULT_MAX_MESSAGE_BYTES,
): Uint8Array {
  const bytes = encode(value, { ignoreUndefinedProperties: true });
  if (bytes.length > maxBytes) {
    throw new PeerError(
      "PEER_OVERSIZED",
      `message is ${bytes.length} bytes, over the ${maxBytes}-byte limit; send large data as a blob`,
      { value: bytes.length },
    );
  }
  return bytes;
}

/**
 * Decodes CBOR from a peer and validates it against a schema.
 *
 * Throws `PeerError` `PEER_OVERSIZED` if `bytes` exceeds `maxBytes`, `PEER_MALFORMED` if it is
 * not one strict, deterministic CBOR item or does not match the schema.
 */
export function decodeMessage<T>(
  bytes: Uint8Array,
  schema: Schema<T>,
  maxBytes: number = DEFAULT_MAX_MESSAGE_BYTES,
): T {
  if (bytes.length > maxBytes) {
    throw new PeerError(
      "PEER_OVERSIZED",
      `peer sent a ${bytes.length}-byte message, over the ${maxBytes}-byte limit`,
      { value: bytes.length },
    );
  }
  let value: unknown;
  try {
    value = decode(bytes, DECODE_OPTIONS);
  } catch (cause) {
    throw new PeerError(
      "PEER_MALFORMED",
      `peer sent bytes that are not strict CBOR: ${(cause as Error).message}`,
      {
        cause,
      },
    );
  }
  return schema(value, "$");
}

/** Prefixes a payload with its 4-byte big-endian length. */
export function frame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_BYTES + payload.length);
  new DataView(out.buffer).setUint32(0, payload.length);
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

/**
 * Splits a byte stream into frames, rejecting any frame over `maxFrameBytes` as soon as its
 * header arrives (before buffering its body).
 *
 * @example
 * ```ts
 * import { frame, FrameDecoder } from "./codec.ts";
 * const d = new FrameDecoder(1024);
 * d.push(frame(new Uint8Array([1, 2])));
 * console.log(d.next()); // Uint8Array [1, 2]
 * ```
 */
export class FrameDecoder {
  /** Largest accepted payload. */
  readonly maxFrameBytes: number;
  #chunks: Uint8Array[] = [];
  #buffered = 0;

  /** A decoder accepting payloads up to `maxFrameBytes`. */
  constructor(maxFrameBytes: number = DEFAULT_MAX_MESSAGE_BYTES) {
    this.maxFrameBytes = maxFrameBytes;
  }

  /** Bytes received but not yet returned as frames. */
  get buffered(): number {
    return this.#buffered;
  }

  /** Appends received bytes. */
  push(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.#chunks.push(bytes);
    this.#buffered += bytes.length;
  }

  /** The next complete frame's payload, or `undefined` if more bytes are needed. */
  next(): Uint8Array | undefined {
    if (this.#buffered < FRAME_HEADER_BYTES) return undefined;
    const header = this.#peek(FRAME_HEADER_BYTES);
    const length = new DataView(header.buffer, header.byteOffset, 4).getUint32(0);
    if (length > this.maxFrameBytes) {
      throw new PeerError(
        "PEER_OVERSIZED",
        `peer announced a ${length}-byte frame, over the ${this.maxFrameBytes}-byte limit`,
        { value: length },
      );
    }
    if (this.#buffered < FRAME_HEADER_BYTES + length) return undefined;
    this.take(FRAME_HEADER_BYTES);
    return this.take(length);
  }

  /** Removes and returns up to `n` buffered bytes (raw, not framed). */
  take(n: number): Uint8Array {
    n = Math.min(n, this.#buffered);
    if (n === 0) return new Uint8Array(0);
    const first = this.#chunks[0];
    if (first !== undefined && first.length >= n) {
      this.#chunks[0] = first.subarray(n);
      if (this.#chunks[0].length === 0) this.#chunks.shift();
      this.#buffered -= n;
      return first.subarray(0, n);
    }
    const out = this.#peek(n);
    let left = n;
    while (left > 0) {
      const c = this.#chunks[0];
      if (c.length <= left) {
        this.#chunks.shift();
        left -= c.length;
      } else {
        this.#chunks[0] = c.subarray(left);
        left = 0;
      }
    }
    this.#buffered -= n;
    return out;
  }

  #peek(n: number): Uint8Array {
    const first = this.#chunks[0];
    if (first.length >= n) return first.subarray(0, n);
    const out = new Uint8Array(n);
    let at = 0;
    for (const c of this.#chunks) {
      const part = c.subarray(0, n - at);
      out.set(part, at);
      at += part.length;
      if (at === n) break;
    }
    return out;
  }
}
