/**
 * Kernel recording: the op-level trace of one training step, for phase 2 of a dispute.
 *
 * While a recording is active, every tfjs kernel the active backend runs (forward, backward,
 * optimizer update, in order) is logged as an {@link OpRecord}: kernel name, canonical attrs, and
 * the shape, dtype and SHA-256 of the raw bytes of each input and output. Each input also names
 * its *source*: the earlier record whose output it is, or `const` for a tensor the step created
 * outside any kernel (learning rate, bias-correction scalars, the data batch). Two pseudo-records
 * frame the kernels:
 *
 * - record 0, `@StepInput`: its outputs are the state variables the step reads (canonical order),
 *   its attrs the step counter, data cursor and commitment of the state before the step;
 * - the last record, `@StepOutput`: its inputs are the tensors that become the state variables
 *   after the step, its attrs the commitment of that state.
 *
 * So a party's records bind the agreed state before a step to the state it claims after it, and
 * every value in between to the kernel that produced it. The records are hashed (SHA-256 of their
 * canonical JSON) and committed as the Merkle root of those hashes (`opsRoot`).
 *
 * Hashing runs synchronously inside the kernel observer (`lib/exec/kernels/observe.ts`,
 * `node:crypto`), so the recorded bytes are exactly what the kernel saw. Only outermost kernel
 * calls are ops; when nothing observes, the wrappers cost one branch per kernel call.
 *
 * @module
 */

import { createHash } from "node:crypto";
import * as tf from "npm:@tensorflow/tfjs@4.22.0";
import { canonicalJson, type CanonicalValue } from "../core/canonical.ts";
import { VerificationError } from "../core/errors.ts";
import type { Hash } from "../core/hash.ts";
import { kernelSetInstalled } from "../exec/kernels/mod.ts";
import {
  installKernelObserver,
  type KernelObserver,
  observeKernels,
} from "../exec/kernels/observe.ts";
import type { TrainingState } from "../exec/state.ts";
import type { Trainer } from "../exec/trainer.ts";
import { commitState } from "./commitment.ts";
import { merkleRoot } from "./merkle.ts";

/** Kernel name of the pseudo-record that lists the state a step reads. */
export const STEP_INPUT = "@StepInput";
/** Kernel name of the pseudo-record that lists the state a step writes. */
export const STEP_OUTPUT = "@StepOutput";

/** Where an op input comes from. */
export type TensorSource =
  /** Output `output` of the earlier record `op`. */
  | { readonly kind: "op"; readonly op: number; readonly output: number }
  /** A tensor the step created outside any kernel; its value is fixed by the program. */
  | { readonly kind: "const" };

/** Shape, dtype and content hash of one tensor. */
export interface TensorRef {
  /** Tensor shape. */
  readonly shape: readonly number[];
  /** tfjs dtype. */
  readonly dtype: string;
  /** SHA-256 hex of the tensor's raw little-endian bytes. */
  readonly hash: Hash;
}

/** One named kernel input. */
export interface OpInput extends TensorRef {
  /** Input name in the kernel's signature (`a`, `b`, `x`, ...), or the state variable name. */
  readonly name: string;
  /** Which earlier output this is, or `const`. */
  readonly source: TensorSource;
}

/** One kernel invocation of a step. */
export interface OpRecord {
  /** Position in the step, 0 = `@StepInput`. */
  readonly index: number;
  /** tfjs kernel name, or {@link STEP_INPUT} / {@link STEP_OUTPUT}. */
  readonly kernel: string;
  /** Kernel attributes in canonical JSON form (see {@link canonicalAttrs}). */
  readonly attrs: CanonicalValue;
  /** Inputs in the order the kernel received them. */
  readonly inputs: readonly OpInput[];
  /** Outputs in the order the kernel returned them. */
  readonly outputs: readonly TensorRef[];
}

/** The op-level trace of one step, from {@link recordStep}. */
export interface StepRecording {
  /** Every op of the step, `@StepInput` first and `@StepOutput` last. */
  readonly ops: readonly OpRecord[];
  /** SHA-256 of each record's canonical JSON, in order. */
  readonly opHashes: readonly Hash[];
  /** Merkle root over `opHashes`. */
  readonly opsRoot: Hash;
  /** The state after the step (equal to `trainer.run(state, 1)`). */
  readonly state: TrainingState;
  /** Commitment of `state`. */
  readonly stateHash: Hash;
  /** The raw bytes of each input of op `opIndex`, in input order (what a party reveals). */
  tensors(opIndex: number): Uint8Array[];
}

