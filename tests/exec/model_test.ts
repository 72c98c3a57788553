import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { SpecError } from "../../lib/core/errors.ts";
import { buildModel, decodeModelSpec, defineModel, encodeModelSpec } from "../../lib/exec/model.ts";
import { smallMlpSpec } from "../_fixtures/mlp.ts";

function weightsOf(model: tf.LayersModel): Float32Array[] {
  return model.getWeights().map((w) => w.dataSync() as Float32Array);
}

const isSpecError = (code: string) => (e: unknown) => e instanceof SpecError && e.code === code;

Deno.test("model specs", async (t) => {
  await t.step("spec -> bytes -> spec -> identical model, bit for bit", async () => {
    const spec = await smallMlpSpec();
    const again = await decodeModelSpec(encodeModelSpec(spec));
    assert.equal(again.id, spec.id);
    assert.deepEqual(again, spec);
    const [a, b] = [await buildModel(spec), await buildModel(again)];
    assert.deepEqual(weightsOf(a), weightsOf(b));
    assert.equal(JSON.stringify(a.toJSON(null, false)), JSON.stringify(b.toJSON(null, false)));
    a.dispose();
    b.dispose();
  });

  await t.step(
    "the same architecture built twice has one id (layer names are canonical)",
    async () => {
      const first = await smallMlpSpec();
      const second = await smallMlpSpec(); // tfjs names these layers dense_Dense3, dense_Dense4
      assert.equal(first.id, second.id);
    },
  );

  await t.step("seed, optimizer and loss are part of the identity", async () => {
    const base = await smallMlpSpec({ name: "adam", learningRate: 0.01 }, 3);
    const otherSeed = await smallMlpSpec({ name: "adam", learningRate: 0.01 }, 4);
    const otherLr = await smallMlpSpec({ name: "adam", learningRate: 0.02 }, 3);
    assert.notEqual(base.id, otherSeed.id);
    assert.notEqual(base.id, otherLr.id);
    const [a, b] = [await buildModel(base), await buildModel(otherSeed)];
    assert.notDeepEqual(weightsOf(a), weightsOf(b));
    a.dispose();
    b.dispose();
  });

  await t.step("fills optimizer defaults", async () => {
    const spec = await smallMlpSpec({ name: "momentum", learningRate: 0.1 });
    assert.deepEqual(spec.optimizer, {
      name: "momentum",
      learningRate: 0.1,
      momentum: 0.9,
      nesterov: false,
    });
  });

  await t.step("refuses layers that cannot be re-executed bit for bit", async () => {
    const model = tf.sequential({
      layers: [
        tf.layers.dense({ inputShape: [4], units: 4 }),
        tf.layers.dropout({ rate: 0.5 }),
        tf.layers.dense({ units: 2 }),
      ],
    });
    await assert.rejects(() => defineModel(model), isSpecError("SPEC_NONDETERMINISTIC_LAYER"));
    model.dispose();
  });

  await t.step("bad options and malformed bytes give typed errors", async () => {
    const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 2 })] });
    await assert.rejects(
      () => defineModel(model, { optimizer: { name: "sgd", learningRate: -1 } }),
      isSpecError("SPEC_INVALID_OPTIMIZER"),
    );
    await assert.rejects(
      // @ts-expect-error: an unknown optimizer, as untyped callers might pass
      () => defineModel(model, { optimizer: { name: "rmsprop", learningRate: 1 } }),
      isSpecError("SPEC_UNKNOWN_OPTIMIZER"),
    );
    await assert.rejects(() => defineModel(model, { seed: -1 }), isSpecError("SPEC_INVALID_SEED"));
    await assert.rejects(
      // An unknown loss, as an untyped caller might pass.
      () => defineModel(model, { loss: "hinge" as "meanSquaredError" }),
      isSpecError("SPEC_UNKNOWN_LOSS"),
    );
    assert.throws(
      // @ts-expect-error: not a model
      () => defineModel({ layers: [] }),
      isSpecError("SPEC_NOT_A_MODEL"),
    );
    const enc = new TextEncoder();
    await assert.rejects(
      () => decodeModelSpec(enc.encode("{not json")),
      isSpecError("SPEC_MALFORMED"),
    );
    await assert.rejects(
      () => decodeModelSpec(enc.encode('{"format":"model-spec/9"}')),
      isSpecError("SPEC_UNSUPPORTED_FORMAT"),
    );
    const spec = await defineModel(model);
    const body = JSON.parse(new TextDecoder().decode(encodeModelSpec(spec)));
    body.topology.config.layers = [];
    const { canonicalJson } = await import("../../lib/core/canonical.ts");
    await assert.rejects(
      () => decodeModelSpec(enc.encode(canonicalJson(body))),
      isSpecError("SPEC_INVALID_TOPOLOGY"),
    );
    model.dispose();
  });
});
