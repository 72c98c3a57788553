/**
 * The trace viewer: a proof-of-learning {@link Trace} drawn along the step axis, with its
 * checkpoints, the segments a verifier audited coloured by their replay verdict, and, when a
 * dispute ran, the path it took from the segment down to one step and one kernel.
 *
 * The dispute path is a plain data type ({@link DisputePathView}) so the disputes layer can fill
 * it without this module knowing its internals.
 *
 * @module
 */

import { VerificationError } from "../core/errors.ts";
import type { SegmentVerdict } from "../proof/replay.ts";
import type { Trace } from "../proof/trace.ts";
import { escapeHtml, type MimeBundle, RichView, shortHash } from "./display.ts";
import { Plot, renderPlot } from "./plot.ts";

/** A segment's state in the viewer: a replay verdict, or not audited yet. */
export type SegmentStatus = SegmentVerdict["status"] | "unaudited";

/** Fill colour of each segment status (also used by other views for the same meaning). */
export const SEGMENT_COLORS: Readonly<Record<SegmentStatus, string>> = {
  unaudited: "#d5d9de",
  valid: "#2f9e44",
  mismatch: "#e03131",
  "missing-checkpoint": "#f08c00",
  "corrupt-checkpoint": "#9c36b5",
};

/** Short label of each segment status. */
export const SEGMENT_LABELS: Readonly<Record<SegmentStatus, string>> = {
  unaudited: "not audited",
  valid: "VALID",
  mismatch: "MISMATCH",
  "missing-checkpoint": "MISSING",
  "corrupt-checkpoint": "CORRUPT",
};

const STATUSES = Object.keys(SEGMENT_COLORS) as SegmentStatus[];

/**
 * Where a dispute over a trace went (Verde-style two-phase bisection): the disputed segment, the
 * single step phase 1 narrowed it to, the kernel phase 2 found, and the referee's outcome. Every
 * part after the segment is optional, so a dispute can be shown while it is still running.
 */
export interface DisputePathView {
  /** The disputed segment of the trace. */
  readonly segment: number;
  /** Phase 1: the last step both sides agree on and the first they do not. */
  readonly steps?: {
    /** Last agreed step `a`. */
    readonly agreed: number;
    /** First disputed step `b` (`a + 1` once bisection is over). */
    readonly disputed: number;
    /** Bisection rounds played. */
    readonly rounds?: number;
  };
  /** Phase 2: the first kernel of the disputed step whose inputs agree and output differs. */
  readonly kernel?: {
    /** Position of the kernel in the step's fixed execution order. */
    readonly index: number;
    /** The kernel's name (e.g. `MatMul`). */
    readonly name: string;
    /** Output hash the provider committed. */
    readonly expected?: string;
    /** Output hash the challenger (or referee) computed. */
    readonly actual?: string;
  };
  /** The referee's outcome. Default `"pending"`. */
  readonly outcome?: "pending" | "provider-wrong" | "challenger-wrong";
  /** A free-form line shown under the path (e.g. the slash amount). */
  readonly note?: string;
}

/** Options of {@link traceView}. */
export interface TraceViewOptions {
  /** Replay verdicts of audited segments (a later verdict for a segment replaces an earlier one). */
  verdicts?: readonly SegmentVerdict[];
  /** A dispute over the trace. Default none. */
  dispute?: DisputePathView;
  /** Heading. Default `"Proof-of-learning trace"`. */
  title?: string;
}

/** One segment as the viewer shows it. */
export interface SegmentRow {
  /** Segment index. */
  readonly segment: number;
  /** Step of the start checkpoint. */
  readonly fromStep: number;
  /** Step of the end checkpoint. */
  readonly toStep: number;
  /** Verdict, or `"unaudited"`. */
  readonly status: SegmentStatus;
  /** The verdict, when the segment was audited. */
  readonly verdict: SegmentVerdict | null;
}

const WIDTH = 760;
const HEIGHT = 150;

/**
 * A viewer over a trace, its audit verdicts and an optional dispute path.
 *
 * @example
 * ```ts
 * import { traceView } from "./trace_view.ts";
 * import { replaySegment } from "../proof/replay.ts";
 * declare const trace: import("../proof/trace.ts").Trace;
 * declare const replay: import("../proof/replay.ts").ReplayOptions;
 * const verdicts = [await replaySegment(trace, 0, replay), await replaySegment(trace, 1, replay)];
 * const view = traceView(trace, { verdicts });
 * console.log(String(view)); // in a notebook, leave `view` as the cell's last expression
 * ```
 */
