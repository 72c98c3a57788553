/**
 * The adversarial fuzz's actions and their fast-check generators: the job market and staking
 * moves of every actor, the dispute game played by honest and adversarial parties (verifiers,
 * sybils of a provider, the provider and the submitter themselves), referee committees that rule
 * either way, the verifier registry, and time. Actors are devnet account indices, laid out in
 * {@linkcode ROLES}; jobs and disputes are named by their index in the run (the n-th created), never
 * by an id guessed in advance.
 *
 * @module
 */

import fc from "npm:fast-check@4.10.2";
import { CHECKPOINT_INTERVAL, OPS, STEPS } from "./world.ts";

/** Devnet account indices of each role; the devnet needs `ROLES.accounts` accounts. */
export const ROLES = {
  /** Create jobs; must never be able to dispute them. */
  submitters: [1, 2],
  /** Stake, claim and commit (honestly or not); must never be able to dispute their own slots. */
  providers: [3, 4, 5],
  /** Accounts the providers control, posing as verifiers, challengers and committee members. */
  sybils: [6, 7],
  /** Honest verifiers: challengers, and committee members when drawn. */
  verifiers: [8, 9, 10, 11],
  /** An account with nothing at stake, for permissionless calls and moves out of turn. */
  outsider: 12,
  /** Accounts the fuzz uses, 0 (the deployer) included; the devnet's referee EOA comes after. */
  accounts: 13,
} as const;

/** Who opens a dispute, resolved against the disputed slot when the action runs. */
export type Opener =
  | { role: "verifier"; index: number }
  | { role: "sybil"; index: number }
  | { role: "provider" }
  | { role: "submitter" }
  | { role: "otherProvider"; index: number };

/** Which party of a dispute lies (or moves at the last second) in a `play` action. */
export type Party = "none" | "provider" | "challenger" | "both";

/** How a provider commits: the true run or one that goes wrong at `deviateAt`. */
export interface CommitPlan {
  /** First step whose state is wrong (0: the initial state), or `null` for the true run. */
  deviateAt: number | null;
  /** Whether it serves its trace and checkpoints when asked. */
  serves: boolean;
  /** Where its op records of the step that goes wrong start to be forged (`OPS`: none). */
  forgeAt: number;
}

/** The parameters of a job a submitter creates. */
export interface JobPlan {
  /** Submitter (devnet index). */
  who: number;
  /** Which of a few specs (both submitters share them). */
  spec: number;
  /** Payment per replica, wei. */
  perReplica: bigint;
  /** Replicas, 1 to 3. */
  replicas: number;
  /** Stake each provider locks, wei. */
  stake: bigint;
  /** Seconds to the deadline. */
  timeout: number;
  /** Challenge window, seconds. */
  window: number;
  /** Referee committee size (0: the game's default; an even size must be refused). */
  committee: number;
}

