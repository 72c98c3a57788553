/**
 * A cheating provider for the notebooks: it commits a checkpoint that differs from the honest one
 * by a single flipped bit, and builds the trace it would publish around it.
 *
 * Kept in a module (not a notebook cell) so it is type-checked; notebooks import it.
 *
 * @module
 */

import {
  type BlobStore,
  buildTrace,
  encodeState,
  loadCheckpoint,
  type Trace,
  VerificationError,
} from "@gensyn-deno/toolkit";

/** Options of {@link forgeCheckpoint}. */
export interface ForgeCheckpointOptions {
  /** The honest trace. */
  trace: Trace;
  /** Store holding its checkpoints; the forged checkpoint is added to it. */
  store: BlobStore;
  /** Index of the checkpoint to forge (not 0: the initial state is checked against the spec). */
  checkpoint: number;
  /** Which bit of the first weight to flip (0 = least significant). Default 0. */
  bit?: number;
}

/**
 * Flips one bit of the first weight in a checkpoint, stores the forged state, and returns the
 * trace a cheating provider would commit: the honest one with that checkpoint's hash replaced and
 * the Merkle root recomputed.
 *
 * @example
 * ```ts
 * import { forgeCheckpoint } from "./cheating.ts";
 * declare const trace: import("@gensyn-deno/toolkit").Trace;
 * declare const store: import("@gensyn-deno/toolkit").BlobStore;
 * const forged = await forgeCheckpoint({ trace, store, checkpoint: 4 });
 * ```
 */
export async function forgeCheckpoint(options: ForgeCheckpointOptions): Promise<Trace> {
  const { trace, store, checkpoint } = options;
  const bit = options.bit ?? 0;
  if (!Number.isInteger(checkpoint) || checkpoint < 1 || checkpoint >= trace.checkpoints.length) {
    throw new VerificationError(
      "VERIFY_BAD_SEGMENT",
      `checkpoint must be in 1..${trace.checkpoints.length - 1}, got ${checkpoint}`,
      { value: checkpoint },
    );
  }
  const state = await loadCheckpoint(store, trace.checkpoints[checkpoint].hash);
  const [first, ...rest] = state.variables;
  const data = first.data.slice();
  new Uint32Array(data.buffer, data.byteOffset, 1)[0] ^= 1 << bit;
  const hash = await store.put(encodeState({ ...state, variables: [{ ...first, data }, ...rest] }));
  return await buildTrace({
    plan: trace.plan,
    k: trace.k,
    steps: trace.steps,
    jobId: trace.jobId,
    checkpoints: trace.checkpoints.map((c, i) => i === checkpoint ? { ...c, hash } : c),
  });
}
