/**
 * The no-honest-loss invariants of the dispute game, judged with the fuzz's model of who was
 * honest. A provider is honest in a dispute when it committed the true run, serves it, and every
 * move it made followed it; a challenger when its claim is true (the result is wrong, or withheld)
 * and every move it made followed the true run. Neither may lose unless it defaulted (the game
 * timed it out on a move it owed) or a quorum of the committee ruled against the truth. An honest
 * provider's slot is never Slashed outside such a lost dispute; an honest challenger's bond is
 * never forfeited outside one; and a committee member that voted the honest ruling is never
 * penalised unless a dishonest ruling carried the committee.
 *
 * @module
 */

import { disputeGameAbi } from "../../lib/chain/artifacts/DisputeGame.ts";
import type { Devnet } from "../../lib/chain/devnet.ts";
import { honestVoteOf } from "./game_moves.ts";
import { challengerHonest, isHonestSlot, providerHonest, type RunModel } from "./model.ts";
import type { Ruling } from "./world.ts";

/** One decoded `DisputeGame` event. */
export interface GameEvent {
  /** Event name. */
  eventName: string;
  /** Decoded arguments. */
  args: Record<string, unknown>;
}

/** Every event the dispute game emitted so far. */
export async function gameEvents(devnet: Devnet): Promise<GameEvent[]> {
  const logs = await devnet.deployer.public.getContractEvents({
    address: devnet.addresses.disputeGame,
    abi: disputeGameAbi,
    fromBlock: 0n,
  });
  return logs as unknown as GameEvent[];
}

const RULINGS: Ruling[] = ["Provider", "Challenger", "Both"];

/** What the events say about one dispute. */
interface DisputeRecord {
  timedOut: Set<string>;
  ruled?: Ruling;
  penalised: Set<string>;
  bondLost: bigint;
}

/**
 * Returns a description of every honest party that lost; empty when none did. Call it once every
 * dispute of `run` has ended (after the epilogue).
 *
 * @example
 * ```ts
 * import { checkHonestParties, gameEvents } from "./honesty.ts";
 * declare const devnet: import("../../lib/chain/devnet.ts").Devnet;
 * declare const run: import("./model.ts").RunModel;
 * console.log(await checkHonestParties(devnet, run, await gameEvents(devnet)));
 * ```
 */
export async function checkHonestParties(
  devnet: Devnet,
  run: RunModel,
  events: readonly GameEvent[],
): Promise<string[]> {
  const violations: string[] = [];
  const byId = new Map<bigint, DisputeRecord>();
  const of = (id: unknown) => {
    const key = id as bigint;
    let r = byId.get(key);
    if (!r) byId.set(key, r = { timedOut: new Set(), penalised: new Set(), bondLost: 0n });
    return r;
  };
  const lower = (a: unknown) => (a as string).toLowerCase();
  for (const e of events) {
    const r = of(e.args.id);
    if (e.eventName === "TimedOut") r.timedOut.add(lower(e.args.party));
    if (e.eventName === "Ruled") r.ruled = RULINGS[Number(e.args.ruling)];
    if (e.eventName === "RefereePenalized") r.penalised.add(lower(e.args.member));
    if (e.eventName === "DisputeResolved") {
      r.bondLost = (e.args.bondToProvider as bigint) + (e.args.bondBurned as bigint);
    }
  }

  const lost = new Set<string>();
  for (const d of run.disputes) {
    const r = of(d.id);
    const { view, vote } = await honestVoteOf(devnet, d);
    if (view.phase !== "Done") continue; // reported by the liveness checks
    const provider = devnet.accounts[d.committed.provider].toLowerCase();
    const challenger = devnet.accounts[d.challenger].toLowerCase();
    // A ruling against the truth needs a quorum of the committee to vote for it.
    const dishonestQuorum = r.ruled !== undefined && r.ruled !== vote?.ruling;
    const providerLost = view.outcome === "ChallengerWon" || view.outcome === "BothFaulty";
    const challengerLost = view.outcome === "ProviderWon" || view.outcome === "BothFaulty";
    if (providerLost) lost.add(`${d.job.id}:${d.slot}`);
    const how = `${view.outcome}${r.ruled ? ` by a ${r.ruled} ruling` : ""}` +
      ` (honest ruling ${vote?.ruling ?? "undecided"})`;
    if (
      providerHonest(d) && providerLost && !r.timedOut.has(provider) && !dishonestQuorum
    ) {
      violations.push(`honest provider ${provider} lost ${d.kind} dispute ${d.id}: ${how}`);
    }
    if (challengerHonest(d) && !r.timedOut.has(challenger) && !dishonestQuorum) {
      if (challengerLost) {
        violations.push(`honest challenger ${challenger} lost ${d.kind} dispute ${d.id}: ${how}`);
      } else if (r.bondLost > 0n) {
        violations.push(`honest challenger ${challenger} lost ${r.bondLost} of its bond in ${how}`);
      }
    }
    for (const member of r.penalised) {
      const cast = [...d.votes].find(([m]) => m.toLowerCase() === member)?.[1];
      if (cast?.honest && !dishonestQuorum) {
        violations.push(
          `committee member ${member} was penalised for the honest ruling ` +
            `${cast.ruling} on dispute ${d.id}: ${how}`,
        );
      }
    }
  }

  // An honest provider's slot is Slashed only through a dispute it lost (judged above).
  for (const job of run.jobs) {
    for (const [slot, committed] of job.slots) {
      if (!isHonestSlot(committed) || lost.has(`${job.id}:${slot}`)) continue;
      const status = (await devnet.deployer.jobs.slot({ jobId: job.id, slot })).status;
      if (status === "Slashed") {
        violations.push(
          `honest provider ${devnet.accounts[committed.provider]} was slashed on ` +
            `job ${job.id} slot ${slot} outside any dispute`,
        );
      }
    }
  }
  return violations;
}
