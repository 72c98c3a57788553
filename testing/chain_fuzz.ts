/**
 * Adversarial stateful fuzz of the protocol on a real chain: fast-check generates sequences of
 * actions by honest and adversarial actors (`fuzz/actions.ts`), each sequence runs from the same
 * snapshot through the real contracts, the dispute game included (`fuzz/apply.ts`,
 * `fuzz/game_moves.ts`), and after it:
 *
 * - the safety invariants of `invariants.ts` (supply, market and dispute game solvency, stake
 *   conservation) are checked;
 * - a liveness epilogue (`fuzz/epilogue.ts`) advances time and plays only permissionless steps and
 *   honest committee votes, then `liveness.ts` checks that nothing is stuck: every slot settled,
 *   no escrow, lock or bond left behind, every dispute ended within its bound;
 * - the safety invariants are checked again, and the no-honest-loss invariants of
 *   `fuzz/honesty.ts` judge every dispute against the model of who was honest.
 *
 * Reverts are expected (random actions are often invalid); an attack the chain accepts, a panic,
 * or an undecodable failure is a violation. No account the fuzz plays is authorised to slash or to
 * settle disputes: disputes go through `DisputeGame` only.
 *
 * @module
 */

import fc from "npm:fast-check@4.10.2";
import { maxUint256 } from "npm:viem@2.57.20";
import { ChainError } from "../lib/core/errors.ts";
import type { Devnet } from "../lib/chain/devnet.ts";
import { checkInvariants } from "../lib/chain/invariants.ts";
import { checkLiveness, disputeBoundSec } from "../lib/chain/liveness.ts";
import { ContractRevertError, MinedRevertError } from "../lib/chain/revert.ts";
import { type FuzzAction, fuzzSequence, ROLES, showAction } from "./chain_fuzz/actions.ts";
import { applyAction } from "./chain_fuzz/apply.ts";
import { runEpilogue } from "./chain_fuzz/epilogue.ts";
import { checkHonestParties, type GameEvent, gameEvents } from "./chain_fuzz/honesty.ts";
import { newRun } from "./chain_fuzz/model.ts";

/** Options of {@linkcode runAdversarialFuzz}. */
export interface AdversarialFuzzOptions {
  /** Number of random sequences; default 500. */
  runs?: number;
  /** Longest sequence; default 24 actions. */
  maxActions?: number;
  /** fast-check seed, for replaying a run. */
  seed?: number;
  /**
   * Let providers register as verifiers too, so that they sit on other jobs' committees; default
   * false while a committee penalty can slash stake a provider has locked (the slot then never
   * settles: `LockUnderflow`, see `tests/chain/invariants_test.ts`).
   */
  providersVerify?: boolean;
}

/** Outcome of an adversarial fuzz run. */
export interface AdversarialFuzzResult {
  /** Sequences run. */
  runs: number;
  /** Actions executed (reverted ones included). */
  actions: number;
  /** Actions refused with a custom error at estimation (expected for random input). */
  reverts: number;
  /**
   * Transactions that passed gas estimation and were then mined reverted, each with the sequence
   * that led to it. Never expected: estimation and mining disagreed about the same state.
   */
  unexpectedReverts: string[];
  /** Protocol invariants broken (supply, solvency, stake conservation), after a sequence or its epilogue. */
  invariantViolations: string[];
  /**
   * Attacks the chain accepted (a party disputing its own job, a doctored committee pool, a move
   * out of turn, a double vote, a slash or settlement without the game), honest parties that
   * lost, and unexpected failures.
   */
  adversarialViolations: string[];
  /** What the epilogue could not settle, or found stuck after it. */
  livenessViolations: string[];
  /** How often each dispute game event (and each outcome) occurred over all sequences. */
  coverage: Record<string, number>;
  /** How each kind of action ended: `claim ok`, `claim NoOpenSlot`, ... over all sequences. */
  actionOutcomes: Record<string, number>;
}

const TOKEN = 10n ** 18n;
const OUTCOMES = ["Pending", "ProviderWon", "ChallengerWon", "BothFaulty", "Voided"];

/**
 * Gives the fuzz's actors their standing: unlimited allowances, providers' stake, and honest and
 * sybil verifiers staked and partly registered, then lets any registry warm-up pass.
 */
async function prepareChain(devnet: Devnet): Promise<void> {
  if (devnet.accounts.length <= ROLES.accounts) {
    throw new ChainError(
      "FUZZ_ACCOUNTS",
      `the adversarial fuzz plays accounts 1..${ROLES.accounts - 1} and leaves the devnet's ` +
        `referee alone; start the devnet with { accounts: ${ROLES.accounts + 1} } or more`,
      { value: devnet.accounts.length },
    );
  }
  const { staking, jobMarket, disputeGame } = devnet.addresses;
  for (let i = 1; i < ROLES.accounts; i++) {
    for (const spender of [staking, jobMarket, disputeGame]) {
      await devnet.client(i).token.approve({ spender, amountWei: maxUint256 });
    }
  }
  for (const i of ROLES.providers) {
    await devnet.client(i).staking.stake({ amountWei: 1_000n * TOKEN });
  }
  for (const i of [...ROLES.verifiers, ...ROLES.sybils]) {
    await devnet.client(i).staking.stake({ amountWei: 200n * TOKEN });
  }
  for (const i of [...ROLES.verifiers.slice(0, 3), ROLES.sybils[0]]) {
    await devnet.client(i).verifiers.register();
  }
  await devnet.increaseTime(8 * 86_400);
}

