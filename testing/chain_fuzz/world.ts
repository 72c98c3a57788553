/**
 * The adversarial fuzz's ground truth, as pure functions: what each job's training run really
 * produces (its state at every step and the op records of every step), what a provider or a
 * challenger claims instead, the trace commitments and the op chains the dispute game checks, and
 * the ruling an honest referee committee gives once a dispute reaches it. Nothing here touches the
 * chain; `apply.ts` and `epilogue.ts` play these claims through the real `DisputeGame`.
 *
 * The runs are tiny on purpose: `STEPS` steps checkpointed every `CHECKPOINT_INTERVAL`, `OPS` op
 * records per step. That keeps a whole two-phase dispute (Verde, "Verification via Refereed
 * Delegation for ML Programs", 2025) within a few dozen transactions while every phase of it
 * (step bisection, op commit, op bisection, the referee) is reached.
 *
 * @module
 */

import { concat, type Hex, sha256, toBytes } from "npm:viem@2.57.20";
import { toBytes32 } from "../../lib/core/hash.ts";
import { merkleProof, merkleRoot } from "../../lib/proof/merkle.ts";

/** Training steps of every fuzz job. */
export const STEPS = 64;
/** Steps between checkpoints: two segments, so a challenger picks where it disagrees. */
export const CHECKPOINT_INTERVAL = 32;
/** Op records of one honest step. */
export const OPS = 4;
/** `DisputeView.step` of a dispute over the initial state (the contract's `type(uint32).max`). */
export const INITIAL_STATE = 0xffff_ffff;

const ZERO: Hex = `0x${"00".repeat(32)}`;
const label = (text: string): Hex => sha256(toBytes(text));

/**
 * A party's claimed run of one job: the truth up to `deviateAt`, its own states from there on.
 * `deviateAt: null` is the honest run; `0` disputes the initial state itself.
 */
export interface Trace {
  /** The job (ids are opaque: never assume the spec hash). */
  readonly jobId: Hex;
  /** First step whose state differs from the truth, or `null` for the honest run. */
  readonly deviateAt: number | null;
  /** Makes one party's made-up states differ from another's. */
  readonly tag: string;
}

/** The honest run of `jobId`. */
export function honestTrace(jobId: Hex): Trace {
  return { jobId, deviateAt: null, tag: "honest" };
}

/** The true state of `jobId` after `step` steps. */
export function trueState(jobId: Hex, step: number): Hex {
  return label(`state:${jobId}:${step}`);
}

/** The state `trace` claims after `step` steps. */
export function stateAt(trace: Trace, step: number): Hex {
  return trace.deviateAt !== null && step >= trace.deviateAt
    ? label(`claim:${trace.tag}:${trace.jobId}:${step}`)
    : trueState(trace.jobId, step);
}

/** The op records (their hashes) of the true step `step -> step + 1`. */
export function trueOps(jobId: Hex, step: number): Hex[] {
  return Array.from({ length: OPS }, (_, i) => label(`op:${jobId}:${step}:${i}`));
}

/**
 * The op records a party that claims `trace` commits for step `step -> step + 1`: the true ones
 * where its states at both ends are true, the true ones up to `forgeAt` and made-up ones after it
 * on the step where its run goes wrong (`forgeAt >= OPS` forges none: the records match and only
 * the claimed output differs), and made-up ones from the first on a step that starts from a
 * wrong state.
 */
export function opsFor(trace: Trace, step: number, forgeAt: number): Hex[] {
  const truth = trueOps(trace.jobId, step);
  const fromTrue = stateAt(trace, step) === trueState(trace.jobId, step);
  const toTrue = stateAt(trace, step + 1) === trueState(trace.jobId, step + 1);
  if (fromTrue && toTrue) return truth;
  const firstForged = fromTrue ? forgeAt : 0;
  return truth.map((op, i) =>
    i >= firstForged ? label(`forged:${trace.tag}:${trace.jobId}:${step}:${i}`) : op
  );
}

/** Chain hash of the first `length` records: `c(0) = 0`, `c(n + 1) = sha256(c(n) || op(n))`. */
export function opChain(ops: readonly Hex[], length: number): Hex {
  let chain = ZERO;
  for (let i = 0; i < Math.min(length, ops.length); i++) chain = sha256(concat([chain, ops[i]]));
  return chain;
}

/** The contract's `_extends`: `op` (or no op, when zero) takes the chain from `lo` to `hi`. */
export function extendsChain(lo: Hex, op: Hex, hi: Hex): boolean {
  return op === ZERO ? hi === lo : sha256(concat([lo, op])) === hi;
}

/** A provider's commitment of a trace: its checkpoints, their Merkle root and its final state. */
export interface TraceCommitment {
  /** Checkpoint hashes at steps 0, K, 2K, ... , STEPS. */
  readonly leaves: Hex[];
  /** Merkle root over them (RFC 6962 style, as the contract verifies). */
  readonly traceRoot: Hex;
  /** The last checkpoint. */
  readonly finalStateHash: Hex;
}

