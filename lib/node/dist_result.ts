/**
 * The submitter's view of a distributed job: per-round summaries folded from the workers' round
 * reports (pure), and the verified final outer state fetched from a worker that committed it.
 *
 * The result is accepted only if every commit of the whole job on-chain (every round's work)
 * names the same final outer-state hash, the outer state fetched from such a worker hashes to it,
 * and it is the state after the job's last round. Partial commits (a worker dropped after some
 * rounds, paid for those) name an earlier outer state and are not part of that check.
 *
 * @module
 */

import type { ProtocolClient } from "../chain/mod.ts";
import { VerificationError } from "../core/errors.ts";
import type { Hash } from "../core/hash.ts";
import type { ModelSpec } from "../exec/model.ts";
import { buildModel, type LayersModel } from "../exec/model.ts";
import type { TrainingState } from "../exec/state.ts";
import { loadWeights } from "../exec/trainer.ts";
import { commitOuterState, outerFromTrainingState, type OuterState } from "../diloco/outer.ts";
import { loadCheckpoint } from "../proof/checkpoint.ts";
import type { JobSpec } from "../proof/job.ts";
import type { BlobStore } from "../proof/store.ts";
import { peerIdOfAccount } from "./p2p_wire.ts";
import type { JobEvent } from "./watch.ts";
import type { NodeWire } from "./wire.ts";

/** One round of a distributed job as the submitter saw it. */
export interface RoundSummary {
  /** Round index. */
  readonly round: number;
  /** Workers whose delta counted (as the reporting workers agree; see `agreed`). */
  readonly counted: readonly number[];
  /** Members whose delta was absent. */
  readonly absent: readonly number[];
  /** Members whose delta was rejected. */
  readonly rejected: readonly number[];
  /** Mean inner loss over the reporting workers. */
  readonly loss: number;
  /** Bytes sent this round, summed over the reporting workers. */
  readonly bytesSent: number;
  /** The outer-state hash after the round. */
  readonly outerHash: Hash;
  /** Workers that reported the round. */
  readonly reporters: readonly number[];
  /** Whether every reporter computed the same counted set and outer hash. */
  readonly agreed: boolean;
}

/** A distributed job's verified result. */
export interface DistributedResult {
  /** The trained model (the final outer weights loaded). The caller owns it. */
  readonly model: LayersModel;
  /** The final outer state (weights, outer momentum, round). */
  readonly outer: OuterState;
  /** The final weights as a training state (no optimizer slots). */
  readonly state: TrainingState;
  /** Commitment of the final outer state, as every committing worker committed it. */
  readonly finalHash: Hash;
  /** Each committing worker's (slot's) trace root. */
  readonly traceRoots: ReadonlyMap<number, Hash>;
  /** Accounts of the committing workers, by slot. */
  readonly providers: ReadonlyMap<number, string>;
  /** Work units (rounds counted in) of every worker that committed so far, partial ones too. */
  readonly units: ReadonlyMap<number, number>;
  /** Per-round summaries from the workers' reports. */
  readonly rounds: readonly RoundSummary[];
}

/**
 * Folds `round` events into one summary per round, ascending.
 *
 * @example
 * ```ts
 * import { summarizeRounds } from "./dist_result.ts";
 * const rounds = summarizeRounds([]);
 * console.log(rounds.length); // 0
 * ```
 */
export function summarizeRounds(events: readonly JobEvent[]): RoundSummary[] {
  const byRound = new Map<number, Extract<JobEvent, { kind: "round" }>[]>();
  for (const e of events) {
    if (e.kind !== "round") continue;
    const list = byRound.get(e.round) ?? [];
    // One report per worker per round: the first one stands.
    if (!list.some((r) => r.worker === e.worker)) list.push(e);
    byRound.set(e.round, list);
  }
  return [...byRound.keys()].sort((a, b) => a - b).map((round) => {
    const reports = byRound.get(round)!.sort((a, b) => a.worker - b.worker);
    const first = reports[0];
    const agreed = reports.every((r) =>
      r.outerHash === first.outerHash && r.counted.join() === first.counted.join()
    );
    return {
      round,
      counted: first.counted,
      absent: first.absent,
      rejected: first.rejected,
      loss: reports.reduce((a, r) => a + r.loss, 0) / reports.length,
      bytesSent: reports.reduce((a, r) => a + r.bytesSent, 0),
      outerHash: first.outerHash,
      reporters: reports.map((r) => r.worker),
      agreed,
    };
  });
}

/**
 * Checks the commits of a distributed job and fetches the final outer state from a committing
 * worker. Throws `VerificationError` when the commits disagree or the state does not match.
 */
export async function verifiedDistributedResult(params: {
  spec: JobSpec;
  modelSpec: ModelSpec;
  events: readonly JobEvent[];
  chain: ProtocolClient;
  wire: NodeWire;
  store: BlobStore;
}): Promise<DistributedResult> {
  const { spec, events } = params;
  const rounds = spec.distributed!.rounds;
  const all = events.filter((e): e is Extract<JobEvent, { kind: "committed" }> =>
    e.kind === "committed"
  );
  const commits = all.filter((c) => c.units === undefined || c.units === rounds);
  if (commits.length === 0) {
    throw new VerificationError(
      "VERIFY_NO_FINAL_COMMIT",
      `no worker committed all ${rounds} rounds of the job (partial commits only: ` +
        `${all.map((c) => `slot ${c.slot}, ${c.units} rounds`).join("; ")}); nobody holds the ` +
        "final outer state: resubmit the job",
      { value: all.map((c) => c.slot) },
    );
  }
  const finalHash = commits[0].finalHash;
  const odd = commits.find((c) => c.finalHash !== finalHash);
  if (odd) {
    throw new VerificationError(
      "VERIFY_OUTER_DIVERGED",
      `workers committed different final outer states (${finalHash.slice(0, 10)} by slot ` +
        `${commits[0].slot}, ${odd.finalHash.slice(0, 10)} by slot ${odd.slot}); their traces ` +
        "show which rounds differ: dispute the odd one",
      { value: commits.map((c) => ({ slot: c.slot, finalHash: c.finalHash })) },
    );
  }
  let lastError: unknown;
  for (const c of commits) {
    try {
      const peer = await peerIdOfAccount(params.chain, c.provider);
      await params.wire.fetchBlob(peer, finalHash, params.store);
      break;
    } catch (error) {
      lastError = error; // try the next committing worker
    }
  }
  if (!(await params.store.has(finalHash))) throw lastError;
  const outer = outerFromTrainingState(await loadCheckpoint(params.store, finalHash));
  const got = await commitOuterState(outer);
  if (got !== finalHash || outer.round !== rounds) {
    throw new VerificationError(
      "VERIFY_TRACE_MISMATCH",
      `the final outer state fetched hashes to ${got} at round ${outer.round}; the workers ` +
        `committed ${finalHash} after ${rounds} rounds: dispute the job`,
      { value: { got, finalHash } },
    );
  }
  const state: TrainingState = { step: spec.steps, cursor: 0, variables: [...outer.weights] };
  const model = loadWeights(await buildModel(params.modelSpec), state);
  return {
    model,
    outer,
    state,
    finalHash,
    traceRoots: new Map(commits.map((c) => [c.slot, c.traceRoot])),
    providers: new Map(commits.map((c) => [c.slot, c.provider])),
    units: new Map(all.map((c) => [c.slot, c.units ?? rounds])),
    rounds: summarizeRounds(events),
  };
}
