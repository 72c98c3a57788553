/**
 * What the command-line tools (`deno task node`, `deno task devnet`) take from their user, checked
 * at the boundary: flags, numbers, amounts, URLs, the network file, the chain endpoint, and the
 * data folder a tool writes into. A tool marks a folder it made with a file of its own, so it never
 * takes over, let alone clears, a folder it did not make. Every failure is a `ToolkitError` with
 * a `CLI_*` code and a message that says what to do; {@link runCli} prints it as one line and
 * exits with status 2, without a stack trace.
 *
 * @module
 */

import { multiaddr } from "npm:@multiformats/multiaddr@13.0.3";
import type { ProtocolAddresses } from "../chain/mod.ts";
import { ToolkitError } from "../core/errors.ts";
import { parseUnits } from "../core/units.ts";
import type { NetworkFile } from "./network.ts";

/** The codes of the command-line tools' input errors. */
export type CliErrorCode =
  | "CLI_BAD_FLAG"
  | "CLI_BAD_NUMBER"
  | "CLI_BAD_ROLE"
  | "CLI_BAD_AUDIT_SEGMENTS"
  | "CLI_BAD_AMOUNT"
  | "CLI_BAD_URL"
  | "CLI_BAD_MULTIADDR"
  | "CLI_NO_NETWORK"
  | "CLI_NETWORK_FILE_MISSING"
  | "CLI_BAD_NETWORK_FILE"
  | "CLI_NO_ACCOUNT"
  | "CLI_NO_PASSWORD"
  | "CLI_ACCOUNT_KEY_FILE"
  | "CLI_RPC_UNREACHABLE"
  | "CLI_CHAIN_MISMATCH"
  | "CLI_NO_PROTOCOL"
  | "CLI_DATA_DIR_NOT_DIR"
  | "CLI_DATA_DIR_FOREIGN";

/** Exit status of a tool refused its input. */
export const CLI_USAGE_EXIT = 2;

/**
 * An input error of a command-line tool.
 *
 * @example
 * ```ts
 * import { cliError } from "./cli_input.ts";
 * throw cliError("CLI_BAD_NUMBER", "--providers takes a whole number from 0 to 5", "x");
 * ```
 */
export function cliError(code: CliErrorCode, message: string, value?: unknown): ToolkitError {
  return new ToolkitError(code, message, { value });
}

/**
 * Runs a tool's `main`, printing a `ToolkitError` (or a flag `parseArgs` refused) as the one line
 * `error CODE: message` on stderr and exiting with {@link CLI_USAGE_EXIT}. Other errors are bugs
 * and keep their stack.
 *
 * @example
 * ```ts ignore
 * import { runCli } from "./cli_input.ts";
 * await runCli(main, { help: "deno task node --help" });
 * ```
 */
export async function runCli(main: () => Promise<void>, options: { help: string }): Promise<void> {
  try {
    await main();
  } catch (error) {
    const typed = flagError(error, options.help) ?? error;
    if (!(typed instanceof ToolkitError)) throw error;
    console.error(`error ${typed.code}: ${typed.message.replace(/\s*\n\s*/g, " ")}`);
    Deno.exit(CLI_USAGE_EXIT);
  }
}

/** `node:util`'s `parseArgs` refusal (unknown flag, missing value, stray argument) as a typed error. */
function flagError(error: unknown, help: string): ToolkitError | undefined {
  const code = (error as { code?: unknown })?.code;
  if (typeof code !== "string" || !code.startsWith("ERR_PARSE_ARGS_")) return undefined;
  // Node's message is one sentence on what is wrong, then advice about `--` that does not apply.
  const what = (error as Error).message.split(/\.\s/)[0].replace(/\.$/, "");
  return cliError("CLI_BAD_FLAG", `${what}; \`${help}\` lists the flags`);
}

/**
 * A whole number flag within `[min, max]`.
 *
 * @example
 * ```ts
 * import { integerFlag } from "./cli_input.ts";
 * const providers = integerFlag("3", "--providers", { min: 0, max: 5 }); // 3
 * ```
 */
