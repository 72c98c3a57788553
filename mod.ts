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
 * @module
 */

export * from "./lib/core/errors.ts";
export { type Bytes, type Hash, sha256, sha256Hex } from "./lib/core/hash.ts";
export { formatUnits, parseUnits } from "./lib/core/units.ts";
export { EventLog } from "./lib/core/event_log.ts";
export {
  canonicalJson,
  type CanonicalValue,
  contentId,
  decodeCanonical,
  encodeCanonical,
} from "./lib/core/canonical.ts";

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
} from "./lib/exec/model.ts";
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
} from "./lib/exec/dataset.ts";
export {
  type IdxData,
  type IdxDtype,
  type IdxTensor,
  loadIdxDataset,
  type LoadIdxDatasetParams,
  parseIdx,
} from "./lib/exec/idx.ts";
export { type CsvDatasetParams, loadCsvDataset, parseCsvDataset } from "./lib/exec/csv.ts";
export { loadMnist, type LoadMnistParams } from "./lib/exec/mnist.ts";
export {
  createSampler,
  type Sampler,
  type SamplerParams,
  shardIndices,
  shuffleOrder,
} from "./lib/exec/sampler.ts";
export {
  activateProfile,
  DEFAULT_PROFILE,
  type ExecutionProfile,
  getProfile,
  PROFILES,
} from "./lib/exec/profile.ts";
export type { StateVariable, TrainingState } from "./lib/exec/state.ts";
export {
  cnn,
  type CnnOptions,
  gpt,
  type GptOptions,
  mlp,
  type MlpOptions,
} from "./lib/exec/zoo.ts";
export {
  causalSelfAttention,
  type CausalSelfAttentionArgs,
  type Initializer,
  type InitializerInput,
  type Layer,
  positionEmbedding,
  type PositionEmbeddingArgs,
} from "./lib/exec/layers.ts";
export {
  createTokenizer,
  loadKjv,
  loadTextDataset,
  type LoadTextDatasetParams,
  type TextDataset,
  type Tokenizer,
} from "./lib/exec/text.ts";
export { generate, type GenerateOptions } from "./lib/exec/generate.ts";
export {
  type Evaluation,
  type RunOptions,
  type StepInfo,
  type Tensor,
  Trainer,
  type TrainerOptions,
  type TrainingPlan,
} from "./lib/exec/trainer.ts";

export { commitState, decodeState, encodeState } from "./lib/proof/commitment.ts";
export { BlobStore } from "./lib/proof/store.ts";
export { merkleProof, merkleRoot, type ProofStep, verifyMerkleProof } from "./lib/proof/merkle.ts";
export {
  buildTrace,
  type CheckpointRef,
  decodeTrace,
  encodeTrace,
  readTrace,
  type Trace,
  TRACE_VERSION,
  traceId,
  writeTrace,
} from "./lib/proof/trace.ts";
export {
  CheckpointWriter,
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

export * from "./lib/chain/mod.ts";

export {
  type AuditPolicy,
  createJobSpec,
  decodeJobSpec,
  DEFAULT_AUDIT,
  type DistributedSpec,
  encodeJobSpec,
  JOB_SPEC_FORMAT,
  type JobSpec,
  type JobSpecInput,
  planOfJob,
  specHashOf,
} from "./lib/proof/job.ts";
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
  within,
} from "./lib/node/job.ts";
export type { JobEvent } from "./lib/node/watch.ts";
export type { DistributedResult, RoundSummary } from "./lib/node/dist_result.ts";
export { ProviderNode, type ProviderNodeOptions, type RefusedJob } from "./lib/node/provider.ts";
export {
  checkJobLimits,
  DEFAULT_NODE_LIMITS,
  type JobFootprint,
  jobFootprint,
  type JobLimitsCheck,
  type NodeLimits,
  nodeLimits,
} from "./lib/node/limits.ts";
export {
  type ExampleShape,
  type LayerFootprint,
  type ModelFootprint,
  modelFootprint,
} from "./lib/exec/footprint.ts";
export { type JobRecord, JobRecords, type JobStatus } from "./lib/node/records.ts";
export type { JobOffer, NodeWire, ProgressUpdate, ProviderSighting } from "./lib/node/wire.ts";
export type { Refusal } from "./lib/p2p/presence.ts";
export {
  executeJob,
  type ExecuteJobOptions,
  type JobProgress,
  type JobResult,
} from "./lib/node/executor.ts";

export {
  type Cheat,
  claimsVerdict,
  type DisputeMove,
  type DisputeOptions,
  type DisputeParty,
  type DisputePath,
  judgeAt,
  partyOf,
  type PartyOptions,
  runDispute,
  type StepRecords,
  trainParty,
} from "./lib/proof/dispute.ts";
export {
  judgeOp,
  type JudgeOptions,
  recomputeOp,
  type Reveal,
  type Verdict,
} from "./lib/proof/referee.ts";
export {
  type OpInput,
  type OpRecord,
  recordStep,
  type StepRecording,
  type TensorRef,
  type TensorSource,
} from "./lib/proof/ops.ts";
export {
  type Answer,
  applyAnswer,
  type Bisection,
  type DisputedSegment,
  type Fault,
  type FaultReason,
  isDone,
  maxRounds,
  nextMidpoint,
  type OpShape,
  type Side,
  startStepBisection,
} from "./lib/proof/bisect.ts";

