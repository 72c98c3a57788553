/**
 * Helpers of the `06-token-economics` notebook: the protocol fee now, burned supply over chain
 * time (every burn of AIGENSYN, with its block's timestamp), and a chart of it.
 *
 * @module
 */

import { jobMarketAbi } from "@gensyn-deno/toolkit/chain";
import type { ProtocolClient } from "@gensyn-deno/toolkit/chain";
import { escapeHtml, type MimeBundle, RichView } from "@gensyn-deno/toolkit/notebook";
import { formatAmount, TOKEN_UNIT } from "@gensyn-deno/toolkit/notebook";
import * as Plot from "npm:@observablehq/plot@0.6.17";
import { renderPlot } from "@gensyn-deno/toolkit/notebook";

/** The job market's protocol fee in basis points (a governed parameter). */
export async function feeBps(chain: ProtocolClient): Promise<number> {
  return await chain.public.readContract({
    address: chain.addresses.jobMarket,
    abi: jobMarketAbi,
    functionName: "feeBps",
  });
}

/** One burn of AIGENSYN. */
export interface BurnPoint {
  /** Block of the burn. */
  readonly block: bigint;
  /** Chain time of that block. */
  readonly time: Date;
  /** Burned in this burn, wei. */
  readonly burnedWei: bigint;
  /** Burned so far, this one included, wei. */
  readonly totalWei: bigint;
  /** What burned it, when the caller named its block. */
  readonly label?: string;
}

/**
 * Every burn so far (`chain.metrics.burnedSupply()`), with chain times, labelled by the blocks
 * the caller names (e.g. a distribution's `receipt.blockNumber`).
 */
export async function loadBurns(
  chain: ProtocolClient,
  labels: ReadonlyMap<bigint, string> = new Map(),
): Promise<BurnPoint[]> {
  const { series } = await chain.metrics.burnedSupply();
  let total = 0n;
  const points: BurnPoint[] = [];
  for (const [block, burnedWei] of series) {
    const { timestamp } = await chain.public.getBlock({ blockNumber: block });
    total += burnedWei;
    points.push({
      block,
      time: new Date(Number(timestamp) * 1000),
      burnedWei,
      totalWei: total,
      label: labels.get(block),
    });
  }
  return points;
}

/** Options of {@link BurnChart}. */
export interface BurnChartOptions {
  /** Where the time axis starts, with nothing burned yet. Default the first burn. */
  from?: Date;
  /** Where it ends, the total held since the last burn. Default the last burn. */
  to?: Date;
}

/** Burned supply over chain time: a step line of the running total, each burn a labelled dot. */
export class BurnChart extends RichView {
  /** The burns, oldest first. */
  readonly burns: readonly BurnPoint[];
  readonly #from: Date | undefined;
  readonly #to: Date | undefined;

  /** Wraps the burns. */
  constructor(burns: readonly BurnPoint[], options: BurnChartOptions = {}) {
    super();
    this.burns = burns;
    this.#from = options.from;
    this.#to = options.to;
  }

  /** The chart as an SVG string. */
  toSvg(): string {
    const points = this.burns.map((b) => ({ ...b, total: Number(b.totalWei) / 1e18 }));
    const line = [
      ...(this.#from ? [{ time: this.#from, total: 0 }] : []),
      ...points,
      ...(this.#to && points.length > 0 ? [{ time: this.#to, total: points.at(-1)!.total }] : []),
    ];
    const times = line.map((p) => p.time.getTime());
    const middle = (Math.min(...times) + Math.max(...times)) / 2;
    const label = (p: BurnPoint) =>
      `${p.label ? `${p.label} ` : ""}+${formatAmount(p.burnedWei, 18, 4)}`;
    // Names sit right of their dot in the left half of the axis and left of it in the right half,
    // so none runs off the chart.
    const left = points.filter((p) => p.time.getTime() <= middle);
    const right = points.filter((p) => p.time.getTime() > middle);
    return renderPlot({
      width: 640,
      height: 260,
      marginLeft: 56,
      marginRight: 30,
      x: { label: "chain time", type: "utc" },
      y: { label: "burned AIGENSYN (cumulative)", grid: true, zero: true },
      marks: [
        Plot.line(line, {
          x: "time",
          y: "total",
          curve: "step-after",
          stroke: "#c92a2a",
          strokeWidth: 2,
        }),
        Plot.dot(points, { x: "time", y: "total", fill: "#c92a2a", r: 4 }),
        Plot.text(left, { x: "time", y: "total", text: label, dx: 8, textAnchor: "start" }),
        Plot.text(right, {
          x: "time",
          y: "total",
          text: label,
          dx: -8,
          dy: -10,
          textAnchor: "end",
        }),
      ],
    });
  }

  /** The chart with a heading, as `text/html`. */
  toBundle(): MimeBundle {
    const total = this.burns.at(-1)?.totalWei ?? 0n;
    return {
      "text/html": `<div data-gensyn="burn-chart" style="font-family:system-ui,sans-serif;` +
        `font-size:13px"><b>Burned supply over time</b> · ${
          escapeHtml(formatAmount(total, TOKEN_UNIT.decimals, 4))
        } AIGENSYN in ${this.burns.length} burns${this.toSvg()}</div>`,
    };
  }

  /** One line per burn. */
  toString(): string {
    return this.burns.map((b) =>
      `${b.time.toISOString().slice(0, 16)} block ${b.block} +${
        formatAmount(b.burnedWei, 18, 4)
      } (total ${formatAmount(b.totalWei, 18, 4)})${b.label ? ` ${b.label}` : ""}`
    ).join("\n");
  }
}
