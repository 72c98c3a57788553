import assert from "node:assert/strict";
import { type Address, type Hex, toHex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { tokenAbi } from "../../lib/chain/artifacts/Token.ts";
import {
  verifierRegistryAbi,
  verifierRegistryBytecode,
} from "../../lib/chain/artifacts/VerifierRegistry.ts";
import {
  createProtocolClient,
  type Devnet,
  eventsOf,
  type ProtocolClient,
  receiptOf,
  send,
  startDevnet,
} from "../../lib/chain/mod.ts";
import { assertReverts, id, isolated, TOKEN } from "./_devnet.ts";

Deno.test("verifier registry: stake minimum, register, deregister, eligibility, errors", async (t) => {
  await using devnet = await startDevnet();
  const alice = devnet.client(7);
  const bob = devnet.client(8);

  await t.step("the minimum is 100 AIGENSYN of active stake and nobody is registered", async () => {
    assert.equal(await alice.verifiers.minStake(), 100n * TOKEN);
    assert.deepEqual(await alice.verifiers.list(), []);
    assert.equal(await alice.verifiers.isRegistered(), false);
  });

  await t.step("a referee-only entry sits on committees but is never drawn to audit", async () => {
    await isolated(devnet, async () => {
      await alice.staking.stake({ amountWei: 100n * TOKEN });
      await bob.staking.stake({ amountWei: 100n * TOKEN });
      await alice.verifiers.register();
      await bob.verifiers.registerReferee();
      await assertReverts(bob.verifiers.register(), "VerifierAlreadyRegistered");
      assert.deepEqual(await alice.verifiers.list(), [alice.account]);
      assert.deepEqual(
        (await alice.verifiers.drawPool()).map((c) => c.account).sort(),
        [alice.account, bob.account].sort(),
      );
    });
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

/** Deploys a contract as `client`'s account and returns its address. */
async function deployContract(
  client: ProtocolClient,
  params: { abi: typeof verifierRegistryAbi; bytecode: Hex; args: readonly unknown[] },
): Promise<Address> {
  const hash = await client.wallet.deployContract(
    {
      ...params,
      account: client.wallet.account,
      chain: client.wallet.chain,
    } as Parameters<typeof client.wallet.deployContract>[0],
  );
  const { receipt } = await receiptOf(client, hash, "test.deploy");
  assert.ok(receipt.contractAddress);
  return receipt.contractAddress;
}

/** Sets the ether balance of `account` on anvil, so a fresh key can pay for gas. */
async function fundGas(devnet: Devnet, account: Address): Promise<void> {
  const response = await fetch(devnet.rpcUrl, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "anvil_setBalance",
      params: [account, toHex(10n ** 20n)],
    }),
  });
  const body = await response.json() as { error?: { message: string } };
  if (body.error) throw new Error(`anvil_setBalance failed: ${body.error.message}`);
}

/** A fresh account (a key from `label`) given gas and `stakeWei` of AIGENSYN, unstaked. */
async function fundedAccount(
  devnet: Devnet,
  label: string,
  stakeWei: bigint,
): Promise<ProtocolClient> {
  const client = devnet.deployer.as(privateKeyToAccount(id(label)));
  await fundGas(devnet, client.account);
  await send(devnet.deployer, {
    address: devnet.addresses.token,
    abi: tokenAbi,
    functionName: "transfer",
    args: [client.account, stakeWei],
    action: "test.fund",
  });
  return client;
}

/** A fresh account (a key from `label`) with `stakeWei` of AIGENSYN staked. */
async function stakedAccount(
  devnet: Devnet,
  label: string,
  stakeWei: bigint,
): Promise<ProtocolClient> {
  const client = await fundedAccount(devnet, label, stakeWei);
  await client.staking.stake({ amountWei: stakeWei });
  return client;
}

Deno.test("verifier registry against a sybil flood: eviction, displacement, top-N by stake", async (t) => {
  await using devnet = await startDevnet();
  const max = Number(
    await devnet.deployer.public.readContract({
      address: devnet.addresses.verifierRegistry,
      abi: verifierRegistryAbi,
      functionName: "MAX_VERIFIERS",
    }),
  );
  assert.equal(max, 256);
  // Two honest verifiers with real stake, then sybils at the minimum (sybil 0) or just above it
  // (sybil i at the minimum + i wei) until the registry is full.
  const honest = [devnet.client(7), devnet.client(8)];
  for (const h of honest) {
    await h.staking.stake({ amountWei: 500n * TOKEN });
    await h.verifiers.register();
  }
  const sybils: ProtocolClient[] = [];
  for (let i = 0; i < max - honest.length; i++) {
    sybils.push(await fundedAccount(devnet, `sybil ${i}`, 100n * TOKEN + BigInt(i)));
  }
  // Each sybil sends from its own account, so they can go side by side (in registry order).
  const batch = 32;
  for (let i = 0; i < sybils.length; i += batch) {
    await Promise.all(
      sybils.slice(i, i + batch).map((s, j) =>
        s.staking.stake({ amountWei: 100n * TOKEN + BigInt(i + j) })
      ),
    );
  }
  for (const sybil of sybils) await sybil.verifiers.register();
  const carol = devnet.client(6);
  const anyone = devnet.client(5);
  const isSybil = (account: unknown) => sybils.some((s) => s.account === account);

  await t.step(
    "a full registry refuses a newcomer without more stake than its lowest entry",
    async () => {
      await isolated(devnet, async () => {
        assert.equal((await carol.verifiers.list({ eligibleOnly: false })).length, max);
        await carol.staking.stake({ amountWei: 100n * TOKEN });
        const error = await assertReverts(carol.verifiers.register(), "VerifierRegistryFull");
        assert.deepEqual(error.args, [BigInt(max), 100n * TOKEN, 100n * TOKEN]);
        assert.match(error.message, /stake more than that/);
      });
    },
  );

  await t.step(
    "a newcomer with more stake displaces the lowest-staked sybil, never a better-staked entry",
    async () => {
      await isolated(devnet, async () => {
        // Carol's 400 beats every sybil but neither honest verifier (500): the lowest goes.
        await carol.staking.stake({ amountWei: 400n * TOKEN });
        const tx = await carol.verifiers.register();
        // Scanning a full registry for the weakest entry stays far under a block's gas.
        assert.ok(tx.receipt.gasUsed < 3_000_000n, `${tx.receipt.gasUsed} gas`);
        const [displaced] = eventsOf(verifierRegistryAbi, tx.receipt, "VerifierDisplaced");
        assert.equal(displaced.args.account, sybils[0].account);
        assert.equal(displaced.args.by, carol.account);
        assert.equal(displaced.args.stake, 100n * TOKEN);
        assert.equal(displaced.args.newcomerStake, 400n * TOKEN);
        assert.equal(await carol.verifiers.isRegistered(sybils[0].account), false);
        assert.equal(await carol.verifiers.isRegistered(), true);
        // The next lowest sybil goes next, for another newcomer.
        const dave = devnet.client(4);
        await dave.staking.stake({ amountWei: 400n * TOKEN });
        const [next] = eventsOf(
          verifierRegistryAbi,
          (await dave.verifiers.register()).receipt,
          "VerifierDisplaced",
        );
        assert.equal(next.args.account, sybils[1].account);
        for (const h of honest) assert.equal(await carol.verifiers.isRegistered(h.account), true);
        assert.equal((await carol.verifiers.list({ eligibleOnly: false })).length, max);
        // A displaced sybil cannot come back with the stake it had.
        await assertReverts(sybils[0].verifiers.register(), "VerifierRegistryFull");
      });
    },
  );

  await t.step(
    "honest entries are never displaced by lower stake, even when only they are left to beat",
    async () => {
      await isolated(devnet, async () => {
        // Newcomers just below the honest stake (500) displace sybils only, however many come.
        for (let i = 0; i < 3; i++) {
          const newcomer = await stakedAccount(devnet, `newcomer ${i}`, 499n * TOKEN);
          const [out] = eventsOf(
            verifierRegistryAbi,
            (await newcomer.verifiers.register()).receipt,
            "VerifierDisplaced",
          );
          assert.ok(isSybil(out.args.account), `displaced ${out.args.account}, not a sybil`);
        }
        for (const h of honest) assert.equal(await carol.verifiers.isRegistered(h.account), true);
      });
    },
  );

  await t.step(
    "sybils that unstake lock nobody out: an honest verifier registers, anyone evicts the rest",
    async () => {
      await isolated(devnet, async () => {
        for (let i = 0; i < sybils.length; i += batch) {
          await Promise.all(
            sybils.slice(i, i + batch).map((s, j) =>
              s.staking.requestUnstake({ amountWei: 100n * TOKEN + BigInt(i + j) })
            ),
          );
        }
        // Nothing drawable but the honest verifiers, with their stake.
        assert.deepEqual(
          [...await anyone.verifiers.list()].sort(),
          honest.map((h) => h.account).sort(),
        );
        assert.deepEqual(
          (await anyone.verifiers.drawPool()).map((c) => c.stakeWei),
          [500n * TOKEN, 500n * TOKEN],
        );
        // An honest newcomer at the minimum takes an under-staked sybil's slot.
        await carol.staking.stake({ amountWei: 100n * TOKEN });
        const tx = await carol.verifiers.register();
        const [evicted] = eventsOf(verifierRegistryAbi, tx.receipt, "VerifierEvicted");
        assert.ok(isSybil(evicted.args.account));
        assert.equal(evicted.args.by, carol.account);
        assert.equal(evicted.args.stake, 0n);
        assert.equal((await anyone.verifiers.list()).length, 3);
        // Anyone, with no stake and no registration, evicts an under-staked entry.
        const victim = sybils.find((s) => s.account !== evicted.args.account)!;
        const [byAnyone] = eventsOf(
          verifierRegistryAbi,
          (await anyone.verifiers.evict({ account: victim.account })).receipt,
          "VerifierEvicted",
        );
        assert.equal(byAnyone.args.account, victim.account);
        assert.equal(byAnyone.args.by, anyone.account);
        assert.equal(await anyone.verifiers.isRegistered(victim.account), false);
        assert.equal((await anyone.verifiers.list({ eligibleOnly: false })).length, max - 1);
        // Well-staked entries and strangers cannot be evicted.
        const kept = await assertReverts(
          anyone.verifiers.evict({ account: honest[0].account }),
          "VerifierNotEvictable",
        );
        assert.deepEqual(kept.args, [honest[0].account, 500n * TOKEN, 100n * TOKEN]);
        await assertReverts(
          anyone.verifiers.evict({ account: victim.account }),
          "VerifierNotRegistered",
        );
      });
    },
  );

  await t.step("one wei below the minimum is enough to be evicted", async () => {
    await isolated(devnet, async () => {
      const sybil = sybils[0];
      await assertReverts(
        anyone.verifiers.evict({ account: sybil.account }),
        "VerifierNotEvictable",
      );
      await sybil.staking.requestUnstake({ amountWei: 1n });
      await anyone.verifiers.evict({ account: sybil.account });
      assert.equal(await anyone.verifiers.isRegistered(sybil.account), false);
    });
  });
});

Deno.test("verifier registry warm-up: a fresh registrant is drawn only once it has passed", async (t) => {
  await using devnet = await startDevnet({ verifierWarmupSec: 3_600n });
  const alice = devnet.client(7);
  const bob = devnet.client(8);

  await t.step("the pool and the audit candidates leave a fresh registrant out", async () => {
    assert.equal(await alice.verifiers.warmup(), 3_600n);
    assert.equal(await alice.verifiers.registeredAt(), undefined);
    await alice.staking.stake({ amountWei: 150n * TOKEN });
    const tx = await alice.verifiers.register();
    const block = await alice.public.getBlock({ blockNumber: tx.receipt.blockNumber });
    assert.equal(await alice.verifiers.registeredAt(), block.timestamp);
    assert.equal(await alice.verifiers.isRegistered(), true);
    assert.deepEqual(await bob.verifiers.drawPool(), []);
    assert.deepEqual(await bob.verifiers.list(), []);
    assert.deepEqual(await bob.verifiers.list({ eligibleOnly: false }), [alice.account]);
    await devnet.increaseTime(3_599 - Number((await devnet.now()) - block.timestamp));
    assert.deepEqual(await bob.verifiers.drawPool(), []);
    await devnet.increaseTime(1);
    assert.deepEqual(await bob.verifiers.drawPool(), [
      { account: alice.account, stakeWei: 150n * TOKEN },
    ]);
    assert.deepEqual(await bob.verifiers.list(), [alice.account]);
  });

  await t.step(
    "a registry starts with a one-day warm-up, bounded by governance's maximum",
    async () => {
      // A registry deployed on its own, owned by the deployer, keeps the contract's default.
      const registry = await deployContract(devnet.deployer, {
        abi: verifierRegistryAbi,
        bytecode: verifierRegistryBytecode,
        args: [devnet.addresses.staking, devnet.deployer.account, 100n * TOKEN],
      });
      const own = { ...devnet.deployer.addresses, verifierRegistry: registry };
      const deployer = createProtocolClient({ ...devnet.deployer, addresses: own });
      assert.equal(await deployer.verifiers.warmup(), 86_400n);
      const setWarmup = (value: bigint) =>
        send(deployer, {
          address: registry,
          abi: verifierRegistryAbi,
          functionName: "setWarmup",
          args: [value],
          action: "verifiers.setWarmup",
        });
      const error = await assertReverts(setWarmup(30n * 86_400n + 1n), "WarmupTooLong");
      assert.deepEqual(error.args, [30n * 86_400n + 1n, 30n * 86_400n]);
      await setWarmup(0n);
      assert.equal(await deployer.verifiers.warmup(), 0n);
      // On the deployed protocol, only governance sets it.
      await assertReverts(
        send(alice, {
          address: alice.addresses.verifierRegistry,
          abi: verifierRegistryAbi,
          functionName: "setWarmup",
          args: [0n],
          action: "verifiers.setWarmup",
        }),
        "OwnableUnauthorizedAccount",
      );
      const call = alice.governance.parameterCall({
        contract: "verifierRegistry",
        functionName: "setWarmup",
        value: 7_200n,
      });
      assert.equal(call.target, alice.addresses.verifierRegistry);
    },
  );
});
