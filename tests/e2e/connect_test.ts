import assert from "node:assert/strict";
import { devAccountKey } from "../../lib/chain/mod.ts";
import { loadMnist } from "../../lib/exec/mnist.ts";
import { mlp } from "../../lib/exec/zoo.ts";
import { Network, type NetworkFile } from "../../lib/node/network.ts";

/** JSON-RPC call to the devnet's chain. */
async function rpc(url: string, method: string, params: unknown[]): Promise<unknown> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  return (await response.json()).result;
}

Deno.test("a submitter in another process joins `deno task devnet` with Network.connect", async () => {
  const dir = await Deno.makeTempDir({ prefix: "connect-test-" });
  const devnet = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../../lib/node/devnet_cli.ts", import.meta.url).pathname,
      "--providers",
      "2",
      "--data-dir",
      `${dir}/devnet`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdout = devnet.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const stderr = new Response(devnet.stderr).text();
  try {
    let seen = "";
    while (!seen.includes("devnet ready")) {
      const { value, done } = await stdout.read();
      if (done) throw new Error(`devnet exited:\n${seen}\n${await stderr}`);
      seen += value;
    }
    assert.match(
      seen,
      /GENSYN_ACCOUNT_KEY=0x[0-9a-f]{64} GENSYN_NODE_PASSWORD=\S+ deno task node --network/,
    );
    const file = JSON.parse(
      await Deno.readTextFile(`${dir}/devnet/network.json`),
    ) as NetworkFile;
    await using network = await Network.connect({
      rpcUrl: file.rpcUrl,
      chainId: file.chainId,
      addresses: file.addresses,
      bootstrap: file.bootstrap,
      accountKey: devAccountKey(7),
      dataDir: `${dir}/submitter`,
      password: "connect-test",
    });
    const job = await network.train({
      model: mlp({ hidden: [32] }),
      data: await loadMnist({ limit: 2048 }),
      steps: 40,
      batchSize: 32,
      k: 10,
      challengeWindowSec: 60,
    });
    const result = await job.result();
    assert.equal(result.trace.checkpoints.length, 5);
    // A real chain would let the challenge window pass; on the devnet we move its clock.
    await rpc(file.rpcUrl, "evm_increaseTime", [61]);
    await rpc(file.rpcUrl, "evm_mine", []);
    const { paidWei, feeWei } = await job.settled();
    assert.equal(paidWei + feeWei, 10n * 10n ** 18n);
    result.model.dispose();
  } finally {
    devnet.kill("SIGTERM");
    await devnet.status;
    await stdout.cancel();
    await stderr;
    await Deno.remove(dir, { recursive: true });
  }
});
