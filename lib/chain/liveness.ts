/**
 * Liveness invariants: what must hold once every permissionless step has been taken (timeouts,
 * committee draws, finalizations, refunds, withdrawals). Every slot has settled (Paid, Refunded or
 * Slashed), so the job market holds nothing but its accrued fees; no stake stays locked without a
 * live slot behind it; the dispute game holds no bond; and every dispute ended, its last deadline
 * within a bound fixed by the game's parameters. Where `invariants.ts` says nothing was lost, this
 * says nothing is stuck. Read-only.
 *
 * @module
 */

import type { Address, Hex } from "./types.ts";
import { disputeGameAbi } from "./artifacts/DisputeGame.ts";
import { jobMarketAbi } from "./artifacts/JobMarket.ts";
import { stakingAbi } from "./artifacts/Staking.ts";
import { tokenAbi } from "./artifacts/Token.ts";
import type { ChainClient } from "./client.ts";
import { slotStatusName } from "./revert.ts";

/** What the liveness checker looks at. */
export interface LivenessScope {
  /** Every job created. */
  jobIds: Hex[];
  /** Every account that may hold stake. */
  stakers: Address[];
  /** Every dispute opened, with the chain time of its opening block. */
  disputes: { id: bigint; openedAt: bigint }[];
  /** Longest a dispute may last, seconds (see {@linkcode disputeBoundSec}). */
  disputeBoundSec: bigint;
}

/** Slot statuses that hold escrow and may hold a stake lock: Claimed, Committed, Disputed. */
const LIVE = new Set([1, 2, 3]);
/** Open, the other escrowed status: it holds no lock. */
const OPEN = 0;
const DONE = 5;

/**
 * The longest a dispute can last from its opening to the deadline after which anyone ends it:
 * each party's chess clock bounds all its bisection moves (`2 * clockBudget`), the op commit has
 * one plain `moveTimeout`, and the referee phase has `refereeTimeout` to draw the committee and
 * `refereeTimeout` more to rule.
 *
 * @example
 * ```ts
 * import { disputeBoundSec } from "./liveness.ts";
 * declare const client: import("./client.ts").ChainClient;
 * console.log(await disputeBoundSec(client)); // 11400n with the devnet's parameters
 * ```
 */
export async function disputeBoundSec(client: ChainClient): Promise<bigint> {
  const read = (functionName: "clockBudget" | "moveTimeout" | "refereeTimeout") =>
    client.public.readContract({
      address: client.addresses.disputeGame,
      abi: disputeGameAbi,
      functionName,
    });
  const [clock, move, referee] = await Promise.all([
    read("clockBudget"),
    read("moveTimeout"),
    read("refereeTimeout"),
  ]);
  return 2n * BigInt(clock) + BigInt(move) + 2n * BigInt(referee);
}

/**
 * Returns a description of every liveness invariant that does not hold; empty when all hold.
 * Meant for a settled state: after a run's epilogue, or on a monitor long after the last action.
 *
 * @example
 * ```ts
 * import { checkLiveness, disputeBoundSec } from "./liveness.ts";
 * declare const client: import("./client.ts").ChainClient;
 * const stuck = await checkLiveness(client, {
 *   jobIds: [],
 *   stakers: [],
 *   disputes: [],
 *   disputeBoundSec: await disputeBoundSec(client),
 * });
 * console.log(stuck.length === 0);
 * ```
 */
export async function checkLiveness(
  client: ChainClient,
  scope: LivenessScope,
): Promise<string[]> {
  const violations: string[] = [];
  const { token, jobMarket, staking, disputeGame } = client.addresses;
  const read = client.public.readContract;
  const balance = (account: Address) =>
    read({ address: token, abi: tokenAbi, functionName: "balanceOf", args: [account] });

  // Slots: each one settled; a live one keeps its escrow and its provider's lock.
  const expectedLock = new Map<string, bigint>();
  let stranded = 0n;
  for (const jobId of scope.jobIds) {
    const job = await read({
      address: jobMarket,
      abi: jobMarketAbi,
      functionName: "getJob",
      args: [jobId],
    });
    for (let i = 0n; i < BigInt(job.replicas); i++) {
      const slot = await read({
        address: jobMarket,
        abi: jobMarketAbi,
        functionName: "getSlot",
        args: [jobId, i],
      });
      if (slot.status !== OPEN && !LIVE.has(slot.status)) continue;
      stranded += job.paymentPerReplica;
      violations.push(`job ${jobId} slot ${i} is stuck ${slotStatusName(slot.status)}`);
      if (LIVE.has(slot.status)) {
        const key = slot.provider.toLowerCase();
        expectedLock.set(key, (expectedLock.get(key) ?? 0n) + job.requiredStake);
      }
    }
  }
  const [marketBalance, fees] = await Promise.all([
    balance(jobMarket),
    read({ address: jobMarket, abi: jobMarketAbi, functionName: "accruedFees" }),
  ]);
  if (marketBalance !== fees) {
    violations.push(
      `job market holds ${marketBalance} beyond its accrued fees ${fees} ` +
        `(${stranded} of it escrow of unsettled slots)`,
    );
  }

  // Stake: locked only behind a live slot.
  for (const account of scope.stakers) {
    const [, locked] = await read({
      address: staking,
      abi: stakingAbi,
      functionName: "stakeOf",
      args: [account],
    });
    const expected = expectedLock.get(account.toLowerCase()) ?? 0n;
    if (locked !== expected) {
      violations.push(`${account} has ${locked} stake locked, its live slots back ${expected}`);
    }
  }

  // Disputes: each ended, within the bound; no bond left behind.
  for (const { id, openedAt } of scope.disputes) {
    const d = await read({
      address: disputeGame,
      abi: disputeGameAbi,
      functionName: "getDispute",
      args: [id],
    });
    if (d.phase !== DONE) violations.push(`dispute ${id} never ended (phase ${d.phase})`);
    const late = BigInt(d.deadline) - openedAt - scope.disputeBoundSec;
    if (late > 0n) {
      violations.push(
        `dispute ${id} could run ${late} s past its bound of ${scope.disputeBoundSec} s`,
      );
    }
  }
  const gameBalance = await balance(disputeGame);
  if (gameBalance !== 0n) violations.push(`dispute game still holds ${gameBalance}`);
  return violations;
}
