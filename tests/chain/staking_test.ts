import assert from "node:assert/strict";
import { type Hex, keccak256, toHex } from "viem";
import { generatePrivateKey, privateKeyToAccount, sign } from "viem/accounts";
import { stakingAbi } from "../../lib/chain/artifacts/Staking.ts";
import {
  peerBindingDigest,
  peerIdFromPublicKey,
  peerIdToString,
  send,
  startDevnet,
} from "../../lib/chain/mod.ts";
import { assertReverts, id, isolated, TOKEN } from "./_devnet.ts";

Deno.test("peer ids of secp256k1 keys have libp2p's 16Uiu2 form", () => {
  const key = privateKeyToAccount(generatePrivateKey());
  const peerId = peerIdFromPublicKey(key.publicKey);
  assert.equal(peerId.length, 39);
  assert.match(peerIdToString(peerId), /^16Uiu2[1-9A-HJ-NP-Za-km-z]{47}$/);
  assert.deepEqual(peerIdFromPublicKey(`0x${key.publicKey.slice(4)}`), peerId);
});

Deno.test("staking, unbonding, slashing and identity on a real anvil chain", async (t) => {
  await using devnet = await startDevnet();
  const provider = devnet.client(2);
  const other = devnet.client(3);
  const referee = devnet.client(9);
  const slash = (by: typeof referee, amountWei: bigint, to = devnet.accounts[8]) =>
    send(by, {
      address: devnet.addresses.staking,
      abi: stakingAbi,
      functionName: "slash",
      args: [provider.account, amountWei, to],
      action: "staking.slash",
    });

  await t.step("stake, request an unstake, withdraw only after the unbonding delay", async () => {
    await isolated(devnet, async () => {
      const before = await provider.token.balanceOf();
      await provider.staking.stake({ amountWei: 500n * TOKEN });
      await provider.staking.requestUnstake({ amountWei: 200n * TOKEN });
      const stake = await provider.staking.get();
      assert.equal(stake.stakedWei, 300n * TOKEN);
      assert.equal(stake.unbondingWei, 200n * TOKEN);
      await assertReverts(provider.staking.withdraw(), "StillUnbonding");
      await devnet.increaseTime(7 * 86_400);
      await provider.staking.withdraw();
      assert.equal(before - (await provider.token.balanceOf()), 300n * TOKEN);
      await assertReverts(provider.staking.withdraw(), "NothingToWithdraw");
      assert.equal((await provider.metrics.activeStakers()).activeStakers, 1);
    });
  });

  await t.step("stake backing a claimed job cannot be unstaked", async () => {
    await isolated(devnet, async () => {
      await provider.staking.stake({ amountWei: 300n * TOKEN });
      const { jobId } = await devnet.client(1).jobs.create({
        specHash: id("locked"),
        paymentWei: TOKEN,
        timeoutSec: 3_600,
        requiredStakeWei: 250n * TOKEN,
      });
      await provider.jobs.claim({ jobId });
      const err = await assertReverts(
        provider.staking.requestUnstake({ amountWei: 100n * TOKEN }),
        "InsufficientUnlockedStake",
      );
      assert.deepEqual(err.args, [provider.account, 50n * TOKEN, 100n * TOKEN]);
      await provider.staking.requestUnstake({ amountWei: 50n * TOKEN });
    });
  });

  await t.step(
    "slashing is for authorised contracts only and reaches unbonding stake",
    async () => {
      await isolated(devnet, async () => {
        await provider.staking.stake({ amountWei: 100n * TOKEN });
        await provider.staking.requestUnstake({ amountWei: 70n * TOKEN });
        await assertReverts(slash(other, 10n * TOKEN), "NotAuthorized");
        await assertReverts(slash(referee, 0n), "ZeroAmount");
        const to = devnet.accounts[8];
        const before = await other.token.balanceOf({ account: to });
        await slash(referee, 60n * TOKEN);
        const stake = await provider.staking.get();
        assert.equal(stake.stakedWei, 0n);
        assert.equal(stake.unbondingWei, 40n * TOKEN);
        assert.equal((await other.token.balanceOf({ account: to })) - before, 60n * TOKEN);
      });
    },
  );

  await t.step("zero amounts are refused", async () => {
    await assertReverts(provider.staking.stake({ amountWei: 0n }), "ZeroAmount");
    await assertReverts(provider.staking.requestUnstake({ amountWei: 0n }), "ZeroAmount");
  });

  await t.step("a peer id binds to one account, proven by its key's signature", async () => {
    await isolated(devnet, async () => {
      const peerKey = generatePrivateKey();
      const bound = await provider.staking.bindPeer({ peerPrivateKey: peerKey });
      assert.match(bound.peerIdText, /^16Uiu2/);
      assert.equal(await other.staking.ownerOfPeer(bound.peerId), provider.account);
      const onChain = await provider.public.readContract({
        address: devnet.addresses.staking,
        abi: stakingAbi,
        functionName: "peerBindingDigest",
        args: [provider.account, keccak256(bound.peerId), 1n, 99n],
      });
      assert.equal(
        onChain,
        peerBindingDigest({
          account: provider.account,
          peerId: bound.peerId,
          staking: devnet.addresses.staking,
          chainId: 31337,
          nonce: 1n,
          deadline: 99n,
        }),
      );
      const err = await assertReverts(
        other.staking.bindPeer({ peerPrivateKey: peerKey }),
        "PeerIdAlreadyBound",
      );
      assert.match(err.message, /use a fresh libp2p key/);
      assert.equal(err.args[1], provider.account);
      // A signature for another account does not bind.
      const key = privateKeyToAccount(generatePrivateKey());
      const peerId = peerIdFromPublicKey(key.publicKey);
      const deadline = 2n ** 40n;
      const wrong = await sign({
        hash: peerBindingDigest({
          account: provider.account,
          peerId,
          staking: devnet.addresses.staking,
          chainId: 31337,
          nonce: 0n,
          deadline,
        }),
        privateKey: generatePrivateKey(),
        to: "hex",
      });
      const bindRaw = (who: typeof other, publicKey: Hex, signature: Hex, until = deadline) =>
        send(who, {
          address: devnet.addresses.staking,
          abi: stakingAbi,
          functionName: "bindPeer",
          args: [publicKey, signature, until],
          action: "staking.bindPeer",
        });
      await assertReverts(
        bindRaw(other, `0x${key.publicKey.slice(4)}`, wrong),
        "InvalidPeerSignature",
      );
      await assertReverts(bindRaw(other, toHex(new Uint8Array(33)), wrong), "InvalidPublicKey");
      // A binding signature is single-use and short-lived: replaying one (say, after giving the
      // key away) fails, and so does one past its deadline.
      const ownKey = generatePrivateKey();
      const own = privateKeyToAccount(ownKey);
      const ownPublic: Hex = `0x${own.publicKey.slice(4)}`;
      const signed = (nonce: bigint, until: bigint) =>
        sign({
          hash: peerBindingDigest({
            account: other.account,
            peerId: peerIdFromPublicKey(own.publicKey),
            staking: devnet.addresses.staking,
            chainId: 31337,
            nonce,
            deadline: until,
          }),
          privateKey: ownKey,
          to: "hex",
        });
      const once = await signed(0n, deadline);
      await bindRaw(other, ownPublic, once);
      await other.staking.bindPeer({ peerPrivateKey: generatePrivateKey() });
      await assertReverts(bindRaw(other, ownPublic, once), "InvalidPeerSignature");
      await assertReverts(
        bindRaw(other, ownPublic, await signed(1n, 1n), 1n),
        "PeerBindingExpired",
      );
      // Rebinding moves the account to a new peer id and frees the old one.
      const next = await provider.staking.bindPeer({ peerPrivateKey: generatePrivateKey() });
      assert.equal(await other.staking.ownerOfPeer(bound.peerId), undefined);
      assert.equal(await other.staking.ownerOfPeer(next.peerId), provider.account);
    });
  });
});
