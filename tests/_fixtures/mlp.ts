/**
 * Small, fast fixtures for trainer and proof tests: an MLP spec and MNIST subsets.
 *
 * @module
 */

import { defineModel, type ModelSpec, type OptimizerInput } from "../../lib/exec/model.ts";
import { loadMnist } from "../../lib/exec/mnist.ts";
import type { Dataset } from "../../lib/exec/dataset.ts";
import { mlp } from "../../lib/exec/zoo.ts";

/** A 784-32-10 MLP spec. */
export function smallMlpSpec(
  optimizer: OptimizerInput = { name: "adam", learningRate: 0.01 },
  seed = 3,
): Promise<ModelSpec> {
  const model = mlp({ hidden: [32] });
  const spec = defineModel(model, { seed, optimizer });
  model.dispose();
  return spec;
}

/** The first `n` MNIST training examples. */
export function mnistSubset(n = 1024): Promise<Dataset> {
  return loadMnist({ split: "train", limit: n });
}
