/**
 * Trains a bench model (`mlp`, `cnn` or `gpt`, see `bench/_models.ts`) under a profile and prints
 * the checkpoint hashes (and the training throughput) as one JSON line. Used to check
 * reproducibility across processes:
 *
 *   deno run -A scripts/train_hashes.ts --model cnn --profile wasm --steps 40 --k 10 --limit 4096
 *
 * @module
 */

import { parseArgs } from "node:util";
import { benchModel, MODEL_NAMES, type ModelName } from "../bench/_models.ts";
import { Trainer } from "../lib/exec/trainer.ts";
import { trainWithProof } from "../lib/proof/checkpoint.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    model: { type: "string", default: "mlp" },
    profile: { type: "string", default: "wasm" },
    steps: { type: "string", default: "40" },
    k: { type: "string", default: "10" },
    limit: { type: "string", default: "4096" },
    seed: { type: "string", default: "5" },
  },
});
if (!MODEL_NAMES.includes(values.model as ModelName)) {
  console.error(`--model must be one of ${MODEL_NAMES.join(", ")}`);
  Deno.exit(2);
}
const bench = await benchModel(values.model as ModelName, { limit: Number(values.limit) });
const trainer = await Trainer.create({
  spec: bench.spec,
  dataset: bench.train,
  batchSize: bench.batch,
  dataSeed: Number(values.seed),
  profile: values.profile,
});
const steps = Number(values.steps);
const started = performance.now();
const run = await trainWithProof({ trainer, steps, k: Number(values.k) });
const seconds = (performance.now() - started) / 1000;
console.log(JSON.stringify({
  model: bench.name,
  profile: trainer.plan.profile,
  samplesPerSecond: (steps * bench.batch) / seconds,
  checkpoints: run.trace.checkpoints.map((c) => c.hash),
  root: run.trace.root,
}));
trainer.dispose();
