/**
 * Contract build: compiles `contracts/` with solc-js (in-process, no download) and renders the
 * typed TypeScript artifacts under `lib/chain/artifacts/` (`as const` ABIs so viem infers types,
 * plus creation bytecode). Uniswap V2 artifacts are copied from their npm builds so the devnet
 * deploys exactly the audited bytecode. `deno task contracts` runs this module; a test recompiles
 * and compares to catch stale artifacts.
 *
 * @module
 */

import solc from "npm:solc@0.8.37";
import { ChainError } from "../core/errors.ts";

/** One compiled contract: its ABI and creation bytecode. */
export interface CompiledContract {
  /** Contract name, e.g. `JobMarket`. */
  name: string;
  /** The JSON ABI. */
  abi: readonly unknown[];
  /** Creation bytecode, `0x`-prefixed. */
  bytecode: `0x${string}`;
}

/** The solc version the artifacts are built with; compilation fails on any other. */
export const SOLC_VERSION = "0.8.37";

/** Contracts of ours that get artifacts, by source file. */
const OWN_CONTRACTS: Record<string, string[]> = {
  "Token.sol": ["Token"],
  "Staking.sol": ["Staking"],
  "VerifierRegistry.sol": ["VerifierRegistry"],
  "JobMarket.sol": ["JobMarket"],
  "DisputeGame.sol": ["DisputeGame"],
  "FeeRouter.sol": ["FeeRouter"],
  "Governance.sol": ["ProtocolGovernor", "ProtocolTimelock"],
  "Delphi.sol": ["Delphi"],
  "delphi/test/LmsrHarness.sol": ["LmsrHarness"],
  "test/TestStable.sol": ["TestStable"],
  "test/ReentrantToken.sol": ["ReentrantToken"],
};

/** Uniswap V2 contracts deployed from their published npm builds. */
const UNISWAP_CONTRACTS: [string, string][] = [
  ["@uniswap/v2-core/build/UniswapV2Factory.json", "UniswapV2Factory"],
  ["@uniswap/v2-core/build/UniswapV2Pair.json", "UniswapV2Pair"],
  ["@uniswap/v2-periphery/build/UniswapV2Router02.json", "UniswapV2Router02"],
  ["@uniswap/v2-periphery/build/WETH9.json", "WETH9"],
];

const CONTRACTS_DIR = new URL("../../contracts/", import.meta.url);

interface SolcOutput {
  errors?: { severity: string; formattedMessage: string }[];
  contracts: Record<
    string,
    Record<string, { abi: unknown[]; evm: { bytecode: { object: string } } }>
  >;
}

function readImport(path: string): { contents: string } | { error: string } {
  try {
    const url = path.startsWith("@")
      ? import.meta.resolve(path)
      : new URL(path, CONTRACTS_DIR).href;
    return { contents: Deno.readTextFileSync(new URL(url)) };
  } catch (e) {
    return { error: `cannot read ${path}: ${e instanceof Error ? e.message : String(e)}` };
  }
}

/**
 * Optimizer runs: tuned for calls (a job's lifecycle runs often, deployment once). With the IR
 * pipeline this saves ~4,300 gas per job lifecycle over the legacy pipeline at 200 runs.
 */
const DEFAULT_OPTIMIZER_RUNS = 10_000;

/**
 * Contracts whose code at the default runs would pass the EIP-170 size limit (24,576 bytes): the
 * dispute game (two bisection phases, committee draws, chess clocks) at 800 runs is 21.9 kB
 * deployed instead of 27.5 kB, and Delphi (LMSR trading, its own evaluation job, deposit ledgers)
 * at 1,000 runs about 23.3 kB instead of 25.6 kB. Dispute moves run a few times per dispute, not
 * per job; Delphi's trades cost about 8% more gas than at the default.
 */
const OPTIMIZER_RUNS: Record<string, number> = { "DisputeGame.sol": 800, "Delphi.sol": 1_000 };

