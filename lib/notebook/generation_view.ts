/**
 * Text samples side by side: what two or more language models (say, untrained and trained) write
 * after the same prompt with the same seed.
 *
 * @module
 */

import { escapeHtml, type MimeBundle, RichView } from "./display.ts";

/** One model's continuation. */
export interface GenerationSample {
  /** Which model wrote it. */
  readonly label: string;
  /** A line under the label (loss, steps, ...). */
  readonly detail?: string;
  /** The continuation of the prompt. */
  readonly text: string;
}

/** Continuations of one prompt, one column each. */
export class GenerationView extends RichView {
  /** The prompt every sample continues. */
  readonly prompt: string;
  /** The samples, in display order. */
  readonly samples: readonly GenerationSample[];
  /** Title above the columns. */
  readonly title: string;

  /** A view of `samples` continuing `prompt`. */
  constructor(prompt: string, samples: readonly GenerationSample[], title = "Generated text") {
    super();
    this.prompt = prompt;
    this.samples = samples;
    this.title = title;
  }

  /** Columns in HTML, the prompt in bold at the start of each. */
  toBundle(): MimeBundle {
    const columns = this.samples.map((s) =>
      `<td style="vertical-align:top;text-align:left;padding:6px 10px;width:${
        Math.floor(100 / this.samples.length)
      }%"><div style="font-weight:600">${escapeHtml(s.label)}</div>` +
      (s.detail ? `<div style="color:#666;font-size:90%">${escapeHtml(s.detail)}</div>` : "") +
      `<pre style="white-space:pre-wrap;text-align:left;font-size:90%"><b>${
        escapeHtml(this.prompt)
      }</b>${escapeHtml(s.text)}</pre></td>`
    ).join("");
    return {
      "text/html": `<div data-gensyn="generation"><div style="font-weight:600">${
        escapeHtml(this.title)
      }</div><table style="width:100%;table-layout:fixed"><tr>${columns}</tr></table></div>`,
    };
  }

  /** One block per sample. */
  override toString(): string {
    return [
      this.title,
      ...this.samples.map((s) =>
        `--- ${s.label}${s.detail ? ` (${s.detail})` : ""}\n${this.prompt}${s.text}`
      ),
    ].join("\n");
  }
}

/**
 * Continuations of one prompt side by side.
 *
 * @example
 * ```ts
 * import { generationView } from "./generation_view.ts";
 * const view = generationView("And God said", [
 *   { label: "untrained", text: "xq;Kz..." },
 *   { label: "trained", detail: "300 steps", text: ", Let there be light" },
 * ]);
 * ```
 */
export function generationView(
  prompt: string,
  samples: readonly GenerationSample[],
  title?: string,
): GenerationView {
  return new GenerationView(prompt, samples, title);
}
