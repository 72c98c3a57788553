import assert from "node:assert/strict";
import fc from "fast-check";
import { encodeCanonical } from "../../lib/core/canonical.ts";
import { DatasetError } from "../../lib/core/errors.ts";
import { concatBytes, sha256Hex } from "../../lib/core/hash.ts";
import {
  createDataset,
  type Dataset,
  decodeDataset,
  encodeDataset,
  gatherBatch,
  sliceDataset,
  splitDataset,
} from "../../lib/exec/dataset.ts";

function xor(name = "xor"): Promise<Dataset> {
  return createDataset({
    name,
    featureShape: [2],
    features: new Float32Array([0, 0, 0, 1, 1, 0, 1, 1]),
    labels: new Float32Array([0, 1, 1, 0]),
    numClasses: 2,
  });
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof DatasetError, `expected DatasetError, got ${e}`);
    assert.equal(e.code, code, e.message);
    return true;
  });
}

/** Random small datasets: shapes, float32 values, optional class labels. */
const arbDataset = fc.record({
  count: fc.integer({ min: 0, max: 12 }),
  featureShape: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 0, maxLength: 3 }),
  numClasses: fc.option(fc.integer({ min: 1, max: 5 }), { nil: undefined }),
  seed: fc.integer(),
  name: fc.string(),
}).chain((p) => {
  const fs = p.featureShape.reduce((a, b) => a * b, 1);
  return fc.record({
    p: fc.constant(p),
    features: fc.float32Array({
      minLength: p.count * fs,
      maxLength: p.count * fs,
      noNaN: true,
      noDefaultInfinity: true,
    }),
    labels: p.numClasses === undefined
      ? fc.float32Array({
        minLength: p.count,
        maxLength: p.count,
        noNaN: true,
        noDefaultInfinity: true,
      })
      : fc.array(fc.integer({ min: 0, max: p.numClasses - 1 }), {
        minLength: p.count,
        maxLength: p.count,
      }).map((a) => Float32Array.from(a)),
  });
}).map(({ p, features, labels }) =>
  createDataset({
    name: p.name,
    featureShape: p.featureShape,
    features,
    labels,
    numClasses: p.numClasses,
  })
);

Deno.test("createDataset", async (t) => {
  await t.step(
    "computes count and an id over header + LE float32 bytes, name excluded",
    async () => {
      const ds = await xor();
      assert.equal(ds.count, 4);
      assert.deepEqual(ds.featureShape, [2]);
      assert.deepEqual(ds.labelShape, []);
      assert.equal(ds.numClasses, 2);
      const header = encodeCanonical({
        format: "dataset/1",
        count: 4,
        featureShape: [2],
        labelShape: [],
        numClasses: 2,
      });
      const expected = await sha256Hex(
        concatBytes([
          header,
          new Uint8Array(ds.features.buffer),
          new Uint8Array(ds.labels.buffer),
        ]),
      );
      assert.equal(ds.id, expected);
      assert.equal((await xor("another name")).id, ds.id);
    },
  );

  await t.step("any change of content changes the id", async () => {
    const base = await xor();
    const changedLabel = await createDataset({
      name: "xor",
      featureShape: [2],
      features: new Float32Array([0, 0, 0, 1, 1, 0, 1, 1]),
      labels: new Float32Array([0, 1, 1, 1]),
      numClasses: 2,
    });
    const reshaped = await createDataset({
      name: "xor",
      featureShape: [1],
      features: new Float32Array([0, 0, 0, 1, 1, 0, 1, 1]),
      labelShape: [],
      labels: new Float32Array([0, 1, 1, 0, 0, 1, 1, 0]),
      numClasses: 2,
    });
    const noClasses = await createDataset({
      name: "xor",
      featureShape: [2],
      features: new Float32Array([0, 0, 0, 1, 1, 0, 1, 1]),
      labels: new Float32Array([0, 1, 1, 0]),
    });
    const ids = new Set([base.id, changedLabel.id, reshaped.id, noClasses.id]);
    assert.equal(ids.size, 4);
  });

  const good = {
    name: "d",
    featureShape: [2],
    features: new Float32Array([1, 2, 3, 4]),
    labels: new Float32Array([0, 1]),
  };
  const cases: [string, Record<string, unknown>, string][] = [
    [
      "features not a multiple of the row size",
      { features: new Float32Array(3) },
      "DATASET_SHAPE_MISMATCH",
    ],
    ["label count differs", { labels: new Float32Array(3) }, "DATASET_SHAPE_MISMATCH"],
    ["NaN feature", { features: new Float32Array([1, NaN, 3, 4]) }, "DATASET_BAD_VALUE"],
    ["infinite label", { labels: new Float32Array([0, -Infinity]) }, "DATASET_BAD_VALUE"],
    ["class index out of range", { numClasses: 1 }, "DATASET_BAD_VALUE"],
    [
      "fractional class index",
      { labels: new Float32Array([0, 0.5]), numClasses: 2 },
      "DATASET_BAD_VALUE",
    ],
    ["zero dimension", { featureShape: [0] }, "DATASET_INVALID_PARAM"],
    ["fractional dimension", { featureShape: [1.5] }, "DATASET_INVALID_PARAM"],
    [
      "a class index out of range in a sequence label",
      { numClasses: 2, labelShape: [2], labels: new Float32Array([0, 1, 1, 2]) },
      "DATASET_BAD_VALUE",
    ],
    ["numClasses zero", { numClasses: 0 }, "DATASET_INVALID_PARAM"],
    ["features as a plain array", { features: [1, 2, 3, 4] }, "DATASET_INVALID_PARAM"],
    ["features as float64", { features: new Float64Array(4) }, "DATASET_INVALID_PARAM"],
  ];
  for (const [what, change, code] of cases) {
    await t.step(`rejects ${what}`, async () => {
      await rejectsWith(createDataset({ ...good, ...change } as typeof good), code);
    });
  }

  await t.step("ids are deterministic and name-independent (property)", async () => {
    await fc.assert(
      fc.asyncProperty(arbDataset, async (made) => {
        const ds = await made;
        const again = await createDataset({
          name: ds.name + "!",
          featureShape: [...ds.featureShape],
          features: ds.features.slice(),
          labels: ds.labels.slice(),
          numClasses: ds.numClasses,
        });
        assert.equal(again.id, ds.id);
      }),
      { numRuns: 50 },
    );
  });
});

