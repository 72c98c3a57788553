/**
 * The embedded chain: an `anvil` process on a free loopback port. The binary ships in the npm
 * package `@foundry-rs/anvil-linux-amd64` (installed into `node_modules/` with the rest of the
 * imports), or comes from `$ANVIL_PATH`. Stopping is idempotent and also happens on process unload,
 * so a failing test never leaves an orphan node behind; and anvil runs tethered
 * (`core/watchdog.ts`), so it dies with this process even when this process is killed (SIGKILL, a
 * notebook kernel's shutdown) and runs no cleanup. In its own session, anvil does not see the
 * Ctrl-C or Jupyter interrupt aimed at this process: the chain outlives an interrupted cell.
 *
 * @module
 */

import anvilPackage from "npm:@foundry-rs/anvil-linux-amd64@1.7.1/package.json" with {
  type: "json",
};
import { ChainError } from "../core/errors.ts";
import { tetheredCommand } from "../core/watchdog.ts";

/** Options of {@linkcode startAnvil}; every field has a default. */
export interface AnvilOptions {
  /** Chain id; default 31337 (anvil's and viem's `foundry` chain). */
  chainId?: number;
  /** Number of funded dev accounts; default 10. */
  accounts?: number;
  /** Ether balance of each dev account; default 10000. */
  balanceEth?: number;
  /** EVM hardfork; default `prague` (what the artifacts are compiled for). */
  hardfork?: string;
  /** How long to wait for anvil to listen before failing; default 20000 ms. */
  startTimeoutMs?: number;
  /**
   * Called when anvil exits before `close()` (it crashed, or something killed it), with its exit
   * and the end of its stderr: every later RPC call fails with "connection refused", so this is
   * the only place that says why. Default: one line on stderr.
   */
  onUnexpectedExit?: (exit: { code: number; signal: string | null; stderr: string }) => void;
}

/** A running anvil node; `await using` it or call `close()`. */
export interface Anvil extends AsyncDisposable {
  /** HTTP JSON-RPC endpoint, e.g. `http://127.0.0.1:34567`. */
  readonly rpcUrl: string;
  /** The port anvil listens on. */
  readonly port: number;
  /** Process id of the node. */
  readonly pid: number;
  /** Stops the node and waits for the process to exit; safe to call twice. */
  close(): Promise<void>;
}

/** Path of the anvil binary: `$ANVIL_PATH` if set, else the one in the npm package. */
export function anvilPath(): string {
  const override = Deno.env.get("ANVIL_PATH");
  if (override) return override;
  const pkg = new URL(import.meta.resolve("npm:@foundry-rs/anvil-linux-amd64@1.7.1/package.json"));
  const bin = (anvilPackage as { bin: Record<string, string> }).bin.anvil;
  return new URL(bin, pkg).pathname;
}

/**
 * Starts anvil on `127.0.0.1` at a port the OS picks, and resolves once it listens.
 *
 * @example
 * ```ts
 * import { startAnvil } from "./anvil.ts";
 * await using anvil = await startAnvil();
 * console.log(anvil.rpcUrl);
 * ```
 */
export async function startAnvil(options: AnvilOptions = {}): Promise<Anvil> {
  const path = anvilPath();
  try {
    Deno.statSync(path);
  } catch (cause) {
    throw new ChainError(
      "ANVIL_MISSING",
      `anvil binary not found at ${path}; run \`deno install\` (it comes with ` +
        `npm:@foundry-rs/anvil-linux-amd64) or set ANVIL_PATH`,
      { value: path, cause },
    );
  }
  const args = [
    "--host",
    "127.0.0.1",
    "--port",
    "0",
    "--chain-id",
    String(options.chainId ?? 31337),
    "--accounts",
    String(options.accounts ?? 10),
    "--balance",
    String(options.balanceEth ?? 10_000),
    "--hardfork",
    options.hardfork ?? "prague",
  ];
  // The tether (anvil's stdin) stops anvil when closed, or when this process dies.
  const child = tetheredCommand(path, { args, stdout: "piped", stderr: "piped" }).spawn();
  const stderrText = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let closed = false;
  const kill = (): void => {
    if (closed) return;
    closed = true;
    try {
      child.kill("SIGTERM");
    } catch {
      // Already exited: nothing to stop.
    }
  };
  globalThis.addEventListener("unload", kill);
  let released: Promise<void> | undefined;
  const release = (): Promise<void> =>
    released ??= (async () => {
      kill();
      await child.status;
      // Anvil is gone: let the tether's watchdog go too.
      await child.stdin.close();
    })();

  const timeoutMs = options.startTimeoutMs ?? 20_000;
  let seen = "";
  let port = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`anvil did not listen within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    while (port === 0) {
      const { value, done } = await Promise.race([reader.read(), timeout]);
      if (done) throw new Error(`anvil exited: ${await stderrText}`);
      seen += value;
      const match = seen.match(/Listening on 127\.0\.0\.1:(\d+)/);
      if (match) port = Number(match[1]);
    }
  } catch (cause) {
    await reader.cancel();
    await release();
    await stderrText;
    globalThis.removeEventListener("unload", kill);
    throw new ChainError("ANVIL_START", `anvil failed to start: ${(cause as Error).message}`, {
      cause,
    });
  } finally {
    clearTimeout(timer);
  }
  // Anvil logs every request; keep reading so a full pipe never blocks it.
  const drained = (async () => {
    while (!(await reader.read()).done) { /* discard the request log */ }
  })();

  const onExit = options.onUnexpectedExit ?? ((exit) =>
    console.error(
      `anvil (pid ${child.pid}) exited unexpectedly: code ${exit.code}, signal ` +
        `${exit.signal ?? "none"}; its stderr ends: ${exit.stderr.slice(-2000) || "(empty)"}`,
    ));
  child.status.then(async (status) => {
    if (closed) return;
    closed = true;
    onExit({ code: status.code, signal: status.signal, stderr: await stderrText });
  });
  const close = async (): Promise<void> => {
    await release();
    await drained;
    await stderrText;
    globalThis.removeEventListener("unload", kill);
  };
  return {
    rpcUrl: `http://127.0.0.1:${port}`,
    port,
    pid: child.pid,
    close,
    [Symbol.asyncDispose]: close,
  };
}
