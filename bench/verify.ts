/**
 * `deno task bench verify`: what audits cost and what they buy.
 *
 * - `verify.overhead_pct`: steps the verifier re-executed / steps the provider trained × 100, for
 *   the default audit policy, measured on a real local network (anvil, libp2p, tfjs) with one
 *   verifier auditing a 20-segment job; next to it the policy's theoretical value
 *   (`s * k / steps`).
 * - `verify.detection_prob`: the default policy's chance to catch a cheater who corrupts 1 segment
 *   of a 20-segment job (hypergeometric, `lib/proof/audit.ts`).
 * - For policies of 1, 2, 4 and 8 segments: `verify.detection_prob.s<N>` (theory),
 *   `verify.detection_prob_measured.s<N>` (the share of 20,000 simulated audits, with the real
 *   seed derivation and segment selection, that hit a randomly placed corrupted segment) and
 *   `verify.overhead_pct.s<N>`.
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
  figure(
    "verify.overhead_pct_theory",
    auditComputeFraction({ steps: STEPS, k: K, sampled: DEFAULT_AUDIT.segments }) * 100,
    "pct",
  );
  figure("verify.audit_segments", record.segments.length, "segments");
  figure("verify.audit_seconds", record.durationMs / 1000, "s");
  figure("verify.job_to_settled_seconds", (performance.now() - started) / 1000, "s");
}

figure(
  "verify.detection_prob",
  detectionProbability({ segments: SEGMENTS, corrupted: 1, sampled: DEFAULT_AUDIT.segments }),
  "prob",
);

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
