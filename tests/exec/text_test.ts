import assert from "node:assert/strict";
import { DatasetError, SpecError } from "../../lib/core/errors.ts";
import { generate } from "../../lib/exec/generate.ts";
import { defineModel } from "../../lib/exec/model.ts";
import { createTokenizer, loadKjv, loadTextDataset } from "../../lib/exec/text.ts";
import { Trainer } from "../../lib/exec/trainer.ts";
import { gpt } from "../../lib/exec/zoo.ts";
import { splitDataset } from "../../lib/exec/dataset.ts";

const isError = (cls: typeof DatasetError | typeof SpecError, code: string) => (e: unknown) =>
  e instanceof cls && e.code === code;

Deno.test("text data", async (t) => {
  await t.step("tokenizers round-trip and refuse unknown characters", () => {
    const chars = createTokenizer("chars", { text: "the cat sat" });
    assert.equal(chars.alphabet, " acehst");
    assert.equal(chars.vocabSize, 7);
    assert.deepEqual([...chars.encode("cats")], [2, 1, 6, 5]);
    assert.equal(chars.decode(chars.encode("a cat")), "a cat");
    assert.throws(() => chars.encode("dog"), isError(DatasetError, "DATASET_BAD_VALUE"));
    const bytes = createTokenizer("bytes");
    assert.equal(bytes.vocabSize, 256);
    assert.equal(bytes.decode(bytes.encode("naïve ∑")), "naïve ∑");
    assert.throws(
      () => createTokenizer("words" as "bytes"),
      isError(DatasetError, "DATASET_INVALID_PARAM"),
    );
  });

  await t.step("windows hold the next token at every position", async () => {
    const data = await loadTextDataset({ text: "abcdefghij", context: 3 });
    assert.equal(data.count, 3); // starts 0, 3, 6 (each needs context + 1 tokens)
    assert.deepEqual(data.featureShape, [3]);
    assert.deepEqual(data.labelShape, [3]);
    assert.equal(data.numClasses, 10);
    const ids = (s: string) => [...data.tokenizer.encode(s)];
    assert.deepEqual([...data.features.subarray(3, 6)], ids("def"));
    assert.deepEqual([...data.labels.subarray(3, 6)], ids("efg"));
    const overlapping = await loadTextDataset({ text: "abcdefghij", context: 3, stride: 1 });
    assert.equal(overlapping.count, 7);
    const again = await loadTextDataset({ text: "abcdefghij", context: 3, name: "other" });
    assert.equal(again.id, data.id, "content-addressed: the name is not part of the id");
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeTextFile(`${dir}/t.txt`, "abcdefghij");
      assert.equal((await loadTextDataset({ path: `${dir}/t.txt`, context: 3 })).id, data.id);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
    await assert.rejects(
      () => loadTextDataset({ text: "abc", context: 3 }),
      isError(DatasetError, "DATASET_INVALID_PARAM"),
    );
    await assert.rejects(
      () => loadTextDataset({ text: "abcdef", context: 0 }),
      isError(DatasetError, "DATASET_INVALID_PARAM"),
    );
    await assert.rejects(
      () => loadTextDataset({ path: "/no/such/file.txt", context: 2 }),
      isError(DatasetError, "DATASET_NOT_FOUND"),
    );
  });

  await t.step("the KJV corpus is real English, cleaned of markup", async () => {
    const text = await loadKjv();
    assert.ok(text.startsWith("In the beginning God created the heaven and the earth.\n"));
    assert.ok(text.length > 4_000_000, `${text.length} characters`);
    assert.ok(!/[#[\]]/.test(text));
    assert.ok(text.includes("For God so loved the world"));
  });

  await t.step("a small GPT learns KJV text; perplexity and seeded generation", async () => {
    const data = await loadTextDataset({ text: (await loadKjv()).slice(0, 60_000), context: 16 });
    const [train, validation] = await splitDataset(data, { at: data.count - 64 });
    const model = gpt({
      vocab: data.tokenizer.vocabSize,
      context: 16,
      width: 32,
      heads: 2,
      depth: 1,
    });
    const spec = await defineModel(model, {
      seed: 3,
      optimizer: { name: "adam", learningRate: 3e-3 },
    });
    model.dispose();
    const trainer = await Trainer.create({ spec, dataset: train, batchSize: 16 });
    try {
      const before = trainer.evaluate(trainer.initialState(), validation);
      assert.ok(Math.abs(before.perplexity - Math.exp(before.loss)) < 1e-9);
      assert.ok(before.loss > 3.5, `untrained loss ${before.loss} is about ln(vocab)`);
      const end = await trainer.run(trainer.initialState(), 150);
      const after = trainer.evaluate(end, validation);
      assert.ok(after.loss < before.loss - 1, `validation loss ${before.loss} -> ${after.loss}`);
      assert.ok(after.accuracy > 0.2, `next-character accuracy ${after.accuracy}`);
      const trained = await trainer.toLayersModel(end);
      const options = { tokenizer: data.tokenizer, tokens: 40, seed: 7 };
      const a = generate(trained, "And God said", options);
      assert.equal(a.length, 40);
      assert.equal(generate(trained, "And God said", options), a, "same seed, same text");
      assert.notEqual(generate(trained, "And God said", { ...options, seed: 8 }), a);
      const greedy = generate(trained, "And God said", { ...options, temperature: 0 });
      assert.equal(
        generate(trained, "And God said", { ...options, temperature: 0, seed: 99 }),
        greedy,
      );
      assert.throws(
        () => generate(trained, "x", { tokenizer: createTokenizer("bytes") }),
        isError(SpecError, "SPEC_NOT_A_LANGUAGE_MODEL"),
      );
      trained.dispose();
    } finally {
      trainer.dispose();
    }
  });
});
