/**
 * The training state: everything a step reads and writes, as plain host memory.
 *
 * A state is the model's weights, the optimizer's slot variables, the step counter and the data
 * cursor (examples consumed so far). Variables are kept in one fixed order: model weights in the
 * order the model lists them, then the optimizer slots of each trainable weight in the same order.
 * That order is what state commitments hash, so it never depends on anything but the spec.
 *
 * @module
 */

/** One named float32 tensor of a training state. */
export interface StateVariable {
  /** Canonical name, e.g. `layer_0/kernel` or `layer_0/kernel/adam_m`. */
  readonly name: string;
  /** Tensor shape. */
  readonly shape: readonly number[];
  /** Row-major float32 values. */
  readonly data: Float32Array;
}

/** Weights + optimizer slots + step counter + data cursor. */
export interface TrainingState {
  /** Optimizer steps taken so far. */
  readonly step: number;
  /** Examples consumed so far (the position in the seeded data order). */
  readonly cursor: number;
  /** Weights then optimizer slots, in canonical order. */
  readonly variables: readonly StateVariable[];
}

/** Number of float32 values in a state. */
export function stateSize(state: TrainingState): number {
  let n = 0;
  for (const v of state.variables) n += v.data.length;
  return n;
}

/** A deep copy of a state, sharing no buffers with the original. */
export function cloneState(state: TrainingState): TrainingState {
  return {
    step: state.step,
    cursor: state.cursor,
    variables: state.variables.map((v) => ({
      name: v.name,
      shape: [...v.shape],
      data: v.data.slice(),
    })),
  };
}
