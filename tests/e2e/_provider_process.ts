/**
 * A provider node as its own process (`lib/node/cli.ts`, what `deno task node` runs), for tests and
 * benchmarks that need a real separate provider: one that can be killed, or whose CPU time can be
 * read apart from the rest of the network.
 *
 * @module
 */

import { devAccountKey } from "../../lib/chain/mod.ts";

/** A running provider process. */
export interface ProviderProcess {
  /** Its stdout lines so far. */
  readonly output: string[];
  /** Its process id. */
  readonly pid: number;
  /** CPU time the process has used so far (user + system), seconds, from `/proc`. */
  cpuSeconds(): Promise<number>;
  /** Sends `signal` and waits for the process to end. */
  kill(signal: Deno.Signal): Promise<void>;
}

/** Starts `lib/node/cli.ts` on `networkFile` as dev account `account` and resolves once it listens. */
export async function startProviderProcess(options: {
  networkFile: string;
  dataDir: string;
  account: number;
  password: string;
  stake?: number;
}): Promise<ProviderProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../../lib/node/cli.ts", import.meta.url).pathname,
      "--network",
      options.networkFile,
      "--data-dir",
      options.dataDir,
      "--stake",
      String(options.stake ?? 500),
    ],
    env: {
      GENSYN_ACCOUNT_KEY: devAccountKey(options.account),
      GENSYN_NODE_PASSWORD: options.password,
    },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output: string[] = [];
  const lines = (async () => {
    let buffered = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      buffered += chunk;
      const parts = buffered.split("\n");
      buffered = parts.pop()!;
      output.push(...parts);
    }
  })();
  const stderr = new Response(child.stderr).text();
  const deadline = Date.now() + 60_000;
  while (!output.some((l) => l.includes("listening on"))) {
    if (Date.now() > deadline) throw new Error(`provider did not start:\n${output.join("\n")}`);
    const exited = await Promise.race([
      child.status.then(() => true),
      new Promise<false>((r) => setTimeout(() => r(false), 50)),
    ]);
    if (exited) throw new Error(`provider exited:\n${output.join("\n")}\n${await stderr}`);
  }
  return {
    output,
    pid: child.pid,
    async cpuSeconds() {
      // Fields 14 and 15 of /proc/<pid>/stat (after the parenthesised name): utime, stime in ticks.
      const stat = await Deno.readTextFile(`/proc/${child.pid}/stat`);
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
    },
    async kill(signal: Deno.Signal) {
      child.kill(signal);
      await child.status;
      await lines;
      await stderr;
    },
  };
}

/** `sysconf(_SC_CLK_TCK)` on Linux. */
const CLOCK_TICKS = 100;
