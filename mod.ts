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

export * from "./lib/exec/mod.ts";
export * from "./lib/proof/mod.ts";
export * from "./lib/chain/mod.ts";
export * from "./lib/node/mod.ts";

export type { Refusal } from "./lib/p2p/presence.ts";

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
} from "./lib/diloco/mod.ts";
