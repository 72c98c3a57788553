/**
 * The evaluation job that resolves a Delphi market: what it commits to, the hash that names what
 * it computes (exactly as the contract derives it), and the deterministic evaluation a provider
 * runs.
 *
 * A market names its candidates by content id ({@linkcode candidateIdOf}: the model spec's id and
 * the committed trained state), an evaluation dataset by content id, a metric and an execution
 * profile. Its evaluation spec hash is `keccak256(abi.encode(tag, chainId, delphi, marketId,
 * candidates, datasetId, keccak(metric), direction, keccak(profile)))`, stored with the market;
 * after the close Delphi creates the job in the `JobMarket` (`startEvaluation`) and the market
 * keeps the job id, so a provider that takes the job finds the market, and from it exactly what
 * to compute. It evaluates every candidate under
 * the pinned profile with a fixed batch size (so the float summation order, and hence every bit,
 * is fixed), turns the metric into integers ({@linkcode scoreOf}), and commits
 * `finalStateHash = keccak256(abi.encode(int256[] scores))` with a trace root over the
 * per-candidate records. Anyone can re-run the same evaluation and dispute a wrong commitment.
 *
 * @module
 */

import { encodeAbiParameters, keccak256, toBytes } from "npm:viem@2.57.20";
import type { Address, Hex } from "../chain/types.ts";
import { contentId } from "../core/canonical.ts";
import { toBytes32 } from "../core/hash.ts";
import { SpecError } from "../core/errors.ts";
import type { Dataset } from "../exec/dataset.ts";
import type { ModelSpec } from "../exec/model.ts";
import { getProfile } from "../exec/profile.ts";
import type { TrainingState } from "../exec/state.ts";
import { type Evaluation, Trainer } from "../exec/trainer.ts";
import { commitState } from "../proof/commitment.ts";

/** Format tag of candidate ids and evaluation records; bump it if either encoding changes. */
export const EVALUATION_FORMAT = "delphi-eval/1";

/** Examples per evaluation batch: part of the format, since it fixes the summation order. */
export const EVAL_BATCH_SIZE = 1000;

/** Metrics a market can rank by. */
export type Metric = "accuracy" | "loss";

/** Which way a metric ranks candidates. */
export type Direction = "higher" | "lower";

/** The natural direction of each metric. */
export const METRIC_DIRECTION: Readonly<Record<Metric, Direction>> = {
  accuracy: "higher",
  loss: "lower",
};

/** Fixed-point scale of scores: accuracy in parts per million, loss in units of 1e-9. */
export const SCORE_SCALE: Readonly<Record<Metric, number>> = { accuracy: 1e6, loss: 1e9 };

/** A trained model entered in a market. */
export interface Candidate {
  /** The model spec. */
  spec: ModelSpec;
  /** Its trained state. */
  state: TrainingState;
}

/** What an evaluation job commits to, besides the market it resolves. */
export interface EvaluationSpec {
  /** Candidate ids (32-byte hex, with or without `0x`), in outcome order. */
  candidates: readonly string[];
  /** Content id of the evaluation dataset (32-byte hex, with or without `0x`). */
  datasetId: string;
  /** The metric. */
  metric: Metric;
  /** Which way the metric ranks; default its natural direction. */
  direction?: Direction;
  /** Execution profile id (e.g. `wasm-simd-1t+k1@tfjs-4.22.0`). */
  profile: string;
}

/** Where an evaluation job belongs: the chain, the Delphi contract and the market. */
export interface EvaluationTarget {
  /** EIP-155 chain id. */
  chainId: number;
  /** Delphi contract address. */
  delphi: Address;
  /** Market id. */
  marketId: bigint;
}

/** A 64-hex content id as a 0x-prefixed bytes32 (shared with the node, in `lib/core/hash.ts`). */
export { toBytes32 };

/**
 * The id of a candidate model: the content id of its spec id and its committed trained state.
 *
 * @example
 * ```ts
 * import { candidateIdOf } from "./evaluate.ts";
 * declare const spec: import("../exec/model.ts").ModelSpec;
 * declare const state: import("../exec/state.ts").TrainingState;
 * const id = await candidateIdOf({ spec, state });
 * ```
 */
export async function candidateIdOf(candidate: Candidate): Promise<Hex> {
  return toBytes32(
    await contentId({
      format: EVALUATION_FORMAT,
      spec: candidate.spec.id,
      state: await commitState(candidate.state),
    }),
  );
}

const EVAL_SPEC_TAG = keccak256(toBytes("gensyn.delphi.evaluation.v1"));

/** Numeric value of a direction in the contract's `Direction` enum. */
export function directionCode(direction: Direction): number {
  return direction === "higher" ? 0 : 1;
}

/**
 * What a market's evaluation computes, as a hash: derived exactly as `Delphi.createMarket` does
 * (the market's `evalSpecHash`). The evaluation job's id is not derived from it by anyone but the
 * job market; read it from the market once the evaluation started.
 */
