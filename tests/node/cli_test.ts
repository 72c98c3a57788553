import assert from "node:assert/strict";
import { devAccountKey, startDevnet } from "../../lib/chain/mod.ts";
import type { Hash } from "../../lib/core/hash.ts";
import { NODE_DIR_MARKER } from "../../lib/node/cli.ts";
import type { NetworkFile } from "../../lib/node/network.ts";
import type { JobRecord } from "../../lib/node/records.ts";
import { createJobSpec, type JobSpec, specHashOf } from "../../lib/proof/job.ts";
import { runTool, spawnTool, toolPath, type ToolResult } from "./_cli_process.ts";

const TOKEN = 10n ** 18n;
const ENV = { GENSYN_ACCOUNT_KEY: devAccountKey(3), GENSYN_NODE_PASSWORD: "cli-test" };

/** The tool refused its input the way a user should see it: one typed line, status 2. */
function assertRefused(result: ToolResult, code: string): void {
  const shown = `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
  assert.equal(result.code, 2, shown);
  assert.equal(result.stdout, "", shown);
  const lines = result.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `one line expected, got ${shown}`);
  assert.match(lines[0], new RegExp(`^error ${code}: \\S`), shown);
}

/** A loopback port nothing listens on (it was free a moment ago and stays closed). */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

const ADDRESS_KEYS = [
  "token",
  "staking",
  "jobMarket",
  "disputeGame",
  "verifierRegistry",
  "feeRouter",
  "governor",
  "timelock",
  "stable",
  "uniswapFactory",
  "uniswapRouter",
  "pair",
  "weth",
  "delphi",
];

function networkFile(rpcUrl: string, change: Partial<NetworkFile> = {}): NetworkFile {
  const addresses = Object.fromEntries(ADDRESS_KEYS.map((k) => [k, `0x${"11".repeat(20)}`]));
  return {
    rpcUrl,
    chainId: 31337,
    addresses: addresses as unknown as NetworkFile["addresses"],
    bootstrap: [],
    ...change,
  };
}

Deno.test("deno task node refuses bad flags and files with one typed line", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "cli-test-" });
  try {
    const write = async (name: string, text: string) => {
      await Deno.writeTextFile(`${dir}/${name}`, text);
      return `${dir}/${name}`;
    };
    const down = await write(
      "down.json",
      JSON.stringify(networkFile(`http://127.0.0.1:${closedPort()}`)),
    );
    const noAddresses = await write(
      "no-addresses.json",
      JSON.stringify({ ...networkFile("http://127.0.0.1:8545"), addresses: {} }),
    );
    const badPeer = await write(
      "bad-peer.json",
      JSON.stringify(networkFile("http://127.0.0.1:8545", { bootstrap: ["not-a-multiaddr"] })),
    );
    const notJson = await write("not-json.json", "{ rpcUrl: ");
    const cases: { name: string; args: string[]; env?: Record<string, string>; code: string }[] = [
      { name: "unknown flag", args: ["--network", down, "--stakes", "5"], code: "CLI_BAD_FLAG" },
      { name: "stray argument", args: ["--network", down, "now"], code: "CLI_BAD_FLAG" },
      { name: "flag without value", args: ["--network"], code: "CLI_BAD_FLAG" },
      { name: "no network", args: [], code: "CLI_NO_NETWORK" },
      {
        name: "missing network file",
        args: ["--network", `${dir}/nope.json`],
        code: "CLI_NETWORK_FILE_MISSING",
      },
      {
        name: "network file is a folder",
        args: ["--network", dir],
        code: "CLI_NETWORK_FILE_MISSING",
      },
      { name: "network file not JSON", args: ["--network", notJson], code: "CLI_BAD_NETWORK_FILE" },
      {
        name: "network file without addresses",
        args: ["--network", noAddresses],
        code: "CLI_BAD_NETWORK_FILE",
      },
      { name: "bad bootstrap peer", args: ["--network", badPeer], code: "CLI_BAD_NETWORK_FILE" },
      { name: "bad stake", args: ["--network", down, "--stake", "lots"], code: "CLI_BAD_AMOUNT" },
      {
        name: "bad min price",
        args: ["--network", down, "--min-price", "1.2.3"],
        code: "CLI_BAD_AMOUNT",
      },
      {
        name: "bad parameter limit",
        args: ["--network", down, "--max-parameters", "lots"],
        code: "CLI_BAD_NUMBER",
      },
      {
        name: "bad dataset limit",
        args: ["--network", down, "--max-dataset", "2GB"],
        code: "CLI_BAD_NUMBER",
      },
      {
        name: "bad rpc URL",
        args: ["--network", down, "--rpc", "localhost:8545"],
        code: "CLI_BAD_URL",
      },
      {
        name: "bad listen",
        args: ["--network", down, "--listen", "/nope"],
        code: "CLI_BAD_MULTIADDR",
      },
      {
        name: "bad bootstrap flag",
        args: ["--network", down, "--bootstrap", "peer"],
        code: "CLI_BAD_MULTIADDR",
      },
      {
        name: "unknown profile",
        args: ["--network", down, "--profile", "gpu9"],
        code: "PROFILE_UNKNOWN",
      },
      {
        name: "no account key",
        args: ["--network", down],
        env: { GENSYN_ACCOUNT_KEY: "" },
        code: "CLI_NO_ACCOUNT",
      },
      {
        name: "malformed account key",
        args: ["--network", down],
        env: { GENSYN_ACCOUNT_KEY: "0x1234" },
        code: "CLI_NO_ACCOUNT",
      },
      {
        name: "missing key file",
        args: ["--network", down, "--account-key-file", `${dir}/key`],
        code: "CLI_ACCOUNT_KEY_FILE",
      },
      {
        name: "no password",
        args: ["--network", down],
        env: { GENSYN_NODE_PASSWORD: "" },
        code: "CLI_NO_PASSWORD",
      },
      { name: "unreachable chain", args: ["--network", down], code: "CLI_RPC_UNREACHABLE" },
      {
        name: "unreachable --rpc",
        args: ["--network", down, "--rpc", `http://127.0.0.1:${closedPort()}`],
        code: "CLI_RPC_UNREACHABLE",
      },
    ];
    for (const c of cases) {
      await t.step(c.name, async () => {
        const dataDir = `${dir}/data-${c.name.replaceAll(" ", "-")}`;
        const result = await runTool("cli", [...c.args, "--data-dir", dataDir], {
          ...ENV,
          ...c.env,
        });
        assertRefused(result, c.code);
        // Refused before it wrote anything.
        await assert.rejects(Deno.stat(dataDir), Deno.errors.NotFound);
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A job spec with placeholder blobs (the node only reads its records' specs here). */
function placeholderSpec(): JobSpec {
  return createJobSpec({
    model: "aa".repeat(32),
    datasetBlob: "bb".repeat(32),
    datasetId: "cc".repeat(32),
    steps: 10,
    batchSize: 4,
    k: 10,
    priceWei: 10n * TOKEN,
  });
}

/** Writes a record as the node would have left it, with the update time given. */
async function writeRecord(dataDir: string, record: JobRecord): Promise<void> {
  await Deno.mkdir(`${dataDir}/jobs/${record.jobId}`, { recursive: true });
  await Deno.writeTextFile(`${dataDir}/jobs/${record.jobId}/record.json`, JSON.stringify(record));
}

Deno.test("deno task node against a devnet: chain checks, data dirs, stale job records", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "cli-test-" });
  await using devnet = await startDevnet();
  try {
    const file: NetworkFile = {
      rpcUrl: devnet.rpcUrl,
      chainId: 31337,
      addresses: devnet.addresses,
      bootstrap: [],
    };
    const write = async (name: string, value: NetworkFile) => {
      await Deno.writeTextFile(`${dir}/${name}`, JSON.stringify(value));
      return `${dir}/${name}`;
    };
    const good = await write("network.json", file);

    await t.step("another chain id, or no protocol at the addresses", async () => {
      const otherChain = await write("other-chain.json", { ...file, chainId: 1 });
      assertRefused(
        await runTool("cli", ["--network", otherChain, "--data-dir", `${dir}/n1`], ENV),
        "CLI_CHAIN_MISMATCH",
      );
      const noProtocol = await write("no-protocol.json", networkFile(devnet.rpcUrl));
      assertRefused(
        await runTool("cli", ["--network", noProtocol, "--data-dir", `${dir}/n1`], ENV),
        "CLI_NO_PROTOCOL",
      );
    });

    await t.step("a data dir holding files the node did not create is refused", async () => {
      const foreign = `${dir}/mine`;
      await Deno.mkdir(foreign);
      await Deno.writeTextFile(`${foreign}/notes.txt`, "keep me");
      const refused = await runTool("cli", ["--network", good, "--data-dir", foreign], ENV);
      assertRefused(refused, "CLI_DATA_DIR_FOREIGN");
      assert.match(refused.stderr, /notes\.txt/);
      assert.deepEqual([...Deno.readDirSync(foreign)].map((e) => e.name), ["notes.txt"]);
      assert.equal(await Deno.readTextFile(`${foreign}/notes.txt`), "keep me");

      await Deno.writeTextFile(`${dir}/a-file`, "");
      assertRefused(
        await runTool("cli", ["--network", good, "--data-dir", `${dir}/a-file`], ENV),
        "CLI_DATA_DIR_NOT_DIR",
      );
    });

    await t.step("records of jobs this chain does not hold are set aside, once each", async () => {
      const submitter = devnet.client(1);
      const provider = devnet.client(3);
      // Job C: this chain's, committed by the node's account, its window still open.
      const spec = placeholderSpec();
      const created = await submitter.jobs.create({
        specHash: `0x${await specHashOf(spec)}`,
        paymentWei: 10n * TOKEN,
        timeoutSec: 3600,
        challengeWindowSec: 60,
        checkpointInterval: 10,
        steps: 10,
        requiredStakeWei: 10n * TOKEN,
      });
      const idC = created.jobId.slice(2);
      await provider.staking.stake({ amountWei: 100n * TOKEN });
      await provider.jobs.claim({ jobId: created.jobId });
      await provider.jobs.commit({
        jobId: created.jobId,
        finalStateHash: `0x${"12".repeat(32)}`,
        traceRoot: `0x${"34".repeat(32)}`,
      });
      const record = (jobId: Hash, updatedAt: number): JobRecord => ({
        jobId,
        spec,
        submitter: devnet.accounts[1],
        submitterPeer: "12D3KooWplaceholder",
        status: "committed",
        slot: 0,
        finalHash: "12".repeat(32),
        traceRoot: "34".repeat(32),
        updatedAt,
      });
      const nodeDir = `${dir}/node`;
      await Deno.mkdir(nodeDir);
      await Deno.writeTextFile(`${nodeDir}/${NODE_DIR_MARKER}`, "");
      await writeRecord(nodeDir, record(idC, Date.now()));
      // Job A: committed on an earlier chain (a devnet that restarted), there when the node starts.
      const idA = await specHashOf(placeholderSpec());
      await writeRecord(nodeDir, record(idA, Date.now()));

      const node = spawnTool(Deno.execPath(), [
        "run",
        "-A",
        toolPath("cli"),
        "--network",
        good,
        "--data-dir",
        nodeDir,
        "--stake",
        "100",
      ], { env: ENV });
      try {
        await node.waitFor(/^listening on /, "the node starts");
        const setAside = (id: Hash) =>
          node.lines.filter((l) => l.includes(`job ${id.slice(0, 10)}: set aside`));
        assert.equal(setAside(idA).length, 1, node.lines.join("\n"));
        assert.match(setAside(idA)[0], /does not exist on this chain/);
        const staleA = JSON.parse(
          await Deno.readTextFile(`${nodeDir}/jobs/stale/${idA}/record.json`),
        ) as JobRecord;
        assert.equal(staleA.jobId, idA);
        assert.match(
          await Deno.readTextFile(`${nodeDir}/jobs/stale/${idA}/stale.txt`),
          /this chain/,
        );

        // Job B: stale too, and older than C, so the settlement loop meets it first.
        const idB = await specHashOf(placeholderSpec());
        await writeRecord(nodeDir, record(idB, 1));
        await node.waitFor(
          new RegExp(`job ${idB.slice(0, 10)}: set aside`),
          "the running node sets the stale record aside",
        );
        await devnet.increaseTime(61);
        await node.waitFor(new RegExp(`job ${idC.slice(0, 10)}: paid`), "C is paid past B");
        const paid = JSON.parse(
          await Deno.readTextFile(`${nodeDir}/jobs/${idC}/record.json`),
        ) as JobRecord;
        assert.equal(paid.status, "paid");
        assert.equal(setAside(idA).length, 1, node.lines.join("\n"));
        assert.equal(setAside(idB).length, 1, node.lines.join("\n"));
        assert.deepEqual(node.lines.filter((l) => l.includes("settlement check failed")), []);
        await assert.rejects(Deno.stat(`${nodeDir}/jobs/${idB}`), Deno.errors.NotFound);
        await Deno.stat(`${nodeDir}/jobs/stale/${idB}/record.json`);
      } finally {
        const status = await node.stop();
        assert.equal(status.code, 0, node.lines.join("\n"));
      }
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
