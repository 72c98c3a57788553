import assert from "node:assert/strict";
import { ALLOWED_LAYERS } from "../../lib/exec/model.ts";
import { replaySegment } from "../../lib/proof/replay.ts";
import { BlobStore } from "../../lib/proof/store.ts";
import { LAYER_CASES, trainLayerCase } from "../_fixtures/layer_zoo.ts";

const FIXTURE = new URL("../_fixtures/layer_zoo.ts", import.meta.url).pathname;

Deno.test("every allow-listed layer trains, reproduces across processes and replays (wasm)", async (t) => {
  await t.step("the layer table covers the allow-list", () => {
    const missing = [...ALLOWED_LAYERS].filter((n) => n !== "InputLayer" && !(n in LAYER_CASES));
    assert.deepEqual(missing, [], "layers without a training test");
  });
  const child = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", FIXTURE, "wasm"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(child.success, new TextDecoder().decode(child.stderr));
  const other: Record<string, string[]> = JSON.parse(
    new TextDecoder().decode(child.stdout).trim().split("\n").pop()!,
  );
  const dir = await Deno.makeTempDir();
  try {
    const store = new BlobStore(dir);
    for (const name of Object.keys(LAYER_CASES)) {
      await t.step(
        `${name}: 3 steps, same bits in another process, a segment replays`,
        async () => {
          const { trainer, trace } = await trainLayerCase(name, "wasm", store);
          try {
            const layers =
              (trainer.spec.topology as { config: { layers: { class_name: string }[] } })
                .config.layers.map((l) => l.class_name);
            assert.ok(layers.includes(name), `the model uses ${name}: ${layers}`);
            const hashes = trace.checkpoints.map((c) => c.hash);
            assert.equal(hashes.length, 4);
            assert.equal(new Set(hashes).size, 4, "every step changes the state");
            assert.deepEqual(hashes, other[name], "the other process trained the same bits");
            const verdict = await replaySegment(trace, 1, { trainer, store });
            assert.equal(verdict.status, "valid");
          } finally {
            trainer.dispose();
          }
        },
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
