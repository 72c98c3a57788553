/**
 * Shared setup of the adversary tests: a local network whose only verifier audits every segment,
 * a tiny MNIST job, and the checks that a cheater was caught (disputed in the dispute game, ruled
 * against by the submitter's referee, slashed, submitter refunded) or that an honest provider was
 * paid and left alone.
 *
 * @module
 */

import assert from "node:assert/strict";
import { TrainingError } from "../../lib/core/errors.ts";
import type { Dataset } from "../../lib/exec/dataset.ts";
import { defineModel, type ModelSpec, type OptimizerInput } from "../../lib/exec/model.ts";
import { loadMnist } from "../../lib/exec/mnist.ts";
import { mlp } from "../../lib/exec/zoo.ts";
import type { Job } from "../../lib/node/job.ts";
import { Network } from "../../lib/node/network.ts";
import { toBytes32 } from "../../lib/node/settlement.ts";
import type { AuditRecord } from "../../lib/node/verifier/mod.ts";

/** One AIGENSYN. */
export const TOKEN = 10n ** 18n;
/** Job price. */
export const PRICE = 10n * TOKEN;

/** A local network with no providers and one verifier that audits every segment. */
export function auditedNetwork(): Promise<Network> {
  return Network.local({ providers: 0, verifiers: 1, verifierSegments: "all" });
}

/** The tiny MLP of every job here (seed 3, Adam at `learningRate`). */
export async function tinySpec(options: { learningRate?: number; seed?: number } = {}): Promise<
  ModelSpec
> {
  const optimizer: OptimizerInput = { name: "adam", learningRate: options.learningRate ?? 0.01 };
  const model = mlp({ hidden: [16] });
  const spec = await defineModel(model, { seed: options.seed ?? 3, optimizer });
  model.dispose();
  return spec;
}

let data: Promise<Dataset> | undefined;

/** Submits a 40-step job (4 segments of 10 steps) and waits for the verifier's audit. */
export async function submitAndAudit(
  network: Network,
  spec: ModelSpec,
): Promise<{ job: Job; record: AuditRecord; balanceBefore: bigint }> {
  data ??= loadMnist({ limit: 512 });
  const balanceBefore = await network.chain.token.balanceOf();
  const job = await network.train({
    model: spec,
    data: await data,
    steps: 40,
    batchSize: 16,
    k: 10,
    priceWei: PRICE,
  });
  const record = await network.verifiers[0].audited(job.id, { timeoutMs: 90_000 });
  return { job, record, balanceBefore };
}

/** The cheater was caught: disputed, slashed, and the submitter got its escrow back. */
export async function assertCaught(
  network: Network,
  run: { job: Job; record: AuditRecord; balanceBefore: bigint },
  provider: string,
): Promise<void> {
  const { job, record, balanceBefore } = run;
  assert.equal(record.outcome, "caught", JSON.stringify(record));
  assert.equal(record.disputed, true);
  assert.equal(record.provider, provider);
  // Caught through the dispute game, and ruled by the submitter's referee.
  assert.equal(record.dispute?.outcome, "ChallengerWon", JSON.stringify(record.dispute));
  const ruling = await network.ruled(BigInt(record.dispute!.id));
  assert.equal(ruling.winner, "challenger");
  assert.equal(ruling.kind, record.dispute!.kind);
  assert.ok(BigInt(record.slashedWei ?? "0") > 0n);
  await assert.rejects(
    () => job.settled(),
    (e) => e instanceof TrainingError && e.code === "TRAINING_JOB_REFUNDED",
  );
  const slot = await network.chain.jobs.slot({ jobId: toBytes32(job.id) });
  assert.equal(slot.status, "Slashed");
  // Refunded in full, plus the submitter's share of the slash.
  assert.ok(await network.chain.token.balanceOf() >= balanceBefore);
}

/** The honest provider was audited, passed, and paid. */
export async function assertPaid(
  network: Network,
  run: { job: Job; record: AuditRecord },
  collect?: (jobId: string) => Promise<bigint>,
): Promise<void> {
  const { job, record } = run;
  await collect?.(job.id);
  assert.equal(record.outcome, "passed", JSON.stringify(record));
  assert.equal(record.disputed, false);
  assert.ok(record.verdicts.every((v) => v.status === "valid"));
  assert.equal(record.verdicts.length, record.totalSegments);
  const { paidWei } = await job.settled();
  assert.ok(paidWei > 0n);
  const slot = await network.chain.jobs.slot({ jobId: toBytes32(job.id) });
  assert.equal(slot.status, "Paid");
}
