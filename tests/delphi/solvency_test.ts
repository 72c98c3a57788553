import assert from "node:assert/strict";
import { startDevnet } from "../../lib/chain/mod.ts";
import { runSolvencyFuzz } from "../../testing/delphi_solvency.ts";

// The bench runs 300 sequences (`deno task bench delphi`); CI runs a quick sample.
Deno.test("Delphi stays solvent over random trade sequences, resolutions and expiries", async () => {
  await using devnet = await startDevnet();
  const result = await runSolvencyFuzz(devnet, { runs: 40, seed: 1234 });
  assert.equal(result.runs, 40);
  assert.deepEqual(result.violations, []);
  assert.deepEqual(result.unexpected, []);
  assert.ok(result.resolved > 0 && result.expired > 0 && result.voided > 0);
  assert.ok(result.maxCreatorLossVsBound <= 1, `${result.maxCreatorLossVsBound}`);
});
