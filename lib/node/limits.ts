/**
 * Resource limits of a node: the largest job a provider trains, a verifier audits or a referee
 * rules on. A job over a limit is refused before anything heavy happens, with a typed
 * `SPEC_TOO_LARGE` error, and the node goes on with the next job:
 *
 * - steps, from the job spec, as soon as it is known;
 * - parameters and memory per step, from the model spec's layer configs
 *   (`lib/exec/footprint.ts`), before the model is built or the dataset fetched;
 * - dataset bytes, by capping the dataset's fetch (the job spec names the blob but not its size):
 *   a peer announcing a larger blob is refused before any byte is written.
 *
 * The memory per step is an estimate, not a measurement: every parameter is held 2 + s times as a
 * float32 (weights, gradients, and the optimizer's s slots: 0 for SGD, 1 for momentum, 2 for
 * Adam), and every activation of a batch twice (the forward value the backward pass reads, and its
 * gradient). Kernel scratch, the dataset itself and tfjs' own overhead are not counted, so leave
 * headroom below the machine's memory.
 *
 * @module
 */

import { PeerError, SpecError } from "../core/errors.ts";
import type { Hash } from "../core/hash.ts";
import { modelFootprint } from "../exec/footprint.ts";
import type { ModelSpec, OptimizerConfig } from "../exec/model.ts";
import type { JobSpec } from "../proof/job.ts";

/** What a node is configured to hold. */
export interface NodeLimits {
  /** Most trainable parameters of a job's model. */
  readonly maxParameters: number;
  /** Most memory one training step may need, by {@link jobFootprint}'s estimate (bytes). */
  readonly maxStepMemoryBytes: number;
  /** Largest dataset blob the node fetches (bytes). */
  readonly maxDatasetBytes: number;
  /** Most optimizer steps of a job. */
  readonly maxSteps: number;
}

/**
 * Limits of a small node (a laptop or a 4 GiB container): 50M parameters (about 800 MB of
 * weights, gradients and Adam state), 2 GiB per step, a 1 GiB dataset and 10M steps.
 */
export const DEFAULT_NODE_LIMITS: NodeLimits = {
  maxParameters: 50_000_000,
  maxStepMemoryBytes: 2 * 1024 ** 3,
  maxDatasetBytes: 1024 ** 3,
  maxSteps: 10_000_000,
};

/**
 * Largest job or model spec blob a node fetches (bytes). Specs are topology JSON of a few
 * kilobytes; the cap keeps a hostile peer from making a node read gigabytes to parse one.
 */
export const MAX_SPEC_BLOB_BYTES: number = 16 * 1024 ** 2;

/** Flags of `deno task node` that set each limit, for the messages. */
const FLAGS: Record<keyof NodeLimits, string> = {
  maxParameters: "--max-parameters",
  maxStepMemoryBytes: "--max-step-memory",
  maxDatasetBytes: "--max-dataset",
  maxSteps: "--max-steps",
};

/**
 * The limits a node runs with: {@link DEFAULT_NODE_LIMITS} with the given fields replaced; fails
 * with `SPEC_INVALID_LIMITS` unless each is a positive whole number.
 *
 * @example
 * ```ts
 * import { nodeLimits } from "./limits.ts";
 * const limits = nodeLimits({ maxParameters: 1_000_000 });
 * console.log(limits.maxSteps); // 10000000
 * ```
 */
export function nodeLimits(overrides: Partial<NodeLimits> = {}): NodeLimits {
  const limits = { ...DEFAULT_NODE_LIMITS };
  for (const key of Object.keys(FLAGS) as (keyof NodeLimits)[]) {
    const value = overrides[key];
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new SpecError(
        "SPEC_INVALID_LIMITS",
        `limits.${key} must be a positive whole number, got ${value}`,
        { value },
      );
    }
    limits[key] = value;
  }
  return limits;
}

/** What a job needs, as {@link jobFootprint} estimates it. */
export interface JobFootprint {
  /** Optimizer steps. */
  readonly steps: number;
  /** Trainable parameters of the model. */
  readonly parameters: number;
  /** Floats one example produces through the model (see `modelFootprint`). */
  readonly activationsPerExample: number;
  /** Estimated memory of one training step, bytes (see the module notes). */
  readonly stepMemoryBytes: number;
}

/** Optimizer state per parameter, in floats. */
function optimizerSlots(optimizer: OptimizerConfig): number {
  return optimizer.name === "adam" ? 2 : optimizer.name === "momentum" ? 1 : 0;
}

/**
 * What a job needs, from its spec and its model spec alone (nothing is built or allocated):
 * `stepMemoryBytes = 4 * (parameters * (2 + slots) + 2 * batchSize * activationsPerExample)`.
 *
 * @example
 * ```ts
 * import { jobFootprint } from "./limits.ts";
 * declare const spec: import("../proof/job.ts").JobSpec;
 * declare const modelSpec: import("../exec/model.ts").ModelSpec;
 * const { parameters, stepMemoryBytes } = jobFootprint(spec, modelSpec);
 * ```
 */
