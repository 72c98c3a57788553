/**
 * `deno task node`: run a provider node against a chain and a network.
 *
 * ```sh
 * deno task node --rpc http://127.0.0.1:8545 --network .data/devnet/network.json \
 *   --data-dir .data/node-1 --stake 1000
 * ```
 *
 * The account key comes from `--account-key-file` or `$GENSYN_ACCOUNT_KEY` (never from the
 * command line, where other users of the machine could read it); the peer key is kept encrypted
 * under `--data-dir` with the password in `$GENSYN_NODE_PASSWORD`. Everything the user gives is
 * checked before the node starts (`cli_input.ts`): a bad flag, file, URL or folder ends the
 * command with one `error CODE: what to do` line and exit status 2.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { privateKeyToAccount } from "npm:viem@2.57.20/accounts";
import { createChainClient, createProtocolClient } from "../chain/mod.ts";
import { BlobStore } from "../proof/store.ts";
import { getProfile } from "../exec/profile.ts";
import { IDENTITY_FILE, PASSWORD_ENV } from "../p2p/mod.ts";
import {
  amountFlag,
  byteSizeFlag,
  checkChain,
  claimDataDir,
  cliError,
  integerFlag,
  multiaddrFlag,
  readNetworkFile,
  rpcUrlFlag,
  runCli,
} from "./cli_input.ts";
import { createP2PWire } from "./p2p_wire.ts";
import { ProviderNode } from "./provider.ts";
import { ensurePeerBound } from "./settlement.ts";
import { VerifierNode } from "./verifier/mod.ts";
import { DEFAULT_NODE_LIMITS, type NodeLimits } from "./limits.ts";

const HELP = `deno task node: run a provider (or verifier) node

  --role ROLE           provider (default): takes, trains and commits jobs; verifier: stakes,
                        registers, audits the commits it is drawn for, disputes cheaters and sits
                        on referee committees
  --network FILE        network description written by \`deno task devnet\`
                        (rpc URL, contract addresses, bootstrap peers)
  --rpc URL             JSON-RPC endpoint (overrides the network file)
  --bootstrap ADDR      multiaddr of a peer to join through (repeatable; adds to the file's)
  --data-dir DIR        keys, job records, blobs and checkpoints (default .data/node); a new or
                        empty folder, or one an earlier \`deno task node\` made
  --stake AMOUNT        AIGENSYN to keep staked (default 1000)
  --audit-segments N    verifier: segments to re-execute per audited slot, a count or \`all\`
                        (default: each job's audit policy)
  --min-price AMOUNT    refuse jobs paying less, in AIGENSYN (default 0)
  --profile ID          execution profile: wasm (default), wasm-scalar, cpu
  --max-parameters N    refuse jobs whose model has more parameters (default ${DEFAULT_NODE_LIMITS.maxParameters})
  --max-step-memory B   refuse jobs whose training step needs more memory, estimated
                        (bytes, or 512MiB, 2GiB; default 2GiB)
  --max-dataset B       refuse datasets larger than this (default 1GiB)
  --max-steps N         refuse jobs of more steps (default ${DEFAULT_NODE_LIMITS.maxSteps})
  --listen ADDR         multiaddr to listen on (default /ip4/127.0.0.1/tcp/0)
  --account-key-file F  file holding the account's 0x private key (or $GENSYN_ACCOUNT_KEY)
  --help                this text

Environment: GENSYN_ACCOUNT_KEY (account key), GENSYN_NODE_PASSWORD (peer key encryption).`;

/** The file that marks a folder as a node's data folder. */
export const NODE_DIR_MARKER = ".gensyn-node";

async function accountKey(file: string | undefined): Promise<`0x${string}`> {
  let keyText: string | undefined;
  if (file) {
    try {
      keyText = (await Deno.readTextFile(file)).trim();
    } catch (cause) {
      throw cliError(
        "CLI_ACCOUNT_KEY_FILE",
        `cannot read --account-key-file ${file} (${(cause as Error).message}); give a file ` +
          "holding the account's 0x private key",
        file,
      );
    }
  } else {
    keyText = Deno.env.get("GENSYN_ACCOUNT_KEY");
  }
  if (!keyText || !/^0x[0-9a-fA-F]{64}$/.test(keyText)) {
    throw cliError(
      "CLI_NO_ACCOUNT",
      `the node needs its account key (0x and 64 hex digits): set GENSYN_ACCOUNT_KEY=0x... or ` +
        "pass --account-key-file",
    );
  }
  return keyText as `0x${string}`;
}

