/**
 * `devnet.external_job_paid`: whether `deno task devnet` pays a job submitted from another
 * process. The devnet runs as a child process in a temporary folder (one provider of its own);
 * this process joins it as the submitter, the way the devnet prints (`Network.connect` with its
 * network file and dev account 7), trains a small MLP with the shortest challenge window (60 s),
 * and waits for `job.settled()`. Nothing moves chain time but the devnet's own blocks. Afterwards
 * the devnet gets SIGTERM and must exit 0 and leave no anvil running.
 *
 * @module
 */

import { devAccountKey } from "../lib/chain/mod.ts";
import { loadMnist } from "../lib/exec/mnist.ts";
import { mlp } from "../lib/exec/zoo.ts";
import { Network, type NetworkFile } from "../lib/node/network.ts";
import { figure } from "./figure.ts";

/** What {@link measureDevnetExternalJob} saw. */
export interface DevnetExternalJob {
  /** The job was paid and the devnet stopped cleanly. */
  readonly paid: boolean;
  /** Why not, when not. */
  readonly reason?: string;
  /** From submission to payment, seconds (when paid). */
  readonly settleSec?: number;
}

/** Rejects with `what` after `ms`. */
async function within<T>(promise: Promise<T>, what: string, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} not within ${ms / 1000} s`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Children of `pid` and theirs, from `/proc`. */
function descendantsOf(pid: number): number[] {
  const out: number[] = [];
  let tasks: Deno.DirEntry[] = [];
  try {
    tasks = [...Deno.readDirSync(`/proc/${pid}/task`)];
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e; // gone: no children
  }
  for (const task of tasks) {
    let text = "";
    try {
      text = Deno.readTextFileSync(`/proc/${pid}/task/${task.name}/children`);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e; // the thread ended meanwhile
    }
    for (const child of text.split(" ").filter(Boolean).map(Number)) {
      out.push(child, ...descendantsOf(child));
    }
  }
  return out;
}

/** Whether `pid` is a live anvil (not gone, not a zombie). */
function isLiveAnvil(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.includes("(anvil)") && stat[stat.lastIndexOf(")") + 2] !== "Z";
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/**
 * Starts `deno task devnet` as a child, submits one job to it from this process, and reports
 * whether it was paid within `timeoutMs` (default 300000) and the devnet then stopped cleanly.
 *
 * @example
 * ```ts ignore
 * import { measureDevnetExternalJob } from "./_devnet_external.ts";
 * const { paid, reason } = await measureDevnetExternalJob();
 * ```
 */
export async function measureDevnetExternalJob(
  options: { timeoutMs?: number } = {},
): Promise<DevnetExternalJob> {
  const timeoutMs = options.timeoutMs ?? 300_000;
  const dir = await Deno.makeTempDir({ prefix: "bench-devnet-external-" });
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../lib/node/devnet_cli.ts", import.meta.url).pathname,
      "--providers",
      "1",
      "--data-dir",
      `${dir}/devnet`,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const banner = "Ctrl-C stops everything";
  const ready = Promise.withResolvers<void>();
  let output = "";
  const reading = (async () => {
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      output += chunk;
      if (output.includes(banner)) ready.resolve();
    }
  })();
  const stderr = new Response(child.stderr).text();
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  let anvils: number[] = [];
  let network: Network | undefined;
  let result: DevnetExternalJob;
  try {
    // Ready once the network file is written and the banner printed.
    const started = await within(
      Promise.race([ready.promise.then(() => "ready"), status.then(() => "exited")]),
      "the devnet start",
      180_000,
    );
    if (started === "exited") throw new Error(`the devnet exited: ${(await stderr).trim()}`);
    anvils = descendantsOf(child.pid).filter(isLiveAnvil);
    if (anvils.length !== 1) {
      throw new Error(`expected one anvil under the devnet, found ${anvils}`);
    }
    const file = JSON.parse(await Deno.readTextFile(`${dir}/devnet/network.json`)) as NetworkFile;
    network = await Network.connect({
      ...file,
      accountKey: devAccountKey(7),
      dataDir: `${dir}/submitter`,
      password: "bench-devnet-external",
    });
    const startedAt = performance.now();
    const job = await network.train({
      model: mlp({ hidden: [32] }),
      data: await loadMnist({ limit: 1024 }),
      steps: 40,
      batchSize: 32,
      k: 10,
      challengeWindowSec: 60,
    });
    // The job's own timeout: it also stops its background finalizer, so nothing is left polling.
    const settled = await job.settled({ timeoutMs });
    result = settled.paidWei > 0n
      ? { paid: true, settleSec: (performance.now() - startedAt) / 1000 }
      : { paid: false, reason: "the job settled with nothing paid" };
  } catch (error) {
    result = { paid: false, reason: (error as Error).message.split("\n")[0] };
  } finally {
    await network?.close();
    if (!exited) child.kill("SIGTERM");
  }
  let stopProblem: string | undefined;
  try {
    const stopped = await within(status, "the devnet's exit after SIGTERM", 60_000);
    if (stopped.code !== 0) stopProblem = `the devnet exited with ${stopped.code} after SIGTERM`;
  } catch (error) {
    stopProblem = (error as Error).message;
    child.kill("SIGKILL");
    await status;
  }
  await reading;
  await stderr;
  const left = anvils.filter(isLiveAnvil);
  for (const pid of left) Deno.kill(pid, "SIGKILL");
  await Deno.remove(dir, { recursive: true });
  if (left.length > 0) stopProblem ??= `anvil ${left.join(", ")} was left running`;
  if (result.paid && stopProblem) return { paid: false, reason: stopProblem };
  return result;
}

/** Measures and prints `figure devnet.external_job_paid 1|0 jobs` (and the reason for a 0). */
export async function figureDevnetExternalJob(): Promise<void> {
  const { paid, reason } = await measureDevnetExternalJob();
  figure("devnet.external_job_paid", paid ? 1 : 0, "jobs");
  if (!paid) console.log(`devnet.external_job_paid: not paid: ${reason}`);
}
