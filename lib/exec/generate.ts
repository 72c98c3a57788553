/**
 * Text generation from a trained causal language model (the zoo's `gpt()` or any model that maps
 * `[context]` token ids to `[context, vocab]` next-token logits).
 *
 * Each new token comes from the logits at the last position of the window: the prompt's ids (its
 * last `context` when longer) followed by zeros. The zeros change nothing, since a causal model's
 * position `i` only attends to positions up to `i`. With temperature 0 the arg-max is taken;
 * otherwise one draw from `softmax(logits / temperature)` (computed in float64) with the
 * toolkit's seeded generator (xoshiro128**), so the same model, prompt, options and profile give
 * the same text every time.
 *
 * @module
 */

import * as tf from "npm:@tensorflow/tfjs@4.22.0";
import { SpecError } from "../core/errors.ts";
import type { LayersModel } from "./model.ts";
import { Xoshiro128ss } from "./sampler.ts";
import type { Tokenizer } from "./text.ts";

/** Options of {@link generate}. */
export interface GenerateOptions {
  /** The tokenizer of the model's training data. */
  tokenizer: Tokenizer;
  /** Tokens to generate. Default 100. */
  tokens?: number;
  /** Sampling temperature; 0 takes the most likely token. Default 1. */
  temperature?: number;
  /** Seed of the draws. Default 0. */
  seed?: number;
}

/**
 * Continues `prompt` with `tokens` tokens sampled from `model`; returns the continuation.
 *
 * @example
 * ```ts
 * import { generate } from "./generate.ts";
 * declare const model: import("./model.ts").LayersModel;
 * declare const data: import("./text.ts").TextDataset;
 * const text = generate(model, "And God said", { tokenizer: data.tokenizer, tokens: 80, seed: 1 });
 * ```
 */
export function generate(model: LayersModel, prompt: string, options: GenerateOptions): string {
  const { tokenizer } = options;
  const tokens = options.tokens ?? 100;
  const temperature = options.temperature ?? 1;
  const seed = options.seed ?? 0;
  const inputShape = model.inputs[0].shape;
  const outputShape = model.outputs[0].shape;
  const context = inputShape[1];
  const vocab = outputShape[outputShape.length - 1];
  if (
    inputShape.length !== 2 || outputShape.length !== 3 || typeof context !== "number" ||
    typeof vocab !== "number"
  ) {
    throw new SpecError(
      "SPEC_NOT_A_LANGUAGE_MODEL",
      `generate needs a model from [context] token ids to [context, vocab] logits; this one maps ` +
        `[${inputShape.slice(1)}] to [${outputShape.slice(1)}]`,
    );
  }
  if (vocab !== tokenizer.vocabSize) {
    throw new SpecError(
      "SPEC_NOT_A_LANGUAGE_MODEL",
      `the model predicts ${vocab} tokens but the tokenizer has ${tokenizer.vocabSize}; pass the ` +
        "tokenizer of the data it was trained on",
      { value: { model: vocab, tokenizer: tokenizer.vocabSize } },
    );
  }
  if (
    !Number.isSafeInteger(tokens) || tokens < 0 || !(temperature >= 0) ||
    !Number.isSafeInteger(seed)
  ) {
    throw new SpecError(
      "SPEC_INVALID_PARAM",
      `generate takes an integer tokens >= 0, a temperature >= 0 and an integer seed; got ` +
        `${tokens}, ${temperature}, ${seed}`,
    );
  }
  const ids = [...tokenizer.encode(prompt)];
  if (ids.length === 0) {
    throw new SpecError("SPEC_INVALID_PARAM", "generate needs a non-empty prompt", {
      value: prompt,
    });
  }
  const random = new Xoshiro128ss(seed, 0);
  const out: number[] = [];
  const window = new Float32Array(context);
  for (let n = 0; n < tokens; n++) {
    const recent = ids.slice(-context);
    window.fill(0);
    window.set(recent);
    const logits = tf.tidy(() => {
      const y = model.predict(tf.tensor(window, [1, context])) as tf.Tensor;
      return tf.slice(y, [0, recent.length - 1, 0], [1, 1, vocab]).dataSync() as Float32Array;
    });
    const next = temperature === 0 ? argMax(logits) : draw(logits, temperature, random);
    ids.push(next);
    out.push(next);
  }
  return tokenizer.decode(out);
}

function argMax(values: Float32Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/** One draw from softmax(logits / temperature), by inverting the CDF at a 53-bit uniform. */
function draw(logits: Float32Array, temperature: number, random: Xoshiro128ss): number {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v / temperature);
  const weights = Array.from(logits, (v) => Math.exp(v / temperature - max));
  const total = weights.reduce((a, b) => a + b, 0);
  const u = ((random.nextUint32() >>> 5) * 67108864 + (random.nextUint32() >>> 6)) / 2 ** 53;
  let cumulative = 0;
  for (let i = 0; i < weights.length; i++) {
    cumulative += weights[i] / total;
    if (u < cumulative) return i;
  }
  return weights.length - 1;
}
