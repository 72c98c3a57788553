import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { DatasetError, SpecError, TrainingError } from "../../lib/core/errors.ts";
import { createDataset } from "../../lib/exec/dataset.ts";
import { defineModel } from "../../lib/exec/model.ts";
import { Trainer } from "../../lib/exec/trainer.ts";
import { commitState, encodeState } from "../../lib/proof/commitment.ts";
import { mnistSubset, smallMlpSpec } from "../_fixtures/mlp.ts";

Deno.test("deterministic trainer", async (t) => {
  const dataset = await mnistSubset(1024);
  const test = await mnistSubset(2048); // overlaps the training half; enough to see learning

  for (
    const optimizer of [
      { name: "sgd", learningRate: 0.1 },
      { name: "momentum", learningRate: 0.05, nesterov: true },
      { name: "adam", learningRate: 0.005 },
    ] as const
  ) {
    await t.step(`${optimizer.name}: learns, and any segment re-executes bit for bit`, async () => {
      const spec = await smallMlpSpec(optimizer);
      const trainer = await Trainer.create({ spec, dataset, batchSize: 64, dataSeed: 9 });
      try {
        const s0 = trainer.initialState();
        const before = trainer.evaluate(s0, test);
        const s20 = await trainer.run(s0, 20);
        const s40 = await trainer.run(s20, 20);
        const direct = await trainer.run(s0, 40);
        assert.equal(s40.step, 40);
        assert.equal(s40.cursor, 40 * 64);
        assert.equal(await commitState(s40), await commitState(direct));
        const after = trainer.evaluate(s40, test);
        assert.ok(after.loss < before.loss * 0.8, `loss ${before.loss} -> ${after.loss}`);
        assert.ok(after.accuracy > before.accuracy + 0.2);
        // The slots belong to the state: momentum and Adam keep 1 and 2 per weight.
        const slots = { sgd: 0, momentum: 1, adam: 2 }[optimizer.name];
        assert.equal(s40.variables.length, 4 * (1 + slots));
      } finally {
        trainer.dispose();
      }
    });
  }

  await t.step("a different data seed, batch or learning rate gives different bits", async () => {
    const spec = await smallMlpSpec();
    const base = await Trainer.create({ spec, dataset, batchSize: 64, dataSeed: 1 });
    const seed = await Trainer.create({ spec, dataset, batchSize: 64, dataSeed: 2 });
    const lr = await Trainer.create({
      spec: await smallMlpSpec({ name: "adam", learningRate: 0.011 }),
      dataset,
      batchSize: 64,
      dataSeed: 1,
    });
    try {
      const hashes = await Promise.all(
        [base, seed, lr].map(async (tr) => commitState(await tr.run(tr.initialState(), 5))),
      );
      assert.equal(new Set(hashes).size, 3);
    } finally {
      for (const tr of [base, seed, lr]) tr.dispose();
    }
  });

  await t.step("progress, checkpoints and cancellation", async () => {
    const trainer = await Trainer.create({ spec: await smallMlpSpec(), dataset, batchSize: 32 });
    try {
      const steps: number[] = [];
      const checkpoints: number[] = [];
      await trainer.run(trainer.initialState(), 10, {
        onStep: (s) => steps.push(s.step),
        checkpointEvery: 4,
        onCheckpoint: (s) => {
          checkpoints.push(s.step);
        },
      });
      assert.deepEqual(steps, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      assert.deepEqual(checkpoints, [4, 8]);
      const controller = new AbortController();
      await assert.rejects(
        () =>
          trainer.run(trainer.initialState(), 100, {
            signal: controller.signal,
            onStep: (s) => s.step === 3 && controller.abort(),
          }),
        (e: unknown) => e instanceof TrainingError && e.code === "TRAINING_ABORTED",
      );
    } finally {
      trainer.dispose();
    }
  });

  for (const profile of ["wasm", "cpu"]) {
    await t.step(
      `${profile}: a checkpoint's state, read straight from the backend, is run's`,
      async () => {
        const trainer = await Trainer.create({
          spec: await smallMlpSpec(),
          dataset,
          batchSize: 32,
          profile,
        });
        try {
          const checkpoints: Uint8Array[] = [];
          await trainer.run(trainer.initialState(), 8, {
            checkpointEvery: 4,
            // The state borrows the backend's memory: encode (copy) it before returning.
            onCheckpoint: (s) => {
              checkpoints.push(encodeState(s));
            },
          });
          const s4 = await trainer.run(trainer.initialState(), 4);
          const s8 = await trainer.run(s4, 4);
          assert.deepEqual(checkpoints, [encodeState(s4), encodeState(s8)]);
        } finally {
          trainer.dispose();
        }
      },
    );
  }

  await t.step("the trained weights load into a tfjs model", async () => {
    const trainer = await Trainer.create({ spec: await smallMlpSpec(), dataset, batchSize: 64 });
    try {
      const state = await trainer.run(trainer.initialState(), 30);
      const model = await trainer.toLayersModel(state);
      const x = tf.tensor(dataset.features.subarray(0, 784 * 8), [8, 784]);
      const mine = (trainer.model.predict(x) as tf.Tensor).arraySync();
      const theirs = (model.predict(x) as tf.Tensor).arraySync();
      assert.deepEqual(theirs, mine);
      model.dispose();
      x.dispose();
    } finally {
      trainer.dispose();
    }
  });

  await t.step("data that does not fit the model is a typed error", async () => {
    const spec = await smallMlpSpec();
    const wrongShape = await createDataset({
      name: "wrong",
      featureShape: [10],
      features: new Float32Array(40),
      labels: new Float32Array([0, 1, 2, 3]),
      numClasses: 10,
    });
    await assert.rejects(
      () => Trainer.create({ spec, dataset: wrongShape, batchSize: 2 }),
      (e: unknown) => e instanceof DatasetError && e.code === "DATASET_SHAPE_MISMATCH",
    );
    const wrongClasses = await createDataset({
      name: "three classes",
      featureShape: [784],
      features: new Float32Array(784 * 3),
      labels: new Float32Array([0, 1, 2]),
      numClasses: 3,
    });
    await assert.rejects(
      () => Trainer.create({ spec, dataset: wrongClasses, batchSize: 1 }),
      (e: unknown) => e instanceof DatasetError && e.code === "DATASET_SHAPE_MISMATCH",
    );
    await assert.rejects(
      () => Trainer.create({ spec, dataset, batchSize: 0 }),
      (e: unknown) => e instanceof SpecError && e.code === "SPEC_INVALID_BATCH_SIZE",
    );
  });

  await t.step("a state of another model is refused", async () => {
    const a = await Trainer.create({ spec: await smallMlpSpec(), dataset, batchSize: 64 });
    const b = await Trainer.create({
      spec: await smallMlpSpec({ name: "sgd", learningRate: 0.1 }),
      dataset,
      batchSize: 64,
    });
    try {
      await assert.rejects(
        () => b.run(a.initialState(), 1),
        (e: unknown) => e instanceof SpecError && e.code === "SPEC_STATE_LAYOUT_MISMATCH",
      );
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  await t.step("a loss that overflows stops training with a typed error", async () => {
    const huge = await createDataset({
      name: "huge values",
      featureShape: [4],
      features: new Float32Array(64).fill(3e38),
      labels: new Float32Array(16).fill(1),
      numClasses: 2,
    });
    const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 2 })] });
    const spec = await defineModel(model, { optimizer: { name: "sgd", learningRate: 1 } });
    model.dispose();
    const trainer = await Trainer.create({ spec, dataset: huge, batchSize: 4 });
    try {
      await assert.rejects(
        () => trainer.run(trainer.initialState(), 5),
        (e: unknown) => e instanceof TrainingError && e.code === "TRAINING_NON_FINITE_LOSS",
      );
    } finally {
      trainer.dispose();
    }
  });
});

Deno.test("two processes produce identical hashes at every checkpoint", async (t) => {
  const run = async (model: string) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../../scripts/train_hashes.ts", import.meta.url).pathname,
        `--model=${model}`,
        "--profile=wasm",
        "--steps=12",
        "--k=4",
        "--limit=2048",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    return JSON.parse(text.trim().split("\n").pop()!) as { checkpoints: string[] };
  };
  for (const model of ["mlp", "cnn", "gpt"]) {
    await t.step(model, async () => {
      const [a, b] = await Promise.all([run(model), run(model)]);
      assert.equal(a.checkpoints.length, 4);
      assert.deepEqual(a.checkpoints, b.checkpoints);
      assert.equal(new Set(a.checkpoints).size, 4);
    });
  }
});
