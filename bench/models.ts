/**
 * `deno task bench models`: the zoo's real models (`mlp`, `cnn`, `gpt`) on the default profile,
 * each measured side by side with PyTorch CPU on the same architecture, optimizer and batch.
 *
 * Per model `m`:
 * - `models.<m>.<unit>_per_s.wasm` and `.torch_1t` / `.torch_<n>t` (thread counts stated), and
 *   `models.<m>.speed_vs_torch`: wasm (one thread) over PyTorch at one thread, each the best of
 *   five alternating measurements (PyTorch in fresh processes);
 * - `models.<m>.kernels_per_step`, `models.<m>.kernel_ms_per_step` and
 *   `models.<m>.overhead_ms_per_step` (the step's time outside kernels), with a per-kernel-type
 *   breakdown printed as `# kernel` lines;
 * - `models.<m>.repro_identical`: two processes train the same checkpoints;
 * - `models.<m>.dispute_referee_kernels` and `models.<m>.dispute_seconds`: a provider that flips a
 *   bit and forges its op records inside the backward pass (a convolution's filter gradient, the
 *   attention's backward kernel), disputed to the referee's verdict;
 * - `models.cnn.mnist_test_accuracy`: the full test set after 2 epochs;
 * - `models.gpt.val_loss` and `models.gpt.val_loss_vs_torch`: held-out KJV loss after the same
 *   steps as PyTorch.
 *
 * Options: `--models mlp,cnn,gpt`, `--gpt-steps N` (default 600).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { measureKernels } from "../lib/exec/kernels/observe.ts";
import { Trainer } from "../lib/exec/trainer.ts";
import type { TrainingState } from "../lib/exec/state.ts";
import { type Cheat, forgeRecording, runDispute, trainParty } from "../lib/proof/dispute.ts";
import { type BenchModel, benchModel, MODEL_NAMES, type ModelName } from "./_models.ts";
import { figure } from "./figure.ts";

const { values } = parseArgs({
  args: Deno.args.slice(1),
  options: {
    models: { type: "string", default: MODEL_NAMES.join(",") },
    "gpt-steps": { type: "string", default: "600" },
  },
});
const log = (msg: string) => console.error(`[bench models] ${msg}`);
const REPEATS = 5;
const names = values.models.split(",") as ModelName[];
for (const name of names) {
  if (!MODEL_NAMES.includes(name)) throw new Error(`unknown model ${name}; use ${MODEL_NAMES}`);
}

const python = await findTorch();
if (!python) log("PyTorch not found (apt-get install -y python3-torch); skipping the references");

for (const name of names) {
  log(`${name}: loading`);
  const model = await benchModel(name);
  const trainer = await Trainer.create({
    spec: model.spec,
    dataset: model.train,
    batchSize: model.batch,
  });
  try {
    await throughput(model, trainer);
    await reproducibility(model);
    await dispute(model);
    if (name === "cnn") await accuracy(model, trainer);
    if (name === "gpt") await languageModel(model, trainer, Number(values["gpt-steps"]));
  } finally {
    trainer.dispose();
  }
}

/** Throughput and the per-kernel breakdown, then PyTorch's at 1 thread and all cores. */
async function throughput(model: BenchModel, trainer: Trainer): Promise<void> {
  const { name, batch, unitsPerExample: per, unit } = model;
  // Warm up until the rate settles: V8 compiles WebAssembly (tfjs' and ours) with a baseline
  // compiler first and optimizes hot functions later, which takes a hundred steps or so.
  let state = trainer.initialState();
  let probeMs = Infinity;
  let previous = 0;
  for (let round = 0, n = 10; round < 12; round++) {
    const t0 = performance.now();
    state = await trainer.run(state, n);
    probeMs = (performance.now() - t0) / n;
    if (previous > 0 && Math.abs(previous - probeMs) / previous < 0.03) break;
    previous = probeMs;
    n = Math.max(5, Math.round(1000 / probeMs));
  }
  log(`${name}: warmed up to ${probeMs.toFixed(1)} ms/step`);
  // The machine's speed drifts, and PyTorch's swings several-fold between processes here (a
  // process runs at full speed or at a fraction of it, whatever the flush of subnormals): both
  // sides are measured REPEATS times, alternately, and each keeps its best.
  const steps = Math.max(10, Math.round(1500 / probeMs));
  const torchSteps = Math.max(30, Math.round(1500 / probeMs));
  let stepMs = Infinity;
  const torch: Record<string, number> = {};
  for (let rep = 0; rep < REPEATS; rep++) {
    const started = performance.now(); // plain: no observer on the kernels
    state = await trainer.run(state, steps);
    stepMs = Math.min(stepMs, (performance.now() - started) / steps);
    if (!python) continue;
    const threads = rep < 2 ? [...new Set([1, navigator.hardwareConcurrency])] : [1];
    for (const t of threads) {
      const out = await runTorch([
        "speed",
        name,
        JSON.stringify(model.config),
        String(batch),
        String(torchSteps),
        String(t),
      ]) as { threads: Record<string, number> };
      for (const [k, samples] of Object.entries(out.threads)) {
        torch[k] = Math.max(torch[k] ?? 0, samples * per);
      }
    }
  }
  const rate = (batch * per) / (stepMs / 1000);
  figure(`models.${name}.${unit}_per_s.wasm`, rate, `${unit}/s`);
  for (const [threads, rateTorch] of Object.entries(torch)) {
    figure(`models.${name}.${unit}_per_s.torch_${threads}t`, rateTorch, `${unit}/s`);
  }
  if (torch["1"]) figure(`models.${name}.speed_vs_torch`, rate / torch["1"], "ratio");
  const profiled = 10;
  const { stats } = await measureKernels(() => trainer.run(state, profiled));
  let kernels = 0;
  let kernelMs = 0;
  for (const [kernel, s] of stats) {
    kernels += s.calls;
    kernelMs += s.ms;
    console.log(
      `# kernel ${name} ${kernel.padEnd(26)} ${(s.calls / profiled).toFixed(1).padStart(6)}/step ` +
        `${(s.ms / profiled).toFixed(3).padStart(8)} ms/step`,
    );
  }
  figure(`models.${name}.kernels_per_step`, kernels / profiled, "kernels");
  figure(`models.${name}.kernel_ms_per_step`, kernelMs / profiled, "ms");
  figure(`models.${name}.overhead_ms_per_step`, Math.max(0, stepMs - kernelMs / profiled), "ms");
}

