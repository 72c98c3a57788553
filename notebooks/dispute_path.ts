/**
 * A dispute path for the notebooks: maps a {@link DisputePath} (segment → step → op → referee)
 * into the trace viewer's {@link DisputePathView} slot, and describes it as a few lines.
 *
 * Kept in a module (not a notebook cell) so it is type-checked; notebooks import it.
 *
 * @module
 */

import type { TrainingState } from "../lib/exec/state.ts";
import type { DisputePathView } from "../lib/notebook/mod.ts";
import { type Cheat, type DisputePath, forgeRecording } from "../lib/proof/dispute.ts";

/**
 * A provider that flips one bit of its first weight tensor when it reaches `step`, and lies about
 * it in its op records: the kernel that wrote that weight claims the flipped output.
 *
 * @example
 * ```ts
 * import { bitFlipCheat } from "./dispute_path.ts";
 * const cheat = bitFlipCheat(203);
 * console.log(typeof cheat.afterStep); // "function"
 * ```
 */
export function bitFlipCheat(step: number, index = 123, bit = 20): Cheat {
  return {
    afterStep(state: TrainingState): TrainingState {
      if (state.step !== step) return state;
      const [first, ...rest] = state.variables;
      const data = first.data.slice();
      new Uint32Array(data.buffer, data.byteOffset, data.length)[index] ^= 1 << bit;
      return { ...state, variables: [{ ...first, data }, ...rest] };
    },
    recording: (honest, claimed) => forgeRecording(honest, claimed, "producer"),
  };
}

/** Who lost the dispute, in words. */
export function disputeOutcome(path: DisputePath): string {
  const winner = path.verdict.winner;
  return winner === "challenger"
    ? "provider loses"
    : winner === "provider"
    ? "challenger loses"
    : "both sides at fault";
}

/**
 * The trace viewer's form of a dispute path: the disputed segment, the step bisection's result
 * and rounds, the judged kernel (with the referee's recomputed output, if it ran one) and the
 * outcome, with the faults, op rounds and kernels recomputed as the note.
 *
 * @example
 * ```ts
 * import { disputePathView } from "./dispute_path.ts";
 * import { traceView } from "../lib/notebook/mod.ts";
 * import type { DisputePath } from "../lib/proof/dispute.ts";
 * import type { Trace } from "../mod.ts";
 * const draw = (trace: Trace, path: DisputePath) =>
 *   traceView(trace, { dispute: disputePathView(path) });
 * console.log(typeof draw); // "function"
 * ```
 */
export function disputePathView(path: DisputePath): DisputePathView {
  const { verdict } = path;
  const recomputed = verdict.recomputed?.[0];
  return {
    segment: path.segment.segment,
    steps: { agreed: path.step, disputed: path.step + 1, rounds: path.rounds.step },
    kernel: {
      index: path.opIndex,
      name: path.kernel,
      ...(recomputed === undefined ? {} : { actual: recomputed }),
    },
    outcome: verdict.winner === "challenger"
      ? "provider-wrong"
      : verdict.winner === "provider"
      ? "challenger-wrong"
      : "pending",
    note: `${disputeOutcome(path)}: ` +
      verdict.faults.map((f) => `${f.side} ${f.reason}`).join(", ") +
      ` · ${path.rounds.step} step rounds + ${path.rounds.op} op rounds` +
      ` · referee recomputed ${verdict.kernelsRun} kernel${verdict.kernelsRun === 1 ? "" : "s"}`,
  };
}

/** The path as lines of text: one per phase, then the verdict. */
export function describeDispute(path: DisputePath): string {
  const { segment, verdict } = path;
  const moves = path.transcript;
  const stepMoves = moves.filter((m) => m.phase === "step");
  const opMoves = moves.filter((m) => m.phase === "op");
  return [
    `segment  ${segment.segment} (steps ${segment.fromStep}..${segment.toStep})`,
    `step     ${path.step} -> ${path.step + 1} after ${path.rounds.step} rounds (asked at ${
      stepMoves.map((m) => m.at).join(", ")
    })`,
    `op       #${path.opIndex} ${path.kernel} after ${path.rounds.op} rounds (asked at ${
      opMoves.map((m) => m.at).join(", ")
    })`,
    `referee  ${disputeOutcome(path)}: ${
      verdict.faults.map((f) => `${f.side} ${f.reason} (${clip(f.detail, 160)})`).join("; ")
    }`,
    `         kernels recomputed: ${verdict.kernelsRun}; program derived: ${verdict.programDerived}`,
  ].join("\n");
}

function clip(text: string, n: number): string {
  return text.length <= n ? text : `${text.slice(0, n - 1)}…`;
}
