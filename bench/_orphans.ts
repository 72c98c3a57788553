/**
 * Part of `deno task bench notebook`: what a killed notebook leaves behind. A notebook that starts
 * `Network.local` and a long job runs under real `jupyter nbconvert`; once the job trains, its
 * kernel is killed with SIGKILL (no cleanup runs), and the processes of the run still alive and the
 * `gensyn-local-*` folders still there 20 s later are counted (the harness of
 * `tests/notebooks/orphans_test.ts`). The bar is 0.
 *
 * @module
 */

import { countOf, describe, settle, startTrainingRun } from "../tests/notebooks/_orphans.ts";
import { figure } from "./figure.ts";

/** How long the watchdogs get after the kill: they look once a second. */
const GRACE_MS = 20_000;

/** Prints `notebook.orphans_after_kill`. */
export async function benchOrphansAfterKill(): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "bench-orphans-" });
  try {
    await using run = await startTrainingRun({ jupyter: "jupyter", dir });
    Deno.kill(run.kernelPid, "SIGKILL");
    await run.nbconvert.status;
    const left = await settle(run.mark, run.tmpDir, GRACE_MS);
    if (countOf(left) > 0) {
      console.error(`left behind after killing the kernel:\n${describe(left)}`);
    }
    figure("notebook.orphans_after_kill", countOf(left), "leftovers");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
