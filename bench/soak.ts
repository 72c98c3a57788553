/**
 * `deno task bench soak`: hundreds of small jobs on `Network.local`, trained by provider processes
 * and audited by verifier processes, while faults are injected, then the books are checked.
 *
 * The network: the submitter (this process, `Network.local` with no nodes of its own but its
 * referee), {@link PROVIDERS} provider processes and {@link VERIFIERS} staked verifier processes
 * (`deno task node --role provider|verifier`, each with its own data folder, reaching the chain
 * through a proxy that can be made slow), one cheating provider in this process (it flips a bit
 * at one step of each job it takes; it stops taking jobs after {@link CHEATS} of them) and a
 * griefer account that opens availability disputes on honest commits. Every job has 2 segments
 * and the default 2-segment audit: each audit re-executes the whole job.
 *
 * Faults, in two lanes (so two may overlap), each about every {@link FAULT_GAP_MS} while jobs
 * run (until the last job committed), drawn from a seeded
 * PRNG: a provider or a verifier `SIGKILL`ed and restarted on its data folder; a node frozen
 * (`SIGSTOP`, cut off from every peer and the chain) for a few seconds; the chain RPC slowed for
 * every node; a colluding challenger's dispute on an honest commit; and a job too large for every
 * provider's limits (they refuse it; the submitter cancels it and is refunded).
 *
 * Figures, once every job ended (paid, refunded or slashed) or gave up:
 * - `soak.jobs`, `soak.faults_injected` (and one figure per fault kind);
 * - `soak.lost_jobs`: jobs whose slot never reached paid, refunded or slashed;
 * - `soak.missed_audits`: committed slots no verifier recorded an audit of;
 * - `soak.false_slashes`: honest providers' slots slashed; `soak.cheaters_missed`: the
 *   cheater's slots not slashed;
 * - `soak.escrow_lost_wei`: what the job market still holds once every job ended;
 *   `soak.supply_mismatch_wei`: total supply against minted minus burned, from the token's
 *   counters and from its `Transfer` events;
 * - `soak.oversized_jobs_refused`: oversized jobs every provider refused without claiming;
 * - `soak.p99_job_to_settled_s` (submission to payment), `soak.p99_audit_latency_s` (commit seen
 *   to audit recorded); `soak.seconds`.
 *
 * `SOAK_JOBS` (default 500), `SOAK_IN_FLIGHT` (default 12, jobs not yet committed) and `SOAK_SEED` (default 1) change
 * the run; `GENSYN_LOG=1` shows the local network's lines, `SOAK_LOGS=<folder>` keeps every node's
 * output there. A status line goes to stderr every 20 s.
 *
 * @module
 */

import { tokenAbi } from "../lib/chain/artifacts/Token.ts";
import type { Address } from "../lib/chain/mod.ts";
import { toBytes32 } from "../lib/core/hash.ts";
import { loadMnist } from "../lib/exec/mnist.ts";
import { defineModel } from "../lib/exec/model.ts";
import { mlp } from "../lib/exec/zoo.ts";
import type { Job } from "../lib/node/job.ts";
import { Network } from "../lib/node/network.ts";
import type { AuditRecord } from "../lib/node/verifier/mod.ts";
import { CheatingProvider } from "../testing/adversary.ts";
import { type ProviderProcess, startProviderProcess } from "../tests/e2e/_provider_process.ts";
import { figure } from "./figure.ts";

const JOBS = Number(Deno.env.get("SOAK_JOBS") ?? 500);
const IN_FLIGHT = Number(Deno.env.get("SOAK_IN_FLIGHT") ?? 12);
const SEED = Number(Deno.env.get("SOAK_SEED") ?? 1);
/** Provider processes. */
const PROVIDERS = 6;
/** Verifier processes. */
const VERIFIERS = 3;
/** Jobs the cheater takes before it stops taking any. */
const CHEATS = 4;
/** One job in this many is too large for the providers. */
const OVERSIZED_EVERY = 100;
/** The providers' parameter limit: the normal jobs are far below it, the oversized far above. */
const MAX_PARAMETERS = 20_000;
/** How long an oversized job stays offered before the submitter cancels it, ms. */
const OVERSIZED_OFFER_MS = 20_000;
/** Pause between two faults, ms (each fault lasts a few seconds more). */
const FAULT_GAP_MS = 4_000;
/**
 * Challenge window of every job, seconds. A verifier is killed about every 80 s here, on a
 * machine whose cores the nodes' training and audits keep busy: the window must outlast a
 * restart and the backlog the verifier works through after it (real networks leave an hour).
 */
