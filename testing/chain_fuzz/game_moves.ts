/**
 * The dispute game as the adversarial fuzz plays it, through the real `DisputeGame`: opening
 * execution and availability disputes (by verifiers, by a provider's sybils, and by the provider
 * and the submitter themselves, which must be refused), bisection and op-commit moves that follow
 * a party's claimed run or lie, made on time or at the last second, moves out of turn, committee
 * draws with the true or a doctored pool, committee votes for either side, and timeouts. Attacks
 * the chain accepts are reported as findings; ordinary reverts propagate to the runner.
 *
 * @module
 */

import type { Hex } from "../../lib/chain/types.ts";
import { disputeGameAbi } from "../../lib/chain/artifacts/DisputeGame.ts";
import type { Devnet } from "../../lib/chain/devnet.ts";
import type { DisputePhase, DisputeView } from "../../lib/chain/actions/dispute_game.ts";
import { eventsOf, send } from "../../lib/chain/transact.ts";
import { ContractRevertError } from "../../lib/chain/revert.ts";
import type { FuzzAction, Opener, Party } from "./actions.ts";
import { ROLES } from "./actions.ts";
import type { DisputeModel, FuzzContext, SlotModel } from "./model.ts";
import { committedAt, disputeAt } from "./model.ts";
import {
  CHECKPOINT_INTERVAL,
  checkpointProof,
  honestRuling,
  honestTrace,
  type HonestVote,
  INITIAL_STATE,
  madeUp,
  opChain,
  opsFor,
  type Ruling,
  stateAt,
  STEPS,
  type Trace,
} from "./world.ts";

/** Seconds before a deadline at which a last-second move is sent (blocks may add a second). */
const LATE_MARGIN_SEC = 3n;
const ZERO: Hex = `0x${"00".repeat(32)}`;

const PHASES: readonly DisputePhase[] = ["None", "Steps", "OpsCommit", "Ops", "Referee", "Done"];

/** Where dispute `id` is (one read). */
async function phaseOf(devnet: Devnet, id: bigint): Promise<DisputePhase> {
  const d = await devnet.deployer.public.readContract({
    address: devnet.addresses.disputeGame,
    abi: disputeGameAbi,
    functionName: "getDispute",
    args: [id],
  });
  return PHASES[d.phase];
}

/**
 * The `n`-th dispute of the run among those in one of `phases` (so that moves mostly meet a
 * dispute that takes them), or the `n`-th of all when none is.
 */
async function disputeIn(
  ctx: FuzzContext,
  n: number,
  phases: readonly DisputePhase[],
): Promise<DisputeModel | undefined> {
  const found = [];
  for (const d of ctx.run.disputes) {
    if (phases.includes(await phaseOf(ctx.devnet, d.id))) found.push(d);
  }
  return found.length > 0 ? found[n % found.length] : disputeAt(ctx.run, n);
}

/** Resolves an opener against the disputed slot's parties. */
function openerIndex(by: Opener, submitter: number, slot: SlotModel): number {
  switch (by.role) {
    case "verifier":
      return ROLES.verifiers[by.index % ROLES.verifiers.length];
    case "sybil":
      return ROLES.sybils[by.index % ROLES.sybils.length];
    case "provider":
      return slot.provider;
    case "submitter":
      return submitter;
    case "otherProvider":
      return ROLES.providers[by.index % ROLES.providers.length];
  }
}

