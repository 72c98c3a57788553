/**
 * An off-chain two-phase dispute session: segment, then step, then op, then the referee's verdict.
 *
 * Both parties run in-process, each behind the {@link DisputeParty} interface (its checkpoints,
 * its state hash at any step, its op records of any step), so the same session drives an honest
 * verifier, an honest provider, or a cheater whose behaviour is injected as a {@link Cheat}. The
 * moves are those of `lib/proof/bisect.ts`, one hash each, so an on-chain `DisputeGame` can replay
 * the returned {@link DisputePath} transcript move for move.
 *
 * @module
 */

import { VerificationError } from "../core/errors.ts";
import type { Hash } from "../core/hash.ts";
import type { TrainingState } from "../exec/state.ts";
import type { Trainer } from "../exec/trainer.ts";
import {
  type Answer,
  bisect,
  claimsFault,
  type DisputedSegment,
  disputedSegment,
  opChain,
  startBisection,
  startStepBisection,
} from "./bisect.ts";
import { commitState } from "./commitment.ts";
import { hashOpRecord, type OpRecord, recordStep, sha256Sync, type StepRecording } from "./ops.ts";
import { merkleRoot } from "./merkle.ts";
import { cursorAt, judgeOp, recordProgram, type Reveal, type Verdict } from "./referee.ts";
import { type CheckpointRef, checkpointSteps } from "./trace.ts";

/** What a dispute asks of a party. */
export interface DisputeParty {
  /** Its trace's checkpoints. */
  readonly checkpoints: readonly CheckpointRef[];
  /** Its state at `step` (recomputed from its nearest checkpoint). */
  stateAt(step: number): Promise<TrainingState>;
  /** Commitment of its state at `step`. */
  stateHashAt(step: number): Promise<Hash>;
  /** Its op records of step `fromStep -> fromStep + 1`. */
  recordStep(fromStep: number): Promise<StepRecording>;
}

/** How a cheating party departs from the protocol. */
export interface Cheat {
  /**
   * Alters the state after each step it trains, given the state before the step; return `state`
   * to leave a step honest.
   */
  afterStep?(state: TrainingState, previous: TrainingState): TrainingState;
  /** Alters the records it reveals of a step, given its honest recording and the state it claims. */
  recording?(honest: StepRecording, claimed: TrainingState): Promise<StepRecording>;
}

/** Options of {@link trainParty}. */
export interface PartyOptions {
  /** Total steps of the run. */
  steps: number;
  /** Checkpoint interval. */
  k: number;
  /** Cheating behaviour; absent for an honest party. */
  cheat?: Cheat;
}

/**
 * Trains a run with `trainer` (keeping its checkpoints in memory) and returns it as a dispute
 * party; with `cheat`, the party trains and answers as that cheat.
 *
 * @example
 * ```ts
 * import { trainParty } from "./dispute.ts";
 * declare const trainer: import("../exec/trainer.ts").Trainer;
 * const honest = await trainParty(trainer, { steps: 100, k: 50 });
 * console.log(honest.checkpoints.length); // 3
 * ```
 */
export async function trainParty(trainer: Trainer, options: PartyOptions): Promise<DisputeParty> {
  const { steps, k, cheat } = options;
  const advance = async (from: TrainingState, n: number): Promise<TrainingState> => {
    let s = from;
    for (let i = 0; i < n; i++) {
      const next = await trainer.run(s, 1);
      s = cheat?.afterStep ? cheat.afterStep(next, s) : next;
    }
    return s;
  };
  const saved = new Map<number, TrainingState>();
  const checkpoints: CheckpointRef[] = [];
  let state = trainer.initialState();
  for (const step of checkpointSteps(steps, k)) {
    state = await advance(state, step - state.step);
    saved.set(step, state);
    checkpoints.push({ step, cursor: state.cursor, hash: await commitState(state) });
  }
  const stateAt = async (step: number): Promise<TrainingState> => {
    if (!Number.isInteger(step) || step < 0 || step > steps) {
      throw new VerificationError("VERIFY_BAD_STEP", `step ${step} is outside 0..${steps}`, {
        value: step,
      });
    }
    const base = step - (step % k);
    return saved.get(step) ?? await advance(saved.get(base)!, step - base);
  };
  return partyOf({
    checkpoints,
    stateAt,
    async recordStep(fromStep) {
      const honest = await recordStep(trainer, await stateAt(fromStep));
      return cheat?.recording ? cheat.recording(honest, await stateAt(fromStep + 1)) : honest;
    },
  });
}

