/**
 * Runs one fuzz action against the chain: the job market, staking, the verifier registry, fees,
 * transfers and burns, time, and attacks on access control (slashing or settling as an EOA), and
 * hands the dispute game's actions to `game_moves.ts`. Reverts propagate (the runner counts them);
 * an attack the chain accepts is reported through `ctx.finding`.
 *
 * @module
 */

import { keccak256, toBytes } from "npm:viem@2.57.20";
import { jobMarketAbi } from "../../lib/chain/artifacts/JobMarket.ts";
import { stakingAbi } from "../../lib/chain/artifacts/Staking.ts";
import { tokenAbi } from "../../lib/chain/artifacts/Token.ts";
import { send } from "../../lib/chain/transact.ts";
import { type CommitPlan, type FuzzAction, type JobPlan, ROLES } from "./actions.ts";
import { draw, moveOutOfTurn, openDispute, playDispute, timeout, vote } from "./game_moves.ts";
import { claimAt, committedAt, type FuzzContext, jobAt, type JobModel } from "./model.ts";
import { CHECKPOINT_INTERVAL, commitTrace, honestTrace, STEPS, type Trace } from "./world.ts";

/** Runs `a`; resolves when it went through, rejects with the chain's error when it did not. */
export async function applyAction(ctx: FuzzContext, a: FuzzAction): Promise<void> {
  const { devnet, run } = ctx;
  const c = (i: number) => devnet.client(i);
  const job = "job" in a ? jobAt(run, a.job) : undefined;
  if ("job" in a && !job && a.kind !== "rogueSettle") return ctx.skip();
  switch (a.kind) {
    case "stake":
      return void await c(a.who).staking.stake({ amountWei: a.amount });
    case "unstake": {
      const { stakedWei, lockedWei } = await c(a.who).staking.get();
      const amountWei = a.amount === 0n ? stakedWei - lockedWei : a.amount;
      return void await c(a.who).staking.requestUnstake({ amountWei });
    }
    case "withdraw":
      return void await c(a.who).staking.withdraw();
    case "register":
      return void await c(a.who).verifiers.register();
    case "deregister":
      return void await c(a.who).verifiers.deregister();
    case "create":
      return void await createJob(ctx, a);
    case "lifecycle": {
      const created = await createJob(ctx, a);
      for (const [i, plan] of a.commits.slice(0, a.replicas).entries()) {
        const who = ROLES.providers[(a.first + i) % ROLES.providers.length];
        const { slot } = await c(who).jobs.claim({ jobId: created.id });
        created.claims.set(slot, who);
        await commit(ctx, { job: created, slot, provider: who }, plan);
      }
      return;
    }
    case "claim":
      if (job) {
        const { slot } = await c(a.who).jobs.claim({ jobId: job.id });
        job.claims.set(slot, a.who);
      }
      return;
    case "release":
      if (job) await c(a.who).jobs.release({ jobId: job.id, reason: "node" });
      return;
    case "cancel":
      if (job) await c(a.who).jobs.cancel({ jobId: job.id });
      return;
    case "commit": {
      const claimed = claimAt(run, a.claim);
      if (!claimed) return ctx.skip();
      // Now and then a provider that holds no claim on the slot tries to commit it.
      return await commit(ctx, { ...claimed, provider: a.stranger ?? claimed.provider }, a);
    }
    case "finalize": {
      const target = committedAt(run, a.slot);
      if (!target) return ctx.skip();
      return void await c(a.who).jobs.finalize({ jobId: target.job.id, slot: target.slot });
    }
    case "refund":
      if (job) await c(a.who).jobs.refund({ jobId: job.id });
      return;
    case "reassign":
      if (job) {
        await c(a.who).jobs.reassign({
          jobId: job.id,
          deadline: (await devnet.now()) + BigInt(a.extend),
        });
      }
      return;
    case "openExecution":
    case "openAvailability":
      return await openDispute(ctx, a);
    case "play":
      return await playDispute(ctx, a);
    case "moveOutOfTurn":
      return await moveOutOfTurn(ctx, a);
    case "draw":
      return await draw(ctx, a);
    case "vote":
      return await vote(ctx, a);
    case "timeout":
      return await timeout(ctx, a);
    case "distribute":
      return void await c(a.who).fees.distribute();
    case "transfer":
      return void await c(a.who).token.transfer({ to: devnet.accounts[a.to], amountWei: a.amount });
    case "burn":
      return void await send(c(a.who), {
        address: devnet.addresses.token,
        abi: tokenAbi,
        functionName: "burn",
        args: [a.amount],
        action: "token.burn",
      });
    case "rogueSlash":
      // No account the fuzz plays is authorised in staking: this must always revert.
      await send(c(a.who), {
        address: devnet.addresses.staking,
        abi: stakingAbi,
        functionName: "slash",
        args: [devnet.accounts[a.victim], a.amount, devnet.accounts[a.who]],
        action: "staking.slash",
      });
      return ctx.finding(`account ${a.who} slashed ${a.victim} without authorisation`);
    case "rogueSettle": {
      // Marking or settling a dispute straight in the market, bypassing the game: must revert.
      const args = job ? [job.id, BigInt(a.slot)] : [keccak256(toBytes("no job")), 0n];
      await send(c(a.who), {
        address: devnet.addresses.jobMarket,
        abi: jobMarketAbi,
        ...(a.mark
          ? { functionName: "markDisputed", args }
          : { functionName: "settleDispute", args: [...args, false, devnet.accounts[a.who]] }),
        action: "jobs.settle (rogue)",
      });
      return ctx.finding(`account ${a.who} settled a dispute in the market without the game`);
    }
    case "time":
      return await devnet.increaseTime(a.seconds);
  }
}

async function createJob(ctx: FuzzContext, plan: JobPlan): Promise<JobModel> {
  const created = await ctx.devnet.client(plan.who).jobs.create({
    // Both submitters draw from the same few specs: ids must not collide across submitters once
    // they are derived from (submitter, spec), and are never assumed to be the spec hash.
    specHash: keccak256(toBytes(`fuzz spec ${plan.spec}`)),
    paymentWei: plan.perReplica * BigInt(plan.replicas),
    replicas: plan.replicas,
    requiredStakeWei: plan.stake,
    timeoutSec: plan.timeout,
    challengeWindowSec: plan.window,
    checkpointInterval: CHECKPOINT_INTERVAL,
    steps: STEPS,
    refereeCommittee: plan.committee,
  });
  const job = { id: created.jobId, submitter: plan.who, claims: new Map(), slots: new Map() };
  ctx.run.jobs.push(job);
  return job;
}

/** `target.provider` commits `plan` on the slot; the model records what it committed. */
async function commit(
  ctx: FuzzContext,
  target: { job: JobModel; slot: number; provider: number },
  plan: CommitPlan,
): Promise<void> {
  const { job, provider } = target;
  const trace: Trace = plan.deviateAt === null
    ? honestTrace(job.id)
    : { jobId: job.id, deviateAt: plan.deviateAt, tag: `p${provider}` };
  const commitment = await commitTrace(trace);
  const { slot } = await ctx.devnet.client(provider).jobs.commit({
    jobId: job.id,
    finalStateHash: commitment.finalStateHash,
    traceRoot: commitment.traceRoot,
  });
  job.claims.delete(slot);
  job.slots.set(slot, { provider, trace, commitment, serves: plan.serves, forgeAt: plan.forgeAt });
}
