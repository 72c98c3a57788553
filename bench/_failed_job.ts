/**
 * Part of `deno task bench notebook`: how fast a researcher's mistake comes back. A notebook
 * runs under real Jupyter; its cell submits a job whose labels do not fit the model (10 classes
 * into 5 outputs) and catches the typed error. The figure is the time from the submit to the
 * error in the cell; the cell also reports whether any escrow moved (it must not).
 *
 * @module
 */

import { installKernelSpec, KERNEL_NAME } from "../lib/notebook/kernelspec.ts";
import { figure } from "./figure.ts";

const MOD = new URL("../mod.ts", import.meta.url).href;

const CELLS = [
  `import { loadMnist, mlp, Network } from "${MOD}";
const network = await Network.local({ providers: 1 });
const data = await loadMnist({ limit: 2048 });
const before = await network.chain.token.balanceOf();`,
  `const started = performance.now();
let outcome;
try {
  await network.train({ model: mlp({ hidden: [32], classes: 5 }), data, steps: 100, batchSize: 64 });
  outcome = { error: null };
} catch (error) {
  outcome = { error: error.code ?? error.name, seconds: (performance.now() - started) / 1000 };
}
const escrowMovedWei = before - (await network.chain.token.balanceOf());
console.log("RESULT " + JSON.stringify({ ...outcome, escrowMovedWei: String(escrowMovedWei) }));`,
  `await network.close();`,
];

/** Runs the notebook and prints `notebook.failed_job_to_error_s`. */
export async function benchFailedJob(): Promise<void> {
  const tmp = await Deno.makeTempDir({ prefix: "bench-failed-job-" });
  try {
    const env = { JUPYTER_DATA_DIR: `${tmp}/jupyter`, NO_COLOR: "1" };
    await installKernelSpec({ env: (name) => (env as Record<string, string>)[name] });
    const notebook = {
      nbformat: 4,
      nbformat_minor: 5,
      metadata: { kernelspec: { name: KERNEL_NAME, display_name: "Deno", language: "typescript" } },
      cells: CELLS.map((source, i) => ({
        cell_type: "code",
        id: `cell-${i}`,
        metadata: {},
        execution_count: null,
        outputs: [],
        source,
      })),
    };
    await Deno.writeTextFile(`${tmp}/failed.ipynb`, JSON.stringify(notebook));
    const out = await new Deno.Command("jupyter", {
      args: [
        "nbconvert",
        "--to",
        "notebook",
        "--execute",
        "--ExecutePreprocessor.timeout=300",
        "--output",
        "executed.ipynb",
        `${tmp}/failed.ipynb`,
      ],
      env,
      cwd: tmp,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      console.error(new TextDecoder().decode(out.stderr));
      throw new Error("the failed-job notebook did not run");
    }
    const text = await Deno.readTextFile(`${tmp}/executed.ipynb`);
    const line = /RESULT (\{[^\\]*\})/.exec(text.replaceAll('\\"', '"'))?.[1];
    if (!line) throw new Error("the failed-job notebook printed no result");
    const result = JSON.parse(line) as {
      error: string | null;
      seconds?: number;
      escrowMovedWei: string;
    };
    if (result.error === null) throw new Error("a job with wrong labels was accepted");
    console.log(`failed job: ${result.error}, escrow moved ${result.escrowMovedWei} wei`);
    if (result.escrowMovedWei !== "0") {
      throw new Error("escrow moved for a job that failed its check");
    }
    figure("notebook.failed_job_to_error_s", result.seconds!, "s");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}
