import assert from "node:assert/strict";
import { type Hex, zeroAddress } from "viem";
import { commitmentOf, startDevnet } from "../../lib/chain/mod.ts";
import { assertReverts, id, isolated, TOKEN } from "./_devnet.ts";

Deno.test("job market on a real anvil chain", async (t) => {
  await using devnet = await startDevnet();
  const submitter = devnet.client(1);
  const provider = devnet.client(2);
  const other = devnet.client(3);
  const referee = devnet.client(9);
  await provider.staking.stake({ amountWei: 1_000n * TOKEN });
  await other.staking.stake({ amountWei: 1_000n * TOKEN });
  const state = id("state");
  const trace = id("trace");
  const job = (label: string, extra: Record<string, unknown> = {}) =>
    submitter.jobs.create({
      specHash: id(label),
      paymentWei: 100n * TOKEN,
      timeoutSec: 3_600,
      challengeWindowSec: 600,
      requiredStakeWei: 200n * TOKEN,
      ...extra,
    });

  await t.step(
    "the whole lifecycle pays the provider minus 0.5% and releases its stake",
    async () => {
      await isolated(devnet, async () => {
        const before = await provider.token.balanceOf();
        const { jobId } = await job("lifecycle");
        assert.equal(
          await submitter.token.balanceOf({ account: devnet.addresses.jobMarket }),
          100n * TOKEN,
        );
        const { slot } = await provider.jobs.claim({ jobId });
        assert.equal(slot, 0);
        assert.equal((await provider.staking.get()).lockedWei, 200n * TOKEN);
        await provider.jobs.commit({ jobId, finalStateHash: state, traceRoot: trace });
        const committed = await provider.jobs.slot({ jobId });
        assert.equal(committed.status, "Committed");
        assert.equal(committed.commitment, commitmentOf(state, trace));
        await devnet.increaseTime(601);
        const paid = await other.jobs.finalize({ jobId });
        assert.equal(paid.paidWei, 99_500_000_000_000_000_000n);
        assert.equal(paid.feeWei, 500_000_000_000_000_000n);
        assert.equal((await provider.token.balanceOf()) - before, paid.paidWei);
        assert.equal((await provider.staking.get()).lockedWei, 0n);
        assert.equal((await provider.jobs.slot({ jobId })).status, "Paid");
        assert.equal(await submitter.fees.accrued(), paid.feeWei);
        const volume = await submitter.metrics.jobVolume();
        assert.equal(volume.jobsCreated, 1);
        assert.equal(volume.paidWei, paid.paidWei);
      });
    },
  );

  await t.step("replicas: two providers each earn half", async () => {
    await isolated(devnet, async () => {
      const { jobId } = await job("replicas", { replicas: 2 });
      assert.equal((await provider.jobs.claim({ jobId })).slot, 0);
      assert.equal((await other.jobs.claim({ jobId })).slot, 1);
      await assertReverts(devnet.client(4).jobs.claim({ jobId }), "NoOpenSlot");
      await provider.jobs.commit({ jobId, finalStateHash: state, traceRoot: trace });
      await other.jobs.commit({ jobId, finalStateHash: state, traceRoot: trace });
      await devnet.increaseTime(601);
      const a = await submitter.jobs.finalize({ jobId, slot: 0 });
      const b = await submitter.jobs.finalize({ jobId, slot: 1 });
      assert.equal(a.paidWei + a.feeWei, 50n * TOKEN);
      assert.equal(b.provider, other.account);
    });
  });

  await t.step("an unclaimed job refunds the submitter after its deadline", async () => {
    await isolated(devnet, async () => {
      const before = await submitter.token.balanceOf();
      const { jobId } = await job("unclaimed");
      await assertReverts(other.jobs.refund({ jobId }), "DeadlineNotReached");
      await devnet.increaseTime(3_601);
      await assertReverts(provider.jobs.claim({ jobId }), "JobExpired");
      const { refundedWei, abandoned } = await other.jobs.refund({ jobId });
      assert.equal(refundedWei, 100n * TOKEN);
      assert.deepEqual(abandoned, []);
      assert.equal(await submitter.token.balanceOf(), before);
      await assertReverts(other.jobs.refund({ jobId }), "NothingToSettle");
    });
  });

  await t.step("an abandoned job refunds the submitter and slashes the provider 10%", async () => {
    await isolated(devnet, async () => {
      const { jobId } = await job("abandoned");
      await provider.jobs.claim({ jobId });
      await devnet.increaseTime(3_601);
      await assertReverts(
        provider.jobs.commit({ jobId, finalStateHash: state, traceRoot: trace }),
        "JobExpired",
      );
      const before = await submitter.token.balanceOf();
      const { refundedWei, abandoned } = await other.jobs.refund({ jobId });
      assert.deepEqual(abandoned, [provider.account]);
      // Refund plus the slash (10% of the 200 required) as compensation.
      assert.equal((await submitter.token.balanceOf()) - before, refundedWei + 20n * TOKEN);
      const stake = await provider.staking.get();
      assert.equal(stake.stakedWei, 980n * TOKEN);
      assert.equal(stake.lockedWei, 0n);
      assert.equal((await provider.jobs.slot({ jobId })).status, "Slashed");
    });
  });

  await t.step("a submitter reassigns an abandoned slot to another provider", async () => {
    await isolated(devnet, async () => {
      const { jobId } = await job("reassign");
      await provider.jobs.claim({ jobId });
      await assertReverts(
        submitter.jobs.reassign({ jobId, deadline: (await devnet.now()) + 7_200n }),
        "DeadlineNotReached",
      );
      await devnet.increaseTime(3_601);
      await assertReverts(
        other.jobs.reassign({ jobId, deadline: (await devnet.now()) + 7_200n }),
        "NotSubmitter",
      );
      const { reopened } = await submitter.jobs.reassign({
        jobId,
        deadline: (await devnet.now()) + 7_200n,
      });
      assert.equal(reopened, 1);
      assert.equal((await provider.staking.get()).stakedWei, 980n * TOKEN);
      await other.jobs.claim({ jobId });
      await other.jobs.commit({ jobId, finalStateHash: state, traceRoot: trace });
      await devnet.increaseTime(601);
      assert.equal((await submitter.jobs.finalize({ jobId })).provider, other.account);
    });
  });

  await t.step(
    "a provider releases a slot it cannot run: free in the grace, the slot reopens, no re-claim",
    async () => {
      await isolated(devnet, async () => {
        const { jobId } = await job("release", { replicas: 2 });
        await provider.jobs.claim({ jobId });
        const claimedAt = (await provider.jobs.slot({ jobId })).committedAt;
        assert.ok(claimedAt > 0n, "the claim time is kept while the slot is claimed");
        await assertReverts(other.jobs.release({ jobId, reason: "job" }), "NotClaimant");
        const released = await provider.jobs.release({ jobId, reason: "job" });
        assert.equal(released.slot, 0);
        assert.equal(released.slashedWei, 0n);
        const stake = await provider.staking.get();
        assert.equal(stake.stakedWei, 1_000n * TOKEN);
        assert.equal(stake.lockedWei, 0n);
        const slot = await provider.jobs.slot({ jobId });
        assert.equal(slot.status, "Open");
        assert.equal(slot.provider, zeroAddress);
        // Claim, release, claim again would hold a slot for free forever: one release per job.
        await assertReverts(provider.jobs.claim({ jobId }), "ReleasedBefore");
        assert.equal((await other.jobs.claim({ jobId })).slot, 0);
        await assertReverts(provider.jobs.release({ jobId, reason: "node" }), "NotClaimant");
      });
    },
  );

  await t.step(
    "a release after the grace is an abandonment: slashed to the submitter",
    async () => {
      await isolated(devnet, async () => {
        const { jobId } = await job("late-release");
        await provider.jobs.claim({ jobId });
        await devnet.increaseTime(601); // the default release grace is 600 s
        const before = await submitter.token.balanceOf();
        const released = await provider.jobs.release({ jobId, reason: "node" });
        assert.equal(released.slashedWei, 20n * TOKEN); // 10% of the 200 required
        assert.equal((await submitter.token.balanceOf()) - before, 20n * TOKEN);
        assert.equal((await provider.staking.get()).lockedWei, 0n);
      });
    },
  );

  await t.step(
    "a committed slot cannot be released, so a release never escapes a dispute",
    async () => {
      await isolated(devnet, async () => {
        const { jobId } = await job("release-committed");
        await provider.jobs.claim({ jobId });
        await provider.jobs.commit({ jobId, finalStateHash: state, traceRoot: trace });
        await assertReverts(provider.jobs.release({ jobId, reason: "job" }), "NotClaimant");
        assert.equal((await provider.jobs.slot({ jobId })).status, "Committed");
      });
    },
  );

  await t.step(
    "the submitter cancels open slots at once; a provider's claimed slot stays its own",
    async () => {
      await isolated(devnet, async () => {
        const before = await submitter.token.balanceOf();
        const { jobId } = await job("cancel", { replicas: 2 });
        await provider.jobs.claim({ jobId });
        await assertReverts(other.jobs.cancel({ jobId }), "NotSubmitter");
        const cancelled = await submitter.jobs.cancel({ jobId });
        assert.equal(cancelled.slots, 1);
        assert.equal(cancelled.refundedWei, 50n * TOKEN);
        assert.equal((await submitter.token.balanceOf()) - before, -50n * TOKEN);
        assert.equal((await provider.jobs.slot({ jobId, slot: 0 })).status, "Claimed");
        assert.equal((await provider.jobs.slot({ jobId, slot: 1 })).status, "Refunded");
        await assertReverts(submitter.jobs.cancel({ jobId }), "NothingToSettle");
        await assertReverts(other.jobs.claim({ jobId }), "NoOpenSlot");
        // The provider gives up (job fault): its slot opens, and the submitter takes it back.
        await provider.jobs.release({ jobId, reason: "job" });
        assert.equal((await submitter.jobs.cancel({ jobId })).refundedWei, 50n * TOKEN);
        assert.equal(await submitter.token.balanceOf(), before);
        assert.equal(
          await submitter.token.balanceOf({ account: devnet.addresses.jobMarket }),
          0n,
        );
      });
    },
  );

  await t.step(
    "a released slot reassigned past the deadline stays open under the new one",
    async () => {
      await isolated(devnet, async () => {
        const { jobId } = await job("release-reassign");
        await provider.jobs.claim({ jobId });
        await provider.jobs.release({ jobId, reason: "node" });
        await devnet.increaseTime(3_601);
        const { reopened } = await submitter.jobs.reassign({
          jobId,
          deadline: (await devnet.now()) + 7_200n,
        });
        assert.equal(reopened, 1);
        await other.jobs.claim({ jobId });
        assert.equal((await other.jobs.slot({ jobId })).status, "Claimed");
      });
    },
  );

  await t.step(
    "a lost dispute slashes the provider, rewards the challenger, refunds the submitter",
    async () => {
      await isolated(devnet, async () => {
        const { jobId } = await job("dispute");
        await provider.jobs.claim({ jobId });
        await provider.jobs.commit({ jobId, finalStateHash: state, traceRoot: trace });
        await assertReverts(other.disputes.open({ jobId }), "NotVerifier");
        await referee.disputes.open({ jobId });
        await devnet.increaseTime(601);
        await assertReverts(submitter.jobs.finalize({ jobId }), "WrongSlotStatus");
        const challenger = devnet.accounts[8];
        const before = await submitter.token.balanceOf({ account: challenger });
        const subBefore = await submitter.token.balanceOf();
        const { slashedWei } = await referee.disputes.settle({
          jobId,
          providerHonest: false,
          challenger,
        });
        assert.equal(slashedWei, 100n * TOKEN); // 50% of the 200 required
        assert.equal(
          (await submitter.token.balanceOf({ account: challenger })) - before,
          50n * TOKEN,
        );
        assert.equal((await submitter.token.balanceOf()) - subBefore, 150n * TOKEN);
        assert.equal((await provider.staking.get()).stakedWei, 900n * TOKEN);
      });
    },
  );

  await t.step("a won dispute lets the provider be paid", async () => {
    await isolated(devnet, async () => {
      const { jobId } = await job("dispute-won");
      await provider.jobs.claim({ jobId });
      await provider.jobs.commit({ jobId, finalStateHash: state, traceRoot: trace });
      await referee.disputes.open({ jobId });
      await referee.disputes.settle({ jobId, providerHonest: true, challenger: other.account });
      await devnet.increaseTime(601);
      assert.equal((await other.jobs.finalize({ jobId })).provider, provider.account);
      assert.equal((await provider.staking.get()).stakedWei, 1_000n * TOKEN);
    });
  });

  await t.step(
    "a distributed job pays each worker for the rounds it counted in and refunds the rest",
    async () => {
      await isolated(devnet, async () => {
        const { jobId } = await job("work", { replicas: 2, paymentWei: 60n * TOKEN, workUnits: 3 });
        assert.equal((await submitter.jobs.get(jobId)).workUnits, 3);
        await provider.jobs.claim({ jobId });
        await other.jobs.claim({ jobId });
        await assertReverts(
          other.jobs.commitWork({ jobId, finalStateHash: state, traceRoot: trace, units: 0 }),
          "InvalidWorkUnits",
        );
        await assertReverts(
          other.jobs.commitWork({ jobId, finalStateHash: state, traceRoot: trace, units: 4 }),
          "InvalidWorkUnits",
        );
        // Worker 0 counted in every round, worker 1 in one of the three.
        await provider.jobs.commitWork({
          jobId,
          finalStateHash: state,
          traceRoot: trace,
          units: 3,
        });
        await other.jobs.commitWork({
          jobId,
          finalStateHash: id("early"),
          traceRoot: trace,
          units: 1,
        });
        const partial = await other.jobs.slot({ jobId, slot: 1 });
        assert.equal(partial.units, 1);
        assert.equal(partial.commitment, commitmentOf(id("early"), trace));
        await devnet.increaseTime(601);
        const before = await submitter.token.balanceOf();
        const full = await submitter.jobs.finalize({ jobId, slot: 0 });
        assert.equal(full.paidWei + full.feeWei, 30n * TOKEN);
        assert.equal(full.refundedWei, 0n);
        const part = await submitter.jobs.finalize({ jobId, slot: 1 });
        assert.equal(part.paidWei + part.feeWei, 10n * TOKEN);
        assert.equal(
          part.feeWei,
          10n * TOKEN * 50n / 10_000n,
          "the fee is on the worked share only",
        );
        assert.equal(part.refundedWei, 20n * TOKEN);
        assert.equal((await submitter.token.balanceOf()) - before, 20n * TOKEN);
        assert.equal((await other.staking.get()).lockedWei, 0n);
        assert.equal(
          await submitter.token.balanceOf({ account: devnet.addresses.jobMarket }),
          await submitter.fees.accrued(),
          "nothing of the escrow is left but fees",
        );
      });
    },
  );

  await t.step(
    "partial work rounds the worker's share down and refunds the remainder",
    async () => {
      await isolated(devnet, async () => {
        const { jobId } = await job("work-rounding", { workUnits: 3 });
        await provider.jobs.claim({ jobId });
        await provider.jobs.commitWork({
          jobId,
          finalStateHash: state,
          traceRoot: trace,
          units: 1,
        });
        await devnet.increaseTime(601);
        const paid = await other.jobs.finalize({ jobId });
        assert.equal(paid.paidWei + paid.feeWei, 33_333_333_333_333_333_333n);
        assert.equal(paid.refundedWei, 66_666_666_666_666_666_667n);
        assert.equal(paid.paidWei + paid.feeWei + paid.refundedWei, 100n * TOKEN);
      });
    },
  );

  await t.step("a plain commit on a distributed job claims every unit", async () => {
    await isolated(devnet, async () => {
      const { jobId } = await job("work-plain-commit", { workUnits: 4 });
      await provider.jobs.claim({ jobId });
      await provider.jobs.commit({ jobId, finalStateHash: state, traceRoot: trace });
      assert.equal((await provider.jobs.slot({ jobId })).units, 0);
      await devnet.increaseTime(601);
      const paid = await other.jobs.finalize({ jobId });
      assert.equal(paid.paidWei + paid.feeWei, 100n * TOKEN);
      assert.equal(paid.refundedWei, 0n);
    });
  });

  await t.step("bad input reverts with a decoded custom error and moves no funds", async () => {
    await isolated(devnet, async () => {
      const balances = async () =>
        await Promise.all([submitter, provider, other].map((c) => c.token.balanceOf()))
          .then(async (
            b,
          ) => [...b, await submitter.token.balanceOf({ account: devnet.addresses.jobMarket })]);
      const unknown: Hex = id("never created");
      const { jobId } = await job("bad-input");
      const before = await balances();
      const cases: [string, () => Promise<unknown>][] = [
        ["ZeroAmount", () => job("zero", { paymentWei: 0n })],
        ["ZeroSpecHash", () => job("x", { specHash: `0x${"00".repeat(32)}` })],
        ["InvalidReplicas", () => job("r", { replicas: 0 })],
        ["PaymentNotDivisible", () => job("d", { replicas: 3, paymentWei: 100n })],
        ["InvalidChallengeWindow", () => job("w", { challengeWindowSec: 1 })],
        ["DeadlineInPast", () => job("p", { deadline: 1n })],
        ["JobExists", () => job("bad-input")],
        ["UnknownJob", () => provider.jobs.claim({ jobId: unknown })],
        ["UnknownJob", () => submitter.jobs.finalize({ jobId: unknown })],
        ["UnknownJob", () => submitter.jobs.get(unknown)],
        [
          "NotClaimant",
          () => other.jobs.commit({ jobId, finalStateHash: state, traceRoot: trace }),
        ],
        ["InsufficientUnlockedStake", () => devnet.client(4).jobs.claim({ jobId })],
      ];
      for (const [name, call] of cases) await assertReverts(call(), name);
      await provider.jobs.claim({ jobId });
      const afterClaim = await balances();
      await assertReverts(provider.jobs.claim({ jobId }), "AlreadyClaimed");
      const plain = await assertReverts(
        provider.jobs.commitWork({ jobId, finalStateHash: state, traceRoot: trace, units: 1 }),
        "InvalidWorkUnits",
      );
      assert.match(plain.message, /not distributed/);
      await assertReverts(
        provider.jobs.commit({ jobId, finalStateHash: `0x${"00".repeat(32)}`, traceRoot: trace }),
        "ZeroCommitment",
      );
      await provider.jobs.commit({ jobId, finalStateHash: state, traceRoot: trace });
      const err = await assertReverts(provider.jobs.finalize({ jobId }), "ChallengeWindowOpen");
      assert.match(err.message, /finalize after that/);
      assert.equal(err.code, "CHALLENGE_WINDOW_OPEN");
      await assertReverts(provider.jobs.finalize({ jobId, slot: 5 }), "UnknownSlot");
      assert.deepEqual(await balances(), afterClaim);
      assert.deepEqual(afterClaim, before); // claiming locks stake, it moves no tokens
      assert.notEqual((await submitter.jobs.get(jobId)).submitter, zeroAddress);
    });
  });
});
