/**
 * Optimizer update rules as explicit tfjs ops on explicit slot variables.
 *
 * tfjs' built-in optimizers hide their slots and choose their own op order; here every slot is a
 * named variable of the training state and each update is a fixed sequence of elementwise ops,
 * applied to the trainable weights in canonical order. That makes the update reproducible and its
 * state committable.
 *
 * @module
 */

import * as tf from "npm:@tensorflow/tfjs@4.22.0";
import { adamUpdate } from "./kernels/mod.ts";
import type { OptimizerConfig } from "./model.ts";

/** Names of the slot variables an optimizer keeps per trainable weight, in canonical order. */
export function slotNames(config: OptimizerConfig): readonly string[] {
  switch (config.name) {
    case "sgd":
      return [];
    case "momentum":
      return ["momentum"];
    case "adam":
      return ["adam_m", "adam_v"];
  }
}

/**
 * Applies one update to `weight` given its gradient and slots, for optimizer step `step`
 * (1-based, used by Adam's bias correction). Slots are updated in place.
 */
export function applyUpdate(
  config: OptimizerConfig,
  step: number,
  weight: tf.Variable,
  grad: tf.Tensor,
  slots: readonly tf.Variable[],
): void {
  tf.tidy(() => {
    switch (config.name) {
      case "sgd":
        weight.assign(tf.sub(weight, tf.mul(grad, config.learningRate)));
        return;
      case "momentum": {
        // v = m*v + g; w -= lr*v, or with Nesterov w -= lr*(g + m*v) (Sutskever et al. 2013).
        const [v] = slots;
        const next = tf.add(tf.mul(v, config.momentum), grad);
        v.assign(next);
        const direction = config.nesterov ? tf.add(grad, tf.mul(next, config.momentum)) : next;
        weight.assign(tf.sub(weight, tf.mul(direction, config.learningRate)));
        return;
      }
      case "adam": {
        // Kingma & Ba 2015, Algorithm 1, with the bias corrections folded into the step size; one
        // fused kernel under the wasm profiles (lib/exec/kernels/fused.ts).
        const [m, v] = slots;
        const { beta1, beta2, epsilon, learningRate } = config;
        const [w1, m1, v1] = adamUpdate(weight, grad, m, v, {
          learningRate,
          beta1,
          beta2,
          epsilon,
          step,
        });
        m.assign(m1);
        v.assign(v1);
        weight.assign(w1);
        return;
      }
    }
  });
}
