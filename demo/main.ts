/**
 * `deno task demo`: train an MLP on real MNIST with a checkpoint every `k` steps, evaluate it,
 * print the trace root, then act as a verifier: replay a random segment of the trace, and show
 * that a checkpoint forged by one flipped bit is caught.
 *
 * Options: `--epochs N` (default 2), `--k N` (default 50), `--batch N` (default 128),
 * `--profile ID` (default wasm), `--data-dir DIR` (default `.data/demo`).
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  BlobStore,
  defineModel,
  encodeState,
  loadCheckpoint,
  loadMnist,
  mlp,
  replaySegment,
  type SegmentVerdict,
  Trainer,
  trainWithProof,
  writeTrace,
} from "../mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    epochs: { type: "string", default: "2" },
    k: { type: "string", default: "50" },
    batch: { type: "string", default: "128" },
    profile: { type: "string", default: "wasm" },
    "data-dir": { type: "string", default: ".data/demo" },
    help: { type: "boolean", default: false },
  },
});
if (values.help) {
  console.log(
    "usage: deno task demo [--epochs 2] [--k 50] [--batch 128] [--profile wasm|wasm-scalar|cpu] " +
      "[--data-dir .data/demo]",
  );
  Deno.exit(0);
}

const k = Number(values.k);
const batchSize = Number(values.batch);
const dataDir = values["data-dir"];
const interactive = Deno.stdout.isTerminal();

console.log("Loading MNIST (60,000 training and 10,000 test images)...");
const [train, test] = await Promise.all([loadMnist(), loadMnist({ split: "test" })]);

const model = mlp(); // 784-256-128-10
const spec = await defineModel(model, { seed: 1, optimizer: { name: "adam", learningRate: 1e-3 } });
model.dispose();
const trainer = await Trainer.create({ spec, dataset: train, batchSize, profile: values.profile });
const steps = Number(values.epochs) * trainer.sampler.batchesPerEpoch;
const store = new BlobStore(dataDir);

console.log(`model     ${spec.id}`);
console.log(`dataset   ${train.id}`);
console.log(`profile   ${trainer.plan.profile}`);
console.log(`training  ${steps} steps of ${batchSize}, a checkpoint every ${k} steps`);

const started = performance.now();
let committed = 0;
let lastPrint = 0;
const run = await trainWithProof({
  trainer,
  steps,
  k,
  store,
  onCheckpoint: () => committed++,
  onStep: ({ step, loss }) => {
    const now = performance.now();
    if (step !== steps && now - lastPrint < (interactive ? 200 : 2000)) return;
    lastPrint = now;
    const rate = (step * batchSize) / ((now - started) / 1000);
    const line = `step ${String(step).padStart(5)}/${steps}  loss ${loss.toFixed(4)}  ` +
      `${Math.round(rate)} samples/s  checkpoints ${committed}`;
    if (interactive) Deno.stdout.writeSync(new TextEncoder().encode(`\r${line}`));
    else console.log(line);
  },
});
if (interactive) console.log();
const seconds = (performance.now() - started) / 1000;

const evaluation = trainer.evaluate(run.state, test);
await Deno.mkdir(dataDir, { recursive: true });
await writeTrace(`${dataDir}/trace.json`, run.trace);
console.log(`trained in ${seconds.toFixed(1)} s`);
console.log(
  `test accuracy ${(evaluation.accuracy * 100).toFixed(2)}%  (loss ${evaluation.loss.toFixed(4)})`,
);
console.log(`final state ${run.finalHash}`);
console.log(`trace root  ${run.trace.root}  (${run.trace.checkpoints.length} checkpoints)`);
console.log(`trace file  ${dataDir}/trace.json, checkpoints in ${dataDir}/blobs/`);

// Verifier: re-execute one random segment from its committed checkpoint.
const segments = run.trace.checkpoints.length - 1;
const pick = crypto.getRandomValues(new Uint32Array(1))[0] % segments;
const t = performance.now();
const verdict = await replaySegment(run.trace, pick, { trainer, store });
console.log(`\nreplay of segment ${pick} ${describe(verdict)}`);
console.log(
  `  re-executed ${verdict.toStep - verdict.fromStep} of ${steps} steps ` +
    `(${(100 * (verdict.toStep - verdict.fromStep) / steps).toFixed(1)}% of the training) in ` +
    `${((performance.now() - t) / 1000).toFixed(2)} s`,
);

// A cheating provider: the checkpoint after that segment with one bit flipped, committed anyway.
const end = await loadCheckpoint(store, run.trace.checkpoints[pick + 1].hash);
const forged = end.variables[0].data.slice();
new Uint32Array(forged.buffer)[0] ^= 1;
const forgedHash = await store.put(encodeState({
  ...end,
  variables: [{ ...end.variables[0], data: forged }, ...end.variables.slice(1)],
}));
const forgedTrace = {
  ...run.trace,
  checkpoints: run.trace.checkpoints.map((c, i) => i === pick + 1 ? { ...c, hash: forgedHash } : c),
};
const caught = await replaySegment(forgedTrace, pick, { trainer, store });
console.log(`forged checkpoint (1 bit flipped): segment ${pick} ${describe(caught)}`);
trainer.dispose();
if (verdict.status !== "valid" || caught.status !== "mismatch") Deno.exit(1);

function describe(v: SegmentVerdict): string {
  switch (v.status) {
    case "valid":
      return `[steps ${v.fromStep}..${v.toStep}]: VALID, bit-identical (${v.hash.slice(0, 16)}...)`;
    case "mismatch":
      return `[steps ${v.fromStep}..${v.toStep}]: MISMATCH, committed ${
        v.expected.slice(0, 16)
      }... but re-execution gives ${v.actual.slice(0, 16)}...`;
    case "missing-checkpoint":
      return `: checkpoint ${v.hash} is missing`;
    case "corrupt-checkpoint":
      return `: checkpoint ${v.hash} is corrupt (${v.reason})`;
  }
}
