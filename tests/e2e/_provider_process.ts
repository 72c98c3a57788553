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
  /** Sends `signal` without waiting (`SIGSTOP` freezes the node, `SIGCONT` resumes it). */
  signal(signal: Deno.Signal): void;
  /** Resolves when the process exits. */
  readonly exited: Promise<Deno.CommandStatus>;
  /**
   * Waits for `promise`, but fails (with this process's output) when the process exits first or
   * `ms` pass: a test that waits on the provider never hangs without saying why.
   */
  within<T>(promise: Promise<T>, what: string, ms?: number): Promise<T>;
}

/**
 * Starts `lib/node/cli.ts` on `networkFile` as dev account `account` and resolves once it listens:
 * a provider, or with `role: "verifier"` a verifier node.
 */
export async function startProviderProcess(options: {
  networkFile: string;
  dataDir: string;
  account: number;
  password: string;
  stake?: number;
  /** Default `provider`. */
  role?: "provider" | "verifier";
  /** JSON-RPC endpoint instead of the network file's. */
  rpc?: string;
  /** More flags. */
  args?: readonly string[];
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
      "--role",
      options.role ?? "provider",
      ...(options.rpc ? ["--rpc", options.rpc] : []),
      ...options.args ?? [],
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
    exited: child.status,
    signal(signal: Deno.Signal) {
      try {
        child.kill(signal);
      } catch (error) {
        // Already gone: nothing to signal.
        if (!(error instanceof TypeError)) throw error;
      }
    },
    async kill(signal: Deno.Signal) {
      child.kill(signal);
      await child.status;
      await lines;
      await stderr;
    },
    async within<T>(promise: Promise<T>, what: string, ms = 180_000): Promise<T> {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const failed = (why: string) =>
        new Error(`${what}: ${why}; the provider's last output:\n${output.slice(-40).join("\n")}`);
      try {
        return await Promise.race([
          promise,
          child.status.then((s) => Promise.reject(failed(`the provider exited (${s.code})`))),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(failed(`nothing after ${ms / 1000} s`)), ms);
          }),
        ]);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** `sysconf(_SC_CLK_TCK)` on Linux. */
const CLOCK_TICKS = 100;
