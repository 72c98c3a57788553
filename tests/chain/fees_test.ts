import assert from "node:assert/strict";
import { encodeFunctionData, maxUint256 } from "viem";
import { feeRouterAbi } from "../../lib/chain/artifacts/FeeRouter.ts";
import {
  reentrantTokenAbi,
  reentrantTokenBytecode,
} from "../../lib/chain/artifacts/ReentrantToken.ts";
import { testStableAbi } from "../../lib/chain/artifacts/TestStable.ts";
import { uniswapV2Router02Abi } from "../../lib/chain/artifacts/UniswapV2Router02.ts";
import { receiptOf, send, startDevnet } from "../../lib/chain/mod.ts";
import { assertReverts, id, isolated, TOKEN } from "./_devnet.ts";

Deno.test("fee routing: burn, treasury, Uniswap V2 buyback, re-entrancy", async (t) => {
  await using devnet = await startDevnet();
  const keeper = devnet.client(5);
  const treasury = devnet.addresses.timelock;
  const payStable = (amount: bigint) =>
    send(devnet.client(4), {
      address: devnet.addresses.stable,
      abi: testStableAbi,
      functionName: "transfer",
      args: [devnet.addresses.feeRouter, amount],
      action: "pay stable fee",
    });

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

  await t.step("stable fees are bought back through the Uniswap V2 pair, then split", async () => {
    await isolated(devnet, async () => {
      await payStable(1_000n * 10n ** 6n); // $1000 into a pool at 0.5 $/token: about 2000 tokens
      const supply = (await keeper.token.supply()).totalSupplyWei;
      const result = await keeper.fees.buyback();
      assert.equal(result.amountIn, 1_000n * 10n ** 6n);
      assert.ok(result.amountOutWei > 1_980n * TOKEN && result.amountOutWei < 2_000n * TOKEN);
      assert.equal(result.burnedWei + result.treasuryWei, result.amountOutWei);
      assert.equal(result.burnedWei, result.amountOutWei * 7_000n / 10_000n);
      assert.equal(supply - (await keeper.token.supply()).totalSupplyWei, result.burnedWei);
      assert.equal((await keeper.metrics.fees()).buybacks, 1);
    });
  });

  await t.step("a buyback that would slip more than 5% reverts and moves nothing", async () => {
    await isolated(devnet, async () => {
      await payStable(60_000n * 10n ** 6n); // 12% of the pool's stable side: about 11% price impact
      const stable = () =>
        keeper.token.balanceOf({
          account: devnet.addresses.feeRouter,
          token: devnet.addresses.stable,
        });
      const before = await stable();
      const err = await assertReverts(keeper.fees.buyback(), "SlippageExceeded");
      assert.match(err.message, /buy back less at once/);
      assert.equal(await stable(), before);
      // The caller's own floor is enforced too.
      await assertReverts(keeper.fees.buyback({ minAmountOutWei: maxUint256 }), "SlippageExceeded");
      await assertReverts(
        keeper.fees.buyback({ tokenIn: devnet.addresses.token }),
        "CannotBuyBackProtocolToken",
      );
    });
  });

  await t.step("a malicious fee token cannot re-enter the fee router", async () => {
    await isolated(devnet, async () => {
      const attacker = devnet.client(6);
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
      // A real pool for the token, so the buyback reaches the swap.
      await call(evil, reentrantTokenAbi, "approve", [devnet.addresses.uniswapRouter, maxUint256]);
      await attacker.token.approve({
        spender: devnet.addresses.uniswapRouter,
        amountWei: maxUint256,
      });
      await call(devnet.addresses.uniswapRouter, uniswapV2Router02Abi, "addLiquidity", [
        evil,
        devnet.addresses.token,
        100_000n * TOKEN,
        100_000n * TOKEN,
        0n,
        0n,
        attacker.account,
        (await devnet.now()) + 600n,
      ]);
      await attacker.token.transfer({ to: devnet.addresses.feeRouter, amountWei: 10n * TOKEN });
      await call(evil, reentrantTokenAbi, "transfer", [devnet.addresses.feeRouter, 10n * TOKEN]);
      await call(evil, reentrantTokenAbi, "arm", [
        devnet.addresses.feeRouter,
        encodeFunctionData({ abi: feeRouterAbi, functionName: "distribute" }),
      ]);
      const supply = await keeper.token.supply();
      const routerBalance = await keeper.token.balanceOf({ account: devnet.addresses.feeRouter });
      const err = await assertReverts(
        keeper.fees.buyback({ tokenIn: evil }),
        "ReentrancyGuardReentrantCall",
      );
      assert.match(err.message, /nothing moved/);
      assert.deepEqual(await keeper.token.supply(), supply);
      assert.equal(
        await keeper.token.balanceOf({ account: devnet.addresses.feeRouter }),
        routerBalance,
      );
    });
  });
});