type DataId = object;

let recordings: Promise<unknown> = Promise.resolve();

/**
 * Makes every kernel of `backendName` observable by recordings (once per process), through the
 * kernel observer of `lib/exec/kernels/observe.ts`. On `wasm` the profile's kernel set
 * (`lib/exec/kernels/`) must be installed first (activating a wasm profile does it), so the
 * recorder observes the kernels the profile runs.
 */
export function installOpRecorder(backendName: string): void {
  if (backendName === "wasm" && !kernelSetInstalled("wasm")) {
    throw new VerificationError(
      "VERIFY_PROFILE_INACTIVE",
      "activate a wasm profile (activateProfile) before recording kernels on the wasm backend",
    );
  }
  installKernelObserver(backendName);
}

const ARRAY_OF_DTYPE = { float32: Float32Array, int32: Int32Array, bool: Uint8Array } as const;

/**
 * Raw little-endian bytes of a tensor's values in its dtype's own array type (a view when the
 * backend already stores that type). The cpu backend may keep an int32 buffer under a float32
 * tensor (a lossless `Cast` shares the buffer), so bytes are normalised to what the dtype means.
 */
export function tensorBytes(values: unknown, dtype = "float32"): Uint8Array {
  const Type = ARRAY_OF_DTYPE[dtype as keyof typeof ARRAY_OF_DTYPE];
  if (Type === undefined || !ArrayBuffer.isView(values)) {
    throw new VerificationError(
      "VERIFY_UNSUPPORTED_TENSOR",
      `only float32, int32 and bool tensors can be recorded; this step uses ${dtype}`,
      { value: dtype },
    );
  }
  const typed = values instanceof Type ? values : Type.from(values as unknown as ArrayLike<number>);
  return new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
}

/** SHA-256 hex of bytes, synchronously. */
export function sha256Sync(bytes: Uint8Array | string): Hash {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Commitment of one op record: SHA-256 of its canonical JSON. */
export function hashOpRecord(record: OpRecord): Hash {
  return sha256Sync(canonicalJson(record));
}

/**
 * Kernel attributes as canonical JSON: typed arrays become arrays, `undefined` fields are dropped,
 * and non-finite numbers (which JSON cannot carry) become `{"$float": "Infinity"}` and the like.
 */
export function canonicalAttrs(value: unknown): CanonicalValue {
  if (value === null || typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "number") {
    return Number.isFinite(value) ? value : { $float: String(value) };
  }
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    return Array.from(value as unknown as ArrayLike<number>, canonicalAttrs);
  }
  if (Array.isArray(value)) return value.map(canonicalAttrs);
  if (typeof value === "object") {
    const out: Record<string, CanonicalValue> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (v !== undefined && typeof v !== "function") out[k] = canonicalAttrs(v);
    }
    return out;
  }
  throw new VerificationError(
    "VERIFY_UNSUPPORTED_ATTR",
    `kernel attribute of type ${typeof value} cannot be recorded`,
    { value },
  );
}

/** Inverse of {@link canonicalAttrs}: the attrs to pass back to `runKernel`. */
export function attrsFromCanonical(value: CanonicalValue): unknown {
  if (Array.isArray(value)) return value.map(attrsFromCanonical);
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === "$float" && typeof value.$float === "string") {
      return Number(value.$float);
    }
    return Object.fromEntries(keys.map((k) => [k, attrsFromCanonical(value[k])]));
  }
  return value;
}

/** The step-input pseudo-record of a state: its variables as outputs of record 0. */
export async function stepInputRecord(state: TrainingState): Promise<OpRecord> {
  return {
    index: 0,
    kernel: STEP_INPUT,
    attrs: {
      step: state.step,
      cursor: state.cursor,
      stateHash: await commitState(state),
      names: state.variables.map((v) => v.name),
    },
    inputs: [],
    outputs: state.variables.map((v) => ({
      shape: [...v.shape],
      dtype: "float32",
      hash: sha256Sync(tensorBytes(v.data)),
    })),
  };
}

/**
 * Re-executes exactly one step from `state` and records every kernel it runs. The resulting state
 * is bit for bit `trainer.run(state, 1)`: recording reads tensors, never changes them.
 *
 * @example
 * ```ts
 * import { recordStep } from "./ops.ts";
 * declare const trainer: import("../exec/trainer.ts").Trainer;
 * const rec = await recordStep(trainer, trainer.initialState());
 * console.log(rec.ops.length, rec.opsRoot, rec.ops[5].kernel);
 * const revealed = rec.tensors(5); // input bytes of op 5, for the referee
 * ```
 */
