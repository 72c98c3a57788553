import assert from "node:assert/strict";
import { verifierRegistryAbi } from "../../lib/chain/artifacts/VerifierRegistry.ts";
import { eventsOf, send, startDevnet } from "../../lib/chain/mod.ts";
import { assertReverts, isolated, TOKEN } from "./_devnet.ts";

Deno.test("verifier registry: stake minimum, register, deregister, eligibility, errors", async (t) => {
  await using devnet = await startDevnet();
  const alice = devnet.client(7);
  const bob = devnet.client(8);

  await t.step("the minimum is 100 AIGENSYN of active stake and nobody is registered", async () => {
    assert.equal(await alice.verifiers.minStake(), 100n * TOKEN);
    assert.deepEqual(await alice.verifiers.list(), []);
    assert.equal(await alice.verifiers.isRegistered(), false);
  });

  await t.step("registering needs the minimum stake", async () => {
    await isolated(devnet, async () => {
      const error = await assertReverts(alice.verifiers.register(), "VerifierStakeTooLow");
      assert.match(error.message, /stake more \(staking\.stake\)/);
      await alice.staking.stake({ amountWei: 99n * TOKEN });
      await assertReverts(alice.verifiers.register(), "VerifierStakeTooLow");
      await alice.staking.stake({ amountWei: TOKEN });
      const tx = await alice.verifiers.register();
      const [event] = eventsOf(verifierRegistryAbi, tx.receipt, "VerifierRegistered");
      assert.equal(event.args.account, alice.account);
      assert.equal(event.args.stake, 100n * TOKEN);
      assert.equal(await alice.verifiers.isRegistered(), true);
      assert.deepEqual(await bob.verifiers.list(), [alice.account]);
    });
  });

  await t.step("register twice, deregister unregistered: typed errors with hints", async () => {
    await isolated(devnet, async () => {
      await alice.staking.stake({ amountWei: 100n * TOKEN });
      await alice.verifiers.register();
      await assertReverts(alice.verifiers.register(), "VerifierAlreadyRegistered");
      const error = await assertReverts(bob.verifiers.deregister(), "VerifierNotRegistered");
      assert.match(error.message, /register first/);
    });
  });

  await t.step("deregistering removes the verifier and keeps the others", async () => {
    await isolated(devnet, async () => {
      const carol = devnet.client(6);
      let registeredAt = 0n;
      for (const c of [alice, bob, carol]) {
        await c.staking.stake({ amountWei: 150n * TOKEN });
        // The receipt's block: the client's cached block number may lag behind.
        registeredAt = (await c.verifiers.register()).receipt.blockNumber;
      }
      const tx = await alice.verifiers.deregister();
      const [event] = eventsOf(verifierRegistryAbi, tx.receipt, "VerifierDeregistered");
      assert.equal(event.args.account, alice.account);
      assert.equal(await alice.verifiers.isRegistered(), false);
      assert.deepEqual(
        [...await alice.verifiers.list()].sort(),
        [bob.account, carol.account].sort(),
      );
      // A draw reads the registry as of the commit's block, whatever happened since.
      assert.deepEqual(
        [...await alice.verifiers.list({ blockNumber: registeredAt })].sort(),
        [alice.account, bob.account, carol.account].sort(),
      );
      // Stake is untouched, and the verifier may come back.
      assert.equal((await alice.staking.get()).stakedWei, 150n * TOKEN);
      await alice.verifiers.register();
      assert.equal((await alice.verifiers.list()).length, 3);
    });
  });

  await t.step("a verifier whose stake falls below the minimum is not eligible", async () => {
    await isolated(devnet, async () => {
      for (const c of [alice, bob]) {
        await c.staking.stake({ amountWei: 100n * TOKEN });
        await c.verifiers.register();
      }
      await alice.staking.requestUnstake({ amountWei: TOKEN });
      assert.deepEqual(await bob.verifiers.list(), [bob.account]);
      assert.deepEqual(
        [...await bob.verifiers.list({ eligibleOnly: false })].sort(),
        [alice.account, bob.account].sort(),
      );
      await alice.staking.stake({ amountWei: TOKEN });
      assert.equal((await bob.verifiers.list()).length, 2);
    });
  });

  await t.step("only governance sets the minimum stake", async () => {
    await assertReverts(
      send(alice, {
        address: alice.addresses.verifierRegistry,
        abi: verifierRegistryAbi,
        functionName: "setMinVerifierStake",
        args: [0n],
        action: "verifiers.setMinStake",
      }),
      "OwnableUnauthorizedAccount",
    );
    const owner = await alice.public.readContract({
      address: alice.addresses.verifierRegistry,
      abi: verifierRegistryAbi,
      functionName: "owner",
    });
    assert.equal(owner.toLowerCase(), alice.addresses.timelock.toLowerCase());
    const call = alice.governance.parameterCall({
      contract: "verifierRegistry",
      functionName: "setMinVerifierStake",
      value: 5n * TOKEN,
    });
    assert.equal(call.target, alice.addresses.verifierRegistry);
  });
});
