/**
 * Runs `executeJob` in its own process, printing one JSON line per progress event, so tests can
 * kill a provider mid-job for real. Args: <storeDir> <jobDir> <jobSpecPath> <jobId>.
 *
 * @module
 */

import { executeJob } from "../../lib/node/executor.ts";
import { decodeJobSpec } from "../../lib/proof/job.ts";
import { BlobStore } from "../../lib/proof/store.ts";

const [storeDir, jobDir, specPath, jobId] = Deno.args;
const spec = decodeJobSpec(await Deno.readFile(specPath));
await executeJob({
  spec,
  jobId,
  store: new BlobStore(storeDir),
  jobDir,
  stepEvery: 1,
  onProgress: (e) => console.log(JSON.stringify(e)),
});
