/**
 * The one plotting path of the notebook views: Observable Plot rendered to an SVG string on a
 * server-side DOM (linkedom), so plots work in the kernel, under `deno run`, and in tests alike,
 * with no browser.
 *
 * @module
 */

import * as Plot from "npm:@observablehq/plot@0.6.17";
import { parseHTML } from "npm:linkedom@0.18.15";

export { Plot };

/** What {@link renderPlot} draws: the options of Observable Plot's `Plot.plot`. */
export type PlotOptions = Plot.PlotOptions;

const SVG_NS = "http://www.w3.org/2000/svg";

/** The part of a DOM element a render reads (the type-checked libs here have no DOM types). */
interface RenderedNode {
  readonly tagName: string;
  readonly outerHTML: string;
  getAttribute(name: string): string | null;
  setAttribute(name: string, value: string): void;
}

/** A fresh server-side document for one render (Plot mutates the document it draws into). */
function newDocument(): never {
  const window = parseHTML("<!doctype html><html><head></head><body></body></html>");
  return (window as unknown as { document: unknown }).document as never;
}

/**
 * Renders an Observable Plot specification to markup: an `<svg>` string for a plain plot, or an
 * HTML `<figure>` string when the options ask for a title, caption or legend.
 *
 * @example
 * ```ts
 * import { Plot, renderPlot } from "./plot.ts";
 * const svg = renderPlot({ marks: [Plot.lineY([3, 1, 2])] });
 * console.log(svg.startsWith("<svg")); // true
 * ```
 */
export function renderPlot(options: PlotOptions): string {
  const node = Plot.plot({ ...options, document: newDocument() }) as unknown as RenderedNode;
  if (node.tagName.toLowerCase() === "svg" && !node.getAttribute("xmlns")) {
    // A standalone SVG (image/svg+xml output, a saved file) needs its namespace declared.
    node.setAttribute("xmlns", SVG_NS);
  }
  return node.outerHTML;
}

/** Renders a Plot legend (e.g. `{ color: { domain, range } }`) to an HTML string. */
export function renderLegend(options: Plot.LegendOptions): string {
  // Plot.legend takes `document` like Plot.plot does, though its typings omit it.
  const withDocument = { ...options, document: newDocument() } as Plot.LegendOptions;
  const node = Plot.legend(withDocument) as unknown as RenderedNode;
  return node.outerHTML;
}
