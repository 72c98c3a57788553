/**
 * Loss and accuracy curves of a training run, drawn as SVG with Observable Plot.
 *
 * A {@link TrainingCurves} holds plain points (per-step training loss, and evaluations at chosen
 * steps); it renders as one SVG in a notebook and as a one-line summary in a terminal.
 *
 * @module
 */

import { formatNumber, type MimeBundle, RichView } from "./display.ts";
import { Plot, renderPlot } from "./plot.ts";

/** Training loss after one step. */
export interface LossPoint {
  /** Step counter after the step. */
  readonly step: number;
  /** Loss of the step's batch. */
  readonly loss: number;
}

/** An evaluation of the state at one step (e.g. on a test split). */
export interface EvaluationPoint {
  /** Step of the evaluated state. */
  readonly step: number;
  /** Mean loss on the evaluation data, if measured. */
  readonly loss?: number;
  /** Accuracy in [0, 1] on the evaluation data, if measured. */
  readonly accuracy?: number;
}

/** Data of {@link trainingCurves}. */
export interface TrainingCurvesData {
  /** Per-step training loss, in step order. */
  readonly loss: readonly LossPoint[];
  /** Evaluations, in step order. Default none. */
  readonly evaluations?: readonly EvaluationPoint[];
  /** Name of the evaluation data in labels. Default `"test"`. */
  readonly evaluationLabel?: string;
}

/** Size of one rendered panel. */
export interface PanelSize {
  /** Width in pixels. */
  readonly width: number;
  /** Height in pixels. */
  readonly height: number;
}

/** Points drawn per line at most; longer runs are thinned evenly (smoothing uses all points). */
const MAX_POINTS = 1500;
const RAW_COLOR = "#9ecae1";
const SMOOTH_COLOR = "#1f6fb4";
const EVAL_COLOR = "#e6550d";
const ACCURACY_COLOR = "#2b8a3e";
const PANEL: PanelSize = { width: 440, height: 260 };

/**
 * Loss (and accuracy, when evaluations carry it) curves of a run.
 *
 * @example
 * ```ts
 * import { trainingCurves } from "./curves.ts";
 * const curves = trainingCurves({
 *   loss: [{ step: 1, loss: 2.3 }, { step: 2, loss: 1.9 }, { step: 3, loss: 1.4 }],
 *   evaluations: [{ step: 3, accuracy: 0.71 }],
 * });
 * console.log(String(curves)); // loss 2.3 → 1.4 over 3 steps; test accuracy 71.0% at step 3
 * ```
 */
export class TrainingCurves extends RichView {
  /** Per-step training loss. */
  readonly loss: readonly LossPoint[];
  /** Evaluations. */
  readonly evaluations: readonly EvaluationPoint[];
  /** Name of the evaluation data. */
  readonly evaluationLabel: string;

  /** Wraps the points (not copied: hand over arrays that are no longer written). */
  constructor(data: TrainingCurvesData) {
    super();
    this.loss = data.loss;
    this.evaluations = data.evaluations ?? [];
    this.evaluationLabel = data.evaluationLabel ?? "test";
  }

  /** The last step with a loss or an evaluation (0 when there is none). */
  get lastStep(): number {
    return Math.max(
      this.loss[this.loss.length - 1]?.step ?? 0,
      this.evaluations[this.evaluations.length - 1]?.step ?? 0,
    );
  }

  /** The loss panel as an SVG string: raw per-step loss, a moving average, evaluation losses. */
  lossSvg(size: PanelSize = PANEL): string {
    const raw = thin(this.loss);
    // A centred moving average over about a twentieth of the run shows the trend through the
    // batch-to-batch noise.
    const k = Math.max(1, Math.min(50, Math.round(raw.length / 20)));
    const evals = this.evaluations.filter((e) => e.loss !== undefined);
    const marks: Plot.Markish[] = [
      Plot.lineY(raw, { x: "step", y: "loss", stroke: RAW_COLOR, strokeWidth: 1 }),
      Plot.lineY(
        raw,
        Plot.windowY({ k, anchor: "middle" }, {
          x: "step",
          y: "loss",
          stroke: SMOOTH_COLOR,
          strokeWidth: 2,
        }),
      ),
    ];
    if (evals.length > 0) {
      marks.push(Plot.dot(evals, { x: "step", y: "loss", fill: EVAL_COLOR, r: 3.5 }));
    }
    if (raw.length === 0) marks.push(emptyNote("no steps yet"));
    return renderPlot({
      width: size.width,
      height: size.height,
      marginLeft: 48,
      x: { label: "step", domain: [0, Math.max(1, this.lastStep)] },
      y: {
        label: evals.length > 0 ? `loss (line: train, dots: ${this.evaluationLabel})` : "loss",
        grid: true,
        zero: true,
      },
      marks,
    });
  }