const WINDOW_SEC = 300;
/** Deadline of every job, seconds: claims and commits come long before it. */
const TIMEOUT_SEC = 900;
/** Delay of each chain request while the RPC is slow, ms. */
const SLOW_RPC_MS = 250;
const TOKEN = 10n ** 18n;

// Dev accounts: 1 is the submitter; providers, verifiers, the cheater and the griefer follow.
const PROVIDER_ACCOUNTS = Array.from({ length: PROVIDERS }, (_, i) => 2 + i);
const VERIFIER_ACCOUNTS = Array.from({ length: VERIFIERS }, (_, i) => 2 + PROVIDERS + i);
const CHEATER_ACCOUNT = 2 + PROVIDERS + VERIFIERS;
const GRIEFER_ACCOUNT = CHEATER_ACCOUNT + 1;

/** mulberry32: the run's faults and their targets are the same for one seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = prng(SEED);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const started = performance.now();
await using network = await Network.local({
  providers: 0,
  verifiers: 0,
  fastSettle: false,
  extraAccounts: GRIEFER_ACCOUNT - 1,
});
const devnet = network.devnet!;
const work = await Deno.makeTempDir({ prefix: "gensyn-soak-" });

// Every node reaches the chain through this proxy, which can be made slow.
let slowUntil = 0;
const upstream = network.chain.rpcUrl;
const proxy = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
  if (Date.now() < slowUntil) await pause(SLOW_RPC_MS);
  const answer = await fetch(upstream, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: await request.arrayBuffer(),
  });
  return new Response(answer.body, {
    status: answer.status,
    headers: { "content-type": "application/json" },
  });
});
const rpc = `http://127.0.0.1:${proxy.addr.port}`;
const networkFile = `${work}/network.json`;
await Deno.writeTextFile(networkFile, JSON.stringify(network.describe()));

/** One node process, restarted on the same data folder after each kill. */
interface NodeProc {
  readonly role: "provider" | "verifier";
  readonly account: number;
  readonly dataDir: string;
  proc: ProviderProcess;
  /** In a fault now: not picked for another. */
  busy: boolean;
  /** Output of its earlier lives. */
  readonly past: string[];
}
const startNode = (role: "provider" | "verifier", account: number, dataDir: string) =>
  startProviderProcess({
    networkFile,
    dataDir,
    account,
    password: "soak",
    stake: 500,
    role,
    rpc,
    args: role === "provider" ? ["--max-parameters", String(MAX_PARAMETERS)] : [],
  });
const nodes: NodeProc[] = [];
for (
  const [role, accounts] of [["verifier", VERIFIER_ACCOUNTS], [
    "provider",
    PROVIDER_ACCOUNTS,
  ]] as const
) {
  for (const account of accounts) {
    const dataDir = `${work}/${role}-${account}`;
    nodes.push({
      role,
      account,
      dataDir,
      proc: await startNode(role, account, dataDir),
      busy: false,
      past: [],
    });
  }
}
const verifierAddrs = () =>
  nodes.filter((n) => n.role === "verifier").flatMap((n) => {
    const line = n.proc.output.find((l) => l.startsWith("listening on "));
    return line ? line.slice("listening on ".length).split(" ")[0].split(",") : [];
  });
const cheater = await CheatingProvider.start({
  network,
  account: CHEATER_ACCOUNT,
  cheat: { kind: "flip-bit", step: 15 },
  bootstrap: verifierAddrs(),
});
const griefer = devnet.client(GRIEFER_ACCOUNT);
const honestProviders = new Set(PROVIDER_ACCOUNTS.map((i) => devnet.accounts[i].toLowerCase()));

// ----- jobs -----

interface Tracked {
  readonly job: Job;
  readonly oversized: boolean;
  readonly submittedAt: number;
  committed?: { provider: string; finalHash: string; traceRoot: string; seenAt: number };
  endedAt?: number;
}
const tracked: Tracked[] = [];
const data = await loadMnist({ limit: 256 });
const faults = new Map<string, number>();
const fault = (kind: string, what = "") => {
  faults.set(kind, (faults.get(kind) ?? 0) + 1);
  console.error(`# fault ${kind}${what ? ` ${what}` : ""}`);
};

