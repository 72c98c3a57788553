/**
 * A toolkit for verifiable decentralized ML training: define a TensorFlow.js model, train it
 * deterministically under a pinned execution profile, commit every checkpoint, and let anyone
 * re-execute any segment of the training to check it bit for bit.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { BlobStore, defineModel, loadMnist, replaySegment, Trainer, trainWithProof } from "./mod.ts";
 *
 * const model = tf.sequential({
 *   layers: [
 *     tf.layers.dense({ inputShape: [784], units: 128, activation: "relu" }),
 *     tf.layers.dense({ units: 10 }),
 *   ],
 * });
 * const spec = await defineModel(model, { seed: 1, optimizer: { name: "adam", learningRate: 1e-3 } });
 * const trainer = await Trainer.create({ spec, dataset: await loadMnist(), batchSize: 128 });
 * const store = new BlobStore(".data/example");
 * const { trace } = await trainWithProof({ trainer, steps: 200, k: 50, store });
 * console.log(await replaySegment(trace, 2, { trainer, store })); // { status: "valid", ... }
 * ```
 *
 * This root holds what a researcher meets first: the local network and its jobs, models,
 * datasets, the trainer, the proof basics, the notebook views and the errors. Each layer has its
 * own entry point for the rest: `./core`, `./exec`, `./proof`, `./chain`, `./p2p`, `./node`,
 * `./diloco`, `./delphi`, `./notebook`, and `./testing` for the harnesses (the adversary
 * catalogue, the protocol fuzzers).
 *
 * @module
 */

// The errors: one class per failure family, each with a stable `code`.
export * from "./lib/core/errors.ts";
export { type Hash, sha256Hex } from "./lib/core/hash.ts";
export { formatUnits, parseUnits } from "./lib/core/units.ts";

// Models and datasets.
export {
  defineModel,
  type DefineModelOptions,
  type LossName,
  type ModelSpec,
  type OptimizerInput,
} from "./lib/exec/model.ts";
export {
  cnn,
  type CnnOptions,
  gpt,
  type GptOptions,
  mlp,
  type MlpOptions,
} from "./lib/exec/zoo.ts";
export {
  createDataset,
  type CreateDatasetParams,
  type Dataset,
  sliceDataset,
  splitDataset,
} from "./lib/exec/dataset.ts";
export { loadMnist, type LoadMnistParams } from "./lib/exec/mnist.ts";
export { type CsvDatasetParams, loadCsvDataset } from "./lib/exec/csv.ts";
export {
  loadKjv,
  loadTextDataset,
  type LoadTextDatasetParams,
  type TextDataset,
  type Tokenizer,
} from "./lib/exec/text.ts";

// Deterministic training under a pinned execution profile.
export { DEFAULT_PROFILE, type ExecutionProfile, getProfile } from "./lib/exec/profile.ts";
export type { TrainingState } from "./lib/exec/state.ts";
export {
  type Evaluation,
  type StepInfo,
  Trainer,
  type TrainerOptions,
  type TrainingPlan,
} from "./lib/exec/trainer.ts";
export { generate, type GenerateOptions } from "./lib/exec/generate.ts";

// The proof basics: checkpoints, traces, replays.
export { commitState, encodeState } from "./lib/proof/commitment.ts";
export { BlobStore } from "./lib/proof/store.ts";
export {
  buildTrace,
  type CheckpointRef,
  readTrace,
  type Trace,
  writeTrace,
} from "./lib/proof/trace.ts";
export {
  loadCheckpoint,
  type ProvenRun,
  trainWithProof,
  type TrainWithProofOptions,
} from "./lib/proof/checkpoint.ts";
export {
  type ReplayOptions,
  replaySegment,
  type SegmentRange,
  type SegmentVerdict,
  verifyInitialState,
} from "./lib/proof/replay.ts";

// The network: jobs on the local network (or a real one), provider and verifier nodes.
export {
  type LocalNetworkOptions,
  Network,
  type NetworkConnectOptions,
  type NetworkFile,
  type TrainOptions,
} from "./lib/node/network.ts";
export {
  Job,
  type JobContext,
  type Settlement,
  type TrainedResult,
  type WaitOptions,
} from "./lib/node/job.ts";
export type { JobEvent } from "./lib/node/watch.ts";
export type { DistributedResult, RoundSummary } from "./lib/node/dist_result.ts";
export { ProviderNode, type ProviderNodeOptions } from "./lib/node/provider.ts";
export {
  type AuditOutcome,
  type AuditRecord,
  type AuditVerdict,
  VerifierNode,
  type VerifierNodeOptions,
} from "./lib/node/verifier/mod.ts";

// The notebook views.
export {
  followJob,
  type FollowJobOptions,
  formatAmount,
  inJupyter,
  loadMarketView,
  loadNetworkPanel,
  show,
  type ShowOptions,
  TOKEN_UNIT,
  TraceView,
  traceView,
  type TraceViewOptions,
  TrainingCurves,
  trainingCurves,
  TrainingProgress,
  trainingProgress,
  type TrainingProgressOptions,
} from "./lib/notebook/mod.ts";
