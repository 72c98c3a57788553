import assert from "node:assert/strict";
import { type ProgressEvent, serveTaskProgress, watchTaskProgress } from "../../lib/p2p/tasks.ts";
import { TestNet, waitFor } from "./_hosts.ts";

Deno.test("task progress stream", async (t) => {
  await using net = new TestNet();
  const provider = await net.host();
  const submitter = await net.host({ bootstrap: provider.multiaddrs() });
  const tasks = await serveTaskProgress(provider);
  const jobId = "c".repeat(64);

  await t.step(
    "delivers history then live events in order, ending at a terminal status",
    async () => {
      tasks.publish({ jobId, step: 0, status: "queued" });
      tasks.publish({ jobId, step: 1, loss: 2.5, status: "running" });
      const seen: ProgressEvent[] = [];
      const watching = (async () => {
        for await (const e of watchTaskProgress(submitter, { peer: provider.peerId, jobId })) {
          seen
            .push(e);
        }
      })();
      await waitFor(() => seen.length === 2, "the history");
      for (let step = 2; step <= 20; step++) {
        tasks.publish({
          jobId,
          step,
          loss: 2.5 / step,
          status: "running",
          checkpoint: step % 5 === 0 ? { step, hash: "d".repeat(64) } : undefined,
        });
      }
      tasks.publish({ jobId, step: 20, status: "done" });
      await watching;
      assert.deepEqual(seen.map((e) => e.seq), Array.from({ length: 22 }, (_, i) => i));
      assert.deepEqual(
        seen.map((e) => e.step).slice(0, 21),
        Array.from({ length: 21 }, (_, i) => i),
      );
      assert.equal(seen.at(-1)!.status, "done");
      assert.deepEqual(seen[10].checkpoint, { step: 10, hash: "d".repeat(64) });
      assert.equal(seen[4].loss, 2.5 / 4);
    },
  );

  await t.step("a watcher can resume from a sequence number", async () => {
    const seen: number[] = [];
    for await (
      const e of watchTaskProgress(submitter, { peer: provider.peerId, jobId, fromSeq: 19 })
    ) {
      seen.push(e.seq);
    }
    assert.deepEqual(seen, [19, 20, 21]);
  });
});
