/**
 * The deterministic trainer: an explicit step function over an explicit state.
 *
 * A step reads the batch at the data cursor (from the seeded sampler), runs the model forward and
 * backward with tfjs autodiff, applies the optimizer to the trainable weights in canonical order,
 * and advances step and cursor. Nothing else is read: no `Math.random`, no clock, no `model.fit`.
 * So `run(state, n)` from the same state under the same profile gives the same bits, in any
 * process, which is what lets a verifier re-execute any segment of a trace.
 *
 * @module
 */

import * as tf from "npm:@tensorflow/tfjs@4.22.0";
import { BackendWasm } from "npm:@tensorflow/tfjs-backend-wasm@4.22.0";
import { DatasetError, SpecError, TrainingError } from "../core/errors.ts";
import type { Hash } from "../core/hash.ts";
import { type Dataset, gatherBatch } from "./dataset.ts";
import {
  buildModel,
  finalActivationOf,
  inputShapeOf,
  type LayersModel,
  type ModelSpec,
} from "./model.ts";
import { softmaxCrossEntropy } from "./kernels/mod.ts";
import { applyUpdate, slotNames } from "./optimizer.ts";
import { activateProfile, DEFAULT_PROFILE, type ExecutionProfile } from "./profile.ts";
import { createSampler, type Sampler } from "./sampler.ts";
import type { StateVariable, TrainingState } from "./state.ts";

/** A tfjs tensor (`tf.Tensor`). */
export type Tensor = tf.Tensor;

/** What determines the bits of every step besides the state: the replayable training setup. */
export interface TrainingPlan {
  /** Content id of the model spec. */
  readonly specId: Hash;
  /** Content id of the training dataset. */
  readonly datasetId: Hash;
  /** Execution profile id. */
  readonly profile: string;
  /** Examples per step. */
  readonly batchSize: number;
  /** Seed of the data order. */
  readonly dataSeed: number;
  /** The shard of the dataset this run trains on, if any. */
  readonly shard?: { readonly index: number; readonly of: number };
}

/** Options of {@link Trainer.create}. */
export interface TrainerOptions {
  /** The model to train. */
  spec: ModelSpec;
  /** Training data. */
  dataset: Dataset;
  /** Examples per step. */
  batchSize: number;
  /** Seed of the data order. Default 0. */
  dataSeed?: number;
  /** Train on shard `index` of `of` only. Default: the whole dataset. */
  shard?: { index: number; of: number };
  /** Execution profile id or alias. Default {@link DEFAULT_PROFILE}. */
  profile?: string | ExecutionProfile;
}

/** What {@link Trainer.run} reports after each step. */
export interface StepInfo {
  /** Step counter after the step. */
  readonly step: number;
  /** Data cursor after the step. */
  readonly cursor: number;
  /** Training loss of the step's batch. */
  readonly loss: number;
}

/** Options of {@link Trainer.run}. */
export interface RunOptions {
  /** Called after every step. */
  onStep?: (info: StepInfo) => void;
  /** Call `onCheckpoint` whenever the step counter is a multiple of this. */
  checkpointEvery?: number;
  /**
   * Receives the state at each checkpoint step. The state borrows the backend's memory (reading
   * it out costs no copy): read its variables before the callback returns, and copy them
   * (`cloneState`) to keep them. A returned promise is awaited; return quickly and finish slow
   * work (hashing, disk) in the background to keep training going.
   */
  onCheckpoint?: (state: TrainingState) => void | Promise<void>;
  /** Stops training at the next step boundary with a `TRAINING_ABORTED` error. */
  signal?: AbortSignal;
}

/** Loss and accuracy over a dataset. */
export interface Evaluation {
  /** Mean loss per prediction (per example, or per position of a sequence label). */
  readonly loss: number;
  /**
   * Fraction of predictions whose arg-max equals the label (classification only; per position for
   * sequence labels).
   */
  readonly accuracy: number;
  /** `exp(loss)` for cross-entropy (a language model's perplexity); NaN for other losses. */
  readonly perplexity: number;
  /** Examples evaluated. */
  readonly count: number;
}

