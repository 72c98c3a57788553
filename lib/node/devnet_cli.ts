/**
 * `deno task devnet`: the local network in the foreground — a devnet chain with the protocol
 * deployed and N provider nodes — plus the file and the command other processes use to join it.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { devAccountKey } from "../chain/mod.ts";
import { Network } from "./network.ts";

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
const path = `${dataDir}/network.json`;
await Deno.writeTextFile(path, JSON.stringify(network.describe(), null, 2));
const spareKey = devAccountKey(8);
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
