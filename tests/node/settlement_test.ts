import assert from "node:assert/strict";
import { startDevnet } from "../../lib/chain/mod.ts";
import { PeerError } from "../../lib/core/errors.ts";
import {
  commitResult,
  ensurePeerBound,
  ensureStake,
  finalizeIfDue,
  toBytes32,
  tryClaim,
} from "../../lib/node/settlement.ts";

const TOKEN = 10n ** 18n;
const hash = (c: string) => c.repeat(64);

Deno.test("provider settlement against a real chain", async (t) => {
  await using devnet = await startDevnet();
  const submitter = devnet.client(1);
  const [alice, bob] = [devnet.client(2), devnet.client(3)];

  await t.step("stakes only the shortfall of unlocked stake", async () => {
    assert.equal(await ensureStake(alice, 100n * TOKEN), 100n * TOKEN);
    assert.equal(await ensureStake(alice, 100n * TOKEN), 0n);
    assert.equal(await ensureStake(alice, 150n * TOKEN), 50n * TOKEN);
    await ensureStake(bob, 100n * TOKEN);
  });

  await t.step("binds the peer id once, and refuses a key bound to another account", async () => {
    const key = crypto.getRandomValues(new Uint8Array(32));
    await ensurePeerBound(alice, key);
    await ensurePeerBound(alice, key); // idempotent
    await assert.rejects(
      () => ensurePeerBound(bob, key),
      (e: unknown) => e instanceof PeerError && e.code === "PEER_BOUND_ELSEWHERE",
    );
  });

  await t.step("a claim race has one winner; commit, then payment after the window", async () => {
    const created = await submitter.jobs.create({
      specHash: toBytes32(hash("a")),
      paymentWei: 10n * TOKEN,
      timeoutSec: 3600,
      challengeWindowSec: 600,
      requiredStakeWei: 10n * TOKEN,
    });
    const jobId = created.jobId.slice(2);
    const [a, b] = await Promise.all([tryClaim(alice, jobId), tryClaim(bob, jobId)]);
    assert.deepEqual([a, b].filter((s) => s !== undefined), [0]);
    const winner = a === 0 ? alice : bob;
    const slot = await commitResult(winner, { jobId, finalHash: hash("b"), traceRoot: hash("c") });
    assert.equal(slot, 0);
    assert.equal(await finalizeIfDue(winner, { jobId, slot }), undefined);
    const before = await winner.token.balanceOf();
    await devnet.increaseTime(601);
    const paid = await finalizeIfDue(winner, { jobId, slot });
    assert.ok(paid);
    assert.equal(paid.paidWei + paid.feeWei, 10n * TOKEN);
    assert.equal(paid.feeWei, 10n * TOKEN * 50n / 10_000n);
    assert.equal(await winner.token.balanceOf(), before + paid.paidWei);
    assert.equal(await finalizeIfDue(winner, { jobId, slot }), undefined); // paid already
  });
});