Deno.test("slice and split", async (t) => {
  const ds = await createDataset({
    name: "ten",
    featureShape: [3],
    features: Float32Array.from({ length: 30 }, (_, i) => i),
    labels: Float32Array.from({ length: 10 }, (_, i) => i % 4),
    numClasses: 4,
  });

  await t.step("sliceDataset keeps rows [start, end)", async () => {
    const s = await sliceDataset(ds, 2, 5);
    assert.equal(s.count, 3);
    assert.equal(s.name, "ten[2:5]");
    assert.deepEqual(Array.from(s.features), [6, 7, 8, 9, 10, 11, 12, 13, 14]);
    assert.deepEqual(Array.from(s.labels), [2, 3, 0]);
    assert.equal(s.numClasses, 4);
  });

  await t.step("splitDataset halves re-join to the original (property)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 10 }), async (at) => {
        const [head, tail] = await splitDataset(ds, { at });
        assert.equal(head.count, at);
        assert.equal(tail.count, 10 - at);
        assert.deepEqual(
          Array.from(concatBytes([
            new Uint8Array(head.features.slice().buffer),
            new Uint8Array(tail.features.slice().buffer),
          ])),
          Array.from(new Uint8Array(ds.features.slice().buffer)),
        );
        assert.deepEqual([...head.labels, ...tail.labels], [...ds.labels]);
      }),
    );
    const [all, none] = await splitDataset(ds, { at: 10 });
    assert.equal(all.id, ds.id);
    assert.equal(none.count, 0);
  });

  await t.step("rejects out-of-range bounds", async () => {
    await rejectsWith(sliceDataset(ds, 5, 4), "DATASET_INVALID_PARAM");
    await rejectsWith(sliceDataset(ds, 0, 11), "DATASET_INVALID_PARAM");
    await rejectsWith(splitDataset(ds, { at: 11 }), "DATASET_INVALID_PARAM");
    await rejectsWith(splitDataset(ds, { at: 0.5 }), "DATASET_INVALID_PARAM");
  });
});

