import assert from "node:assert/strict";
import { type Hex, keccak256, toHex } from "viem";
import { generatePrivateKey, privateKeyToAccount, sign } from "viem/accounts";
import { stakingAbi } from "../../lib/chain/artifacts/Staking.ts";
import {
  eventsOf,
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

  await t.step(
    "a penalty for something else takes free stake first and never strands the provider's jobs",
    async () => {
      await isolated(devnet, async () => {
        const submitter = devnet.client(1);
        const job = (label: string) =>
          submitter.jobs.create({
            specHash: id(label),
            paymentWei: 10n * TOKEN,
            timeoutSec: 3_600,
            challengeWindowSec: 600,
            requiredStakeWei: 100n * TOKEN,
          });
        const done = { finalStateHash: id("state"), traceRoot: id("trace") };
        await provider.staking.stake({ amountWei: 300n * TOKEN });
        const a = (await job("stranded a")).jobId;
        const b = (await job("stranded b")).jobId;
        await provider.jobs.claim({ jobId: a });
        await provider.jobs.claim({ jobId: b });
        // A penalty within the free stake leaves the jobs' locks alone.
        const first = await slash(referee, 50n * TOKEN);
        assert.deepEqual(eventsOf(stakingAbi, first.receipt, "LockedStakeSlashed"), []);
        let stake = await provider.staking.get();
        assert.equal(stake.stakedWei, 250n * TOKEN);
        assert.equal(stake.lockedWei, 200n * TOKEN);
        // One beyond it (a missed committee vote, say) takes the rest of the free stake, then
        // part of the locks: they are short now, and recorded so.
        const second = await slash(referee, 100n * TOKEN);
        const [short] = eventsOf(stakingAbi, second.receipt, "LockedStakeSlashed");
        assert.equal(short.args.amount, 50n * TOKEN);
        assert.equal(short.args.shortfall, 50n * TOKEN);
        stake = await provider.staking.get();
        assert.equal(stake.stakedWei, 150n * TOKEN);
        assert.equal(stake.lockedWei, 150n * TOKEN);
        assert.equal(await provider.staking.lockShortfall(), 50n * TOKEN);
        // A job claimed after the slash is backed in full, whatever order the jobs end in.
        await provider.staking.stake({ amountWei: 100n * TOKEN });
        const c = (await job("claimed after")).jobId;
        await provider.jobs.claim({ jobId: c });
        await provider.jobs.commit({ jobId: a, ...done });
        await provider.jobs.commit({ jobId: c, ...done });
        await devnet.increaseTime(3_601);
        // Job a finalizes (its unlock takes the shortfall first), job b refunds as abandoned.
        await other.jobs.finalize({ jobId: a });
        assert.equal(await provider.staking.lockShortfall(), 0n);
        assert.equal((await provider.staking.get()).lockedWei, 200n * TOKEN);
        const refund = await other.jobs.refund({ jobId: b });
        assert.deepEqual(refund.abandoned, [provider.account]);
        assert.equal((await provider.staking.get()).lockedWei, 100n * TOKEN);
        await assertReverts(
          provider.staking.requestUnstake({ amountWei: 200n * TOKEN }),
          "InsufficientUnlockedStake",
        );
        await other.jobs.finalize({ jobId: c });
        stake = await provider.staking.get();
        assert.equal(stake.lockedWei, 0n);
        // 300 + 100 staked, 150 slashed by the referee, 10% of b's 100 by the abandonment.
        assert.equal(stake.stakedWei, 240n * TOKEN);
      });
    },
  );

  await t.step(
    "a slash of more than everything takes all there is, and the stripped job still refunds",
    async () => {
      await isolated(devnet, async () => {
        const { jobId } = await devnet.client(1).jobs.create({
          specHash: id("stripped"),
          paymentWei: TOKEN,
          timeoutSec: 3_600,
          requiredStakeWei: 80n * TOKEN,
        });
        await provider.staking.stake({ amountWei: 100n * TOKEN });
        await provider.jobs.claim({ jobId });
        await provider.staking.requestUnstake({ amountWei: 20n * TOKEN });
        const [event] = eventsOf(
          stakingAbi,
          (await slash(referee, 1_000n * TOKEN)).receipt,
          "Slashed",
        );
        assert.equal(event.args.amount, 100n * TOKEN);
        const stake = await provider.staking.get();
        assert.deepEqual([stake.stakedWei, stake.lockedWei, stake.unbondingWei], [0n, 0n, 0n]);
        assert.equal(await provider.staking.lockShortfall(), 80n * TOKEN);
        await devnet.increaseTime(3_601);
        const refund = await other.jobs.refund({ jobId });
        assert.deepEqual(refund.abandoned, [provider.account]);
        assert.equal(await provider.staking.lockShortfall(), 0n);
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
