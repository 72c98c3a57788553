/**
 * Mechanism attacks on the dispute game and the job market, played by adversarial actors against
 * real anvil: a provider that disputes its own slot, a last-second mover, a challenger that grinds
 * the committee draw. Each checks that the attack reverts or the attacker gains nothing, and that
 * honest parties lose nothing.
 */
import assert from "node:assert/strict";
import type { Hex } from "viem";
import { chainTime, midpointOf, send, startDevnet } from "../../lib/chain/mod.ts";
import { disputeGameAbi } from "../../lib/chain/artifacts/DisputeGame.ts";
import { jobMarketAbi } from "../../lib/chain/artifacts/JobMarket.ts";
import { ChainError } from "../../lib/core/errors.ts";
import { toBytes32 } from "../../lib/core/hash.ts";
import { merkleProof, merkleRoot } from "../../lib/proof/merkle.ts";
import { sha256Sync } from "../../lib/proof/ops.ts";
import { assertReverts, isolated, TOKEN } from "./_devnet.ts";

const hx = (label: string): string => sha256Sync(label);
const b32 = (hash: string): Hex => toBytes32(hash);
const STEPS = 1_000;
const K = 1_000;
const STAKE = 200n * TOKEN;
const WINDOW = 3_600;
const MOVE = 600;
const CLOCK = 3_600;