/**
 * Longest stretch of training between two turns of the event loop. A node trains in the same
 * thread that serves its peers (libp2p streams, progress, chain events), so slow steps (a
 * transformer's) must not starve them. The schedule changes no bits: only when timers run.
 */
const YIELD_AFTER_MS = 40;

/**
 * Trains a {@link ModelSpec} on a {@link Dataset} one explicit step at a time.
 *
 * @example
 * ```ts
 * import { Trainer } from "./trainer.ts";
 * declare const spec: import("./model.ts").ModelSpec;
 * declare const data: import("./dataset.ts").Dataset;
 * const trainer = await Trainer.create({ spec, dataset: data, batchSize: 128 });
 * const start = trainer.initialState();
 * const end = await trainer.run(start, 100, { onStep: (s) => console.log(s.step, s.loss) });
 * const again = await trainer.run(start, 100); // bitwise identical to `end`
 * trainer.dispose();
 * ```
 */
export class Trainer {
  /** The replayable setup of this trainer. */
  readonly plan: TrainingPlan;
  /** The model spec being trained. */
  readonly spec: ModelSpec;
  /** The dataset being trained on. */
  readonly dataset: Dataset;
  /** The seeded batch sampler. */
  readonly sampler: Sampler;
  /** The tfjs model whose variables hold the live weights. */
  readonly model: LayersModel;
  readonly #inputShape: number[];
  readonly #trainable: tf.Variable[];
  readonly #weights: tf.Variable[];
  readonly #slots: tf.Variable[][];
  readonly #names: string[];
  readonly #initial: TrainingState;
  #disposed = false;

