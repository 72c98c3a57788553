import assert from "node:assert/strict";
import fc from "fast-check";
import { lmsrHarnessAbi, lmsrHarnessBytecode } from "../../lib/chain/artifacts/LmsrHarness.ts";
import { startDevnet } from "../../lib/chain/mod.ts";
import { receiptOf } from "../../lib/chain/transact.ts";
import type { Address } from "../../lib/chain/types.ts";
import { expRef, lnRef, ONE } from "./_reference.ts";

const WAD = 10n ** 18n;
const SCALE = ONE / WAD; // reference units per WAD unit

Deno.test("LMSR fixed-point math rounds against the trader (vs a 60-digit reference)", async (t) => {
  await using devnet = await startDevnet();
  const deployer = devnet.deployer;
  const hash = await deployer.wallet.deployContract({
    abi: lmsrHarnessAbi,
    bytecode: lmsrHarnessBytecode,
    account: deployer.wallet.account!,
    chain: deployer.wallet.chain,
  });
  const harness = (await receiptOf(deployer, hash, "deploy harness")).receipt
    .contractAddress as Address;
  const call = <T>(functionName: string, args: bigint[]): Promise<T> =>
    deployer.public.readContract(
      {
        address: harness,
        abi: lmsrHarnessAbi,
        functionName,
        args,
      } as Parameters<typeof deployer.public.readContract>[0],
    ) as Promise<T>;

  await t.step("reference self-check: exp(ln(x)) = x, exp(1) = e", () => {
    assert.equal(expRef(WAD) / 10n ** 40n, 271828182845904523536n);
    for (const x of [WAD, 3n * WAD, 123456789n * WAD / 1000n]) {
      const back = expRef(lnRef(x) / SCALE);
      const diff = back - x * SCALE;
      assert.ok((diff < 0n ? -diff : diff) * 10n ** 15n < x * SCALE, `${x}`);
    }
  });

  await t.step("expUp >= exp >= expDown, each within 1e-14 relative", async () => {
    const arb = fc.oneof(
      fc.bigInt({ min: 0n, max: 10n ** 12n }),
      fc.bigInt({ min: 0n, max: WAD }),
      fc.bigInt({ min: 0n, max: 44n * WAD }),
    );
    await fc.assert(
      fc.asyncProperty(arb, async (x) => {
        const truth = expRef(x);
        const up = (await call<bigint>("expUp", [x])) * SCALE;
        const down = (await call<bigint>("expDown", [x])) * SCALE;
        assert.ok(up >= truth, `expUp(${x}) below exp`);
        assert.ok(down <= truth, `expDown(${x}) above exp`);
        assert.ok((up - truth) * 10n ** 14n <= truth, `expUp(${x}) too loose`);
        assert.ok(
          (truth - down) * 10n ** 14n <= truth + ONE * 10n ** 0n,
          `expDown(${x}) too loose`,
        );
      }),
      { numRuns: 150, seed: 7 },
    );
  });

  await t.step("lnUp >= ln >= lnDown, each within 1e-14 absolute", async () => {
    const arb = fc.oneof(
      fc.bigInt({ min: WAD, max: WAD + 10n ** 9n }),
      fc.bigInt({ min: WAD, max: 20n * WAD }),
      fc.bigInt({ min: WAD, max: 10n ** 40n }),
    );
    await fc.assert(
      fc.asyncProperty(arb, async (r) => {
        const truth = lnRef(r);
        const up = (await call<bigint>("lnUp", [r])) * SCALE;
        const down = (await call<bigint>("lnDown", [r])) * SCALE;
        assert.ok(up >= truth, `lnUp(${r}) below ln`);
        assert.ok(down <= truth, `lnDown(${r}) above ln`);
        assert.ok(up - truth <= ONE / 10n ** 14n && truth - down <= ONE / 10n ** 14n);
      }),
      { numRuns: 150, seed: 8 },
    );
  });

  await t.step("a buy costs at least b ln(S'/S) and a sale pays at most b ln(S/S')", async () => {
    const arb = fc.record({
      b: fc.bigInt({ min: 10n ** 5n, max: 10n ** 13n }),
      // the outcome's exponential and the others' sum, WAD
      e: fc.bigInt({ min: WAD, max: 10n ** 28n }),
      others: fc.bigInt({ min: WAD, max: 10n ** 31n }),
      sharesPerB: fc.integer({ min: 1, max: 20_000 }),
    });
    await fc.assert(
      fc.asyncProperty(arb, async ({ b, e, others, sharesPerB }) => {
        const sum = e + others;
        const shares = b * BigInt(sharesPerB) / 1000n + 1n;
        const [cost, newE, newSum] = await call<[bigint, bigint, bigint]>("buy", [
          b,
          e,
          sum,
          shares,
        ]);
        // newE is an upper bound of e * exp(shares / b), and the cost of the move it records.
        assert.ok(newE * ONE >= e * expRef(shares * WAD / b), "buy: e_i not rounded up");
        assert.equal(newSum, sum - e + newE);
        const exactCost = b * lnRef(newSum * WAD / sum); // in 1e60 units of collateral
        assert.ok(cost * ONE >= exactCost, `buy cost ${cost} below exact`);
        assert.ok(cost * ONE <= exactCost + 2n * ONE + b * ONE / 10n ** 13n, "buy cost too high");

        const [proceeds, soldE, soldSum] = await call<[bigint, bigint, bigint]>("sell", [
          b,
          newE,
          newSum,
          shares,
        ]);
        assert.ok(soldE * expRef(shares * WAD / b) >= newE * ONE, "sell: e_i not rounded up");
        assert.ok(proceeds * ONE <= b * lnRef(newSum * WAD / soldSum), "sale pays too much");
        // A round trip never pays the trader.
        assert.ok(proceeds <= cost, `round trip pays ${proceeds} for ${cost}`);
      }),
      { numRuns: 150, seed: 9 },
    );
  });
});
