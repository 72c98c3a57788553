/**
 * The node layer: the local network (`Network.local`), jobs as a researcher sees them, the
 * provider and verifier nodes, the three roles of a dispute, and a node's records and limits.
 *
 * @example
 * ```ts
 * import { Network } from "./mod.ts";
 * await using network = await Network.local({ providers: 1, verifiers: 1 });
 * console.log(network.providers.length);
 * ```
 *
 * @module
 */

export {
  type LocalNetworkOptions,
  Network,
  type NetworkConnectOptions,
  type NetworkFile,
  type TrainOptions,
} from "./network.ts";
export {
  Job,
  type JobContext,
  type Settlement,
  type TrainedResult,
  type WaitOptions,
  within,
} from "./job.ts";
export type { JobEvent } from "./watch.ts";
export type { DistributedResult, RoundSummary } from "./dist_result.ts";
export { ProviderNode, type ProviderNodeOptions, type RefusedJob } from "./provider.ts";
export {
  checkJobLimits,
  DEFAULT_NODE_LIMITS,
  type JobFootprint,
  jobFootprint,
  type JobLimitsCheck,
  type NodeLimits,
  nodeLimits,
} from "./limits.ts";
export { type JobRecord, JobRecords, type JobStatus } from "./records.ts";
export type { JobOffer, NodeWire, ProgressUpdate, ProviderSighting } from "./wire.ts";
export type { Refusal } from "../p2p/presence.ts";
export {
  executeJob,
  type ExecuteJobOptions,
  type JobProgress,
  type JobResult,
} from "./executor.ts";
export {
  type AuditOutcome,
  type AuditRecord,
  type AuditVerdict,
  VerifierNode,
  type VerifierNodeOptions,
  type VerifierSelection,
} from "./verifier/mod.ts";
export {
  challengeAvailability,
  challengeExecution,
  challengeWork,
  checkpointParty,
  type CommittedSlot,
  DisputeResponder,
  type DisputeResult,
  jobTrainer,
  playDispute,
  type PlayOptions,
  Referee,
  type RefereeOptions,
  type ResponderOptions,
  type Ruling,
  storedRunParty,
} from "./disputes/mod.ts";
export {
  committedWorkers,
  DistAuditor,
  type DistAuditSource,
  type DistCommit,
  type DistRoundVerdict,
  networkDistSource,
  type NetworkDistSourceOptions,
  peerTraces,
} from "./dist_audit.ts";
export {
  decodeDistTrace,
  DIST_TRACE_FORMAT,
  type DistTrace,
  distTraceRoot,
  type DistTraceRound,
  type PendingDistRound,
} from "./dist_run.ts";
export { createP2PWire, type P2PWireOptions } from "./p2p_wire.ts";
