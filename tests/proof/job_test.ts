import assert from "node:assert/strict";
import { SpecError } from "../../lib/core/errors.ts";
import {
  createJobSpec,
  decodeJobSpec,
  encodeJobSpec,
  planOfJob,
  specHashOf,
  validateJobSpec,
} from "../../lib/proof/job.ts";

const base = {
  model: "aa".repeat(32),
  datasetBlob: "bb".repeat(32),
  datasetId: "cc".repeat(32),
  steps: 100,
  batchSize: 64,
  priceWei: 123n,
};

Deno.test("job specs", async (t) => {
  await t.step("defaults, round trip, and a stable id", async () => {
    const spec = createJobSpec({ ...base, nonce: "01" });
    assert.equal(spec.profile, "wasm-simd-1t+k1@tfjs-4.22.0");
    assert.equal(spec.k, 50);
    assert.equal(spec.priceWei, "123");
    const again = decodeJobSpec(encodeJobSpec(spec));
    assert.deepEqual(again, spec);
    assert.equal(await specHashOf(again), await specHashOf(spec));
    assert.notEqual(await specHashOf(createJobSpec(base)), await specHashOf(createJobSpec(base)));
    assert.deepEqual(planOfJob(spec), {
      specId: base.model,
      datasetId: base.datasetId,
      profile: spec.profile,
      batchSize: 64,
      dataSeed: 0,
    });
  });

  await t.step("invalid specs from users or peers are typed errors", () => {
    const spec = createJobSpec(base);
    const invalid = [
      { ...spec, steps: 0 },
      { ...spec, model: "xyz" },
      { ...spec, priceWei: "-1" },
      { ...spec, shard: { index: 2, of: 2 } },
      { ...spec, profile: "wasm" },
      { ...spec, format: "job-spec/2" },
      { ...spec, audit: { segments: -1, verifiers: 1 } },
      null,
    ];
    for (const v of invalid) {
      assert.throws(() => validateJobSpec(v), SpecError, JSON.stringify(v));
    }
    assert.throws(() => decodeJobSpec(new TextEncoder().encode("{]")), SpecError);
  });
});
