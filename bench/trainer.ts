/**
 * `deno task bench trainer`: reproducibility, accuracy, throughput and the cost of commitments
 * for the reference MLP (784-256-128-10, ReLU, Adam 1e-3, batch 128) on real MNIST.
 *
 * Options: `--epochs N` (default 3) for the accuracy run.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { defineModel } from "../lib/exec/model.ts";
import { loadMnist } from "../lib/exec/mnist.ts";
import { Trainer } from "../lib/exec/trainer.ts";
import { mlp } from "../lib/exec/zoo.ts";
import { CheckpointWriter, trainWithProof } from "../lib/proof/checkpoint.ts";
import { BlobStore } from "../lib/proof/store.ts";
import { figure } from "./figure.ts";
import { measureCommitOverhead } from "./_commit_overhead.ts";

const { values } = parseArgs({
  args: Deno.args.slice(1),
  options: { epochs: { type: "string", default: "3" } },
});
const BATCH = 128;
const log = (msg: string) => console.error(`[bench trainer] ${msg}`);

interface HashRun {
  profile: string;
  samplesPerSecond: number;
  checkpoints: string[];
}

/** Runs scripts/train_hashes.ts in a fresh process. */
async function hashRun(profile: string, steps: number, k: number): Promise<HashRun> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../scripts/train_hashes.ts", import.meta.url).pathname,
      "--model=mlp",
      `--profile=${profile}`,
      `--steps=${steps}`,
      `--k=${k}`,
      "--limit=16384",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").pop()!);
}

// 1. Reproducibility across processes, per profile.
log("reproducibility: separate processes per profile");
const wasmA = await hashRun("wasm", 100, 20);
const wasmB = await hashRun("wasm", 100, 20);
const scalar = await hashRun("wasm-scalar", 100, 20);
const cpuA = await hashRun("cpu", 20, 5);
const cpuB = await hashRun("cpu", 20, 5);
const same = (a: HashRun, b: HashRun) =>
  a.checkpoints.length === b.checkpoints.length &&
  a.checkpoints.every((h, i) => h === b.checkpoints[i]);
figure("train.repro_identical", same(wasmA, wasmB) && same(cpuA, cpuB) ? 1 : 0, "bool");
figure("train.repro_simd_vs_scalar_identical", same(wasmA, scalar) ? 1 : 0, "bool");
figure(
  "train.repro_cpu_vs_wasm_identical",
  cpuA.checkpoints.every((h, i) => h === wasmA.checkpoints[i]) ? 1 : 0,
  "bool",
);
figure(
  "train.samples_per_s.cpu",
  Math.max(cpuA.samplesPerSecond, cpuB.samplesPerSecond),
  "samples/s",
);
figure("train.samples_per_s.wasm_scalar", scalar.samplesPerSecond, "samples/s");

// 2. In this process: throughput and commitment overhead side by side, then accuracy.
const train = await loadMnist({ split: "train" });
const test = await loadMnist({ split: "test" });
const model = mlp(); // 784-256-128-10
const spec = await defineModel(model, { seed: 1, optimizer: { name: "adam", learningRate: 1e-3 } });
const trainer = await Trainer.create({ spec, dataset: train, batchSize: BATCH, profile: "wasm" });
const dir = await Deno.makeTempDir({ prefix: "bench-trainer-" });
try {
  const store = new BlobStore(dir);
  const STEPS = 400;
  const K = 50;
  const PAIRS = 24;
  await trainer.run(trainer.initialState(), 20); // warm-up
  log(`commit overhead: ${PAIRS} pairs of ${K}-step blocks, plain vs with a checkpoint`);
  const measured = await measureCommitOverhead(trainer, store, { k: K, pairs: PAIRS });
  const wasmRate = (measured.plainSteps * BATCH) / (measured.plainMs / 1000);
  figure("train.samples_per_s.wasm", wasmRate, "samples/s");
  figure("train.commit_overhead", measured.overhead, "ratio");
  // The same cost measured directly: time the training thread spends committing (reading the
  // state out of the backend, encoding it, handing it to the background hash and write) plus the
  // wait for the last checkpoint to land, relative to the run. Immune to the machine's drift,
  // blind to the contention the background work causes (which the side-by-side figure includes).
  // The writer starts its worker when made, once per run like opening the store, before the clock.
  const writer = new CheckpointWriter(store);
  let committing = 0;
  let t0 = performance.now();
  writer.add(trainer.initialState());
  committing += performance.now() - t0;
  let readStart = 0;
  const runStart = performance.now();
  await trainer.run(trainer.initialState(), STEPS, {
    checkpointEvery: 50,
    // The trainer reads the state out between a checkpoint step's onStep and onCheckpoint.
    onStep: (s) => {
      if (s.step % 50 === 0) readStart = performance.now();
    },
    onCheckpoint: (state) => {
      writer.add(state);
      committing += performance.now() - readStart;
    },
  });
  const runMs = performance.now() - runStart;
  t0 = performance.now();
  await writer.finish();
  committing += performance.now() - t0;
  figure("train.commit_overhead_direct", committing / (runMs - committing), "ratio");

  // 3. PyTorch CPU reference, if installed.
  const torch = await torchReference();
  if (torch) {
    log(`PyTorch reference: ${torch.threads} thread(s), BLAS ${torch.blas}`);
    figure("train.samples_per_s.torch", torch.samples_per_s, "samples/s");
    figure("train.torch_threads", torch.threads, "threads");
    figure("train.speed_vs_torch", wasmRate / torch.samples_per_s, "ratio");
  } else {
    log("PyTorch not found (apt-get install -y python3-torch); skipping the reference");
  }

  // 4. Accuracy after a few epochs, with the trace written as a real job would.
  const epochs = Number(values.epochs);
  const steps = epochs * trainer.sampler.batchesPerEpoch;
  log(`accuracy: ${epochs} epochs = ${steps} steps with checkpoints every 50`);
  const t = performance.now();
  const run = await trainWithProof({
    trainer,
    steps,
    k: 50,
    store,
    onStep: (s) => {
      if (s.step % 500 === 0) log(`step ${s.step}/${steps} loss ${s.loss.toFixed(4)}`);
    },
  });
  log(`trained in ${((performance.now() - t) / 1000).toFixed(1)} s, root ${run.trace.root}`);
  const evaluation = trainer.evaluate(run.state, test);
  figure("train.mnist_test_accuracy", evaluation.accuracy, "ratio");
  figure("train.mnist_test_loss", evaluation.loss, "nats");
} finally {
  trainer.dispose();
  await Deno.remove(dir, { recursive: true });
}

async function torchReference(): Promise<
  { samples_per_s: number; threads: number; blas: string } | null
> {
  const script = new URL("./reference/torch_models.py", import.meta.url).pathname;
  const config = JSON.stringify({ hidden: [256, 128] });
  for (const python of ["python3", "/usr/bin/python3"]) {
    try {
      const out = await new Deno.Command(python, {
        args: [script, "speed", "mlp", config, String(BATCH), "300"],
        stdout: "piped",
        stderr: "null",
      }).output();
      if (!out.success) continue;
      const result = JSON.parse(new TextDecoder().decode(out.stdout).trim()) as {
        threads: Record<string, number>;
        blas: string;
      };
      const [threads, rate] = Object.entries(result.threads).sort((a, b) => b[1] - a[1])[0];
      return { samples_per_s: rate, threads: Number(threads), blas: result.blas };
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e; // no such interpreter: try the next one
    }
  }
  return null;
}