/** One action of a sequence. Targets (`job`, `claim`, `slot` ...) index what the run created. */
export type FuzzAction =
  | { kind: "stake"; who: number; amount: bigint }
  /** `amount: 0n` unbonds all the unlocked stake: keep only what claimed slots lock. */
  | { kind: "unstake"; who: number; amount: bigint }
  | { kind: "withdraw"; who: number }
  | { kind: "register"; who: number }
  | { kind: "deregister"; who: number }
  | ({ kind: "create" } & JobPlan)
  | ({ kind: "lifecycle"; first: number; commits: CommitPlan[] } & JobPlan)
  | { kind: "claim"; who: number; job: number }
  | { kind: "release"; who: number; job: number }
  | { kind: "cancel"; who: number; job: number }
  | ({ kind: "commit"; claim: number; stranger: number | null } & CommitPlan)
  | { kind: "finalize"; who: number; slot: number }
  | { kind: "refund"; who: number; job: number }
  | { kind: "reassign"; who: number; job: number; extend: number }
  | {
    kind: "openExecution";
    by: Opener;
    slot: number;
    /** The disputed segment, or `null` for the first one the challenger disagrees on. */
    segment: number | null;
    lieFrom: number | null;
    forgeAt: number;
  }
  | { kind: "openAvailability"; by: Opener; slot: number; checkpoint: boolean }
  | {
    kind: "play";
    dispute: number;
    moves: number;
    liar: Party;
    late: Party;
    lieCount: number;
  }
  | { kind: "moveOutOfTurn"; dispute: number; who: "waiting" | "outsider" | "submitter" }
  | {
    kind: "draw";
    dispute: number;
    who: number;
    /** The pool as snapshotted, or doctored: a sybil added, a member dropped, a stake raised. */
    pool: "true" | "add" | "drop" | "restake";
    late: boolean;
  }
  | {
    kind: "vote";
    dispute: number;
    member: number;
    honest: boolean;
    alt: boolean;
    /** Draw the committee first when nobody has (else a vote before the draw, refused). */
    drawFirst: boolean;
    /** Vote at the last second before the referee's deadline. */
    late: boolean;
  }
  | { kind: "timeout"; dispute: number; who: number }
  | { kind: "distribute"; who: number }
  | { kind: "transfer"; who: number; to: number; amount: bigint }
  | { kind: "burn"; who: number; amount: bigint }
  | { kind: "rogueSlash"; who: number; victim: number; amount: bigint }
  | { kind: "rogueSettle"; who: number; job: number; slot: number; mark: boolean }
  | { kind: "time"; seconds: number };

const TOKEN = 10n ** 18n;
const SPECS = 6;
const pick = <T>(values: readonly T[]) => fc.constantFrom(...values);
const submitter = pick(ROLES.submitters);
const provider = pick(ROLES.providers);
const verifierLike = pick([...ROLES.verifiers, ...ROLES.sybils]);
const staker = pick([...ROLES.providers, ...ROLES.verifiers, ...ROLES.sybils]);
const actor = fc.integer({ min: 1, max: ROLES.outsider });
const tokens = (max: number) => fc.bigInt({ min: 1n, max: BigInt(max) * TOKEN });
const job = fc.nat(7);
const dispute = fc.nat(7);
const slot = fc.nat(2);
const target = fc.nat(15);
const party = pick<Party>(["none", "provider", "challenger", "both"]);

const opener: fc.Arbitrary<Opener> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ role: fc.constant("verifier" as const), index: fc.nat(3) }) },
  { weight: 3, arbitrary: fc.record({ role: fc.constant("sybil" as const), index: fc.nat(1) }) },
  { weight: 1, arbitrary: fc.record({ role: fc.constant("provider" as const) }) },
  { weight: 1, arbitrary: fc.record({ role: fc.constant("submitter" as const) }) },
  {
    weight: 1,
    arbitrary: fc.record({ role: fc.constant("otherProvider" as const), index: fc.nat(2) }),
  },
);

/** Registry stakes around the minimum (100 tokens): below, at, above, far above. */
const verifierStake = fc.oneof(
  pick([50n, 100n, 150n, 1_000n].map((t) => t * TOKEN)),
  tokens(2_000),
);

const weighted = <T>(weight: number, arbitrary: fc.Arbitrary<T>) => ({ weight, arbitrary });
const lateOnce = fc.oneof(weighted(4, fc.constant(false)), weighted(1, fc.constant(true)));

const jobPlan = {
  who: submitter,
  spec: fc.nat(SPECS - 1),
  perReplica: fc.oneof(fc.bigInt({ min: 1n, max: 1_000n }), tokens(500)),
  replicas: fc.integer({ min: 1, max: 3 }),
  stake: fc.oneof(fc.constant(0n), tokens(400)),
  timeout: fc.oneof(fc.integer({ min: 100, max: 1_000 }), fc.integer({ min: 1_000, max: 8_000 })),
  window: fc.oneof(fc.integer({ min: 60, max: 600 }), fc.integer({ min: 600, max: 4_000 })),
  committee: pick([0, 0, 1, 3, 5, 2]),
};

