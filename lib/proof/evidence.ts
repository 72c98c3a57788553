/**
 * Dispute evidence: everything a party shows the referee about the disputed step, as one
 * content-addressed blob. The party commits the blob's id on-chain with its op-record chain
 * (`DisputeGame.commitOps`), so the referee can tie what it fetches to what the party committed:
 * the records must chain to the committed root.
 *
 * Layout: a 4-byte big-endian header length, the header as canonical JSON
 * `{ version: 1, ops: OpRecord[], tensors: [{ hash, length }] }`, then the tensors' raw bytes in
 * header order. The tensors are the state before the step (the outputs of `@StepInput`) and every
 * op's inputs, each stored once by content hash.
 *
 * @module
 */

import { canonicalJson, type CanonicalValue } from "../core/canonical.ts";
import { VerificationError } from "../core/errors.ts";
import type { Hash } from "../core/hash.ts";
import type { TrainingState } from "../exec/state.ts";
import { hashOpRecord, type OpRecord, sha256Sync, type StepRecording, tensorBytes } from "./ops.ts";

/** Evidence format version. */
export const EVIDENCE_VERSION = 1;

/** A party's decoded evidence of one step. */
export interface StepEvidence {
  /** Its op records of the step, `@StepInput` first. */
  readonly ops: readonly OpRecord[];
  /** SHA-256 of each record's canonical JSON. */
  readonly opHashes: readonly Hash[];
  /** Input bytes of op `i` in input order (empty arrays for bytes the party did not include). */
  tensors(i: number): Uint8Array[];
  /** The state before the step, from `@StepInput`'s outputs; undefined if the bytes are missing. */
  stateBefore(): TrainingState | undefined;
}

/**
 * Encodes a party's recording of a step and the state it started from as an evidence blob.
 *
 * @example
 * ```ts
 * import { decodeEvidence, encodeEvidence } from "./evidence.ts";
 * declare const rec: import("./ops.ts").StepRecording;
 * declare const before: import("../exec/state.ts").TrainingState;
 * const evidence = decodeEvidence(encodeEvidence(rec, before));
 * console.log(evidence.opHashes.length === rec.ops.length); // true
 * ```
 */
export function encodeEvidence(rec: StepRecording, before: TrainingState): Uint8Array {
  const pool = new Map<Hash, Uint8Array>();
  for (const v of before.variables) {
    const bytes = tensorBytes(v.data);
    pool.set(sha256Sync(bytes), bytes);
  }
  rec.ops.forEach((op, i) => {
    if (op.inputs.length === 0) return;
    const bytes = rec.tensors(i);
    op.inputs.forEach((input, j) => {
      if (!pool.has(input.hash) && bytes[j]) pool.set(input.hash, bytes[j]);
    });
  });
  const entries = [...pool.entries()];
  const header = new TextEncoder().encode(canonicalJson({
    version: EVIDENCE_VERSION,
    ops: rec.ops as unknown as CanonicalValue,
    tensors: entries.map(([hash, bytes]) => ({ hash, length: bytes.byteLength })),
  }));
  let size = 4 + header.byteLength;
  for (const [, bytes] of entries) size += bytes.byteLength;
  const out = new Uint8Array(size);
  new DataView(out.buffer).setUint32(0, header.byteLength);
  out.set(header, 4);
  let at = 4 + header.byteLength;
  for (const [, bytes] of entries) {
    out.set(bytes, at);
    at += bytes.byteLength;
  }
  return out;
}

function bad(detail: string): VerificationError {
  return new VerificationError(
    "VERIFY_BAD_EVIDENCE",
    `dispute evidence is malformed: ${detail}; the party that served it loses the dispute`,
  );
}

/**
 * Decodes an evidence blob; fails with `VERIFY_BAD_EVIDENCE` on anything malformed (a peer's
 * bytes never crash the referee).
 */
export function decodeEvidence(bytes: Uint8Array): StepEvidence {
  if (bytes.byteLength < 4) throw bad("shorter than its header length");
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0);
  if (4 + headerLength > bytes.byteLength) throw bad("the header runs past the end");
  let header: { version?: unknown; ops?: unknown; tensors?: unknown };
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + headerLength)));
  } catch {
    throw bad("the header is not JSON");
  }
  if (header.version !== EVIDENCE_VERSION) throw bad(`unknown version ${String(header.version)}`);
  if (!Array.isArray(header.ops) || !Array.isArray(header.tensors)) {
    throw bad("ops and tensors must be arrays");
  }
  const ops = header.ops as OpRecord[];
  for (const [i, op] of ops.entries()) {
    const ok = op !== null && typeof op === "object" && op.index === i &&
      typeof op.kernel === "string" && Array.isArray(op.inputs) && Array.isArray(op.outputs) &&
      op.inputs.every((x) => x && typeof x.hash === "string" && Array.isArray(x.shape)) &&
      op.outputs.every((x) => x && typeof x.hash === "string" && Array.isArray(x.shape));
    if (!ok) throw bad(`record ${i} is not an op record`);
  }
  const pool = new Map<string, Uint8Array>();
  let at = 4 + headerLength;
  for (const t of header.tensors as { hash?: unknown; length?: unknown }[]) {
    const length = t?.length;
    if (typeof t?.hash !== "string" || !Number.isSafeInteger(length) || (length as number) < 0) {
      throw bad("a tensor entry has no hash or length");
    }
    if (at + (length as number) > bytes.byteLength) throw bad("tensor bytes run past the end");
    pool.set(t.hash, bytes.subarray(at, at + (length as number)));
    at += length as number;
  }
  const opHashes = ops.map(hashOpRecord);
  return {
    ops,
    opHashes,
    tensors: (i) => (ops[i]?.inputs ?? []).map((input) => pool.get(input.hash) ?? new Uint8Array()),
    stateBefore() {
      const first = ops[0];
      const attrs = first?.attrs as { step?: unknown; cursor?: unknown; names?: unknown } | null;
      if (!first || !attrs || !Array.isArray(attrs.names)) return undefined;
      const variables = [];
      for (const [i, out] of first.outputs.entries()) {
        const raw = pool.get(out.hash);
        if (!raw || raw.byteLength % 4 !== 0) return undefined;
        variables.push({
          name: String(attrs.names[i]),
          shape: [...out.shape],
          data: new Float32Array(raw.slice().buffer),
        });
      }
      return { step: Number(attrs.step), cursor: Number(attrs.cursor), variables };
    },
  };
}
