/**
 * Live progress of a training run: step, loss, samples/s, checkpoints committed and verifier
 * verdicts, drawn in place in a notebook (one display updated by its `display_id`) and as a
 * progress line in a terminal (rewritten with `\r` on a TTY, printed every few seconds otherwise).
 *
 * Its `onStep`, `onCheckpoint` and `onVerdict` fit the callbacks of `trainWithProof` and the
 * trainer, so wiring it in is one line per callback. The counting is pure and kept apart from the
 * drawing, so a network job's progress events can feed the same view later.
 *
 * @module
 */

import { SpecError } from "../core/errors.ts";
import type { StepInfo } from "../exec/trainer.ts";
import type { SegmentVerdict } from "../proof/replay.ts";
import type { CheckpointRef } from "../proof/trace.ts";
import { type EvaluationPoint, type LossPoint, TrainingCurves } from "./curves.ts";
import {
  escapeHtml,
  formatNumber,
  inJupyter,
  JUPYTER_DISPLAY,
  type MimeBundle,
  newDisplayId,
  RichView,
  show,
} from "./display.ts";

/** Where a progress view draws. `"auto"`: Jupyter in the kernel, else the terminal. */
export type ProgressOutput = "auto" | "jupyter" | "terminal" | "none";

/** Options of {@link trainingProgress}. */
export interface TrainingProgressOptions {
  /** Total steps of the run. */
  steps: number;
  /** Examples per step, to show samples/s. Default: unknown, steps/s is shown instead. */
  batchSize?: number;
  /** Checkpoint interval, to show checkpoints committed out of those expected. */
  k?: number;
  /** Label of the run. Default `"training"`. */
  title?: string;
  /** Where to draw. Default `"auto"`. */
  output?: ProgressOutput;
  /**
   * Least time between redraws in milliseconds. Default 300 in Jupyter, 200 on a TTY, 5000 in
   * a non-interactive terminal (a log).
   */
  intervalMs?: number;
  /** Writes terminal output. Default: stdout. */
  write?: (text: string) => void;
  /** Whether the terminal output is a TTY (lines are rewritten in place). Default: stdout's. */
  tty?: boolean;
  /** Clock in milliseconds. Default `performance.now`. */
  now?: () => number;
}

/** Counts of replay verdicts by status. */
export type VerdictCounts = Record<SegmentVerdict["status"], number>;

/** One round of a distributed job, as the progress view shows it. */
export interface RoundProgress {
  /** Round index. */
  readonly round: number;
  /** Mean inner loss of the round. */
  readonly loss: number;
  /** Bytes the workers sent in the round. */
  readonly bytesSent: number;
  /** Workers whose delta counted. */
  readonly counted: readonly number[];
}

/** The numbers a progress view shows at one moment. */
export interface ProgressSnapshot {
  /** The last round of a distributed job, when there is one. */
  readonly lastRound?: RoundProgress | null;
  /** Label of the run. */
  readonly title: string;
  /** Last step reported (0 before the first). */
  readonly step: number;
  /** Total steps of the run. */
  readonly steps: number;
  /** Loss of the last step, or null before the first. */
  readonly loss: number | null;
  /** Steps per second since the first reported step, or null until two steps were seen. */
  readonly stepsPerSecond: number | null;
  /** Examples per second, or null when the batch size or the rate is unknown. */
  readonly samplesPerSecond: number | null;
  /** Checkpoints committed so far. */
  readonly checkpoints: number;
  /** Checkpoints the run will commit in all, or null when `k` is unknown. */
  readonly expectedCheckpoints: number | null;
  /** The last committed checkpoint, or null. */
  readonly lastCheckpoint: CheckpointRef | null;
  /** Verifier verdicts received, by status. */
  readonly verdicts: VerdictCounts;
  /** Milliseconds since the first reported step (0 before it). */
  readonly elapsedMs: number;
  /** Whether `done()` was called. */
  readonly done: boolean;
  /**
   * A job that is not going well: `stalled` (its provider is unreachable, or released it and the
   * job waits for another) or `failed` (it cannot finish), with the reason. Null while all is well.
   */
  readonly trouble: JobTrouble | null;
}

/** Why a job shown in a progress view is stalled or failed. */
export interface JobTrouble {
  /** `stalled`: it may still finish; `failed`: it cannot. */
  readonly status: "stalled" | "failed";
  /** What the network reported. */
  readonly reason: string;
}

