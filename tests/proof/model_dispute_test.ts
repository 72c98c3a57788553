import assert from "node:assert/strict";
import { createDataset } from "../../lib/exec/dataset.ts";
import { defineModel, type LayersModel } from "../../lib/exec/model.ts";
import type { TrainingState } from "../../lib/exec/state.ts";
import { Trainer } from "../../lib/exec/trainer.ts";
import { cnn, gpt } from "../../lib/exec/zoo.ts";
import { forgeRecording, runDispute, trainParty } from "../../lib/proof/dispute.ts";
import { mnistSubset } from "../_fixtures/mlp.ts";

/** The state with one bit of the first variable flipped when it reaches `step`. */
function flipAt(step: number) {
  return (state: TrainingState): TrainingState => {
    if (state.step !== step) return state;
    const data = state.variables[0].data.slice();
    new Uint32Array(data.buffer)[3] ^= 1 << 15;
    return { ...state, variables: [{ ...state.variables[0], data }, ...state.variables.slice(1)] };
  };
}

Deno.test("disputes inside a convnet's and a transformer's backward pass end at one kernel", async (t) => {
  const text = "in the beginning god created the heaven and the earth. ".repeat(12);
  const ids = [...text].map((c) => " .abcdefghijklmnopqrstuvwxyz".indexOf(c));
  const windows = Math.floor((ids.length - 1) / 8);
  const tokens = await createDataset({
    name: "text",
    featureShape: [8],
    labelShape: [8],
    features: Float32Array.from(ids.slice(0, windows * 8)),
    labels: Float32Array.from(ids.slice(1, windows * 8 + 1)),
    numClasses: 28,
  });
  const cases: [string, () => LayersModel, () => Promise<typeof tokens>, string[]][] = [
    ["cnn", () => cnn(), () => mnistSubset(256), ["Conv2DBackpropFilter", "MaxPoolGrad"]],
    [
      "gpt",
      () => gpt({ vocab: 28, context: 8, width: 16, heads: 2, depth: 1 }),
      () => Promise.resolve(tokens),
      ["CausalAttentionGrad", "LayerNormGrad", "GeluGrad", "UnsortedSegmentSum"],
    ],
  ];
  for (const [name, build, load, kernels] of cases) {
    const dataset = await load();
    const model = build();
    const spec = await defineModel(model, {
      seed: 2,
      optimizer: { name: "adam", learningRate: 1e-2 },
    });
    model.dispose();
    const make = () => Trainer.create({ spec, dataset, batchSize: 8 });
    const [verifier, cheater] = [await make(), await make()];
    try {
      const challenger = await trainParty(verifier, { steps: 8, k: 4 });
      for (const kernel of kernels) {
        await t.step(`${name}: records forged at ${kernel}`, async () => {
          const provider = await trainParty(cheater, {
            steps: 8,
            k: 4,
            cheat: {
              afterStep: flipAt(6),
              recording: (honest, claimed) => forgeRecording(honest, claimed, { kernel }),
            },
          });
          const path = await runDispute({ challenger, provider, referee: verifier });
          assert.ok(path);
          assert.equal(path.step, 5);
          assert.equal(path.kernel, kernel);
          assert.equal(path.verdict.winner, "challenger");
          assert.deepEqual(path.verdict.faults.map((f) => [f.side, f.reason]), [[
            "provider",
            "wrong-output",
          ]]);
          assert.equal(path.verdict.kernelsRun, 1);
        });
      }
      await t.step(`${name}: an honest provider is not disputed`, async () => {
        assert.equal(
          await runDispute({
            challenger,
            provider: await trainParty(cheater, { steps: 8, k: 4 }),
            referee: verifier,
          }),
          null,
        );
      });
    } finally {
      verifier.dispose();
      cheater.dispose();
    }
  }
});
