/**
 * Low-communication distributed training (DiLoCo, Douillard et al. 2023): workers take `H` inner
 * steps on their data shards, exchange compressed pseudo-gradients over libp2p, and apply the same
 * deterministic outer Nesterov step, so every party holds the same outer state after every round.
 *
 * - `outer.ts`: pseudo-gradients, ordered float32 aggregation, outer Nesterov SGD, commitments.
 * - `compress.ts`: deterministic fp16 / int8-per-block delta encodings.
 * - `membership.ts`: the round rule: who counted, shard reassignment, joins.
 * - `worker.ts` and `round.ts`: workers on libp2p (`/gensyn/dist/1.0.0`) and the round driver.
 *
 * @example
 * ```ts ignore
 * import { runDiLoCo } from "./mod.ts";
 * const { outer, rounds } = await runDiLoCo({
 *   spec, dataset, workers: 4, rounds: 12, innerSteps: 100, batchSize: 64,
 *   compression: { encoding: "int8", blockSize: 256 },
 * });
 * for (const r of rounds) console.log(r.round, r.loss, r.counted, r.outerHash);
 * ```
 *
 * @module
 */

export {
  aggregateDeltas,
  commitOuterState,
  DILOCO_OUTER,
  encodeOuterState,
  flattenWeights,
  initialOuterState,
  OUTER_MOMENTUM_SUFFIX,
  outerAsTrainingState,
  outerFromTrainingState,
  type OuterOptimizerConfig,
  type OuterState,
  outerStep,
  parameterCount,
  pseudoGradient,
  skipOuterStep,
  verifyOuterStep,
} from "./outer.ts";
export {
  compressDelta,
  compressedSize,
  type CompressionOptions,
  decompressDelta,
  type DecompressOptions,
  DEFAULT_INT8_BLOCK_SIZE,
  DELTA_ENCODINGS,
  type DeltaEncoding,
  float16BitsToNumber,
  float32ToFloat16Bits,
} from "./compress.ts";
export {
  assignShards,
  decideRound,
  type DeltaMessage,
  nextMembers,
  type RejectedDelta,
  type RoundDecision,
  splitSteps,
  validateDelta,
} from "./membership.ts";
export {
  DIST_PROTOCOL,
  DistWorker,
  type DistWorkerOptions,
  type InnerSegment,
  type RosterEntry,
} from "./worker.ts";
export { type DiLoCoOptions, type DiLoCoResult, type RoundReport, runDiLoCo } from "./round.ts";

export type { Hash } from "../core/hash.ts";
export type { Dataset } from "../exec/dataset.ts";
export type {
  AdamConfig,
  LossName,
  MODEL_SPEC_FORMAT,
  ModelSpec,
  MomentumConfig,
  OptimizerConfig,
  SgdConfig,
} from "../exec/model.ts";
export type { CanonicalValue } from "../core/canonical.ts";
export type { StateVariable, TrainingState } from "../exec/state.ts";