const SPARK = { width: 600, height: 120 } as const;
const SPARK_EVERY_MS = 1500;

/**
 * Live progress of one training run. Pass its callbacks to `trainWithProof` and await
 * {@link TrainingProgress.done} at the end.
 *
 * @example
 * ```ts
 * import { trainingProgress } from "./progress.ts";
 * import { trainWithProof } from "../proof/checkpoint.ts";
 * declare const trainer: import("../exec/trainer.ts").Trainer;
 * const progress = trainingProgress({ steps: 300, k: 50, batchSize: 64 });
 * await trainWithProof({
 *   trainer,
 *   steps: 300,
 *   k: 50,
 *   onStep: progress.onStep,
 *   onCheckpoint: progress.onCheckpoint,
 * });
 * await progress.done();
 * progress.curves(); // the loss curve of the run
 * ```
 */
export class TrainingProgress extends RichView {
  readonly #title: string;
  readonly #steps: number;
  readonly #batchSize: number | null;
  readonly #expected: number | null;
  readonly #output: "jupyter" | "terminal" | "none";
  readonly #intervalMs: number;
  readonly #write: (text: string) => void;
  readonly #tty: boolean;
  readonly #now: () => number;
  readonly #displayId = newDisplayId("gensyn-progress");
  readonly #loss: LossPoint[] = [];
  readonly #evaluations: EvaluationPoint[] = [];
  #trouble: JobTrouble | null = null;
  readonly #verdicts: VerdictCounts = {
    valid: 0,
    mismatch: 0,
    "missing-checkpoint": 0,
    "corrupt-checkpoint": 0,
  };
  #checkpoints = 0;
  #lastRound: RoundProgress | null = null;
  #lastCheckpoint: CheckpointRef | null = null;
  #first: { step: number; at: number } | null = null;
  #lastAt = 0;
  #lastDrawAt = -Infinity;
  #drawn = false;
  #done = false;
  #lineLength = 0;
  #spark: { svg: string; at: number } | null = null;
  #pending: Promise<void> = Promise.resolve();
  #error: unknown = undefined;

  /** Creates the view; nothing is drawn until the first event. */
  constructor(options: TrainingProgressOptions) {
    super();
    const { steps, batchSize, k } = options;
    if (!Number.isInteger(steps) || steps < 0) {
      throw new SpecError("SPEC_INVALID_STEPS", `steps must be an integer >= 0, got ${steps}`, {
        value: steps,
      });
    }
    if (k !== undefined && (!Number.isInteger(k) || k <= 0)) {
      throw new SpecError(
        "SPEC_INVALID_CHECKPOINT_INTERVAL",
        `k must be a positive integer, got ${k}`,
        { value: k },
      );
    }
    this.#title = options.title ?? "training";
    this.#steps = steps;
    this.#batchSize = batchSize ?? null;
    // Checkpoints sit at 0, k, 2k, ... and at the last step (lib/proof/trace.ts).
    this.#expected = k === undefined ? null : Math.ceil(steps / k) + 1;
    const output = options.output ?? "auto";
    this.#output = output === "auto" ? (inJupyter() ? "jupyter" : "terminal") : output;
    this.#tty = options.tty ?? safeIsTerminal();
    this.#intervalMs = options.intervalMs ??
      (this.#output === "jupyter" ? 300 : this.#tty ? 200 : 5000);
    this.#write = options.write ?? writeStdout;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Records one step; fits `onStep` of `trainWithProof` and `Trainer.run`. */
  readonly onStep = (info: StepInfo): void => {
    if (this.#trouble?.status === "stalled") this.#trouble = null; // it moves again
    const at = this.#now();
    if (this.#first === null) this.#first = { step: info.step, at };
    this.#lastAt = at;
    this.#loss.push({ step: info.step, loss: info.loss });
    this.#maybeDraw(info.step >= this.#steps);
  };

  /** Records a committed checkpoint; fits `onCheckpoint` of `trainWithProof`. */
  readonly onCheckpoint = (ref: CheckpointRef): void => {
    this.#checkpoints += 1;
    this.#lastCheckpoint = ref;
    this.#maybeDraw(false);
  };

  /** Shows that the job is stalled or failed, and why; `null` clears a stall. */
  readonly onTrouble = (trouble: JobTrouble | null): void => {
    if (this.#trouble?.status === "failed" && trouble?.status !== "failed") return;
    this.#trouble = trouble;
    this.#maybeDraw(true);
  };

  /** Records a finished round of a distributed job (loss, bytes sent, who counted). */
  readonly onRound = (round: RoundProgress): void => {
    this.#lastRound = round;
    this.#maybeDraw(true);
  };

  /** Records a verifier's verdict on a segment (from `replaySegment`). */
  readonly onVerdict = (verdict: SegmentVerdict): void => {
    this.#verdicts[verdict.status] += 1;
    this.#maybeDraw(true);
  };

  /** Adds an evaluation (e.g. test accuracy at a step) to the run's curves. */
  addEvaluation(point: EvaluationPoint): void {
    this.#evaluations.push(point);
  }

  /**
   * Draws the final state and waits until every display update has been sent; rejects if one
   * failed. Await it before the cell ends, or the last update can be lost.
   */
  async done(): Promise<void> {
    this.#done = true;
    this.#draw();
    await this.#pending;
    if (this.#error !== undefined) throw this.#error;
  }

  /** The numbers shown now. */
  snapshot(): ProgressSnapshot {
    const last = this.#loss[this.#loss.length - 1];
    const step = last?.step ?? 0;
    const first = this.#first;
    const elapsedMs = first === null ? 0 : this.#lastAt - first.at;
    const stepsPerSecond = first === null || elapsedMs <= 0
      ? null
      : (step - first.step) / (elapsedMs / 1000);
    return {
      title: this.#title,
      step,
      steps: this.#steps,
      loss: last?.loss ?? null,
      stepsPerSecond,
      samplesPerSecond: stepsPerSecond === null || this.#batchSize === null
        ? null
        : stepsPerSecond * this.#batchSize,
      checkpoints: this.#checkpoints,
      lastRound: this.#lastRound,
      expectedCheckpoints: this.#expected,
      lastCheckpoint: this.#lastCheckpoint,
      verdicts: { ...this.#verdicts },
      elapsedMs,
      done: this.#done,
      trouble: this.#trouble,
    };
  }

  /** The run's loss curve so far, with the evaluations added. */
  curves(): TrainingCurves {
    return new TrainingCurves({ loss: [...this.#loss], evaluations: [...this.#evaluations] });
  }

  /** The progress panel: a bar, the numbers, and a small loss curve. */
  toBundle(): MimeBundle {
    return { "text/html": this.#html(this.snapshot()) };
  }

  /** The progress line. */
  toString(): string {
    return progressLine(this.snapshot());
  }

  #maybeDraw(force: boolean): void {
    if (this.#output === "none") return;
    const now = this.#now();
    if (!force && now - this.#lastDrawAt < this.#intervalMs) return;
    this.#lastDrawAt = now;
    this.#draw();
  }

  #draw(): void {
    if (this.#output === "none") return;
    if (this.#output === "terminal") return this.#drawTerminal();
    const content = this[JUPYTER_DISPLAY]();
    const update = this.#drawn;
    this.#drawn = true;
    this.#pending = this.#pending.then(() =>
      show(content, { displayId: this.#displayId, update }).catch((e) => {
        this.#error ??= e; // reported by done()
      })
    );
  }

  #drawTerminal(): void {
    const line = progressLine(this.snapshot());
    if (this.#tty) {
      const pad = " ".repeat(Math.max(0, this.#lineLength - line.length));
      this.#lineLength = line.length;
      this.#write(`\r${line}${pad}${this.#done ? "\n" : ""}`);
    } else {
      this.#write(`${line}\n`);
    }
  }

  #sparkline(snapshot: ProgressSnapshot): string {
    const now = this.#now();
    if (this.#spark === null || snapshot.done || now - this.#spark.at >= SPARK_EVERY_MS) {
      this.#spark = { svg: this.curves().lossSvg(SPARK), at: now };
    }
    return this.#spark.svg;
  }

  #html(s: ProgressSnapshot): string {
    const fraction = s.steps === 0 ? 1 : Math.min(1, s.step / s.steps);
    const color = s.verdicts.mismatch + s.verdicts["corrupt-checkpoint"] > 0
      ? "#d62728"
      : s.done
      ? "#2b8a3e"
      : "#1f6fb4";
    const stats = statParts(s).map((p) => `<span>${escapeHtml(p)}</span>`).join("");
    const spark = this.#loss.length > 1 ? this.#sparkline(s) : "";
    return `<div data-gensyn="training-progress" data-done="${s.done}" ` +
      `style="font-family:system-ui,sans-serif;` +
      `font-size:13px;max-width:${SPARK.width}px">` +
      `<div style="display:flex;justify-content:space-between;margin-bottom:3px">` +
      `<b>${escapeHtml(s.title)}</b><span>step ${s.step.toLocaleString("en-US")} / ` +
      `${s.steps.toLocaleString("en-US")} · ${(100 * fraction).toFixed(0)}%` +
      `${s.done ? " · done" : ""}</span></div>` +
      `<div style="background:#e9ecef;border-radius:4px;height:10px;overflow:hidden">` +
      `<div style="width:${(100 * fraction).toFixed(2)}%;height:100%;background:${color}"></div>` +
      `</div><div style="display:flex;flex-wrap:wrap;gap:0 1.4em;margin-top:4px;color:#444">` +
      `${stats}</div>${spark}</div>`;
  }
}

/**
 * Live progress of a training run, drawn in place in a notebook and as a progress line in a
 * terminal.
 *
 * @example
 * ```ts
 * import { trainingProgress } from "./progress.ts";
 * const progress = trainingProgress({ steps: 2, output: "none" });
 * progress.onStep({ step: 1, cursor: 1, loss: 2.3 });
 * progress.onStep({ step: 2, cursor: 2, loss: 2.1 });
 * await progress.done();
 * console.log(progress.snapshot().loss); // 2.1
 * ```
 */
export function trainingProgress(options: TrainingProgressOptions): TrainingProgress {
  return new TrainingProgress(options);
}

/** The parts of a progress line after the step count. */
function statParts(s: ProgressSnapshot): string[] {
  const parts: string[] = [];
  if (s.loss !== null) parts.push(`loss ${formatNumber(s.loss)}`);
  if (s.samplesPerSecond !== null) {
    parts.push(`${Math.round(s.samplesPerSecond).toLocaleString("en-US")} samples/s`);
  } else if (s.stepsPerSecond !== null) {
    parts.push(`${formatNumber(s.stepsPerSecond, 3)} steps/s`);
  }
  // A run with no checkpoint interval and none so far (a distributed job's rounds) shows none.
  if (s.checkpoints > 0 || s.expectedCheckpoints !== null) {
    parts.push(
      `checkpoints ${s.checkpoints}${
        s.expectedCheckpoints === null ? "" : `/${s.expectedCheckpoints}`
      }`,
    );
  }
  if (s.lastRound) {
    const r = s.lastRound;
    parts.push(
      `round ${r.round}: counted [${r.counted.join(",")}], ` +
        `${Math.round(r.bytesSent / 1024).toLocaleString("en-US")} KiB sent`,
    );
  }
  const v = s.verdicts;
  const audited = v.valid + v.mismatch + v["missing-checkpoint"] + v["corrupt-checkpoint"];
  if (audited > 0) {
    const bad = audited - v.valid;
    parts.push(`verdicts ${v.valid} valid${bad > 0 ? `, ${bad} failed` : ""}`);
  }
  parts.push(`${(s.elapsedMs / 1000).toFixed(1)} s`);
  if (s.trouble) parts.push(`${s.trouble.status.toUpperCase()}: ${s.trouble.reason}`);
  return parts;
}

/**
 * The one-line text form of a progress snapshot.
 *
 * @example
 * ```ts
 * import { progressLine, trainingProgress } from "./progress.ts";
 * const p = trainingProgress({ steps: 10, output: "none" });
 * console.log(progressLine(p.snapshot())); // training step 0/10  checkpoints 0  0.0 s
 * ```
 */
export function progressLine(s: ProgressSnapshot): string {
  const width = String(s.steps).length;
  return [
    `${s.title} step ${String(s.step).padStart(width)}/${s.steps}${s.done ? " done" : ""}`,
    ...statParts(s),
  ].join("  ");
}

const encoder = new TextEncoder();

function writeStdout(text: string): void {
  Deno.stdout.writeSync(encoder.encode(text));
}

function safeIsTerminal(): boolean {
  try {
    return Deno.stdout.isTerminal();
  } catch {
    // A sandbox without stdout access: treat it as a log.
    return false;
  }
}
