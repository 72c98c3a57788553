import assert from "node:assert/strict";
import { activateProfile } from "../../lib/exec/profile.ts";

// Its own file: the first activation of a process is the one that can race.
Deno.test("profiles activated concurrently (several nodes of one process) all start", async () => {
  const results = await Promise.allSettled([
    activateProfile("wasm"),
    activateProfile("wasm"),
    activateProfile("wasm"),
  ]);
  assert.deepEqual(results.map((r) => r.status), ["fulfilled", "fulfilled", "fulfilled"]);
});
