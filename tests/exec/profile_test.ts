import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { ProfileMismatchError } from "../../lib/core/errors.ts";
import {
  activateProfile,
  assertActiveProfile,
  DEFAULT_PROFILE,
  getProfile,
} from "../../lib/exec/profile.ts";

Deno.test("execution profiles", async (t) => {
  await t.step("aliases resolve to pinned ids", () => {
    assert.equal(getProfile("wasm").id, "wasm-simd-1t+k1@tfjs-4.22.0");
    assert.equal(getProfile("cpu").id, "cpu@tfjs-4.22.0");
    assert.equal(getProfile("wasm-scalar").simd, false);
    assert.equal(DEFAULT_PROFILE.backend, "wasm");
  });

  await t.step("an unknown profile is a typed error that lists the known ones", () => {
    assert.throws(
      () => getProfile("gpu"),
      (e: unknown) =>
        e instanceof ProfileMismatchError && e.code === "PROFILE_UNKNOWN" &&
        e.message.includes("wasm-simd-1t+k1@tfjs-4.22.0"),
    );
  });

  await t.step("activation runs the pinned backend with one thread", async () => {
    const p = await activateProfile("wasm");
    assert.equal(tf.getBackend(), "wasm");
    assertActiveProfile(p.id);
    assert.throws(
      () => assertActiveProfile("cpu"),
      (e: unknown) => e instanceof ProfileMismatchError && e.code === "PROFILE_MISMATCH",
    );
  });

  await t.step("the other wasm build cannot be loaded into the same process", async () => {
    await assert.rejects(
      () => activateProfile("wasm-scalar"),
      (e: unknown) => e instanceof ProfileMismatchError && e.code === "PROFILE_PROCESS_BOUND",
    );
  });

  await t.step("cpu and wasm can alternate in one process", async () => {
    await activateProfile("cpu");
    assert.equal(tf.getBackend(), "cpu");
    await activateProfile("wasm");
    assert.equal(tf.getBackend(), "wasm");
  });
});
