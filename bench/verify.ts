/**
 * `deno task bench verify`: what verification costs an honest provider, what audits buy, and what
 * a dispute costs, all on real local networks (anvil, libp2p, tfjs).
 *
 * - `verify.overhead_pct` / `verify.audit_compute_fraction`: steps the verifier re-executed /
 *   steps the provider trained, for the default audit policy on a 20-segment job; next to it the
 *   policy's theoretical value (`s * k / steps`).
 * - `verify.detection_prob` / `verify.detection_probability`: the default policy's chance to
 *   catch a cheater who corrupts 1 segment of a 20-segment job (hypergeometric,
 *   `lib/proof/audit.ts`), and for 1, 2, 4 and 8 segments the theory next to the share of 20,000
 *   simulated audits (real seed derivation and segment selection) that hit the corrupted segment.
 * - `verify.honest_overhead`: what verification asks of an honest provider over its training time:
 *   commitments and checkpoints (`.commit`, measured side by side with plain training) plus the
 *   provider process's CPU time serving the checkpoints the default audit samples over the job's
 *   plain training time (`.serve`), for a 1000-step MNIST MLP job.
 * - `verify.cheaters_total` / `verify.cheaters_missed`: every cheater of the adversary catalogue
 *   (`testing/adversary.ts`) run through a full audit and the dispute game to a verdict;
 *   `verify.cheaters_caught_sampled`: the same catalogue under the default 2-segment sample.
 * - `verify.false_slashes` over `verify.honest_jobs` honest jobs on two honest providers.
 * - `dispute.*`: one full two-phase dispute on the MNIST MLP (a provider that flips a bit and
 *   forges its op records): rounds per phase, the gas of every on-chain move, the kernels the
 *   referee recomputed, and the wall time from opening to the ruling; `dispute.committee3.*`: the
 *   same dispute on a job refereed by a committee of three staked verifiers (gas of every move and
 *   vote, votes cast, kernels recomputed by all members together).
 *
 * @module
 */

import { loadMnist } from "../lib/exec/mnist.ts";
import { mlp } from "../lib/exec/zoo.ts";
import { Network } from "../lib/node/network.ts";
import {
  auditComputeFraction,
  auditSeed,
  detectionProbability,
  selectAuditSegments,
} from "../lib/proof/audit.ts";
import { DEFAULT_AUDIT } from "../lib/proof/job.ts";
import { figure } from "./figure.ts";
import { measureCommitOverhead } from "./_commit_overhead.ts";
import { Trainer } from "../lib/exec/trainer.ts";
import { BlobStore } from "../lib/proof/store.ts";
import { createP2PWire, peerIdOfAccount } from "../lib/node/p2p_wire.ts";
import { startProviderProcess } from "../tests/e2e/_provider_process.ts";
import { defineModel } from "../lib/exec/model.ts";
import { toBytes32 } from "../lib/core/hash.ts";
import { disputeGameAbi } from "../lib/chain/artifacts/DisputeGame.ts";
import { type Cheat, CheatingProvider } from "../testing/adversary.ts";
import { submitAndAudit, tinySpec } from "../tests/adversary/_suite.ts";

const SEGMENTS = 20;
const K = 10;
const STEPS = SEGMENTS * K;
const TRIALS = 20_000;

