/**
 * Property-based invariant run: fast-check generates random sequences of protocol actions (stake,
 * unstake, withdraw, create, claim, commit, finalize, refund, reassign, disputes, fee routing,
 * transfers, burns, unauthorised slashes, time travel), each sequence runs against the real chain
 * from the same snapshot, and the invariants of `invariants.ts` are checked after it. Reverts are
 * expected (random actions are often invalid); a panic or an undecodable failure is a violation.
 *
 * @module
 */

import fc from "npm:fast-check@4.10.2";
import { keccak256, toBytes } from "npm:viem@2.57.20";
import type { Hex } from "./types.ts";
import { stakingAbi } from "./artifacts/Staking.ts";
import { tokenAbi } from "./artifacts/Token.ts";
import type { Devnet } from "./devnet.ts";
import { checkInvariants } from "./invariants.ts";
import { ContractRevertError, MinedRevertError } from "./revert.ts";
import { send } from "./transact.ts";

/** One random action. Actors are devnet account indices. */
export type FuzzAction =
  | { kind: "stake"; who: number; amount: bigint }
  | { kind: "unstake"; who: number; amount: bigint }
  | { kind: "withdraw"; who: number }
  | {
    kind: "create";
    who: number;
    job: number;
    perReplica: bigint;
    replicas: number;
    stake: bigint;
    timeout: number;
    window: number;
  }
  | { kind: "claim"; who: number; job: number }
  | { kind: "commit"; who: number; job: number }
  | { kind: "finalize"; who: number; job: number; slot: number }
  | { kind: "refund"; who: number; job: number }
  | { kind: "reassign"; who: number; job: number; extend: number }
  | { kind: "dispute"; job: number; slot: number; honest: boolean }
  | { kind: "distribute"; who: number }
  | { kind: "transfer"; who: number; to: number; amount: bigint }
  | { kind: "burn"; who: number; amount: bigint }
  | { kind: "rogueSlash"; who: number; victim: number; amount: bigint }
  | { kind: "time"; seconds: number };

const TOKEN = 10n ** 18n;
const SUBMITTERS = [1, 2];
const PROVIDERS = [3, 4, 5];
const JOBS = 4;

const submitter = fc.constantFrom(...SUBMITTERS);
const provider = fc.constantFrom(...PROVIDERS);
const anyone = fc.integer({ min: 1, max: 8 });
const tokens = (max: number) =>
  fc.bigInt({ min: 1n, max: BigInt(max) * TOKEN }).map((v) => v === 0n ? 1n : v);
const job = fc.integer({ min: 0, max: JOBS - 1 });

/* The generator of one action. */
const fuzzAction = fc.oneof(
  fc.record({ kind: fc.constant("stake" as const), who: provider, amount: tokens(2_000) }),
  fc.record({ kind: fc.constant("unstake" as const), who: provider, amount: tokens(1_000) }),
  fc.record({ kind: fc.constant("withdraw" as const), who: provider }),
  fc.record({
    kind: fc.constant("create" as const),
    who: submitter,
    job,
    perReplica: fc.oneof(fc.bigInt({ min: 1n, max: 1_000n }), tokens(500)),
    replicas: fc.integer({ min: 1, max: 3 }),
    stake: fc.oneof(fc.constant(0n), tokens(800)),
    timeout: fc.integer({ min: 100, max: 5_000 }),
    window: fc.integer({ min: 60, max: 1_000 }),
  }),
  fc.record({ kind: fc.constant("claim" as const), who: provider, job }),
  fc.record({ kind: fc.constant("commit" as const), who: provider, job }),
  fc.record({
    kind: fc.constant("finalize" as const),
    who: anyone,
    job,
    slot: fc.integer({ min: 0, max: 2 }),
  }),
  fc.record({ kind: fc.constant("refund" as const), who: anyone, job }),
  fc.record({
    kind: fc.constant("reassign" as const),
    who: submitter,
    job,
    extend: fc.integer({ min: 100, max: 3_000 }),
  }),
  fc.record({
    kind: fc.constant("dispute" as const),
    job,
    slot: fc.integer({ min: 0, max: 2 }),
    honest: fc.boolean(),
  }),
  fc.record({ kind: fc.constant("distribute" as const), who: anyone }),
  fc.record({
    kind: fc.constant("transfer" as const),
    who: anyone,
    to: anyone,
    amount: tokens(100),
  }),
  fc.record({ kind: fc.constant("burn" as const), who: anyone, amount: tokens(100) }),
  fc.record({
    kind: fc.constant("rogueSlash" as const),
    who: anyone,
    victim: provider,
    amount: tokens(100),
  }),
  fc.record({ kind: fc.constant("time" as const), seconds: fc.integer({ min: 1, max: 4_000 }) }),
);

/** Options of {@linkcode runInvariantFuzz}. */
export interface FuzzOptions {
  /** Number of random sequences; default 500. */
  runs?: number;
  /** Longest sequence; default 20 actions. */
  maxActions?: number;
  /** fast-check seed, for replaying a run. */
  seed?: number;
}

/** Outcome of a fuzz run. */
export interface FuzzResult {
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
  /** Every invariant violation or unexpected failure, with the sequence that caused it. */
  violations: string[];
}

