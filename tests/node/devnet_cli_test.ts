import assert from "node:assert/strict";
import { devAccountKey } from "../../lib/chain/mod.ts";
import { loadMnist } from "../../lib/exec/mnist.ts";
import { mlp } from "../../lib/exec/zoo.ts";
import { NODE_DIR_MARKER } from "../../lib/node/cli.ts";
import { DEVNET_DIR_MARKER } from "../../lib/node/devnet_cli.ts";
import type { Job } from "../../lib/node/job.ts";
import { Network, type NetworkFile } from "../../lib/node/network.ts";
import {
  isRunning,
  processNameOf,
  REPO_ROOT,
  runTool,
  spawnTool,
  toolPath,
  type ToolProcess,
  type ToolResult,
} from "./_cli_process.ts";

const TOKEN = 10n ** 18n;

/** The tool refused its input the way a user should see it: one typed line, status 2. */
function assertRefused(result: ToolResult, code: string): void {
  const shown = `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
  assert.equal(result.code, 2, shown);
  assert.equal(result.stdout, "", shown);
  const lines = result.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `one line expected, got ${shown}`);
  assert.match(lines[0], new RegExp(`^error ${code}: \\S`), shown);
}

function names(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

Deno.test("deno task devnet refuses bad flags and folders it did not make", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "devnet-cli-test-" });
  try {
    const cases: { name: string; args: string[]; code: string }[] = [
      { name: "unknown flag", args: ["--provider", "2"], code: "CLI_BAD_FLAG" },
      { name: "stray argument", args: ["fast"], code: "CLI_BAD_FLAG" },
      { name: "providers not a number", args: ["--providers", "x"], code: "CLI_BAD_NUMBER" },
      { name: "providers fraction", args: ["--providers", "1.5"], code: "CLI_BAD_NUMBER" },
      { name: "too many providers", args: ["--providers", "6"], code: "CLI_BAD_NUMBER" },
      { name: "block time not a number", args: ["--block-time", "fast"], code: "CLI_BAD_NUMBER" },
    ];
    for (const c of cases) {
      await t.step(c.name, async () => {
        const dataDir = `${dir}/data`;
        assertRefused(await runTool("devnet_cli", [...c.args, "--data-dir", dataDir]), c.code);
        await assert.rejects(Deno.stat(dataDir), Deno.errors.NotFound);
      });
    }

    await t.step("a folder holding a file it did not create is left as it is", async () => {
      const user = `${dir}/user`;
      await Deno.mkdir(user);
      await Deno.writeTextFile(`${user}/thesis.tex`, "keep me");
      const refused = await runTool("devnet_cli", ["--data-dir", user]);
      assertRefused(refused, "CLI_DATA_DIR_FOREIGN");
      assert.match(refused.stderr, /thesis\.tex/);
      assert.deepEqual(names(user), ["thesis.tex"]);
      assert.equal(await Deno.readTextFile(`${user}/thesis.tex`), "keep me");
    });

    await t.step("its own folder is refused once something else is put in it", async () => {
      const own = `${dir}/own`;
      await Deno.mkdir(`${own}/provider-1`, { recursive: true });
      await Deno.writeTextFile(`${own}/${DEVNET_DIR_MARKER}`, "");
      await Deno.writeTextFile(`${own}/network.json`, "{}");
      await Deno.writeTextFile(`${own}/results.csv`, "1,2");
      assertRefused(await runTool("devnet_cli", ["--data-dir", own]), "CLI_DATA_DIR_FOREIGN");
      assert.deepEqual(names(own), [
        DEVNET_DIR_MARKER,
        "network.json",
        "provider-1",
        "results.csv",
      ]);
    });

    await t.step("a node's folder, or a file, is not a devnet folder", async () => {
      const node = `${dir}/node`;
      await Deno.mkdir(node);
      await Deno.writeTextFile(`${node}/${NODE_DIR_MARKER}`, "");
      await Deno.writeTextFile(`${node}/identity.json`, "{}");
      assertRefused(await runTool("devnet_cli", ["--data-dir", node]), "CLI_DATA_DIR_FOREIGN");
      assert.deepEqual(names(node), [NODE_DIR_MARKER, "identity.json"]);
      await Deno.writeTextFile(`${dir}/a-file`, "");
      assertRefused(
        await runTool("devnet_cli", ["--data-dir", `${dir}/a-file`]),
        "CLI_DATA_DIR_NOT_DIR",
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Waits for `promise`, failing with `what` and the processes' output after `ms`. */
async function within<T>(
  promise: Promise<T>,
  what: string,
  ms: number,
  processes: ToolProcess[],
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const output = processes.map((p) => p.lines.slice(-30).join("\n")).join("\n---\n");
          reject(new Error(`${what}: not within ${ms / 1000} s; output:\n${output}`));
        }, ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Starts the devnet CLI and waits until it prints that it is ready; returns it and its anvil. */
async function startDevnetCli(dataDir: string): Promise<{ devnet: ToolProcess; anvil: number }> {
  const devnet = spawnTool(Deno.execPath(), [
    "run",
    "-A",
    toolPath("devnet_cli"),
    "--providers",
    "0",
    "--data-dir",
    dataDir,
  ]);
  try {
    await devnet.waitFor(/^Ctrl-C stops everything/, "the devnet starts", 180_000);
    const anvils = devnet.descendants().filter((pid) => processNameOf(pid) === "anvil");
    assert.equal(anvils.length, 1, `one anvil under the devnet, found ${anvils}`);
    return { devnet, anvil: anvils[0] };
  } catch (error) {
    await devnet.stop();
    throw error;
  }
}

/** Stops the devnet with SIGTERM: it exits 0 and leaves no anvil behind. */
async function stopDevnetCli(started: { devnet: ToolProcess; anvil: number }): Promise<void> {
  const status = await started.devnet.stop();
  assert.equal(status.code, 0, started.devnet.lines.join("\n"));
  assert.equal(isRunning(started.anvil), false, `anvil ${started.anvil} is still running`);
}

/** The join command the devnet printed, exactly as a user would copy it. */
function joinCommand(devnet: ToolProcess): string {
  const at = devnet.lines.findIndex((l) => l.startsWith("join it with another provider"));
  assert.ok(at >= 0, devnet.lines.join("\n"));
  return devnet.lines[at + 1].trim();
}

/** Runs a printed command line with bash, in the repository (where `deno task` runs). */
function runPrinted(line: string): ToolProcess {
  // bash replaces itself with the command, so SIGTERM reaches `deno task`, which passes it on.
  return spawnTool("bash", ["-c", line], { cwd: REPO_ROOT });
}

async function submit(network: Network): Promise<Job> {
  return await network.train({
    model: mlp({ hidden: [16] }),
    data: await loadMnist({ limit: 512 }),
    steps: 20,
    batchSize: 16,
    k: 10,
    challengeWindowSec: 60,
  });
}

Deno.test("deno task devnet: the printed join command works, external jobs are paid, restarts", async () => {
  const dir = await Deno.makeTempDir({ prefix: "devnet-cli-test-" });
  const running: ToolProcess[] = [];
  const anvils: number[] = [];
  let network: Network | undefined;
  try {
    // No providers of its own: the extra provider from the printed command is the only one.
    const first = await startDevnetCli(`${dir}/devnet`);
    running.push(first.devnet);
    anvils.push(first.anvil);
    const join = joinCommand(first.devnet);
    assert.match(
      join,
      /^GENSYN_ACCOUNT_KEY=0x[0-9a-f]{64} GENSYN_NODE_PASSWORD=\S+ deno task node /,
    );
    assert.ok(join.includes(`--network ${dir}/devnet/network.json`), join);
    assert.ok(join.includes(`--data-dir ${dir}/node-extra`), join);

    const node = runPrinted(join);
    running.push(node);
    await node.waitFor(/ready: profile/, "the extra provider starts", 180_000);
    await node.waitFor(/^listening on /, "the extra provider listens");

    const file = JSON.parse(await Deno.readTextFile(`${dir}/devnet/network.json`)) as NetworkFile;
    network = await Network.connect({
      ...file,
      accountKey: devAccountKey(7),
      dataDir: `${dir}/submitter`,
      password: "devnet-cli-test",
    });
    // Paid in chain time: the devnet's blocks carry the 60 s window past without anyone's help.
    const paidJob = await submit(network);
    const settled = await within(
      paidJob.settled({ timeoutMs: 240_000 }),
      "the job is paid",
      250_000,
      running,
    );
    assert.equal(settled.paidWei + settled.feeWei, 10n * TOKEN);
    await node.waitFor(new RegExp(`job ${paidJob.id.slice(0, 10)}: paid`), "the provider's line");

    // A job committed but not yet paid when the devnet goes away.
    const staleJob = await submit(network);
    (await within(
      staleJob.result({ timeoutMs: 180_000 }),
      "the second job commits",
      190_000,
      running,
    )).model.dispose();
    await network.close();
    network = undefined;
    assert.equal((await node.stop()).code, 0, node.lines.join("\n"));
    await stopDevnetCli(first);

    // Same folder again: the devnet clears what it wrote there, and prints the same command.
    const second = await startDevnetCli(`${dir}/devnet`);
    running.push(second.devnet);
    anvils.push(second.anvil);
    assert.equal(joinCommand(second.devnet), join);
    const again = runPrinted(join);
    running.push(again);
    await again.waitFor(/^listening on /, "the extra provider starts on the new chain", 180_000);
    const setAside = again.lines.filter((l) => l.includes("set aside"));
    assert.equal(setAside.length, 1, again.lines.join("\n"));
    assert.ok(setAside[0].includes(`job ${staleJob.id.slice(0, 10)}: set aside`), setAside[0]);
    assert.match(setAside[0], /does not exist on this chain/);
    await Deno.stat(`${dir}/node-extra/jobs/stale/${staleJob.id}/record.json`);
    // The paid job's record stays where it was.
    await Deno.stat(`${dir}/node-extra/jobs/${paidJob.id}/record.json`);
    assert.equal((await again.stop()).code, 0, again.lines.join("\n"));
    await stopDevnetCli(second);
  } finally {
    await network?.close();
    for (const p of running.reverse()) await p.stop();
    for (const pid of anvils) {
      if (isRunning(pid) && processNameOf(pid) === "anvil") Deno.kill(pid, "SIGKILL");
    }
    await Deno.remove(dir, { recursive: true });
  }
});
