import assert from "node:assert/strict";
import { type Abi, decodeErrorResult, encodeFunctionData, type Hex, maxUint256 } from "viem";
import { feeRouterAbi } from "../../lib/chain/artifacts/FeeRouter.ts";
import {
  reentrantTokenAbi,
  reentrantTokenBytecode,
} from "../../lib/chain/artifacts/ReentrantToken.ts";
import { testStableAbi, testStableBytecode } from "../../lib/chain/artifacts/TestStable.ts";
import { uniswapV2Router02Abi } from "../../lib/chain/artifacts/UniswapV2Router02.ts";
import {
  type Address,
  eventsOf,
  type ProtocolClient,
  receiptOf,
  send,
  startDevnet,
} from "../../lib/chain/mod.ts";
import {
  asGovernance,
  assertReverts,
  id,
  inOneBlock,
  isolated,
  revertDataOf,
  TOKEN,
} from "./_devnet.ts";

/** One unit of the 6-decimal stable token. */
const STABLE = 10n ** 6n;
/** The fee router's default slippage bound and the pool's swap fee, basis points. */
const MAX_SLIPPAGE_BPS = 500n;

Deno.test("fee routing: burn, treasury, TWAP-bounded Uniswap V2 buyback, rescue, re-entrancy", async (t) => {
  await using devnet = await startDevnet();
  const { feeRouter, stable, token, uniswapRouter } = devnet.addresses;
  const keeper = devnet.client(5);
  const attacker = devnet.client(6);
  const treasury = devnet.addresses.timelock;
  const payStable = (amount: bigint) =>
    send(devnet.client(4), {
      address: stable,
      abi: testStableAbi,
      functionName: "transfer",
      args: [feeRouter, amount],
      action: "pay stable fee",
    });
  const stableOf = (account: Address) => keeper.token.balanceOf({ account, token: stable });
  const readRouter = <T>(functionName: string, args: readonly unknown[] = []) =>
    keeper.public.readContract({
      address: feeRouter,
      abi: feeRouterAbi as Abi,
      functionName,
      args,
    }) as Promise<T>;
  const setParam = (client: ProtocolClient, functionName: string, args: readonly unknown[]) =>
    send(client, {
      address: feeRouter,
      abi: feeRouterAbi,
      functionName,
      args,
      action: functionName,
    });
  const advanceTo = async (time: bigint) => {
    const now = await devnet.now();
    if (time > now) await devnet.increaseTime(time - now);
  };
  /** Observes the stable's price and waits until a buyback can measure a TWAP from it. */
  const observeAndWait = async (tokenIn: Address = stable) => {
    await advanceTo((await keeper.fees.observe({ tokenIn })).readyAt);
  };
  /** Sends a transaction without estimating it (for a block mined by hand). */
  const write = (
    client: ProtocolClient,
    address: Address,
    abi: Abi,
    functionName: string,
    args: readonly unknown[],
  ): Promise<Hex> =>
    client.wallet.writeContract(
      {
        address,
        abi,
        functionName,
        args,
        account: client.wallet.account!,
        chain: client.wallet.chain,
        gas: 1_000_000n,
      } as Parameters<typeof client.wallet.writeContract>[0],
    );
  const errorOf = async (hash: Hex) =>
    decodeErrorResult({ abi: feeRouterAbi, data: await revertDataOf(devnet, hash) });
  /** What burn and treasury get, at least: the TWAP value less the slippage bound. */
  const protocolFloor = (twapAmountOutWei: bigint) =>
    twapAmountOutWei * (10_000n - MAX_SLIPPAGE_BPS) / 10_000n;

  await t.step("job fees are swept and split 70% burned, 30% treasury", async () => {
    await isolated(devnet, async () => {
      const submitter = devnet.client(1);
      const provider = devnet.client(2);
      await provider.staking.stake({ amountWei: TOKEN });
      const { jobId } = await submitter.jobs.create({
        specHash: id("fee"),
        paymentWei: 1_000n * TOKEN,
        timeoutSec: 3_600,
        challengeWindowSec: 60,
      });
      await provider.jobs.claim({ jobId });
      await provider.jobs.commit({ jobId, finalStateHash: id("s"), traceRoot: id("t") });
      await devnet.increaseTime(61);
      await provider.jobs.finalize({ jobId });
      const supply = await keeper.token.supply();
      const treasuryBefore = await keeper.token.balanceOf({ account: treasury });
      const split = await keeper.fees.distribute();
      assert.equal(split.sweep?.amountWei, 5n * TOKEN);
      assert.equal(split.burnedWei, 3_500_000_000_000_000_000n);
      assert.equal(split.treasuryWei, 1_500_000_000_000_000_000n);
      const after = await keeper.token.supply();
      assert.equal(supply.totalSupplyWei - after.totalSupplyWei, split.burnedWei);
      assert.equal(after.burnedWei, split.burnedWei);
      assert.equal(after.totalSupplyWei, after.mintedWei - after.burnedWei);
      assert.equal(
        (await keeper.token.balanceOf({ account: treasury })) - treasuryBefore,
        split.treasuryWei,
      );
      const stats = await keeper.metrics.fees();
      assert.equal(stats.collectedWei, 5n * TOKEN);
      assert.equal((await keeper.metrics.burnedSupply()).burnedWei, split.burnedWei);
      await assertReverts(keeper.fees.sweep(), "NoFeesAccrued");
      await assertReverts(keeper.fees.distribute(), "NothingToRoute");
    });
  });

  await t.step("no TWAP, no buyback: observe, wait a window, then buy back and split", async () => {
    await isolated(devnet, async () => {
      await payStable(1_000n * STABLE); // $1000 into a pool at 0.5 $/token: about 2000 tokens
      const err = await assertReverts(keeper.fees.buyback(), "TwapUnavailable");
      assert.match(err.message, /fees\.observe/);
      const window = BigInt(await readRouter<number>("twapWindow"));
      assert.equal(window, 1_800n);

      const first = await keeper.fees.observe();
      assert.equal(first.recorded, true);
      assert.equal(first.readyAt, (await devnet.now()) + window);
      // Nobody can keep the TWAP from maturing by observing again: the pending one stays.
      const again = await attacker.fees.observe();
      assert.equal(again.recorded, false);
      assert.equal(again.readyAt, first.readyAt);
      await advanceTo(first.readyAt - 60n);
      const early = await assertReverts(keeper.fees.buyback(), "TwapUnavailable");
      assert.equal(early.args[1], first.readyAt);

      await advanceTo(first.readyAt);
      const supply = (await keeper.token.supply()).totalSupplyWei;
      const keeperBefore = await keeper.token.balanceOf({ account: keeper.account });
      const result = await keeper.fees.buyback();
      assert.equal(result.amountIn, 1_000n * STABLE);
      assert.equal(result.twapAmountOutWei, 2_000n * TOKEN); // the pool never moved
      assert.ok(result.amountOutWei > 1_980n * TOKEN && result.amountOutWei < 2_000n * TOKEN);
      assert.equal(result.callerRewardWei, result.amountOutWei * 10n / 10_000n);
      const net = result.amountOutWei - result.callerRewardWei;
      assert.equal(result.burnedWei + result.treasuryWei, net);
      assert.equal(result.burnedWei, net * 7_000n / 10_000n);
      assert.ok(net >= protocolFloor(result.twapAmountOutWei));
      assert.equal(supply - (await keeper.token.supply()).totalSupplyWei, result.burnedWei);
      assert.equal(
        (await keeper.token.balanceOf({ account: keeper.account })) - keeperBefore,
        result.callerRewardWei,
      );
      assert.equal((await keeper.metrics.fees()).buybacks, 1);

      // A TWAP older than two windows is stale: observe again and wait one window.
      await payStable(500n * STABLE);
      await devnet.increaseTime(3n * window);
      await assertReverts(keeper.fees.buyback(), "TwapUnavailable");
      await observeAndWait();
      assert.equal((await keeper.fees.buyback()).amountIn, 500n * STABLE);
    });
  });

  await t.step("the caller's reward is governed and capped at 1% of the bought", async () => {
    await isolated(devnet, async () => {
      const governance = await asGovernance(devnet);
      const err = await assertReverts(
        setParam(keeper, "setCallerRewardBps", [50]),
        "OwnableUnauthorizedAccount",
      );
      assert.match(err.message, /governance/);
      await assertReverts(setParam(governance, "setCallerRewardBps", [101]), "BpsTooHigh");
      await setParam(governance, "setCallerRewardBps", [100]);
      // The slippage bound must cover pool fee + largest impact + reward: 30 + 30 + 100 bps.
      await assertReverts(
        setParam(governance, "setMaxSlippageBps", [159]),
        "SlippageBelowCosts",
      );
      await setParam(governance, "setMaxSlippageBps", [160]);
      await setParam(governance, "setMaxSlippageBps", [Number(MAX_SLIPPAGE_BPS)]);
      await assertReverts(setParam(governance, "setMaxSwapBps", [31]), "BpsTooHigh");
      await assertReverts(setParam(governance, "setTwapWindow", [60]), "TwapWindowOutOfRange");

      await payStable(1_000n * STABLE);
      await observeAndWait();
      const keeperBefore = await keeper.token.balanceOf({ account: keeper.account });
      const result = await keeper.fees.buyback();
      assert.equal(result.callerRewardWei, result.amountOutWei / 100n);
      assert.equal(
        (await keeper.token.balanceOf({ account: keeper.account })) - keeperBefore,
        result.callerRewardWei,
      );
      const net = result.amountOutWei - result.callerRewardWei;
      assert.equal(result.burnedWei + result.treasuryWei, net);
      assert.equal(result.burnedWei, net * 7_000n / 10_000n);
      assert.ok(net >= protocolFloor(result.twapAmountOutWei));
    });
  });

  await t.step(
    "a large balance is bought back in capped parts, one buyback per block",
    async () => {
      await isolated(devnet, async () => {
        await payStable(60_000n * STABLE); // 12% of the pool's stable side
        await observeAndWait();
        const maxIn = await readRouter<bigint>("maxBuybackIn", [stable]);
        assert.equal(maxIn, 1_500n * STABLE); // 0.3% of the pool's 500,000 stable
        const quote = await keeper.fees.quote();
        assert.equal(quote.amountInWei, maxIn);
        assert.ok(quote.minAmountOutWei >= protocolFloor(quote.twapAmountOutWei));
        await assertReverts(
          keeper.fees.buyback({ amountInWei: maxIn + 1n, minAmountOutWei: 0n }),
          "BuybackTooLarge",
        );
        await assertReverts(
          keeper.fees.buyback({ amountInWei: 60_001n * STABLE, minAmountOutWei: 0n }),
          "AmountExceedsBalance",
        );
        // The caller's own floor is enforced too.
        const err = await assertReverts(
          keeper.fees.buyback({ minAmountOutWei: maxUint256 }),
          "SlippageExceeded",
        );
        assert.match(err.message, /quote again/);
        await assertReverts(
          keeper.fees.buyback({ tokenIn: token, amountInWei: 1n, minAmountOutWei: 0n }),
          "CannotBuyBackProtocolToken",
        );

        // Two buybacks in one block: the second reverts, so a sandwich cannot stack them.
        const half = maxIn / 2n;
        const [first, second] = await inOneBlock(devnet, async () => [
          await write(keeper, feeRouter, feeRouterAbi, "buyback", [stable, half, 0n]),
          await write(devnet.client(7), feeRouter, feeRouterAbi, "buyback", [stable, half, 0n]),
        ]);
        assert.equal(first.status, "success");
        assert.equal(second.status, "reverted");
        assert.equal((await errorOf(second.transactionHash)).errorName, "BuybackThisBlock");
        assert.equal(await stableOf(feeRouter), 60_000n * STABLE - half);
        // The next block may buy back again.
        const next = await keeper.fees.buyback();
        assert.ok(next.amountIn > 0n && next.amountIn <= maxIn);
        assert.ok(next.amountOutWei - next.callerRewardWei >= protocolFloor(next.twapAmountOutWei));
        assert.equal(await stableOf(feeRouter), 60_000n * STABLE - half - next.amountIn);
      });
    },
  );

  /** Approves the Uniswap router for the attacker's stable and AIGENSYN. */
  const armAttacker = async () => {
    await send(attacker, {
      address: stable,
      abi: testStableAbi,
      functionName: "approve",
      args: [uniswapRouter, maxUint256],
      action: "approve stable",
    });
    await attacker.token.approve({ spender: uniswapRouter, amountWei: maxUint256 });
  };
  const tokensFor = async (stableIn: bigint) =>
    (await keeper.public.readContract({
      address: uniswapRouter,
      abi: uniswapV2Router02Abi,
      functionName: "getAmountsOut",
      args: [stableIn, [stable, token]],
    }))[1];
  const swap = (amountIn: bigint, path: Address[], deadline: bigint) =>
    write(attacker, uniswapRouter, uniswapV2Router02Abi as Abi, "swapExactTokensForTokens", [
      amountIn,
      0n,
      path,
      attacker.account,
      deadline,
    ]);

  await t.step(
    "a same-block sandwich that moves the pool 20%: the buyback reverts, the attacker loses",
    async () => {
      await isolated(devnet, async () => {
        await payStable(1_000n * STABLE);
        await observeAndWait();
        await armAttacker();
        const { amountInWei } = await keeper.fees.quote();
        const attackIn = 50_000n * STABLE; // 10% of the pool's stable side: AIGENSYN ~21% dearer
        const tokensBought = await tokensFor(attackIn);
        const deadline = (await devnet.now()) + 600n;
        const attackerStable = await stableOf(attacker.account);
        const attackerTokens = await attacker.token.balanceOf({ account: attacker.account });
        const supply = (await keeper.token.supply()).totalSupplyWei;
        const treasuryBefore = await keeper.token.balanceOf({ account: treasury });
        const [front, victim, back] = await inOneBlock(devnet, async () => [
          await swap(attackIn, [stable, token], deadline),
          // The keeper passes no floor of its own: the contract's TWAP floor alone must hold.
          await write(keeper, feeRouter, feeRouterAbi, "buyback", [stable, amountInWei, 0n]),
          await swap(tokensBought, [token, stable], deadline),
        ]);
        assert.equal(front.status, "success");
        assert.equal(victim.status, "reverted");
        assert.equal(back.status, "success");
        assert.equal((await errorOf(victim.transactionHash)).errorName, "SlippageExceeded");
        // The attacker paid the pool fee twice and gained nothing; the fees did not move.
        assert.ok((await stableOf(attacker.account)) < attackerStable);
        assert.equal(await attacker.token.balanceOf({ account: attacker.account }), attackerTokens);
        assert.equal(await stableOf(feeRouter), 1_000n * STABLE);
        assert.equal((await keeper.token.supply()).totalSupplyWei, supply);
        assert.equal(await keeper.token.balanceOf({ account: treasury }), treasuryBefore);
        // With the pool back at its price, the buyback goes through at the TWAP value.
        const result = await keeper.fees.buyback();
        assert.ok(result.burnedWei + result.treasuryWei >= protocolFloor(result.twapAmountOutWei));
      });
    },
  );

  await t.step(
    "a same-block sandwich within the bound: the attacker loses, burn + treasury get >= 95% of TWAP",
    async () => {
      await isolated(devnet, async () => {
        await payStable(1_000n * STABLE);
        await observeAndWait();
        await armAttacker();
        const { amountInWei } = await keeper.fees.quote();
        const attackIn = 5_000n * STABLE; // 1% of the pool's stable side: AIGENSYN ~2% dearer
        const tokensBought = await tokensFor(attackIn);
        const deadline = (await devnet.now()) + 600n;
        const attackerStable = await stableOf(attacker.account);
        const attackerTokens = await attacker.token.balanceOf({ account: attacker.account });
        const [front, victim, back] = await inOneBlock(devnet, async () => [
          await swap(attackIn, [stable, token], deadline),
          await write(keeper, feeRouter, feeRouterAbi, "buyback", [stable, amountInWei, 0n]),
          await swap(tokensBought, [token, stable], deadline),
        ]);
        for (const r of [front, victim, back]) assert.equal(r.status, "success");
        const [bought] = eventsOf(feeRouterAbi, victim, "BoughtBack");
        const [split] = eventsOf(feeRouterAbi, victim, "FeesDistributed");
        const twapOut = bought.args.twapAmountOut as bigint;
        const protocolGot = (split.args.burned as bigint) + (split.args.toTreasury as bigint);
        assert.equal(
          protocolGot,
          (bought.args.amountOut as bigint) - (bought.args.callerReward as bigint),
        );
        assert.ok(protocolGot >= protocolFloor(twapOut), `${protocolGot} < 95% of ${twapOut}`);
        const profit = (await stableOf(attacker.account)) - attackerStable;
        assert.ok(profit <= 0n, `the attacker made ${profit} stable units`);
        assert.equal(await attacker.token.balanceOf({ account: attacker.account }), attackerTokens);
      });
    },
  );

  await t.step("rescue returns stray tokens, never AIGENSYN or an accepted fee token", async () => {
    await isolated(devnet, async () => {
      const governance = await asGovernance(devnet);
      const receiver = devnet.accounts[7];
      const hash = await attacker.wallet.deployContract({
        abi: testStableAbi,
        bytecode: testStableBytecode,
        args: [attacker.account],
        account: attacker.account,
        chain: attacker.wallet.chain,
      });
      const stray = (await receiptOf(attacker, hash, "deploy")).receipt.contractAddress!;
      const strayCall = (functionName: string, args: readonly unknown[]) =>
        send(attacker, { address: stray, abi: testStableAbi, functionName, args, action: "stray" });
      await strayCall("mint", [attacker.account, 10n * STABLE]);
      await strayCall("transfer", [feeRouter, 10n * STABLE]); // sent by mistake
      const strayOf = (account: Address) => keeper.token.balanceOf({ account, token: stray });
      await assertReverts(keeper.fees.observe({ tokenIn: stray }), "NotFeeToken");
      await assertReverts(
        keeper.fees.buyback({ tokenIn: stray, amountInWei: 1n, minAmountOutWei: 0n }),
        "NotFeeToken",
      );
      await assertReverts(
        setParam(keeper, "rescue", [stray, receiver, 10n * STABLE]),
        "OwnableUnauthorizedAccount",
      );
      const rescued = await setParam(governance, "rescue", [stray, receiver, 10n * STABLE]);
      assert.equal(eventsOf(feeRouterAbi, rescued.receipt, "Rescued").length, 1);
      assert.equal(await strayOf(receiver), 10n * STABLE);
      assert.equal(await strayOf(feeRouter), 0n);

      // AIGENSYN is owed to the burn/treasury split; an accepted fee token to a buyback.
      await keeper.token.transfer({ to: feeRouter, amountWei: TOKEN });
      await payStable(STABLE);
      const err = await assertReverts(
        setParam(governance, "rescue", [token, receiver, TOKEN]),
        "NotRescuable",
      );
      assert.match(err.message, /distribute/);
      await assertReverts(setParam(governance, "rescue", [stable, receiver, 1n]), "NotRescuable");
      const split = await keeper.fees.distribute();
      assert.equal(split.burnedWei + split.treasuryWei, TOKEN);
      await assertReverts(
        setParam(governance, "setFeeToken", [token, true]),
        "CannotBuyBackProtocolToken",
      );
      // Returning a fee token takes two governance acts: stop accepting it, then rescue it.
      await setParam(governance, "setFeeToken", [stable, false]);
      await setParam(governance, "rescue", [stable, receiver, STABLE]);
      assert.equal(await stableOf(feeRouter), 0n);
    });
  });

  await t.step("a malicious fee token cannot re-enter the fee router", async () => {
    await isolated(devnet, async () => {
      const hash = await attacker.wallet.deployContract({
        abi: reentrantTokenAbi,
        bytecode: reentrantTokenBytecode,
        args: [1_000_000n * TOKEN],
        account: attacker.account,
        chain: attacker.wallet.chain,
      });
      const evil = (await receiptOf(attacker, hash, "deploy")).receipt.contractAddress!;
      const call = (
        address: `0x${string}`,
        abi: typeof reentrantTokenAbi | typeof uniswapV2Router02Abi,
        functionName: string,
        args: unknown[],
      ) => send(attacker, { address, abi, functionName, args, action: functionName });
      // A real pool for the token, accepted as a fee token, so the buyback reaches the swap.
      await setParam(await asGovernance(devnet), "setFeeToken", [evil, true]);
      await call(evil, reentrantTokenAbi, "approve", [uniswapRouter, maxUint256]);
      await attacker.token.approve({ spender: uniswapRouter, amountWei: maxUint256 });
      await call(uniswapRouter, uniswapV2Router02Abi, "addLiquidity", [
        evil,
        token,
        100_000n * TOKEN,
        100_000n * TOKEN,
        0n,
        0n,
        attacker.account,
        (await devnet.now()) + 600n,
      ]);
      await attacker.token.transfer({ to: feeRouter, amountWei: 10n * TOKEN });
      await call(evil, reentrantTokenAbi, "transfer", [feeRouter, 10n * TOKEN]);
      await observeAndWait(evil);
      await call(evil, reentrantTokenAbi, "arm", [
        feeRouter,
        encodeFunctionData({ abi: feeRouterAbi, functionName: "distribute" }),
      ]);
      const supply = await keeper.token.supply();
      const routerBalance = await keeper.token.balanceOf({ account: feeRouter });
      const err = await assertReverts(
        keeper.fees.buyback({ tokenIn: evil }),
        "ReentrancyGuardReentrantCall",
      );
      assert.match(err.message, /nothing moved/);
      assert.deepEqual(await keeper.token.supply(), supply);
      assert.equal(await keeper.token.balanceOf({ account: feeRouter }), routerBalance);
    });
  });
});
