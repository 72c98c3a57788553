/**
 * The zoo's reference models as the benches (and their PyTorch references) train them: the
 * architecture options, optimizer, batch and data of `mlp`, `cnn` and `gpt`.
 *
 * @module
 */

import { type Dataset, splitDataset } from "../lib/exec/dataset.ts";
import { defineModel, type LayersModel, type ModelSpec } from "../lib/exec/model.ts";
import { loadMnist } from "../lib/exec/mnist.ts";
import { loadKjv, loadTextDataset, type Tokenizer } from "../lib/exec/text.ts";
import { cnn, gpt, mlp } from "../lib/exec/zoo.ts";

/** The bench models. */
export const MODEL_NAMES = ["mlp", "cnn", "gpt"] as const;
/** One of {@link MODEL_NAMES}. */
export type ModelName = typeof MODEL_NAMES[number];

/** A bench model: its spec, data and how to count its throughput. */
export interface BenchModel {
  /** Which model. */
  readonly name: ModelName;
  /** Architecture options, as the zoo builder and the PyTorch reference take them. */
  readonly config: Record<string, unknown>;
  /** The content-addressed spec. */
  readonly spec: ModelSpec;
  /** Examples per step. */
  readonly batch: number;
  /** Adam's learning rate. */
  readonly learningRate: number;
  /** Training data. */
  readonly train: Dataset;
  /** Held-out data (MNIST's test set; the last tenth of the KJV windows). */
  readonly test: Dataset;
  /** Units of throughput per example (1 for images, the context for text: tokens). */
  readonly unitsPerExample: number;
  /** `samples` or `tokens`. */
  readonly unit: "samples" | "tokens";
  /** The text tokenizer (gpt). */
  readonly tokenizer?: Tokenizer;
  /** Kernel to lie about in the forged-records dispute: one of the backward pass. */
  readonly backwardKernel: string;
}

/** The GPT of the benches: a character-level model of the KJV. */
export const GPT_CONFIG = { context: 64, width: 64, heads: 4, depth: 2 } as const;

/** The spec of a model trained with Adam (seed 1); the tfjs model is freed. */
async function specOf(model: LayersModel, learningRate: number): Promise<ModelSpec> {
  const spec = await defineModel(model, { seed: 1, optimizer: { name: "adam", learningRate } });
  model.dispose();
  return spec;
}

/** Builds one bench model with its data (MNIST or the KJV). */
export async function benchModel(
  name: ModelName,
  options: { limit?: number } = {},
): Promise<BenchModel> {
  const { limit } = options;
  if (name === "gpt") {
    const text = await loadKjv();
    const data = await loadTextDataset({
      text: limit ? text.slice(0, limit * GPT_CONFIG.context + 1) : text,
      context: GPT_CONFIG.context,
      name: "kjv",
    });
    const [train, test] = await splitDataset(data, { at: data.count - Math.ceil(data.count / 10) });
    const config = { vocab: data.tokenizer.vocabSize, ...GPT_CONFIG };
    const learningRate = 3e-3;
    const spec = await specOf(gpt(config), learningRate);
    return {
      name,
      config,
      spec,
      batch: 32,
      learningRate,
      train,
      test,
      unitsPerExample: GPT_CONFIG.context,
      unit: "tokens",
      tokenizer: data.tokenizer,
      backwardKernel: "CausalAttentionGrad",
    };
  }
  const train = await loadMnist({ split: "train", ...(limit ? { limit } : {}) });
  const test = await loadMnist({ split: "test" });
  const config = name === "mlp" ? { hidden: [256, 128] } : { filters: [8, 16], kernelSize: 3 };
  const learningRate = name === "mlp" ? 1e-3 : 3e-3;
  const spec = await specOf(name === "mlp" ? mlp(config) : cnn(config), learningRate);
  return {
    name,
    config,
    spec,
    batch: name === "mlp" ? 128 : 64,
    learningRate,
    train,
    test,
    unitsPerExample: 1,
    unit: "samples",
    backwardKernel: name === "mlp" ? "BatchMatMul" : "Conv2DBackpropFilter",
  };
}
