/**
 * What a notebook declares it must produce, and the checks of an executed notebook against it.
 *
 * A code cell declares its outputs in `metadata.gensyn.expect`:
 *
 * ```json
 * { "gensyn": { "expect": [
 *   { "mime": "text/html", "contains": ["data-verdict=\"mismatch\""], "notContains": ["..."] },
 *   { "output": "stream", "contains": ["honest: 8/8 segments valid"] }
 * ] } }
 * ```
 *
 * and the notebook declares, in `metadata.gensyn`, its time budget and what its rendered HTML
 * must show: `{ "timeoutSeconds": 120, "render": ["<css selector>", ...], "minPlots": 6 }`.
 *
 * @module
 */

/** One output a cell must produce. */
export type OutputExpectation =
  /** Some output of the cell has this MIME type, containing every `contains` and no `notContains`. */
  | { readonly mime: string; readonly contains?: string[]; readonly notContains?: string[] }
  /** The cell's stdout, all streams joined, contains every `contains` and no `notContains`. */
  | { readonly output: "stream"; readonly contains?: string[]; readonly notContains?: string[] };

/** What a whole notebook declares. */
export interface NotebookContract {
  /** Per-cell time limit of the headless run, in seconds. */
  readonly timeoutSeconds: number;
  /** CSS selectors each of which must match in the rendered HTML. */
  readonly render: readonly string[];
  /** Observable Plot SVGs the rendered page must hold at least. */
  readonly minPlots: number;
}

/** The parts of an `.ipynb` file these checks read. */
export interface Notebook {
  /** Notebook metadata. */
  readonly metadata: {
    readonly kernelspec?: { readonly name?: string };
    readonly gensyn?: Partial<NotebookContract>;
  };
  /** Cells. */
  readonly cells: readonly Cell[];
}

/** A notebook cell. */
export interface Cell {
  /** `code`, `markdown` or `raw`. */
  readonly cell_type: string;
  /** Cell id. */
  readonly id?: string;
  /** Cell metadata. */
  readonly metadata: { readonly gensyn?: { readonly expect?: readonly OutputExpectation[] } };
  /** Execution counter, null when the cell did not run. */
  readonly execution_count?: number | null;
  /** Outputs of a code cell. */
  readonly outputs?: readonly Output[];
}

/** A cell output (nbformat 4). */
export interface Output {
  /** `stream`, `display_data`, `execute_result` or `error`. */
  readonly output_type: string;
  /** Stream name (`stdout`, `stderr`). */
  readonly name?: string;
  /** Stream text. */
  readonly text?: string | string[];
  /** MIME bundle. */
  readonly data?: Record<string, unknown>;
  /** Error name and value. */
  readonly ename?: string;
  /** Error message. */
  readonly evalue?: string;
}

/** Reads the notebook's contract, with defaults for what it leaves out. */
export function contractOf(nb: Notebook): NotebookContract {
  const g = nb.metadata.gensyn ?? {};
  return {
    timeoutSeconds: g.timeoutSeconds ?? 120,
    render: g.render ?? [],
    minPlots: g.minPlots ?? 0,
  };
}

function joined(text: unknown): string {
  if (Array.isArray(text)) return text.join("");
  if (typeof text === "string") return text;
  return JSON.stringify(text);
}

function label(cell: Cell, index: number): string {
  return `cell ${index}${cell.id ? ` (${cell.id})` : ""}`;
}