/** Checkpoint steps of a fuzz job: 0, K, 2K, ..., STEPS. */
export function checkpointSteps(): number[] {
  const steps: number[] = [];
  for (let s = 0; s < STEPS; s += CHECKPOINT_INTERVAL) steps.push(s);
  return [...steps, STEPS];
}

/** Commits `trace` as a provider would. */
export async function commitTrace(trace: Trace): Promise<TraceCommitment> {
  const leaves = checkpointSteps().map((s) => stateAt(trace, s));
  const traceRoot = toBytes32(await merkleRoot(leaves.map((l) => l.slice(2))));
  return { leaves, traceRoot, finalStateHash: leaves[leaves.length - 1] };
}

/** The Merkle proof of checkpoint `index` under a commitment, as the contract takes it. */
export async function checkpointProof(c: TraceCommitment, index: number): Promise<Hex[]> {
  const proof = await merkleProof(c.leaves.map((l) => l.slice(2)), index);
  return proof.map((p) => toBytes32(p.hash));
}

/** Who a ruling favours (the contract's `Ruling`). */
export type Ruling = "Provider" | "Challenger" | "Both";

/** What the referee sees of a dispute that reached it (fields of `DisputeView`). */
export interface RefereeView {
  /** Execution or availability (work disputes are not fuzzed). */
  kind: "Execution" | "Availability" | "Work";
  /** Agreed step, or {@linkcode INITIAL_STATE}. */
  step: number;
  /** Agreed op-prefix length (or the records' count when both committed the same). */
  lo: number;
  /** Disputed op-prefix length. */
  hi: number;
  /** Agreed chain hash at `lo`. */
  loHash: Hex;
  /** The provider's hash at `hi`. */
  hiProvider: Hex;
  /** The challenger's hash at `hi`. */
  hiChallenger: Hex;
}

/** What an honest committee knows besides the dispute: the truth and each party's evidence. */
export interface RefereeKnowledge {
  /** The job. */
  jobId: Hex;
  /** Whether the provider serves the data an availability dispute names. */
  serves: boolean;
  /** Both parties' claims after the agreed step (the `StepFound` event), for identical records. */
  claims?: { provider: Hex; challenger: Hex };
  /** The provider's committed op records of the disputed step. */
  providerOps?: readonly Hex[];
  /** The challenger's committed op records. */
  challengerOps?: readonly Hex[];
}

/** An honest committee member's vote: the ruling and the two records it judged. */
export interface HonestVote {
  /** The ruling. */
  ruling: Ruling;
  /** The provider's record at the disputed op (zero where none applies). */
  providerOp: Hex;
  /** The challenger's record there. */
  challengerOp: Hex;
}

/**
 * The ruling an honest committee gives, or `undefined` when the knowledge given cannot decide it
 * (evidence missing). A party is right when what it claims at the disputed point is the truth and,
 * at an op, when its record there is the one its own posted chain commits to (the contract
 * refuses a winner whose record does not extend the agreed prefix to its hash). Neither right:
 * `Both`.
 *
 * @example
 * ```ts
 * import { honestRuling } from "./world.ts";
 * const vote = honestRuling(
 *   { kind: "Availability", step: 0, lo: 0, hi: 0, loHash: "0x00", hiProvider: "0x00", hiChallenger: "0x00" },
 *   { jobId: "0x01", serves: false },
 * );
 * console.log(vote?.ruling); // "Challenger"
 * ```
 */
export function honestRuling(view: RefereeView, known: RefereeKnowledge): HonestVote | undefined {
  const decide = (providerRight: boolean, challengerRight: boolean, ops?: [Hex, Hex]) => ({
    ruling: (providerRight ? "Provider" : challengerRight ? "Challenger" : "Both") as Ruling,
    providerOp: ops?.[0] ?? ZERO,
    challengerOp: ops?.[1] ?? ZERO,
  });
  if (view.kind === "Availability") return decide(known.serves, !known.serves);
  if (view.kind !== "Execution") return undefined;
  if (view.step === INITIAL_STATE) {
    const initial = trueState(known.jobId, 0);
    return decide(view.hiProvider === initial, view.hiChallenger === initial);
  }
  if (view.hi === view.lo) {
    // Identical records: only the claimed outputs of the step differ.
    if (!known.claims) return undefined;
    const next = trueState(known.jobId, view.step + 1);
    return decide(known.claims.provider === next, known.claims.challenger === next);
  }
  if (!known.providerOps || !known.challengerOps || view.hi !== view.lo + 1) return undefined;
  const at = (ops: readonly Hex[]) => ops[view.lo] ?? ZERO;
  const truth = trueOps(known.jobId, view.step)[view.lo] ?? ZERO;
  const p = at(known.providerOps);
  const c = at(known.challengerOps);
  return decide(
    p === truth && extendsChain(view.loHash, p, view.hiProvider),
    c === truth && extendsChain(view.loHash, c, view.hiChallenger),
    [p, c],
  );
}

/** A made-up 32-byte hash, distinct for each `text`. */
export function madeUp(text: string): Hex {
  return label(`made up:${text}`);
}