/** Two processes train the same steps and must commit the same checkpoints. */
async function reproducibility(model: BenchModel): Promise<void> {
  const run = async () => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../scripts/train_hashes.ts", import.meta.url).pathname,
        `--model=${model.name}`,
        "--steps=30",
        "--k=10",
        "--limit=4096",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
    return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").pop()!) as {
      checkpoints: string[];
    };
  };
  const a = await run();
  const b = await run();
  const same = a.checkpoints.length === 4 && a.checkpoints.every((h, i) => h === b.checkpoints[i]);
  figure(`models.${model.name}.repro_identical`, same ? 1 : 0, "bool");
}

/** A bit flipped at step 6 and records forged at a backward kernel, disputed to a verdict. */
async function dispute(model: BenchModel): Promise<void> {
  const make = () =>
    Trainer.create({ spec: model.spec, dataset: model.train, batchSize: model.batch, dataSeed: 3 });
  const [verifier, cheater] = [await make(), await make()];
  try {
    const flip = (state: TrainingState): TrainingState => {
      if (state.step !== 6) return state;
      const data = state.variables[0].data.slice();
      new Uint32Array(data.buffer)[0] ^= 1 << 12;
      return {
        ...state,
        variables: [{ ...state.variables[0], data }, ...state.variables.slice(1)],
      };
    };
    const cheat: Cheat = {
      afterStep: flip,
      recording: (honest, claimed) =>
        forgeRecording(honest, claimed, { kernel: model.backwardKernel }),
    };
    const challenger = await trainParty(verifier, { steps: 8, k: 4 });
    const provider = await trainParty(cheater, { steps: 8, k: 4, cheat });
    const started = performance.now();
    const path = await runDispute({ challenger, provider, referee: verifier });
    const seconds = (performance.now() - started) / 1000;
    if (!path || path.verdict.winner !== "challenger" || path.kernel !== model.backwardKernel) {
      throw new Error(
        `the forged ${model.backwardKernel} was not caught there: ${JSON.stringify(path?.verdict)}`,
      );
    }
    log(
      `${model.name}: dispute at step ${path.step}->${path.step + 1}, op ${path.opIndex} ` +
        `${path.kernel}, ${path.rounds.step}+${path.rounds.op} rounds, ` +
        `${path.verdict.faults.map((f) => `${f.side} ${f.reason}`).join(", ")}`,
    );
    figure(`models.${model.name}.dispute_referee_kernels`, path.verdict.kernelsRun, "kernels");
    figure(`models.${model.name}.dispute_seconds`, seconds, "s");
  } finally {
    verifier.dispose();
    cheater.dispose();
  }
}