function countCoverage(coverage: Record<string, number>, events: readonly GameEvent[]): void {
  for (const e of events) {
    if (e.eventName === "ParameterSet" || e.eventName === "OwnershipTransferred") continue;
    const name = e.eventName === "DisputeResolved"
      ? `outcome ${OUTCOMES[Number(e.args.outcome)]}`
      : e.eventName;
    coverage[name] = (coverage[name] ?? 0) + 1;
  }
}

/**
 * Runs random adversarial sequences against the devnet, each from the same snapshot, and checks
 * the safety and liveness invariants after every one. The devnet needs more than `ROLES.accounts`
 * accounts; the fuzz stakes and approves for its actors once, before the first snapshot.
 *
 * @example
 * ```ts
 * import { runAdversarialFuzz } from "./chain_fuzz.ts";
 * import { startDevnet } from "../lib/chain/devnet.ts";
 * await using devnet = await startDevnet({ accounts: 16, verifiers: [] });
 * const result = await runAdversarialFuzz(devnet, { runs: 20 });
 * console.log(result.adversarialViolations.length, result.livenessViolations.length); // 0 0
 * ```
 */
export async function runAdversarialFuzz(
  devnet: Devnet,
  options: AdversarialFuzzOptions = {},
): Promise<AdversarialFuzzResult> {
  const result: AdversarialFuzzResult = {
    runs: 0,
    actions: 0,
    reverts: 0,
    unexpectedReverts: [],
    invariantViolations: [],
    adversarialViolations: [],
    livenessViolations: [],
    coverage: {},
    actionOutcomes: {},
  };
  const tally = (key: string) => result.actionOutcomes[key] = (result.actionOutcomes[key] ?? 0) + 1;
  await prepareChain(devnet);
  const client = devnet.deployer;
  const boundSec = await disputeBoundSec(client);
  const stakers = [...ROLES.providers, ...ROLES.verifiers, ...ROLES.sybils]
    .map((i) => devnet.accounts[i]);
  const slashers = [devnet.addresses.jobMarket, devnet.addresses.disputeGame];
  let run = 0;
  await fc.assert(
    fc.asyncProperty(
      fuzzSequence(options.maxActions ?? 24, { providersVerify: options.providersVerify }),
      async (actions: FuzzAction[]) => {
        const model = newRun(++run);
        const where = `run ${run} [${actions.map(showAction).join(", ")}]`;
        const report = (into: string[], found: string[]) => {
          for (const v of found) into.push(`${where}: ${v}`);
        };
        let skipped = false;
        const ctx = {
          devnet,
          run: model,
          finding: (m: string) => report(result.adversarialViolations, [m]),
          skip: () => void (skipped = true),
        };
        const snapshot = await devnet.snapshot();
        try {
          for (const [i, action] of actions.entries()) {
            result.actions++;
            skipped = false;
            try {
              await applyAction(ctx, action);
              tally(`${action.kind} ${skipped ? "skipped" : "ok"}`);
            } catch (error) {
              tally(`${action.kind} ${(error as { errorName?: string }).errorName ?? "failed"}`);
              if (error instanceof MinedRevertError) {
                report(result.unexpectedReverts, [`action ${i}: ${error.message}`]);
              } else if (error instanceof ContractRevertError && error.errorName !== "Panic") {
                result.reverts++;
              } else {
                report(result.adversarialViolations, [
                  `action ${i} ${showAction(action)} failed unexpectedly: ${
                    (error as Error).message
                  }`,
                ]);
              }
            }
          }
          const jobIds = model.jobs.map((j) => j.id);
          const safety = { jobIds, stakers, slashers };
          report(result.invariantViolations, await checkInvariants(client, safety));
          report(result.livenessViolations, await runEpilogue(devnet, model, { stakers }));
          report(
            result.livenessViolations,
            await checkLiveness(client, {
              jobIds,
              stakers,
              disputes: model.disputes.map((d) => ({ id: d.id, openedAt: d.openedAt })),
              disputeBoundSec: boundSec,
            }),
          );
          report(result.invariantViolations, await checkInvariants(client, safety));
          const events = await gameEvents(devnet);
          report(result.adversarialViolations, await checkHonestParties(devnet, model, events));
          countCoverage(result.coverage, events);
        } catch (error) {
          // The harness itself failed (a read, the model): reported, never swallowed.
          report(result.adversarialViolations, [`the run failed: ${(error as Error).stack}`]);
        } finally {
          await devnet.revert(snapshot);
          result.runs++;
        }
      },
    ),
    { numRuns: options.runs ?? 500, seed: options.seed, endOnFailure: true },
  );
  return result;
}

export { ROLES } from "./chain_fuzz/actions.ts";
