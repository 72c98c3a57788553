import assert from "node:assert/strict";
import type { Address } from "viem";
import { TrainingError } from "../../lib/core/errors.ts";
import { loadMnist } from "../../lib/exec/mnist.ts";
import { Network } from "../../lib/node/network.ts";
import { toBytes32 } from "../../lib/node/settlement.ts";
import type { AuditRecord } from "../../lib/node/verifier/mod.ts";
import { CheatingProvider } from "../../testing/adversary.ts";
import { PRICE, tinySpec } from "./_suite.ts";

Deno.test("a job with a referee committee: three drawn staked verifiers rule the dispute by majority and the cheater is slashed", async () => {
  await using network = await Network.local({
    providers: 0,
    verifiers: 4,
    verifierSegments: "all",
  });
  const cheater = await CheatingProvider.start({
    network,
    account: 2,
    cheat: { kind: "flip-bit", step: 27, forgeRecords: true },
  });
  try {
    const balanceBefore = await network.chain.token.balanceOf();
    const stakes = await Promise.all(
      network.verifiers.map(async (v) =>
        (await network.chain.staking.get(v.account as Address)).stakedWei
      ),
    );
    const job = await network.train({
      model: await tinySpec(),
      data: await loadMnist({ limit: 512 }),
      steps: 40,
      batchSize: 16,
      k: 10,
      priceWei: PRICE,
      audit: { segments: 4, verifiers: 1 },
      refereeCommittee: 3,
    });
    assert.equal((await network.chain.jobs.get(toBytes32(job.id))).refereeCommittee, 3);
    // One verifier is drawn to audit; it catches the flipped bit and opens the dispute. The
    // cheater forges its op records to match its claim, so each member fetches both sides'
    // evidence (the challenger's from another verifier) and recomputes the disputed kernel.
    const audits = await Promise.allSettled(
      network.verifiers.map((v) => v.audited(job.id, { timeoutMs: 60_000 })),
    );
    const records = audits.flatMap((a) => a.status === "fulfilled" ? [a.value] : []);
    assert.equal(records.length, 1, JSON.stringify(audits.map((a) => a.status)));
    const record: AuditRecord = records[0];
    assert.equal(record.outcome, "caught", JSON.stringify(record));
    assert.equal(record.dispute?.outcome, "ChallengerWon", JSON.stringify(record.dispute));
    const id = BigInt(record.dispute!.id);
    const challenger = network.verifiers.find((v) => v.auditsOf(job.id).length > 0)!;

    // The committee: three of the staked verifiers outside the dispute (the other verifiers and
    // the network's referee; never the provider, the challenger or the submitter).
    const committee = await network.chain.game.committee(id);
    assert.equal(committee.quorum, 2);
    assert.equal(committee.members.length, 3);
    const refereeAccount = (await network.chain.game.committeePool(id))!.pool.find((a) =>
      !network.verifiers.some((v) => v.account === a)
    );
    const eligible = [
      ...network.verifiers.filter((v) => v !== challenger).map((v) => v.account),
      refereeAccount,
    ];
    for (const m of committee.members) assert.ok(eligible.includes(m), `${m} is not eligible`);
    assert.ok(!committee.members.includes(challenger.account as Address));
    assert.ok(!committee.members.includes(network.chain.account));
    // A majority voted for the challenger, each member after recomputing the one kernel.
    const votes = committee.votes.filter((v) => v !== undefined);
    assert.ok(votes.length >= 2, JSON.stringify(committee.votes));
    assert.ok(votes.every((v) => v === "Challenger"), JSON.stringify(committee.votes));
    // Each member that voted on-chain records its ruling once its vote's receipt is in.
    const voters = committee.members.filter((_, i) => committee.votes[i] !== undefined);
    const rulings = await Promise.all(voters.map((m) => {
      const verifier = network.verifiers.find((v) => v.account === m);
      return verifier ? verifier.committeeRuled(id) : network.referee!.ruled(id);
    }));
    assert.equal(rulings.length, votes.length);
    assert.ok(rulings.every((r) => r.winner === "challenger" && r.kernelsRun === 1));

    // The cheater is slashed and the submitter refunded; no member that voted lost stake.
    await assert.rejects(
      () => job.settled(),
      (e) => e instanceof TrainingError && e.code === "TRAINING_JOB_REFUNDED",
    );
    assert.equal((await network.chain.jobs.slot({ jobId: toBytes32(job.id) })).status, "Slashed");
    assert.ok(await network.chain.token.balanceOf() >= balanceBefore);
    const after = await Promise.all(
      network.verifiers.map(async (v) =>
        (await network.chain.staking.get(v.account as Address)).stakedWei
      ),
    );
    for (const [i, v] of network.verifiers.entries()) {
      if (v === challenger) continue;
      const voted = committee.votes[committee.members.indexOf(v.account as Address)] !== undefined;
      if (voted) assert.equal(after[i], stakes[i], `member ${v.account} voted with the majority`);
    }
    assert.ok(after.every((s) => s > 0n));
  } finally {
    await cheater.close();
  }
});
