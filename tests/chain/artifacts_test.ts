import assert from "node:assert/strict";
import { ARTIFACTS_DIR, compileContracts, renderArtifacts } from "../../lib/chain/compile.ts";

Deno.test("committed contract artifacts match a fresh compile (run `deno task contracts`)", async () => {
  const fresh = renderArtifacts(compileContracts());
  const committed = [...Deno.readDirSync(ARTIFACTS_DIR)].map((e) => e.name).sort();
  assert.deepEqual(
    committed,
    [...fresh.keys()].sort(),
    "artifact files differ: run `deno task contracts`",
  );
  for (const [name, text] of fresh) {
    const current = await Deno.readTextFile(new URL(name, ARTIFACTS_DIR));
    assert.ok(
      current === text,
      `lib/chain/artifacts/${name} is stale: run \`deno task contracts\``,
    );
  }
});
