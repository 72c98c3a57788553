import assert from "node:assert/strict";
import { EventLog } from "../../lib/core/event_log.ts";

Deno.test("event log", async (t) => {
  await t.step("every reader sees every event in order, late readers included", async () => {
    const log = new EventLog<number>();
    log.push(1);
    const early = (async () => {
      const seen: number[] = [];
      for await (const n of log) seen.push(n);
      return seen;
    })();
    log.push(2);
    await Promise.resolve();
    log.push(3);
    log.end();
    log.push(4); // after the end: ignored
    const late: number[] = [];
    for await (const n of log) late.push(n);
    assert.deepEqual(await early, [1, 2, 3]);
    assert.deepEqual(late, [1, 2, 3]);
  });

  await t.step(
    "a failed log throws after its events, and first() finds past or future",
    async () => {
      const log = new EventLog<string>();
      log.push("a");
      const found = log.first((e) => e === "b");
      log.push("b");
      assert.equal(await found, "b");
      assert.equal(await log.first((e) => e === "a"), "a");
      log.end(new Error("boom"));
      const seen: string[] = [];
      await assert.rejects(async () => {
        for await (const e of log) seen.push(e);
      }, /boom/);
      assert.deepEqual(seen, ["a", "b"]);
    },
  );
});