/** Opens an execution or availability dispute; a party of the job must be refused. */
export async function openDispute(
  ctx: FuzzContext,
  a: Extract<FuzzAction, { kind: "openExecution" | "openAvailability" }>,
): Promise<void> {
  const target = committedAt(ctx.run, a.slot);
  if (!target) return ctx.skip();
  const { job, committed } = target;
  const challenger = openerIndex(a.by, job.submitter, committed);
  const client = ctx.devnet.client(challenger);
  const { leaves, traceRoot, finalStateHash } = committed.commitment;
  let challengerTrace: Trace = honestTrace(job.id);
  let opened;
  if (a.kind === "openExecution") {
    if (a.lieFrom !== null) {
      challengerTrace = { jobId: job.id, deviateAt: a.lieFrom, tag: `c${ctx.run.nonce++}` };
    }
    // Left to itself, a challenger disputes the first segment whose end it disagrees with.
    const segments = leaves.length - 1;
    const endOf = (s: number) => Math.min((s + 1) * CHECKPOINT_INTERVAL, STEPS);
    const first = Array.from({ length: segments }, (_, s) => s)
      .find((s) => stateAt(challengerTrace, endOf(s)) !== leaves[s + 1]);
    const segment = a.segment ?? first ?? 0;
    const from = segment * CHECKPOINT_INTERVAL;
    const to = endOf(segment);
    opened = await client.game.open({
      jobId: job.id,
      slot: target.slot,
      finalStateHash,
      traceRoot,
      segment,
      providerFrom: leaves[segment],
      proofFrom: await checkpointProof(committed.commitment, segment),
      providerTo: leaves[segment + 1],
      proofTo: await checkpointProof(committed.commitment, segment + 1),
      challengerFrom: stateAt(challengerTrace, from),
      challengerTo: stateAt(challengerTrace, to),
    });
  } else {
    opened = await client.game.openAvailability({
      jobId: job.id,
      slot: target.slot,
      finalStateHash,
      traceRoot,
      subject: a.checkpoint ? leaves[1] : ZERO,
    });
  }
  const [event] = eventsOf(disputeGameAbi, opened.receipt, "DisputeOpened");
  const provider = (event.args.provider as string).toLowerCase();
  const by = ctx.devnet.accounts[challenger].toLowerCase();
  const submitter = ctx.devnet.accounts[job.submitter].toLowerCase();
  if (by === provider || by === submitter) {
    ctx.finding(
      `${by === provider ? "the provider" : "the submitter"} opened dispute ` +
        `${opened.id} on its own job ${job.id}`,
    );
  }
  ctx.run.disputes.push({
    id: opened.id,
    job,
    slot: target.slot,
    committed,
    kind: a.kind === "openExecution" ? "Execution" : "Availability",
    challenger,
    openedAt: await ctx.devnet.now(),
    challengerTrace,
    challengerForgeAt: a.kind === "openExecution" ? a.forgeAt : 0,
    challengerClaimTrue: a.kind === "openExecution"
      ? committed.trace.deviateAt !== null && challengerTrace.deviateAt === null
      : !committed.serves,
    providerTruthful: true,
    challengerTruthful: true,
    votes: new Map(),
  });
}

const includes = (who: Party, side: "provider" | "challenger") => who === "both" || who === side;

/**
 * Plays up to `moves` moves of a dispute, each by whichever party owes it: bisection posts and
 * answers, and the op commits. `liar` lies (made-up hashes, made-up records), `late` moves at the
 * last second before its deadline; the others follow their claimed runs on time.
 */
export async function playDispute(
  ctx: FuzzContext,
  a: Extract<FuzzAction, { kind: "play" }>,
): Promise<void> {
  const d = await disputeIn(ctx, a.dispute, ["Steps", "OpsCommit", "Ops"]);
  if (!d) return ctx.skip();
  const provider = ctx.devnet.client(d.committed.provider);
  const challenger = ctx.devnet.client(d.challenger);
  for (let m = 0; m < a.moves; m++) {
    const view = await provider.game.get(d.id);
    if (!["Steps", "Ops", "OpsCommit"].includes(view.phase)) {
      return m === 0 ? ctx.skip() : undefined;
    }
    let side: "provider" | "challenger";
    if (view.phase === "OpsCommit") {
      const providerFirst = view.challengerOps !== 0 || m % 2 === 0;
      side = view.providerOps === 0 && providerFirst ? "provider" : "challenger";
    } else {
      side = view.pending ? "challenger" : "provider";
    }
    const lying = includes(a.liar, side);
    if (includes(a.late, side)) await waitUntilLastSecond(ctx.devnet, d.id);
    const mover = side === "provider" ? provider : challenger;
    if (view.phase === "OpsCommit") {
      const records = lying
        ? Array.from({ length: a.lieCount }, () => madeUp(`op ${ctx.run.nonce++}`))
        : side === "provider"
        ? opsFor(d.committed.trace, view.step, d.committed.forgeAt)
        : opsFor(d.challengerTrace, view.step, d.challengerForgeAt);
      await mover.game.commitOps({
        id: d.id,
        count: records.length,
        root: opChain(records, records.length),
        evidence: madeUp(`evidence ${ctx.run.nonce++}`),
      });
      if (side === "provider") d.providerOps = records;
      else d.challengerOps = records;
    } else {
      const mid = view.lo + Math.floor((view.hi - view.lo) / 2);
      const trace = side === "provider" ? d.committed.trace : d.challengerTrace;
      const records = side === "provider" ? d.providerOps : d.challengerOps;
      const truthful = view.phase === "Steps"
        ? stateAt(trace, mid)
        : records
        ? opChain(records, mid)
        : undefined;
      const hash = lying || !truthful ? madeUp(`move ${ctx.run.nonce++}`) : truthful;
      if (side === "provider") await mover.game.post({ id: d.id, hash });
      else await mover.game.answer({ id: d.id, hash });
    }
    if (lying) {
      if (side === "provider") d.providerTruthful = false;
      else d.challengerTruthful = false;
    }
  }
}

