import assert from "node:assert/strict";
import { jobMarketAbi } from "../../lib/chain/artifacts/JobMarket.ts";
import { protocolGovernorAbi } from "../../lib/chain/artifacts/ProtocolGovernor.ts";
import { encodeFunctionData } from "viem";
import { send, startDevnet } from "../../lib/chain/mod.ts";
import { assertReverts, id, isolated, TOKEN } from "./_devnet.ts";

Deno.test("governance owns every parameter, through the timelock", async (t) => {
  await using devnet = await startDevnet();
  const holder = devnet.deployer; // holds most of the supply
  const feeBps = () =>
    holder.public.readContract({
      address: devnet.addresses.jobMarket,
      abi: jobMarketAbi,
      functionName: "feeBps",
    });

  await t.step("no account can change a parameter directly, not even the deployer", async () => {
    const err = await assertReverts(
      send(holder, {
        address: devnet.addresses.jobMarket,
        abi: jobMarketAbi,
        functionName: "setFeeBps",
        args: [10],
        action: "jobMarket.setFeeBps",
      }),
      "OwnableUnauthorizedAccount",
    );
    assert.match(err.message, /governance\.propose/);
  });

  await t.step("a proposal lowers the fee after vote, queue and timelock delay", async () => {
    await isolated(devnet, async () => {
      const submitter = devnet.client(1);
      const provider = devnet.client(2);
      const slasher = devnet.client(devnet.accounts.indexOf(devnet.referee));
      await provider.staking.stake({ amountWei: 1_000n * TOKEN });
      /** A job claimed and committed by `provider`, with 100 tokens of required stake. */
      const committed = async (label: string) => {
        const { jobId } = await submitter.jobs.create({
          specHash: id(label),
          paymentWei: 1_000n * TOKEN,
          timeoutSec: 30 * 86_400,
          challengeWindowSec: 30 * 86_400,
          requiredStakeWei: 100n * TOKEN,
        });
        await provider.jobs.claim({ jobId });
        await provider.jobs.commit({ jobId, finalStateHash: id("s"), traceRoot: id("t") });
        return jobId;
      };
      /** Stake the provider loses when `jobId`'s dispute goes against it. */
      const slashOf = async (jobId: `0x${string}`) => {
        const before = (await provider.staking.get()).stakedWei;
        await slasher.disputes.open({ jobId });
        await slasher.disputes.settle({
          jobId,
          providerHonest: false,
          challenger: slasher.account,
        });
        return before - (await provider.staking.get()).stakedWei;
      };
      // A job opened under the old terms keeps them: governance never changes what it risks.
      const openBefore = await committed("before-vote");
      await holder.governance.delegate();
      await devnet.increaseTime(1);
      const proposal = {
        calls: [
          holder.governance.parameterCall({
            contract: "jobMarket",
            functionName: "setFeeBps",
            value: 40,
          }),
          holder.governance.parameterCall({
            contract: "jobMarket",
            functionName: "setDisputeSlashBps",
            value: 9_000,
          }),
        ],
        description: "Lower the protocol fee to 0.4%, raise the dispute slash to 90%",
      };
      const { proposalId } = await holder.governance.propose(proposal);
      assert.equal(await holder.governance.state(proposalId), "Pending");
      await assertReverts(
        holder.governance.vote({ proposalId, support: "for" }),
        "GovernorUnexpectedProposalState",
      );
      await devnet.increaseTime(86_400 + 1);
      assert.equal(await holder.governance.state(proposalId), "Active");
      await holder.governance.vote({ proposalId, support: "for" });
      await devnet.client(1).governance.vote({ proposalId, support: "against" });
      await devnet.increaseTime(7 * 86_400 + 1);
      assert.equal(await holder.governance.state(proposalId), "Succeeded");
      await holder.governance.queue(proposal);
      assert.equal(await holder.governance.state(proposalId), "Queued");
      await assertReverts(holder.governance.execute(proposal), "TimelockUnexpectedOperationState");
      await devnet.increaseTime(2 * 86_400 + 1);
      await holder.governance.execute(proposal);
      assert.equal(await holder.governance.state(proposalId), "Executed");
      assert.equal(await feeBps(), 40);
      // The open job is slashed at the 50% it was created under; a new one at 90%.
      assert.equal(await slashOf(openBefore), 50n * TOKEN);
      assert.equal(await slashOf(await committed("after-vote-slashed")), 90n * TOKEN);
      // New jobs pay the new fee.
      const { jobId } = await submitter.jobs.create({
        specHash: id("after-vote"),
        paymentWei: 1_000n * TOKEN,
        timeoutSec: 3_600,
        challengeWindowSec: 60,
      });
      await provider.jobs.claim({ jobId });
      await provider.jobs.commit({ jobId, finalStateHash: id("s"), traceRoot: id("t") });
      await devnet.increaseTime(61);
      assert.equal((await provider.jobs.finalize({ jobId })).feeWei, 4n * TOKEN);
    });
  });

  await t.step("a proposal without quorum is defeated and changes nothing", async () => {
    await isolated(devnet, async () => {
      const small = devnet.client(3); // 0.1% of supply: below the 4% quorum
      await small.governance.delegate();
      await devnet.increaseTime(1);
      const proposal = {
        calls: [small.governance.parameterCall({
          contract: "feeRouter",
          functionName: "setBurnBps",
          value: 0,
        })],
        description: "Stop burning",
      };
      const { proposalId } = await small.governance.propose(proposal);
      await devnet.increaseTime(86_400 + 1);
      await small.governance.vote({ proposalId, support: "for" });
      await devnet.increaseTime(7 * 86_400 + 1);
      assert.equal(await small.governance.state(proposalId), "Defeated");
      await assertReverts(small.governance.queue(proposal), "GovernorUnexpectedProposalState");
    });
  });

  await t.step("a dispute open when governance retires its game still ends", async () => {
    await isolated(devnet, async () => {
      const submitter = devnet.client(1);
      const provider = devnet.client(2);
      const game = devnet.client(devnet.accounts.indexOf(devnet.referee));
      await provider.staking.stake({ amountWei: 1_000n * TOKEN });
      const committed = async (label: string) => {
        const { jobId } = await submitter.jobs.create({
          specHash: id(label),
          paymentWei: 10n * TOKEN,
          timeoutSec: 30 * 86_400,
          challengeWindowSec: 30 * 86_400,
          requiredStakeWei: 100n * TOKEN,
        });
        await provider.jobs.claim({ jobId });
        await provider.jobs.commit({ jobId, finalStateHash: id("s"), traceRoot: id("t") });
        return jobId;
      };
      const open = await committed("open-at-retirement");
      await game.disputes.open({ jobId: open });
      const later = await committed("after-retirement");
      await holder.governance.delegate();
      await devnet.increaseTime(1);
      const proposal = {
        calls: [{
          target: devnet.addresses.jobMarket,
          data: encodeFunctionData({
            abi: jobMarketAbi,
            functionName: "setVerifier",
            args: [devnet.referee, false],
          }),
        }],
        description: "Retire a verification contract",
      };
      const { proposalId } = await holder.governance.propose(proposal);
      await devnet.increaseTime(86_400 + 1);
      await holder.governance.vote({ proposalId, support: "for" });
      await devnet.increaseTime(7 * 86_400 + 1);
      await holder.governance.queue(proposal);
      await devnet.increaseTime(2 * 86_400 + 1);
      await holder.governance.execute(proposal);
      // Retired: it opens nothing new, and settles nothing it did not open...
      await assertReverts(game.disputes.open({ jobId: later }), "NotVerifier");
      await assertReverts(
        game.disputes.settle({ jobId: later, providerHonest: false, challenger: game.account }),
        "WrongSlotStatus",
      );
      // ...but the dispute it opened still ends, and the slot with it.
      await game.disputes.settle({ jobId: open, providerHonest: true, challenger: game.account });
      assert.equal((await provider.jobs.slot({ jobId: open })).status, "Committed");
    });
  });

  await t.step("staked tokens keep their vote: active stake counts at the snapshot", async () => {
    await isolated(devnet, async () => {
      const staker = devnet.client(3);
      const votesAt = async (account: `0x${string}`, timepoint: bigint) =>
        await holder.public.readContract({
          address: devnet.addresses.governor,
          abi: protocolGovernorAbi,
          functionName: "getVotes",
          args: [account, timepoint],
        });
      // It delegates its tokens to itself, then stakes most of them: its voice stays whole.
      const balance = await staker.token.balanceOf();
      await staker.governance.delegate();
      await staker.staking.stake({ amountWei: 600_000n * TOKEN });
      await devnet.increaseTime(10);
      const block = await holder.public.getBlock({ blockTag: "latest" });
      await devnet.increaseTime(10);
      await holder.governance.delegate();
      assert.equal(await votesAt(staker.account, block.timestamp), balance);
      // Unstaking takes the stake's votes away (the tokens are on their way out).
      await staker.staking.requestUnstake({ amountWei: 100_000n * TOKEN });
      const after = await holder.public.getBlock({ blockTag: "latest" });
      await devnet.increaseTime(10);
      await holder.governance.delegate();
      assert.equal(await votesAt(staker.account, after.timestamp), balance - 100_000n * TOKEN);
    });
  });
});
