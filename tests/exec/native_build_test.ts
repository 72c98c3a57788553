import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  buildNativeKernels,
  NATIVE_ARTIFACT,
  NATIVE_SOURCE,
  renderNativeArtifact,
} from "../../lib/exec/kernels/build.ts";
import { NATIVE_SOURCE_SHA256 } from "../../lib/exec/kernels/native_wasm.ts";

Deno.test("the embedded native kernels belong to native.c (run `deno task kernels`)", async (t) => {
  await t.step("the artifact records the hash of the current source", async () => {
    const source = await Deno.readTextFile(NATIVE_SOURCE);
    assert.equal(
      createHash("sha256").update(source).digest("hex"),
      NATIVE_SOURCE_SHA256,
      "lib/exec/kernels/native_wasm.ts is stale: run `deno task kernels`",
    );
  });
  let clang = false;
  try {
    clang = (await new Deno.Command("clang-16", { args: ["--version"], stdout: "null" }).output())
      .success;
  } catch {
    // clang-16 is not installed: only the source hash above can be checked on this machine.
  }
  if (clang) {
    await t.step("a fresh build gives the committed bytes", async () => {
      const fresh = renderNativeArtifact(await buildNativeKernels());
      assert.ok(
        fresh === await Deno.readTextFile(NATIVE_ARTIFACT),
        "lib/exec/kernels/native_wasm.ts differs from a fresh build: run `deno task kernels`",
      );
    });
  }
});