// Measured: one honest job under the default policy, audited by a real verifier.
{
  await using network = await Network.local({ providers: 1, verifiers: 1 });
  const job = await network.train({
    model: mlp({ hidden: [16] }),
    data: await loadMnist({ limit: 2048 }),
    steps: STEPS,
    batchSize: 16,
    k: K,
    optimizer: { name: "adam", learningRate: 0.01 },
  });
  const started = performance.now();
  const record = await network.verifiers[0].audited(job.id, { timeoutMs: 300_000 });
  await job.settled();
  if (record.outcome !== "passed") throw new Error(`honest job not passed: ${record.reason}`);
  figure("verify.overhead_pct", (record.replayedSteps / STEPS) * 100, "pct");
  figure("verify.audit_compute_fraction", record.replayedSteps / STEPS, "ratio");
  figure(
    "verify.overhead_pct_theory",
    auditComputeFraction({ steps: STEPS, k: K, sampled: DEFAULT_AUDIT.segments }) * 100,
    "pct",
  );
  figure("verify.audit_segments", record.segments.length, "segments");
  figure("verify.audit_seconds", record.durationMs / 1000, "s");
  figure("verify.job_to_settled_seconds", (performance.now() - started) / 1000, "s");
}

const defaultDetection = detectionProbability({
  segments: SEGMENTS,
  corrupted: 1,
  sampled: DEFAULT_AUDIT.segments,
});
figure("verify.detection_prob", defaultDetection, "prob");
figure("verify.detection_probability", defaultDetection, "prob");

// Policies: theory next to simulated audits with the real selection function.
const verifier = "0x" + "77".repeat(20);
for (const s of [1, 2, 4, 8]) {
  let caught = 0;
  for (let trial = 0; trial < TRIALS; trial++) {
    const block = crypto.getRandomValues(new Uint8Array(32));
    const blockHash = Array.from(block, (b) => b.toString(16).padStart(2, "0")).join("");
    const seed = auditSeed({ blockHash, jobId: "ab".repeat(32), verifier });
    const corrupted = trial % SEGMENTS;
    if (selectAuditSegments({ seed, segments: SEGMENTS, count: s }).includes(corrupted)) caught++;
  }
  figure(
    `verify.detection_prob.s${s}`,
    detectionProbability({ segments: SEGMENTS, corrupted: 1, sampled: s }),
    "prob",
  );
  figure(`verify.detection_prob_measured.s${s}`, caught / TRIALS, "prob");
  figure(
    `verify.overhead_pct.s${s}`,
    auditComputeFraction({ steps: STEPS, k: K, sampled: s }) * 100,
    "pct",
  );
}