/**
 * A dispute party from its checkpoints, its state at any step and its recording of a step. Its
 * hash at a checkpoint step is the checkpoint's (what it committed); at any other step the
 * commitment of its state, computed once.
 *
 * @example
 * ```ts
 * import { partyOf } from "./dispute.ts";
 * declare const trainer: import("../exec/trainer.ts").Trainer;
 * declare const checkpoints: import("./trace.ts").CheckpointRef[];
 * declare const stateAt: (step: number) => Promise<import("../exec/state.ts").TrainingState>;
 * import { recordStep } from "./ops.ts";
 * const party = partyOf({ checkpoints, stateAt, recordStep: async (t) => recordStep(trainer, await stateAt(t)) });
 * console.log(await party.stateHashAt(7));
 * ```
 */
export function partyOf(parts: {
  checkpoints: readonly CheckpointRef[];
  stateAt(step: number): Promise<TrainingState>;
  recordStep(fromStep: number): Promise<StepRecording>;
}): DisputeParty {
  const { checkpoints, stateAt } = parts;
  const hashes = new Map<number, Hash>(checkpoints.map((c) => [c.step, c.hash]));
  return {
    checkpoints,
    stateAt,
    async stateHashAt(step) {
      let hash = hashes.get(step);
      if (hash === undefined) {
        hash = await commitState(await stateAt(step));
        hashes.set(step, hash);
      }
      return hash;
    },
    recordStep: parts.recordStep,
  };
}

/**
 * A recording whose ops were replaced: recomputes the op hashes and root, and serves `extra`
 * bytes (by hash) besides the original ones when inputs are revealed.
 */
export async function withOps(
  rec: StepRecording,
  ops: readonly OpRecord[],
  extra: ReadonlyMap<Hash, Uint8Array> = new Map(),
): Promise<StepRecording> {
  const opHashes = ops.map(hashOpRecord);
  return {
    ...rec,
    ops,
    opHashes,
    opsRoot: await merkleRoot(opHashes),
    tensors: (i) => {
      const original = rec.ops[i] ? rec.tensors(i) : [];
      return ops[i].inputs.map((input, j) =>
        extra.get(input.hash)?.slice() ?? original[j] ?? new Uint8Array()
      );
    },
  };
}

/**
 * The records a cheater who claims `claimed` after the step shows: the honest records with the
 * ending changed to `claimed`. `"final"` changes only `@StepOutput` (its input hashes and state
 * commitment); `"producer"` also changes the output hash of each op that wrote a changed variable,
 * moving the lie one op earlier; `{ kernel }` also claims a different first output for the first
 * op running that kernel (a lie inside the forward or backward pass, say in a convolution's
 * filter gradient). Either way the referee finds it.
 *
 * @example
 * ```ts
 * import { forgeRecording } from "./dispute.ts";
 * declare const honest: import("./ops.ts").StepRecording;
 * declare const claimed: import("../exec/state.ts").TrainingState;
 * const lie = await forgeRecording(honest, claimed, { kernel: "Conv2DBackpropFilter" });
 * ```
 */
export async function forgeRecording(
  honest: StepRecording,
  claimed: TrainingState,
  how: "final" | "producer" | { readonly kernel: string },
): Promise<StepRecording> {
  const ops = honest.ops.map((op) => ({ ...op, outputs: [...op.outputs] }));
  const last = ops[ops.length - 1];
  const extra = new Map<Hash, Uint8Array>();
  const inputs = last.inputs.map((input, i) => {
    const v = claimed.variables[i];
    const bytes = new Uint8Array(v.data.buffer, v.data.byteOffset, v.data.byteLength);
    const hash = sha256Sync(bytes);
    if (hash === input.hash) return input;
    extra.set(hash, bytes.slice());
    if (how === "producer" && input.source.kind === "op") {
      const { op, output } = input.source;
      ops[op].outputs[output] = { ...ops[op].outputs[output], hash };
    }
    return { ...input, hash };
  });
  if (typeof how === "object") {
    const target = ops.find((op) => op.kernel === how.kernel);
    if (target === undefined) {
      throw new VerificationError(
        "VERIFY_BAD_INDEX",
        `the step runs no ${how.kernel} kernel; pick one of ${
          [...new Set(ops.map((o) => o.kernel))].join(", ")
        }`,
        { value: how.kernel },
      );
    }
    target.outputs[0] = {
      ...target.outputs[0],
      hash: sha256Sync(`forged:${target.outputs[0].hash}`),
    };
  }
  ops[ops.length - 1] = {
    ...last,
    inputs,
    attrs: { ...(last.attrs as object), stateHash: await commitState(claimed) },
  };
  return withOps(honest, ops, extra);
}

