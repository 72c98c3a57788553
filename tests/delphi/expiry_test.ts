import assert from "node:assert/strict";
import { delphiAbi } from "../../lib/chain/artifacts/Delphi.ts";
import { testStableAbi } from "../../lib/chain/artifacts/TestStable.ts";
import { send, startDevnet } from "../../lib/chain/mod.ts";
import type { Address } from "../../lib/chain/types.ts";
import {
  delphi,
  EvaluationError,
  MarketClosedError,
  MarketError,
  RefundModeError,
} from "../../lib/delphi/mod.ts";
import { LedgerModel } from "./_reference.ts";

const USD = 10n ** 6n;
const TOKEN = 10n ** 18n;

Deno.test("an unresolved market expires and refunds every deposit, whoever holds the shares", async (t) => {
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
  const receiver = devnet.client(5); // gets shares by transfer, never deposits
  const funding = 500n * USD;
  const payment = 10n * TOKEN;
  const creatorTokens = await creator.token.balanceOf({ account: creator.account });
  const market = await delphi(creator).create({
    question: "Which of four models has the lowest loss?",
    outcomes: [1, 2, 3, 4].map((i) => i.toString(16).padStart(64, "0")),
    evaluation: {
      datasetId: "cd".repeat(32),
      metric: "loss",
      profile: "cpu",
      paymentWei: payment,
      stakeWei: 100n * TOKEN,
    },
    liquidity: funding,
    closeInSec: 600,
  });
  const info0 = await market.info();
  const model = new LedgerModel(funding);
  const spent = new Map<string, bigint>();
  const received = new Map<string, bigint>();
  const fees = new Map<string, bigint>();
  const add = (m: Map<string, bigint>, a: Address, v: bigint) => m.set(a, (m.get(a) ?? 0n) + v);

  await t.step(
    "trades: buys, a sale at a gain (held), shares moved to another account",
    async () => {
      for (const [i, trader] of traders.entries()) {
        const b = await market.as(trader).buy({ outcome: i, shares: BigInt(40 + 30 * i) * USD });
        model.buy(trader.account, b.collateral, b.fee);
        add(spent, trader.account, b.total);
        add(fees, trader.account, b.fee);
      }
      // Trader 0 bought outcome 0 cheap; trader 1 pushes it up; trader 0 sells at a gain.
      const push = await market.as(traders[1]).buy({ outcome: 0, shares: 300n * USD });
      model.buy(traders[1].account, push.collateral, push.fee);
      add(spent, traders[1].account, push.total);
      add(fees, traders[1].account, push.fee);
      const sold = await market.as(traders[0]).sell({ outcome: 0, shares: 40n * USD });
      const expected = model.sell(traders[0].account, sold.collateral, sold.fee);
      assert.ok(sold.held > 0n, "the gain is held");
      assert.equal(sold.held, expected.held);
      assert.equal(sold.total - sold.held, expected.paidNow);
      add(received, traders[0].account, expected.paidNow);
      add(fees, traders[0].account, sold.fee); // its deposit covers the fee: all charged now
      // Trader 2 hands its shares to an account that never deposited, which sells them: all held.
      const id = await devnet.deployer.public.readContract({
        address: devnet.addresses.delphi,
        abi: delphiAbi,
        functionName: "tokenIdOf",
        args: [market.id, 2n],
      });
      await send(traders[2], {
        address: devnet.addresses.delphi,
        abi: delphiAbi,
        functionName: "transfer",
        args: [receiver.account, id, 100n * USD],
        action: "delphi.transfer",
      });
      const before = await balance(receiver.account);
      const moved = await market.as(receiver).sell({ outcome: 2, shares: 100n * USD });
      model.sell(receiver.account, moved.collateral, moved.fee);
      assert.equal(moved.held, moved.total);
      assert.equal(await balance(receiver.account), before);
      // Every step: the pool is the funding plus every deposit, exactly.
      const info = await market.info();
      assert.equal(info.pool, model.pool);
      assert.equal(info.pool, funding + model.totalDeposits());
      for (const who of [...traders, receiver]) {
        assert.equal((await market.ledger(who.account)).depositWei, model.refundOf(who.account));
      }
    },
  );

  await t.step("past the deadline the market is expired: no trading, no resolution", async () => {
    await devnet.increaseTime(Number(info0.resolutionDeadline - info0.closeTime) + 601);
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
    await assert.rejects(market.startEvaluation(), EvaluationError);
    // Shares and held proceeds pay nothing in a market that named no winner.
    await assert.rejects(market.as(traders[1]).redeem(0), RefundModeError);
    await assert.rejects(market.as(traders[0]).releaseProceeds(), RefundModeError);
  });

  await t.step(
    "each account gets its deposit back: every trader is down its fees only",
    async () => {
      for (const trader of traders) {
        const before = await balance(trader.account);
        const { refundedWei } = await market.as(trader).claim();
        assert.equal(refundedWei, model.refundOf(trader.account));
        assert.equal((await balance(trader.account)) - before, refundedWei);
        add(received, trader.account, refundedWei);
        // Paid in minus got back is exactly the fees it paid (refunds do not return fees).
        assert.equal(
          spent.get(trader.account)! - (received.get(trader.account) ?? 0n),
          fees.get(trader.account),
        );
        await assert.rejects(market.as(trader).refund(), MarketError);
      }
      // The receiver of moved shares deposited nothing and gets nothing: no double claim.
      try {
        await market.as(receiver).refund();
        assert.fail("refunded an account that never deposited");
      } catch (error) {
        assert.ok(error instanceof MarketError);
        assert.equal(error.errorName, "NothingToRefund");
      }
    },
  );

  await t.step(
    "the creator gets its funding and its escrow back; nothing stays behind",
    async () => {
      const { amount } = await market.withdrawLiquidity();
      assert.equal(amount, funding);
      await assert.rejects(market.withdrawLiquidity(), MarketError);
      const { amountWei } = await market.reclaimEvaluationEscrow();
      assert.equal(amountWei, payment);
      assert.equal(await creator.token.balanceOf({ account: creator.account }), creatorTokens);
      assert.equal(await creator.token.balanceOf({ account: devnet.addresses.delphi }), 0n);
      await assert.rejects(market.reclaimEvaluationEscrow(), MarketError);
      // Only the fees remain, for the router.
      assert.equal(await balance(devnet.addresses.delphi), model.fees);
      assert.equal((await market.info()).pool, 0n);
      assert.equal((await market.sweepFees()).amount, model.fees);
      assert.equal(await balance(devnet.addresses.delphi), 0n);
    },
  );
});