/** The resource limits the flags set (the others keep their defaults). */
function limitsOf(values: Record<string, unknown>): Partial<NodeLimits> {
  const limits: { -readonly [K in keyof NodeLimits]?: number } = {};
  const text = (flag: string) => values[flag] as string | undefined;
  const whole = { min: 1, max: Number.MAX_SAFE_INTEGER };
  if (text("max-parameters") !== undefined) {
    limits.maxParameters = integerFlag(text("max-parameters")!, "--max-parameters", whole);
  }
  if (text("max-step-memory") !== undefined) {
    limits.maxStepMemoryBytes = byteSizeFlag(text("max-step-memory")!, "--max-step-memory");
  }
  if (text("max-dataset") !== undefined) {
    limits.maxDatasetBytes = byteSizeFlag(text("max-dataset")!, "--max-dataset");
  }
  if (text("max-steps") !== undefined) {
    limits.maxSteps = integerFlag(text("max-steps")!, "--max-steps", whole);
  }
  return limits;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    strict: true,
    allowPositionals: false,
    options: {
      network: { type: "string" },
      rpc: { type: "string" },
      bootstrap: { type: "string", multiple: true, default: [] },
      "data-dir": { type: "string", default: ".data/node" },
      stake: { type: "string", default: "1000" },
      "min-price": { type: "string", default: "0" },
      profile: { type: "string", default: "wasm" },
      "max-parameters": { type: "string" },
      "max-step-memory": { type: "string" },
      "max-dataset": { type: "string" },
      "max-steps": { type: "string" },
      listen: { type: "string", default: "/ip4/127.0.0.1/tcp/0" },
      "account-key-file": { type: "string" },
      role: { type: "string", default: "provider" },
      "audit-segments": { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) return console.log(HELP);
  // Every check that needs no network first, so a typo fails at once.
  if (!values.network) {
    throw cliError(
      "CLI_NO_NETWORK",
      "give --network FILE (start a local one with `deno task devnet`, which prints the file)",
    );
  }
  const role = values.role;
  if (role !== "provider" && role !== "verifier") {
    throw cliError("CLI_BAD_ROLE", `--role ${role}: give provider or verifier`, role);
  }
  const segments = auditSegmentsFlag(values["audit-segments"]);
  const network = await readNetworkFile(values.network);
  const rpcUrl = values.rpc === undefined ? network.rpcUrl : rpcUrlFlag(values.rpc, "--rpc");
  const stakeWei = amountFlag(values.stake, "--stake");
  const minPriceWei = amountFlag(values["min-price"], "--min-price");
  const profile = getProfile(values.profile).id;
  const limits = limitsOf(values);
  const listen = multiaddrFlag(values.listen, "--listen");
  const bootstrap = values.bootstrap.map((a) => multiaddrFlag(a, "--bootstrap"));
  const key = await accountKey(values["account-key-file"]);
  if (!Deno.env.get(PASSWORD_ENV)) {
    throw cliError(
      "CLI_NO_PASSWORD",
      `the node seals its peer key under --data-dir with a password: set ${PASSWORD_ENV}=...`,
    );
  }
  await checkChain({ rpcUrl, chainId: network.chainId, jobMarket: network.addresses.jobMarket });
  const dataDir = values["data-dir"];
  await claimDataDir(dataDir, {
    marker: NODE_DIR_MARKER,
    tool: "deno task node",
    // A folder of a node from before the marker holds its sealed peer key.
    adopts: (names) => names.includes(IDENTITY_FILE),
  });

  const chain = createProtocolClient(createChainClient({
    rpcUrl,
    chainId: network.chainId,
    addresses: network.addresses,
    account: privateKeyToAccount(key),
  }));
  const wire = await createP2PWire({
    dataDir,
    chain,
    store: new BlobStore(dataDir),
    listen: [listen],
    bootstrap: [...network.bootstrap, ...bootstrap],
  });
  let node: ProviderNode | VerifierNode;
  try {
    if (role === "provider") {
      node = await ProviderNode.start({
        dataDir,
        chain,
        wire,
        peerPrivateKey: wire.peerPrivateKey,
        profile,
        stakeWei,
        minPriceWei,
        limits,
      });
    } else {
      // Bound like a provider's, so that committee members and parties find its peer.
      await ensurePeerBound(chain, wire.peerPrivateKey);
      node = await VerifierNode.start({
        dataDir,
        chain,
        wire,
        stakeWei,
        limits,
        ...(segments === undefined ? {} : { segments }),
      });
    }
  } catch (error) {
    await wire.close();
    throw error;
  }
  console.log(`listening on ${wire.addrs.join(", ")}${role === "verifier" ? " (verifier)" : ""}`);
  const stop = async () => {
    console.log(
      role === "provider"
        ? "stopping: the running job stays resumable"
        : "stopping: open audits and disputes resume at the next start",
    );
    await node.close();
    await wire.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
}

/** `--audit-segments`: a positive count or `all`; undefined when not given. */
function auditSegmentsFlag(value: string | undefined): number | "all" | undefined {
  if (value === undefined || value === "all") return value;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw cliError(
      "CLI_BAD_AUDIT_SEGMENTS",
      `--audit-segments ${value}: give a positive whole number of segments, or all`,
      value,
    );
  }
  return n;
}

if (import.meta.main) await runCli(main, { help: "deno task node --help" });
