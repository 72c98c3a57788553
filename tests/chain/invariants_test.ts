import assert from "node:assert/strict";
import { encodeErrorResult } from "viem";
import { jobMarketAbi } from "../../lib/chain/artifacts/JobMarket.ts";
import { ChainError } from "../../lib/core/errors.ts";
import {
  checkInvariants,
  checkLiveness,
  ContractRevertError,
  disputeBoundSec,
  startDevnet,
  toChainError,
} from "../../lib/chain/mod.ts";
import { ROLES, runAdversarialFuzz } from "../../testing/chain_fuzz.ts";
import { runEpilogue } from "../../testing/chain_fuzz/epilogue.ts";
import { checkHonestParties, gameEvents } from "../../testing/chain_fuzz/honesty.ts";
import { newRun } from "../../testing/chain_fuzz/model.ts";
import {
  CHECKPOINT_INTERVAL,
  commitTrace,
  honestTrace,
  STEPS,
} from "../../testing/chain_fuzz/world.ts";
import { id, isolated, TOKEN } from "./_devnet.ts";

Deno.test("reverts decode into typed errors; other failures stay ChainErrors", () => {
  const data = encodeErrorResult({
    abi: jobMarketAbi,
    errorName: "UnknownJob",
    args: [`0x${"ab".repeat(32)}`],
  });
  const decoded = toChainError({ data }, "jobs.claim");
  assert.ok(decoded instanceof ContractRevertError);
  assert.equal(decoded.errorName, "UnknownJob");
  assert.equal(decoded.code, "UNKNOWN_JOB");
  assert.match(decoded.message, /jobs\.claim reverted with UnknownJob: no job 0xabab/);
  // Nested errors (here a viem-style cause chain) are found too.
  const nested = toChainError(new Error("outer", { cause: { data } }), "jobs.claim");
  assert.equal((nested as ContractRevertError).errorName, "UnknownJob");
  const plain = toChainError(new Error("socket hang up"), "jobs.get");
  assert.ok(plain instanceof ChainError && !(plain instanceof ContractRevertError));
  assert.equal(plain.code, "CALL_FAILED");
  assert.equal(toChainError({ data: "0xdeadbeef" }, "jobs.get").code, "CALL_FAILED");
});

Deno.test(
  "adversarial sequences through the real dispute game keep every safety and liveness invariant",
  async () => {
    // No EOA is authorised to slash or settle: disputes go through DisputeGame only.
    await using devnet = await startDevnet({ accounts: ROLES.accounts + 3, verifiers: [] });
    const result = await runAdversarialFuzz(devnet, { runs: 25, seed: 7 });
    assert.equal(result.runs, 25);
    assert.ok(result.reverts > 0 && result.reverts < result.actions);
    // The sequences reach deep into the game: bisections, committees, rulings, timeouts.
    for (const event of ["DisputeOpened", "MoveAnswered", "CommitteeDrawn", "Ruled", "TimedOut"]) {
      assert.ok(
        (result.coverage[event] ?? 0) > 0,
        `no ${event} in ${JSON.stringify(result.coverage)}`,
      );
    }
    // A transaction that passed estimation must not be mined reverted.
    assert.deepEqual(result.unexpectedReverts, []);
    assert.deepEqual(result.invariantViolations, []);
    assert.deepEqual(result.adversarialViolations, []);
    assert.deepEqual(result.livenessViolations, []);
  },
);

