/**
 * Helpers of the `06-token-economics` notebook: the protocol fee now, burned supply over chain
 * time (every burn of AIGENSYN, with its block's timestamp), and a chart of it.
 *
 * @module
 */

import { jobMarketAbi } from "../lib/chain/artifacts/JobMarket.ts";
import type { ProtocolClient } from "../lib/chain/mod.ts";
import { escapeHtml, type MimeBundle, RichView } from "../lib/notebook/display.ts";
import { formatAmount, TOKEN_UNIT } from "../lib/notebook/mod.ts";
import { Plot, renderPlot } from "../lib/notebook/plot.ts";

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

/** Burned supply over chain time: a step line of the running total, each burn a labelled dot. */
export class BurnChart extends RichView {
  /** The burns, oldest first. */
  readonly burns: readonly BurnPoint[];

  /** Wraps the burns. */
  constructor(burns: readonly BurnPoint[]) {
    super();
    this.burns = burns;
  }

  /** The chart as an SVG string. */
  toSvg(): string {
    const tokens = (wei: bigint) => Number(wei) / 1e18;
    const points = this.burns.map((b) => ({ ...b, total: tokens(b.totalWei) }));
    const start = points.length === 0 ? [] : [{ ...points[0], total: 0 }];
    return renderPlot({
      width: 640,
      height: 260,
      marginLeft: 56,
      marginRight: 30,
      x: { label: "chain time", type: "utc" },
      y: { label: "burned AIGENSYN (cumulative)", grid: true, zero: true },
      marks: [
        Plot.line([...start, ...points], {
          x: "time",
          y: "total",
          curve: "step-before",
          stroke: "#c92a2a",
          strokeWidth: 2,
        }),
        Plot.dot(points, { x: "time", y: "total", fill: "#c92a2a", r: 4 }),
        Plot.text(points, {
          x: "time",
          y: "total",
          text: (p: BurnPoint & { total: number }) =>
            `${p.label ? `${p.label}: ` : ""}+${formatAmount(p.burnedWei, 18, 4)}`,
          dy: -10,
          textAnchor: "end",
          fill: "#333",
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