export function integerFlag(
  text: string,
  flag: string,
  range: { min: number; max: number },
): number {
  const value = /^\s*-?\d+\s*$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < range.min || value > range.max) {
    throw cliError(
      "CLI_BAD_NUMBER",
      `${flag} takes a whole number from ${range.min} to ${range.max}, not "${text}"`,
      text,
    );
  }
  return value;
}

const BYTE_UNITS: Record<string, number> = {
  "": 1,
  B: 1,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
  TiB: 1024 ** 4,
};

/**
 * A size in bytes, whole or with a binary unit (`4096`, `512MiB`, `2GiB`, `1.5GiB`).
 *
 * @example
 * ```ts
 * import { byteSizeFlag } from "./cli_input.ts";
 * const maxStepMemoryBytes = byteSizeFlag("2GiB", "--max-step-memory"); // 2147483648
 * ```
 */
export function byteSizeFlag(text: string, flag: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|TiB)?\s*$/.exec(text);
  const value = match ? Math.floor(Number(match[1]) * BYTE_UNITS[match[2] ?? ""]) : NaN;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw cliError(
      "CLI_BAD_NUMBER",
      `${flag} takes a size in bytes like 1073741824, 512MiB or 2GiB, not "${text}"`,
      text,
    );
  }
  return value;
}

/**
 * A number of seconds within `[min, max]` (fractions allowed).
 *
 * @example
 * ```ts
 * import { secondsFlag } from "./cli_input.ts";
 * const blockTimeSec = secondsFlag("0.5", "--block-time", { min: 0, max: 60 }); // 0.5
 * ```
 */
export function secondsFlag(
  text: string,
  flag: string,
  range: { min: number; max: number },
): number {
  const value = /^\s*\d+(\.\d+)?\s*$/.test(text) ? Number(text) : NaN;
  if (!Number.isFinite(value) || value < range.min || value > range.max) {
    throw cliError(
      "CLI_BAD_NUMBER",
      `${flag} takes seconds from ${range.min} to ${range.max}, not "${text}"`,
      text,
    );
  }
  return value;
}

/**
 * An amount of AIGENSYN (18 decimals) as wei.
 *
 * @example
 * ```ts
 * import { amountFlag } from "./cli_input.ts";
 * const stakeWei = amountFlag("2.5", "--stake"); // 2500000000000000000n
 * ```
 */
export function amountFlag(text: string, flag: string): bigint {
  try {
    return parseUnits(text, 18);
  } catch (cause) {
    throw new ToolkitError(
      "CLI_BAD_AMOUNT",
      `${flag} takes an amount of AIGENSYN like 1000 or 2.5, not "${text}"`,
      { value: text, cause },
    );
  }
}

/**
 * A chain endpoint URL (http, https, ws or wss).
 *
 * @example
 * ```ts
 * import { rpcUrlFlag } from "./cli_input.ts";
 * rpcUrlFlag("http://127.0.0.1:8545", "--rpc");
 * ```
 */
export function rpcUrlFlag(text: string, flag: string): string {
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    // Not a URL at all: reported below with the same advice as a wrong scheme.
  }
  if (!url || !["http:", "https:", "ws:", "wss:"].includes(url.protocol)) {
    throw cliError(
      "CLI_BAD_URL",
      `${flag} takes a JSON-RPC URL like http://127.0.0.1:8545, not "${text}"`,
      text,
    );
  }
  return text;
}

/**
 * A libp2p multiaddr.
 *
 * @example
 * ```ts
 * import { multiaddrFlag } from "./cli_input.ts";
 * multiaddrFlag("/ip4/127.0.0.1/tcp/0", "--listen");
 * ```
 */
export function multiaddrFlag(text: string, flag: string): string {
  try {
    multiaddr(text);
    return text;
  } catch (cause) {
    throw new ToolkitError(
      "CLI_BAD_MULTIADDR",
      `${flag} takes a multiaddr like /ip4/127.0.0.1/tcp/4001, not "${text}"`,
      { value: text, cause },
    );
  }
}

