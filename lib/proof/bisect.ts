/**
 * Bisection rules of a two-phase dispute (Verde, "Verification via Refereed Delegation for ML
 * Programs", 2025), as pure functions over plain values so a contract, a node or a test can drive
 * them one move at a time.
 *
 * **Phase 1, steps.** The parties agree on the state at step `a` and disagree at step `b`. A
 * {@link Bisection} holds the interval; each round the provider posts its state hash at
 * {@link nextMidpoint} and the challenger answers `agree` (the interval becomes `[mid, b]`) or
 * `disagree` (`[a, mid]`), until `b = a + 1`. That takes at most `ceil(log2(b - a))` rounds.
 *
 * **Phase 2, ops.** Inside step `t -> t + 1` each party commits its op records (`lib/proof/ops.ts`).
 * The same bisection runs over *prefix lengths*: `agree(p)` means the chain hashes
 * ({@link opChain}) of the first `p` record hashes are equal. The empty prefix is agreed by
 * definition; the longer of the two record lists is the first disputed point (a chain stays put
 * past its last record, so a missing or extra record shows as a difference). It ends at the first
 * index `i` whose records differ, with every record before `i` agreed.
 *
 * **Rules at the first differing op `i`** ({@link findOpFaults}), checked for each side:
 *
 * 1. *Program.* A step's op sequence (kernel names, attrs, input names, shapes, dtypes and
 *    sources, the values of the constants it creates, output shapes and dtypes) is a function of
 *    the training plan and the step number only, never of tensor values. The referee derives it
 *    from the plan (see `recordProgram` in `lib/proof/referee.ts`). A record that deviates from it,
 *    a missing record (fewer ops than the program) or an extra one loses: `program-deviation`.
 * 2. *Step input.* Record 0 must list exactly the agreed state's variables: `step-input`.
 * 3. *Sources.* Every input names the earlier output it reads; its hash must equal that output's
 *    hash in the agreed prefix: `input-mismatch`.
 *
 * If neither side is at fault, both records have the same inputs and differ only in their
 * outputs, and the referee recomputes that one kernel (or, for `@StepOutput`, recomputes the
 * state commitment from the revealed bytes) to decide who is right.
 *
 * @module
 */

import { canonicalJson, type CanonicalValue } from "../core/canonical.ts";
import { VerificationError } from "../core/errors.ts";
import type { Hash } from "../core/hash.ts";
import { fromHex } from "../core/hash.ts";
import { type OpRecord, sha256Sync, STEP_INPUT, STEP_OUTPUT, type TensorSource } from "./ops.ts";
import type { CheckpointRef } from "./trace.ts";

/** A challenger's answer to a posted hash. */
export type Answer = "agree" | "disagree";

/** The state of a bisection: the agreed and the disputed point, and the rounds played. */
export interface Bisection {
  /** Highest point both parties agree on. */
  readonly agreed: number;
  /** Lowest point known to be disputed. */
  readonly disputed: number;
  /** Rounds (midpoint + answer) played so far. */
  readonly rounds: number;
}

/**
 * Starts a bisection between an agreed point and a disputed one.
 *
 * @example
 * ```ts
 * import { applyAnswer, isDone, nextMidpoint, startBisection } from "./bisect.ts";
 * let game = startBisection({ agreed: 0, disputed: 50 });
 * while (!isDone(game)) {
 *   const mid = nextMidpoint(game); // the provider posts its state hash at `mid`
 *   game = applyAnswer(game, mid < 17 ? "agree" : "disagree");
 * }
 * console.log(game.agreed, game.disputed); // 16 17
 * ```
 */
export function startBisection(range: { agreed: number; disputed: number }): Bisection {
  const { agreed, disputed } = range;
  if (!Number.isSafeInteger(agreed) || !Number.isSafeInteger(disputed) || agreed >= disputed) {
    throw new VerificationError(
      "VERIFY_BAD_RANGE",
      `a bisection needs integers agreed < disputed, got agreed ${agreed}, disputed ${disputed}`,
      { value: range },
    );
  }
  return { agreed, disputed, rounds: 0 };
}