export function jobFootprint(
  spec: Pick<JobSpec, "steps" | "batchSize">,
  modelSpec: Pick<ModelSpec, "topology" | "optimizer">,
): JobFootprint {
  const model = modelFootprint(modelSpec);
  const stepMemoryBytes = 4 *
    (model.parameters * (2 + optimizerSlots(modelSpec.optimizer)) +
      2 * spec.batchSize * model.activationsPerExample);
  return {
    steps: spec.steps,
    parameters: model.parameters,
    activationsPerExample: model.activationsPerExample,
    stepMemoryBytes,
  };
}

/** What {@link checkJobLimits} checks. */
export interface JobLimitsCheck {
  /** The job. */
  spec: JobSpec;
  /** Its model spec, once it is known: without it only what the job spec says is checked. */
  modelSpec?: ModelSpec;
  /** The node's limits. */
  limits: NodeLimits;
  /** The job's id, for the message. */
  jobId?: Hash;
}

/**
 * Refuses a job larger than a node's limits, before any heavy work: throws `SpecError`
 * `SPEC_TOO_LARGE` naming the limit, what the job needs and what to do. Call it as soon as the
 * job spec is known (steps), and again once the model spec is (parameters, memory per step);
 * returns the footprint when the model spec was given.
 *
 * @example
 * ```ts
 * import { checkJobLimits, nodeLimits } from "./limits.ts";
 * declare const spec: import("../proof/job.ts").JobSpec;
 * declare const modelSpec: import("../exec/model.ts").ModelSpec;
 * const limits = nodeLimits({ maxParameters: 1_000_000 });
 * checkJobLimits({ spec, limits }); // steps
 * checkJobLimits({ spec, modelSpec, limits }); // parameters and memory per step
 * ```
 */
export function checkJobLimits(check: JobLimitsCheck): JobFootprint | undefined {
  const { spec, modelSpec, limits, jobId } = check;
  const job = jobId ? `job ${jobId.slice(0, 10)}` : "the job";
  if (spec.steps > limits.maxSteps) {
    throw tooLarge(job, "maxSteps", spec.steps, limits.maxSteps, "steps");
  }
  if (!modelSpec) return undefined;
  const footprint = jobFootprint(spec, modelSpec);
  if (footprint.parameters > limits.maxParameters) {
    throw tooLarge(job, "maxParameters", footprint.parameters, limits.maxParameters, "parameters");
  }
  if (footprint.stepMemoryBytes > limits.maxStepMemoryBytes) {
    throw tooLarge(
      job,
      "maxStepMemoryBytes",
      footprint.stepMemoryBytes,
      limits.maxStepMemoryBytes,
      `bytes per step (estimated: ${footprint.parameters} parameters, batch ${spec.batchSize} ` +
        `x ${footprint.activationsPerExample} activations)`,
    );
  }
  return footprint;
}

/**
 * The typed refusal of a dataset over `limits.maxDatasetBytes`, from the error of a capped fetch
 * (`PEER_BLOB_TOO_LARGE`, whose value is the blob's size) or from the size of a dataset already
 * held; undefined when neither says the dataset is too large.
 *
 * @example
 * ```ts
 * import { DEFAULT_NODE_LIMITS, datasetOverLimit } from "./limits.ts";
 * const refusal = datasetOverLimit({ bytes: 2 * 1024 ** 3, limits: DEFAULT_NODE_LIMITS });
 * if (refusal) throw refusal;
 * ```
 */
export function datasetOverLimit(
  options: { error?: unknown; bytes?: number; limits: NodeLimits; jobId?: Hash },
): SpecError | undefined {
  const { error, limits, jobId } = options;
  const job = jobId ? `job ${jobId.slice(0, 10)}` : "the job";
  const fromFetch = error instanceof PeerError && error.code === "PEER_BLOB_TOO_LARGE"
    ? Number(error.value)
    : undefined;
  const bytes = fromFetch ?? options.bytes;
  if (bytes === undefined || !(bytes > limits.maxDatasetBytes)) return undefined;
  return tooLarge(job, "maxDatasetBytes", bytes, limits.maxDatasetBytes, "dataset bytes", error);
}

function tooLarge(
  job: string,
  limit: keyof NodeLimits,
  needed: number,
  allowed: number,
  what: string,
  cause?: unknown,
): SpecError {
  return new SpecError(
    "SPEC_TOO_LARGE",
    `${job} needs ${needed} ${what}; this node holds at most ${allowed} (limits.${limit}): ` +
      `give the job to a node with a higher ${FLAGS[limit]}, or make it smaller`,
    { value: { limit, needed, allowed }, ...(cause === undefined ? {} : { cause }) },
  );
}
