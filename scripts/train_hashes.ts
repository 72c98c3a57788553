/**
 * Trains the reference MLP (784-256-128-10, Adam) on MNIST under a profile and prints the
 * checkpoint hashes (and the training throughput) as one JSON line. Used to check reproducibility across processes:
 *
 *   deno run -A scripts/train_hashes.ts --profile wasm --steps 40 --k 10 --limit 4096
 *
 * @module
 */

import { parseArgs } from "node:util";
import { defineModel } from "../lib/exec/model.ts";
import { loadMnist } from "../lib/exec/mnist.ts";
import { Trainer } from "../lib/exec/trainer.ts";
import { mlp } from "../lib/exec/zoo.ts";
import { trainWithProof } from "../lib/proof/checkpoint.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    profile: { type: "string", default: "wasm" },
    steps: { type: "string", default: "40" },
    k: { type: "string", default: "10" },
    limit: { type: "string", default: "4096" },
    batch: { type: "string", default: "128" },
    units: { type: "string", default: "256,128" },
  },
});

const model = mlp({ hidden: values.units.split(",").map(Number) });
const spec = await defineModel(model, {
  seed: 11,
  optimizer: { name: "adam", learningRate: 1e-3 },
});
const dataset = await loadMnist({ split: "train", limit: Number(values.limit) });
const trainer = await Trainer.create({
  spec,
  dataset,
  batchSize: Number(values.batch),
  dataSeed: 5,
  profile: values.profile,
});
const started = performance.now();
const run = await trainWithProof({ trainer, steps: Number(values.steps), k: Number(values.k) });
const seconds = (performance.now() - started) / 1000;
console.log(JSON.stringify({
  profile: trainer.plan.profile,
  samplesPerSecond: (Number(values.steps) * Number(values.batch)) / seconds,
  checkpoints: run.trace.checkpoints.map((c) => c.hash),
  root: run.trace.root,
}));
trainer.dispose();
