/**
 * The display protocol every notebook view follows: an object renders itself in Jupyter through
 * `[Symbol.for("Jupyter.display")]()` (a MIME bundle) and prints a compact text form under
 * `deno run` through `toString()` and `[Symbol.for("Deno.customInspect")]`.
 *
 * Views hold plain data and render on demand, so holding one costs nothing outside a notebook.
 * {@link show} puts a view (or a bundle) on screen wherever the code runs: a Jupyter display,
 * optionally updated in place by `displayId`, or a line on stdout.
 *
 * @module
 */

/** A Jupyter MIME bundle: media type to content (`text/plain`, `text/html`, `image/svg+xml`, ...). */
export type MimeBundle = Record<string, string | object>;

/** The symbol Deno's Jupyter kernel calls to render an object: it returns a {@link MimeBundle}. */
export const JUPYTER_DISPLAY: unique symbol = Symbol.for("Jupyter.display") as never;

/** The symbol `console.log` and `Deno.inspect` call for an object's text form. */
export const DENO_INSPECT: unique symbol = Symbol.for("Deno.customInspect") as never;

/**
 * Base class of the toolkit's rich views: subclasses supply {@link RichView.toBundle} (the rich
 * form) and `toString()` (the terminal form); the two display symbols are wired here.
 *
 * @example
 * ```ts
 * import { RichView } from "./display.ts";
 * class Answer extends RichView {
 *   toBundle() {
 *     return { "text/html": "<b>42</b>" };
 *   }
 *   override toString() {
 *     return "42";
 *   }
 * }
 * console.log(new Answer()); // 42; in a notebook, a bold 42
 * ```
 */
export abstract class RichView {
  /** The rich forms of this view (the `text/plain` form is added from `toString()`). */
  abstract toBundle(): MimeBundle;

  /** The compact text form, printed by `console.log` under `deno run`. */
  abstract toString(): string;

  /** Called by the Deno kernel to render this view. */
  [JUPYTER_DISPLAY](): MimeBundle {
    return { "text/plain": this.toString(), ...this.toBundle() };
  }

  /** Called by `console.log` and `Deno.inspect`. */
  [DENO_INSPECT](): string {
    return this.toString();
  }
}

let jupyter: boolean | undefined;

/** Whether this code runs inside Deno's Jupyter kernel (where `Deno.jupyter` is usable). */
export function inJupyter(): boolean {
  if (jupyter === undefined) {
    try {
      // Outside `deno jupyter`, reading Deno.jupyter throws; that is the whole test.
      jupyter = typeof Deno.jupyter?.display === "function";
    } catch {
      jupyter = false;
    }
  }
  return jupyter;
}

/** Options of {@link show}. */
export interface ShowOptions {
  /** Names the display so later calls with `update: true` replace it in place. */
  displayId?: string;
  /** Replace the display named `displayId` instead of adding a new one. Default false. */
  update?: boolean;
}

/** Anything that renders itself in Jupyter: a {@link RichView}, or `Deno.jupyter.md`/`html` output. */
export interface Displayable {
  /** Returns the object's MIME bundle. */
  [JUPYTER_DISPLAY](): MimeBundle | Promise<MimeBundle>;
}

function isDisplayable(value: unknown): value is Displayable {
  return typeof value === "object" && value !== null &&
    typeof (value as Partial<Displayable>)[JUPYTER_DISPLAY] === "function";
}

/**
 * Shows a view or a MIME bundle: in Jupyter as a rich display (in place when `update` is set),
 * elsewhere as its text form on stdout (updates are not printed again, so a terminal is not
 * flooded).
 *
 * In a notebook, end a cell with `await show(view)` rather than a bare `view` expression or a
 * `console.log`: Deno's kernel can publish a cell's result and its last stdout after it reports
 * the cell idle, and a headless runner (nbconvert, nbclient) then drops them; an awaited display
 * is sent while the cell still runs.
 *
 * @example
 * ```ts
 * import { show } from "./display.ts";
 * await show({ "text/html": "<b>working</b>", "text/plain": "working" }, { displayId: "status" });
 * await show({ "text/html": "<b>done</b>", "text/plain": "done" }, { displayId: "status", update: true });
 * ```
 */
export async function show(
  view: Displayable | MimeBundle,
  options: ShowOptions = {},
): Promise<void> {
  if (inJupyter()) {
    const bundle = isDisplayable(view) ? await view[JUPYTER_DISPLAY]() : view;
    await Deno.jupyter.display(bundle, {
      raw: true,
      ...(options.displayId === undefined ? {} : { display_id: options.displayId }),
      ...(options.update ? { update: true } : {}),
    });
    // The kernel can still drop a display sent just before its cell ends (Deno 2.9, under load):
    // a moment for the message to leave before the cell's code goes on.
    await new Promise((resolve) => setTimeout(resolve, DISPLAY_SETTLE_MS));
    return;
  }
  if (options.update) return;
  if (view instanceof RichView) console.log(view.toString());
  else if (!isDisplayable(view) && typeof view["text/plain"] === "string") {
    console.log(view["text/plain"]);
  } else console.log(view);
}

/** Pause after each display in Jupyter, ms (see {@link show}). */
const DISPLAY_SETTLE_MS = 25;

let displays = 0;

/** A display id unique within this process, for views that update in place. */
export function newDisplayId(prefix: string): string {
  displays += 1;
  return `${prefix}-${Date.now().toString(36)}-${displays}`;
}

const HTML_ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Escapes text for HTML content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);
}

/** A hash shortened for display: its first `n` hex digits and an ellipsis. */
export function shortHash(hash: string, n = 12): string {
  return hash.length > n ? `${hash.slice(0, n)}…` : hash;
}

/** A number with a fixed count of significant digits, without exponent notation for usual sizes. */
export function formatNumber(value: number, digits = 4): string {
  if (!Number.isFinite(value)) return String(value);
  if (value !== 0 && Math.abs(value) < 1e-3) return value.toExponential(digits - 1);
  return Number(value.toPrecision(digits)).toLocaleString("en-US", { maximumFractionDigits: 6 });
}
