/**
 * Reference model builders: the architectures the demo, benches and docs use, so everyone means
 * the same model by "the MNIST MLP".
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import type { LayersModel } from "./model.ts";

/** Options of {@link mlp}. */
export interface MlpOptions {
  /** Features per example. Default 784 (MNIST). */
  inputs?: number;
  /** Hidden layer widths. Default `[256, 128]`. */
  hidden?: readonly number[];
  /** Output classes (logits). Default 10. */
  classes?: number;
}

/**
 * A multilayer perceptron with ReLU hidden layers and a logits output: by default the
 * 784-256-128-10 MNIST reference model.
 *
 * @example
 * ```ts
 * import { mlp } from "./zoo.ts";
 * const model = mlp(); // 784-256-128-10
 * const small = mlp({ hidden: [32] });
 * ```
 */
export function mlp(options: MlpOptions = {}): LayersModel {
  const inputs = options.inputs ?? 784;
  const hidden = options.hidden ?? [256, 128];
  return tf.sequential({
    layers: [
      ...hidden.map((units, i) =>
        tf.layers.dense({ ...(i === 0 ? { inputShape: [inputs] } : {}), units, activation: "relu" })
      ),
      tf.layers.dense({
        ...(hidden.length === 0 ? { inputShape: [inputs] } : {}),
        units: options.classes ?? 10,
      }),
    ],
  });
}
