/**
 * The referee of phase 2: the verdict at the first op where two parties' records differ.
 *
 * The referee applies the rules of `lib/proof/bisect.ts` (program, step input, sources) and, when
 * no rule decides, recomputes that one kernel on the revealed input bytes under the job's
 * execution profile (`tf.engine().runKernel`) and names the side whose output hashes are right.
 * At the `@StepOutput` pseudo-op it recomputes the state commitment from the revealed bytes
 * instead. Revealed bytes must hash to the agreed input hashes, or the revealer loses.
 *
 * The program a record is checked against is derived from the plan by {@link recordProgram} (one
 * step on public data: the spec's initial weights at the disputed step and cursor). The referee
 * derives it only when the two records differ in structure; when their structure is the same, at
 * least one side is honest, so that structure is the program's (Verde's assumption: correct if at
 * least one party is honest).
 *
 * @module
 */

import * as tf from "npm:@tensorflow/tfjs@4.22.0";
import { canonicalJson } from "../core/canonical.ts";
import { VerificationError } from "../core/errors.ts";
import type { Hash } from "../core/hash.ts";
import { assertActiveProfile } from "../exec/profile.ts";
import type { TrainingState } from "../exec/state.ts";
import type { Trainer } from "../exec/trainer.ts";
import { type Fault, findOpFaults, type OpShape, programOf, type Side } from "./bisect.ts";
import { commitState } from "./commitment.ts";
import {
  attrsFromCanonical,
  type OpRecord,
  recordStep,
  sha256Sync,
  STEP_INPUT,
  STEP_OUTPUT,
  stepInputRecord,
  tensorBytes,
} from "./ops.ts";

/** The referee's decision at one op. */
export interface Verdict {
  /** Index of the judged op in the step's records. */
  readonly opIndex: number;
  /** Its kernel (from the records; `@StepInput`/`@StepOutput` for the pseudo-ops). */
  readonly kernel: string;
  /** The side that was right, or null when both are at fault. */
  readonly winner: Side | null;
  /** The sides at fault and why. */
  readonly faults: readonly Fault[];
  /** Output hashes the referee computed, when it recomputed the op. */
  readonly recomputed?: readonly Hash[];
  /** Kernels the referee ran to decide: 1 for a recomputed op, 0 for a rule-based verdict. */
  readonly kernelsRun: number;
  /** Whether the referee had to derive the program from the plan (one extra public step). */
  readonly programDerived: boolean;
}

/** Input bytes of the judged op as one side revealed them. */
export interface Reveal {
  /** Who revealed them. */
  readonly by: Side;
  /** Raw bytes of each input, in input order. */
  readonly bytes: readonly Uint8Array[];
}

/**
 * The program of step `step -> step + 1` of a plan: records of one step from the spec's initial
 * weights at that step and cursor, with values stripped. Only public data goes in.
 *
 * @example
 * ```ts
 * import { recordProgram } from "./referee.ts";
 * declare const trainer: import("../exec/trainer.ts").Trainer;
 * const program = await recordProgram(trainer, { step: 41, cursor: 41 * 32 });
 * console.log(program.length, program[1].kernel);
 * ```
 */
export async function recordProgram(
  trainer: Trainer,
  at: { step: number; cursor: number },
): Promise<OpShape[]> {
  const base = trainer.initialState();
  const rec = await recordStep(trainer, { ...base, step: at.step, cursor: at.cursor });
  return programOf(rec.ops);
}

/** The data cursor of a plan after `step` steps (the sampler's deterministic walk). */
export function cursorAt(trainer: Trainer, step: number): number {
  let cursor = 0;
  for (let i = 0; i < step; i++) cursor = trainer.sampler.next(cursor);
  return cursor;
}

function typedArray(bytes: Uint8Array, dtype: string): Float32Array | Int32Array | Uint8Array {
  const copy = bytes.slice().buffer;
  switch (dtype) {
    case "float32":
      return new Float32Array(copy);
    case "int32":
      return new Int32Array(copy);
    case "bool":
      return new Uint8Array(copy);
  }
  throw new VerificationError("VERIFY_UNSUPPORTED_TENSOR", `cannot recompute a ${dtype} input`, {
    value: dtype,
  });
}