/** Every address a network file names (a record, so a new contract is a compile error here). */
const ADDRESS_KEYS: Record<keyof ProtocolAddresses, true> = {
  token: true,
  staking: true,
  jobMarket: true,
  disputeGame: true,
  verifierRegistry: true,
  feeRouter: true,
  governor: true,
  timelock: true,
  stable: true,
  uniswapFactory: true,
  uniswapRouter: true,
  pair: true,
  weth: true,
  delphi: true,
};

/**
 * Reads and checks a network file (what `deno task devnet` writes): an RPC URL, a chain id,
 * every protocol address and the bootstrap multiaddrs.
 *
 * @example
 * ```ts ignore
 * import { readNetworkFile } from "./cli_input.ts";
 * const network = await readNetworkFile(".data/devnet/network.json");
 * ```
 */
export async function readNetworkFile(path: string): Promise<NetworkFile> {
  const fix = "use the network.json that `deno task devnet` writes (it prints the path)";
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (cause) {
    const why = cause instanceof Deno.errors.NotFound
      ? "does not exist"
      : cause instanceof Deno.errors.IsADirectory
      ? "is a folder"
      : `cannot be read (${(cause as Error).message})`;
    throw new ToolkitError("CLI_NETWORK_FILE_MISSING", `network file ${path} ${why}; ${fix}`, {
      value: path,
      cause,
    });
  }
  const bad = (what: string, cause?: unknown): ToolkitError =>
    new ToolkitError("CLI_BAD_NETWORK_FILE", `network file ${path} ${what}; ${fix}`, {
      value: path,
      cause,
    });
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (cause) {
    throw bad(`is not JSON (${(cause as Error).message})`, cause);
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw bad("does not hold a JSON object");
  }
  const file = data as Record<string, unknown>;
  if (typeof file.rpcUrl !== "string") throw bad("has no rpcUrl");
  try {
    rpcUrlFlag(file.rpcUrl, "rpcUrl");
  } catch (cause) {
    throw bad(`has an rpcUrl that is not a JSON-RPC URL ("${file.rpcUrl}")`, cause);
  }
  if (!Number.isSafeInteger(file.chainId) || (file.chainId as number) < 1) {
    throw bad("has no chainId (a positive whole number)");
  }
  const addresses = file.addresses as Record<string, unknown> | undefined;
  if (typeof addresses !== "object" || addresses === null) throw bad("has no addresses");
  for (const key of Object.keys(ADDRESS_KEYS)) {
    const value = addresses[key];
    if (typeof value !== "string" || !/^0x[0-9a-fA-F]{40}$/.test(value)) {
      throw bad(`has no address for ${key}`);
    }
  }
  if (!Array.isArray(file.bootstrap) || file.bootstrap.some((a) => typeof a !== "string")) {
    throw bad("has no bootstrap list (multiaddrs)");
  }
  for (const addr of file.bootstrap as string[]) {
    try {
      multiaddr(addr);
    } catch (cause) {
      throw bad(`lists "${addr}", which is not a multiaddr, to bootstrap from`, cause);
    }
  }
  return {
    rpcUrl: file.rpcUrl,
    chainId: file.chainId as number,
    addresses: addresses as unknown as ProtocolAddresses,
    bootstrap: file.bootstrap as string[],
  };
}

async function jsonRpc(url: string, method: string, params: unknown[], timeoutMs: number) {
  const fix = "start it (`deno task devnet` prints a fresh network file) or pass --rpc URL";
  let response: Response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (cause) {
    const why = (cause as Error).name === "TimeoutError"
      ? `no answer within ${timeoutMs} ms`
      : (cause as Error).message.replace(/^.*: /, "");
    throw new ToolkitError(
      "CLI_RPC_UNREACHABLE",
      `cannot reach the chain at ${url} (${why}); ${fix}`,
      {
        value: url,
        cause,
      },
    );
  }
  let body: { result?: unknown };
  try {
    body = await response.json();
  } catch (cause) {
    throw new ToolkitError(
      "CLI_RPC_UNREACHABLE",
      `${url} does not answer JSON-RPC (HTTP ${response.status}); ${fix}`,
      { value: url, cause },
    );
  }
  if (body.result === undefined) {
    throw cliError("CLI_RPC_UNREACHABLE", `${url} does not answer ${method}; ${fix}`, url);
  }
  return body.result;
}

