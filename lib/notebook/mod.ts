/**
 * Rich display for Jupyter (Deno kernel): live training progress, loss and accuracy curves, and a
 * proof-of-learning trace viewer, plus the project's kernelspec.
 *
 * Every view is a plain object that renders itself: in a notebook through
 * `[Symbol.for("Jupyter.display")]` (leave it as a cell's last expression, or `await show(view)`),
 * under `deno run` as compact text through `toString()`. Plots are drawn with Observable Plot on
 * a server-side DOM (see `plot.ts`), the one plotting path every view uses.
 *
 * Each view is a {@link RichView} in its own module: the Delphi market view (`market_view.ts`:
 * prices over time, positions, resolution; {@link loadMarketView} reads it from a `Market`) and the
 * network metrics panel (`network_panel.ts`: job volume, active verifiers, Delphi activity,
 * verification overhead; {@link loadNetworkPanel} reads it from `network.chain`) sit beside the
 * training views. {@link TrainingProgress.onVerdict} takes verifier verdicts for a network job's
 * progress.
 *
 * @example
 * ```ts
 * import { BlobStore, defineModel, loadMnist, mlp, Trainer, trainWithProof } from "../../mod.ts";
 * import { trainingProgress, traceView } from "./mod.ts";
 *
 * const spec = await defineModel(mlp({ hidden: [32] }), { seed: 1 });
 * const trainer = await Trainer.create({ spec, dataset: await loadMnist({ limit: 2048 }), batchSize: 64 });
 * const progress = trainingProgress({ steps: 200, k: 25, batchSize: 64 });
 * const { trace } = await trainWithProof({
 *   trainer,
 *   steps: 200,
 *   k: 25,
 *   store: new BlobStore(await Deno.makeTempDir()),
 *   onStep: progress.onStep,
 *   onCheckpoint: progress.onCheckpoint,
 * });
 * await progress.done();
 * progress.curves(); // loss curve (SVG in a notebook)
 * traceView(trace); // checkpoints on the step axis
 * ```
 *
 * @module
 */

export {
  DENO_INSPECT,
  type Displayable,
  escapeHtml,
  inJupyter,
  JUPYTER_DISPLAY,
  type MimeBundle,
  RichView,
  shortHash,
  show,
  type ShowOptions,
} from "./display.ts";
export { type PlotOptions, renderPlot } from "./plot.ts";
export {
  type EvaluationPoint,
  type LossPoint,
  type PanelSize,
  TrainingCurves,
  trainingCurves,
  type TrainingCurvesData,
} from "./curves.ts";
export {
  type JobTrouble,
  progressLine,
  type ProgressOutput,
  type ProgressSnapshot,
  type RoundProgress,
  TrainingProgress,
  trainingProgress,
  type TrainingProgressOptions,
  type VerdictCounts,
} from "./progress.ts";
export { type FollowableJob, followJob, type FollowJobOptions } from "./job_progress.ts";
export { type GenerationSample, GenerationView, generationView } from "./generation_view.ts";
export type { JobEvent } from "../node/watch.ts";
export {
  type DisputePathView,
  SEGMENT_COLORS,
  SEGMENT_LABELS,
  type SegmentRow,
  type SegmentStatus,
  TraceView,
  traceView,
  type TraceViewOptions,
} from "./trace_view.ts";
export {
  type AccountPositions,
  DelphiMarketView,
  formatAmount,
  loadMarketView,
  type LoadMarketViewOptions,
  type MarketSource,
  marketView,
  type MarketViewData,
  OUTCOME_COLORS,
  type PricePoint,
  STABLE_UNIT,
  type TokenUnit,
} from "./market_view.ts";
export {
  type DelphiActivity,
  delphiActivity,
  loadNetworkPanel,
  type LoadNetworkPanelOptions,
  type MarketHistorySource,
  type NetworkMetricsSource,
  NetworkPanel,
  networkPanel,
  type NetworkPanelData,
  type PanelTile,
  TOKEN_UNIT,
  type VerificationOverhead,
} from "./network_panel.ts";
export {
  type InstalledKernelSpec,
  installKernelSpec,
  type InstallKernelSpecOptions,
  KERNEL_DISPLAY_NAME,
  KERNEL_NAME,
  kernelsDir,
  type KernelsDirOptions,
  type KernelSpec,
  kernelSpec,
} from "./kernelspec.ts";

// The proof and exec types the views take, so this entry point documents on its own.
export type { Hash } from "../core/hash.ts";
export type { StepInfo, TrainingPlan } from "../exec/trainer.ts";
export type { CheckpointRef, Trace } from "../proof/trace.ts";
export type { SegmentRange, SegmentVerdict } from "../proof/replay.ts";
export type { MarketPhase, Position, TradeRecord } from "../delphi/market_state.ts";
export type { JobVolume, RangeParams, StakerStats } from "../chain/metrics.ts";
export type { Address, Hex } from "../chain/types.ts";
