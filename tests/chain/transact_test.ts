import assert from "node:assert/strict";
import { tokenAbi } from "../../lib/chain/artifacts/Token.ts";
import { type ChainClient, type Devnet, send, startDevnet } from "../../lib/chain/mod.ts";
import { TOKEN } from "./_devnet.ts";

async function rpc(devnet: Devnet, method: string, params: unknown[]): Promise<void> {
  const response = await fetch(devnet.rpcUrl, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  const body = await response.json() as { error?: { message: string } };
  if (body.error) throw new Error(`${method}: ${body.error.message}`);
}

/**
 * The client with its gas estimates taken in one second and its transactions mined in the next,
 * as happens when the clock ticks between `eth_estimateGas` and the block.
 */
function clockTicksAfterEstimate(devnet: Devnet, client: ChainClient): ChainClient {
  const estimateThenTick: ChainClient["public"]["estimateContractGas"] = async (args) => {
    const gas = await client.public.estimateContractGas(args);
    const { timestamp } = await client.public.getBlock({ blockTag: "latest" });
    await rpc(devnet, "evm_setNextBlockTimestamp", [Number(timestamp) + 1]);
    return gas;
  };
  const publicClient = new Proxy(client.public, {
    get: (target, key, receiver) =>
      key === "estimateContractGas" ? estimateThenTick : Reflect.get(target, key, receiver),
  });
  return { ...client, public: publicClient };
}

Deno.test("a burn estimated in one second and mined in the next has gas enough", async () => {
  await using devnet = await startDevnet();
  const burner = devnet.client(1);
  const burn = (client: ChainClient) =>
    send(client, {
      address: devnet.addresses.token,
      abi: tokenAbi,
      functionName: "burn",
      args: [TOKEN],
      action: "token.burn",
    });
  // The first burn checkpoints the total supply (ERC20Votes) at its block's timestamp; estimated in
  // that same second, a second burn updates the checkpoint in place, but mined a second later it
  // pushes a new one: a fresh storage slot the estimate did not pay for.
  const first = await burn(burner);
  const { timestamp } = await burner.public.getBlock({ blockNumber: first.receipt.blockNumber });
  await rpc(devnet, "evm_setNextBlockTimestamp", [Number(timestamp)]);
  const second = await burn(clockTicksAfterEstimate(devnet, burner));
  const mined = await burner.public.getBlock({ blockNumber: second.receipt.blockNumber });
  assert.equal(mined.timestamp, timestamp + 1n);
});

Deno.test("transactions sent at once from one account, by two clients of it, all land", async () => {
  await using devnet = await startDevnet();
  // Two clients of one account, as a node and a tool in one process hold: each read of the
  // nonce must come after the account's previous transaction reached the node.
  const clients = [devnet.client(1), devnet.client(1)];
  const to = devnet.accounts[2];
  const before = await clients[0].token.balanceOf({ account: to });
  const sends = Array.from(
    { length: 8 },
    (_, i) => clients[i % 2].token.transfer({ to, amountWei: TOKEN }),
  );
  const results = await Promise.allSettled(sends);
  const failed = results.filter((r) => r.status === "rejected").map((r) =>
    (r as PromiseRejectedResult).reason.message
  );
  assert.deepEqual(failed, []);
  assert.equal(await clients[0].token.balanceOf({ account: to }), before + 8n * TOKEN);
});

Deno.test("approve-then-pull calls sent at once from one account all land", async () => {
  await using devnet = await startDevnet();
  // Three stakes at once, none approved before: each approves and then pulls, and no pull may
  // find the allowance another one used up.
  const staker = devnet.client(3);
  const before = await staker.staking.get();
  const results = await Promise.allSettled(
    [1n, 2n, 3n].map((n) => staker.staking.stake({ amountWei: n * TOKEN })),
  );
  const failed = results.filter((r) => r.status === "rejected").map((r) =>
    (r as PromiseRejectedResult).reason.message
  );
  assert.deepEqual(failed, []);
  assert.equal((await staker.staking.get()).stakedWei, before.stakedWei + 6n * TOKEN);
});