/** A move by someone whose move it is not: it must be refused. */
export async function moveOutOfTurn(
  ctx: FuzzContext,
  a: Extract<FuzzAction, { kind: "moveOutOfTurn" }>,
): Promise<void> {
  const d = await disputeIn(ctx, a.dispute, ["Steps", "OpsCommit", "Ops", "Referee"]);
  if (!d) return ctx.skip();
  const view = await ctx.devnet.deployer.game.get(d.id);
  const parties = { provider: d.committed.provider, challenger: d.challenger };
  const stranger = a.who === "outsider" ? ROLES.outsider : d.job.submitter;
  const hash = madeUp(`out of turn ${ctx.run.nonce++}`);
  let attempt: Promise<unknown>;
  let what: string;
  if (view.phase === "Steps" || view.phase === "Ops") {
    const postOwed = !view.pending;
    // The waiting party plays its own move out of turn; a stranger plays the one owed.
    const [who, post] = a.who === "waiting"
      ? [postOwed ? parties.challenger : parties.provider, !postOwed]
      : [stranger, postOwed];
    const client = ctx.devnet.client(who);
    attempt = post ? client.game.post({ id: d.id, hash }) : client.game.answer({ id: d.id, hash });
    what = `account ${who} ${post ? "posting" : "answering"} out of turn`;
  } else if (view.phase === "OpsCommit") {
    const again = view.providerOps !== 0
      ? parties.provider
      : view.challengerOps !== 0
      ? parties.challenger
      : undefined;
    const who = a.who === "waiting" ? again : stranger;
    if (who === undefined) return ctx.skip();
    attempt = ctx.devnet.client(who).game.commitOps({
      id: d.id,
      count: 1,
      root: hash,
      evidence: hash,
    });
    what = `account ${who} committing ops ${a.who === "waiting" ? "twice" : "as a stranger"}`;
  } else if (view.phase === "Referee") {
    const who = a.who === "waiting" ? parties.provider : stranger;
    attempt = ctx.devnet.client(who).game.rule({ id: d.id, ruling: "Provider", kernel: "(party)" });
    what = `account ${who}, a party or stranger, ruling`;
  } else {
    return ctx.skip();
  }
  await attempt;
  ctx.finding(`dispute ${d.id}: ${what} was accepted`);
}

/** Jumps to `LATE_MARGIN_SEC` before dispute `id`'s deadline, when that is still ahead. */
async function waitUntilLastSecond(devnet: Devnet, id: bigint): Promise<void> {
  const { deadline } = await devnet.deployer.game.get(id);
  const left = deadline - await devnet.now() - LATE_MARGIN_SEC;
  if (left > 0n) await devnet.increaseTime(left);
}

/** Draws a dispute's committee with the snapshotted pool, or with a doctored one (refused). */
export async function draw(
  ctx: FuzzContext,
  a: Extract<FuzzAction, { kind: "draw" }>,
): Promise<void> {
  const d = await disputeIn(ctx, a.dispute, ["Referee"]);
  if (!d) return ctx.skip();
  const client = ctx.devnet.client(a.who);
  const pending = await client.game.committeePool(d.id);
  if (!pending) return ctx.skip();
  if (a.late) await waitUntilLastSecond(ctx.devnet, d.id);
  if (a.pool === "true") return void await client.game.drawCommittee(d.id);
  const pool = [...pending.pool];
  const stakes = [...pending.stakesWei];
  if (a.pool === "add") {
    // A sybil slipped in with a large stake, so that the draw favours it.
    pool.push(ctx.devnet.accounts[ROLES.sybils[0]]);
    stakes.push(10n ** 24n);
  } else if (a.pool === "drop") {
    // The honest verifier that would rule against the caller left out.
    pool.shift();
    stakes.shift();
  } else {
    stakes[0] = stakes[0] * 1_000n + 1n;
  }
  await send(client, {
    address: ctx.devnet.addresses.disputeGame,
    abi: disputeGameAbi,
    functionName: "drawCommittee",
    args: [d.id, pool, stakes],
    action: `game.drawCommittee (pool: ${a.pool})`,
  });
  ctx.finding(`dispute ${d.id}: a doctored committee pool (${a.pool}) was accepted`);
}

