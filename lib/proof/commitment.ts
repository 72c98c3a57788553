/**
 * State commitments: the canonical bytes of a training state and their SHA-256.
 *
 * Encoded state ("train-state/1"), all integers little-endian:
 *
 * | bytes | content |
 * |---|---|
 * | 4 | magic `GSTA` |
 * | 4 | u32 length `H` of the header |
 * | H | canonical JSON header `{"cursor","format":"train-state/1","step","variables":[{"name","shape"}]}` |
 * | rest | every variable's float32 values, little-endian, in header order |
 *
 * The commitment of a state is the SHA-256 of these bytes, so it binds every weight and optimizer
 * slot bit, their order and shapes, the step counter and the data cursor. The same bytes are the
 * checkpoint file, stored under that hash.
 *
 * @module
 */

import { decodeCanonical, encodeCanonical } from "../core/canonical.ts";
import { StorageError } from "../core/errors.ts";
import { type Hash, sha256Hex } from "../core/hash.ts";
import type { StateVariable, TrainingState } from "../exec/state.ts";

/** Format tag inside every encoded state. */
export const STATE_FORMAT = "train-state/1";

const MAGIC = [0x47, 0x53, 0x54, 0x41]; // "GSTA"

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  // Float32Array views are copied byte for byte; a big-endian host would commit other bytes.
  throw new StorageError(
    "STORAGE_BIG_ENDIAN_HOST",
    "state commitments need a little-endian host; this machine is big-endian",
  );
}

/**
 * Canonical bytes of a training state (the checkpoint file format).
 *
 * @example
 * ```ts
 * import { encodeState } from "./commitment.ts";
 * const bytes = encodeState({
 *   step: 0,
 *   cursor: 0,
 *   variables: [{ name: "w", shape: [2], data: new Float32Array([1, 2]) }],
 * });
 * ```
 */
export function encodeState(state: TrainingState): Uint8Array<ArrayBuffer> {
  const header = headerOf(state);
  const out = new Uint8Array(encodedLength(state, header));
  writeState(state, header, out);
  return out;
}

/**
 * Writes the canonical bytes of a state at the start of `target` and returns their length; when
 * they do not fit (or there is no target) it writes nothing and returns the length they need. A
 * caller that encodes states of one layout over and over (the checkpoint writer) keeps one target:
 * fresh multi-megabyte buffers cost page faults and GC on every checkpoint.
 *
 * @example
 * ```ts
 * import { encodeStateInto } from "./commitment.ts";
 * declare const state: import("../exec/state.ts").TrainingState;
 * const target = new Uint8Array(encodeStateInto(state));
 * const length = encodeStateInto(state, target); // target.subarray(0, length) holds the bytes
 * ```
 */
export function encodeStateInto(state: TrainingState, target?: Uint8Array): number {
  const header = headerOf(state);
  const length = encodedLength(state, header);
  if (target && length <= target.length) writeState(state, header, target);
  return length;
}

function headerOf(state: TrainingState): Uint8Array {
  return encodeCanonical({
    format: STATE_FORMAT,
    step: state.step,
    cursor: state.cursor,
    variables: state.variables.map((v) => ({ name: v.name, shape: [...v.shape] })),
  });
}

function encodedLength(state: TrainingState, header: Uint8Array): number {
  let length = 8 + header.length;
  for (const v of state.variables) length += v.data.byteLength;
  return length;
}

function writeState(state: TrainingState, header: Uint8Array, target: Uint8Array): void {
  target.set(MAGIC, 0);
  new DataView(target.buffer, target.byteOffset, 8).setUint32(4, header.length, true);
  target.set(header, 8);
  let offset = 8 + header.length;
  for (const v of state.variables) {
    target.set(new Uint8Array(v.data.buffer, v.data.byteOffset, v.data.byteLength), offset);
    offset += v.data.byteLength;
  }
}

/**
 * Decodes state bytes, failing with a `StorageError` on anything truncated, corrupted or of an
 * unknown format.
 *
 * @example
 * ```ts
 * import { decodeState, encodeState } from "./commitment.ts";
 * declare const state: import("../exec/state.ts").TrainingState;
 * const again = decodeState(encodeState(state));
 * ```
 */
export function decodeState(bytes: Uint8Array): TrainingState {
  const fail = (what: string): never => {
    throw new StorageError(
      "STORAGE_CORRUPT_STATE",
      `checkpoint is not a valid ${STATE_FORMAT} file (${what}); fetch it again from a peer ` +
        "that holds it",
    );
  };
  if (bytes.length < 8 || MAGIC.some((b, i) => bytes[i] !== b)) fail("bad magic or too short");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint32(4, true);
  if (8 + headerLength > bytes.length) fail("truncated header");
  let header: Record<string, unknown>;
  try {
    header = decodeCanonical(bytes.subarray(8, 8 + headerLength)) as Record<string, unknown>;
  } catch {
    return fail("header is not canonical JSON");
  }
  if (header?.format !== STATE_FORMAT) {
    throw new StorageError(
      "STORAGE_UNSUPPORTED_FORMAT",
      `checkpoint format is ${
        JSON.stringify(header?.format)
      }; this build reads ${STATE_FORMAT}: upgrade the toolkit`,
      { value: header?.format },
    );
  }
  const { step, cursor, variables } = header;
  if (!isCount(step) || !isCount(cursor) || !Array.isArray(variables)) fail("bad header fields");
  let offset = 8 + headerLength;
  const out: StateVariable[] = [];
  for (const v of variables as { name: unknown; shape: unknown }[]) {
    if (
      typeof v?.name !== "string" || !Array.isArray(v.shape) ||
      !v.shape.every((d: unknown) => isCount(d))
    ) {
      fail("bad variable entry");
    }
    const shape = v.shape as number[];
    const count = shape.reduce((a, b) => a * b, 1);
    const end = offset + 4 * count;
    if (end > bytes.length) fail(`truncated data of ${v.name}`);
    // Copy so the state owns aligned memory, independent of the file buffer.
    const data = new Float32Array(count);
    new Uint8Array(data.buffer).set(bytes.subarray(offset, end));
    out.push({ name: v.name as string, shape, data });
    offset = end;
  }
  if (offset !== bytes.length) fail(`${bytes.length - offset} trailing bytes`);
  return { step: step as number, cursor: cursor as number, variables: out };
}

function isCount(value: unknown): boolean {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

/**
 * Commitment of a training state: SHA-256 hex of its canonical bytes.
 *
 * @example
 * ```ts
 * import { commitState } from "./commitment.ts";
 * declare const state: import("../exec/state.ts").TrainingState;
 * const hash = await commitState(state);
 * ```
 */
export function commitState(state: TrainingState): Promise<Hash> {
  return sha256Hex(encodeState(state));
}