export async function recordStep(trainer: Trainer, state: TrainingState): Promise<StepRecording> {
  const backend = tf.getBackend();
  installOpRecorder(backend);
  // Recordings run one at a time: the kernel observer is process-wide, and several nodes of one
  // process (a challenger, a provider, committee members) may each record a step at once.
  const run = recordings.then(() => recordWith(trainer, state));
  recordings = run.catch(() => {});
  return await run;
}

async function recordWith(trainer: Trainer, state: TrainingState): Promise<StepRecording> {
  const head = await stepInputRecord(state);
  const ops: OpRecord[] = [head];
  const producers = new Map<DataId, TensorSource>();
  const hashes = new Map<DataId, Hash>();
  const bytes = new Map<Hash, Uint8Array>();
  let stateLoaded = false;

  const hashInfo = (info: tf.TensorInfo, backendImpl: object, keep: boolean): Hash => {
    let hash = hashes.get(info.dataId);
    if (hash === undefined || (keep && !bytes.has(hash))) {
      const raw = tensorBytes((backendImpl as tf.KernelBackend).readSync(info.dataId), info.dtype);
      hash ??= sha256Sync(raw);
      hashes.set(info.dataId, hash);
      if (keep && !bytes.has(hash)) bytes.set(hash, raw.slice());
    }
    return hash;
  };

  const observer: KernelObserver = ({ kernel, args, out }) => {
    if (!stateLoaded) {
      // The trainer loads the state before its first kernel: these tensors are record 0's outputs.
      trainer.liveTensors().forEach((t, i) => {
        producers.set(t.dataId, { kind: "op", op: 0, output: i });
        hashes.set(t.dataId, head.outputs[i].hash);
      });
      stateLoaded = true;
    }
    const index = ops.length;
    const inputs: OpInput[] = [];
    for (const [name, info] of Object.entries(args.inputs)) {
      if (info == null) continue;
      inputs.push({
        name,
        shape: [...info.shape],
        dtype: info.dtype,
        hash: hashInfo(info, args.backend, true),
        source: producers.get(info.dataId) ?? { kind: "const" },
      });
    }
    const outputs = (Array.isArray(out) ? out : [out]).map((info, output) => {
      producers.set(info.dataId, { kind: "op", op: index, output });
      hashes.delete(info.dataId); // a kernel may return an input's buffer: hash what it holds now
      return {
        shape: [...info.shape],
        dtype: info.dtype,
        hash: hashInfo(info, args.backend, false),
      };
    });
    ops.push({ index, kernel, attrs: canonicalAttrs(args.attrs ?? {}), inputs, outputs });
  };
  // Observe exactly the step: a one-step run does not yield to the event loop, and observation
  // stops before any later await lets another node's kernels run.
  const stop = observeKernels(observer);
  let after: TrainingState;
  let live: readonly tf.Tensor[];
  try {
    after = await trainer.run(state, 1);
    live = trainer.liveTensors();
  } finally {
    stop();
  }
  const stateHash = await commitState(after);
  ops.push({
    index: ops.length,
    kernel: STEP_OUTPUT,
    attrs: { step: after.step, cursor: after.cursor, stateHash },
    inputs: after.variables.map((v, i) => {
      const hash = sha256Sync(tensorBytes(v.data));
      if (!bytes.has(hash)) bytes.set(hash, tensorBytes(v.data).slice());
      return {
        name: v.name,
        shape: [...v.shape],
        dtype: "float32",
        hash,
        source: producers.get(live[i].dataId) ?? { kind: "const" },
      };
    }),
    outputs: [],
  });
  const opHashes = ops.map(hashOpRecord);
  return {
    ops,
    opHashes,
    opsRoot: await merkleRoot(opHashes),
    state: after,
    stateHash,
    tensors: (opIndex: number): Uint8Array[] => {
      const op = ops[opIndex];
      if (op === undefined) {
        throw new VerificationError(
          "VERIFY_BAD_INDEX",
          `op ${opIndex} does not exist; this step has ops 0..${ops.length - 1}`,
          { value: opIndex },
        );
      }
      return op.inputs.map((input) => bytes.get(input.hash)!.slice());
    },
  };
}
