/**
 * `deno task devnet`: the local network in the foreground — a devnet chain with the protocol
 * deployed and N provider nodes — plus the file and the command other processes use to join it.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { mnemonicToAccount } from "viem/accounts";
import { toHex } from "../core/hash.ts";
import type { NetworkFile } from "./cli.ts";
import { Network } from "./network.ts";

/** Anvil's default dev mnemonic: its accounts are public test keys, funded only on devnets. */
const DEV_MNEMONIC = "test test test test test test test test test test test junk";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    providers: { type: "string", default: "3" },
    "data-dir": { type: "string", default: ".data/devnet" },
    help: { type: "boolean", default: false },
  },
});
if (values.help) {
  console.log("deno task devnet [--providers 3] [--data-dir .data/devnet]");
  Deno.exit(0);
}
const dataDir = values["data-dir"];
await Deno.remove(dataDir, { recursive: true }).catch(() => {/* nothing from a previous run */});
await Deno.mkdir(dataDir, { recursive: true });
const network = await Network.local({
  providers: Number(values.providers),
  dataDir,
  log: (line) => console.log(line),
});
const devnet = network.devnet!;
const file: NetworkFile = {
  rpcUrl: devnet.rpcUrl,
  chainId: network.chain.chainId,
  addresses: devnet.addresses,
  bootstrap: [...network.wire.addrs],
};
const path = `${dataDir}/network.json`;
await Deno.writeTextFile(path, JSON.stringify(file, null, 2));
const spare = mnemonicToAccount(DEV_MNEMONIC, { addressIndex: 8 });
const spareKey = `0x${toHex(spare.getHdKey().privateKey!)}`;
console.log(`
devnet ready: chain ${devnet.rpcUrl}, ${network.providers.length} providers, submitter ${network.wire.peerId}
network file: ${path}

join it with another provider (dev account 8, funded with AIGENSYN):
  GENSYN_ACCOUNT_KEY=${spareKey} deno task node --network ${path} --data-dir .data/node-extra

Ctrl-C stops everything.`);
const stop = async () => {
  await network.close();
  Deno.exit(0);
};
Deno.addSignalListener("SIGINT", stop);
Deno.addSignalListener("SIGTERM", stop);
