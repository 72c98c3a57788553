/**
 * `deno task bench dist`: DiLoCo on MNIST with 4 workers over loopback libp2p, compared in the
 * same run with single-node training on the same number of samples (MLP 784-128-10, Adam 1e-3,
 * batch 64, int8 deltas with 256-value blocks).
 *
 * `dist.bytes_per_worker_allreduce` is what a ring all-reduce of the full float32 gradient every
 * step would send per worker: `2·(W−1)/W · params · 4` bytes per step, times the inner steps each
 * worker took (`rounds · H`). DiLoCo here sends each delta directly to the W−1 other workers.
 *
 * `dist.network_*` run a smaller job the way a user does, through `Network.local()` and
 * `network.train({ workers: 4 })`: 4 provider nodes claim one slot each, exchange deltas over their
 * own libp2p hosts, commit, and are paid on the devnet. `dist.network_agreed` is 1 when every
 * worker committed the same outer state and every round's reports agree on who counted.
 *
 * Options: `--rounds N` (default 16), `--inner H` (default 100), `--network-rounds N` (default 4,
 * H = `--inner` / 2; 0 skips the network run).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { runDiLoCo } from "../lib/diloco/round.ts";
import { parameterCount } from "../lib/diloco/outer.ts";
import { defineModel } from "../lib/exec/model.ts";
import { loadMnist } from "../lib/exec/mnist.ts";
import { Trainer } from "../lib/exec/trainer.ts";
import { mlp } from "../lib/exec/zoo.ts";
import { Network } from "../lib/node/network.ts";
import { figure } from "./figure.ts";

const { values } = parseArgs({
  args: Deno.args.slice(1),
  options: {
    rounds: { type: "string", default: "16" },
    inner: { type: "string", default: "100" },
    "network-rounds": { type: "string", default: "4" },
  },
});
const WORKERS = 4;
const BATCH = 64;
const ROUNDS = Number(values.rounds);
const H = Number(values.inner);
const log = (msg: string) => console.error(`[bench dist] ${msg}`);

const train = await loadMnist({ split: "train" });
const test = await loadMnist({ split: "test" });
const spec = await defineModel(mlp({ hidden: [128] }), {
  seed: 1,
  optimizer: { name: "adam", learningRate: 1e-3 },
});
const options = {
  spec,
  dataset: train,
  workers: WORKERS,
  rounds: ROUNDS,
  innerSteps: H,
  batchSize: BATCH,
  compression: { encoding: "int8", blockSize: 256 },
} as const;

log(`distributed: ${WORKERS} workers, ${ROUNDS} rounds of H=${H}`);
const dist = await runDiLoCo({
  ...options,
  onRound: (r) =>
    log(
      `round ${r.round}: loss ${r.loss.toFixed(4)} counted ${r.counted} hash ${
        r.outerHash.slice(0, 12)
      }`,
    ),
});
log("rerun for reproducibility");
const again = await runDiLoCo(options);
const reproducible = dist.rounds.length === again.rounds.length &&
  dist.rounds.every((r, i) => r.outerHash === again.rounds[i].outerHash);

const steps = ROUNDS * H * WORKERS; // same number of samples: steps × batch
log(`single node: ${steps} steps of batch ${BATCH}`);
const single = await Trainer.create({ spec, dataset: train, batchSize: BATCH });
const singleEnd = await single.run(single.initialState(), steps);
const singleAcc = single.evaluate(singleEnd, test).accuracy;
const distAcc = single.evaluate({
  step: 0,
  cursor: 0,
  variables: [...dist.outer.weights, ...singleEnd.variables.slice(dist.outer.weights.length)],
}, test).accuracy;
single.dispose();

const params = parameterCount(dist.outer.weights);
const bytesPerWorker = [...dist.bytesSent.values()].reduce((a, b) => a + b, 0) / WORKERS;
const allreduce = ROUNDS * H * params * 4 * 2 * (WORKERS - 1) / WORKERS;
const sum = (f: (r: (typeof dist.rounds)[number]) => number) =>
  dist.rounds.reduce((a, r) => a + f(r), 0);
log(`params ${params}; single-node accuracy ${singleAcc}`);
figure("dist.bytes_per_worker", bytesPerWorker, "bytes");
figure("dist.bytes_per_worker_allreduce", allreduce, "bytes");
figure("dist.comm_reduction", allreduce / bytesPerWorker, "x");
figure("dist.accuracy", distAcc, "fraction");
figure("dist.accuracy_single", singleAcc, "fraction");
figure("dist.accuracy_gap", singleAcc - distAcc, "fraction");
// Per worker, as if each ran on its own machine: the exchange's wall time (all transfers ran
// concurrently) plus its share of aggregation, over its share of inner training.
figure(
  "dist.round_overhead",
  sum((r) => r.commMs + r.aggregateMs / r.members.length) /
    sum((r) => r.innerMs / r.members.length),
  "ratio",
);
figure("dist.reproducible", reproducible ? 1 : 0, "bool");

const NETWORK_ROUNDS = Number(values["network-rounds"]);
if (NETWORK_ROUNDS > 0) {
  const innerSteps = Math.max(1, Math.floor(H / 2));
  log(`network: ${WORKERS} provider nodes, ${NETWORK_ROUNDS} rounds of H=${innerSteps}`);
  // One staked verifier audits every worker's commit under the job's default policy.
  await using network = await Network.local({ providers: WORKERS, verifiers: 1 });
  const t0 = performance.now();
  const job = await network.train({
    model: spec,
    data: train,
    steps: NETWORK_ROUNDS * innerSteps,
    batchSize: BATCH,
    workers: WORKERS,
    rounds: NETWORK_ROUNDS,
    compression: { encoding: "int8", blockSize: 256 },
    priceWei: 40n * 10n ** 18n,
  });
  const result = await job.distributedResult();
  const wallS = (performance.now() - t0) / 1000;
  const { paidWei, feeWei } = await job.settled();
  // distributedResult() already refused commits that disagree on the final outer state.
  const agreed = result.rounds.length === NETWORK_ROUNDS &&
    result.rounds.every((r) => r.agreed && r.reporters.length === WORKERS) &&
    result.traceRoots.size === WORKERS;
  const evaluator = await Trainer.create({ spec, dataset: test, batchSize: BATCH });
  const slots = evaluator.initialState().variables.slice(result.state.variables.length);
  const accuracy = evaluator.evaluate({
    ...result.state,
    variables: [...result.state.variables, ...slots],
  }, test).accuracy;
  evaluator.dispose();
  result.model.dispose();
  for (const r of result.rounds) {
    log(`network round ${r.round}: loss ${r.loss.toFixed(4)} counted ${r.counted}`);
  }
  figure("dist.network_wall", wallS, "s");
  figure(
    "dist.network_bytes_per_worker",
    result.rounds.reduce((a, r) => a + r.bytesSent, 0) / WORKERS,
    "bytes",
  );
  figure("dist.network_accuracy", accuracy, "fraction");
  figure("dist.network_agreed", agreed ? 1 : 0, "bool");
  figure("dist.network_paid", Number(paidWei + feeWei) / 1e18, "AIGENSYN");
  // The audits (settlement waited for them): sampled rounds re-executed per worker.
  const audits = await Promise.all(
    Array.from({ length: WORKERS }, (_, slot) => network.verifiers[0].audited(job.id, { slot })),
  );
  const replayed = audits.reduce((a, r) => a + r.replayedSteps, 0);
  for (const r of audits) {
    log(
      `audit of worker ${r.slot}: ${r.outcome}, rounds [${r.segments}], ` +
        `${r.rounds?.filter((v) => v.status === "valid" && v.outerChecked).length} outer steps ` +
        `recomputed, ${r.durationMs} ms`,
    );
  }
  figure(
    "dist.network_audits_passed",
    audits.filter((r) => r.outcome === "passed").length / WORKERS,
    "fraction",
  );
  figure("dist.audit_replay_fraction", replayed / (WORKERS * NETWORK_ROUNDS * innerSteps), "ratio");
  figure(
    "dist.audit_seconds_per_worker",
    audits.reduce((a, r) => a + r.durationMs, 0) / WORKERS / 1000,
    "s",
  );
}