/**
 * Dispute `d` as the chain holds it, and the vote an honest committee member casts on it once it
 * reached its referee (`vote` is `undefined` before, or when the model cannot decide it).
 */
export async function honestVoteOf(
  devnet: Devnet,
  d: DisputeModel,
): Promise<{ view: DisputeView; vote?: HonestVote }> {
  const view = await devnet.deployer.game.get(d.id);
  if (view.phase !== "Referee" && view.phase !== "Done") return { view };
  let claims;
  if (view.kind === "Execution" && view.step !== INITIAL_STATE && view.hi === view.lo) {
    const found = (await devnet.deployer.game.evidence(d.id)).found;
    if (found) claims = { provider: found.providerClaim, challenger: found.challengerClaim };
  }
  const vote = honestRuling(view, {
    jobId: d.job.id,
    serves: d.committed.serves,
    claims,
    providerOps: d.providerOps,
    challengerOps: d.challengerOps,
  });
  return { view, vote };
}

/** Casts one committee vote (honest or not) by a member, or by a non-member (refused). */
export async function vote(
  ctx: FuzzContext,
  a: Extract<FuzzAction, { kind: "vote" }>,
): Promise<void> {
  const d = await disputeIn(ctx, a.dispute, ["Referee"]);
  if (!d) return ctx.skip();
  let { members } = await ctx.devnet.deployer.game.committee(d.id);
  if (members.length === 0 && a.drawFirst && await ctx.devnet.deployer.game.committeePool(d.id)) {
    ({ members } = await ctx.devnet.client(ROLES.outsider).game.drawCommittee(d.id));
  }
  const strangers = [ROLES.outsider, d.job.submitter, d.committed.provider, d.challenger];
  const index = a.member < members.length
    ? ctx.devnet.accounts.indexOf(members[a.member])
    : strangers[a.member % strangers.length];
  const member = ctx.devnet.accounts[index];
  const honest = await honestVoteOf(ctx.devnet, d);
  if (honest.view.phase !== "Referee" && honest.view.phase !== "Done") {
    // Not at its referee yet: any vote must be refused.
    await ctx.devnet.client(index).game.rule({ id: d.id, ruling: "Provider", kernel: "(early)" });
    ctx.finding(`dispute ${d.id}: a vote in phase ${honest.view.phase} was accepted`);
    return;
  }
  const right = honest.vote;
  if (!right) return ctx.skip();
  if (a.late) await waitUntilLastSecond(ctx.devnet, d.id);
  const others: Ruling[] = (["Provider", "Challenger", "Both"] as Ruling[])
    .filter((r) => r !== right.ruling);
  const ruling = a.honest ? right.ruling : others[a.alt ? 1 : 0];
  const votedBefore = d.votes.has(member);
  try {
    await ctx.devnet.client(index).game.rule({
      id: d.id,
      ruling,
      providerOp: right.providerOp,
      challengerOp: right.challengerOp,
      kernel: "(fuzz)",
    });
  } catch (error) {
    if (
      error instanceof ContractRevertError && error.errorName === "InconsistentRuling" &&
      ruling === right.ruling
    ) {
      ctx.finding(`dispute ${d.id}: the honest ruling ${ruling} was refused as inconsistent`);
    }
    throw error;
  }
  if (a.member >= members.length) ctx.finding(`dispute ${d.id}: non-member ${member} voted`);
  if (votedBefore) ctx.finding(`dispute ${d.id}: member ${member} voted twice`);
  d.votes.set(member, { ruling, honest: ruling === right.ruling });
}

/** Calls `timeout` on a dispute, as anyone. */
export async function timeout(
  ctx: FuzzContext,
  a: Extract<FuzzAction, { kind: "timeout" }>,
): Promise<void> {
  const d = await disputeIn(ctx, a.dispute, ["Steps", "OpsCommit", "Ops", "Referee"]);
  if (!d) return ctx.skip();
  await ctx.devnet.client(a.who).game.timeout(d.id);
}