Deno.test("mechanism attacks on disputes: each attacker loses, honest parties lose nothing", async (t) => {
  await using devnet = await startDevnet();
  const submitter = devnet.client(1);
  const provider = devnet.client(2);
  const sybil = devnet.client(3);
  const verifier = devnet.client(4);
  const anyone = devnet.client(9);
  await provider.staking.stake({ amountWei: 1_000n * TOKEN });
  // Two honest staked verifiers, warmed up.
  const honest = [5, 6].map((i) => devnet.client(i));
  for (const v of honest) {
    await v.staking.stake({ amountWei: STAKE });
    await v.verifiers.register();
  }

  // A bogus result: one segment of STEPS steps, whose end the provider made up.
  const leaves = [hx("init"), hx("made up")];
  const root = await merkleRoot(leaves);
  let n = 0;
  const committed = async (): Promise<Hex> => {
    const { jobId } = await submitter.jobs.create({
      specHash: b32(hx(`attack job ${n++}`)),
      paymentWei: 100n * TOKEN,
      timeoutSec: 7_200,
      challengeWindowSec: WINDOW,
      requiredStakeWei: STAKE,
      checkpointInterval: K,
      steps: STEPS,
    });
    await provider.jobs.claim({ jobId });
    await provider.jobs.commit({ jobId, finalStateHash: b32(leaves[1]), traceRoot: b32(root) });
    return jobId;
  };
  const openParams = async (jobId: Hex) => ({
    jobId,
    finalStateHash: b32(leaves[1]),
    traceRoot: b32(root),
    segment: 0,
    providerFrom: b32(leaves[0]),
    proofFrom: (await merkleProof(leaves, 0)).map((p) => b32(p.hash)),
    providerTo: b32(leaves[1]),
    proofTo: (await merkleProof(leaves, 1)).map((p) => b32(p.hash)),
    challengerFrom: b32(leaves[0]),
    challengerTo: b32(hx("the real end")),
  });

  await t.step("a provider or submitter cannot dispute its own job", async () => {
    await isolated(devnet, async () => {
      const jobId = await committed();
      const before = await provider.token.balanceOf();
      for (const party of [provider, submitter]) {
        await assertReverts(party.game.open(await openParams(jobId)), "PartyCannotChallenge");
        await assertReverts(
          party.game.openAvailability({
            jobId,
            finalStateHash: b32(leaves[1]),
            traceRoot: b32(root),
          }),
          "PartyCannotChallenge",
        );
      }
      assert.equal(await provider.token.balanceOf(), before);
      assert.equal((await anyone.jobs.slot({ jobId })).status, "Committed");
    });
  });

  await t.step(
    "a sybil dispute that moves at the last second and lapses cannot run out the window",
    async () => {
      await isolated(devnet, async () => {
        const jobId = await committed();
        const opened = await chainTime(anyone);
        // The provider's sybil disputes at once, then both sides of the collusion move one
        // second before each deadline.
        const { id } = await sybil.game.open(await openParams(jobId));
        let moves = 0;
        for (
          let d = await anyone.game.get(id);
          d.phase === "Steps";
          d = await anyone.game.get(id)
        ) {
          const now = await chainTime(anyone);
          const late = Number(d.deadline - now) - 1;
          if (late > 0) await devnet.increaseTime(late);
          const mid = midpointOf(d);
          try {
            if (!d.pending) await provider.game.post({ id, hash: b32(hx(`p${mid}`)) });
            else await sybil.game.answer({ id, hash: b32(hx(`p${mid}`)) });
          } catch {
            // The mover's clock ran out: its deadline is now, so the move comes too late.
            break;
          }
          moves++;
        }
        const d = await anyone.game.get(id);
        // Each party's chess clock bounds its moves: a one-hour clock, however the moves go.
        assert.ok(
          d.providerClockSec === 0 || d.challengerClockSec === 0 || d.phase !== "Steps",
          JSON.stringify({ p: d.providerClockSec, c: d.challengerClockSec, phase: d.phase }),
        );
        const elapsed = Number((await chainTime(anyone)) - opened);
        assert.ok(elapsed <= 2 * CLOCK + MOVE, `the dispute ran ${elapsed} s over ${moves} moves`);
        // It lapses: whoever owed the move loses when anyone calls timeout.
        await devnet.increaseTime(MOVE + 1);
        await anyone.game.timeout(id);
        const slot = await anyone.jobs.slot({ jobId });
        if (slot.status === "Committed") {
          // The window paused for the dispute and resumed with at least its minimum left: an
          // honest verifier still disputes the bogus result, and the provider is slashed.
          await assertReverts(anyone.jobs.finalize({ jobId }), "ChallengeWindowOpen");
          const honestDispute = await verifier.game.open(await openParams(jobId));
          const slashedBefore = (await provider.staking.get()).stakedWei;
          await devnet.increaseTime(MOVE + 1);
          await anyone.game.timeout(honestDispute.id);
          assert.equal((await anyone.jobs.slot({ jobId })).status, "Slashed");
          assert.ok((await provider.staking.get()).stakedWei < slashedBefore);
        } else {
          // The provider's own side lost the lapse: slashed anyway.
          assert.equal(slot.status, "Slashed");
        }
      });
    },
  );

  await t.step("the window never runs out under a dispute: it pauses and resumes", async () => {
    await isolated(devnet, async () => {
      const jobId = await committed();
      await devnet.increaseTime(WINDOW - 120);
      const { id } = await sybil.game.openAvailability({
        jobId,
        finalStateHash: b32(leaves[1]),
        traceRoot: b32(root),
      });
      // Nobody rules: after the referee timeout (far past the window) it is voided.
      await devnet.increaseTime(2 * WINDOW);
      await anyone.game.timeout(id);
      assert.equal((await anyone.game.get(id)).outcome, "Voided");
      const slot = await anyone.jobs.slot({ jobId });
      assert.equal(slot.status, "Committed");
      // About two minutes of window were left when the dispute paused it; they are left now.
      const job = await anyone.jobs.get(jobId);
      const endsAt = slot.committedAt + BigInt(job.challengeWindowSec);
      const now = await chainTime(anyone);
      assert.ok(endsAt - now >= 60n && endsAt - now <= 121n, `${endsAt - now} s left`);
      await verifier.game.openAvailability({
        jobId,
        finalStateHash: b32(leaves[1]),
        traceRoot: b32(root),
      });
    });
  });

  await t.step("the committee draw cannot be ground by the party that triggers it", async () => {
    await isolated(devnet, async () => {
      const jobId = await committed();
      const { id } = await verifier.game.openAvailability({
        jobId,
        finalStateHash: b32(leaves[1]),
        traceRoot: b32(root),
      });
      const pending = await anyone.game.committeePool(id);
      assert.ok(pending);
      assert.deepEqual([...pending.pool].sort(), honest.map((v) => v.account).sort());
      // Sybils that join after the snapshot are not in the pool, and a doctored pool is refused.
      await sybil.staking.stake({ amountWei: 10n * STAKE });
      await sybil.verifiers.register();
      await assertReverts(
        send(sybil, {
          address: devnet.addresses.disputeGame,
          abi: disputeGameAbi,
          functionName: "drawCommittee",
          args: [id, [...pending.pool, sybil.account], [...pending.stakesWei, 10n * STAKE]],
          action: "grind",
        }),
        "PoolMismatch",
      );
      const { members } = await anyone.game.drawCommittee(id);
      assert.equal(members.length, 1, "two eligible: an odd committee of one");
      assert.ok(honest.map((v) => v.account).includes(members[0]));
      assert.ok(!members.includes(sybil.account));
    });
  });
});

Deno.test("the devnet's test slasher exists on the devnet's chain only", async () => {
  await assert.rejects(
    startDevnet({ chainId: 1_337, verifiers: [`0x${"11".repeat(20)}`] }),
    (e: unknown) => e instanceof ChainError && e.code === "DEVNET_ONLY",
  );
  await using other = await startDevnet({ chainId: 1_337 });
  const authorised = await other.deployer.public.readContract({
    address: other.addresses.jobMarket,
    abi: jobMarketAbi,
    functionName: "verifiers",
    args: [other.referee],
  });
  assert.equal(authorised, false);
});
