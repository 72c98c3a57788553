/**
 * The liveness epilogue of a fuzz sequence: from wherever the sequence left the chain, advance
 * time and play only what anyone may play (committee draws, timeouts, finalizations, refunds,
 * withdrawals) plus the votes of honest committee members, never a move by a party to a dispute.
 * If the protocol is live, that settles everything: `checkLiveness` then finds nothing stuck.
 * Each step the chain refuses when it should have gone through is reported.
 *
 * @module
 */

import type { Address } from "../../lib/chain/types.ts";
import type { Devnet } from "../../lib/chain/devnet.ts";
import { ContractRevertError } from "../../lib/chain/revert.ts";
import { ROLES } from "./actions.ts";
import { honestVoteOf } from "./game_moves.ts";
import type { RunModel } from "./model.ts";

/** Options of {@linkcode runEpilogue}. */
export interface EpilogueOptions {
  /** Committee members that vote, honestly, when drawn; default the fuzz's honest verifiers. */
  honestMembers?: readonly Address[];
  /** Accounts whose unbonding stake is withdrawn at the end. */
  stakers: readonly Address[];
  /** Rounds of draw, vote, wait and timeout before a dispute counts as stuck; default 12. */
  rounds?: number;
}

const failure = (what: string, error: unknown) =>
  `epilogue: ${what} failed: ${(error as Error).message.split("\n")[0]}`;

/**
 * Plays the epilogue on the chain as `run` left it; returns the steps that failed (liveness
 * violations). Uses the fuzz's outsider account for every permissionless call.
 *
 * @example
 * ```ts
 * import { runEpilogue } from "./epilogue.ts";
 * import { newRun } from "./model.ts";
 * declare const devnet: import("../../lib/chain/devnet.ts").Devnet;
 * console.log(await runEpilogue(devnet, newRun(1), { stakers: [] })); // []
 * ```
 */
export async function runEpilogue(
  devnet: Devnet,
  run: RunModel,
  options: EpilogueOptions,
): Promise<string[]> {
  const failures = await settleDisputes(devnet, run, options);
  failures.push(...await settleJobs(devnet, run));
  failures.push(...await withdrawUnbonded(devnet, options.stakers));
  return failures;
}

async function settleDisputes(
  devnet: Devnet,
  run: RunModel,
  options: EpilogueOptions,
): Promise<string[]> {
  const failures: string[] = [];
  const anyone = devnet.client(ROLES.outsider);
  const honest = new Set(
    (options.honestMembers ?? ROLES.verifiers.map((i) => devnet.accounts[i]))
      .map((a) => a.toLowerCase()),
  );
  const rounds = options.rounds ?? 12;
  for (let round = 0;; round++) {
    const open = [];
    for (const d of run.disputes) {
      const view = await anyone.game.get(d.id);
      if (view.phase !== "Done") open.push({ d, view });
    }
    if (open.length === 0) return failures;
    if (round === rounds) {
      for (const { d, view } of open) {
        failures.push(
          `epilogue: dispute ${d.id} still in phase ${view.phase} after ${rounds} rounds`,
        );
      }
      return failures;
    }
    const now = await devnet.now();
    // A draw that must wait for the next block (or was re-armed on it) holds time still a round.
    let redraw = false;
    for (const { d, view } of open) {
      if (view.phase !== "Referee" || now > view.deadline) continue;
      let { members } = await anyone.game.committee(d.id);
      if (members.length === 0) {
        try {
          ({ members } = await anyone.game.drawCommittee(d.id));
        } catch (error) {
          // The draw's seed block is the latest one: it works from the next block.
          if (error instanceof ContractRevertError && error.errorName === "DrawTooEarly") {
            await devnet.mine();
            redraw = true;
            continue;
          }
          failures.push(failure(`drawing the committee of dispute ${d.id}`, error));
          continue;
        }
        if (members.length === 0) redraw = true;
      }
      for (const member of members) {
        if (!honest.has(member.toLowerCase()) || d.votes.has(member)) continue;
        const { view: now, vote } = await honestVoteOf(devnet, d);
        if (now.phase === "Done") break;
        if (!vote) {
          failures.push(`epilogue: the model cannot rule on dispute ${d.id}`);
          break;
        }
        try {
          await devnet.client(devnet.accounts.indexOf(member)).game.rule({
            id: d.id,
            ruling: vote.ruling,
            providerOp: vote.providerOp,
            challengerOp: vote.challengerOp,
            kernel: "(epilogue)",
          });
          d.votes.set(member, { ruling: vote.ruling, honest: true });
        } catch (error) {
          failures.push(failure(`member ${member}'s honest vote on dispute ${d.id}`, error));
        }
      }
    }
    // Whatever is still open waits for its deadline, then anyone ends it.
    const waiting = [];
    for (const { d } of open) {
      const view = await anyone.game.get(d.id);
      if (view.phase !== "Done") waiting.push(view);
    }
    if (waiting.length === 0 || redraw) continue;
    const earliest = waiting.reduce((m, v) => v.deadline < m ? v.deadline : m, waiting[0].deadline);
    const at = await devnet.now();
    if (earliest >= at) await devnet.increaseTime(earliest - at + 1n);
    const after = await devnet.now();
    for (const view of waiting) {
      if (view.deadline >= after) continue;
      try {
        await anyone.game.timeout(view.id);
      } catch (error) {
        failures.push(failure(`timing out dispute ${view.id} (phase ${view.phase})`, error));
      }
    }
  }
}

