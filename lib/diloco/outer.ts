/**
 * The DiLoCo outer step (Douillard et al. 2023, "DiLoCo: Distributed Low-Communication Training
 * of Language Models"): pseudo-gradients, their deterministic aggregation, and the outer Nesterov
 * SGD update, all as pure functions over plain `Float32Array`s.
 *
 * Every party must compute the identical outer state, so the arithmetic is float32 done in JS in
 * one fixed order: each operation is rounded to float32 with `Math.fround` (IEEE 754 round to
 * nearest even; a double result rounded to float32 equals the correctly rounded float32 result for
 * +, -, * and /), and sums run over workers in ascending worker index. No tfjs kernel is involved,
 * so the result does not depend on a backend, SIMD or thread count.
 *
 * @module
 */

import { SpecError, VerificationError } from "../core/errors.ts";
import type { Hash } from "../core/hash.ts";
import type { StateVariable, TrainingState } from "../exec/state.ts";
import { commitState, encodeState } from "../proof/commitment.ts";

/** Hyperparameters of the outer Nesterov SGD. */
export interface OuterOptimizerConfig {
  /** Outer learning rate. DiLoCo default 0.7. */
  readonly learningRate: number;
  /** Nesterov momentum. DiLoCo default 0.9. */
  readonly momentum: number;
}

/** DiLoCo's outer optimizer defaults: Nesterov SGD, learning rate 0.7, momentum 0.9. */
export const DILOCO_OUTER: OuterOptimizerConfig = Object.freeze({
  learningRate: 0.7,
  momentum: 0.9,
});

/** What every worker agrees on between rounds: the outer weights and momentum, and the round. */
export interface OuterState {
  /** Rounds completed so far (0 before the first outer step). */
  readonly round: number;
  /** Model weights, in the trainer's canonical order (no optimizer slots). */
  readonly weights: readonly StateVariable[];
  /** The outer optimizer's momentum buffer, one per weight, same shapes. */
  readonly momentum: readonly Float32Array[];
}

/** Suffix of the momentum variables in the outer-state commitment. */
export const OUTER_MOMENTUM_SUFFIX = "/outer_momentum";

/**
 * The outer state at round 0: the given weights (copied) and zero momentum.
 *
 * @example
 * ```ts
 * import { initialOuterState } from "./outer.ts";
 * const outer = initialOuterState([{ name: "w", shape: [2], data: new Float32Array([1, 2]) }]);
 * console.log(outer.round, outer.momentum[0]); // 0 Float32Array [0, 0]
 * ```
 */
export function initialOuterState(weights: readonly StateVariable[]): OuterState {
  return {
    round: 0,
    weights: weights.map((v) => ({ name: v.name, shape: [...v.shape], data: v.data.slice() })),
    momentum: weights.map((v) => new Float32Array(v.data.length)),
  };
}

/** Total float32 values across the weights of an outer state. */
export function parameterCount(weights: readonly StateVariable[]): number {
  let n = 0;
  for (const v of weights) n += v.data.length;
  return n;
}

/** Concatenates weight tensors into one flat array, in order. */
export function flattenWeights(weights: readonly StateVariable[]): Float32Array {
  const out = new Float32Array(parameterCount(weights));
  let offset = 0;
  for (const v of weights) {
    out.set(v.data, offset);
    offset += v.data.length;
  }
  return out;
}

/**
 * A worker's pseudo-gradient: outer weights minus its weights after its inner steps, flattened in
 * canonical weight order. Only the first `outer.length` variables of `local` (the model weights)
 * are read, so a full training state (weights, then optimizer slots) can be passed as is.
 *
 * @example
 * ```ts
 * import { pseudoGradient } from "./outer.ts";
 * const w = (x: number[]) => [{ name: "w", shape: [x.length], data: new Float32Array(x) }];
 * pseudoGradient(w([1, 2]), w([0.5, 2.5])); // Float32Array [0.5, -0.5]
 * ```
 */