/** Phase 1: starts the bisection over steps `a` (agreed) to `b` (disputed). */
export function startStepBisection(a: number, b: number): Bisection {
  return startBisection({ agreed: a, disputed: b });
}

/** True once the disputed point directly follows the agreed one. */
export function isDone(game: Bisection): boolean {
  return game.disputed === game.agreed + 1;
}

/** The point whose hash the provider posts next. */
export function nextMidpoint(game: Bisection): number {
  if (isDone(game)) {
    throw new VerificationError(
      "VERIFY_BISECTION_DONE",
      `the bisection is over (agreed ${game.agreed}, disputed ${game.disputed}); go to the next phase`,
      { value: game },
    );
  }
  return game.agreed + Math.floor((game.disputed - game.agreed) / 2);
}

/** Applies the challenger's answer about the hash posted at {@link nextMidpoint}. */
export function applyAnswer(game: Bisection, answer: Answer): Bisection {
  const mid = nextMidpoint(game);
  if (answer !== "agree" && answer !== "disagree") {
    throw new VerificationError("VERIFY_BAD_ANSWER", `answer must be agree or disagree`, {
      value: answer,
    });
  }
  return answer === "agree"
    ? { agreed: mid, disputed: game.disputed, rounds: game.rounds + 1 }
    : { agreed: game.agreed, disputed: mid, rounds: game.rounds + 1 };
}

/** Most rounds a bisection over `span` points takes: `ceil(log2(span))`. */
export function maxRounds(span: number): number {
  return span <= 1 ? 0 : Math.ceil(Math.log2(span));
}

/**
 * Plays a bisection to the end, asking `answer(mid)` each round (the thin driver over the pure
 * moves; a contract plays the same moves one transaction at a time).
 */
export async function bisect(
  start: Bisection,
  answer: (mid: number) => Answer | Promise<Answer>,
): Promise<Bisection> {
  let game = start;
  while (!isDone(game)) game = applyAnswer(game, await answer(nextMidpoint(game)));
  return game;
}

/** Where two checkpoint lists of the same run first disagree. */
export interface DisputedSegment {
  /** Segment index: from checkpoint `segment` to checkpoint `segment + 1`. */
  readonly segment: number;
  /** Agreed step (the segment's start). */
  readonly fromStep: number;
  /** Disputed step (the segment's end). */
  readonly toStep: number;
}

/**
 * The first segment whose end checkpoint differs between two traces of one plan, or null when
 * they agree everywhere. The first checkpoints must agree (the initial state is fixed by the
 * spec; `verifyInitialState` settles a dispute there).
 */
export function disputedSegment(
  ours: readonly CheckpointRef[],
  theirs: readonly CheckpointRef[],
): DisputedSegment | null {
  const same = ours.length === theirs.length &&
    ours.every((c, i) => c.step === theirs[i].step && c.cursor === theirs[i].cursor);
  if (!same || ours.length === 0 || ours[0].hash !== theirs[0].hash) {
    throw new VerificationError(
      "VERIFY_TRACES_INCOMPARABLE",
      "the traces do not share their checkpoint steps and initial state; compare traces of one " +
        "job (same steps and k), and check the initial state with verifyInitialState",
      { value: { ours: ours.length, theirs: theirs.length } },
    );
  }
  const i = ours.findIndex((c, j) => c.hash !== theirs[j].hash);
  return i < 0 ? null : { segment: i - 1, fromStep: ours[i - 1].step, toStep: ours[i].step };
}

/** The chain hash before any op: 32 zero bytes. */
export const EMPTY_OP_CHAIN: Hash = "00".repeat(32);