async function settleJobs(devnet: Devnet, run: RunModel): Promise<string[]> {
  const failures: string[] = [];
  const anyone = devnet.client(ROLES.outsider);
  // One jump past every challenge window and deadline still to pass.
  let until = 0n;
  const jobs = [];
  for (const { id } of run.jobs) {
    const job = await anyone.jobs.get(id);
    const slots = [];
    for (let i = 0; i < job.replicas; i++) {
      slots.push(await anyone.jobs.slot({ jobId: id, slot: i }));
    }
    for (const s of slots) {
      const due = s.status === "Committed"
        ? s.committedAt + BigInt(job.challengeWindowSec)
        : s.status === "Open" || s.status === "Claimed"
        ? job.deadline
        : 0n;
      if (due > until) until = due;
    }
    jobs.push({ id, slots });
  }
  const now = await devnet.now();
  if (until > now) await devnet.increaseTime(until - now);
  for (const { id, slots } of jobs) {
    for (const [i, s] of slots.entries()) {
      if (s.status !== "Committed") continue;
      try {
        await anyone.jobs.finalize({ jobId: id, slot: i });
      } catch (error) {
        failures.push(failure(`finalizing job ${id} slot ${i}`, error));
      }
    }
    if (slots.some((s) => s.status === "Open" || s.status === "Claimed")) {
      try {
        await anyone.jobs.refund({ jobId: id });
      } catch (error) {
        failures.push(failure(`refunding job ${id}`, error));
      }
    }
  }
  return failures;
}

async function withdrawUnbonded(devnet: Devnet, stakers: readonly Address[]): Promise<string[]> {
  const failures: string[] = [];
  const unbonding: Address[] = [];
  let until = 0n;
  for (const account of stakers) {
    const stake = await devnet.deployer.staking.get(account);
    if (stake.unbondingWei === 0n) continue;
    unbonding.push(account);
    if (stake.releaseAt > until) until = stake.releaseAt;
  }
  if (unbonding.length === 0) return failures;
  const now = await devnet.now();
  if (until > now) await devnet.increaseTime(until - now);
  for (const account of unbonding) {
    try {
      await devnet.client(devnet.accounts.indexOf(account)).staking.withdraw();
    } catch (error) {
      failures.push(failure(`withdrawing ${account}'s unbonded stake`, error));
    }
  }
  return failures;
}
