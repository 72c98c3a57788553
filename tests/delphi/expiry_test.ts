import assert from "node:assert/strict";
import { testStableAbi } from "../../lib/chain/artifacts/TestStable.ts";
import { startDevnet } from "../../lib/chain/mod.ts";
import type { Address } from "../../lib/chain/types.ts";
import { delphi, MarketClosedError, MarketError } from "../../lib/delphi/mod.ts";

const USD = 10n ** 6n;

Deno.test("an unresolved market expires and lets every holder out at its final prices", async (t) => {
  await using devnet = await startDevnet();
  const balance = (account: Address): Promise<bigint> =>
    devnet.deployer.public.readContract({
      address: devnet.addresses.stable,
      abi: testStableAbi,
      functionName: "balanceOf",
      args: [account],
    });
  const creator = devnet.client(1);
  const traders = [2, 3, 4].map((i) => devnet.client(i));
  const market = await delphi(creator).create({
    question: "Which of four models has the lowest loss?",
    outcomes: [1, 2, 3, 4].map((i) => i.toString(16).padStart(64, "0")),
    evaluation: { datasetId: "cd".repeat(32), metric: "loss", profile: "cpu" },
    liquidity: 500n * USD,
    closeInSec: 600,
    resolveWithinSec: 3600,
  });
  let fees = 0n;
  for (const [i, trader] of traders.entries()) {
    const trade = await market.as(trader).buy({ outcome: i, shares: BigInt(40 + 30 * i) * USD });
    fees += trade.fee;
  }
  fees += (await market.as(traders[0]).buy({ outcome: 2, shares: 25n * USD })).fee;

  await t.step("past the deadline the market is expired: no trading, no resolution", async () => {
    await devnet.increaseTime(600 + 3600 + 1);
    const info = await market.info();
    assert.equal(info.phase, "Expired");
    assert.equal(info.direction, "lower");
    await assert.rejects(
      market.as(traders[1]).buy({ outcome: 0, shares: USD }),
      MarketClosedError,
    );
    try {
      await market.resolve({ scores: [1n, 2n, 3n, 4n], traceRoot: `0x${"22".repeat(32)}` });
      assert.fail("resolved an expired market");
    } catch (error) {
      assert.ok(error instanceof MarketClosedError);
      assert.equal(error.errorName, "MarketExpired");
    }
  });

  await t.step(
    "each share redeems at its final price, rounded down; nothing stays behind",
    async () => {
      const { supplies, expsWad } = await market.prices();
      const { sumExpWad } = await market.info();
      for (const trader of traders) {
        const positions = await market.as(trader).positions();
        const expected = positions.reduce(
          (s, p) => s + p.shares * expsWad[p.outcome] / sumExpWad,
          0n,
        );
        const before = await balance(trader.account);
        const got = (await market.as(trader).redeem()).reduce((s, r) => s + r.payout, 0n);
        assert.equal(got, expected);
        assert.equal((await balance(trader.account)) - before, expected);
        assert.ok(got > 0n);
      }
      assert.deepEqual((await market.prices()).supplies, supplies.map(() => 0n));
      const { amount } = await market.withdrawLiquidity();
      assert.ok(amount > 0n);
      // Holders paid at prices, the creator took the rest: only the fees remain, for the router.
      assert.equal(await balance(devnet.addresses.delphi), fees);
      await assert.rejects(market.withdrawLiquidity(), MarketError);
      assert.equal((await market.sweepFees()).amount, fees);
      assert.equal(await balance(devnet.addresses.delphi), 0n);
    },
  );
});