  /** The accuracy panel as an SVG string, or null when no evaluation measured accuracy. */
  accuracySvg(size: PanelSize = PANEL): string | null {
    const evals = this.evaluations.filter((e) => e.accuracy !== undefined);
    if (evals.length === 0) return null;
    const last = evals[evals.length - 1];
    return renderPlot({
      width: size.width,
      height: size.height,
      marginLeft: 48,
      x: { label: "step", domain: [0, Math.max(1, this.lastStep)] },
      y: { label: `${this.evaluationLabel} accuracy (%)`, domain: [0, 100], grid: true },
      marks: [
        Plot.lineY(evals, {
          x: "step",
          y: (e: EvaluationPoint) => 100 * (e.accuracy ?? 0),
          stroke: ACCURACY_COLOR,
          strokeWidth: 2,
          marker: "circle",
        }),
        Plot.text([last], {
          x: "step",
          y: (e: EvaluationPoint) => 100 * (e.accuracy ?? 0),
          text: (e: EvaluationPoint) => `${(100 * (e.accuracy ?? 0)).toFixed(1)}%`,
          dy: -10,
          textAnchor: "end",
          fill: ACCURACY_COLOR,
        }),
      ],
    });
  }

  /** Both panels side by side in one SVG (just the loss panel when there is no accuracy). */
  toSvg(): string {
    const loss = this.lossSvg();
    const accuracy = this.accuracySvg();
    if (accuracy === null) return loss;
    return sideBySide([loss, accuracy], PANEL);
  }

  /**
   * The curves as `text/html` (the SVG inline, which every frontend and nbconvert's HTML export
   * draw as is) and as a standalone `image/svg+xml` (nbconvert's HTML export sanitizes that form
   * down to its text, so it is not the one shown).
   */
  toBundle(): MimeBundle {
    const svg = this.toSvg();
    return {
      "text/html": `<div data-gensyn="training-curves">${svg}</div>`,
      "image/svg+xml": svg,
    };
  }

  /** One line: first and last loss, steps, and the last evaluation. */
  toString(): string {
    const parts: string[] = [];
    if (this.loss.length === 0) parts.push("no steps yet");
    else {
      const first = this.loss[0];
      const last = this.loss[this.loss.length - 1];
      parts.push(
        `loss ${formatNumber(first.loss)} → ${formatNumber(last.loss)} over ${last.step} steps`,
      );
    }
    const evaluation = this.evaluations[this.evaluations.length - 1];
    if (evaluation?.accuracy !== undefined) {
      parts.push(
        `${this.evaluationLabel} accuracy ${
          (100 * evaluation.accuracy).toFixed(1)
        }% at step ${evaluation.step}`,
      );
    } else if (evaluation?.loss !== undefined) {
      parts.push(
        `${this.evaluationLabel} loss ${formatNumber(evaluation.loss)} at step ${evaluation.step}`,
      );
    }
    return parts.join("; ");
  }
}

/**
 * Loss and accuracy curves from plain points.
 *
 * @example
 * ```ts
 * import { trainingCurves } from "./curves.ts";
 * const curves = trainingCurves({ loss: [{ step: 1, loss: 2.3 }, { step: 2, loss: 1.7 }] });
 * const svg = curves.toSvg(); // or leave `curves` as a cell's last expression in a notebook
 * ```
 */
export function trainingCurves(data: TrainingCurvesData): TrainingCurves {
  return new TrainingCurves(data);
}

/** Every point when there are few, else an even subset that keeps the first and last. */
function thin<T>(points: readonly T[]): readonly T[] {
  if (points.length <= MAX_POINTS) return points;
  const stride = points.length / MAX_POINTS;
  const out: T[] = [];
  for (let i = 0; i < MAX_POINTS - 1; i++) out.push(points[Math.floor(i * stride)]);
  out.push(points[points.length - 1]);
  return out;
}

/** A centred note in an otherwise empty frame. */
function emptyNote(text: string): Plot.Markish {
  return Plot.text([text], { frameAnchor: "middle", fill: "#888", fontSize: 12 });
}

/** Places same-size SVG panels in one row of one SVG (nested `<svg>` elements with an x offset). */
export function sideBySide(panels: readonly string[], size: PanelSize): string {
  const width = size.width * panels.length;
  const inner = panels.map((svg, i) => svg.replace(/^<svg /, `<svg x="${i * size.width}" y="0" `))
    .join("");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${size.height}" ` +
    `viewBox="0 0 ${width} ${size.height}" style="max-width:100%;height:auto">${inner}</svg>`;
}