/**
 * Chain hash over the first `length` op-record hashes (what a party posts in phase 2):
 * `c(0)` is {@link EMPTY_OP_CHAIN}, `c(n + 1) = sha256(c(n) || opHash(n))`, and past the last
 * record the chain stays put (`c(n) = c(count)` for `n > count`). A chain, unlike a Merkle root,
 * lets a contract check in one hash that a revealed record extends an agreed prefix.
 *
 * @example
 * ```ts
 * import { EMPTY_OP_CHAIN, opChain } from "./bisect.ts";
 * const hashes = ["11".repeat(32), "22".repeat(32)];
 * console.log(opChain(hashes, 0) === EMPTY_OP_CHAIN, opChain(hashes, 5) === opChain(hashes, 2)); // true true
 * ```
 */
export function opChain(opHashes: readonly Hash[], length: number): Hash {
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new VerificationError(
      "VERIFY_BAD_INDEX",
      `prefix length ${length} must be a non-negative integer`,
      { value: length },
    );
  }
  let chain = EMPTY_OP_CHAIN;
  const n = Math.min(length, opHashes.length);
  for (let i = 0; i < n; i++) chain = extendOpChain(chain, opHashes[i]);
  return chain;
}

/** One link of {@link opChain}: `sha256(chain || opHash)`. */
export function extendOpChain(chain: Hash, opHash: Hash): Hash {
  return sha256Sync(fromHex(chain + opHash));
}

/** The value-independent part of an op record: what the program fixes. */
export interface OpShape {
  /** Kernel name. */
  readonly kernel: string;
  /** Canonical attrs (without the state commitment of the pseudo-records). */
  readonly attrs: CanonicalValue;
  /** Inputs: name, shape, dtype, source, and the hash of constants only. */
  readonly inputs: readonly {
    readonly name: string;
    readonly shape: readonly number[];
    readonly dtype: string;
    readonly source: TensorSource;
    readonly hash?: Hash;
  }[];
  /** Output shapes and dtypes. */
  readonly outputs: readonly { readonly shape: readonly number[]; readonly dtype: string }[];
}

/** The program of a step: each record with its data values stripped (constants kept). */
export function programOf(ops: readonly OpRecord[]): OpShape[] {
  return ops.map((op) => {
    let attrs = op.attrs;
    if ((op.kernel === STEP_INPUT || op.kernel === STEP_OUTPUT) && isObject(attrs)) {
      const { stateHash: _, ...rest } = attrs;
      attrs = rest;
    }
    return {
      kernel: op.kernel,
      attrs,
      inputs: op.inputs.map((i) => ({
        name: i.name,
        shape: i.shape,
        dtype: i.dtype,
        source: i.source,
        ...(i.source.kind === "const" ? { hash: i.hash } : {}),
      })),
      outputs: op.outputs.map((o) => ({ shape: o.shape, dtype: o.dtype })),
    };
  });
}

