/**
 * The command-line tools (`lib/node/cli.ts`, `lib/node/devnet_cli.ts`) as real processes, for tests
 * that read what they print, wait on it, and stop them (and whatever they started) afterwards.
 *
 * @module
 */

/** The repository root, where `deno task ...` runs. */
export const REPO_ROOT: string = new URL("../../", import.meta.url).pathname;

/** Path of a tool's entry point. */
export function toolPath(name: "cli" | "devnet_cli"): string {
  return new URL(`../../lib/node/${name}.ts`, import.meta.url).pathname;
}

/** What a tool printed before it exited. */
export interface ToolResult {
  /** Exit status. */
  readonly code: number;
  /** Everything on stdout. */
  readonly stdout: string;
  /** Everything on stderr. */
  readonly stderr: string;
}

/** Runs a tool to its end (for the refusals, which end at once). */
export async function runTool(
  name: "cli" | "devnet_cli",
  args: string[],
  env: Record<string, string> = {},
): Promise<ToolResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", toolPath(name), ...args],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

/** A running tool. */
export interface ToolProcess {
  /** Its process id. */
  readonly pid: number;
  /** Lines of stdout and stderr so far, in arrival order per stream. */
  readonly lines: string[];
  /** Resolves with the exit status. */
  readonly status: Promise<Deno.CommandStatus>;
  /**
   * Resolves with the first line (already printed or to come) matching `pattern`; fails with the
   * output when the process exits first or `ms` pass.
   */
  waitFor(pattern: RegExp, what: string, ms?: number): Promise<string>;
  /** Process ids of everything it started, transitively (from `/proc`). */
  descendants(): number[];
  /** Sends SIGTERM, waits for the exit, and returns the status; safe to call twice. */
  stop(): Promise<Deno.CommandStatus>;
}

/** Children of `pid` and theirs, from `/proc/<pid>/task/<tid>/children`. */
export function descendantsOf(pid: number): number[] {
  const out: number[] = [];
  let tasks: Deno.DirEntry[];
  try {
    tasks = [...Deno.readDirSync(`/proc/${pid}/task`)];
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return out; // gone already
    throw e;
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

/** Whether a process is still running (a zombie counts as gone). */
export function isRunning(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** Executable name of a process (`/proc/<pid>/comm`), or "" once it is gone. */
export function processNameOf(pid: number): string {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/comm`).trim();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return "";
    throw e;
  }
}

/** Starts a command and follows its output line by line. */
export function spawnTool(
  command: string,
  args: string[],
  options: { env?: Record<string, string>; cwd?: string } = {},
): ToolProcess {
  const child = new Deno.Command(command, {
    args,
    env: options.env,
    cwd: options.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  const follow = async (stream: ReadableStream<Uint8Array>) => {
    let buffered = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      buffered += chunk;
      const parts = buffered.split("\n");
      buffered = parts.pop()!;
      lines.push(...parts);
      for (const wake of waiters) wake();
    }
    if (buffered) lines.push(buffered);
  };
  const reading = Promise.all([follow(child.stdout), follow(child.stderr)]);
  let exited = false;
  const status = child.status.then(async (s) => {
    await reading;
    exited = true;
    for (const wake of waiters) wake();
    return s;
  });
  let stopping: Promise<Deno.CommandStatus> | undefined;
  return {
    pid: child.pid,
    lines,
    status,
    waitFor(pattern, what, ms = 120_000) {
      return new Promise((resolve, reject) => {
        const tail = () => lines.slice(-40).join("\n");
        const done = () => {
          waiters.delete(check);
          clearTimeout(timer);
        };
        const check = () => {
          const found = lines.find((l) => pattern.test(l));
          if (found !== undefined) {
            done();
            resolve(found);
          } else if (exited) {
            done();
            reject(new Error(`${what}: the process exited first; its output:\n${tail()}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${what}: nothing after ${ms / 1000} s; the output:\n${tail()}`));
        }, ms);
        waiters.add(check);
        check();
      });
    },
    descendants: () => descendantsOf(child.pid),
    stop() {
      stopping ??= (async () => {
        if (!exited) child.kill("SIGTERM");
        return await status;
      })();
      return stopping;
    },
  };
}