/** One move of the dispute, for the transcript. */
export type DisputeMove =
  /** The segment both traces first disagree on. */
  | { readonly phase: "segment"; readonly segment: DisputedSegment }
  /** A phase-1 round: both state hashes at step `at`. */
  | {
    readonly phase: "step";
    readonly at: number;
    readonly provider: Hash;
    readonly challenger: Hash;
    readonly answer: Answer;
  }
  /** A phase-2 round: both chain hashes of the first `at` op records. */
  | {
    readonly phase: "op";
    readonly at: number;
    readonly provider: Hash;
    readonly challenger: Hash;
    readonly answer: Answer;
  }
  /** The referee's verdict. */
  | { readonly phase: "referee"; readonly verdict: Verdict };

/** The whole path of a dispute, from segment to the referee's verdict. */
export interface DisputePath {
  /** The first disputed segment. */
  readonly segment: DisputedSegment;
  /** The agreed step `t`; the disputed step is `t -> t + 1`. */
  readonly step: number;
  /** The first op whose records differ. */
  readonly opIndex: number;
  /** That op's kernel. */
  readonly kernel: string;
  /** The referee's decision. */
  readonly verdict: Verdict;
  /** Bisection rounds per phase. */
  readonly rounds: { readonly step: number; readonly op: number };
  /** Every move, in order. */
  readonly transcript: readonly DisputeMove[];
}

/** Options of {@link runDispute}. */
export interface DisputeOptions {
  /** The party that accuses (the verifier). */
  challenger: DisputeParty;
  /** The party accused (the provider). */
  provider: DisputeParty;
  /** The referee's trainer for the job's plan (program derivation and recompute). */
  referee: Trainer;
}

/**
 * Runs a dispute between two parties to a verdict; null when their traces agree (no dispute).
 *
 * @example
 * ```ts
 * import { runDispute, trainParty } from "./dispute.ts";
 * declare const verifier: import("../exec/trainer.ts").Trainer;
 * declare const provider: import("./dispute.ts").DisputeParty;
 * const challenger = await trainParty(verifier, { steps: 100, k: 50 });
 * const path = await runDispute({ challenger, provider, referee: verifier });
 * if (path) console.log(path.step, path.kernel, path.verdict.winner);
 * ```
 */
export async function runDispute(options: DisputeOptions): Promise<DisputePath | null> {
  const { challenger, provider, referee } = options;
  const segment = disputedSegment(challenger.checkpoints, provider.checkpoints);
  if (segment === null) return null;
  const transcript: DisputeMove[] = [{ phase: "segment", segment }];

  // Phase 1: steps. The provider posts its hash at each midpoint; the challenger compares.
  const steps = await bisect(startStepBisection(segment.fromStep, segment.toStep), async (at) => {
    const p = await provider.stateHashAt(at);
    const c = await challenger.stateHashAt(at);
    const answer: Answer = p === c ? "agree" : "disagree";
    transcript.push({ phase: "step", at, provider: p, challenger: c, answer });
    return answer;
  });
  const t = steps.agreed;
  const agreedHash = await challenger.stateHashAt(t);

  // Phase 2: ops of step t -> t + 1, bisected over chain hashes of record prefixes.
  const recC = await challenger.recordStep(t);
  const recP = await provider.recordStep(t);
  const finish = (index: number, kernel: string, verdict: Verdict, opRounds: number) => {
    transcript.push({ phase: "referee", verdict });
    return {
      segment,
      step: t,
      opIndex: index,
      kernel,
      verdict,
      rounds: { step: steps.rounds, op: opRounds },
      transcript,
    };
  };
  const claims = claimsVerdict({
    agreedHash,
    challenger: { ops: recC.ops, claimed: await challenger.stateHashAt(t + 1) },
    provider: { ops: recP.ops, claimed: await provider.stateHashAt(t + 1) },
  });
  if (claims) return finish(-1, claims.kernel, claims, 0);
  const longest = Math.max(recC.ops.length, recP.ops.length);
  const rootC = (n: number) => opChain(recC.opHashes, n);
  const rootP = (n: number) => opChain(recP.opHashes, n);
  let index = longest;
  let opRounds = 0;
  if (rootC(longest) !== rootP(longest)) {
    const ops = await bisect(startBisection({ agreed: 0, disputed: longest }), (at) => {
      const p = rootP(at);
      const c = rootC(at);
      const answer: Answer = p === c ? "agree" : "disagree";
      transcript.push({ phase: "op", at, provider: p, challenger: c, answer });
      return Promise.resolve(answer);
    });
    index = ops.agreed;
    opRounds = ops.rounds;
  }

  // Referee: rules, then at most one recomputed kernel.
  const verdict = await judgeAt({
    referee,
    step: t,
    index,
    agreedHash,
    challenger: recC,
    provider: recP,
    agreedState: () => challenger.stateAt(t),
  });
  return finish(index, verdict.kernel, verdict, opRounds);
}