async function modelFor(i: number, oversized: boolean) {
  const model = mlp({ hidden: oversized ? [64] : [8] });
  const spec = await defineModel(model, {
    seed: 10_000 + i,
    optimizer: { name: "adam", learningRate: 0.01 },
  });
  model.dispose();
  return spec;
}

/**
 * Follows one job to its end: paid, refunded or slashed (from the chain), or its deadline.
 * `free` is called once the job no longer needs a provider: committed, or ended.
 */
async function follow(t: Tracked, free: () => void): Promise<void> {
  const jobId = toBytes32(t.job.id);
  // The submitter's own waits (`settled` also pays a slot whose provider's node is gone).
  const settling = t.job.settled({ timeoutMs: (TIMEOUT_SEC + 120) * 1000 }).catch(() => {});
  const watching = (async () => {
    for await (const e of t.job.progress()) {
      if (e.kind === "committed" && !t.committed) {
        t.committed = { ...e, seenAt: Date.now() };
        free();
      }
    }
  })().catch(() => {});
  if (t.oversized) {
    await pause(OVERSIZED_OFFER_MS);
    if ((await network.chain.jobs.slot({ jobId })).status === "Open") await t.job.cancel();
  }
  const until = Date.now() + (TIMEOUT_SEC + 180) * 1000;
  while (Date.now() < until) {
    const { status } = await network.chain.jobs.slot({ jobId });
    if (status === "Paid" || status === "Refunded" || status === "Slashed") {
      t.endedAt = Date.now();
      break;
    }
    await pause(1_000);
  }
  await Promise.race([Promise.all([settling, watching]), pause(5_000)]);
}

let submitted = 0;
const followers: Promise<void>[] = [];
const submitting = (async () => {
  let running = 0;
  let wake: (() => void) | undefined;
  for (let i = 0; i < JOBS; i++) {
    while (running >= IN_FLIGHT) await new Promise<void>((r) => wake = r);
    const oversized = i % OVERSIZED_EVERY === OVERSIZED_EVERY / 2;
    const job = await network.train({
      model: await modelFor(i, oversized),
      data,
      steps: 20,
      batchSize: 8,
      k: 10,
      priceWei: TOKEN,
      challengeWindowSec: WINDOW_SEC,
      timeoutSec: TIMEOUT_SEC,
      audit: { segments: 2, verifiers: 1 },
    });
    if (oversized) fault("oversized_job");
    const t: Tracked = { job, oversized, submittedAt: Date.now() };
    tracked.push(t);
    submitted++;
    running++;
    let freed = false;
    // A committed job only waits out its challenge window: its place goes to the next job.
    const free = () => {
      if (freed) return;
      freed = true;
      running--;
      wake?.();
    };
    followers.push(follow(t, free).finally(free));
    if (cheater.taking && cheater.claimed.length >= CHEATS) cheater.taking = false;
  }
})();

// ----- faults -----

async function injectFault(): Promise<void> {
  const kind = pick(["kill-provider", "kill-verifier", "freeze", "slow-rpc", "grief"] as const);
  if (kind === "slow-rpc") {
    slowUntil = Date.now() + 8_000 + random() * 7_000;
    fault("slow_rpc");
    await pause(slowUntil - Date.now());
    return;
  }
  if (kind === "grief") {
    // A challenger with no case disputes an honest provider's commit: the committee must side
    // with the provider, and the job must still be paid.
    const open = tracked.filter((t) =>
      t.committed && honestProviders.has(t.committed.provider.toLowerCase()) && !t.endedAt
    );
    if (open.length === 0) return;
    const t = pick(open);
    try {
      await griefer.game.openAvailability({
        jobId: toBytes32(t.job.id),
        slot: 0,
        finalStateHash: toBytes32(t.committed!.finalHash),
        traceRoot: toBytes32(t.committed!.traceRoot),
      });
      fault("colluding_challenge");
    } catch {
      // The window closed or another dispute is open on the slot: no fault this time.
    }
    return;
  }
  const role = kind === "kill-verifier"
    ? "verifier"
    : kind === "kill-provider"
    ? "provider"
    : pick(["provider", "verifier"] as const);
  const node = pick(nodes.filter((n) => n.role === role && !n.busy));
  node.busy = true;
  try {
    if (kind === "freeze") {
      node.proc.signal("SIGSTOP");
      fault(`${role}_frozen`, `account ${node.account}`);
      await pause(4_000 + random() * 6_000);
      node.proc.signal("SIGCONT");
    } else {
      await node.proc.kill("SIGKILL");
      fault(`${role}_killed`, `account ${node.account}`);
      node.past.push(...node.proc.output);
      await pause(1_000 + random() * 2_000);
      node.proc = await startNode(node.role, node.account, node.dataDir);
    }
  } finally {
    node.busy = false;
  }
}

