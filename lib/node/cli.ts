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
 * under `--data-dir` with the password in `$GENSYN_NODE_PASSWORD`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { privateKeyToAccount } from "viem/accounts";
import { createChainClient, createProtocolClient } from "../chain/mod.ts";
import { BlobStore } from "../proof/store.ts";
import { ToolkitError } from "../core/errors.ts";
import { parseUnits } from "../core/units.ts";
import { createP2PWire } from "./p2p_wire.ts";
import type { NetworkFile } from "./network.ts";
import { ProviderNode } from "./provider.ts";

const HELP = `deno task node: run a provider node

  --network FILE        network description written by \`deno task devnet\`
                        (rpc URL, contract addresses, bootstrap peers)
  --rpc URL             JSON-RPC endpoint (overrides the network file)
  --bootstrap ADDR      multiaddr of a peer to join through (repeatable; adds to the file's)
  --data-dir DIR        keys, job records, blobs and checkpoints (default .data/node)
  --stake AMOUNT        AIGENSYN to keep staked (default 1000)
  --min-price AMOUNT    refuse jobs paying less, in AIGENSYN (default 0)
  --profile ID          execution profile: wasm (default), wasm-scalar, cpu
  --listen ADDR         multiaddr to listen on (default /ip4/127.0.0.1/tcp/0)
  --account-key-file F  file holding the account's 0x private key (or $GENSYN_ACCOUNT_KEY)
  --help                this text

Environment: GENSYN_ACCOUNT_KEY (account key), GENSYN_NODE_PASSWORD (peer key encryption).`;

function tokens(text: string, flag: string): bigint {
  try {
    return parseUnits(text, 18);
  } catch {
    throw new ToolkitError(
      "CLI_BAD_AMOUNT",
      `${flag} takes an amount of AIGENSYN like 1000 or 2.5`,
    );
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      network: { type: "string" },
      rpc: { type: "string" },
      bootstrap: { type: "string", multiple: true, default: [] },
      "data-dir": { type: "string", default: ".data/node" },
      stake: { type: "string", default: "1000" },
      "min-price": { type: "string", default: "0" },
      profile: { type: "string", default: "wasm" },
      listen: { type: "string", default: "/ip4/127.0.0.1/tcp/0" },
      "account-key-file": { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) return console.log(HELP);
  if (!values.network) {
    throw new ToolkitError(
      "CLI_NO_NETWORK",
      "give --network FILE (start a local one with `deno task devnet`, which prints the file)",
    );
  }
  const network = JSON.parse(await Deno.readTextFile(values.network)) as NetworkFile;
  const keyText = values["account-key-file"]
    ? (await Deno.readTextFile(values["account-key-file"])).trim()
    : Deno.env.get("GENSYN_ACCOUNT_KEY");
  if (!keyText || !/^0x[0-9a-fA-F]{64}$/.test(keyText)) {
    throw new ToolkitError(
      "CLI_NO_ACCOUNT",
      "the node needs its account key: set GENSYN_ACCOUNT_KEY=0x... or pass --account-key-file",
    );
  }
  const chain = createProtocolClient(createChainClient({
    rpcUrl: values.rpc ?? network.rpcUrl,
    chainId: network.chainId,
    addresses: network.addresses,
    account: privateKeyToAccount(keyText as `0x${string}`),
  }));
  const dataDir = values["data-dir"];
  const wire = await createP2PWire({
    dataDir,
    chain,
    store: new BlobStore(dataDir),
    listen: [values.listen],
    bootstrap: [...network.bootstrap, ...values.bootstrap],
  });
  const node = await ProviderNode.start({
    dataDir,
    chain,
    wire,
    peerPrivateKey: wire.peerPrivateKey,
    profile: values.profile,
    stakeWei: tokens(values.stake, "--stake"),
    minPriceWei: tokens(values["min-price"], "--min-price"),
  });
  console.log(`listening on ${wire.addrs.join(", ")}`);
  const stop = async () => {
    console.log("stopping: the running job stays resumable");
    await node.close();
    await wire.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
}

if (import.meta.main) {
  try {
    await main();
  } catch (error) {
    if (error instanceof ToolkitError) {
      console.error(`error ${error.code}: ${error.message}`);
      Deno.exit(2);
    }
    throw error;
  }
}
