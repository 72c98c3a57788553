import assert from "node:assert/strict";
import { parseProcStat } from "../../lib/core/owned_dir.ts";
import { tetheredCommand } from "../../lib/core/watchdog.ts";

/** Whether `pid` runs (a zombie has exited: it only waits to be reaped). */
async function running(pid: number): Promise<boolean> {
  try {
    const stat = parseProcStat(await Deno.readTextFile(`/proc/${pid}/stat`));
    return stat !== null && stat.state !== "Z" && stat.state !== "X";
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** Polls `check` until it holds; fails saying `what` after `timeoutMs`. */
async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`${what} did not happen within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

Deno.test("tethered commands", async (t) => {
  await t.step("keep their own pid, and closing the tether stops them", async () => {
    const child = tetheredCommand("sleep", { args: ["600"] }).spawn();
    await waitUntil(
      "exec of sleep",
      async () => (await Deno.readTextFile(`/proc/${child.pid}/cmdline`)).startsWith("sleep\0"),
    );
    await child.stdin.close();
    const status = await child.status;
    assert.equal(status.signal, "SIGTERM");
  });

  await t.step("die with their parent, even when it is killed with SIGKILL", async () => {
    const module = new URL("../../lib/core/watchdog.ts", import.meta.url).href;
    const parent = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `import { tetheredCommand } from "${module}";\n` +
        `const child = tetheredCommand("sleep", { args: ["600"] }).spawn();\n` +
        "console.log(child.pid);\n" +
        "setInterval(() => {}, 1000);",
      ],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const reader = parent.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let out = "";
    while (!out.includes("\n")) {
      const { value, done } = await reader.read();
      assert(!done, "the parent exited before starting its child");
      out += value;
    }
    const pid = Number(out.trim());
    assert(await running(pid));
    parent.kill("SIGKILL");
    await parent.status;
    await reader.cancel();
    await waitUntil(
      `the end of sleep (pid ${pid}) after its parent died`,
      async () => !(await running(pid)),
    );
  });

  await t.step("are not reached by a signal to their parent's process group", async () => {
    const child = tetheredCommand("sleep", { args: ["600"] }).spawn();
    const stat = parseProcStat(await Deno.readTextFile(`/proc/${child.pid}/stat`));
    const own = parseProcStat(await Deno.readTextFile("/proc/self/stat"));
    // Its own session, hence its own process group: killpg of this one does not include it.
    assert.equal(stat?.session, child.pid);
    assert.notEqual(own?.session, child.pid);
    await child.stdin.close();
    await child.status;
  });
});