Deno.test("the checkers catch planted violations: stuck disputes, stranded escrow, a stray bond, an honest provider slashed", async (t) => {
  // The default devnet still authorises an EOA in the market: exactly what can strand a slot.
  await using devnet = await startDevnet({ accounts: ROLES.accounts + 3 });
  const submitter = devnet.client(1);
  const provider = devnet.client(ROLES.providers[0]);
  const verifier = devnet.client(ROLES.verifiers[0]);
  const stakers = [provider.account, verifier.account];
  const scope = async (jobIds: `0x${string}`[], disputes: { id: bigint; openedAt: bigint }[]) => ({
    jobIds,
    stakers,
    disputes,
    disputeBoundSec: await disputeBoundSec(devnet.deployer),
  });
  await provider.staking.stake({ amountWei: 1_000n * TOKEN });
  const committed = async (label: string) => {
    const { jobId } = await submitter.jobs.create({
      specHash: id(label),
      paymentWei: 10n * TOKEN,
      timeoutSec: 3_600,
      challengeWindowSec: 600,
      requiredStakeWei: 100n * TOKEN,
    });
    await provider.jobs.claim({ jobId });
    await provider.jobs.commit({ jobId, finalStateHash: id("state"), traceRoot: id("trace") });
    return jobId;
  };

  await t.step("a slot marked disputed outside the game strands its escrow", async () => {
    await isolated(devnet, async () => {
      const jobId = await committed("stranded");
      await devnet.client(devnet.accounts.indexOf(devnet.referee)).disputes.open({ jobId });
      const run = newRun(1);
      run.jobs.push({ id: jobId, submitter: 1, claims: new Map(), slots: new Map() });
      assert.deepEqual(await runEpilogue(devnet, run, { stakers }), []);
      const stuck = await checkLiveness(devnet.deployer, await scope([jobId], []));
      // The provider's lock is behind a live slot, so only the slot and its escrow are stuck.
      assert.equal(stuck.length, 2, stuck.join("\n"));
      assert.match(stuck[0], /slot 0 is stuck Disputed/);
      assert.match(stuck[1], /job market holds 10000000000000000000 beyond its accrued fees/);
    });
  });

  await t.step("a dispute nobody ends is stuck until the epilogue ends it", async () => {
    await isolated(devnet, async () => {
      const jobId = await committed("disputed");
      // A staked verifier besides the challenger, so that a committee can be drawn.
      const referee = devnet.client(ROLES.verifiers[1]);
      await referee.staking.stake({ amountWei: 200n * TOKEN });
      await referee.verifiers.register();
      const { id: disputeId } = await verifier.game.openAvailability({
        jobId,
        finalStateHash: id("state"),
        traceRoot: id("trace"),
      });
      const opened = { id: disputeId, openedAt: await devnet.now() };
      const stuck = await checkLiveness(devnet.deployer, await scope([jobId], [opened]));
      assert.ok(stuck.some((v) => /dispute 1 never ended/.test(v)), stuck.join("\n"));
      assert.ok(stuck.some((v) => /dispute game still holds 10000000000000000000/.test(v)));
      const run = newRun(1);
      run.jobs.push({ id: jobId, submitter: 1, claims: new Map(), slots: new Map() });
      assert.deepEqual(await runEpilogue(devnet, run, { stakers }), []);
      // The epilogue knew nothing of the dispute: it still is. Told about it, it ends it.
      assert.ok((await checkLiveness(devnet.deployer, await scope([jobId], [opened]))).length > 0);
      run.disputes.push({
        id: disputeId,
        job: run.jobs[0],
        slot: 0,
        committed: {
          provider: ROLES.providers[0],
          trace: { jobId, deviateAt: null, tag: "honest" },
          commitment: { leaves: [], traceRoot: id("trace"), finalStateHash: id("state") },
          serves: true,
          forgeAt: 0,
        },
        kind: "Availability",
        challenger: ROLES.verifiers[0],
        openedAt: opened.openedAt,
        challengerTrace: { jobId, deviateAt: null, tag: "honest" },
        challengerForgeAt: 0,
        challengerClaimTrue: false,
        providerTruthful: true,
        challengerTruthful: true,
        votes: new Map(),
      });
      assert.deepEqual(await runEpilogue(devnet, run, { stakers }), []);
      assert.deepEqual(await checkLiveness(devnet.deployer, await scope([jobId], [opened])), []);
    });
  });

  await t.step("an honest provider slashed by an EOA outside the game is caught", async () => {
    await isolated(devnet, async () => {
      const { jobId } = await submitter.jobs.create({
        specHash: id("slashed"),
        paymentWei: 10n * TOKEN,
        timeoutSec: 3_600,
        requiredStakeWei: 100n * TOKEN,
        checkpointInterval: CHECKPOINT_INTERVAL,
        steps: STEPS,
      });
      const trace = honestTrace(jobId);
      const commitment = await commitTrace(trace);
      await provider.jobs.claim({ jobId });
      const { slot } = await provider.jobs.commit({ jobId, ...commitment });
      const referee = devnet.client(devnet.accounts.indexOf(devnet.referee));
      await referee.disputes.open({ jobId });
      await referee.disputes.settle({
        jobId,
        providerHonest: false,
        challenger: referee.account,
      });
      const run = newRun(1);
      run.jobs.push({
        id: jobId,
        submitter: 1,
        claims: new Map(),
        slots: new Map([[slot, {
          provider: ROLES.providers[0],
          trace,
          commitment,
          serves: true,
          forgeAt: 0,
        }]]),
      });
      assert.deepEqual(await checkHonestParties(devnet, run, await gameEvents(devnet)), [
        `honest provider ${provider.account} was slashed on job ${jobId} slot 0 outside any dispute`,
      ]);
      // The market slashed on an authorised verifier's word: the accounting invariants hold,
      // and only the model of who was honest sees the loss.
      assert.deepEqual(
        await checkInvariants(devnet.deployer, {
          jobIds: [jobId],
          stakers,
          slashers: [devnet.addresses.jobMarket, devnet.addresses.disputeGame],
        }),
        [],
      );
    });
  });

  await t.step("tokens sent to the dispute game break its solvency", async () => {
    await isolated(devnet, async () => {
      await submitter.token.transfer({ to: devnet.addresses.disputeGame, amountWei: 1n });
      const broken = await checkInvariants(devnet.deployer, {
        jobIds: [],
        stakers,
        slashers: [devnet.addresses.jobMarket, devnet.addresses.disputeGame],
      });
      assert.deepEqual(broken, [
        "dispute game holds 1 but the bonds of open disputes sum to 0",
      ]);
      const stuck = await checkLiveness(devnet.deployer, await scope([], []));
      assert.deepEqual(stuck, ["dispute game still holds 1"]);
    });
  });
});

