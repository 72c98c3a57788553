/**
 * Checks a job on the submitter's own machine before any money moves: the mistakes a provider
 * would only find after the payment is escrowed (a profile nobody runs, a batch larger than a
 * shard, labels that do not fit the outputs, a model that does not build or whose first step
 * fails) fail here with the same typed errors the provider would have raised.
 *
 * @module
 */

import { ProfileMismatchError } from "../core/errors.ts";
import { type Dataset, sliceDataset } from "../exec/dataset.ts";
import { buildModel, type ModelSpec } from "../exec/model.ts";
import { currentProfile, getProfile } from "../exec/profile.ts";
import { createSampler } from "../exec/sampler.ts";
import { checkDataFitsModel, Trainer } from "../exec/trainer.ts";
import type { JobSpec } from "../proof/job.ts";

/** Examples the first-step check trains on (at most; fewer when the batch is smaller). */
const CHECK_EXAMPLES = 8;

/** What {@link checkJobLocally} checks. */
export interface LocalCheckOptions {
  /** The job about to be escrowed. */
  spec: JobSpec;
  /** Its model. */
  modelSpec: ModelSpec;
  /** Its training data. */
  data: Dataset;
  /**
   * Profiles the providers known to this submitter run, when it knows them (its own local
   * providers); the job's profile must be one of them. Undefined: not checked.
   */
  providerProfiles?: readonly string[];
}

/**
 * Runs the job's checks locally; throws the typed error a provider would have raised.
 *
 * - The profile exists and, when the providers are known, one of them runs it
 *   (`PROFILE_NOT_OFFERED`).
 * - `batchSize` fits the data, or every worker's shard of it (`SPEC_INVALID_SAMPLER`...).
 * - The model builds and the labels fit its outputs (`DatasetError`s of the trainer).
 * - One training step on a few examples runs under the job's profile with a finite loss, when this
 *   process can run that profile without switching away from the one it runs.
 *
 * @example
 * ```ts ignore
 * import { checkJobLocally } from "./precheck.ts";
 * await checkJobLocally({ spec, modelSpec, data, providerProfiles: ["wasm-simd-1t+k1@tfjs-4.22.0"] });
 * ```
 */
export async function checkJobLocally(options: LocalCheckOptions): Promise<void> {
  const { spec, modelSpec, data } = options;
  const profile = getProfile(spec.profile);
  const offered = options.providerProfiles;
  if (offered !== undefined && !offered.some((p) => getProfile(p).id === profile.id)) {
    throw new ProfileMismatchError(
      "PROFILE_NOT_OFFERED",
      `no provider of this network runs profile ${profile.id}; its providers run ${
        [...new Set(offered)].join(", ") || "nothing (it has no providers)"
      }: pick one of those with \`profile\``,
      { value: { profile: profile.id, offered } },
    );
  }
  const workers = spec.distributed?.workers ?? 1;
  createSampler({
    count: data.count,
    seed: spec.dataSeed,
    batchSize: spec.batchSize,
    ...(spec.shard
      ? { shard: spec.shard }
      : workers > 1
      ? { shard: { index: 0, of: workers } }
      : {}),
  });
  const active = currentProfile();
  if (active === undefined || active.id === profile.id) {
    const examples = Math.min(CHECK_EXAMPLES, spec.batchSize, data.count);
    const few = await sliceDataset(data, 0, examples);
    const trainer = await Trainer.create({
      spec: modelSpec,
      dataset: few,
      batchSize: examples,
      dataSeed: spec.dataSeed,
      profile: profile.id,
    });
    try {
      // Every example's labels, not only the few trained on.
      checkDataFitsModel(modelSpec, trainer.model, data);
      await trainer.run(trainer.initialState(), 1);
    } finally {
      trainer.dispose();
    }
    return;
  }
  // This process runs another profile (switching would disturb work in flight): check that the
  // model builds and the data fits it on the backend it has.
  const model = await buildModel(modelSpec);
  try {
    checkDataFitsModel(modelSpec, model, data);
  } finally {
    model.dispose();
  }
}