// ----- progress -----

/** With `SOAK_LOGS=<folder>`, every node's output goes to `<folder>/<role>-<account>.log`. */
const logDir = Deno.env.get("SOAK_LOGS");
if (logDir) await Deno.mkdir(logDir, { recursive: true });
const flushed = new Map<NodeProc, { proc: ProviderProcess; lines: number }>();
async function flushLogs(): Promise<void> {
  if (!logDir) return;
  for (const node of nodes) {
    let at = flushed.get(node);
    if (!at || at.proc !== node.proc) at = { proc: node.proc, lines: 0 };
    const fresh = node.proc.output.slice(at.lines);
    at.lines += fresh.length;
    flushed.set(node, at);
    if (fresh.length === 0) continue;
    await Deno.writeTextFile(
      `${logDir}/${node.role}-${node.account}.log`,
      fresh.map((l) => `${new Date().toISOString().slice(11, 23)} ${l}\n`).join(""),
      { append: true },
    );
  }
}

/** A line on stderr every {@link STATUS_MS}: jobs submitted, committed and ended, faults so far. */
const STATUS_MS = 20_000;
const status = setInterval(async () => {
  const faultsSoFar = [...faults.values()].reduce((a, b) => a + b, 0);
  const open = tracked.filter((t) => !t.endedAt);
  const stuck = open.filter((t) => Date.now() - t.submittedAt > 300_000).slice(0, 3);
  const where = await Promise.all(stuck.map(async (t) => {
    const slot = await network.chain.jobs.slot({ jobId: toBytes32(t.job.id) }).catch(() => null);
    return `${t.job.id.slice(0, 10)} ${slot?.status ?? "?"}`;
  }));
  console.error(
    `# soak ${((performance.now() - started) / 1000).toFixed(0)} s: ${submitted}/${JOBS} ` +
      `submitted, ${tracked.filter((t) => t.committed).length} committed, ` +
      `${tracked.length - open.length} ended, ${faultsSoFar} faults` +
      (where.length > 0 ? `; open over 5 min: ${where.join(", ")}` : ""),
  );
  await flushLogs().catch(() => {});
}, STATUS_MS);

let submittingDone = false;
submitting.finally(() => submittingDone = true);
/** Faults in progress at once, at most (each lane injects one after another). */
const FAULT_LANES = 2;
const faultsRunning = () => !submittingDone || tracked.some((t) => !t.endedAt && !t.committed);
await Promise.all(Array.from({ length: FAULT_LANES }, async (_, lane) => {
  await pause(lane * FAULT_GAP_MS / FAULT_LANES);
  while (faultsRunning()) {
    await pause(FAULT_GAP_MS);
    if (!faultsRunning()) break;
    await injectFault();
  }
}));
await submitting;
await Promise.all(followers);
cheater.taking = false;

// ----- the books -----

const chain = network.chain;
const statuses = await Promise.all(
  tracked.map((t) => chain.jobs.slot({ jobId: toBytes32(t.job.id) })),
);
const lost = statuses.filter((s) => !["Paid", "Refunded", "Slashed"].includes(s.status)).length;
const falseSlashes =
  statuses.filter((s) => s.status === "Slashed" && honestProviders.has(s.provider.toLowerCase()))
    .length;
const cheated = new Set(cheater.claimed.map((id) => id.toLowerCase()));
let cheatersMissed = 0;
tracked.forEach((t, i) => {
  if (cheated.has(t.job.id.toLowerCase()) && statuses[i].status !== "Slashed") cheatersMissed++;
});