export function pseudoGradient(
  outer: readonly StateVariable[],
  local: readonly StateVariable[],
): Float32Array {
  const out = new Float32Array(parameterCount(outer));
  let offset = 0;
  outer.forEach((v, i) => {
    const l = local[i];
    if (!l || l.name !== v.name || l.data.length !== v.data.length) {
      throw new SpecError(
        "SPEC_STATE_LAYOUT_MISMATCH",
        `local weight ${i} (${l?.name}) does not match outer weight ${v.name}; both states must ` +
          "come from the same model spec",
        { value: l?.name },
      );
    }
    // Float32Array stores round each double difference to float32 (one correctly rounded op).
    for (let j = 0; j < v.data.length; j++) out[offset + j] = v.data[j] - l.data[j];
    offset += v.data.length;
  });
  return out;
}

/**
 * Mean of pseudo-gradients: summed in the order given (callers pass them in ascending worker
 * index), each addition rounded to float32, then divided by their number. Every party that passes
 * the same deltas in the same order gets identical bits.
 *
 * @example
 * ```ts
 * import { aggregateDeltas } from "./outer.ts";
 * aggregateDeltas([new Float32Array([1, 2]), new Float32Array([3, 4])]); // [2, 3]
 * ```
 */
export function aggregateDeltas(deltas: readonly Float32Array[]): Float32Array {
  if (deltas.length === 0) {
    throw new SpecError("SPEC_NO_DELTAS", "cannot aggregate zero deltas; skip the outer step");
  }
  const n = deltas[0].length;
  const acc = new Float32Array(n);
  for (const d of deltas) {
    if (d.length !== n) {
      throw new SpecError(
        "SPEC_DELTA_LENGTH",
        `deltas differ in length (${d.length} vs ${n}); validate deltas before aggregating`,
        { value: d.length },
      );
    }
    for (let j = 0; j < n; j++) acc[j] = acc[j] + d[j];
  }
  const count = deltas.length;
  for (let j = 0; j < n; j++) acc[j] = acc[j] / count;
  return acc;
}

/**
 * Applies one outer Nesterov SGD step with the mean pseudo-gradient `g` (PyTorch's form, as DiLoCo
 * uses): `m ← μ·m + g`, `w ← w − lr·(g + μ·m)`, each operation rounded to float32. Returns a new
 * state with `round + 1`; the input is not modified.
 *
 * @example
 * ```ts
 * import { DILOCO_OUTER, initialOuterState, outerStep } from "./outer.ts";
 * const outer = initialOuterState([{ name: "w", shape: [1], data: new Float32Array([1]) }]);
 * const next = outerStep(outer, new Float32Array([0.1]), DILOCO_OUTER);
 * console.log(next.round); // 1
 * ```
 */
export function outerStep(
  outer: OuterState,
  meanDelta: Float32Array,
  config: OuterOptimizerConfig = DILOCO_OUTER,
): OuterState {
  const total = parameterCount(outer.weights);
  if (meanDelta.length !== total) {
    throw new SpecError(
      "SPEC_DELTA_LENGTH",
      `mean delta has ${meanDelta.length} values but the model has ${total}`,
      { value: meanDelta.length },
    );
  }
  const f = Math.fround;
  const lr = f(config.learningRate);
  const mu = f(config.momentum);
  let offset = 0;
  const weights: StateVariable[] = [];
  const momentum: Float32Array[] = [];
  outer.weights.forEach((v, i) => {
    const w = v.data.slice();
    const m = outer.momentum[i].slice();
    for (let j = 0; j < w.length; j++) {
      const g = meanDelta[offset + j];
      const mj = f(f(mu * m[j]) + g);
      m[j] = mj;
      w[j] = f(w[j] - f(lr * f(g + f(mu * mj))));
    }
    offset += w.length;
    weights.push({ name: v.name, shape: [...v.shape], data: w });
    momentum.push(m);
  });
  return { round: outer.round + 1, weights, momentum };
}