export class TraceView extends RichView {
  /** The trace shown. */
  readonly trace: Trace;
  /** Verdicts by segment index. */
  readonly verdicts: ReadonlyMap<number, SegmentVerdict>;
  /** The dispute shown, if any. */
  readonly dispute: DisputePathView | null;
  /** Heading. */
  readonly title: string;

  /** Checks that every verdict and the dispute refer to segments of `trace`. */
  constructor(trace: Trace, options: TraceViewOptions = {}) {
    super();
    this.trace = trace;
    this.title = options.title ?? "Proof-of-learning trace";
    const verdicts = new Map<number, SegmentVerdict>();
    for (const v of options.verdicts ?? []) {
      const from = trace.checkpoints[v.segment]?.step;
      const to = trace.checkpoints[v.segment + 1]?.step;
      if (from !== v.fromStep || to !== v.toStep) {
        throw new VerificationError(
          "VERIFY_VERDICT_NOT_IN_TRACE",
          `verdict for segment ${v.segment} (steps ${v.fromStep}..${v.toStep}) does not belong ` +
            `to this trace (${trace.checkpoints.length - 1} segments); show it with the trace ` +
            "that was replayed",
          { value: v },
        );
      }
      verdicts.set(v.segment, v);
    }
    this.verdicts = verdicts;
    const d = options.dispute;
    if (d !== undefined) {
      const range = segmentSteps(trace, d.segment);
      if (
        range === null ||
        (d.steps && !(d.steps.agreed >= range.from && d.steps.disputed <= range.to))
      ) {
        throw new VerificationError(
          "VERIFY_DISPUTE_NOT_IN_TRACE",
          `the dispute path (segment ${d.segment}) lies outside this trace; show it with the ` +
            "disputed trace",
          { value: d },
        );
      }
    }
    this.dispute = d ?? null;
  }

  /** A view with more verdicts (replacing earlier verdicts of the same segments). */
  withVerdicts(verdicts: readonly SegmentVerdict[]): TraceView {
    return new TraceView(this.trace, {
      title: this.title,
      verdicts: [...this.verdicts.values(), ...verdicts],
      ...(this.dispute ? { dispute: this.dispute } : {}),
    });
  }

  /** A view showing a dispute path. */
  withDispute(dispute: DisputePathView): TraceView {
    return new TraceView(this.trace, {
      title: this.title,
      verdicts: [...this.verdicts.values()],
      dispute,
    });
  }

  /** Every segment with its status, in order. */
  segments(): SegmentRow[] {
    const rows: SegmentRow[] = [];
    for (let i = 0; i + 1 < this.trace.checkpoints.length; i++) {
      const verdict = this.verdicts.get(i) ?? null;
      rows.push({
        segment: i,
        fromStep: this.trace.checkpoints[i].step,
        toStep: this.trace.checkpoints[i + 1].step,
        status: verdict?.status ?? "unaudited",
        verdict,
      });
    }
    return rows;
  }

  /** Segment counts by status. */
  counts(): Record<SegmentStatus, number> {
    const counts = Object.fromEntries(STATUSES.map((s) => [s, 0])) as Record<
      SegmentStatus,
      number
    >;
    for (const row of this.segments()) counts[row.status] += 1;
    return counts;
  }

