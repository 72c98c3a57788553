import assert from "node:assert/strict";
import {
  currentOwner,
  type DirOwner,
  makeOwnedTempDir,
  OWNER_FILE,
  ownerIsGone,
  parseProcStat,
  type ProcStat,
  readProcStat,
} from "../../lib/core/owned_dir.ts";

/** Polls `check` until it holds; fails saying `what` after `timeoutMs`. */
async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`${what} did not happen within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** Pids of the watchdogs of `dir` (their command line names it). */
async function watchdogsOf(dir: string): Promise<number[]> {
  const pids: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmdline = await Deno.readTextFile(`/proc/${entry.name}/cmdline`);
      const stat = await readProcStat(Number(entry.name));
      if (cmdline.includes(`\0${dir}\0`) && stat && stat.state !== "Z") {
        pids.push(Number(entry.name));
      }
    } catch {
      // Exited while being read.
    }
  }
  return pids;
}

/** The identity a process that exited at once had: its record proves it gone. */
async function deadOwner(): Promise<DirOwner> {
  const here = await currentOwner();
  const child = new Deno.Command("sleep", { args: ["0"] }).spawn();
  const stat = await readProcStat(child.pid);
  await child.status;
  return { ...here, pid: child.pid, startTicks: stat?.startTicks ?? "0" };
}

Deno.test("owned temporary folders", async (t) => {
  await t.step("parseProcStat reads state, parent, session and start time", () => {
    const rest = "0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0";
    const cases: [string, ProcStat | null][] = [
      [`7 (sh) S 1 7 7 ${rest} 123 0 0`, { state: "S", ppid: 1, session: 7, startTicks: "123" }],
      [
        `9 (a) b (c) Z 3 4 5 ${rest} 99 1 2`,
        { state: "Z", ppid: 3, session: 5, startTicks: "99" },
      ],
      ["9 (short) S 1 2", null],
      [`9 (bad) S x 7 7 ${rest} 123`, null],
    ];
    for (const [line, want] of cases) assert.deepEqual(parseProcStat(line), want, line);
  });

  await t.step("ownerIsGone judges only what it can tell", () => {
    const here: DirOwner = { pid: 1, startTicks: "1", pidNamespace: "pid:[1]", bootId: "b" };
    const owner: DirOwner = { pid: 7, startTicks: "100", pidNamespace: "pid:[1]", bootId: "b" };
    const stat = (state: string, startTicks: string): ProcStat => ({
      state,
      ppid: 1,
      session: 7,
      startTicks,
    });
    const cases: [string, DirOwner, ProcStat | null, boolean][] = [
      ["no such pid", owner, null, true],
      ["still running", owner, stat("S", "100"), false],
      ["exited, not reaped", owner, stat("Z", "100"), true],
      ["pid reused", owner, stat("R", "555"), true],
      ["another boot", { ...owner, bootId: "other" }, null, false],
      ["another pid namespace", { ...owner, pidNamespace: "pid:[2]" }, null, false],
      ["no start time recorded", { pid: 7 }, null, false],
    ];
    for (const [what, o, s, want] of cases) assert.equal(ownerIsGone(o, here, s), want, what);
  });

  const tmp = await Deno.makeTempDir({ prefix: "owned-dir-test-" });
  try {
    await t.step("records the owner and leaves with the owner's own removal", async () => {
      const dir = await makeOwnedTempDir({ prefix: "owned-", dir: tmp });
      assert(dir.startsWith(`${tmp}/owned-`));
      const owner = JSON.parse(await Deno.readTextFile(`${dir}/${OWNER_FILE}`)) as DirOwner;
      assert.deepEqual(owner, await currentOwner());
      assert.equal((await watchdogsOf(dir)).length, 1, "one watchdog watches the folder");
      await Deno.remove(dir, { recursive: true });
      await waitUntil("the watchdog's exit", async () => (await watchdogsOf(dir)).length === 0);
    });

    await t.step("is removed when its owner is killed with SIGKILL", async () => {
      const module = new URL("../../lib/core/owned_dir.ts", import.meta.url).href;
      const owner = new Deno.Command(Deno.execPath(), {
        args: [
          "eval",
          `import { makeOwnedTempDir } from "${module}";\n` +
          `console.log(await makeOwnedTempDir({ prefix: "killed-", dir: ${
            JSON.stringify(tmp)
          } }));\n` +
          "setInterval(() => {}, 1000);",
        ],
        stdout: "piped",
        stderr: "null",
      }).spawn();
      const reader = owner.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let out = "";
      while (!out.includes("\n")) {
        const { value, done } = await reader.read();
        assert(!done, "the owner exited before making its folder");
        out += value;
      }
      const dir = out.trim();
      assert(await exists(dir));
      owner.kill("SIGKILL");
      await owner.status;
      await reader.cancel();
      await waitUntil(`removal of ${dir}`, async () => !(await exists(dir)));
      await waitUntil("the watchdog's exit", async () => (await watchdogsOf(dir)).length === 0);
    });

    await t.step("sweeps folders of dead owners, and only those", async () => {
      const make = async (name: string, owner?: DirOwner) => {
        await Deno.mkdir(`${tmp}/${name}`);
        if (owner) await Deno.writeTextFile(`${tmp}/${name}/${OWNER_FILE}`, JSON.stringify(owner));
        return `${tmp}/${name}`;
      };
      const sleeper = new Deno.Command("sleep", { args: ["600"] }).spawn();
      try {
        const live = { ...await currentOwner(), pid: sleeper.pid };
        const liveStat = await readProcStat(sleeper.pid);
        const dead = await make("swept-dead", await deadOwner());
        const alive = await make("swept-alive", { ...live, startTicks: liveStat!.startTicks });
        const unrecorded = await make("swept-unrecorded");
        const otherPrefix = await make("other-dead", await deadOwner());
        const mine = await makeOwnedTempDir({ prefix: "swept-", dir: tmp });
        assert.deepEqual(
          await Promise.all([dead, alive, unrecorded, otherPrefix, mine].map(exists)),
          [false, true, true, true, true],
        );
        await Deno.remove(mine, { recursive: true });
      } finally {
        sleeper.kill();
        await sleeper.status;
      }
    });
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