// Honest overhead: everything verification asks of an honest provider, over its training time.
// Commitments and checkpoints are measured side by side with plain training (as in `bench
// trainer`). Serving is the CPU time a provider node, in its own process, spends serving over real
// libp2p the checkpoints the default audit policy samples per job (one per sampled segment per
// verifier), measured from /proc net of its idle rate, over the job's plain training time.
{
  const HK = 50;
  const HSTEPS = 1000;
  const FETCH_ROUNDS = 10; // the same audit served again and again, for a readable CPU time
  const train = await loadMnist();
  const model = mlp(); // 784-256-128-10
  const spec = await defineModel(model, {
    seed: 5,
    optimizer: { name: "adam", learningRate: 1e-3 },
  });
  model.dispose();
  const dir = await Deno.makeTempDir({ prefix: "bench-verify-" });
  try {
    const trainer = await Trainer.create({ spec, dataset: train, batchSize: 128 });
    await trainer.run(trainer.initialState(), 10); // warm-up
    const commit = await measureCommitOverhead(trainer, new BlobStore(`${dir}/own`), {
      k: HK,
      pairs: 24,
    });
    trainer.dispose();
    await using network = await Network.local({ providers: 0 });
    const networkFile = `${dir}/network.json`;
    await Deno.writeTextFile(networkFile, JSON.stringify(network.describe()));
    const provider = await startProviderProcess({
      networkFile,
      dataDir: `${dir}/provider`,
      account: 6,
      password: "bench-verify",
    });
    try {
      const job = await network.train({
        model: spec,
        data: train,
        steps: HSTEPS,
        batchSize: 128,
        k: HK,
      });
      const checkpoints: string[] = [];
      let cpuAtClaim = 0;
      for await (const e of job.progress()) {
        if (e.kind === "claimed") cpuAtClaim = await provider.cpuSeconds();
        if (e.kind === "checkpoint") checkpoints.push(e.hash);
        if (e.kind === "committed") break;
      }
      const jobCpu = await provider.cpuSeconds() - cpuAtClaim;
      const providerPeer = await peerIdOfAccount(network.chain, network.devnet!.accounts[6]);
      const wire = await createP2PWire({
        chain: network.devnet!.client(8),
        store: new BlobStore(`${dir}/fetch-0`),
        bootstrap: provider.output.find((l) => l.startsWith("listening on "))!
          .slice("listening on ".length).split(", "),
      });
      const served = DEFAULT_AUDIT.segments * DEFAULT_AUDIT.verifiers;
      let serveCpu = 0;
      let serveMs = 0;
      try {
        // Its idle rate (chain polling, timers) over a pause as long as the fetches take.
        const idle0 = await provider.cpuSeconds();
        const t0 = performance.now();
        await new Promise((r) => setTimeout(r, 2_000));
        const idleRate = (await provider.cpuSeconds() - idle0) / ((performance.now() - t0) / 1000);
        const cpu0 = await provider.cpuSeconds();
        const t = performance.now();
        for (let round = 0; round < FETCH_ROUNDS; round++) {
          const store = new BlobStore(`${dir}/fetch-${round}`);
          for (let i = 0; i < served; i++) {
            const hash = checkpoints[1 + ((i * 7) % (checkpoints.length - 2))];
            await wire.fetchBlob(providerPeer, hash, store);
          }
        }
        const seconds = (performance.now() - t) / 1000;
        serveMs = (seconds * 1000) / FETCH_ROUNDS;
        serveCpu = Math.max(0, await provider.cpuSeconds() - cpu0 - idleRate * seconds) /
          FETCH_ROUNDS;
      } finally {
        await wire.close();
      }
      // Over plain training time (the smaller, stricter denominator: the job's CPU time also holds
      // fetching and decoding the data, and the checkpoint hashing).
      const trainSeconds = (HSTEPS * commit.plainMs) / commit.plainSteps / 1000;
      const serve = serveCpu / trainSeconds;
      figure("verify.honest_overhead.commit", commit.overhead, "ratio");
      figure("verify.honest_overhead.serve", serve, "ratio");
      figure("verify.honest_overhead", commit.overhead + serve, "ratio");
      console.log(
        `# provider: ${jobCpu.toFixed(1)} s CPU for the ${HSTEPS}-step job ` +
          `(${trainSeconds.toFixed(1)} s of plain training); ${served} checkpoints ` +
          `of 2.8 MB per audit: ${(serveCpu * 1000).toFixed(0)} ms of its CPU ` +
          `(${serveMs.toFixed(0)} ms wall for both sides)`,
      );
    } finally {
      await provider.kill("SIGTERM");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

// The adversary catalogue, each cheater through audit and dispute to a verdict. Every job gets its
// own model seed, so no verifier holds a checkpoint of it from an earlier job.
const catalogue: { name: string; cheat: (seed: number) => Promise<Cheat> | Cheat }[] = [
  { name: "skip-steps-one-segment", cheat: () => ({ kind: "skip-steps", segments: [2], skip: 3 }) },
  { name: "fewer-steps", cheat: () => ({ kind: "skip-steps", segments: "all", skip: 5 }) },
  {
    name: "other-learning-rate",
    cheat: async (seed) => ({
      kind: "other-spec",
      spec: await tinySpec({ seed, learningRate: 0.02 }),
    }),
  },
  {
    name: "other-seed",
    cheat: async (seed) => ({ kind: "other-spec", spec: await tinySpec({ seed: seed + 1000 }) }),
  },
  { name: "flip-bit", cheat: () => ({ kind: "flip-bit", step: 27 }) },
  {
    name: "flip-bit-forged-records",
    cheat: () => ({ kind: "flip-bit", step: 30, forgeRecords: true }),
  },
  { name: "stale-weights", cheat: () => ({ kind: "stale" }) },
  { name: "random-weights", cheat: () => ({ kind: "random" }) },
  { name: "interpolated-checkpoints", cheat: () => ({ kind: "interpolate" }) },
  { name: "copied-result", cheat: () => ({ kind: "copy" }) },
  { name: "withheld-checkpoints", cheat: () => ({ kind: "withhold" }) },
  { name: "served-other-bytes", cheat: () => ({ kind: "serve-other" }) },
  { name: "committed-other-root", cheat: () => ({ kind: "commit-other" }) },
];

/** Runs the catalogue on a fresh network; returns how many cheaters were slashed. */
async function runCatalogue(segments: "all" | undefined, seedBase: number): Promise<number> {
  await using network = await Network.local({
    providers: 0,
    verifiers: 1,
    ...(segments ? { verifierSegments: segments } : {}),
  });
  const cheater = await CheatingProvider.start({ network, account: 2, cheat: { kind: "honest" } });
  let caught = 0;
  try {
    for (const [i, { name, cheat }] of catalogue.entries()) {
      const seed = seedBase + i;
      cheater.cheat = await cheat(seed);
      const run = await submitAndAudit(network, await tinySpec({ seed }));
      const slot = await network.chain.jobs.slot({ jobId: toBytes32(run.job.id) });
      const slashed = run.record.outcome === "caught" && slot.status === "Slashed";
      if (slashed) caught++;
      console.log(
        `# ${segments ? "full" : "sampled"} audit: ${name}: ${run.record.outcome}, slot ` +
          `${slot.status}, dispute ${run.record.dispute?.kind ?? "-"} ${
            run.record.dispute?.outcome ?? ""
          }`,
      );
    }
  } finally {
    await cheater.close();
  }
  return caught;
}

{
  const caught = await runCatalogue("all", 100);
  figure("verify.cheaters_total", catalogue.length, "cheaters");
  figure("verify.cheaters_missed", catalogue.length - caught, "cheaters");
  figure("verify.cheaters_caught_sampled", await runCatalogue(undefined, 200), "cheaters");
}

// One full two-phase dispute on the MNIST MLP: a bit flipped at step 75, op records forged. Run
// once refereed by the submitter (the default) and once by a committee of three staked verifiers.
await benchDispute(undefined);
await benchDispute(3);

async function benchDispute(committee: number | undefined): Promise<void> {
  // A committee needs verifiers besides the challenger to draw from.
  await using network = await Network.local({
    providers: 0,
    verifiers: committee ? committee + 1 : 1,
    verifierSegments: "all",
  });
  const cheater = await CheatingProvider.start({
    network,
    account: 2,
    cheat: { kind: "flip-bit", step: 75, forgeRecords: true },
  });
  try {
    const model = mlp({ hidden: [256, 128] });
    const spec = await defineModel(model, {
      seed: 3,
      optimizer: { name: "adam", learningRate: 0.001 },
    });
    model.dispose();
    const before = await network.chain.game.count();
    const job = await network.train({
      model: spec,
      data: await loadMnist({ limit: 4096 }),
      steps: 100,
      batchSize: 128,
      k: 50,
      ...(committee ? { refereeCommittee: committee, audit: { segments: 2, verifiers: 1 } } : {}),
    });
    while (await network.chain.game.count() === before) await new Promise((r) => setTimeout(r, 20));
    const opened = performance.now();
    const audits = await Promise.allSettled(
      network.verifiers.map((v) => v.audited(job.id, { timeoutMs: 600_000 })),
    );
    const record = audits.flatMap((a) => a.status === "fulfilled" ? [a.value] : [])[0];
    if (!record?.dispute) throw new Error(`no dispute was played: ${JSON.stringify(audits)}`);
    const id = BigInt(record.dispute.id);
    const rulings = committee
      ? [
        ...network.verifiers.flatMap((v) => v.committeeRulings()),
        ...(network.referee?.rulings() ?? []),
      ].filter((r) => r.id === id)
      : [await network.ruled(id)];
    const seconds = (performance.now() - opened) / 1000;
    const ruling = rulings[0];
    const topic = toBytes32(id.toString(16).padStart(64, "0"));
    const logs = await network.chain.public.getLogs({
      address: network.chain.addresses.disputeGame,
      fromBlock: 0n,
    });
    const txs = new Set(logs.filter((l) => l.topics[1] === topic).map((l) => l.transactionHash!));
    let gas = 0n;
    for (const hash of txs) {
      gas += (await network.chain.public.getTransactionReceipt({ hash })).gasUsed;
    }
    if (committee) {
      const votes = (await network.chain.game.committee(id)).votes.filter(Boolean).length;
      figure(`dispute.committee${committee}.gas_total`, Number(gas), "gas");
      figure(`dispute.committee${committee}.votes`, votes, "votes");
      figure(
        `dispute.committee${committee}.referee_kernels`,
        rulings.reduce((n, r) => n + r.kernelsRun, 0),
        "kernels",
      );
      figure(`dispute.committee${committee}.seconds`, seconds, "s");
      console.log(
        `# dispute ${id} (committee of ${committee}): ${record.dispute.outcome}, ${votes} votes, ` +
          `all for the ${ruling?.winner}`,
      );
      return;
    }
    const answered = await network.chain.public.getContractEvents({
      address: network.chain.addresses.disputeGame,
      abi: disputeGameAbi,
      eventName: "MoveAnswered",
      args: { id },
      fromBlock: 0n,
    });
    const phases = answered.map((l) => Number((l.args as { phase: number }).phase));
    figure("dispute.rounds", answered.length, "rounds");
    figure("dispute.rounds_steps", phases.filter((p) => p === 1).length, "rounds");
    figure("dispute.rounds_ops", phases.filter((p) => p === 3).length, "rounds");
    figure("dispute.transactions", txs.size, "txs");
    figure("dispute.gas_total", Number(gas), "gas");
    figure("dispute.referee_kernels", ruling.kernelsRun, "kernels");
    figure("dispute.seconds", seconds, "s");
    console.log(
      `# dispute ${id}: ${record.dispute?.outcome}, step ${ruling.step} -> ${
        ruling.step! + 1
      }, op ${ruling.opIndex} (${ruling.kernel}): ${ruling.reason}`,
    );
  } finally {
    await cheater.close();
  }
}

// False slashes: honest jobs on honest providers, audited under the default policy. Every job has
// its own model seed, so no verifier holds its checkpoints from an earlier job.
{
  const JOBS = 100;
  await using network = await Network.local({ providers: 2, verifiers: 1 });
  const data = await loadMnist({ limit: 512 });
  let slashed = 0;
  let paid = 0;
  let disputes = 0;
  for (let batch = 0; batch < JOBS / 10; batch++) {
    const jobs = [];
    for (let i = 0; i < 10; i++) {
      const spec = await tinySpec({ seed: 1000 + batch * 10 + i });
      jobs.push(await network.train({ model: spec, data, steps: 10, batchSize: 16, k: 5 }));
    }
    for (const job of jobs) {
      const record = await network.verifiers[0].audited(job.id, { timeoutMs: 300_000 });
      const slot = await network.chain.jobs.slot({ jobId: toBytes32(job.id) });
      if (slot.status === "Slashed") slashed++;
      if (record.dispute) disputes++;
      if ((await job.settled()).paidWei > 0n) paid++;
    }
  }
  figure("verify.honest_jobs", JOBS, "jobs");
  figure("verify.honest_jobs_paid", paid, "jobs");
  figure("verify.honest_jobs_disputed", disputes, "jobs");
  figure("verify.false_slashes", slashed, "slashes");
}
