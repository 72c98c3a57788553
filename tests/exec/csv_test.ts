import assert from "node:assert/strict";
import fc from "fast-check";
import { DatasetError } from "../../lib/core/errors.ts";
import { loadCsvDataset, parseCsvDataset } from "../../lib/exec/csv.ts";

async function rejectsWith(
  promise: Promise<unknown>,
  code: string,
  message?: RegExp,
): Promise<void> {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof DatasetError, `expected DatasetError, got ${e}`);
    assert.equal(e.code, code, e.message);
    if (message) assert.match(e.message, message);
    return true;
  });
}

Deno.test("parseCsvDataset", async (t) => {
  await t.step("header row, label by name, label column removed from features", async () => {
    const ds = await parseCsvDataset("x,class,y\n0.5,1,2\n-3,0,4e-1\n", {
      name: "toy",
      labelColumn: "class",
      numClasses: 2,
    });
    assert.equal(ds.count, 2);
    assert.deepEqual(ds.featureShape, [2]);
    assert.deepEqual(Array.from(ds.features), [0.5, 2, -3, Math.fround(0.4)]);
    assert.deepEqual(Array.from(ds.labels), [1, 0]);
    assert.equal(ds.numClasses, 2);
  });

  await t.step("no header, label by index and from the end", async () => {
    const text = "1,2,3\n4,5,6";
    const first = await parseCsvDataset(text, { name: "a", labelColumn: 0 });
    assert.deepEqual(Array.from(first.labels), [1, 4]);
    assert.deepEqual(Array.from(first.features), [2, 3, 5, 6]);
    const last = await parseCsvDataset(text, { name: "a", labelColumn: -1 });
    assert.deepEqual(Array.from(last.labels), [3, 6]);
    assert.deepEqual(Array.from(last.features), [1, 2, 4, 5]);
  });

  await t.step("quoted fields, CRLF, blank lines, spaces and a BOM", async () => {
    const text =
      '\ufeff"a, the first",\t"b ""quoted""" ,label\r\n\r\n" 1.5 ",2, 1 \r\n"3","-4","0"\r\n\n';
    const ds = await parseCsvDataset(text, { name: "q", labelColumn: "label", numClasses: 2 });
    assert.equal(ds.count, 2);
    assert.deepEqual(Array.from(ds.features), [1.5, 2, 3, -4]);
    assert.deepEqual(Array.from(ds.labels), [1, 0]);
  });

  await t.step("a bad value names its line and column", async () => {
    const text = "x,y,label\n1,2,0\n\n3,oops,1\n";
    await rejectsWith(
      parseCsvDataset(text, { name: "b", labelColumn: "label" }),
      "DATASET_BAD_VALUE",
      /line 4, column 2 \("y"\): "oops" is not a number/,
    );
  });

  await t.step("line numbers count newlines inside quoted fields", async () => {
    const text = '"multi\nline",label\n1,0\n,1\n';
    await rejectsWith(
      parseCsvDataset(text, { name: "b", labelColumn: "label" }),
      "DATASET_BAD_VALUE",
      /line 4, column 1/,
    );
  });

  const cases: [string, string, Record<string, unknown>, string, RegExp][] = [
    ["empty value", "1,,0\n", { labelColumn: 2 }, "DATASET_BAD_VALUE", /line 1, column 2/],
    ["hex value", "0x10,0\n", { labelColumn: 1 }, "DATASET_BAD_VALUE", /line 1, column 1/],
    ["Infinity", "Infinity,0\n", { labelColumn: 1 }, "DATASET_BAD_VALUE", /not a number/],
    ["float32 overflow", "1,1e39\n", { labelColumn: 0 }, "DATASET_BAD_VALUE", /column 2: 1e39/],
    ["header as data", "a,b\n1,2\n", { labelColumn: 1 }, "DATASET_BAD_VALUE", /header: true/],
    ["ragged row", "1,2,3\n4,5\n", { labelColumn: 0 }, "DATASET_SHAPE_MISMATCH", /line 2 has 2/],
    ["unclosed quote", '1,"2\n3,4\n', { labelColumn: 0 }, "DATASET_BAD_VALUE", /line 1/],
    ["text after a quote", '1,"2"x\n', { labelColumn: 0 }, "DATASET_BAD_VALUE", /line 1, column 2/],
    ["unknown label name", "a,b\n1,2\n", { labelColumn: "c" }, "DATASET_INVALID_PARAM", /"c"/],
    ["label index too big", "1,2\n", { labelColumn: 2 }, "DATASET_INVALID_PARAM", /outside/],
    [
      "label name without header",
      "1,2\n",
      { labelColumn: "a", header: false },
      "DATASET_INVALID_PARAM",
      /header/,
    ],
    ["one column", "1\n2\n", { labelColumn: 0 }, "DATASET_SHAPE_MISMATCH", /feature column/],
    ["no rows", "", { labelColumn: 0 }, "DATASET_SHAPE_MISMATCH", /no rows/],
    [
      "class out of range",
      "1,0\n2,3\n",
      { labelColumn: 1, numClasses: 3 },
      "DATASET_BAD_VALUE",
      /line 2, column 2: label 3/,
    ],
    [
      "fractional class",
      "1,0.5\n",
      { labelColumn: 1, numClasses: 3 },
      "DATASET_BAD_VALUE",
      /line 1, column 2/,
    ],
  ];
  for (const [what, text, params, code, message] of cases) {
    await t.step(`rejects: ${what}`, async () => {
      await rejectsWith(
        parseCsvDataset(text, { name: "e", ...params } as Parameters<typeof parseCsvDataset>[1]),
        code,
        message,
      );
    });
  }

  await t.step("round trip of a numeric table through CSV text (property)", async () => {
    const arbTable = fc.integer({ min: 2, max: 5 }).chain((width) =>
      fc.array(
        fc.array(fc.double({ min: -3e38, max: 3e38, noNaN: true }), {
          minLength: width,
          maxLength: width,
        }),
        { minLength: 1, maxLength: 8 },
      )
    );
    await fc.assert(
      fc.asyncProperty(arbTable, fc.boolean(), async (rows, quote) => {
        // String(-0) is "0"; write the sign so the round trip can keep it.
        const cell = (v: number) => {
          const text = Object.is(v, -0) ? "-0" : String(v);
          return quote ? `"${text}"` : text;
        };
        const text = rows.map((r) => r.map(cell).join(",")).join("\n");
        const ds = await parseCsvDataset(text, { name: "p", labelColumn: 0 });
        assert.deepEqual(Array.from(ds.labels), rows.map((r) => Math.fround(r[0])));
        assert.deepEqual(
          Array.from(ds.features),
          rows.flatMap((r) => r.slice(1).map(Math.fround)),
        );
      }),
      { numRuns: 100 },
    );
  });
});

Deno.test("loadCsvDataset", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "csv_test_" });
  try {
    await t.step("reads a file", async () => {
      await Deno.writeTextFile(`${dir}/iris.csv`, "a,b,species\n1,2,0\n3,4,2\n");
      const ds = await loadCsvDataset(`${dir}/iris.csv`, {
        name: "iris",
        labelColumn: "species",
        numClasses: 3,
      });
      assert.equal(ds.count, 2);
      assert.deepEqual(Array.from(ds.labels), [0, 2]);
    });

    await t.step("errors name the file", async () => {
      await Deno.writeTextFile(`${dir}/bad.csv`, "1,2\nx,3\n");
      await rejectsWith(
        loadCsvDataset(`${dir}/bad.csv`, { name: "b", labelColumn: 1 }),
        "DATASET_BAD_VALUE",
        /bad\.csv: line 2, column 1/,
      );
      await rejectsWith(
        loadCsvDataset(`${dir}/missing.csv`, { name: "m", labelColumn: 0 }),
        "DATASET_NOT_FOUND",
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
