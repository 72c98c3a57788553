import assert from "node:assert/strict";
import fc from "fast-check";
import { DatasetError } from "../../lib/core/errors.ts";
import {
  encodeIdx,
  type IdxDtype,
  type IdxTensor,
  loadIdxDataset,
  parseIdx,
} from "../../lib/exec/idx.ts";

function throwsCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof DatasetError, `expected DatasetError, got ${e}`);
    assert.equal(e.code, code, e.message);
    return true;
  });
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof DatasetError, `expected DatasetError, got ${e}`);
    assert.equal(e.code, code, e.message);
    return true;
  });
}

async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "idx_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const arbShape = fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 3 });
const size = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

function arbTensor(dtype: IdxDtype): fc.Arbitrary<IdxTensor> {
  return arbShape.chain((shape) => {
    const n = size(shape);
    const len = { minLength: n, maxLength: n };
    const data: fc.Arbitrary<IdxTensor["data"]> = {
      uint8: fc.uint8Array(len),
      int8: fc.int8Array(len),
      int16: fc.int16Array(len),
      int32: fc.int32Array(len),
      float32: fc.float32Array(len),
      float64: fc.float64Array(len),
    }[dtype];
    return data.map((d) => ({ dtype, shape, data: d }));
  });
}

// A hand-written file pins the byte layout: magic 00 00 0B 02, dims 2x2, big-endian int16.
const HAND_WRITTEN = new Uint8Array([
  0x00,
  0x00,
  0x0b,
  0x02,
  0,
  0,
  0,
  2,
  0,
  0,
  0,
  2,
  0x00,
  0x01,
  0xff,
  0xfe,
  0x01,
  0x00,
  0x80,
  0x00,
]);

Deno.test("parseIdx", async (t) => {
  await t.step("reads a hand-written big-endian file", () => {
    const { dtype, shape, data } = parseIdx(HAND_WRITTEN);
    assert.equal(dtype, "int16");
    assert.deepEqual(shape, [2, 2]);
    assert.deepEqual(Array.from(data), [1, -2, 256, -32768]);
    assert.deepEqual(encodeIdx({ dtype, shape, data }), HAND_WRITTEN);
  });

  for (const dtype of ["uint8", "int8", "int16", "int32", "float32", "float64"] as const) {
    await t.step(`encodeIdx / parseIdx round trip: ${dtype} (property)`, () => {
      fc.assert(
        fc.property(arbTensor(dtype), (tensor) => {
          const back = parseIdx(encodeIdx(tensor));
          assert.equal(back.dtype, dtype);
          assert.deepEqual(back.shape, tensor.shape);
          assert.deepEqual(back.data, tensor.data); // NaN and -0 compare by value identity
        }),
        { numRuns: 50 },
      );
    });
  }

  await t.step("rejects a bad magic, naming gzip when it sees one", () => {
    throwsCode(() => parseIdx(new Uint8Array([1, 0, 8, 1, 0, 0, 0, 0])), "DATASET_BAD_MAGIC");
    throwsCode(() => parseIdx(new Uint8Array([0, 0, 0x0a, 1, 0, 0, 0, 0])), "DATASET_BAD_MAGIC");
    assert.throws(
      () => parseIdx(new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0])),
      (e) => e instanceof DatasetError && e.code === "DATASET_BAD_MAGIC" && /gzip/.test(e.message),
    );
    throwsCode(() => parseIdx(new TextEncoder().encode("label,x\n1,2\n")), "DATASET_BAD_MAGIC");
  });

  await t.step("every truncation is DATASET_TRUNCATED", () => {
    for (let cut = 0; cut < HAND_WRITTEN.length; cut++) {
      throwsCode(() => parseIdx(HAND_WRITTEN.subarray(0, cut)), "DATASET_TRUNCATED");
    }
  });

  await t.step("rejects trailing bytes as a shape mismatch", () => {
    const longer = new Uint8Array(HAND_WRITTEN.length + 2);
    longer.set(HAND_WRITTEN);
    throwsCode(() => parseIdx(longer), "DATASET_SHAPE_MISMATCH");
  });

  await t.step("encodeIdx rejects data that does not fill the shape", () => {
    throwsCode(
      () => encodeIdx({ dtype: "uint8", shape: [2, 2], data: new Uint8Array(3) }),
      "DATASET_SHAPE_MISMATCH",
    );
  });
});