/** Compiles `files` (and what they import) in one solc run, with `runs` optimizer runs. */
function compileGroup(files: string[], runs: number): SolcOutput {
  const sources: Record<string, { content: string }> = {};
  for (const file of files) {
    sources[file] = { content: Deno.readTextFileSync(new URL(file, CONTRACTS_DIR)) };
  }
  const outputSelection: Record<string, Record<string, string[]>> = {};
  for (const file of files) outputSelection[file] = { "*": ["abi", "evm.bytecode.object"] };
  const input = {
    language: "Solidity",
    sources,
    settings: {
      evmVersion: "prague",
      viaIR: true,
      optimizer: { enabled: true, runs },
      outputSelection,
    },
  };
  const output = JSON.parse(
    solc.compile(JSON.stringify(input), { import: readImport }),
  ) as SolcOutput;
  const errors = (output.errors ?? []).filter((e) => e.severity === "error");
  if (errors.length > 0) {
    throw new ChainError(
      "COMPILE_FAILED",
      `solc rejected the contracts; fix these and run \`deno task contracts\`:\n` +
        errors.map((e) => e.formattedMessage).join("\n"),
      { value: errors },
    );
  }
  return output;
}

/**
 * Compiles our contracts and loads the Uniswap V2 builds.
 *
 * @example
 * ```ts
 * import { compileContracts } from "./compile.ts";
 * const contracts = compileContracts();
 * console.log(contracts.map((c) => c.name));
 * ```
 */
export function compileContracts(): CompiledContract[] {
  const version = (solc.version() as string).split("+")[0];
  if (version !== SOLC_VERSION) {
    throw new ChainError(
      "SOLC_VERSION",
      `solc-js is ${version} but artifacts are pinned to ${SOLC_VERSION}; fix the solc import in deno.json`,
      { value: version },
    );
  }
  const compiled: CompiledContract[] = [];
  // One solc run per optimizer setting: most contracts at the default, the big ones at theirs.
  const groups = new Map<number, string[]>();
  for (const file of Object.keys(OWN_CONTRACTS)) {
    const runs = OPTIMIZER_RUNS[file] ?? DEFAULT_OPTIMIZER_RUNS;
    groups.set(runs, [...(groups.get(runs) ?? []), file]);
  }
  const outputs = new Map<string, SolcOutput["contracts"][string]>();
  for (const [runs, files] of groups) {
    const output = compileGroup(files, runs);
    for (const file of files) outputs.set(file, output.contracts[file]);
  }
  for (const [file, names] of Object.entries(OWN_CONTRACTS)) {
    for (const name of names) {
      const c = outputs.get(file)![name];
      compiled.push({ name, abi: c.abi, bytecode: `0x${c.evm.bytecode.object}` });
    }
  }
  for (const [path, name] of UNISWAP_CONTRACTS) {
    const json = JSON.parse(Deno.readTextFileSync(new URL(import.meta.resolve(path))));
    compiled.push({
      name,
      abi: json.abi,
      bytecode: `0x${json.bytecode ?? json.evm.bytecode.object}`,
    });
  }
  return compiled;
}

/** Renders one artifact as a TypeScript module (`<name>Abi` and `<name>Bytecode`). */
export function renderArtifact(contract: CompiledContract): string {
  const id = contract.name[0].toLowerCase() + contract.name.slice(1);
  return [
    `// Generated by \`deno task contracts\` from ${contract.name}; do not edit.`,
    `/** ABI of ${contract.name}. */`,
    `export const ${id}Abi = ${JSON.stringify(contract.abi, null, 2)} as const;`,
    `/** Creation bytecode of ${contract.name}. */`,
    `export const ${id}Bytecode = "${contract.bytecode}" as const;`,
    "",
  ].join("\n");
}

/** Renders every artifact file, keyed by its file name under `lib/chain/artifacts/`. */
export function renderArtifacts(contracts: CompiledContract[]): Map<string, string> {
  const files = new Map<string, string>();
  for (const c of contracts) files.set(`${c.name}.ts`, renderArtifact(c));
  files.set(
    "mod.ts",
    "// Generated by `deno task contracts`; do not edit.\n" +
      contracts.map((c) => `export * from "./${c.name}.ts";`).join("\n") + "\n",
  );
  return files;
}

/** Folder of the committed artifacts. */
export const ARTIFACTS_DIR: URL = new URL("./artifacts/", import.meta.url);

if (import.meta.main) {
  const started = performance.now();
  const files = renderArtifacts(compileContracts());
  await Deno.mkdir(ARTIFACTS_DIR, { recursive: true });
  for (const [name, text] of files) await Deno.writeTextFile(new URL(name, ARTIFACTS_DIR), text);
  console.log(
    `wrote ${files.size} artifacts to lib/chain/artifacts/ in ${
      Math.round(performance.now() - started)
    } ms`,
  );
}
