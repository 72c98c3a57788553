import assert from "node:assert/strict";
import { SpecError } from "../../lib/core/errors.ts";
import { buildModel, decodeModelSpec, defineModel, encodeModelSpec } from "../../lib/exec/model.ts";
import { Trainer } from "../../lib/exec/trainer.ts";
import { commitState } from "../../lib/proof/commitment.ts";
import { cnn, gpt } from "../../lib/exec/zoo.ts";
import { createDataset } from "../../lib/exec/dataset.ts";

const isSpecError = (code: string) => (e: unknown) => e instanceof SpecError && e.code === code;

/** A child process decodes the spec bytes and prints the commitment of its initial state. */
const CHILD = `
import { decodeModelSpec } from "${new URL("../../lib/exec/model.ts", import.meta.url)}";
import { Trainer } from "${new URL("../../lib/exec/trainer.ts", import.meta.url)}";
import { createDataset } from "${new URL("../../lib/exec/dataset.ts", import.meta.url)}";
import { commitState } from "${new URL("../../lib/proof/commitment.ts", import.meta.url)}";
const [specHex, featureSize, labelSize, classes] = JSON.parse(await new Response(Deno.stdin.readable).text());
const spec = await decodeModelSpec(Uint8Array.from(specHex.match(/../g).map((h) => parseInt(h, 16))));
const dataset = await createDataset({ name: "d", featureShape: featureSize, labelShape: labelSize,
  features: new Float32Array(featureSize.reduce((a, b) => a * b, 1)),
  labels: new Float32Array(labelSize.reduce((a, b) => a * b, 1)), numClasses: classes });
const trainer = await Trainer.create({ spec, dataset, batchSize: 1 });
console.log(await commitState(trainer.initialState()));
`;

async function initialStateElsewhere(
  specBytes: Uint8Array,
  featureShape: number[],
  labelShape: number[],
  classes: number,
): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", CHILD],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  const hex = Array.from(specBytes, (b) => b.toString(16).padStart(2, "0")).join("");
  await writer.write(
    new TextEncoder().encode(JSON.stringify([hex, featureShape, labelShape, classes])),
  );
  await writer.close();
  const out = await child.output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout).trim();
}

Deno.test("model zoo", async (t) => {
  await t.step("cnn(): LeNet-style shapes and options", () => {
    const model = cnn();
    assert.deepEqual(model.inputs[0].shape, [null, 784]);
    assert.deepEqual(model.outputs[0].shape, [null, 10]);
    const classes = model.layers.map((l) => l.getClassName());
    assert.deepEqual(classes, [
      "Reshape",
      "Conv2D",
      "MaxPooling2D",
      "Conv2D",
      "MaxPooling2D",
      "Flatten",
      "Dense",
    ]);
    const lenet = cnn({ filters: [6, 16], kernelSize: 5, hidden: [120, 84] });
    assert.equal(lenet.countParams(), 6 * 26 + 16 * 151 + 256 * 120 + 120 + 121 * 84 + 85 * 10);
    model.dispose();
    lenet.dispose();
  });

  await t.step("gpt(): a decoder-only transformer with its options checked", () => {
    const model = gpt({ vocab: 11, context: 8, width: 16, heads: 4, depth: 3 });
    assert.deepEqual(model.inputs[0].shape, [null, 8]);
    assert.deepEqual(model.outputs[0].shape, [null, 8, 11]);
    const names = model.layers.map((l) => l.getClassName());
    assert.equal(names.filter((n) => n === "CausalSelfAttention").length, 3);
    assert.equal(names.filter((n) => n === "LayerNormalization").length, 7);
    assert.equal(names.filter((n) => n === "PositionEmbedding").length, 1);
    model.dispose();
    assert.throws(
      () => gpt({ vocab: 11, width: 10, heads: 4 }),
      isSpecError("SPEC_INVALID_TOPOLOGY"),
    );
    assert.throws(() => gpt({ vocab: 0 }), isSpecError("SPEC_INVALID_TOPOLOGY"));
  });

  for (
    const [name, make, feature, label, classes] of [
      ["cnn", () => cnn(), [784], [], 10],
      ["gpt", () => gpt({ vocab: 13, context: 6, width: 8, heads: 2, depth: 1 }), [6], [6], 13],
    ] as const
  ) {
    await t.step(
      `${name}: a spec made here rebuilds the same model in another process`,
      async () => {
        const model = make();
        const spec = await defineModel(model, { seed: 9 });
        model.dispose();
        const again = await decodeModelSpec(encodeModelSpec(spec));
        assert.equal(again.id, spec.id);
        const dataset = await createDataset({
          name: "d",
          featureShape: [...feature],
          labelShape: [...label],
          features: new Float32Array(feature.reduce((a, b) => a * b, 1)),
          labels: new Float32Array((label as readonly number[]).reduce((a, b) => a * b, 1)),
          numClasses: classes,
        });
        const trainer = await Trainer.create({ spec, dataset, batchSize: 1 });
        const here = await commitState(trainer.initialState());
        trainer.dispose();
        const there = await initialStateElsewhere(
          encodeModelSpec(spec),
          [...feature],
          [...label],
          classes,
        );
        assert.equal(there, here);
      },
    );
  }

  await t.step("a spec naming an unknown layer class is refused with a typed error", async () => {
    const model = gpt({ vocab: 5, context: 4, width: 4, heads: 1, depth: 1 });
    const spec = await defineModel(model, { seed: 1 });
    model.dispose();
    const topology = structuredClone(spec.topology) as {
      config: { layers: { class_name: string }[] };
    };
    const attention = topology.config.layers.findIndex((l) =>
      l.class_name === "CausalSelfAttention"
    );
    topology.config.layers[attention].class_name = "FlashAttention9000";
    const forged = new TextEncoder().encode(
      new TextDecoder().decode(encodeModelSpec(spec)).replace(
        '"CausalSelfAttention"',
        '"FlashAttention9000"',
      ),
    );
    await assert.rejects(() => decodeModelSpec(forged), isSpecError("SPEC_UNKNOWN_LAYER"));
    const dropout = new TextEncoder().encode(
      new TextDecoder().decode(encodeModelSpec(spec)).replace('"CausalSelfAttention"', '"Dropout"'),
    );
    await assert.rejects(
      () => decodeModelSpec(dropout),
      (e) =>
        isSpecError("SPEC_NONDETERMINISTIC_LAYER")(e) && /remove it/.test((e as Error).message),
    );
    await assert.rejects(
      () => buildModel({ ...spec, topology: topology as never }),
      isSpecError("SPEC_INVALID_TOPOLOGY"),
    );
  });
});
