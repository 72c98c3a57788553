/**
 * Nothing outlives a notebook: a notebook that runs `Network.local` and a long job under real
 * `jupyter nbconvert` is killed mid-training, by SIGINT, SIGTERM and SIGKILL, once through
 * nbconvert's process group (a terminal's Ctrl-C, a `kill`, a CI timeout) and once through the
 * kernel itself; then no process of the run (anvil, the kernel, a watchdog) and no `gensyn-local-*`
 * folder may be left after the watchdogs' short grace.
 *
 * And an interrupt is a cancellation: with a real Jupyter client (`jupyter_client`), Jupyter's
 * interrupt during `followJob` or an `interruptible` `job.result()` ends that wait with
 * `TRAINING_WAIT_ABORTED`, an interrupt during a wait that does not listen is ignored, and the
 * kernel goes on to close the network and shut down cleanly.
 *
 * @module
 */

import assert from "node:assert/strict";
import { INSTALL_HINT, runCommand, tail } from "./_jupyter.ts";
import {
  countOf,
  describe,
  markedProcesses,
  prepareRun,
  settle,
  startTrainingRun,
  trainingCells,
} from "./_orphans.ts";

/** How long the watchdogs may take after a kill: they look once a second. */
const GRACE_MS = 20_000;

async function requireJupyter(): Promise<string> {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    const path = `${dir}/jupyter`;
    try {
      await Deno.stat(path);
    } catch {
      // Not in this PATH entry.
      continue;
    }
    const version = await runCommand(path, ["nbconvert", "--version"], { timeoutMs: 60_000 });
    assert.equal(version.code, 0, `\`jupyter nbconvert\` does not run; ${INSTALL_HINT}`);
    return path;
  }
  assert.fail(`the orphan tests need Jupyter, which is not on PATH; ${INSTALL_HINT}`);
}

const KILLS: { target: "group" | "kernel"; signal: Deno.Signal }[] = [
  { target: "group", signal: "SIGINT" },
  { target: "group", signal: "SIGTERM" },
  { target: "group", signal: "SIGKILL" },
  { target: "kernel", signal: "SIGINT" },
  { target: "kernel", signal: "SIGTERM" },
  { target: "kernel", signal: "SIGKILL" },
];