/** Half of the commits are honest; a fifth of all withhold their data. */
const commitFields = {
  deviateAt: fc.option(fc.nat(STEPS), { nil: null, freq: 2 }),
  serves: fc.oneof(weighted(4, fc.constant(true)), weighted(1, fc.constant(false))),
  forgeAt: fc.nat(OPS),
};

/** A job created, claimed and committed at once, so that later actions have slots to dispute. */
const lifecycle = fc.record({
  kind: fc.constant("lifecycle" as const),
  ...jobPlan,
  committee: pick([0, 0, 1, 3, 5]),
  first: fc.nat(2),
  commits: fc.array(fc.record(commitFields), { minLength: 1, maxLength: 3 }),
});

const openExecution = fc.record({
  kind: fc.constant("openExecution" as const),
  by: opener,
  slot: target,
  segment: fc.option(fc.nat(STEPS / CHECKPOINT_INTERVAL - 1), { nil: null, freq: 3 }),
  lieFrom: fc.option(fc.nat(STEPS), { nil: null, freq: 2 }),
  forgeAt: fc.nat(OPS),
});

/** Up to 24 moves of a dispute, each at least `minMoves`; mostly truthful and on time. */
const play = (minMoves: number) =>
  fc.record({
    kind: fc.constant("play" as const),
    dispute,
    moves: fc.integer({ min: minMoves, max: 24 }),
    liar: fc.oneof(weighted(3, fc.constant<Party>("none")), weighted(2, party)),
    late: fc.oneof(weighted(3, fc.constant<Party>("none")), weighted(1, party)),
    lieCount: fc.integer({ min: 1, max: OPS + 2 }),
  });

const openAvailability = fc.record({
  kind: fc.constant("openAvailability" as const),
  by: opener,
  slot: target,
  checkpoint: fc.boolean(),
});

/** The generator of one action, weighted towards what reaches deep dispute states. */
export const fuzzAction: fc.Arbitrary<FuzzAction> = fc.oneof(
  weighted(
    2,
    fc.record({
      kind: fc.constant("stake" as const),
      who: staker,
      amount: fc.oneof(verifierStake, tokens(2_000)),
    }),
  ),
  weighted(
    1,
    fc.record({
      kind: fc.constant("unstake" as const),
      who: staker,
      amount: fc.oneof(weighted(2, tokens(1_000)), weighted(1, fc.constant(0n))),
    }),
  ),
  weighted(1, fc.record({ kind: fc.constant("withdraw" as const), who: staker })),
  weighted(2, fc.record({ kind: fc.constant("register" as const), who: verifierLike })),
  weighted(1, fc.record({ kind: fc.constant("deregister" as const), who: verifierLike })),
  weighted(3, fc.record({ kind: fc.constant("create" as const), ...jobPlan })),
  weighted(2, lifecycle),
  weighted(4, fc.record({ kind: fc.constant("claim" as const), who: provider, job })),
  weighted(1, fc.record({ kind: fc.constant("release" as const), who: provider, job })),
  weighted(1, fc.record({ kind: fc.constant("cancel" as const), who: submitter, job })),
  weighted(
    4,
    fc.record({
      kind: fc.constant("commit" as const),
      claim: fc.nat(7),
      stranger: fc.option(provider, { nil: null, freq: 8 }),
      ...commitFields,
    }),
  ),
  weighted(2, fc.record({ kind: fc.constant("finalize" as const), who: actor, slot: target })),
  weighted(1, fc.record({ kind: fc.constant("refund" as const), who: actor, job })),
  weighted(
    1,
    fc.record({
      kind: fc.constant("reassign" as const),
      who: submitter,
      job,
      extend: fc.integer({ min: 100, max: 3_000 }),
    }),
  ),
  weighted(5, openExecution),
  weighted(3, openAvailability),
  weighted(8, play(1)),
  weighted(
    1,
    fc.record({
      kind: fc.constant("moveOutOfTurn" as const),
      dispute,
      who: pick(["waiting", "outsider", "submitter"] as const),
    }),
  ),
  weighted(
    3,
    fc.record({
      kind: fc.constant("draw" as const),
      dispute,
      who: actor,
      pool: fc.oneof(
        weighted(3, fc.constant("true" as const)),
        weighted(2, pick(["add", "drop", "restake"] as const)),
      ),
      late: lateOnce,
    }),
  ),
  weighted(
    5,
    fc.record({
      kind: fc.constant("vote" as const),
      dispute,
      member: fc.nat(5),
      honest: fc.oneof(weighted(3, fc.constant(true)), weighted(1, fc.constant(false))),
      alt: fc.boolean(),
      drawFirst: fc.oneof(weighted(3, fc.constant(true)), weighted(1, fc.constant(false))),
      late: lateOnce,
    }),
  ),
  weighted(2, fc.record({ kind: fc.constant("timeout" as const), dispute, who: actor })),
  weighted(1, fc.record({ kind: fc.constant("distribute" as const), who: actor })),
  weighted(
    1,
    fc.record({
      kind: fc.constant("transfer" as const),
      who: actor,
      to: actor,
      amount: tokens(100),
    }),
  ),
  weighted(1, fc.record({ kind: fc.constant("burn" as const), who: actor, amount: tokens(100) })),
  weighted(
    1,
    fc.record({
      kind: fc.constant("rogueSlash" as const),
      who: actor,
      victim: provider,
      amount: tokens(100),
    }),
  ),
  weighted(
    1,
    fc.record({
      kind: fc.constant("rogueSettle" as const),
      who: actor,
      job,
      slot,
      mark: fc.boolean(),
    }),
  ),
  weighted(
    3,
    fc.record({
      kind: fc.constant("time" as const),
      seconds: fc.oneof(fc.integer({ min: 1, max: 700 }), fc.integer({ min: 700, max: 8_000 })),
    }),
  ),
);