/**
 * Runs one recorded kernel on the given input bytes under the active backend and returns the
 * SHA-256 of each output. The bytes must already be checked against the record's input hashes.
 *
 * @example
 * ```ts
 * import { recomputeOp } from "./referee.ts";
 * declare const rec: import("./ops.ts").StepRecording;
 * const hashes = recomputeOp(rec.ops[7], rec.tensors(7));
 * console.log(hashes[0] === rec.ops[7].outputs[0].hash); // true for an honest record
 * ```
 */
export function recomputeOp(op: OpRecord, inputs: readonly Uint8Array[]): Hash[] {
  if (op.kernel === STEP_INPUT || op.kernel === STEP_OUTPUT || inputs.length !== op.inputs.length) {
    throw new VerificationError(
      "VERIFY_NOT_RECOMPUTABLE",
      `op ${op.index} (${op.kernel}) is not a kernel with ${inputs.length} inputs`,
      { value: op.index },
    );
  }
  return tf.tidy(() => {
    const named: Record<string, tf.Tensor> = {};
    op.inputs.forEach((input, i) => {
      named[input.name] = tf.tensor(
        typedArray(inputs[i], input.dtype),
        [...input.shape],
        input
          .dtype as tf.DataType,
      );
    });
    const attrs = attrsFromCanonical(op.attrs) as tf.NamedAttrMap;
    const out = tf.engine().runKernel(op.kernel, named as tf.NamedTensorMap, attrs);
    return (Array.isArray(out) ? out : [out]).map((t) =>
      sha256Sync(tensorBytes(t.dataSync(), t.dtype))
    );
  });
}

/** Options of {@link judgeOp}. */
export interface JudgeOptions {
  /** Index of the first op whose records differ. */
  index: number;
  /** The agreed records `0..index-1`. */
  agreed: readonly OpRecord[];
  /** The challenger's record at `index` (absent if its list is shorter). */
  challenger: OpRecord | undefined;
  /** The provider's record at `index` (absent if its list is shorter). */
  provider: OpRecord | undefined;
  /** Derives the program of the step; called only when the records' structure differs. */
  program: () => Promise<readonly OpShape[]>;
  /** Execution profile id of the job; the referee refuses to recompute under another one. */
  profile: string;
  /** Commitment of the agreed state before the step (needed at index 0). */
  agreedHash?: Hash;
  /** The agreed state before the step, as revealed by a party (needed at index 0). */
  agreedState?: { state: TrainingState; by: Side };
  /** Input bytes of the op as revealed by one or both sides; the first valid one is used. */
  reveals?: readonly Reveal[];
}

function verdict(
  base: { opIndex: number; kernel: string; programDerived: boolean },
  faults: Fault[],
  extra: { recomputed?: Hash[]; kernelsRun?: number } = {},
): Verdict {
  const losers = new Set(faults.map((f) => f.side));
  const winner: Side | null = losers.size === 2
    ? null
    : losers.has("provider")
    ? "challenger"
    : losers.has("challenger")
    ? "provider"
    : null;
  if (losers.size === 0) {
    throw new VerificationError(
      "VERIFY_NO_FAULT",
      `op ${base.opIndex} (${base.kernel}): both records are consistent; they should not differ`,
      { value: base },
    );
  }
  return { ...base, winner, faults, kernelsRun: extra.kernelsRun ?? 0, ...extra };
}

/**
 * Decides the dispute at the first differing op: rule faults first, then one recomputed kernel
 * (or the recomputed state commitment at `@StepOutput`).
 *
 * @example
 * ```ts
 * import { judgeOp } from "./referee.ts";
 * declare const options: import("./referee.ts").JudgeOptions;
 * const v = await judgeOp(options);
 * console.log(v.winner, v.kernel, v.faults[0]?.reason);
 * ```
 */