Deno.test("a notebook killed mid-training leaves no process and no folder", async (t) => {
  const jupyter = await requireJupyter();
  const tmp = await Deno.makeTempDir({ prefix: "orphans-test-" });
  try {
    for (const { target, signal } of KILLS) {
      await t.step(
        `${signal} to the ${target === "group" ? "nbconvert group" : "kernel"}`,
        async () => {
          const dir = `${tmp}/${target}-${signal}`;
          await Deno.mkdir(dir);
          await using run = await startTrainingRun({ jupyter, dir });
          const alive = run.training.processes.map((p) => p.command).join("\n");
          assert.match(alive, /anvil/, `anvil should run while the job trains:\n${alive}`);
          assert.equal(run.training.folders.length, 1, describe(run.training));

          Deno.kill(target === "group" ? -run.nbconvert.pid : run.kernelPid, signal);
          await run.nbconvert.status;
          const left = await settle(run.mark, run.tmpDir, GRACE_MS);
          assert.equal(
            countOf(left),
            0,
            `left behind ${GRACE_MS / 1000} s after ${signal}:\n${describe(left)}\n` +
              `nbconvert said:\n${tail(await run.stderr(), 15)}`,
          );
        },
      );
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

/**
 * Drives the kernel through `jupyter_client`: runs each cell, interrupts it (Jupyter's own
 * `interrupt_kernel()`, which follows the kernelspec's `interrupt_mode`) once the cell wrote its
 * mark, and prints one JSON line per cell with its reply.
 */
const DRIVER = `
import json, os, sys, time
from jupyter_client.manager import KernelManager
cells = json.loads(sys.argv[1])
km = KernelManager(kernel_name=sys.argv[2])
km.start_kernel()
try:
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=300)
    for cell in cells:
        msg_id = kc.execute(cell["code"])
        deadline = time.time() + cell["timeoutS"]
        interrupted = False
        while True:
            mark = cell.get("interruptAt")
            if mark and not interrupted and os.path.exists(mark):
                km.interrupt_kernel()
                interrupted = True
            try:
                reply = kc.get_shell_msg(timeout=0.2)
            except Exception:
                if time.time() > deadline:
                    print(json.dumps({"status": "timeout", "interrupted": interrupted}), flush=True)
                    sys.exit(3)
                continue
            if reply["parent_header"].get("msg_id") != msg_id:
                continue
            c = reply["content"]
            print(json.dumps({"status": c["status"], "ename": c.get("ename"),
                              "evalue": c.get("evalue"), "interrupted": interrupted,
                              "alive": km.is_alive()}), flush=True)
            break
    kc.stop_channels()
finally:
    km.shutdown_kernel(now=False)
`;

/** The Python that runs `jupyter` (its shebang), which has `jupyter_client`. */
async function pythonOf(jupyter: string): Promise<string> {
  const first = (await Deno.readTextFile(jupyter)).split("\n", 1)[0];
  assert(first.startsWith("#!"), `${jupyter} is not a script; cannot find its Python`);
  return first.slice(2).trim().split(/\s+/)[0];
}

Deno.test("an interrupt cancels the cell's wait and the kernel goes on", async () => {
  const jupyter = await requireJupyter();
  const dir = await Deno.makeTempDir({ prefix: "orphans-interrupt-" });
  const { env, mark, tmpDir } = await prepareRun(dir);
  try {
    const [imports, start, follow] = trainingCells(`${dir}/following`);
    const interruptible = new URL("../../lib/node/interrupt.ts", import.meta.url).href;
    const cells = [
      {
        // Before any code listens: the kernel's launcher ignores the interrupt.
        code: `await Deno.writeTextFile("${dir}/early", "waiting");\n` +
          "await new Promise((resolve) => setTimeout(resolve, 2000));",
        timeoutS: 300,
        interruptAt: `${dir}/early`,
      },
      { code: `${imports}\nimport { interruptible } from "${interruptible}";`, timeoutS: 300 },
      { code: start, timeoutS: 300 },
      { code: follow, timeoutS: 300, interruptAt: `${dir}/following` },
      {
        code: "const waiting = interruptible((signal) => job.result({ signal }));\n" +
          `await Deno.writeTextFile("${dir}/result", "waiting");\n` +
          "await waiting;",
        timeoutS: 300,
        interruptAt: `${dir}/result`,
      },
      {
        // Nothing listens during this wait: the interrupt is ignored and the cell completes.
        code: `await Deno.writeTextFile("${dir}/plain", "waiting");\n` +
          "await new Promise((resolve) => setTimeout(resolve, 3000));",
        timeoutS: 120,
        interruptAt: `${dir}/plain`,
      },
      {
        code: "const rpcUrl = network.devnet.rpcUrl;\n" +
          "await network.close();\n" +
          "const answers = await fetch(rpcUrl, { method: 'POST', body: '{}' })\n" +
          "  .then(async (r) => { await r.body?.cancel(); return true; }, () => false);\n" +
          "if (answers) throw new Error('anvil still answers after close');",
        timeoutS: 120,
      },
    ];
    const python = await pythonOf(jupyter);
    const driven = await runCommand(python, ["-c", DRIVER, JSON.stringify(cells), "gensyn-deno"], {
      env,
      cwd: dir,
      timeoutMs: 900_000,
    });
    const replies = driven.stdout.trim().split("\n").filter((l) => l.startsWith("{")).map((l) =>
      JSON.parse(l) as { status: string; ename?: string; evalue?: string; interrupted: boolean }
    );
    const context = `replies:\n${driven.stdout}\ndriver stderr:\n${tail(driven.stderr, 20)}`;
    assert.equal(driven.code, 0, context);
    assert.equal(replies.length, cells.length, context);
    const [early, , started, followed, resulted, plain, closed] = replies;
    assert.deepEqual([early.interrupted, early.status], [true, "ok"], context);
    assert.equal(started.status, "ok", context);
    for (const interrupted of [followed, resulted]) {
      assert.equal(interrupted.interrupted, true, context);
      assert.equal(interrupted.status, "error", context);
      assert.equal(interrupted.ename, "TrainingError", context);
      assert.match(interrupted.evalue ?? "", /stopped waiting|interrupted/, context);
    }
    assert.deepEqual([plain.interrupted, plain.status], [true, "ok"], context);
    assert.equal(closed.status, "ok", context);

    const left = await settle(mark, tmpDir, GRACE_MS);
    assert.equal(countOf(left), 0, `left behind after shutdown:\n${describe(left)}`);
  } finally {
    // A failed run may have left its processes: the mark finds them.
    for (const p of await markedProcesses(mark)) {
      try {
        Deno.kill(p.pid, "SIGKILL");
      } catch {
        // Gone between the scan and the kill.
      }
    }
    await Deno.remove(dir, { recursive: true });
  }
});