/** The convnet's test accuracy after 2 epochs of MNIST. */
async function accuracy(model: BenchModel, trainer: Trainer): Promise<void> {
  const steps = 2 * trainer.sampler.batchesPerEpoch;
  log(`cnn: 2 epochs = ${steps} steps of ${model.batch}`);
  const end = await trainer.run(trainer.initialState(), steps, {
    onStep: (s) => {
      if (s.step % 500 === 0) log(`cnn: step ${s.step}/${steps} loss ${s.loss.toFixed(4)}`);
    },
  });
  const evaluation = trainer.evaluate(end, model.test);
  figure("models.cnn.mnist_test_accuracy", evaluation.accuracy, "ratio");
  figure("models.cnn.mnist_test_loss", evaluation.loss, "nats");
}

/** The GPT's held-out loss after `steps` steps, and PyTorch's after the same steps. */
async function languageModel(model: BenchModel, trainer: Trainer, steps: number): Promise<void> {
  log(`gpt: ${steps} steps of ${model.batch} x ${model.unitsPerExample} tokens`);
  const end = await trainer.run(trainer.initialState(), steps, {
    onStep: (s) => {
      if (s.step % 100 === 0) log(`gpt: step ${s.step}/${steps} loss ${s.loss.toFixed(4)}`);
    },
  });
  const evaluation = trainer.evaluate(end, model.test, 256);
  figure("models.gpt.val_loss", evaluation.loss, "nats");
  figure("models.gpt.val_perplexity", evaluation.perplexity, "ratio");
  if (!python) return;
  const dir = await Deno.makeTempDir({ prefix: "bench-models-" });
  try {
    const ids = (data: typeof model.train) => {
      // The windows are contiguous: the tokens are the features, plus the last label.
      const out = new Int32Array(data.count * model.unitsPerExample + 1);
      out.set(Int32Array.from(data.features));
      out[out.length - 1] = data.labels[data.labels.length - 1];
      return new Uint8Array(out.buffer);
    };
    await Deno.writeFile(`${dir}/train.bin`, ids(model.train));
    await Deno.writeFile(`${dir}/val.bin`, ids(model.test));
    const torch = await runTorch([
      "gpt-loss",
      JSON.stringify(model.config),
      `${dir}/train.bin`,
      `${dir}/val.bin`,
      String(steps),
      String(model.batch),
      String(model.learningRate),
      "1",
    ]) as { val_loss: number };
    figure("models.gpt.val_loss_torch", torch.val_loss, "nats");
    figure("models.gpt.val_loss_vs_torch", evaluation.loss / torch.val_loss, "ratio");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function findTorch(): Promise<string | null> {
  for (const candidate of ["python3", "/usr/bin/python3"]) {
    try {
      const out = await new Deno.Command(candidate, {
        args: ["-c", "import torch"],
        stdout: "null",
        stderr: "null",
      }).output();
      if (out.success) return candidate;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e; // no such interpreter: try the next one
    }
  }
  return null;
}

async function runTorch(args: string[]): Promise<unknown> {
  const script = new URL("./reference/torch_models.py", import.meta.url).pathname;
  const out = await new Deno.Command(python!, {
    args: [script, ...args],
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  if (!out.success) {
    throw new Error(`PyTorch reference failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").pop()!);
}