  private constructor(
    options: TrainerOptions,
    profile: ExecutionProfile,
    model: tf.LayersModel,
    sampler: Sampler,
  ) {
    const { spec, dataset } = options;
    this.spec = spec;
    this.dataset = dataset;
    this.model = model;
    this.sampler = sampler;
    this.plan = {
      specId: spec.id,
      datasetId: dataset.id,
      profile: profile.id,
      batchSize: options.batchSize,
      dataSeed: options.dataSeed ?? 0,
      ...(options.shard ? { shard: { index: options.shard.index, of: options.shard.of } } : {}),
    };
    this.#inputShape = inputShapeOf(model);
    this.#weights = model.weights.map((w) => w.read() as tf.Variable);
    this.#trainable = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const slots = slotNames(spec.optimizer);
    this.#slots = this.#trainable.map((v) => slots.map(() => tf.variable(tf.zerosLike(v))));
    const weightNames = model.weights.map((w) => w.originalName);
    const trainableNames = model.trainableWeights.map((w) => w.originalName);
    this.#names = [
      ...weightNames,
      ...trainableNames.flatMap((n) => slots.map((s) => `${n}/${s}`)),
    ];
    this.#initial = this.#readState(0, 0);
  }

  /** Builds the model of `spec` under the profile and checks the data fits it. */
  static async create(options: TrainerOptions): Promise<Trainer> {
    const profile = await activateProfile(options.profile ?? DEFAULT_PROFILE);
    const { batchSize, dataset, spec } = options;
    if (!Number.isInteger(batchSize) || batchSize <= 0) {
      throw new SpecError(
        "SPEC_INVALID_BATCH_SIZE",
        `batchSize must be a positive integer, got ${batchSize}`,
        { value: batchSize },
      );
    }
    const model = await buildModel(spec);
    try {
      checkDataFitsModel(spec, model, dataset);
      const sampler = createSampler({
        count: dataset.count,
        seed: options.dataSeed ?? 0,
        batchSize,
        ...(options.shard ? { shard: options.shard } : {}),
      });
      return new Trainer(options, profile, model, sampler);
    } catch (e) {
      model.dispose();
      throw e;
    }
  }

  /** Names of the state variables, in canonical order (weights, then optimizer slots). */
  get variableNames(): readonly string[] {
    return this.#names;
  }

  /** The state at step 0: initial weights from the spec seed, zeroed optimizer slots. */
  initialState(): TrainingState {
    return this.#initial;
  }

  /**
   * Runs `steps` optimizer steps from `from` and returns the state after them. Any segment of a
   * run can be re-executed by passing the state at its start.
   */
  async run(from: TrainingState, steps: number, options: RunOptions = {}): Promise<TrainingState> {
    this.#assertLive();
    if (!Number.isInteger(steps) || steps < 0) {
      throw new SpecError("SPEC_INVALID_STEPS", `steps must be an integer >= 0, got ${steps}`, {
        value: steps,
      });
    }
    const every = options.checkpointEvery;
    if (every !== undefined && (!Number.isInteger(every) || every <= 0)) {
      throw new SpecError(
        "SPEC_INVALID_CHECKPOINT_INTERVAL",
        `checkpointEvery must be a positive integer, got ${every}`,
        { value: every },
      );
    }
    this.loadState(from);
    let { step, cursor } = from;
    const lossOf = this.#lossFunction();
    let lastYield = performance.now();
    for (let i = 0; i < steps; i++) {
      if (options.signal?.aborted) {
        throw new TrainingError("TRAINING_ABORTED", `training was cancelled at step ${step}`, {
          value: step,
        });
      }
      const indices = this.sampler.batch(cursor);
      const loss = this.#step(indices, step + 1, lossOf);
      if (!Number.isFinite(loss)) {
        throw new TrainingError(
          "TRAINING_NON_FINITE_LOSS",
          `loss became ${loss} at step ${step + 1}; lower the learning rate or check the data ` +
            "for extreme values",
          { value: { step: step + 1, loss } },
        );
      }
      step += 1;
      cursor = this.sampler.next(cursor);
      options.onStep?.({ step, cursor, loss });
      if (every !== undefined && step % every === 0 && options.onCheckpoint) {
        await options.onCheckpoint(this.#borrowState(step, cursor));
      }
      // Let timers, I/O completions and progress consumers run between steps (not after the
      // last one: a one-step run stays atomic, which the op recorder relies on).
      if (i < steps - 1 && performance.now() - lastYield >= YIELD_AFTER_MS) {
        await yieldToEventLoop();
        lastYield = performance.now();
      }
    }
    return this.#readState(step, cursor);
  }

  /**
   * The live tensors holding the state variables, in canonical order, for proofs that trace which
   * tensors a step reads and writes (`lib/proof/ops.ts`). Read only: never assign or dispose them.
   */
  liveTensors(): readonly Tensor[] {
    this.#assertLive();
    return this.#liveVariables();
  }

  /** Loads a state's weights and slots into the live variables. */
  loadState(state: TrainingState): void {
    this.#assertLive();
    const live = this.#liveVariables();
    if (
      state.variables.length !== live.length ||
      state.variables.some((v, i) =>
        v.name !== this.#names[i] || v.data.length !== live[i].size ||
        !sameShape(v.shape, live[i].shape)
      )
    ) {
      throw new SpecError(
        "SPEC_STATE_LAYOUT_MISMATCH",
        "this state does not belong to this model and optimizer (variable names or shapes " +
          `differ); expected ${this.#names.join(", ")}`,
        { value: state.variables.map((v) => v.name) },
      );
    }
    tf.tidy(() => {
      state.variables.forEach((v, i) => live[i].assign(tf.tensor(v.data, live[i].shape)));
    });
  }

  /**
   * Evaluates a state on a dataset: mean loss and accuracy.
   *
   * @example
   * ```ts
   * declare const trainer: import("./trainer.ts").Trainer;
   * declare const test: import("./dataset.ts").Dataset;
   * const { accuracy } = trainer.evaluate(trainer.initialState(), test);
   * ```
   */
  evaluate(state: TrainingState, dataset: Dataset, batchSize = 1000): Evaluation {
    this.#assertLive();
    checkDataFitsModel(this.spec, this.model, dataset);
    this.loadState(state);
    const lossOf = this.#lossFunction();
    const classify = this.spec.loss === "sparseCategoricalCrossentropy";
    const positions = product(this.dataset.labelShape);
    let lossSum = 0;
    let correct = 0;
    for (let start = 0; start < dataset.count; start += batchSize) {
      const n = Math.min(batchSize, dataset.count - start);
      const indices = new Uint32Array(n).map((_, i) => start + i);
      const batch = gatherBatch(dataset, indices);
      const [loss, hits] = tf.tidy(() => {
        const x = tf.tensor(batch.features, [n, ...this.#inputShape]);
        const y = this.#labelTensor(batch.labels, n);
        const out = this.model.apply(x, { training: false }) as tf.Tensor;
        const l = lossOf(out, y).mul(n);
        const h = classify ? tf.sum(tf.equal(tf.argMax(out, -1), y).cast("int32")) : tf.scalar(0);
        return [l.dataSync()[0], h.dataSync()[0]];
      });
      lossSum += loss;
      correct += hits;
    }
    const loss = lossSum / dataset.count;
    return {
      loss,
      accuracy: classify ? correct / (dataset.count * positions) : NaN,
      perplexity: classify ? Math.exp(loss) : NaN,
      count: dataset.count,
    };
  }

  /**
   * A fresh tfjs model holding a state's weights, for prediction or saving; the caller owns it.
   */
  async toLayersModel(state: TrainingState): Promise<LayersModel> {
    return loadWeights(await buildModel(this.spec), state);
  }

  /** Frees the model and optimizer variables. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.model.dispose();
    for (const slots of this.#slots) for (const s of slots) s.dispose();
  }

  #step(indices: Uint32Array, step: number, lossOf: LossFunction): number {
    const batch = gatherBatch(this.dataset, indices);
    const n = indices.length;
    return tf.tidy(() => {
      const x = tf.tensor(batch.features, [n, ...this.#inputShape]);
      const y = this.#labelTensor(batch.labels, n);
      const { value, grads } = tf.variableGrads(
        () => lossOf(this.model.apply(x, { training: true }) as tf.Tensor, y) as tf.Scalar,
        this.#trainable,
      );
      this.#trainable.forEach((v, i) =>
        applyUpdate(this.spec.optimizer, step, v, grads[v.name], this.#slots[i])
      );
      return value.dataSync()[0];
    });
  }

  #labelTensor(labels: Float32Array, n: number): tf.Tensor {
    const shape = [n, ...this.dataset.labelShape];
    if (this.spec.loss === "sparseCategoricalCrossentropy") {
      return tf.tensor(Int32Array.from(labels), shape, "int32");
    }
    return tf.tensor(labels, shape);
  }

  #lossFunction(): LossFunction {
    if (this.spec.loss === "meanSquaredError") {
      return (out, y) => tf.mean(tf.square(tf.sub(out, y)));
    }
    const classes = this.model.outputs[0].shape[this.model.outputs[0].shape.length - 1] as number;
    const softmaxOutput = finalActivationOf(this.spec) === "softmax";
    return (out, y) => {
      // Sequence outputs [batch, ..., classes] against labels [batch, ...]: one row per position.
      const logits = out.rank > 2 ? tf.reshape(out, [-1, classes]) : out;
      const labels = y.rank > 1 ? tf.reshape(y, [-1]) : y;
      if (!softmaxOutput) return softmaxCrossEntropy(logits, labels);
      // Models that end in softmax output probabilities, not logits.
      const oneHot = tf.oneHot(labels as tf.Tensor1D, classes);
      const logProbs = tf.log(tf.clipByValue(logits, 1e-7, 1));
      return tf.neg(tf.mean(tf.sum(tf.mul(oneHot, logProbs), -1)));
    };
  }

  #liveVariables(): tf.Variable[] {
    return [...this.#weights, ...this.#slots.flat()];
  }

  #readState(step: number, cursor: number): TrainingState {
    const copy = tf.getBackend() === "cpu";
    const variables: StateVariable[] = this.#liveVariables().map((v, i) => {
      const data = v.dataSync() as Float32Array;
      return { name: this.#names[i], shape: [...v.shape], data: copy ? data.slice() : data };
    });
    return { step, cursor, variables };
  }

  /**
   * The live state without copying it: the variables' data are views of the backend's memory,
   * valid until the next tfjs operation. A checkpoint encodes them straight into its own reused
   * buffer; a copy here would cost a fresh multi-megabyte allocation per checkpoint.
   */
  #borrowState(step: number, cursor: number): TrainingState {
    const backend = tf.backend();
    const variables: StateVariable[] = this.#liveVariables().map((v, i) => ({
      name: this.#names[i],
      shape: [...v.shape],
      // The cpu backend's dataSync hands out its own storage, other backends a copy.
      data:
        (backend instanceof BackendWasm
          ? backend.typedArrayFromHeap(v)
          : v.dataSync()) as Float32Array,
    }));
    return { step, cursor, variables };
  }

  #assertLive(): void {
    if (this.#disposed) {
      throw new TrainingError("TRAINING_DISPOSED", "this trainer was disposed; create a new one");
    }
  }
}