async function apply(devnet: Devnet, run: number, a: FuzzAction): Promise<void> {
  const jobId = (n: number): Hex => keccak256(toBytes(`fuzz-${run}-${n}`));
  const c = (i: number) => devnet.client(i);
  switch (a.kind) {
    case "stake":
      return void await c(a.who).staking.stake({ amountWei: a.amount });
    case "unstake":
      return void await c(a.who).staking.requestUnstake({ amountWei: a.amount });
    case "withdraw":
      return void await c(a.who).staking.withdraw();
    case "create":
      return void await c(a.who).jobs.create({
        specHash: jobId(a.job),
        paymentWei: a.perReplica * BigInt(a.replicas),
        replicas: a.replicas,
        requiredStakeWei: a.stake,
        timeoutSec: a.timeout,
        challengeWindowSec: a.window,
      });
    case "claim":
      return void await c(a.who).jobs.claim({ jobId: jobId(a.job) });
    case "commit":
      return void await c(a.who).jobs.commit({
        jobId: jobId(a.job),
        finalStateHash: keccak256(toBytes(`state-${a.who}`)),
        traceRoot: keccak256(toBytes(`trace-${a.who}`)),
      });
    case "finalize":
      return void await c(a.who).jobs.finalize({ jobId: jobId(a.job), slot: a.slot });
    case "refund":
      return void await c(a.who).jobs.refund({ jobId: jobId(a.job) });
    case "reassign":
      return void await c(a.who).jobs.reassign({
        jobId: jobId(a.job),
        deadline: (await devnet.now()) + BigInt(a.extend),
      });
    case "dispute": {
      const referee = c(9);
      const params = { jobId: jobId(a.job), slot: a.slot };
      await referee.disputes.open(params);
      return void await referee.disputes.settle({
        ...params,
        providerHonest: a.honest,
        challenger: devnet.accounts[8],
      });
    }
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
      // Must always revert: no dev account but the referee is authorised.
      await send(c(a.who), {
        address: devnet.addresses.staking,
        abi: stakingAbi,
        functionName: "slash",
        args: [devnet.accounts[a.victim], a.amount, devnet.accounts[a.who]],
        action: "staking.slash",
      });
      throw new Error(`account ${a.who} slashed ${a.victim} without authorisation`);
    case "time":
      return await devnet.increaseTime(a.seconds);
  }
}

const show = (a: FuzzAction): string =>
  JSON.stringify(a, (_, v) => typeof v === "bigint" ? `${v}n` : v);

/**
 * Runs random action sequences against the devnet, each from the same snapshot, and checks the
 * protocol invariants after every sequence.
 *
 * @example
 * ```ts
 * import { runInvariantFuzz } from "./fuzz.ts";
 * import { startDevnet } from "./devnet.ts";
 * await using devnet = await startDevnet();
 * const { violations } = await runInvariantFuzz(devnet, { runs: 20 });
 * console.log(violations.length); // 0
 * ```
 */
export async function runInvariantFuzz(
  devnet: Devnet,
  options: FuzzOptions = {},
): Promise<FuzzResult> {
  const result: FuzzResult = {
    runs: 0,
    actions: 0,
    reverts: 0,
    unexpectedReverts: [],
    violations: [],
  };
  const stakers = PROVIDERS.map((i) => devnet.accounts[i]);
  const slashers = [devnet.addresses.jobMarket, devnet.referee];
  let run = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(fuzzAction, { minLength: 1, maxLength: options.maxActions ?? 20 }),
      async (actions) => {
        run++;
        const snapshot = await devnet.snapshot();
        try {
          for (const [i, action] of actions.entries()) {
            result.actions++;
            try {
              await apply(devnet, run, action);
            } catch (error) {
              if (error instanceof MinedRevertError) {
                result.unexpectedReverts.push(
                  `run ${run}: ${show(action)} after [${
                    actions.slice(0, i).map(show).join(", ")
                  }]: ${error.message}`,
                );
                continue;
              }
              if (error instanceof ContractRevertError && error.errorName !== "Panic") {
                result.reverts++;
                continue;
              }
              result.violations.push(
                `run ${run}: ${show(action)} failed unexpectedly: ${(error as Error).message}`,
              );
            }
          }
          const jobIds = Array.from(
            { length: JOBS },
            (_, n) => keccak256(toBytes(`fuzz-${run}-${n}`)),
          );
          const existing = await existingJobs(devnet, jobIds);
          for (
            const v of await checkInvariants(devnet.deployer, {
              jobIds: existing,
              stakers,
              slashers,
            })
          ) {
            result.violations.push(`run ${run} after [${actions.map(show).join(", ")}]: ${v}`);
          }
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

/** The ids among `ids` that name an existing job. */
async function existingJobs(devnet: Devnet, ids: Hex[]): Promise<Hex[]> {
  const found: Hex[] = [];
  for (const id of ids) {
    try {
      await devnet.deployer.jobs.get(id);
      found.push(id);
    } catch (error) {
      // UnknownJob: this index was never created in the run; anything else is a real failure.
      if (!(error instanceof ContractRevertError && error.errorName === "UnknownJob")) throw error;
    }
  }
  return found;
}

/** Accounts used as actors, for callers that scope their own checks. */
export const FUZZ_ACTORS: { submitters: number[]; providers: number[]; referee: number } = {
  submitters: SUBMITTERS,
  providers: PROVIDERS,
  referee: 9,
};