function isObject(v: CanonicalValue): v is { [key: string]: CanonicalValue } {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** A party of a dispute. */
export type Side = "challenger" | "provider";

/** Why a side loses at an op. */
export type FaultReason =
  | "claims-inconsistent"
  | "program-deviation"
  | "step-input"
  | "input-mismatch"
  | "bad-reveal"
  | "wrong-output"
  | "state-commitment";

/** One side's fault, with what the referee saw. */
export interface Fault {
  /** The side at fault. */
  readonly side: Side;
  /** The rule it broke. */
  readonly reason: FaultReason;
  /** Human-readable evidence. */
  readonly detail: string;
}

/** How an op record deviates from the program's op at its index, or null if it does not. */
export function programDeviation(
  op: OpRecord | undefined,
  expected: OpShape | undefined,
): string | null {
  if (op === undefined && expected === undefined) return null;
  if (op === undefined) return `op is missing: the program runs ${expected!.kernel} here`;
  if (expected === undefined) return `extra op ${op.kernel}: the program has no op here`;
  const [actual] = programOf([op]);
  if (actual.kernel !== expected.kernel) {
    return `runs ${actual.kernel} where the program runs ${expected.kernel}`;
  }
  const fields = ["attrs", "inputs", "outputs"] as const;
  for (const f of fields) {
    const a = canonicalJson(actual[f]);
    const e = canonicalJson(expected[f]);
    if (a !== e) {
      return `${op.kernel} ${f} ${a.slice(0, 200)} differ from the program's ${e.slice(0, 200)}`;
    }
  }
  return null;
}

/** Inputs of `op` whose hash is not the agreed hash of the output they name as their source. */
export function sourceMismatch(op: OpRecord, agreed: readonly OpRecord[]): string | null {
  for (const input of op.inputs) {
    if (input.source.kind !== "op") continue;
    const { op: from, output } = input.source;
    const expected = from < op.index ? agreed[from]?.outputs[output]?.hash : undefined;
    if (expected !== input.hash) {
      return `input ${input.name} of op ${op.index} (${op.kernel}) has hash ${input.hash} but its ` +
        `source, output ${output} of op ${from}, has ${expected ?? "no agreed value"}`;
    }
  }
  return null;
}

/**
 * The rule-based faults at the first differing op `index` (rules 1-3 of this module), given the
 * program's op at `index` (`undefined` past its end), the agreed records before `index`, and (for
 * index 0) the canonical step-input record of the agreed state. An empty result means both sides
 * have the same inputs and the referee must recompute the op.
 */
export function findOpFaults(params: {
  index: number;
  expected: OpShape | undefined;
  agreed: readonly OpRecord[];
  challenger: OpRecord | undefined;
  provider: OpRecord | undefined;
  stepInput?: OpRecord;
}): Fault[] {
  const faults: Fault[] = [];
  for (const side of ["challenger", "provider"] as const) {
    const op = params[side];
    const deviation = programDeviation(op, params.expected);
    if (deviation !== null) {
      faults.push({ side, reason: "program-deviation", detail: deviation });
    } else if (op !== undefined && op.index !== params.index) {
      faults.push({ side, reason: "program-deviation", detail: `record says index ${op.index}` });
    } else if (op !== undefined && op.kernel === STEP_INPUT) {
      if (params.stepInput === undefined) {
        throw new VerificationError(
          "VERIFY_MISSING_STEP_INPUT",
          "the dispute is at the step input: pass the canonical stepInput record of the agreed state",
        );
      }
      if (canonicalJson(op) !== canonicalJson(params.stepInput)) {
        faults.push({
          side,
          reason: "step-input",
          detail: "record 0 does not list the variables of the agreed state",
        });
      }
    } else if (op !== undefined) {
      const mismatch = sourceMismatch(op, params.agreed);
      if (mismatch !== null) faults.push({ side, reason: "input-mismatch", detail: mismatch });
    }
  }
  return faults;
}

/**
 * Faults of a recording that contradicts its own side's claims: it must start with the agreed
 * state (hash `agreedHash`) and end with the state this side claimed after the step.
 */
export function claimsFault(
  side: Side,
  ops: readonly OpRecord[],
  claims: { agreedHash: Hash; claimedHash: Hash },
): Fault | null {
  const first = ops[0];
  const last = ops[ops.length - 1];
  const hashOf = (op: OpRecord | undefined) =>
    op && isObject(op.attrs) ? op.attrs.stateHash : undefined;
  if (ops.length < 2 || first.kernel !== STEP_INPUT || last.kernel !== STEP_OUTPUT) {
    return {
      side,
      reason: "claims-inconsistent",
      detail: "records are not framed by step input/output",
    };
  }
  if (hashOf(first) !== claims.agreedHash) {
    return {
      side,
      reason: "claims-inconsistent",
      detail: "records do not start at the agreed state",
    };
  }
  if (hashOf(last) !== claims.claimedHash) {
    return {
      side,
      reason: "claims-inconsistent",
      detail: `records end at state ${hashOf(last)}, not at the claimed ${claims.claimedHash}`,
    };
  }
  return null;
}
