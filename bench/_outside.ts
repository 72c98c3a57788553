/**
 * Part of `deno task bench notebook`: the quickstart's first result from a researcher's own folder.
 * The quickstart notebook is copied into a fresh temporary folder outside the repository (no
 * `deno.json`, no import map, no `node_modules`: npm packages come from Deno's global cache), its
 * relative imports of the toolkit turned into absolute ones (the one step a researcher takes),
 * and its cells cut after the one that returns the first verified result. Measured like
 * `notebook.first_result_s`: from the moment Jupyter is launched (kernel start included) to the
 * end of that cell, so the two figures compare side by side.
 *
 * @module
 */

import { installKernelSpec } from "../lib/notebook/kernelspec.ts";
import { figure } from "./figure.ts";

const NOTEBOOKS_DIR = new URL("../notebooks/", import.meta.url);
const QUICKSTART = new URL("01-quickstart.ipynb", NOTEBOOKS_DIR);
const REPO_ROOT = new URL("../", import.meta.url);
/** The cell whose completion is the first trained result (it calls `job.result()`). */
const RESULT_MARKER = "await job.result()";
/** Appended after the result cell so the kernel leaves no network behind. */
const CLOSE_CELL = "result.model.dispose();\nawait network.close();";

interface Cell {
  cell_type: string;
  source: string[] | string;
  metadata?: { execution?: Record<string, string> };
  outputs?: unknown[];
  execution_count?: number | null;
  id?: string;
}

interface Notebook {
  cells: Cell[];
  [key: string]: unknown;
}

function sourceOf(cell: Cell): string {
  return [cell.source].flat().join("");
}

/**
 * The quickstart as a researcher's own notebook would hold it: relative imports resolved against
 * the notebooks folder into absolute `file:` URLs, cells up to the first verified result, then a
 * cell that closes the network. Pure: the notebook in, the notebook out.
 */
export function outsideNotebook(quickstart: Notebook, notebooksDir: URL): Notebook {
  const at = quickstart.cells.findIndex((c) =>
    c.cell_type === "code" && sourceOf(c).includes(RESULT_MARKER)
  );
  if (at < 0) throw new Error(`the quickstart has no cell with ${RESULT_MARKER}`);
  const cells = quickstart.cells.slice(0, at + 1).map((cell) =>
    cell.cell_type !== "code" ? cell : {
      ...cell,
      source: sourceOf(cell).replace(
        /(from\s+")(\.{1,2}\/[^"]+)(")/g,
        (_, open: string, path: string, close: string) =>
          `${open}${new URL(path, notebooksDir).href}${close}`,
      ),
    }
  );
  cells.push({
    cell_type: "code",
    source: CLOSE_CELL,
    metadata: {},
    outputs: [],
    execution_count: null,
  });
  return { ...quickstart, cells };
}

/** Prints `notebook.outside_repo_first_result_s`. */
export async function benchOutsideRepo(): Promise<void> {
  const tmp = await Deno.makeTempDir({ prefix: "bench-outside-" });
  try {
    if (tmp.startsWith(REPO_ROOT.pathname)) {
      throw new Error(`${tmp} is inside the repository; set TMPDIR to a folder outside it`);
    }
    const quickstart = JSON.parse(await Deno.readTextFile(QUICKSTART)) as Notebook;
    const notebook = `${tmp}/quickstart.ipynb`;
    await Deno.writeTextFile(notebook, JSON.stringify(outsideNotebook(quickstart, NOTEBOOKS_DIR)));
    const env = { JUPYTER_DATA_DIR: `${tmp}/.jupyter`, NO_COLOR: "1" };
    await installKernelSpec({ env: (name) => (env as Record<string, string>)[name] });
    const started = Date.now();
    const out = await new Deno.Command("jupyter", {
      args: [
        "nbconvert",
        "--to",
        "notebook",
        "--execute",
        "--ExecutePreprocessor.timeout=300",
        "--output-dir",
        `${tmp}/executed`,
        notebook,
      ],
      env,
      stdout: "piped",
      stderr: "piped",
      cwd: tmp,
    }).output();
    if (!out.success) {
      console.error(new TextDecoder().decode(out.stderr));
      throw new Error(
        "the quickstart failed outside the repository; run " +
          "`deno test -A tests/notebooks/outside_repo_test.ts` for details",
      );
    }
    const executed = JSON.parse(
      await Deno.readTextFile(`${tmp}/executed/quickstart.ipynb`),
    ) as Notebook;
    const cell = executed.cells.find((c) =>
      c.cell_type === "code" && sourceOf(c).includes(RESULT_MARKER)
    );
    const reply = cell?.metadata?.execution?.["shell.execute_reply"];
    if (!reply) throw new Error("no timing recorded for the result cell");
    figure("notebook.outside_repo_first_result_s", (Date.parse(reply) - started) / 1000, "s");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}