/**
 * Loads the weights of a training state (its first variables, in the model's weight order) into
 * a model of the same spec; returns the model.
 */
export function loadWeights(model: LayersModel, state: TrainingState): LayersModel {
  tf.tidy(() =>
    model.setWeights(
      state.variables.slice(0, model.weights.length).map((v) => tf.tensor(v.data, [...v.shape])),
    )
  );
  return model;
}

type LossFunction = (out: tf.Tensor, y: tf.Tensor) => tf.Tensor;

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function product(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * Fails with a typed error unless `dataset` fits the model: feature shape, label shape or class
 * range. Exported for checks run before a job is paid for.
 *
 * @example
 * ```ts ignore
 * checkDataFitsModel(spec, await buildModel(spec), dataset);
 * ```
 */
export function checkDataFitsModel(
  spec: ModelSpec,
  model: tf.LayersModel,
  dataset: Dataset,
): void {
  const input = inputShapeOf(model);
  if (input.some((d) => d < 0) || product(input) !== product(dataset.featureShape)) {
    throw new DatasetError(
      "DATASET_SHAPE_MISMATCH",
      `the model takes inputs of shape [${input}] but dataset "${dataset.name}" has features of ` +
        `shape [${dataset.featureShape}]; reshape the data or change the model's inputShape`,
      { value: { model: input, data: dataset.featureShape } },
    );
  }
  const outShape = model.outputs[0].shape.slice(1) as number[];
  if (spec.loss === "sparseCategoricalCrossentropy") {
    const classes = outShape[outShape.length - 1];
    if (dataset.numClasses === undefined) {
      throw new DatasetError(
        "DATASET_SHAPE_MISMATCH",
        `loss sparseCategoricalCrossentropy needs class-index labels, but dataset ` +
          `"${dataset.name}" has no numClasses; give it numClasses or use meanSquaredError`,
      );
    }
    // Class per example (labels []) or per position (labels [t], outputs [t, classes]).
    if (
      !sameShape(outShape.slice(0, -1), dataset.labelShape) || classes !== dataset.numClasses
    ) {
      throw new DatasetError(
        "DATASET_SHAPE_MISMATCH",
        `the model outputs shape [${outShape}] but dataset "${dataset.name}" has labels of ` +
          `shape [${dataset.labelShape}] with ${dataset.numClasses} classes; the output must be ` +
          `[${[...dataset.labelShape, dataset.numClasses]}] (make the last layer have ` +
          `${dataset.numClasses} units)`,
        { value: { model: outShape, labels: dataset.labelShape, classes: dataset.numClasses } },
      );
    }
  } else if (!sameShape(outShape, dataset.labelShape)) {
    throw new DatasetError(
      "DATASET_SHAPE_MISMATCH",
      `the model outputs shape [${outShape}] but dataset "${dataset.name}" has labels of shape ` +
        `[${dataset.labelShape}]`,
      { value: { model: outShape, labels: dataset.labelShape } },
    );
  }
}