/** Problems with one expectation against one cell's outputs; empty when it is met. */
export function checkExpectation(outputs: readonly Output[], e: OutputExpectation): string[] {
  const candidates = "mime" in e
    ? outputs.filter((o) => o.data?.[e.mime] !== undefined).map((o) => joined(o.data![e.mime]))
    : [
      outputs.filter((o) => o.output_type === "stream" && o.name !== "stderr")
        .map((o) => joined(o.text)).join(""),
    ];
  const what = "mime" in e ? `a ${e.mime} output` : "stdout";
  if (candidates.length === 0) return [`no ${what}`];
  const problems = candidates.map((text) => [
    ...(e.contains ?? []).filter((s) => !text.includes(s)).map((s) => `lacks ${JSON.stringify(s)}`),
    ...(e.notContains ?? []).filter((s) => text.includes(s)).map((s) =>
      `contains ${JSON.stringify(s)}`
    ),
  ]);
  if (problems.some((p) => p.length === 0)) return [];
  return [`no ${what} meets the expectation: ${problems[0].join(", ")}`];
}

/** One thing wrong with an executed notebook. */
export interface Problem {
  /**
   * `missing-output`: a declared output is absent or differs; `error`: a cell raised; `stderr`:
   * a cell wrote to stderr; `not-run`: a cell did not run; `undeclared`: nothing is declared.
   */
  readonly kind: "missing-output" | "error" | "stderr" | "not-run" | "undeclared";
  /** What is wrong, naming the cell. */
  readonly message: string;
}

/**
 * Everything wrong with an executed notebook: cells that did not run or raised, output on
 * stderr, and declared outputs that are missing. Empty when it is all fine.
 */
export function checkExecuted(nb: Notebook): Problem[] {
  const problems: Problem[] = [];
  let declared = 0;
  nb.cells.forEach((cell, i) => {
    if (cell.cell_type !== "code") return;
    const outputs = cell.outputs ?? [];
    if (cell.execution_count === null || cell.execution_count === undefined) {
      problems.push({ kind: "not-run", message: `${label(cell, i)} did not run` });
    }
    for (const o of outputs) {
      if (o.output_type === "error") {
        problems.push({
          kind: "error",
          message: `${label(cell, i)} raised ${o.ename}: ${o.evalue}`,
        });
      } else if (o.output_type === "stream" && o.name === "stderr") {
        problems.push({
          kind: "stderr",
          message: `${label(cell, i)} wrote to stderr: ${joined(o.text).slice(0, 500)}`,
        });
      }
    }
    for (const e of cell.metadata.gensyn?.expect ?? []) {
      declared += 1;
      for (const p of checkExpectation(outputs, e)) {
        problems.push({ kind: "missing-output", message: `${label(cell, i)}: ${p}` });
      }
    }
  });
  if (declared === 0) {
    problems.push({
      kind: "undeclared",
      message: "the notebook declares no expected output (metadata.gensyn.expect on its cells)",
    });
  }
  return problems;
}

/**
 * Whether every problem is a cell whose output never arrived: the cell shows no error and no
 * stderr, and fewer outputs than it declares (none at all, or a last display dropped after an
 * earlier one arrived), or a live progress panel whose final update never came. Deno's kernel (2.9) now and then loses an iopub message under load, so
 * such a run is worth repeating, while wrong output, errors and stderr are not.
 */
export function onlyLostOutputs(nb: Notebook, problems: readonly Problem[]): boolean {
  if (problems.length === 0) return false;
  return problems.every((p) => {
    if (p.kind !== "missing-output") return false;
    const cell = nb.cells[Number(p.message.match(/^cell (\d+)/)?.[1])];
    const outputs = cell?.outputs ?? [];
    const failed = outputs.some((o) =>
      o.output_type === "error" || (o.output_type === "stream" && o.name === "stderr")
    );
    // A live display whose final update was lost: `done()` always draws the finished state
    // (`data-done="true"`), so a panel still marked unfinished never got its last message.
    const stale = outputs.some((o) => htmlOf(o).includes('data-done="false"'));
    return !failed && (stale || outputs.length < (cell?.metadata.gensyn?.expect?.length ?? 1));
  });
}

function htmlOf(output: Output): string {
  const html = output.data?.["text/html"];
  return Array.isArray(html) ? html.join("") : typeof html === "string" ? html : "";
}