export {
  type BuyParams,
  type Candidate,
  candidateIdOf,
  type ClaimResult,
  type CreateMarketParams,
  delphi,
  type DelphiClient,
  type Direction,
  evaluateCandidates,
  type EvaluateOptions,
  EvaluationError,
  type EvaluationParams,
  type EvaluationResult,
  type EvaluationSpec,
  evaluationSpecHash,
  type EvaluationTarget,
  type EvaluationView,
  InsufficientSharesError,
  type Ledger,
  Market,
  MarketClosedError,
  MarketError,
  type MarketPhase,
  type MarketPrices,
  type MarketView,
  type Metric,
  NotResolvedError,
  NotWinningOutcomeError,
  type Position,
  type Quote,
  type Redemption,
  RefundModeError,
  type ResolveParams,
  type ResolveResult,
  scoresHash,
  type SellParams,
  type SettleEvaluationResult,
  SlippageExceededError,
  type StartEvaluationResult,
  type TradeRecord,
  type TradeResult,
  type VoidReason,
  winnersOf,
} from "./lib/delphi/mod.ts";

export {
  type Displayable,
  type DisputePathView,
  type EvaluationPoint,
  type FollowableJob,
  followJob,
  type FollowJobOptions,
  inJupyter,
  type JobTrouble,
  JUPYTER_DISPLAY,
  type LossPoint,
  type MimeBundle,
  type PanelSize,
  type ProgressOutput,
  type ProgressSnapshot,
  RichView,
  type RoundProgress,
  SEGMENT_COLORS,
  type SegmentRow,
  type SegmentStatus,
  show,
  type ShowOptions,
  TraceView,
  traceView,
  type TraceViewOptions,
  TrainingCurves,
  trainingCurves,
  type TrainingCurvesData,
  TrainingProgress,
  trainingProgress,
  type TrainingProgressOptions,
  type VerdictCounts,
} from "./lib/notebook/mod.ts";
export {
  type AccountPositions,
  type DelphiActivity,
  delphiActivity,
  DelphiMarketView,
  formatAmount,
  loadMarketView,
  type LoadMarketViewOptions,
  loadNetworkPanel,
  type LoadNetworkPanelOptions,
  type MarketHistorySource,
  type MarketSource,
  marketView,
  type MarketViewData,
  type NetworkMetricsSource,
  NetworkPanel,
  networkPanel,
  type NetworkPanelData,
  OUTCOME_COLORS,
  type PanelTile,
  type PricePoint,
  STABLE_UNIT,
  TOKEN_UNIT,
  type TokenUnit,
  type VerificationOverhead,
} from "./lib/notebook/mod.ts";

export {
  assignShards,
  commitOuterState,
  compressDelta,
  type CompressionOptions,
  decideRound,
  decompressDelta,
  type DecompressOptions,
  type DeltaEncoding,
  type DeltaMessage,
  type DiLoCoOptions,
  type DiLoCoResult,
  DIST_PROTOCOL,
  DistWorker,
  type InnerSegment,
  type OuterOptimizerConfig,
  type OuterState,
  type RejectedDelta,
  type RosterEntry,
  type RoundDecision,
  type RoundReport,
  runDiLoCo,
  verifyOuterStep,
} from "./lib/dist/mod.ts";

export {
  type AuditOutcome,
  type AuditRecord,
  type AuditVerdict,
  VerifierNode,
  type VerifierNodeOptions,
  type VerifierSelection,
} from "./lib/node/verifier.ts";
export {
  checkpointParty,
  type CommittedSlot,
  DisputeResponder,
  type DisputeResult,
  jobTrainer,
  openAvailabilityDispute,
  openExecutionDispute,
  openWorkDispute,
  playDispute,
  type PlayOptions,
  Referee,
  type RefereeOptions,
  type ResponderOptions,
  type Ruling,
  storedRunParty,
} from "./lib/node/disputes.ts";
export {
  committedWorkers,
  DistAuditor,
  type DistAuditSource,
  type DistCommit,
  type DistRoundVerdict,
  networkDistSource,
  type NetworkDistSourceOptions,
  peerTraces,
} from "./lib/node/dist_audit.ts";
export {
  decodeDistTrace,
  DIST_TRACE_FORMAT,
  type DistTrace,
  distTraceRoot,
  type DistTraceRound,
} from "./lib/node/dist_run.ts";
export {
  decodeEvidence,
  encodeEvidence,
  EVIDENCE_VERSION,
  type StepEvidence,
} from "./lib/proof/evidence.ts";
export {
  auditComputeFraction,
  auditSeed,
  type AuditSeedInput,
  detectionProbability,
  segmentCount,
  selectAuditSegments,
  selectionSeed,
  type SelectionSeedInput,
  selectVerifiers,
  type SelectVerifiersParams,
} from "./lib/proof/audit.ts";