  /** The step axis as SVG: segments coloured by status, checkpoints, the dispute if any. */
  toSvg(): string {
    const rows = this.segments();
    const checkpoints = this.trace.checkpoints;
    const label = rows.length <= 40;
    const marks: Plot.Markish[] = [
      Plot.rect(rows, {
        x1: "fromStep",
        x2: "toStep",
        y1: 0,
        y2: 1,
        fill: (r: SegmentRow) => SEGMENT_COLORS[r.status],
        insetLeft: 1,
        insetRight: 1,
        title: (r: SegmentRow) => describeRow(r),
      }),
      Plot.ruleX(checkpoints, { x: "step", y1: -0.1, y2: 1.25, stroke: "#343a40" }),
      Plot.dot(checkpoints, {
        x: "step",
        y: 1.25,
        r: 3,
        fill: "#343a40",
        title: (c: { step: number; hash: string }) => `checkpoint at step ${c.step}\n${c.hash}`,
      }),
    ];
    if (label) {
      marks.push(
        Plot.text(rows, {
          x: (r: SegmentRow) => (r.fromStep + r.toStep) / 2,
          y: 0.5,
          text: (r: SegmentRow) => r.status === "unaudited" ? "" : r.status === "valid" ? "✓" : "✗",
          fill: "white",
          fontSize: 13,
          fontWeight: "bold",
        }),
        Plot.text(rows, {
          x: (r: SegmentRow) => (r.fromStep + r.toStep) / 2,
          y: -0.35,
          text: (r: SegmentRow) => `#${r.segment}`,
          fill: "#495057",
        }),
      );
    }
    const d = this.dispute;
    if (d) {
      const range = segmentSteps(this.trace, d.segment)!;
      marks.push(
        Plot.rect([range], {
          x1: "from",
          x2: "to",
          y1: -0.08,
          y2: 1.08,
          fill: "none",
          stroke: "#c92a2a",
          strokeWidth: 2.5,
          strokeDasharray: "5,3",
        }),
      );
      if (d.steps) {
        const step = d.steps.disputed;
        marks.push(
          Plot.ruleX([step], { y1: -0.1, y2: 1.6, stroke: "#c92a2a", strokeWidth: 2 }),
          Plot.text([step], {
            x: (s: number) => s,
            y: 1.6,
            text: (s: number) => `disputed step ${s}`,
            dy: -6,
            fill: "#c92a2a",
            fontWeight: "bold",
          }),
        );
      }
    }
    return renderPlot({
      width: WIDTH,
      height: HEIGHT,
      marginLeft: 20,
      marginRight: 20,
      marginTop: 18,
      x: { label: "step", domain: [0, Math.max(1, this.trace.steps)] },
      y: { axis: null, domain: [-0.6, 1.75] },
      marks,
    });
  }

  /** The full viewer as HTML: header, step axis, legend, verdict table, dispute path. */
  toHtml(): string {
    const t = this.trace;
    const counts = this.counts();
    const legend = STATUSES.filter((s) => s === "unaudited" || s === "valid" || counts[s] > 0)
      .map((s) =>
        `<span style="display:inline-flex;align-items:center;gap:4px;margin-right:14px">` +
        `<span style="width:12px;height:12px;border-radius:2px;background:${SEGMENT_COLORS[s]}">` +
        `</span>${escapeHtml(SEGMENT_LABELS[s])} (${counts[s]})</span>`
      ).join("");
    const audited = this.segments().filter((r) => r.verdict !== null);
    const table = audited.length === 0
      ? `<p style="color:#666">No segment audited yet: replay segments with ` +
        `<code>replaySegment</code> and pass the verdicts to the view.</p>`
      : `<table style="border-collapse:collapse;margin-top:6px"><thead><tr>` +
        ["segment", "steps", "verdict", "detail"].map((h) =>
          `<th style="text-align:left;padding:2px 12px 2px 0;border-bottom:1px solid #ccc">${h}</th>`
        ).join("") + `</tr></thead><tbody>` +
        audited.map((r) =>
          `<tr data-segment="${r.segment}" data-verdict="${r.status}">` +
          cell(`#${r.segment}`) + cell(`${r.fromStep}–${r.toStep}`) +
          `<td style="padding:2px 12px 2px 0"><span style="color:white;background:` +
          `${SEGMENT_COLORS[r.status]};border-radius:3px;padding:0 6px;font-weight:600">` +
          `${SEGMENT_LABELS[r.status]}</span></td>` +
          cell(verdictDetail(r.verdict!), true) + `</tr>`
        ).join("") + `</tbody></table>`;
    return `<div data-gensyn="trace-view" style="font-family:system-ui,sans-serif;font-size:13px;` +
      `max-width:${WIDTH}px">` +
      `<div><b>${escapeHtml(this.title)}</b> · root <code title="${t.root}">` +
      `${shortHash(t.root, 16)}</code></div>` +
      `<div style="color:#555">${escapeHtml(headerFacts(t))}</div>` +
      this.toSvg() +
      `<div style="margin:2px 0 4px">${legend}</div>` + table + this.#disputeHtml() + `</div>`;
  }

  /** The viewer as a `text/html` bundle. */
  toBundle(): MimeBundle {
    return { "text/html": this.toHtml() };
  }

