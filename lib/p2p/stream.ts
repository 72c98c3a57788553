/**
 * Framed messages over one libp2p stream: the thin shell between the pure codec and the network.
 *
 * A {@link FramedStream} reads length-prefixed CBOR frames (validated by a schema) and raw bytes
 * from a libp2p stream, and writes them with backpressure (it waits for `drain` rather than
 * buffering without bound). Reads time out, so a silent peer cannot hold a handler forever.
 *
 * @module
 */

import type { Stream } from "./types.ts";
import { PeerError } from "../core/errors.ts";
import {
  decodeMessage,
  DEFAULT_MAX_MESSAGE_BYTES,
  encodeMessage,
  frame,
  FrameDecoder,
} from "./codec.ts";
import type { Schema } from "./schema.ts";

/** Options of a {@link FramedStream}. */
export interface FramedStreamOptions {
  /** Largest frame accepted or sent (default 64 KiB). */
  maxFrameBytes?: number;
  /** A read that waits longer than this fails with `PEER_TIMEOUT` (default 30 s; 0 = never). */
  readTimeoutMs?: number;
  /** Multiaddr of the remote end of the connection, when known. */
  remoteAddr?: string;
}

/** An error frame, the one failure reply every protocol shares. */
export interface ErrorFrame {
  /** Tag. */
  t: "err";
  /** A stable `PeerError` code. */
  code: string;
  /** What went wrong, for the remote's logs. */
  message: string;
}

/**
 * A libp2p stream that speaks length-prefixed CBOR frames, then optionally raw bytes.
 *
 * @example
 * ```ts ignore
 * const framed = new FramedStream(stream);
 * await framed.write({ t: "get", id });
 * const reply = await framed.read(replySchema);
 * ```
 */
export class FramedStream {
  /** The underlying libp2p stream. */
  readonly stream: Stream;
  /** Multiaddr of the remote end of the connection, when known. */
  readonly remoteAddr: string | undefined;
  readonly #decoder: FrameDecoder;
  readonly #iterator: AsyncIterator<Uint8Array | { subarray(): Uint8Array }>;
  readonly #readTimeoutMs: number;
  readonly #maxFrameBytes: number;
  #ended = false;

  /** Wraps a stream. */
  constructor(stream: Stream, options: FramedStreamOptions = {}) {
    this.stream = stream;
    this.remoteAddr = options.remoteAddr;
    this.#maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.#decoder = new FrameDecoder(this.#maxFrameBytes);
    this.#iterator = stream[Symbol.asyncIterator]();
    this.#readTimeoutMs = options.readTimeoutMs ?? 30_000;
  }

  /** Reads the next frame and validates it; `undefined` when the remote closed cleanly. */
  async read<T>(schema: Schema<T>): Promise<T | undefined> {
    while (true) {
      const payload = this.#decoder.next();
      if (payload !== undefined) return decodeMessage(payload, schema, this.#maxFrameBytes);
      if (!(await this.#fill())) {
        if (this.#decoder.buffered > 0) {
          throw new PeerError("PEER_TRUNCATED", "peer closed the stream in the middle of a frame");
        }
        return undefined;
      }
    }
  }

  /** Reads the next frame or fails with `PEER_TRUNCATED` if the stream ends first. */
  async readOne<T>(schema: Schema<T>): Promise<T> {
    const value = await this.read(schema);
    if (value === undefined) {
      throw new PeerError("PEER_TRUNCATED", "peer closed the stream before replying");
    }
    return value;
  }

  /** Reads up to the next available raw bytes (after frames); `undefined` at end of stream. */
  async readBytes(): Promise<Uint8Array | undefined> {
    if (this.#decoder.buffered > 0) return this.#decoder.take(this.#decoder.buffered);
    if (!(await this.#fill())) return undefined;
    return this.#decoder.take(this.#decoder.buffered);
  }

  /** Encodes and sends one frame, waiting for the send buffer to drain if it is full. */
  async write(value: unknown): Promise<void> {
    await this.writeBytes(frame(encodeMessage(value, this.#maxFrameBytes)));
  }

  /** Sends raw bytes with backpressure. */
  async writeBytes(bytes: Uint8Array): Promise<void> {
    try {
      if (!this.stream.send(bytes)) await this.stream.onDrain();
    } catch (cause) {
      throw wrap(cause);
    }
  }

  /** Sends an error frame and closes the stream; never throws (the peer may already be gone). */
  async fail(code: string, message: string): Promise<void> {
    try {
      await this.write({ t: "err", code, message } satisfies ErrorFrame);
      await this.stream.close();
    } catch (e) {
      // The remote went away first; nothing left to tell it.
      this.stream.abort(e instanceof Error ? e : new Error(String(e)));
    }
  }

  /** Closes our end gracefully. */
  async close(): Promise<void> {
    await this.stream.close();
  }

  /** Resets the stream. */
  abort(reason: string): void {
    this.stream.abort(new Error(reason));
  }

  async #fill(): Promise<boolean> {
    if (this.#ended) return false;
    try {
      return await this.#fillOnce();
    } catch (cause) {
      throw wrap(cause);
    }
  }

  async #fillOnce(): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const next = this.#iterator.next();
    const result = this.#readTimeoutMs > 0
      ? await Promise.race([
        next,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new PeerError("PEER_TIMEOUT", `peer sent nothing for ${this.#readTimeoutMs} ms`),
              ),
            this.#readTimeoutMs,
          );
        }),
      ]).finally(() => clearTimeout(timer))
      : await next;
    if (result.done) {
      this.#ended = true;
      return false;
    }
    const chunk = result.value;
    this.#decoder.push(chunk instanceof Uint8Array ? chunk : chunk.subarray());
    return true;
  }
}

/** Stream failures from libp2p (resets, aborts) become `PeerError` `PEER_STREAM_RESET`. */
function wrap(cause: unknown): PeerError {
  if (cause instanceof PeerError) return cause;
  return new PeerError(
    "PEER_STREAM_RESET",
    `the stream to the peer broke: ${(cause as Error)?.message ?? cause}`,
    { cause },
  );
}
