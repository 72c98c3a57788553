/**
 * The commitment overhead of training, measured side by side: what `deno task bench trainer`
 * reports as `train.commit_overhead` and `deno task bench verify` adds into
 * `verify.honest_overhead`.
 *
 * Blocks of `k` steps, each either plain or with a checkpoint, alternate in order. This VM's speed
 * drifts by tens of percent over seconds, so whole runs compared one after the other cannot
 * resolve 1%; adjacent short blocks share the same conditions, and the median of the pairs' ratios
 * ignores the odd stalled block. A checkpoint block holds all of one checkpoint's work: it
 * checkpoints after its first step (read-out and encoding on the training thread, hashing and
 * writing to the store in the background, exactly as `trainWithProof` does), and its time runs
 * until that checkpoint is stored, so no background work spills into the next block. One pair
 * first, not counted, warms up that path.
 *
 * @module
 */

import type { Trainer } from "../lib/exec/trainer.ts";
import { CheckpointWriter } from "../lib/proof/checkpoint.ts";
import type { BlobStore } from "../lib/proof/store.ts";

/** What {@link measureCommitOverhead} measured. */
export interface CommitOverhead {
  /** Median over the pairs of (checkpoint block time / plain block time) - 1. */
  readonly overhead: number;
  /** Time of all plain blocks, ms (for a throughput figure). */
  readonly plainMs: number;
  /** Steps trained in the plain blocks. */
  readonly plainSteps: number;
}

/** Measures the commitment overhead of `trainer` at checkpoint interval `k` over `pairs` pairs. */
export async function measureCommitOverhead(
  trainer: Trainer,
  store: BlobStore,
  options: { k: number; pairs: number },
): Promise<CommitOverhead> {
  const { k, pairs } = options;
  const writer = new CheckpointWriter(store);
  const ratios: number[] = [];
  let plainMs = 0;
  let state = trainer.initialState();
  try {
    for (let pair = -1; pair < pairs; pair++) {
      const times = { plain: 0, committed: 0 };
      for (
        const kind of pair % 2 === 0
          ? ["plain", "committed"] as const
          : ["committed", "plain"] as const
      ) {
        const from = { ...state, step: k - 1 }; // the block's first step ends on a checkpoint
        const t = performance.now();
        if (kind === "plain") {
          state = await trainer.run(from, k);
        } else {
          let stored: Promise<unknown> = Promise.resolve();
          state = await trainer.run(from, k, {
            checkpointEvery: k,
            onCheckpoint: (s) => {
              stored = writer.add(s);
            },
          });
          await stored;
        }
        times[kind] = performance.now() - t;
      }
      if (pair < 0) continue;
      plainMs += times.plain;
      ratios.push(times.committed / times.plain);
    }
  } finally {
    await writer.finish();
  }
  ratios.sort((a, b) => a - b);
  const mid = Math.floor(pairs / 2);
  const median = pairs % 2 === 0 ? (ratios[mid - 1] + ratios[mid]) / 2 : ratios[mid];
  return { overhead: median - 1, plainMs, plainSteps: pairs * k };
}
