import assert from "node:assert/strict";
import type { Hex } from "viem";
import { type DisputeView, midpointOf, startDevnet, workRoundOf } from "../../lib/chain/mod.ts";
import { toBytes32 } from "../../lib/core/hash.ts";
import { opChain } from "../../lib/proof/bisect.ts";
import { merkleProof, merkleRoot } from "../../lib/proof/merkle.ts";
import { sha256Sync } from "../../lib/proof/ops.ts";
import { assertReverts, isolated, TOKEN } from "./_devnet.ts";

/** A SHA-256 hex from a label (no 0x), like the trace's hashes. */
const hx = (label: string): string => sha256Sync(label);
const b32 = (hash: string): Hex => toBytes32(hash);

const STEPS = 40;
const K = 10;
const BOND = 10n * TOKEN;
const STAKE = 200n * TOKEN;

Deno.test("dispute game on a real anvil chain", async (t) => {
  await using devnet = await startDevnet();
  const submitter = devnet.client(1);
  const provider = devnet.client(2);
  const challenger = devnet.client(3);
  const anyone = devnet.client(4);
  await provider.staking.stake({ amountWei: 1_000n * TOKEN });
  // No party to a job referees it: a staked verifier outside the dispute does, drawn by the game.
  const referee = devnet.client(5);
  await referee.staking.stake({ amountWei: STAKE });
  await referee.verifiers.register();
  /** Draws the committee of dispute `id` (the referee alone is eligible) and returns its member. */
  const drawn = async (id: bigint) => {
    const { members } = await anyone.game.drawCommittee(id);
    assert.deepEqual(members, [referee.account]);
    return referee;
  };

  // The provider's trace: checkpoints at 0, 10, 20, 30, 40. The honest run is `h:<step>`; the
  // provider went wrong at step 23 (its states from 23 on are `p:<step>`).
  const honest = (step: number) => hx(`h:${step}`);
  const claimed = (step: number) => step >= 23 ? hx(`p:${step}`) : honest(step);
  const leaves = [0, 10, 20, 30, 40].map(claimed);
  const root = await merkleRoot(leaves);
  const finalHash = leaves[leaves.length - 1];
  // Op records of step 22 -> 23: they differ from index 13 on.
  const opsC = Array.from({ length: 20 }, (_, i) => hx(`op:${i}`));
  const opsP = opsC.map((h, i) => i === 13 ? hx("forged op") : h);

  let n = 0;
  const committedJob = async (refereeCommittee?: number): Promise<Hex> => {
    const { jobId } = await submitter.jobs.create({
      ...(refereeCommittee ? { refereeCommittee } : {}),
      specHash: b32(hx(`job ${n++}`)),
      paymentWei: 100n * TOKEN,
      timeoutSec: 3_600,
      challengeWindowSec: 600,
      requiredStakeWei: STAKE,
      checkpointInterval: K,
      steps: STEPS,
    });
    await provider.jobs.claim({ jobId });
    await provider.jobs.commit({ jobId, finalStateHash: b32(finalHash), traceRoot: b32(root) });
    return jobId;
  };
  // A distributed job's worker: its trace root is over round records, not checkpoints.
  const rounds = [0, 1, 2].map((r) => hx(`round:${r}`));
  const workRoot = await merkleRoot(rounds);
  const workFinal = hx("outer state after round 2");
  const committedWork = async (): Promise<Hex> => {
    const { jobId } = await submitter.jobs.create({
      specHash: b32(hx(`dist job ${n++}`)),
      paymentWei: 100n * TOKEN,
      timeoutSec: 3_600,
      challengeWindowSec: 600,
      requiredStakeWei: STAKE,
      workUnits: 3,
    });
    await provider.jobs.claim({ jobId });
    await provider.jobs.commitWork({
      jobId,
      finalStateHash: b32(workFinal),
      traceRoot: b32(workRoot),
      units: 3,
    });
    return jobId;
  };
  const workCommitment = { finalStateHash: b32(workFinal), traceRoot: b32(workRoot) };
  const openParams = async (jobId: Hex, segment: number, challengerTo?: string) => ({
    jobId,
    finalStateHash: b32(finalHash),
    traceRoot: b32(root),
    segment,
    providerFrom: b32(leaves[segment]),
    proofFrom: (await merkleProof(leaves, segment)).map((p) => b32(p.hash)),
    providerTo: b32(leaves[segment + 1]),
    proofTo: (await merkleProof(leaves, segment + 1)).map((p) => b32(p.hash)),
    challengerFrom: b32(honest(segment * K)),
    challengerTo: b32(challengerTo ?? honest((segment + 1) * K)),
  });
  /** Plays both bisection phases with the given hash functions; returns the gas used. */
  const play = async (
    id: bigint,
    hashes: { provider: (at: number) => string; challenger: (at: number) => string },
    ops: { provider: string[]; challenger: string[] },
  ): Promise<{ gas: bigint; view: DisputeView }> => {
    let gas = 0n;
    for (let d = await anyone.game.get(id); d.phase !== "Referee" && d.phase !== "Done";) {
      if (d.phase === "OpsCommit") {
        gas += (await provider.game.commitOps({
          id,
          count: ops.provider.length,
          root: b32(opChain(ops.provider, ops.provider.length)),
          evidence: b32(hx("provider evidence")),
        })).receipt.gasUsed;
        gas += (await challenger.game.commitOps({
          id,
          count: ops.challenger.length,
          root: b32(opChain(ops.challenger, ops.challenger.length)),
          evidence: b32(hx("challenger evidence")),
        })).receipt.gasUsed;
      } else {
        const mid = midpointOf(d);
        const [p, c] = d.phase === "Steps"
          ? [hashes.provider(mid), hashes.challenger(mid)]
          : [opChain(ops.provider, mid), opChain(ops.challenger, mid)];
        gas += (await provider.game.post({ id, hash: b32(p) })).receipt.gasUsed;
        gas += (await challenger.game.answer({ id, hash: b32(c) })).receipt.gasUsed;
      }
      d = await anyone.game.get(id);
    }
    return { gas, view: await anyone.game.get(id) };
  };

  await t.step(
    "a full two-phase dispute ends at the first differing kernel; the cheater is slashed",
    async () => {
      await isolated(devnet, async () => {
        const jobId = await committedJob();
        const bondBefore = await challenger.token.balanceOf();
        const stakeBefore = await provider.staking.get();
        const opened = await challenger.game.open(await openParams(jobId, 2));
        assert.equal((await provider.jobs.slot({ jobId })).status, "Disputed");
        assert.equal(await challenger.token.balanceOf(), bondBefore - BOND);
        let gas = opened.receipt.gasUsed;
        const played = await play(opened.id, { provider: claimed, challenger: honest }, {
          provider: opsP,
          challenger: opsC,
        });
        gas += played.gas;
        const d = played.view;
        assert.equal(d.phase, "Referee");
        assert.equal(d.step, 22, "agreed at step 22, disagree at 23");
        assert.equal(d.lo, 13, "the first differing op record");
        assert.equal(d.submitter, submitter.account);
        const evidence = await anyone.game.evidence(d.id);
        assert.equal(evidence.found?.step, 22);
        assert.equal(evidence.found?.agreedState, b32(honest(22)));
        assert.equal(evidence.found?.providerClaim, b32(claimed(23)));
        assert.equal(evidence.found?.challengerClaim, b32(honest(23)));
        assert.equal(evidence.ops.get(provider.account.toLowerCase())?.count, 20);
        assert.equal(
          evidence.ops.get(challenger.account.toLowerCase())?.evidence,
          b32(hx("challenger evidence")),
        );
        // Only the drawn committee rules (not a party, not the submitter), and only on the
        // records the parties committed.
        await assertReverts(
          referee.game.rule({ id: d.id, ruling: "Challenger", kernel: "MatMul" }),
          "CommitteeNotDrawn",
        );
        gas += (await anyone.game.drawCommittee(d.id)).receipt.gasUsed;
        for (const party of [challenger, submitter]) {
          await assertReverts(
            party.game.rule({ id: d.id, ruling: "Challenger", kernel: "MatMul" }),
            "NotYourMove",
          );
        }
        await assertReverts(
          referee.game.rule({
            id: d.id,
            ruling: "Challenger",
            providerOp: b32(opsP[13]),
            challengerOp: b32(opsP[13]),
            kernel: "MatMul",
          }),
          "InconsistentRuling",
        );
        const ruled = await referee.game.rule({
          id: d.id,
          ruling: "Challenger",
          providerOp: b32(opsP[13]),
          challengerOp: b32(opsC[13]),
          kernel: "MatMul",
        });
        gas += ruled.receipt.gasUsed;
        assert.ok(gas <= 2_000_000n, `a whole dispute used ${gas} gas`);
        const done = await anyone.game.get(d.id);
        assert.equal(done.phase, "Done");
        assert.equal(done.outcome, "ChallengerWon");
        assert.equal((await provider.jobs.slot({ jobId })).status, "Slashed");
        const stakeAfter = await provider.staking.get();
        // disputeSlashBps 50% of the required stake; half of it to the challenger.
        assert.equal(stakeBefore.stakedWei - stakeAfter.stakedWei, STAKE / 2n);
        assert.equal(await challenger.token.balanceOf(), bondBefore + STAKE / 4n);
        await assertReverts(provider.game.post({ id: d.id, hash: b32(hx("x")) }), "WrongPhase");
      });
    },
  );

  await t.step(
    "a false accusation: the challenger forfeits its bond, the provider is paid",
    async () => {
      await isolated(devnet, async () => {
        const jobId = await committedJob();
        const providerBefore = await provider.token.balanceOf();
        const supplyBefore = (await anyone.token.supply()).totalSupplyWei;
        // The lying challenger claims a different state at step 40 and at every step after 35.
        const lie = (s: number) => s > 35 ? hx(`lie:${s}`) : claimed(s);
        const { id } = await challenger.game.open(
          await openParams(jobId, 3, lie(40)).then((p) => ({
            ...p,
            challengerFrom: b32(claimed(30)),
          })),
        );
        const opsLie = opsP.map((h, i) => i === 5 ? hx("lie op") : h);
        const { view } = await play(id, { provider: claimed, challenger: lie }, {
          provider: opsP,
          challenger: opsLie,
        });
        assert.equal(view.step, 35);
        assert.equal(view.lo, 5);
        await (await drawn(id)).game.rule({
          id,
          ruling: "Provider",
          providerOp: b32(opsP[5]),
          challengerOp: b32(opsLie[5]),
          kernel: "Add",
        });
        assert.equal((await anyone.game.get(id)).outcome, "ProviderWon");
        assert.equal(await provider.token.balanceOf(), providerBefore + BOND / 2n);
        assert.equal((await anyone.token.supply()).totalSupplyWei, supplyBefore - BOND / 2n);
        assert.equal((await provider.jobs.slot({ jobId })).status, "Committed");
        await devnet.increaseTime(601);
        const paid = await anyone.jobs.finalize({ jobId });
        assert.equal(paid.paidWei + paid.feeWei, 100n * TOKEN);
      });
    },
  );

  await t.step("a provider that stops answering loses", async () => {
    await isolated(devnet, async () => {
      const jobId = await committedJob();
      const { id } = await challenger.game.open(await openParams(jobId, 2));
      await assertReverts(anyone.game.timeout(id), "TooEarly");
      await devnet.increaseTime(601);
      await assertReverts(provider.game.post({ id, hash: b32(hx("late")) }), "MoveTooLate");
      await anyone.game.timeout(id);
      assert.equal((await anyone.game.get(id)).outcome, "ChallengerWon");
      assert.equal((await provider.jobs.slot({ jobId })).status, "Slashed");
    });
  });

  await t.step("a challenger that stops answering loses its bond", async () => {
    await isolated(devnet, async () => {
      const jobId = await committedJob();
      const { id } = await challenger.game.open(await openParams(jobId, 2));
      const d = await anyone.game.get(id);
      await provider.game.post({ id, hash: b32(claimed(midpointOf(d))) });
      await devnet.increaseTime(601);
      await anyone.game.timeout(id);
      assert.equal((await anyone.game.get(id)).outcome, "ProviderWon");
      assert.equal((await provider.jobs.slot({ jobId })).status, "Committed");
    });
  });

  await t.step("a silent party at the op commit loses; a silent referee voids", async () => {
    await isolated(devnet, async () => {
      const jobId = await committedJob();
      const { id } = await challenger.game.open(await openParams(jobId, 2));
      const steps = { provider: claimed, challenger: honest };
      for (let d = await anyone.game.get(id); d.phase === "Steps"; d = await anyone.game.get(id)) {
        await provider.game.post({ id, hash: b32(steps.provider(midpointOf(d))) });
        await challenger.game.answer({ id, hash: b32(steps.challenger(midpointOf(d))) });
      }
      await challenger.game.commitOps({
        id,
        count: 20,
        root: b32(opChain(opsC, 20)),
        evidence: b32(hx("e")),
      });
      await assertReverts(
        challenger.game.commitOps({
          id,
          count: 20,
          root: b32(opChain(opsC, 20)),
          evidence: b32(hx("e")),
        }),
        "AlreadyCommitted",
      );
      await devnet.increaseTime(601);
      await anyone.game.timeout(id);
      assert.equal((await anyone.game.get(id)).outcome, "ChallengerWon");
    });
    await isolated(devnet, async () => {
      const jobId = await committedJob();
      const before = await challenger.token.balanceOf();
      const { id } = await challenger.game.openAvailability({
        jobId,
        finalStateHash: b32(finalHash),
        traceRoot: b32(root),
      });
      assert.equal((await anyone.game.get(id)).phase, "Referee");
      await devnet.increaseTime(1_801);
      await assertReverts(anyone.game.drawCommittee(id), "MoveTooLate");
      await anyone.game.timeout(id);
      assert.equal((await anyone.game.get(id)).outcome, "Voided");
      assert.equal(await challenger.token.balanceOf(), before, "the bond came back");
      assert.equal((await provider.jobs.slot({ jobId })).status, "Committed");
    });
  });

  await t.step("availability and initial-state disputes go straight to the referee", async () => {
    await isolated(devnet, async () => {
      const jobId = await committedJob();
      const { id } = await challenger.game.openAvailability({
        jobId,
        finalStateHash: b32(finalHash),
        traceRoot: b32(root),
        subject: b32(leaves[2]),
      });
      await (await drawn(id)).game.rule({ id, ruling: "Challenger", kernel: "(availability)" });
      assert.equal((await provider.jobs.slot({ jobId })).status, "Slashed");
    });
    await isolated(devnet, async () => {
      const jobId = await committedJob();
      const p = await openParams(jobId, 0);
      const { id } = await challenger.game.open({
        ...p,
        challengerFrom: b32(hx("spec init")),
        challengerTo: b32(hx("spec run at 10")),
      });
      const d = await anyone.game.get(id);
      assert.equal(d.phase, "Referee");
      assert.equal(d.step, 0xffff_ffff);
      await (await drawn(id)).game.rule({ id, ruling: "Provider", kernel: "(initial state)" });
      assert.equal((await anyone.game.get(id)).outcome, "ProviderWon");
    });
  });

  await t.step("work disputes on a distributed worker's round go to the referee", async () => {
    await isolated(devnet, async () => {
      // Bisection has nothing to work on in a checkpointed job's trace either way, but a work
      // dispute only makes sense where the trace is over rounds.
      const jobId = await committedJob();
      const before = await challenger.token.balanceOf();
      await assertReverts(
        challenger.game.openWork({
          jobId,
          finalStateHash: b32(finalHash),
          traceRoot: b32(root),
          round: 1,
        }),
        "NotDistributed",
      );
      assert.equal(await challenger.token.balanceOf(), before);
      assert.equal((await provider.jobs.slot({ jobId })).status, "Committed");
    });
    await isolated(devnet, async () => {
      const jobId = await committedWork();
      const before = await challenger.token.balanceOf();
      await assertReverts(
        challenger.game.openWork({ jobId, ...workCommitment, traceRoot: b32(root), round: 2 }),
        "CommitmentMismatch",
      );
      await assertReverts(
        challenger.game.openWork({
          jobId,
          ...workCommitment,
          finalStateHash: b32(hx("other state")),
          round: 2,
        }),
        "CommitmentMismatch",
      );
      assert.equal(await challenger.token.balanceOf(), before);
    });
    await isolated(devnet, async () => {
      const jobId = await committedWork();
      const bondBefore = await challenger.token.balanceOf();
      const stakeBefore = await provider.staking.get();
      const opened = await challenger.game.openWork({ jobId, ...workCommitment, round: 2 });
      console.log(`openWork used ${opened.receipt.gasUsed} gas`);
      assert.equal((await provider.jobs.slot({ jobId })).status, "Disputed");
      assert.equal(await challenger.token.balanceOf(), bondBefore - BOND);
      const d = await anyone.game.get(opened.id);
      assert.equal(d.kind, "Work");
      assert.equal(d.phase, "Referee");
      assert.equal(d.submitter, submitter.account);
      assert.equal(workRoundOf(d.subject), 2);
      await drawn(d.id);
      await assertReverts(
        challenger.game.rule({ id: d.id, ruling: "Challenger", kernel: "(work round 2)" }),
        "NotYourMove",
      );
      await referee.game.rule({ id: d.id, ruling: "Challenger", kernel: "(work round 2)" });
      assert.equal((await anyone.game.get(d.id)).outcome, "ChallengerWon");
      assert.equal((await provider.jobs.slot({ jobId })).status, "Slashed");
      const stakeAfter = await provider.staking.get();
      assert.equal(stakeBefore.stakedWei - stakeAfter.stakedWei, STAKE / 2n);
      // The bond came back, with half the slash on top.
      assert.equal(await challenger.token.balanceOf(), bondBefore + STAKE / 4n);
    });
    await isolated(devnet, async () => {
      const jobId = await committedWork();
      const providerBefore = await provider.token.balanceOf();
      const challengerBefore = await challenger.token.balanceOf();
      const supplyBefore = (await anyone.token.supply()).totalSupplyWei;
      // No round named: the worker's units claim as a whole.
      const { id } = await challenger.game.openWork({ jobId, ...workCommitment });
      const d = await anyone.game.get(id);
      assert.equal(d.kind, "Work");
      assert.equal(d.subject, `0x${"00".repeat(32)}`);
      assert.equal(workRoundOf(d.subject), undefined);
      await (await drawn(id)).game.rule({ id, ruling: "Provider", kernel: "(work units)" });
      assert.equal((await anyone.game.get(id)).outcome, "ProviderWon");
      assert.equal(await challenger.token.balanceOf(), challengerBefore - BOND);
      assert.equal(await provider.token.balanceOf(), providerBefore + BOND / 2n);
      assert.equal((await anyone.token.supply()).totalSupplyWei, supplyBefore - BOND / 2n);
      assert.equal((await provider.jobs.slot({ jobId })).status, "Committed");
      await devnet.increaseTime(601);
      const paid = await anyone.jobs.finalize({ jobId });
      assert.equal(paid.paidWei + paid.feeWei, 100n * TOKEN);
    });
  });

  await t.step("a referee committee of staked verifiers rules by majority", async () => {
    const PENALTY = BOND; // the game's default refereePenalty
    const stakeOf = async (account: Hex) => (await anyone.staking.get(account)).stakedWei;
    await isolated(devnet, async () => {
      // No eligible verifier outside the dispute: nobody can rule, so the dispute is voided at
      // once (the bond comes back, the slot is committed again); the submitter never rules.
      await referee.verifiers.deregister();
      await challenger.staking.stake({ amountWei: STAKE });
      await challenger.verifiers.register();
      const jobId = await committedJob(3);
      assert.equal((await anyone.jobs.get(jobId)).refereeCommittee, 3);
      const before = await challenger.token.balanceOf();
      const { id } = await challenger.game.openAvailability({
        jobId,
        finalStateHash: b32(finalHash),
        traceRoot: b32(root),
      });
      assert.equal((await anyone.game.get(id)).outcome, "Voided");
      assert.equal(await challenger.token.balanceOf(), before);
      assert.equal((await provider.jobs.slot({ jobId })).status, "Committed");
      // Two eligible verifiers for a committee of three: an odd committee of one, never a tie.
      for (const c of [5, 6].map((i) => devnet.client(i))) {
        await c.staking.stake({ amountWei: STAKE });
        await c.verifiers.register();
      }
      const second = await challenger.game.openAvailability({
        jobId: await committedJob(3),
        finalStateHash: b32(finalHash),
        traceRoot: b32(root),
      });
      assert.deepEqual((await anyone.game.committee(second.id)).members, [], "drawn next block");
      await anyone.game.drawCommittee(second.id);
      const one = await anyone.game.committee(second.id);
      assert.equal(one.members.length, 1);
      assert.equal(one.quorum, 1);
      assert.ok([5, 6].map((i) => devnet.accounts[i]).includes(one.members[0]));
      await assertReverts(
        submitter.game.rule({ id: second.id, ruling: "Provider", kernel: "(availability)" }),
        "NotYourMove",
      );
      const member = devnet.client(devnet.accounts.indexOf(one.members[0]));
      await member.game.rule({ id: second.id, ruling: "Provider", kernel: "(availability)" });
      assert.equal((await anyone.game.get(second.id)).outcome, "ProviderWon");
    });
    await isolated(devnet, async () => {
      for (const c of [challenger, ...[6, 7, 8].map((i) => devnet.client(i))]) {
        await c.staking.stake({ amountWei: STAKE });
        await c.verifiers.register();
      }
      for (const size of [2, 11]) {
        await assertReverts(committedJob(size), "InvalidRefereeCommittee");
      }
      const jobId = await committedJob(3);
      const opened = await challenger.game.open(await openParams(jobId, 2));
      assert.deepEqual((await anyone.game.committee(opened.id)).members, [], "drawn at the ruling");
      const { view: d } = await play(opened.id, { provider: claimed, challenger: honest }, {
        provider: opsP,
        challenger: opsC,
      });
      assert.equal(d.phase, "Referee");
      await anyone.game.drawCommittee(d.id);
      await assertReverts(anyone.game.drawCommittee(d.id), "CommitteeAlreadyDrawn");
      const committee = await anyone.game.committee(d.id);
      assert.equal(committee.members.length, 3);
      assert.equal(committee.quorum, 2);
      assert.deepEqual(committee.votes, [undefined, undefined, undefined]);
      const eligible = [5, 6, 7, 8].map((i) => devnet.accounts[i]);
      for (const m of committee.members) assert.ok(eligible.includes(m), `${m} is not eligible`);
      assert.equal(new Set(committee.members).size, 3);
      const [a, b, c] = committee.members.map((m) => devnet.client(devnet.accounts.indexOf(m)));
      const outsider = devnet.client(
        devnet.accounts.indexOf(eligible.find((e) => !committee.members.includes(e))!),
      );
      const ruleAs = (who: typeof a, ruling: "Provider" | "Challenger", forged = false) =>
        who.game.rule({
          id: d.id,
          ruling,
          providerOp: b32(opsP[13]),
          challengerOp: b32(forged ? opsP[13] : opsC[13]),
          kernel: "MatMul",
        });
      // Only members rule: not the submitter, not a verifier left out of the draw.
      await assertReverts(ruleAs(submitter, "Challenger"), "NotYourMove");
      await assertReverts(ruleAs(outsider, "Challenger"), "NotYourMove");
      const stakes = await Promise.all([a, b, c].map((m) => stakeOf(m.account)));
      await ruleAs(a, "Provider");
      await assertReverts(ruleAs(a, "Challenger"), "AlreadyVoted");
      await assertReverts(ruleAs(b, "Challenger", true), "InconsistentRuling");
      await ruleAs(b, "Challenger");
      assert.equal((await anyone.game.get(d.id)).phase, "Referee", "1 to 1: no majority yet");
      assert.deepEqual((await anyone.game.committee(d.id)).votes, [
        "Provider",
        "Challenger",
        undefined,
      ]);
      await ruleAs(c, "Challenger");
      const done = await anyone.game.get(d.id);
      assert.equal(done.outcome, "ChallengerWon");
      assert.equal((await provider.jobs.slot({ jobId })).status, "Slashed");
      // The member that ruled against the majority lost the penalty; the others nothing.
      assert.equal(await stakeOf(a.account), stakes[0] - PENALTY);
      assert.equal(await stakeOf(b.account), stakes[1]);
      assert.equal(await stakeOf(c.account), stakes[2]);
    });
    await isolated(devnet, async () => {
      for (const c of [6, 7, 8].map((i) => devnet.client(i))) {
        await c.staking.stake({ amountWei: STAKE });
        await c.verifiers.register();
      }
      // A committee without a majority in time voids the dispute; the silent members pay.
      const jobId = await committedJob(3);
      const before = await challenger.token.balanceOf();
      const { id } = await challenger.game.openAvailability({
        jobId,
        finalStateHash: b32(finalHash),
        traceRoot: b32(root),
      });
      const { members } = await anyone.game.drawCommittee(id);
      assert.equal(members.length, 3);
      const stakes = await Promise.all(members.map(stakeOf));
      const first = devnet.client(devnet.accounts.indexOf(members[0]));
      await first.game.rule({ id, ruling: "Challenger", kernel: "(availability)" });
      await devnet.increaseTime(1_801);
      const burned = (await anyone.token.supply()).burnedWei;
      await anyone.game.timeout(id);
      assert.equal((await anyone.game.get(id)).outcome, "Voided");
      assert.equal(await challenger.token.balanceOf(), before, "the bond came back");
      assert.equal((await provider.jobs.slot({ jobId })).status, "Committed");
      assert.equal((await anyone.token.supply()).burnedWei - burned, 2n * PENALTY, "burned");
      assert.deepEqual(await Promise.all(members.map(stakeOf)), [
        stakes[0],
        stakes[1] - PENALTY,
        stakes[2] - PENALTY,
      ]);
    });
  });

  await t.step("malformed openings and moves get clear errors and move no funds", async () => {
    await isolated(devnet, async () => {
      const jobId = await committedJob();
      const before = await challenger.token.balanceOf();
      const good = await openParams(jobId, 2);
      await assertReverts(
        challenger.game.open({ ...good, proofTo: good.proofFrom }),
        "BadProof",
      );
      await assertReverts(
        challenger.game.open({ ...good, providerFrom: b32(hx("forged")) }),
        "BadProof",
      );
      await assertReverts(challenger.game.open({ ...good, segment: 4 }), "SegmentOutOfRange");
      await assertReverts(
        challenger.game.open({ ...good, challengerTo: good.providerTo }),
        "NothingDisputed",
      );
      await assertReverts(
        challenger.game.open({ ...good, challengerFrom: b32(hx("other")) }),
        "StartNotAgreed",
      );
      await assertReverts(
        challenger.game.open({ ...good, traceRoot: b32(hx("other root")) }),
        "CommitmentMismatch",
      );
      assert.equal(await challenger.token.balanceOf(), before);
      const { id } = await challenger.game.open(good);
      // One dispute per slot at a time: a replayed opening fails in the market.
      await assertReverts(anyone.game.open(good), "WrongSlotStatus");
      await assertReverts(challenger.game.answer({ id, hash: b32(hx("a")) }), "NotYourMove");
      await assertReverts(challenger.game.post({ id, hash: b32(hx("a")) }), "NotYourMove");
      await assertReverts(provider.game.post({ id, hash: `0x${"00".repeat(32)}` }), "ZeroHash");
      await provider.game.post({ id, hash: b32(hx("a")) });
      await assertReverts(provider.game.post({ id, hash: b32(hx("b")) }), "NotYourMove");
      await assertReverts(
        provider.game.commitOps({ id, count: 3, root: b32(hx("r")), evidence: b32(hx("e")) }),
        "WrongPhase",
      );
      await assertReverts(anyone.game.get(99n), "UnknownDispute");
      await assertReverts(anyone.game.timeout(99n), "UnknownDispute");
    });
    await isolated(devnet, async () => {
      const jobId = await committedJob();
      await devnet.increaseTime(601);
      await assertReverts(
        challenger.game.open(await openParams(jobId, 2)),
        "ChallengeWindowClosed",
      );
    });
  });

  await t.step(
    "both parties committing their op records in one block both land, the second paying for the pool snapshot",
    async () => {
      await isolated(devnet, async () => {
        // A pool of several verifiers, so that the snapshot the second commit takes is not cheap.
        for (const i of [6, 7, 8, 9]) {
          const v = devnet.client(i);
          await v.staking.stake({ amountWei: STAKE });
          await v.verifiers.register();
        }
        await devnet.increaseTime(0);
        const jobId = await committedJob();
        const { id } = await challenger.game.open(await openParams(jobId, 2));
        for (
          let d = await anyone.game.get(id);
          d.phase === "Steps";
          d = await anyone.game.get(id)
        ) {
          const mid = midpointOf(d);
          await provider.game.post({ id, hash: b32(claimed(mid)) });
          await challenger.game.answer({ id, hash: b32(honest(mid)) });
        }
        assert.equal((await anyone.game.get(id)).phase, "OpsCommit");
        // Identical records: the commit mined second hands the dispute to the referee. Each is
        // estimated before either is mined, so each is estimated as the first.
        const rpc = (method: string, params: unknown[] = []) =>
          fetch(devnet.rpcUrl, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
          }).then((r) => r.json());
        await rpc("evm_setAutomine", [false]);
        try {
          const commit = (party: typeof provider) =>
            party.game.commitOps({
              id,
              count: opsC.length,
              root: b32(opChain(opsC, opsC.length)),
              evidence: b32(hx("evidence")),
            });
          const both = Promise.all([commit(provider), commit(challenger)]);
          while (true) {
            const pool = await rpc("txpool_status");
            if (Number(pool.result.pending) >= 2) break;
            await new Promise((r) => setTimeout(r, 20));
          }
          await rpc("evm_mine");
          const receipts = await both;
          assert.equal(receipts[0].receipt.blockNumber, receipts[1].receipt.blockNumber);
        } finally {
          await rpc("evm_setAutomine", [true]);
        }
        assert.equal((await anyone.game.get(id)).phase, "Referee");
      });
    },
  );
});
