/**
 * `deno task bench notebook`: cold start of the researcher's first result. Installs the project
 * kernel into a fresh Jupyter data folder, executes `notebooks/01-quickstart.ipynb` headless with
 * real Jupyter, and measures from the moment Jupyter is launched (kernel start included) to the
 * end of the cell that returns the first trained, verified result.
 *
 * @module
 */

import { installKernelSpec } from "../lib/notebook/kernelspec.ts";
import { figure } from "./figure.ts";
import { benchOutsideRepo } from "./_outside.ts";
import { benchFailedJob } from "./_failed_job.ts";

const NOTEBOOK = new URL("../notebooks/01-quickstart.ipynb", import.meta.url).pathname;
/** The cell whose completion is the first trained result (it calls `job.result()`). */
const RESULT_MARKER = "await job.result()";

interface Cell {
  cell_type: string;
  source: string[] | string;
  metadata?: { execution?: Record<string, string> };
  outputs?: { output_type: string; ename?: string; evalue?: string }[];
}

const tmp = await Deno.makeTempDir({ prefix: "bench-notebook-" });
try {
  const env = { JUPYTER_DATA_DIR: `${tmp}/jupyter`, NO_COLOR: "1" };
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
      tmp,
      NOTEBOOK,
    ],
    env,
    stdout: "piped",
    stderr: "piped",
    cwd: new URL("../notebooks/", import.meta.url).pathname,
  }).output();
  const wallS = (Date.now() - started) / 1000;
  if (!out.success) {
    console.error(new TextDecoder().decode(out.stderr));
    throw new Error("the notebook failed; run `deno test -A tests/notebooks/` for details");
  }
  const executed = JSON.parse(await Deno.readTextFile(`${tmp}/01-quickstart.ipynb`)) as {
    cells: Cell[];
  };
  const cell = executed.cells.find((c) =>
    c.cell_type === "code" && [c.source].flat().join("").includes(RESULT_MARKER)
  );
  const reply = cell?.metadata?.execution?.["shell.execute_reply"];
  if (!reply) throw new Error("no timing recorded for the result cell");
  figure("notebook.first_result_s", (Date.parse(reply) - started) / 1000, "s");
  figure("notebook.quickstart_total_s", wallS, "s");
} finally {
  await Deno.remove(tmp, { recursive: true });
}

await benchOutsideRepo();
await benchFailedJob();
await (await import("./_orphans.ts")).benchOrphansAfterKill();