  /** A few lines: the trace, the audit tally, the failed segments, the dispute path. */
  toString(): string {
    const t = this.trace;
    const lines = [`trace ${shortHash(t.root, 16)}  ${headerFacts(t)}`];
    const rows = this.segments();
    const audited = rows.filter((r) => r.verdict !== null);
    if (audited.length === 0) lines.push(`no segment audited (of ${rows.length})`);
    else {
      const c = this.counts();
      const tally = STATUSES.filter((s) => s !== "unaudited" && c[s] > 0)
        .map((s) => `${c[s]} ${SEGMENT_LABELS[s]}`).join(", ");
      lines.push(`audited ${audited.length} of ${rows.length} segments: ${tally}`);
      for (const r of audited.filter((r) => r.status !== "valid")) {
        lines.push(`  ${describeRow(r)}`);
      }
    }
    if (this.dispute) lines.push(`dispute: ${disputeSteps(this.trace, this.dispute).join(" → ")}`);
    return lines.join("\n");
  }

  #disputeHtml(): string {
    const d = this.dispute;
    if (!d) return "";
    const steps = disputeSteps(this.trace, d).map((s, i) =>
      `${i > 0 ? " → " : ""}<span style="border:1px solid #c92a2a;border-radius:3px;` +
      `padding:1px 6px">${escapeHtml(s)}</span>`
    ).join("");
    return `<div data-gensyn="dispute-path" style="margin-top:8px"><b>Dispute path</b> ` +
      `<div style="margin-top:4px">${steps}</div>` +
      (d.note ? `<div style="color:#555;margin-top:4px">${escapeHtml(d.note)}</div>` : "") +
      `</div>`;
  }
}

/**
 * A viewer over a trace: checkpoints on the step axis, audited segments coloured by verdict, and
 * an optional dispute path. Renders as HTML in a notebook and as a few lines in a terminal.
 *
 * @example
 * ```ts
 * import { traceView } from "./trace_view.ts";
 * declare const trace: import("../proof/trace.ts").Trace;
 * declare const verdicts: import("../proof/replay.ts").SegmentVerdict[];
 * traceView(trace, { verdicts, dispute: { segment: 3, steps: { agreed: 161, disputed: 162 } } });
 * ```
 */
export function traceView(trace: Trace, options: TraceViewOptions = {}): TraceView {
  return new TraceView(trace, options);
}

function segmentSteps(trace: Trace, i: number): { from: number; to: number } | null {
  if (!Number.isInteger(i) || i < 0 || i + 1 >= trace.checkpoints.length) return null;
  return { from: trace.checkpoints[i].step, to: trace.checkpoints[i + 1].step };
}

function headerFacts(t: Trace): string {
  return `${t.steps} steps · k = ${t.k} · ${t.checkpoints.length} checkpoints · ` +
    `profile ${t.plan.profile}` + (t.jobId === null ? "" : ` · job ${shortHash(t.jobId, 16)}`);
}

function cell(text: string, mono = false): string {
  const font = mono ? "font-family:ui-monospace,monospace;font-size:12px;" : "";
  return `<td style="padding:2px 12px 2px 0;${font}">${escapeHtml(text)}</td>`;
}

function verdictDetail(v: SegmentVerdict): string {
  switch (v.status) {
    case "valid":
      return `re-executed bit for bit: ${shortHash(v.hash, 16)}`;
    case "mismatch":
      return `committed ${shortHash(v.expected, 16)}, re-execution gives ${
        shortHash(v.actual, 16)
      }`;
    case "missing-checkpoint":
      return `start checkpoint ${shortHash(v.hash, 16)} not in the store`;
    case "corrupt-checkpoint":
      return `start checkpoint ${shortHash(v.hash, 16)} corrupt: ${v.reason}`;
  }
}

function describeRow(r: SegmentRow): string {
  const head = `segment ${r.segment} [steps ${r.fromStep}..${r.toStep}] ${
    SEGMENT_LABELS[r.status]
  }`;
  return r.verdict === null ? head : `${head}: ${verdictDetail(r.verdict)}`;
}

function disputeSteps(trace: Trace, d: DisputePathView): string[] {
  const range = segmentSteps(trace, d.segment)!;
  const parts = [`segment ${d.segment} (steps ${range.from}–${range.to})`];
  if (d.steps) {
    parts.push(
      `step ${d.steps.disputed} (agreed at ${d.steps.agreed}` +
        (d.steps.rounds === undefined ? ")" : `, ${d.steps.rounds} rounds)`),
    );
  }
  if (d.kernel) parts.push(`kernel #${d.kernel.index} ${d.kernel.name}`);
  const outcome = d.outcome ?? "pending";
  parts.push(
    outcome === "pending"
      ? "referee pending"
      : outcome === "provider-wrong"
      ? "provider wrong"
      : "challenger wrong",
  );
  return parts;
}
