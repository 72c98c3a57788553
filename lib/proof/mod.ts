/**
 * The verification layer: checkpoint commitments, traces, audits and their sampling, replays,
 * the two-phase bisection of a dispute and the single-op referee.
 *
 * @example
 * ```ts
 * import { merkleRoot, selectAuditSegments } from "./mod.ts";
 * declare const leaves: import("../core/hash.ts").Hash[];
 * console.log(await merkleRoot(leaves), selectAuditSegments({ seed: "0x" + "00".repeat(32), segments: 8, count: 2 }));
 * ```
 *
 * @module
 */

export { commitState, decodeState, encodeState } from "./commitment.ts";
export { BlobStore } from "./store.ts";
export { merkleProof, merkleRoot, type ProofStep, verifyMerkleProof } from "./merkle.ts";
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
} from "./trace.ts";
export {
  CheckpointWriter,
  loadCheckpoint,
  type ProvenRun,
  trainWithProof,
  type TrainWithProofOptions,
} from "./checkpoint.ts";
export {
  type ReplayOptions,
  replaySegment,
  type SegmentRange,
  type SegmentVerdict,
  verifyInitialState,
} from "./replay.ts";
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
} from "./job.ts";
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
} from "./dispute.ts";
export { judgeOp, type JudgeOptions, recomputeOp, type Reveal, type Verdict } from "./referee.ts";
export {
  type OpInput,
  type OpRecord,
  recordStep,
  type StepRecording,
  type TensorRef,
  type TensorSource,
} from "./ops.ts";
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
} from "./bisect.ts";
export { decodeEvidence, encodeEvidence, EVIDENCE_VERSION, type StepEvidence } from "./evidence.ts";
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
} from "./audit.ts";
