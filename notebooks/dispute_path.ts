/**
 * A dispute path for the notebooks: maps a {@link DisputePath} (segment → step → op → referee),
 * played in-process, or an on-chain dispute (a verifier's {@link AuditRecord} and the referee's
 * {@link Ruling}) into the trace viewer's {@link DisputePathView} slot, and describes it as a few
 * lines.
 *
 * Kept in a module (not a notebook cell) so it is type-checked; notebooks import it.
 *
 * @module
 */

import type { TrainingState } from "@gensyn-deno/toolkit/exec";
import type { Ruling } from "@gensyn-deno/toolkit/node";
import type { AuditRecord } from "@gensyn-deno/toolkit/node";
import { type DisputePathView, formatAmount, TOKEN_UNIT } from "@gensyn-deno/toolkit/notebook";
import type { Cheat, DisputePath } from "@gensyn-deno/toolkit/proof";
import { forgeRecording } from "@gensyn-deno/toolkit/testing";
import type { SegmentVerdict } from "@gensyn-deno/toolkit/proof";

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
 * import { traceView } from "@gensyn-deno/toolkit/notebook";
 * import type { DisputePath } from "@gensyn-deno/toolkit/proof";
 * import type { Trace } from "@gensyn-deno/toolkit";
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

/**
 * The trace viewer's form of a dispute a verifier opened on-chain: the segment its audit failed
 * on, the step the game bisected to, the kernel the referee judged (with its recomputed output,
 * if it ran one) and the outcome; the note carries the dispute id, the chain's outcome, the
 * verifier's moves and gas, the slash and the kernels recomputed.
 *
 * @example
 * ```ts
 * import { onChainDisputeView } from "./dispute_path.ts";
 * import { traceView } from "@gensyn-deno/toolkit/notebook";
 * import type { Ruling } from "@gensyn-deno/toolkit/node";
 * import type { AuditRecord } from "@gensyn-deno/toolkit/node";
 * import type { Trace } from "@gensyn-deno/toolkit";
 * const draw = (trace: Trace, record: AuditRecord, ruling: Ruling) =>
 *   traceView(trace, { dispute: onChainDisputeView(record, ruling) });
 * console.log(typeof draw); // "function"
 * ```
 */
export function onChainDisputeView(record: AuditRecord, ruling: Ruling): DisputePathView {
  const dispute = record.dispute;
  if (!dispute) throw new Error(`the audit of job ${record.jobId} opened no dispute`);
  const step = ruling.step ?? dispute.step;
  const failed = record.verdicts.filter((v) => v.status !== "valid");
  // The segment that holds the disputed step `step -> step + 1`, else the first that failed.
  const segment =
    (step === undefined
      ? undefined
      : record.verdicts.find((v) => v.fromStep <= step && step + 1 <= v.toStep)) ?? failed[0];
  if (!segment) throw new Error(`the audit of job ${record.jobId} has no failed segment`);
  const recomputed = ruling.verdict?.recomputed?.[0];
  const slashed = BigInt(record.slashedWei ?? "0");
  return {
    segment: segment.segment,
    ...(step === undefined ? {} : { steps: { agreed: step, disputed: step + 1 } }),
    ...(ruling.opIndex === undefined ? {} : {
      kernel: {
        index: ruling.opIndex,
        name: ruling.kernel,
        ...(recomputed === undefined ? {} : { actual: recomputed }),
      },
    }),
    outcome: ruling.winner === "challenger"
      ? "provider-wrong"
      : ruling.winner === "provider"
      ? "challenger-wrong"
      : "pending",
    note: `dispute #${dispute.id} ${dispute.outcome}: ${ruling.reason}` +
      ` · ${dispute.moves} verifier moves, ${BigInt(dispute.gasUsed).toLocaleString("en-US")} gas` +
      (slashed > 0n
        ? ` · provider slashed ${formatAmount(slashed, TOKEN_UNIT.decimals, 4)} AIGENSYN`
        : "") +
      ` · referee recomputed ${ruling.kernelsRun} kernel${ruling.kernelsRun === 1 ? "" : "s"}`,
  };
}

/**
 * The replay verdicts of an audit, for the trace viewer: segments that were re-executed (a
 * withheld checkpoint or a wrong initial state has no replay verdict to draw).
 */
export function replayVerdicts(record: AuditRecord): SegmentVerdict[] {
  return record.verdicts.filter((v): v is SegmentVerdict =>
    v.status !== "withheld" && v.status !== "bad-initial-state"
  );
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