/**
 * A sequence of at most `maxActions` actions: one or two jobs committed first, most often a
 * dispute opened on one of them and played some way, then anything. With `providersVerify`,
 * providers also register as verifiers (and sit on committees) now and then.
 *
 * @example
 * ```ts
 * import fc from "npm:fast-check@4.10.2";
 * import { fuzzSequence } from "./actions.ts";
 * const [sequence] = fc.sample(fuzzSequence(20), 1);
 * console.log(sequence[0].kind); // "lifecycle"
 * ```
 */
export function fuzzSequence(
  maxActions: number,
  options: { providersVerify?: boolean } = {},
): fc.Arbitrary<FuzzAction[]> {
  const prologue = Math.min(4, maxActions);
  // A provider that also registers as a verifier, and so sits on other jobs' committees.
  const any = options.providersVerify
    ? fc.oneof(
      weighted(30, fuzzAction),
      weighted(2, fc.record({ kind: fc.constant("register" as const), who: provider })),
      weighted(1, fc.record({ kind: fc.constant("deregister" as const), who: provider })),
    )
    : fuzzAction;
  const open = fc.oneof(weighted(2, openExecution), weighted(1, openAvailability));
  const opening = fc.tuple(open, fc.option(play(8), { nil: undefined, freq: 3 }));
  return fc.tuple(
    fc.array(lifecycle, { minLength: 1, maxLength: Math.min(2, maxActions) }),
    fc.option(opening, { nil: undefined, freq: 4 }),
    fc.array(any, { maxLength: Math.max(0, maxActions - prologue), size: "max" }),
  ).map(([jobs, opened, rest]) => {
    const first: FuzzAction[] = opened ? (opened[1] ? [opened[0], opened[1]] : [opened[0]]) : [];
    return [...jobs, ...first, ...rest].slice(0, maxActions);
  });
}

/** One action as text, for violation reports (replayable with the run's seed). */
export function showAction(a: FuzzAction): string {
  return JSON.stringify(a, (_, v) => typeof v === "bigint" ? `${v}n` : v);
}
