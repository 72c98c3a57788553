/**
 * Protocol invariants, checked against live chain state: the token's supply accounting, the job
 * market's solvency (its balance equals the open escrows plus fees accrued for the router), stake
 * conservation (stake only leaves through a withdrawal or an authorised slash) and the dispute
 * game's solvency (it holds exactly the bonds of the disputes still open). Read-only; usable by
 * tests, benches and monitors. What must hold once everything has had time to settle is in
 * `liveness.ts`.
 *
 * @module
 */

import type { Address, Hex } from "./types.ts";
import { disputeGameAbi } from "./artifacts/DisputeGame.ts";
import { jobMarketAbi } from "./artifacts/JobMarket.ts";
import { stakingAbi } from "./artifacts/Staking.ts";
import { tokenAbi } from "./artifacts/Token.ts";
import type { ChainClient } from "./client.ts";
import { burnedSupply } from "./metrics.ts";

/** What the checker needs to know beyond the chain: which jobs and stakers to look at. */
export interface InvariantScope {
  /** Every job created so far. */
  jobIds: Hex[];
  /** Every account that may hold stake. */
  stakers: Address[];
  /** Accounts allowed to slash (the market and authorised verifiers). */
  slashers: Address[];
}

/** Open slot statuses: their payment is still escrowed (Open, Claimed, Committed, Disputed). */
const ESCROWED = new Set([0, 1, 2, 3]);

/**
 * Returns a description of every invariant that does not hold; empty when all hold.
 *
 * @example
 * ```ts
 * import { checkInvariants } from "./invariants.ts";
 * declare const client: import("./client.ts").ChainClient;
 * const violations = await checkInvariants(client, { jobIds: [], stakers: [], slashers: [] });
 * console.log(violations.length === 0);
 * ```
 */
export async function checkInvariants(
  client: ChainClient,
  scope: InvariantScope,
): Promise<string[]> {
  const violations: string[] = [];
  const { token, jobMarket, staking } = client.addresses;
  const read = client.public.readContract;
  const balance = (account: Address) =>
    read({ address: token, abi: tokenAbi, functionName: "balanceOf", args: [account] });

  // Supply: everything minted at deployment, minus what was burned (also counted from events).
  const [minted, burned, supply, burns] = await Promise.all([
    read({ address: token, abi: tokenAbi, functionName: "totalMinted" }),
    read({ address: token, abi: tokenAbi, functionName: "totalBurned" }),
    read({ address: token, abi: tokenAbi, functionName: "totalSupply" }),
    burnedSupply(client),
  ]);
  if (supply !== minted - burned) {
    violations.push(`supply ${supply} != minted ${minted} - burned ${burned}`);
  }
  if (burns.burnedWei !== burned) {
    violations.push(`burn events sum ${burns.burnedWei} != totalBurned ${burned}`);
  }

  // Market solvency: its balance is exactly the sum of open escrows.
  let escrowed = 0n;
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
      if (ESCROWED.has(slot.status)) escrowed += job.paymentPerReplica;
    }
  }
  const [marketBalance, fees] = await Promise.all([
    balance(jobMarket),
    read({ address: jobMarket, abi: jobMarketAbi, functionName: "accruedFees" }),
  ]);
  if (marketBalance !== escrowed + fees) {
    violations.push(
      `market holds ${marketBalance} but open escrows sum to ${escrowed} (+ ${fees} accrued fees)`,
    );
  }

  // Stake conservation: per staker, stake + unbonding == staked - withdrawn - slashed, and every
  // slash came from an authorised account.
  const events = async (eventName: "Staked" | "Withdrawn" | "Slashed") =>
    await client.public.getContractEvents({
      address: staking,
      abi: stakingAbi,
      eventName,
      fromBlock: 0n,
    });
  const [staked, withdrawn, slashed] = await Promise.all([
    events("Staked"),
    events("Withdrawn"),
    events("Slashed"),
  ]);
  const slashers = new Set(scope.slashers.map((a) => a.toLowerCase()));
  for (const s of slashed) {
    const args = s.args as Record<string, unknown>;
    if (!slashers.has((args.by as string).toLowerCase())) {
      violations.push(`unauthorised slash of ${args.account} by ${args.by}`);
    }
  }
  let held = 0n;
  for (const account of scope.stakers) {
    const sum = (logs: { args: Record<string, unknown> }[]) =>
      logs.filter((l) => (l.args.account as string).toLowerCase() === account.toLowerCase())
        .reduce((acc, l) => acc + (l.args.amount as bigint), 0n);
    const expected = sum(staked) - sum(withdrawn) - sum(slashed);
    const [[active, locked], [unbonding]] = await Promise.all([
      read({ address: staking, abi: stakingAbi, functionName: "stakeOf", args: [account] }),
      read({ address: staking, abi: stakingAbi, functionName: "unbondingOf", args: [account] }),
    ]);
    if (active + unbonding !== expected) {
      violations.push(`${account} holds ${active + unbonding} stake, events say ${expected}`);
    }
    if (locked > active) violations.push(`${account} has ${locked} locked of ${active} staked`);
    held += active + unbonding;
  }
  const stakingBalance = await balance(staking);
  if (stakingBalance !== held) {
    violations.push(`staking holds ${stakingBalance} but stakes sum to ${held}`);
  }

  // Dispute game solvency: it holds the bond of every open dispute and nothing else.
  const { disputeGame } = client.addresses;
  const count = await read({
    address: disputeGame,
    abi: disputeGameAbi,
    functionName: "disputeCount",
  });
  let bonds = 0n;
  for (let id = 1n; id <= count; id++) {
    const d = await read({
      address: disputeGame,
      abi: disputeGameAbi,
      functionName: "getDispute",
      args: [id],
    });
    if (d.phase !== DONE) bonds += d.bond;
  }
  const gameBalance = await balance(disputeGame);
  if (gameBalance !== bonds) {
    violations.push(
      `dispute game holds ${gameBalance} but the bonds of open disputes sum to ${bonds}`,
    );
  }
  return violations;
}

/** `DisputeGame.Phase.Done`. */
const DONE = 5;
