import assert from "node:assert/strict";
import { createPublicClient, http } from "viem";
import { tokenAbi } from "../../lib/chain/artifacts/Token.ts";
import {
  ChainError,
  type DecodedLog,
  type Devnet,
  fileCursor,
  followLogs,
  type FollowLogsOptions,
  type PublicClient,
  readLogs,
  retryChainCall,
  startDevnet,
} from "../../lib/chain/mod.ts";

type Transfer = DecodedLog<typeof tokenAbi, "Transfer">;

/** A public client that counts its log reads and fails its first `failFirst` calls. */
function spiedClient(
  client: PublicClient,
  options: { failFirst?: number } = {},
): { client: PublicClient; ranges: [bigint, bigint][]; calls: () => number } {
  const ranges: [bigint, bigint][] = [];
  let calls = 0;
  let failing = options.failFirst ?? 0;
  const spied = new Proxy(client, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      if (key !== "getBlockNumber" && key !== "getContractEvents") return value;
      return (args: { fromBlock?: bigint; toBlock?: bigint }) => {
        calls++;
        if (failing > 0) {
          failing--;
          return Promise.reject(new Error(`injected failure of ${String(key)}`));
        }
        if (key === "getContractEvents") ranges.push([args.fromBlock!, args.toBlock!]);
        return (value as (a: unknown) => Promise<unknown>).call(target, args);
      };
    },
  });
  return { client: spied, ranges, calls: () => calls };
}

/** Sends `amounts` from account 1 to account 2, one transaction (and block) each. */
async function transfers(devnet: Devnet, amounts: bigint[]): Promise<bigint[]> {
  const blocks: bigint[] = [];
  for (const amountWei of amounts) {
    const { receipt } = await devnet.client(1).token.transfer({
      to: devnet.accounts[2],
      amountWei,
    });
    blocks.push(receipt.blockNumber);
  }
  return blocks;
}

/** The follower's options for account 1's token transfers. */
function transfersOf(
  devnet: Devnet,
  extra: Partial<FollowLogsOptions<typeof tokenAbi, "Transfer">> = {},
): FollowLogsOptions<typeof tokenAbi, "Transfer"> {
  return {
    client: devnet.deployer.public,
    address: devnet.addresses.token,
    abi: tokenAbi,
    eventName: "Transfer",
    args: { from: devnet.accounts[1] },
    pollMs: 20,
    ...extra,
  };
}

/**
 * Follows with `options` until `count` logs arrived, then stops; fails if they did not arrive
 * within `timeoutMs`.
 */
async function collect(
  options: FollowLogsOptions<typeof tokenAbi, "Transfer">,
  count: number,
  timeoutMs = 20_000,
): Promise<Transfer[][]> {
  const got: Transfer[][] = [];
  let n = 0;
  const signal = AbortSignal.any([
    AbortSignal.timeout(timeoutMs),
    ...(options.signal ? [options.signal] : []),
  ]);
  for await (const batch of followLogs({ ...options, signal })) {
    got.push([...batch]);
    n += batch.length;
    if (n >= count) break;
  }
  assert.ok(n >= count, `only ${n} of ${count} logs arrived within ${timeoutMs} ms`);
  return got;
}