/** The same outer state one round later, unchanged: the rule when no worker counted. */
export function skipOuterStep(outer: OuterState): OuterState {
  return { ...outer, round: outer.round + 1 };
}

/**
 * The outer state as a {@link TrainingState} for `lib/proof/commitment.ts`: weights, then one
 * `<name>/outer_momentum` variable per weight, `step` = round, `cursor` = 0.
 */
export function outerAsTrainingState(outer: OuterState): TrainingState {
  return {
    step: outer.round,
    cursor: 0,
    variables: [
      ...outer.weights,
      ...outer.weights.map((v, i) => ({
        name: `${v.name}${OUTER_MOMENTUM_SUFFIX}`,
        shape: v.shape,
        data: outer.momentum[i],
      })),
    ],
  };
}

/** Canonical bytes of an outer state (the `train-state/1` encoding of {@link outerAsTrainingState}). */
export function encodeOuterState(outer: OuterState): Uint8Array<ArrayBuffer> {
  return encodeState(outerAsTrainingState(outer));
}

/** Reads an outer state back from {@link encodeOuterState} bytes (decoded as a training state). */
export function outerFromTrainingState(state: TrainingState): OuterState {
  const half = state.variables.length / 2;
  if (!Number.isInteger(half) || state.cursor !== 0) {
    throw new SpecError("SPEC_OUTER_STATE", "this state is not an outer state", {
      value: state.variables.length,
    });
  }
  const weights = state.variables.slice(0, half);
  const moms = state.variables.slice(half);
  moms.forEach((m, i) => {
    if (m.name !== `${weights[i].name}${OUTER_MOMENTUM_SUFFIX}`) {
      throw new SpecError("SPEC_OUTER_STATE", `unexpected outer variable ${m.name}`, {
        value: m.name,
      });
    }
  });
  return { round: state.step, weights, momentum: moms.map((m) => m.data) };
}

/**
 * Commitment of an outer state: SHA-256 of its canonical bytes, binding weights, outer momentum
 * and round.
 *
 * @example
 * ```ts
 * import { commitOuterState, initialOuterState } from "./outer.ts";
 * const outer = initialOuterState([{ name: "w", shape: [1], data: new Float32Array([1]) }]);
 * const hash = await commitOuterState(outer);
 * ```
 */
export function commitOuterState(outer: OuterState): Promise<Hash> {
  return commitState(outerAsTrainingState(outer));
}

/**
 * Audits an outer step: recomputes it from the state before the round and the counted deltas (in
 * ascending worker order) and checks the result's commitment against the claimed one. Throws
 * `VerificationError` `VERIFY_OUTER_STEP_MISMATCH` when they differ; returns the recomputed state.
 *
 * @example
 * ```ts
 * import { commitOuterState, initialOuterState, outerStep, verifyOuterStep } from "./outer.ts";
 * const before = initialOuterState([{ name: "w", shape: [1], data: new Float32Array([1]) }]);
 * const deltas = [new Float32Array([0.1]), new Float32Array([0.3])];
 * const claimed = await commitOuterState(outerStep(before, new Float32Array([0.2])));
 * await verifyOuterStep({ before, deltas, claimed });
 * ```
 */
export async function verifyOuterStep(params: {
  before: OuterState;
  deltas: readonly Float32Array[];
  claimed: Hash;
  config?: OuterOptimizerConfig;
}): Promise<OuterState> {
  const { before, deltas } = params;
  const after = deltas.length === 0
    ? skipOuterStep(before)
    : outerStep(before, aggregateDeltas(deltas), params.config ?? DILOCO_OUTER);
  const got = await commitOuterState(after);
  if (got !== params.claimed) {
    throw new VerificationError(
      "VERIFY_OUTER_STEP_MISMATCH",
      `outer step of round ${before.round} recomputes to ${got}, not the claimed ` +
        `${params.claimed}; the claimant aggregated other deltas or computed it differently`,
      { value: { claimed: params.claimed, got } },
    );
  }
  return after;
}