/**
 * Checks that the chain at `rpcUrl` answers, has the expected chain id, and holds the protocol (its
 * job market has code), so a stale network file or a wrong URL fails in one line before the node
 * starts.
 *
 * @example
 * ```ts ignore
 * import { checkChain } from "./cli_input.ts";
 * await checkChain({ rpcUrl: "http://127.0.0.1:8545", chainId: 31337, jobMarket: "0x..." });
 * ```
 */
export async function checkChain(params: {
  rpcUrl: string;
  chainId: number;
  jobMarket: string;
  timeoutMs?: number;
}): Promise<void> {
  const timeoutMs = params.timeoutMs ?? 5_000;
  const chainId = Number(await jsonRpc(params.rpcUrl, "eth_chainId", [], timeoutMs));
  if (chainId !== params.chainId) {
    throw cliError(
      "CLI_CHAIN_MISMATCH",
      `the chain at ${params.rpcUrl} has chain id ${chainId}, the network file says ` +
        `${params.chainId}; use the network file of that chain`,
      chainId,
    );
  }
  const code = await jsonRpc(
    params.rpcUrl,
    "eth_getCode",
    [params.jobMarket, "latest"],
    timeoutMs,
  );
  if (code === "0x" || code === "") {
    throw cliError(
      "CLI_NO_PROTOCOL",
      `the chain at ${params.rpcUrl} has no job market at ${params.jobMarket}: the network ` +
        "file belongs to another chain; use the one the running `deno task devnet` wrote",
      params.jobMarket,
    );
  }
}

/** How a tool recognises a data folder of its own. */
export interface DataDirOwnership {
  /** Name of the file the tool writes into a folder it makes, e.g. `.gensyn-node`. */
  marker: string;
  /** The tool, for messages, e.g. `deno task node`. */
  tool: string;
  /**
   * Whether an entry of a marked folder is the tool's (a marked folder holding anything else is
   * refused too). Default: every entry is.
   */
  owns?: (name: string) => boolean;
  /**
   * Whether an unmarked, non-empty folder was made by an earlier version of the tool (then it is
   * marked and taken). Default: never.
   */
  adopts?: (names: readonly string[]) => boolean;
}

/**
 * Takes `dir` as a tool's data folder: creates and marks it when absent or empty, takes it when the
 * tool marked it before (and all it holds is the tool's), and refuses it otherwise, naming a file
 * the tool did not create. Returns the folder's entries besides the marker.
 *
 * @example
 * ```ts
 * import { claimDataDir } from "./cli_input.ts";
 * const dir = await Deno.makeTempDir();
 * await claimDataDir(dir, { marker: ".gensyn-node", tool: "deno task node" });
 * ```
 */
export async function claimDataDir(dir: string, owner: DataDirOwnership): Promise<string[]> {
  let names: string[];
  try {
    const info = await Deno.stat(dir);
    if (!info.isDirectory) {
      throw cliError(
        "CLI_DATA_DIR_NOT_DIR",
        `--data-dir ${dir} is a file, not a folder; give a new or empty folder`,
        dir,
      );
    }
    names = [];
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    await Deno.mkdir(dir, { recursive: true });
    names = [];
  }
  const others = names.filter((n) => n !== owner.marker).sort();
  const marked = names.includes(owner.marker);
  const foreign = marked ? others.filter((n) => !(owner.owns?.(n) ?? true)) : others;
  if (foreign.length > 0 && !(!marked && owner.adopts?.(others))) {
    throw cliError(
      "CLI_DATA_DIR_FOREIGN",
      `--data-dir ${dir} holds ${foreign[0]}${
        foreign.length > 1 ? ` and ${foreign.length - 1} more` : ""
      }, which \`${owner.tool}\` did not create; give a new or empty folder (or one ` +
        `\`${owner.tool}\` made before)`,
      dir,
    );
  }
  if (!marked) {
    await Deno.writeTextFile(
      `${dir}/${owner.marker}`,
      `made by \`${owner.tool}\`, which may reuse what this folder holds\n`,
    );
  }
  return others;
}