export function evaluationSpecHash(target: EvaluationTarget, spec: EvaluationSpec): Hex {
  const direction = spec.direction ?? METRIC_DIRECTION[spec.metric];
  return keccak256(encodeAbiParameters(
    [
      { type: "bytes32" },
      { type: "uint256" },
      { type: "address" },
      { type: "uint256" },
      { type: "bytes32[]" },
      { type: "bytes32" },
      { type: "bytes32" },
      { type: "uint8" },
      { type: "bytes32" },
    ],
    [
      EVAL_SPEC_TAG,
      BigInt(target.chainId),
      target.delphi,
      target.marketId,
      spec.candidates.map(toBytes32),
      toBytes32(spec.datasetId),
      keccak256(toBytes(spec.metric)),
      directionCode(direction),
      keccak256(toBytes(spec.profile)),
    ],
  ));
}

/** The committed final-state hash of an evaluation: `keccak256(abi.encode(int256[] scores))`. */
export function scoresHash(scores: readonly bigint[]): Hex {
  return keccak256(encodeAbiParameters([{ type: "int256[]" }], [scores]));
}

/**
 * The integer score of an evaluation: accuracy as parts per million of correct examples (exact,
 * from the count), loss rounded to 1e-9.
 */
export function scoreOf(evaluation: Evaluation, metric: Metric): bigint {
  if (metric === "accuracy") {
    const correct = BigInt(Math.round(evaluation.accuracy * evaluation.count));
    return correct * BigInt(SCORE_SCALE.accuracy) / BigInt(evaluation.count);
  }
  return BigInt(Math.round(evaluation.loss * SCORE_SCALE.loss));
}

/** The winning outcome indices for `scores` (all tied best ones), as the contract picks them. */
export function winnersOf(scores: readonly bigint[], direction: Direction): number[] {
  const best = scores.reduce((b, s) => (direction === "higher" ? s > b : s < b) ? s : b);
  return scores.flatMap((s, i) => s === best ? [i] : []);
}

/** Options of {@linkcode evaluateCandidates}. */
export interface EvaluateOptions {
  /** The candidates, in outcome order. */
  candidates: readonly Candidate[];
  /** The evaluation dataset. */
  dataset: Dataset;
  /** The metric. */
  metric: Metric;
  /** Execution profile id or alias; default the trainer's default. */
  profile?: string;
}

/** What an evaluation provider commits, with the records behind it. */
export interface EvaluationResult {
  /** Candidate ids, in outcome order. */
  candidateIds: Hex[];
  /** Integer scores, in outcome order. */
  scores: bigint[];
  /** Raw loss and accuracy per candidate. */
  evaluations: Evaluation[];
  /** The profile the evaluation ran under. */
  profile: string;
  /** `keccak256(abi.encode(scores))`: the job's `finalStateHash`. */
  finalStateHash: Hex;
  /** Hash over the per-candidate records (id, score, examples): the job's `traceRoot`. */
  traceRoot: Hex;
}

/**
 * Evaluates every candidate on the dataset under one pinned profile, deterministically: the same
 * inputs give the same scores and hashes in any process under the same profile.
 *
 * @example
 * ```ts
 * import { evaluateCandidates } from "./evaluate.ts";
 * declare const candidates: import("./evaluate.ts").Candidate[];
 * declare const test: import("../exec/dataset.ts").Dataset;
 * const result = await evaluateCandidates({ candidates, dataset: test, metric: "accuracy" });
 * console.log(result.scores, result.finalStateHash);
 * ```
 */
export async function evaluateCandidates(options: EvaluateOptions): Promise<EvaluationResult> {
  const { dataset, metric } = options;
  if (!(metric in METRIC_DIRECTION)) {
    throw new SpecError("SPEC_BAD_METRIC", `unknown metric "${metric}"; use accuracy or loss`, {
      value: metric,
    });
  }
  const profile = options.profile === undefined ? undefined : getProfile(options.profile).id;
  const candidateIds: Hex[] = [];
  const evaluations: Evaluation[] = [];
  let profileId = "";
  for (const candidate of options.candidates) {
    candidateIds.push(await candidateIdOf(candidate));
    const trainer = await Trainer.create({
      spec: candidate.spec,
      dataset,
      batchSize: 1, // the trainer never trains here; evaluate() takes its own batch size
      ...(profile ? { profile } : {}),
    });
    try {
      profileId = trainer.plan.profile;
      evaluations.push(trainer.evaluate(candidate.state, dataset, EVAL_BATCH_SIZE));
    } finally {
      trainer.dispose();
    }
  }
  const scores = evaluations.map((e) => scoreOf(e, metric));
  const traceRoot = keccak256(encodeAbiParameters(
    [{ type: "string" }, { type: "bytes32" }, { type: "bytes32[]" }, { type: "int256[]" }, {
      type: "uint256",
    }],
    [EVALUATION_FORMAT, toBytes32(dataset.id), candidateIds, scores, BigInt(dataset.count)],
  ));
  return {
    candidateIds,
    scores,
    evaluations,
    profile: profileId,
    finalStateHash: scoresHash(scores),
    traceRoot,
  };
}