Deno.test({
  name: "a committee penalty never strands a provider's slot",
  // A referee penalty may eat stake the market locked behind a claimed slot: Staking records the
  // lock it ate as shortfall, so the slot's unlock still succeeds.
  fn: async () => {
    await using devnet = await startDevnet({ accounts: ROLES.accounts + 3, verifiers: [] });
    const submitter = devnet.client(1);
    const provider = devnet.client(ROLES.providers[0]);
    const other = devnet.client(ROLES.providers[1]);
    const challenger = devnet.client(ROLES.verifiers[0]);
    const anyone = devnet.client(ROLES.outsider);
    // A provider that is also a staked verifier, with all its stake locked behind job A.
    await provider.staking.stake({ amountWei: 200n * TOKEN });
    await provider.verifiers.register();
    await other.staking.stake({ amountWei: 200n * TOKEN });
    const job = (label: string, requiredStakeWei: bigint) =>
      submitter.jobs.create({
        specHash: id(label),
        paymentWei: 10n * TOKEN,
        timeoutSec: 7_200,
        challengeWindowSec: 600,
        requiredStakeWei,
      });
    const a = (await job("A", 200n * TOKEN)).jobId;
    await provider.jobs.claim({ jobId: a });
    await provider.jobs.commit({
      jobId: a,
      finalStateHash: id("state A"),
      traceRoot: id("trace A"),
    });
    // On another provider's job B, it is the only eligible referee, and stays silent.
    const b = (await job("B", TOKEN)).jobId;
    await other.jobs.claim({ jobId: b });
    await other.jobs.commit({ jobId: b, finalStateHash: id("state B"), traceRoot: id("trace B") });
    const { id: dispute } = await challenger.game.openAvailability({
      jobId: b,
      finalStateHash: id("state B"),
      traceRoot: id("trace B"),
    });
    assert.deepEqual((await anyone.game.drawCommittee(dispute)).members, [provider.account]);
    await devnet.increaseTime(1_801);
    await anyone.game.timeout(dispute); // voided; the silent member loses refereePenalty
    const stakers = [provider.account, other.account, challenger.account];
    const run = newRun(1);
    for (const jobId of [a, b]) {
      run.jobs.push({ id: jobId, submitter: 1, claims: new Map(), slots: new Map() });
    }
    // Today: "finalizing job A slot 0 failed: ... LockUnderflow", A stuck Committed, its escrow
    // stranded in the market.
    assert.deepEqual(await runEpilogue(devnet, run, { stakers }), []);
    assert.deepEqual(
      await checkLiveness(devnet.deployer, {
        jobIds: [a, b],
        stakers,
        disputes: [],
        disputeBoundSec: await disputeBoundSec(devnet.deployer),
      }),
      [],
    );
  },
});