Deno.test("loadIdxDataset", async (t) => {
  // 5 images of 2x3 pixels and their labels.
  const pixels = Uint8Array.from({ length: 30 }, (_, i) => (i * 37) % 256);
  const images = encodeIdx({ dtype: "uint8", shape: [5, 2, 3], data: pixels });
  const labels = encodeIdx({ dtype: "uint8", shape: [5], data: new Uint8Array([3, 1, 4, 1, 5]) });

  await t.step("loads synthetic files, plain and gzipped, to the same dataset", async () => {
    await withTempDir(async (dir) => {
      await Deno.writeFile(`${dir}/img`, images);
      await Deno.writeFile(`${dir}/lbl`, labels);
      await Deno.writeFile(`${dir}/img.gz`, await gzip(images));
      await Deno.writeFile(`${dir}/lbl.gz`, await gzip(labels));
      const plain = await loadIdxDataset({
        name: "tiny",
        imagesPath: `${dir}/img`,
        labelsPath: `${dir}/lbl`,
        numClasses: 6,
      });
      assert.equal(plain.count, 5);
      assert.deepEqual(plain.featureShape, [6]);
      assert.deepEqual(Array.from(plain.labels), [3, 1, 4, 1, 5]);
      assert.deepEqual(Array.from(plain.features), Array.from(pixels, (v) => Math.fround(v / 255)));
      const gz = await loadIdxDataset({
        name: "tiny.gz",
        imagesPath: `${dir}/img.gz`,
        labelsPath: `${dir}/lbl.gz`,
        numClasses: 6,
      });
      assert.equal(gz.id, plain.id);
    });
  });

  await t.step("applies limit and scale", async () => {
    await withTempDir(async (dir) => {
      await Deno.writeFile(`${dir}/img`, images);
      await Deno.writeFile(`${dir}/lbl`, labels);
      const ds = await loadIdxDataset({
        name: "tiny",
        imagesPath: `${dir}/img`,
        labelsPath: `${dir}/lbl`,
        scale: 2,
        limit: 2,
      });
      assert.equal(ds.count, 2);
      assert.deepEqual(Array.from(ds.features), Array.from(pixels.subarray(0, 12), (v) => 2 * v));
      assert.equal(ds.numClasses, undefined);
      const all = await loadIdxDataset({
        name: "tiny",
        imagesPath: `${dir}/img`,
        labelsPath: `${dir}/lbl`,
        limit: 100,
      });
      assert.equal(all.count, 5);
    });
  });

  await t.step("reads wider dtypes without the uint8 default scale", async () => {
    await withTempDir(async (dir) => {
      const data = new Float32Array([0.5, -1.25, 3, 4]);
      await Deno.writeFile(`${dir}/img`, encodeIdx({ dtype: "float32", shape: [2, 2], data }));
      await Deno.writeFile(
        `${dir}/lbl`,
        encodeIdx({ dtype: "int32", shape: [2], data: new Int32Array([7, -7]) }),
      );
      const ds = await loadIdxDataset({
        name: "f",
        imagesPath: `${dir}/img`,
        labelsPath: `${dir}/lbl`,
      });
      assert.deepEqual(ds.features, data);
      assert.deepEqual(Array.from(ds.labels), [7, -7]);
    });
  });

  await t.step(
    "typed errors: count mismatch, bad class, missing, truncated, corrupt gzip",
    async () => {
      await withTempDir(async (dir) => {
        await Deno.writeFile(`${dir}/img`, images);
        await Deno.writeFile(`${dir}/lbl`, labels);
        await Deno.writeFile(
          `${dir}/lbl4`,
          encodeIdx({ dtype: "uint8", shape: [4], data: new Uint8Array(4) }),
        );
        await Deno.writeFile(`${dir}/cut`, images.subarray(0, images.length - 1));
        await Deno.writeFile(`${dir}/cut.gz`, (await gzip(images)).subarray(0, 20));
        const load = (imagesPath: string, labelsPath: string, numClasses?: number) =>
          loadIdxDataset({ name: "x", imagesPath, labelsPath, numClasses });
        await rejectsWith(load(`${dir}/img`, `${dir}/lbl4`), "DATASET_SHAPE_MISMATCH");
        await rejectsWith(load(`${dir}/img`, `${dir}/lbl`, 5), "DATASET_BAD_VALUE");
        await rejectsWith(load(`${dir}/nope`, `${dir}/lbl`), "DATASET_NOT_FOUND");
        await rejectsWith(load(`${dir}/cut`, `${dir}/lbl`), "DATASET_TRUNCATED");
        await rejectsWith(load(`${dir}/cut.gz`, `${dir}/lbl`), "DATASET_TRUNCATED");
      });
    },
  );
});
