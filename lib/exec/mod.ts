/**
 * The execution layer: model specs, datasets, execution profiles and the deterministic trainer
 * whose every step is bitwise reproducible under a pinned profile.
 *
 * @example
 * ```ts
 * import { loadMnist, mlp, Trainer } from "./mod.ts";
 * const trainer = await Trainer.create({ spec: await mlp({ hidden: [32] }), dataset: await loadMnist({ limit: 256 }), batchSize: 32 });
 * console.log(trainer.plan);
 * trainer.dispose();
 * ```
 *
 * @module
 */

export {
  type AdamConfig,
  type AdamInput,
  buildModel,
  decodeModelSpec,
  defineModel,
  type DefineModelOptions,
  encodeModelSpec,
  type LayersModel,
  type LossName,
  MODEL_SPEC_FORMAT,
  type ModelSpec,
  type MomentumConfig,
  type MomentumInput,
  type OptimizerConfig,
  type OptimizerInput,
  type SgdConfig,
  type SgdInput,
} from "./model.ts";
export {
  type Batch,
  createDataset,
  type CreateDatasetParams,
  type Dataset,
  decodeDataset,
  encodeDataset,
  gatherBatch,
  sliceDataset,
  splitDataset,
} from "./dataset.ts";
export {
  type IdxData,
  type IdxDtype,
  type IdxTensor,
  loadIdxDataset,
  type LoadIdxDatasetParams,
  parseIdx,
} from "./idx.ts";
export { type CsvDatasetParams, loadCsvDataset, parseCsvDataset } from "./csv.ts";
export { loadMnist, type LoadMnistParams } from "./mnist.ts";
export {
  createSampler,
  type Sampler,
  type SamplerParams,
  shardIndices,
  shuffleOrder,
} from "./sampler.ts";
export {
  activateProfile,
  DEFAULT_PROFILE,
  type ExecutionProfile,
  getProfile,
  PROFILES,
} from "./profile.ts";
export type { StateVariable, TrainingState } from "./state.ts";
export { cnn, type CnnOptions, gpt, type GptOptions, mlp, type MlpOptions } from "./zoo.ts";
export {
  causalSelfAttention,
  type CausalSelfAttentionArgs,
  type Initializer,
  type InitializerInput,
  type Layer,
  positionEmbedding,
  type PositionEmbeddingArgs,
} from "./layers.ts";
export {
  createTokenizer,
  loadKjv,
  loadTextDataset,
  type LoadTextDatasetParams,
  type TextDataset,
  type Tokenizer,
} from "./text.ts";
export { generate, type GenerateOptions } from "./generate.ts";
export {
  type Evaluation,
  type RunOptions,
  type StepInfo,
  type Tensor,
  Trainer,
  type TrainerOptions,
  type TrainingPlan,
} from "./trainer.ts";
export {
  type ExampleShape,
  type LayerFootprint,
  type ModelFootprint,
  modelFootprint,
} from "./footprint.ts";
