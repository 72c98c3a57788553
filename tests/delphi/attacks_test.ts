import assert from "node:assert/strict";
import { startDevnet } from "../../lib/chain/mod.ts";
import {
  type AttackOutcome,
  ATTACKS,
  castOf,
  FUNDING,
  HONEST,
  playAttack,
} from "../../testing/delphi/attacks.ts";

/** Every refusal an attack must meet, by attack: the contracts stop these moves. */
const REFUSED: Record<string, string[]> = {
  jobHijack: [
    "resolve before the close: MarketNotClosed",
    "resolve from its own job: EvaluationNotStarted",
    "resolve with its scores: ScoresMismatch",
  ],
  commitBeforeClose: [
    "start the evaluation before the close: MarketNotClosed",
    "claim the evaluation before the close: UnknownJob",
  ],
  blockedEvaluation: ["resolve with its scores: NoEvaluationResult"],
  expiryAfterPush: ["start the evaluation after its deadline: EvaluationWindowPassed"],
  washThenVoid: ["resolve with its scores: NoEvaluationResult"],
  transferredShares: [
    "refund the sybil's sale: NothingToRefund",
    "release the sybil's sale: MarketRefunding",
  ],
  conflictingReplica: [
    "resolve with its scores: EvaluationConflict",
    "resolve with the honest scores: EvaluationConflict",
  ],
};

/** Honest parties lose nothing but fees; nothing stays in Delphi. */
function assertHonestWhole(outcome: AttackOutcome): void {
  for (const h of outcome.honest) {
    const who = `${outcome.name}: ${h.name}`;
    if (h.expectation === "refunded") assert.equal(h.pnlWei, -h.feesWei, who);
    if (h.expectation === "wins") assert.ok(h.pnlWei > 0n, `${who} won ${h.pnlWei}`);
    // The creator's loss on a resolved market is the LMSR's, bounded by its funding.
    if (h.name === "creator") assert.ok(h.pnlWei > -FUNDING, `${who} lost ${h.pnlWei}`);
  }
  assert.equal(outcome.strandedTokenWei, 0n, `${outcome.name}: AIGENSYN left in Delphi`);
  assert.equal(outcome.strandedCollateralWei, 0n, `${outcome.name}: collateral left in Delphi`);
}

Deno.test("attacks on a market's resolution cost the attacker and leave honest parties whole", async (t) => {
  await using devnet = await startDevnet();
  const cast = await castOf(devnet);
  const phases: Record<string, string> = {
    jobHijack: "Resolved",
    commitBeforeClose: "Resolved",
    blockedEvaluation: "Voided",
    expiryAfterPush: "Expired",
    washThenVoid: "Voided",
    transferredShares: "Voided",
    conflictingReplica: "Voided",
  };
  for (const [name, attack] of Object.entries(ATTACKS)) {
    await t.step(name, async () => {
      const outcome = await playAttack(cast, name, attack);
      assert.equal(outcome.phase, phases[name]);
      assert.ok(
        outcome.attackerProfitWei < 0n,
        `${name}: the attacker made ${outcome.attackerProfitWei}`,
      );
      for (const step of REFUSED[name]) assert.ok(outcome.refused.includes(step), step);
      assertHonestWhole(outcome);
    });
  }

  await t.step(
    "the honest path: the true winner's holders are paid, the funding is not drained",
    async () => {
      const outcome = await playAttack(cast, "honest", HONEST);
      assert.equal(outcome.phase, "Resolved");
      const alice = outcome.honest.find((h) => h.name === "alice")!;
      assert.equal(alice.expectation, "wins");
      assertHonestWhole(outcome);
      assert.deepEqual(outcome.refused, []);
      // The creator paid the evaluation, nothing more in AIGENSYN.
      assert.ok(outcome.creatorTokenPnlWei < 0n);
    },
  );
});
