/**
 * The inside of a provider's training worker (see `train_worker.ts`): runs `executeJob` on the
 * node's store folder and reports progress, the result or a typed failure.
 *
 * @module
 */

import { BlobStore } from "../proof/store.ts";
import { executeJob } from "./executor.ts";
import { failureOf, type FromWorker, type ToWorker } from "./train_worker.ts";

// deno-lint-ignore no-explicit-any
const scope = self as any as {
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
  postMessage(message: FromWorker): void;
};

scope.onmessage = (event: MessageEvent<ToWorker>) => {
  const m = event.data;
  const abort = new AbortController();
  const stop = new Int32Array(m.stop);
  const store = new BlobStore(m.storeRoot);
  executeJob({
    spec: m.spec,
    jobId: m.jobId,
    store,
    jobDir: m.jobDir,
    signal: abort.signal,
    ...(m.stepEvery === undefined ? {} : { stepEvery: m.stepEvery }),
    onProgress: (progress) => {
      if (Atomics.load(stop, 0) === 1) abort.abort();
      scope.postMessage({ t: "progress", event: progress });
    },
  }).then(
    (result) =>
      scope.postMessage({ t: "done", finalHash: result.finalHash, traceBlob: result.traceBlob }),
    (error) => scope.postMessage({ t: "failed", error: failureOf(error) }),
  );
};