Deno.test("followLogs", async (t) => {
  await using devnet = await startDevnet();
  const dir = await Deno.makeTempDir({ prefix: "follow-test-" });
  try {
    await t.step("delivers batches in block and log order", async () => {
      const start = await devnet.deployer.public.getBlockNumber();
      const blocks = await transfers(devnet, [1n, 2n, 3n]);
      const got = await collect(transfersOf(devnet, { fromBlock: start + 1n }), 3);
      const logs = got.flat();
      assert.deepEqual(logs.map((l) => l.args.value), [1n, 2n, 3n]);
      assert.deepEqual(logs.map((l) => l.blockNumber), blocks);
      assert.ok(got.every((batch) => batch.length > 0), "an empty batch was yielded");
      // The same logs as a one-off read.
      const read = await readLogs({ ...transfersOf(devnet), fromBlock: start + 1n });
      assert.deepEqual(read.map((l) => l.args.value), [1n, 2n, 3n]);
    });

    await t.step("reads no more than blocksPerCall blocks per call", async () => {
      const start = await devnet.deployer.public.getBlockNumber();
      await transfers(devnet, [11n, 12n, 13n, 14n, 15n]);
      const spy = spiedClient(devnet.deployer.public);
      const got = await collect(
        transfersOf(devnet, { client: spy.client, fromBlock: start + 1n, blocksPerCall: 2 }),
        5,
      );
      assert.deepEqual(got.flat().map((l) => l.args.value), [11n, 12n, 13n, 14n, 15n]);
      assert.ok(spy.ranges.length >= 3, `${spy.ranges.length} calls for 5 blocks`);
      for (const [from, to] of spy.ranges) assert.ok(to - from + 1n <= 2n, `${from}..${to}`);
      // Contiguous: each range starts where the last ended.
      for (let i = 1; i < spy.ranges.length; i++) {
        assert.equal(spy.ranges[i][0], spy.ranges[i - 1][1] + 1n);
      }
      const read = await readLogs({
        ...transfersOf(devnet),
        client: spy.client,
        fromBlock: start + 1n,
        blocksPerCall: 2,
      });
      assert.deepEqual(read.map((l) => l.args.value), [11n, 12n, 13n, 14n, 15n]);
    });

    await t.step("leaves the latest `confirmations` blocks unread", async () => {
      const [block] = await transfers(devnet, [21n]);
      const spy = spiedClient(devnet.deployer.public);
      const batches = followLogs(
        transfersOf(devnet, { client: spy.client, fromBlock: block, confirmations: 2 }),
      );
      const first = batches.next();
      // The follower polls, but reads nothing: the transfer is not 2 blocks deep yet.
      await waitFor(() => spy.calls() >= 3, "three polls");
      assert.deepEqual(spy.ranges, []);
      await devnet.mine();
      await devnet.mine();
      const { value } = await first;
      assert.deepEqual((value as Transfer[]).map((l) => l.args.value), [21n]);
      assert.deepEqual(spy.ranges[0], [block, block]);
      await batches.return();
    });

    await t.step("a saved cursor resumes after the last processed batch", async () => {
      const path = `${dir}/transfers.json`;
      const genesis = (await devnet.deployer.public.getBlock({ blockNumber: 0n })).hash;
      const start = await devnet.deployer.public.getBlockNumber();
      await transfers(devnet, [31n]);
      const first = followLogs(
        transfersOf(devnet, {
          fromBlock: start + 1n,
          cursor: fileCursor(path, { chain: genesis }),
        }),
      );
      const a = await first.next();
      assert.deepEqual((a.value as Transfer[]).map((l) => l.args.value), [31n]);
      await transfers(devnet, [32n]);
      // Asking for the next batch marks the first processed.
      const b = await first.next();
      assert.deepEqual((b.value as Transfer[]).map((l) => l.args.value), [32n]);
      await first.return(); // stopped while processing 32: it is not saved as processed
      const saved = await fileCursor(path, { chain: genesis }).load();
      assert.equal(saved, (b.value as Transfer[])[0].blockNumber);

      // A restarted follower (its fromBlock ignored) starts with 32, not 31.
      const again = await collect(
        transfersOf(devnet, { cursor: fileCursor(path, { chain: genesis }) }),
        1,
      );
      assert.deepEqual(again.flat().map((l) => l.args.value), [32n]);
      // A cursor saved for another chain is not used.
      assert.equal(await fileCursor(path, { chain: "0xother" }).load(), undefined);
    });

    await t.step("retries failed calls, reporting each stall, and recovers", async () => {
      const start = await devnet.deployer.public.getBlockNumber();
      await transfers(devnet, [41n]);
      const spy = spiedClient(devnet.deployer.public, { failFirst: 3 });
      const stalls: [string, number][] = [];
      const got = await collect(
        transfersOf(devnet, {
          client: spy.client,
          fromBlock: start + 1n,
          pollMs: 5,
          onStall: (error, failures) => stalls.push([error.message, failures]),
        }),
        1,
      );
      assert.deepEqual(got.flat().map((l) => l.args.value), [41n]);
      assert.deepEqual(stalls.map(([, n]) => n), [1, 2, 3]);
      assert.match(stalls[0][0], /injected failure/);
    });

    await t.step("gives up with CHAIN_STALLED after maxFailures", async () => {
      // Nothing listens on port 1: every call is refused.
      const refused = createPublicClient({
        transport: http("http://127.0.0.1:1", { retryCount: 0 }),
      });
      const stalls: number[] = [];
      const batches = followLogs(transfersOf(devnet, {
        client: refused as PublicClient,
        pollMs: 5,
        maxFailures: 3,
        onStall: (_, failures) => stalls.push(failures),
      }));
      await assert.rejects(batches.next(), (error) => {
        assert.ok(error instanceof ChainError);
        assert.equal(error.code, "CHAIN_STALLED");
        assert.match(error.message, /failed 3 times in a row.*check that the chain's RPC endpoint/);
        return true;
      });
      assert.deepEqual(stalls, [1, 2, 3]);
      await assert.rejects(
        retryChainCall(() => refused.getBlockNumber(), { pollMs: 5, maxFailures: 2 }),
        (error) => error instanceof ChainError && error.code === "CHAIN_STALLED",
      );
    });

    await t.step("ends promptly when aborted, while polling or backing off", async () => {
      // Caught up, waiting a long poll interval.
      const head = await devnet.deployer.public.getBlockNumber();
      const stopped = new AbortController();
      const waiting = followLogs(transfersOf(devnet, {
        client: spiedClient(devnet.deployer.public).client,
        fromBlock: head + 1n,
        pollMs: 60_000,
        signal: stopped.signal,
      }));
      const next = waiting.next();
      let t0 = 0;
      setTimeout(() => {
        t0 = performance.now();
        stopped.abort();
      }, 100);
      assert.deepEqual(await next, { done: true, value: undefined });
      assert.ok(performance.now() - t0 < 1_000, "took longer than 1 s to stop");

      // Backing off after failures, with a long wait.
      const backingOff = new AbortController();
      const failing = followLogs(transfersOf(devnet, {
        client: spiedClient(devnet.deployer.public, { failFirst: 1_000 }).client,
        pollMs: 60_000,
        signal: backingOff.signal,
        onStall: () => setTimeout(() => backingOff.abort(), 50),
      }));
      const t1 = performance.now();
      assert.deepEqual(await failing.next(), { done: true, value: undefined });
      assert.ok(performance.now() - t1 < 1_000, "took longer than 1 s to stop");
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Waits until `ready()` holds, failing loudly after 10 s. */
async function waitFor(ready: () => boolean, what: string): Promise<void> {
  const until = Date.now() + 10_000;
  while (!ready()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