// Audits, from every verifier's records on disk.
const audits = new Map<string, AuditRecord>();
for (const node of nodes.filter((n) => n.role === "verifier")) {
  try {
    for await (const entry of Deno.readDir(`${node.dataDir}/audits`)) {
      if (!entry.name.endsWith(".json")) continue;
      const record = JSON.parse(
        await Deno.readTextFile(`${node.dataDir}/audits/${entry.name}`),
      ) as AuditRecord;
      audits.set(`${record.jobId}:${record.slot}`.toLowerCase(), record);
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}
const committedJobs = tracked.filter((t) => t.committed);
const missed = committedJobs.filter((t) => !audits.has(`${t.job.id}:0`.toLowerCase()));
const auditLatency = committedJobs.flatMap((t) => {
  const record = audits.get(`${t.job.id}:0`.toLowerCase());
  return record?.finishedAt ? [(record.finishedAt - t.committed!.seenAt) / 1000] : [];
});

// Money: escrow left in the market once its accrued protocol fees went to the fee router, and
// the supply against minted minus burned.
await chain.fees.sweep().catch(() => {}); // NoFeesAccrued when no job was paid
const marketHeld = await chain.public.readContract({
  address: chain.addresses.token,
  abi: tokenAbi,
  functionName: "balanceOf",
  args: [chain.addresses.jobMarket],
});
const supply = await chain.token.supply();
const transfers = await chain.public.getContractEvents({
  address: chain.addresses.token,
  abi: tokenAbi,
  eventName: "Transfer",
  fromBlock: 0n,
});
const zero = "0x0000000000000000000000000000000000000000" as Address;
let minted = 0n;
let burned = 0n;
for (const log of transfers) {
  const args = log.args as { from: Address; to: Address; value: bigint };
  if (args.from === zero) minted += args.value;
  if (args.to === zero) burned += args.value;
}
const supplyMismatch = (supply.totalSupplyWei - (supply.mintedWei - supply.burnedWei)) +
  (supply.totalSupplyWei - (minted - burned));

// Oversized jobs every provider refused, from their logs.
const oversizedIds = tracked.filter((t) => t.oversized).map((t) => t.job.id.slice(0, 10));
const providerLines = nodes.filter((n) => n.role === "provider").map((n) => [
  ...n.past,
  ...n.proc.output,
]);
const refusedByAll =
  oversizedIds.filter((id) =>
    providerLines.every((lines) =>
      lines.some((l) => l.includes(`job ${id}: refused: SPEC_TOO_LARGE`))
    )
  ).length;

const settledTimes = tracked.filter((t) => t.endedAt && !t.oversized).map((t) =>
  (t.endedAt! - t.submittedAt) / 1000
);
const faultsTotal = [...faults.values()].reduce((a, b) => a + b, 0);

figure("soak.jobs", submitted, "jobs");
figure("soak.faults_injected", faultsTotal, "faults");
for (const [kind, n] of [...faults].sort()) figure(`soak.faults.${kind}`, n, "faults");
figure("soak.lost_jobs", lost, "jobs");
figure("soak.missed_audits", missed.length, "audits");
figure("soak.audits", audits.size, "audits");
figure("soak.false_slashes", falseSlashes, "slashes");
figure("soak.cheater_jobs", cheated.size, "jobs");
figure("soak.cheaters_missed", cheatersMissed, "jobs");
figure("soak.escrow_lost_wei", Number(marketHeld), "wei");
figure("soak.supply_mismatch_wei", Number(supplyMismatch), "wei");
figure("soak.oversized_jobs", oversizedIds.length, "jobs");
figure("soak.oversized_jobs_refused", refusedByAll, "jobs");
figure("soak.p99_job_to_settled_s", percentile(settledTimes, 99), "s");
figure("soak.p50_job_to_settled_s", percentile(settledTimes, 50), "s");
figure("soak.p99_audit_latency_s", percentile(auditLatency, 99), "s");
figure("soak.seconds", (performance.now() - started) / 1000, "s");
if (lost > 0 || missed.length > 0) {
  for (const [i, t] of tracked.entries()) {
    if (!["Paid", "Refunded", "Slashed"].includes(statuses[i].status)) {
      console.error(`# lost: job ${t.job.id.slice(0, 10)} ${statuses[i].status}`);
    }
  }
  for (const t of missed) console.error(`# missed audit: job ${t.job.id.slice(0, 10)}`);
}

clearInterval(status);
await flushLogs();
await cheater.close();
for (const node of nodes) await node.proc.kill("SIGTERM").catch(() => {});
await proxy.shutdown();
await Deno.remove(work, { recursive: true });