Deno.test("gatherBatch", async (t) => {
  await t.step("copies rows in index order, narrow rows", async () => {
    const ds = await xor();
    const { features, labels } = gatherBatch(ds, new Uint32Array([3, 0, 3]));
    assert.deepEqual(Array.from(features), [1, 1, 0, 0, 1, 1]);
    assert.deepEqual(Array.from(labels), [0, 0, 0]);
  });

  await t.step("copies rows in index order, wide rows and shaped labels", async () => {
    const ds = await createDataset({
      name: "wide",
      featureShape: [4, 5],
      features: Float32Array.from({ length: 60 }, (_, i) => i),
      labelShape: [2],
      labels: Float32Array.from({ length: 6 }, (_, i) => -i),
    });
    const { features, labels } = gatherBatch(ds, new Uint32Array([2, 1]));
    assert.deepEqual(
      Array.from(features),
      [
        ...Array.from({ length: 20 }, (_, i) => 40 + i),
        ...Array.from({ length: 20 }, (_, i) => 20 + i),
      ],
    );
    assert.deepEqual(Array.from(labels), [-4, -5, -2, -3]);
  });

  await t.step("rejects an index past the end", async () => {
    const ds = await xor();
    assert.throws(
      () => gatherBatch(ds, new Uint32Array([0, 4])),
      (e) => e instanceof DatasetError && e.code === "DATASET_INVALID_PARAM",
    );
  });
});

Deno.test("encodeDataset / decodeDataset", async (t) => {
  await t.step("round trip keeps id, name, shapes and values (property)", async () => {
    await fc.assert(
      fc.asyncProperty(arbDataset, async (made) => {
        const ds = await made;
        const back = await decodeDataset(encodeDataset(ds));
        assert.equal(back.id, ds.id);
        assert.equal(back.name, ds.name);
        assert.equal(back.count, ds.count);
        assert.deepEqual(back.featureShape, ds.featureShape);
        assert.deepEqual(back.labelShape, ds.labelShape);
        assert.equal(back.numClasses, ds.numClasses);
        assert.deepEqual(back.features, ds.features);
        assert.deepEqual(back.labels, ds.labels);
      }),
      { numRuns: 100 },
    );
  });

  await t.step("decodes from an unaligned view", async () => {
    const ds = await xor();
    const blob = encodeDataset(ds);
    const shifted = new Uint8Array(blob.length + 3);
    shifted.set(blob, 3);
    assert.equal((await decodeDataset(shifted.subarray(3))).id, ds.id);
  });

  await t.step("every truncation is DATASET_TRUNCATED", async () => {
    const blob = encodeDataset(await xor());
    for (let cut = 0; cut < blob.length; cut++) {
      await rejectsWith(decodeDataset(blob.subarray(0, cut)), "DATASET_TRUNCATED");
    }
  });

  await t.step("a flipped data bit is DATASET_CORRUPT", async () => {
    const ds = await createDataset({
      name: "r",
      featureShape: [3],
      features: new Float32Array([0.25, 1.5, -3, 7, 8, 9]),
      labels: new Float32Array([1.5, 2.5]),
    });
    const blob = encodeDataset(ds);
    const dataStart = blob.length - (6 + 2) * 4;
    for (let at = dataStart; at < blob.length; at += 4) {
      const bad = blob.slice();
      bad[at] ^= 0x01; // lowest mantissa bit: still a finite float, different bytes
      await rejectsWith(decodeDataset(bad), "DATASET_CORRUPT");
    }
  });

  await t.step("trailing bytes, foreign header or format are DATASET_CORRUPT", async () => {
    const blob = encodeDataset(await xor());
    await rejectsWith(decodeDataset(concatBytes([blob, new Uint8Array(1)])), "DATASET_CORRUPT");
    const headerLength = new DataView(blob.buffer).getUint32(0, true);
    const header = new TextDecoder().decode(blob.subarray(4, 4 + headerLength));
    const swap = (from: string, to: string): Uint8Array => {
      const text = new TextEncoder().encode(header.replace(from, to));
      assert.equal(text.length, headerLength);
      const out = blob.slice();
      out.set(text, 4);
      return out;
    };
    await rejectsWith(decodeDataset(swap('"dataset/1"', '"dataset/2"')), "DATASET_CORRUPT");
    await rejectsWith(decodeDataset(swap('{"count"', ' {"count')), "DATASET_CORRUPT");
    const garbage = blob.slice();
    garbage.fill(0xff, 4, 4 + headerLength);
    await rejectsWith(decodeDataset(garbage), "DATASET_CORRUPT");
  });
});