export async function judgeOp(options: JudgeOptions): Promise<Verdict> {
  const { index, challenger, provider } = options;
  const kernel = challenger?.kernel ?? provider?.kernel ?? "(none)";
  let programDerived = false;
  let expected: OpShape | undefined;
  const [shapeC] = challenger ? programOf([challenger]) : [];
  const [shapeP] = provider ? programOf([provider]) : [];
  if (shapeC && shapeP && canonicalJson(shapeC) === canonicalJson(shapeP)) {
    expected = shapeC;
  } else {
    expected = (await options.program())[index];
    programDerived = true;
  }
  const base = { opIndex: index, kernel, programDerived };
  let stepInput: OpRecord | undefined;
  if (index === 0) {
    const revealed = options.agreedState;
    if (!revealed || options.agreedHash === undefined) {
      throw new VerificationError(
        "VERIFY_MISSING_STEP_INPUT",
        "the dispute is at the step input: pass agreedHash and the revealed agreedState",
      );
    }
    if (await commitState(revealed.state) !== options.agreedHash) {
      return verdict(base, [{
        side: revealed.by,
        reason: "bad-reveal",
        detail: "the revealed state does not hash to the agreed state commitment",
      }]);
    }
    stepInput = await stepInputRecord(revealed.state);
  }
  const faults = findOpFaults({
    index,
    expected,
    agreed: options.agreed,
    challenger,
    provider,
    ...(stepInput ? { stepInput } : {}),
  });
  if (faults.length > 0) return verdict(base, faults);

  // Neither side broke a rule: same inputs, different outputs. Recompute from revealed bytes.
  const op = challenger!;
  const revealFaults: Fault[] = [];
  const reveal = (options.reveals ?? []).find((r) => {
    const bad = r.bytes.length !== op.inputs.length ||
      op.inputs.some((input, i) => sha256Sync(r.bytes[i]) !== input.hash);
    if (bad) {
      revealFaults.push({
        side: r.by,
        reason: "bad-reveal",
        detail: `revealed inputs of op ${index} do not hash to the agreed input hashes`,
      });
    }
    return !bad;
  });
  if (reveal === undefined) {
    if (revealFaults.length > 0) return verdict(base, revealFaults);
    throw new VerificationError(
      "VERIFY_MISSING_REVEAL",
      `op ${index} (${op.kernel}) must be recomputed: pass the revealed input bytes`,
      { value: index },
    );
  }
  assertActiveProfile(options.profile);
  const sides = { challenger, provider } as const;
  if (op.kernel === STEP_OUTPUT) {
    const step = (op.attrs as { step: number }).step;
    const cursor = (op.attrs as { cursor: number }).cursor;
    const state: TrainingState = {
      step,
      cursor,
      variables: op.inputs.map((input, i) => ({
        name: input.name,
        shape: [...input.shape],
        data: new Float32Array(reveal.bytes[i].slice().buffer),
      })),
    };
    const actual = await commitState(state);
    const wrong: Fault[] = (["challenger", "provider"] as const)
      .filter((s) => (sides[s]!.attrs as { stateHash?: string }).stateHash !== actual)
      .map((side) => ({
        side,
        reason: "state-commitment",
        detail: `the step's output tensors commit to state ${actual}, not to the claimed ${
          (sides[side]!.attrs as { stateHash?: string }).stateHash
        }`,
      }));
    return verdict(base, [...revealFaults, ...wrong], { recomputed: [actual] });
  }
  const recomputed = recomputeOp(op, reveal.bytes);
  const wrong: Fault[] = (["challenger", "provider"] as const)
    .filter((s) => sides[s]!.outputs.some((o, i) => o.hash !== recomputed[i]))
    .map((side) => ({
      side,
      reason: "wrong-output",
      detail: `${op.kernel} on the agreed inputs gives outputs ${recomputed.join(",")}, not ${
        sides[side]!.outputs.map((o) => o.hash).join(",")
      }`,
    }));
  return verdict(base, [...revealFaults, ...wrong], { recomputed, kernelsRun: 1 });
}
