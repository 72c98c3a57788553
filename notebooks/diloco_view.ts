/**
 * A DiLoCo run for the notebooks: per-round loss, who counted, bytes each worker sent next to what
 * a per-step ring all-reduce would send, and the outer-state hash every worker holds.
 *
 * Kept in a module (not a notebook cell) so it is type-checked; notebooks import it.
 *
 * @module
 */

import { escapeHtml, type MimeBundle, RichView, shortHash } from "@gensyn-deno/toolkit/notebook";
import * as Plot from "npm:@observablehq/plot@0.6.17";
import { renderPlot } from "@gensyn-deno/toolkit/notebook";
import type { RoundReport } from "@gensyn-deno/toolkit/diloco";

/**
 * Bytes a ring all-reduce of the full float32 gradient every step sends per worker over `steps`
 * inner steps: `2·(W−1)/W · params · 4` per step.
 */
export function allReduceBytes(params: number, workers: number, steps: number): number {
  return steps * params * 4 * 2 * (workers - 1) / workers;
}

/** Options of {@link DiLoCoView}. */
export interface DiLoCoViewOptions {
  /** Trainable parameters of the model. */
  params: number;
  /** Inner steps per round (H). */
  innerSteps: number;
  /** A single-node loss per round to draw beside the DiLoCo loss (same samples so far). */
  singleLoss?: readonly number[];
}

/** The rounds of a DiLoCo run: a loss chart and a per-round table. */
export class DiLoCoView extends RichView {
  /** The reports, one per round. */
  readonly rounds: readonly RoundReport[];
  readonly #options: DiLoCoViewOptions;

  /** Wraps the reports. */
  constructor(rounds: readonly RoundReport[], options: DiLoCoViewOptions) {
    super();
    this.rounds = rounds;
    this.#options = options;
  }

  /** Mean bytes each member sent in a round. */
  bytesPerWorker(r: RoundReport): number {
    const sent = [...r.bytesSent.values()];
    return sent.reduce((a, b) => a + b, 0) / Math.max(1, sent.length);
  }

  /** Per-step all-reduce bytes per worker over the run / DiLoCo bytes per worker. */
  reduction(): number {
    const { params, innerSteps } = this.#options;
    let dense = 0;
    let sent = 0;
    for (const r of this.rounds) {
      dense += allReduceBytes(params, r.members.length, innerSteps);
      sent += this.bytesPerWorker(r);
    }
    return dense / Math.max(1, sent);
  }

  /** Whether every live worker held the same outer-state hash after every round. */
  identicalHashes(): boolean {
    return this.rounds.every((r) => new Set(r.hashes.values()).size === 1);
  }

  /** The loss chart as SVG. */
  toSvg(): string {
    const points = this.rounds.map((r) => ({ round: r.round + 1, loss: r.loss, run: "DiLoCo" }));
    const single = (this.#options.singleLoss ?? []).map((loss, i) => ({
      round: i + 1,
      loss,
      run: "single node",
    }));
    const all = [...points, ...single];
    return renderPlot({
      width: 560,
      height: 220,
      marginLeft: 50,
      x: { label: "outer round", ticks: this.rounds.length, tickFormat: "d" },
      y: { label: "training loss", grid: true },
      color: { domain: ["DiLoCo", "single node"], range: ["#1c7ed6", "#868e96"], legend: true },
      marks: [
        Plot.line(all, { x: "round", y: "loss", stroke: "run", strokeWidth: 2 }),
        Plot.dot(all, { x: "round", y: "loss", fill: "run", r: 3 }),
      ],
    });
  }

  /** Chart and table as `text/html`. */
  toBundle(): MimeBundle {
    const { params, innerSteps } = this.#options;
    const rows = this.rounds.map((r) => {
      const dense = allReduceBytes(params, r.members.length, innerSteps);
      const sent = this.bytesPerWorker(r);
      const same = new Set(r.hashes.values()).size === 1;
      return `<tr>${
        [
          String(r.round),
          r.loss.toFixed(4),
          r.counted.join(", ") + (r.absent.length ? ` (absent ${r.absent.join(", ")})` : ""),
          fmtBytes(sent),
          fmtBytes(dense),
          `${(dense / sent).toFixed(0)}×`,
          `${shortHash(r.outerHash, 12)} ${same ? `on all ${r.hashes.size}` : "DIVERGED"}`,
        ].map((c) => `<td style="padding:2px 12px 2px 0">${escapeHtml(c)}</td>`).join("")
      }</tr>`;
    }).join("");
    const head = [
      "round",
      "loss",
      "counted",
      "sent / worker",
      "all-reduce / worker",
      "reduction",
      "outer hash",
    ].map((h) => `<th style="text-align:left;padding-right:12px">${h}</th>`).join("");
    return {
      "text/html": `<div data-gensyn="diloco-rounds" style="font-family:system-ui,sans-serif;` +
        `font-size:13px"><b>DiLoCo: ${this.rounds.length} rounds of H = ${innerSteps}</b> · ` +
        `${this.reduction().toFixed(0)}× fewer bytes than per-step all-reduce · ` +
        `${this.identicalHashes() ? "identical outer hash on every worker" : "DIVERGED"}` +
        this.toSvg() + `<table style="border-collapse:collapse;font-size:12px">` +
        `<tr>${head}</tr>${rows}</table></div>`,
    };
  }

  /** One line per round. */
  toString(): string {
    return this.rounds.map((r) =>
      `round ${r.round} loss ${r.loss.toFixed(4)} counted [${r.counted.join(",")}] sent ${
        fmtBytes(this.bytesPerWorker(r))
      }/worker hash ${shortHash(r.outerHash, 12)}`
    ).join("\n");
  }
}

function fmtBytes(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)} MB` : `${(n / 1e3).toFixed(1)} kB`;
}
