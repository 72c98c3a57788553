/**
 * `deno task devnet`: the local network in the foreground — a devnet chain with the protocol
 * deployed and N provider nodes — plus the file and the command other processes use to join it.
 *
 * The chain mines a block every `--block-time` seconds (anvil alone mines only on transactions):
 * chain time follows the clock, so the challenge window of a job submitted from another process
 * passes and its provider is paid. (Jobs the devnet's own submitter sends move time themselves,
 * `Network.local`'s `fastSettle`; the blocks mined here never jump time, so the two compose.)
 *
 * The data folder is the devnet's: it writes a marker file there, clears what it wrote on the next
 * start, and refuses a folder holding anything it did not create.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { dirname, resolve } from "node:path";
import { devAccountKey, type IntervalMiner, mineEvery } from "../chain/mod.ts";
import { jobMarketAbi } from "../chain/artifacts/JobMarket.ts";
import { claimDataDir, integerFlag, runCli, secondsFlag } from "./cli_input.ts";
import { Network } from "./network.ts";
import { writeJsonAtomic } from "../core/files.ts";

/** Dev accounts 2..6 run the devnet's providers; 7 and 8 stay free for other processes. */
const MAX_PROVIDERS = 5;
/** The dev account the printed command gives to another process's submitter. */
const SUBMITTER_ACCOUNT = 7;
/** The dev account the printed join command gives to an extra provider. */
const EXTRA_PROVIDER_ACCOUNT = 8;
/** Password the printed join command seals the extra provider's peer key with (a devnet key). */
const EXTRA_PROVIDER_PASSWORD = "devnet-node-extra";

/** The file that marks a folder as a devnet's data folder. */
export const DEVNET_DIR_MARKER = ".gensyn-devnet";
/** What the devnet writes into its folder, and so what it clears when it starts there again. */
const DEVNET_ENTRY = /^(network\.json(\.tmp)?|submitter|provider-\d+|verifier-\d+)$/;

const HELP = `deno task devnet: a local chain with the protocol and provider nodes

  --providers N         provider nodes to run, 0 to ${MAX_PROVIDERS} (default 3)
  --data-dir DIR        the devnet's folder (default .data/devnet): a new or empty folder, or
                        one an earlier \`deno task devnet\` made (what it wrote there is cleared)
  --block-time SECONDS  mine a block this often, so chain time follows the clock
                        (default 1; 0: only on transactions)
  --help                this text`;

/** A word as a POSIX shell reads it back unchanged. */
function shellWord(text: string): string {
  return /^[\w/.,:@%+=-]+$/.test(text) ? text : `'${text.replaceAll("'", `'"'"'`)}'`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    strict: true,
    allowPositionals: false,
    options: {
      providers: { type: "string", default: "3" },
      "data-dir": { type: "string", default: ".data/devnet" },
      "block-time": { type: "string", default: "1" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) return console.log(HELP);
  const providers = integerFlag(values.providers, "--providers", { min: 0, max: MAX_PROVIDERS });
  const blockTimeSec = secondsFlag(values["block-time"], "--block-time", { min: 0, max: 3600 });
  // Absolute, so the printed paths work from any folder.
  const dataDir = resolve(values["data-dir"]);
  const written = await claimDataDir(dataDir, {
    marker: DEVNET_DIR_MARKER,
    tool: "deno task devnet",
    owns: (name) => DEVNET_ENTRY.test(name),
  });
  for (const name of written) await Deno.remove(`${dataDir}/${name}`, { recursive: true });

  let miner: IntervalMiner | undefined;
  let stopping = false;
  // The network once started (undefined if the start failed), for a signal that comes first.
  const started = Promise.withResolvers<Network | undefined>();
  const stop = async (status: number) => {
    if (stopping) return;
    stopping = true;
    const network = await started.promise;
    await miner?.stop();
    await network?.close();
    Deno.exit(status);
  };
  Deno.addSignalListener("SIGINT", () => stop(0));
  Deno.addSignalListener("SIGTERM", () => stop(0));
  let network: Network;
  try {
    network = await Network.local({ providers, dataDir, log: (line) => console.log(line) });
  } catch (error) {
    started.resolve(undefined);
    throw error;
  }
  started.resolve(network);
  if (stopping) return;
  const devnet = network.devnet!;
  if (blockTimeSec > 0) {
    miner = mineEvery(devnet, {
      intervalMs: blockTimeSec * 1000,
      onError: (error) => {
        console.error(
          `error DEVNET_CHAIN_LOST: anvil stopped answering (${(error as Error).message}); ` +
            "start `deno task devnet` again",
        );
        stop(1);
      },
    });
  }

  const path = `${dataDir}/network.json`;
  await writeJsonAtomic(path, network.describe(), { indent: 2 });
  const minWindow = await network.chain.public.readContract({
    address: network.chain.addresses.jobMarket,
    abi: jobMarketAbi,
    functionName: "minChallengeWindow",
  });
  const join = [
    `GENSYN_ACCOUNT_KEY=${devAccountKey(EXTRA_PROVIDER_ACCOUNT)}`,
    `GENSYN_NODE_PASSWORD=${EXTRA_PROVIDER_PASSWORD}`,
    "deno task node --network",
    shellWord(path),
    "--data-dir",
    shellWord(`${dirname(dataDir)}/node-extra`),
  ].join(" ");
  const clock = blockTimeSec > 0
    ? `a block every ${blockTimeSec} s, so chain time follows the clock`
    : "blocks only on transactions (--block-time 0): chain time stands still in between";
  console.log(`
devnet ready: chain ${devnet.rpcUrl}, ${network.providers.length} providers, submitter ${network.wire.peerId}
network file: ${path}
chain: ${clock}; jobs need a challenge window of at least ${minWindow} s

join it with another provider (dev account ${EXTRA_PROVIDER_ACCOUNT}, funded with AIGENSYN):
  ${join}

submit from another process: Network.connect with the network file's fields and
  accountKey devAccountKey(${SUBMITTER_ACCOUNT}) (lib/node/network.ts, lib/chain/devnet.ts)

Ctrl-C stops everything.`);
}

if (import.meta.main) await runCli(main, { help: "deno task devnet --help" });