/**
 * The claims rule of a disputed step: a party whose records do not start from the agreed state or
 * do not end in the state it claimed after the step loses, before any op is judged. Null when both
 * parties' records are consistent with their claims.
 *
 * @example
 * ```ts
 * import { claimsVerdict } from "./dispute.ts";
 * declare const ops: readonly import("./ops.ts").OpRecord[];
 * const v = claimsVerdict({
 *   agreedHash: "aa".repeat(32),
 *   challenger: { ops, claimed: "bb".repeat(32) },
 *   provider: { ops, claimed: "cc".repeat(32) },
 * });
 * console.log(v?.winner);
 * ```
 */
export function claimsVerdict(options: {
  agreedHash: Hash;
  challenger: { ops: readonly OpRecord[]; claimed: Hash };
  provider: { ops: readonly OpRecord[]; claimed: Hash };
}): Verdict | null {
  const { agreedHash } = options;
  const faults = (["challenger", "provider"] as const)
    .map((side) =>
      claimsFault(side, options[side].ops, { agreedHash, claimedHash: options[side].claimed })
    )
    .filter((f) => f !== null);
  if (faults.length === 0) return null;
  return {
    opIndex: -1,
    kernel: "(claims)",
    winner: faults.length === 2 ? null : faults[0].side === "provider" ? "challenger" : "provider",
    faults,
    kernelsRun: 0,
    programDerived: false,
  };
}

/** One party's records of the disputed step, as the referee sees them. */
export interface StepRecords {
  /** Its op records. */
  readonly ops: readonly OpRecord[];
  /** The input bytes of op `i` it reveals. */
  tensors(i: number): Uint8Array[];
}

/**
 * The referee's verdict at the first differing op `index` of step `step -> step + 1`: the rules,
 * then at most one recomputed kernel on the revealed inputs (`judgeOp`). The program is derived
 * from the referee's trainer only if the records' structure differs; the agreed state before the
 * step is asked for only at index 0.
 *
 * @example
 * ```ts
 * import { judgeAt } from "./dispute.ts";
 * declare const referee: import("../exec/trainer.ts").Trainer;
 * declare const challenger: import("./dispute.ts").StepRecords;
 * declare const provider: import("./dispute.ts").StepRecords;
 * const v = await judgeAt({ referee, step: 41, index: 7, agreedHash: "aa".repeat(32), challenger, provider });
 * console.log(v.winner, v.kernel, v.kernelsRun);
 * ```
 */
export async function judgeAt(options: {
  referee: Trainer;
  step: number;
  index: number;
  agreedHash: Hash;
  challenger: StepRecords;
  provider: StepRecords;
  agreedState?: () => Promise<TrainingState | undefined>;
}): Promise<Verdict> {
  const { referee, step, index, challenger, provider } = options;
  const reveals: Reveal[] = [];
  if (challenger.ops[index]) reveals.push({ by: "challenger", bytes: challenger.tensors(index) });
  if (provider.ops[index]) reveals.push({ by: "provider", bytes: provider.tensors(index) });
  const state = index === 0 ? await options.agreedState?.() : undefined;
  return await judgeOp({
    index,
    agreed: challenger.ops.slice(0, index),
    challenger: challenger.ops[index],
    provider: provider.ops[index],
    program: () => recordProgram(referee, { step, cursor: cursorAt(referee, step) }),
    profile: referee.plan.profile,
    agreedHash: options.agreedHash,
    ...(state ? { agreedState: { state, by: "challenger" as const } } : {}),
    reveals,
  });
}
