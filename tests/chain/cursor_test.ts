import assert from "node:assert/strict";
import { StorageError } from "../../lib/core/errors.ts";
import { fileCursor, heldCursor } from "../../lib/chain/mod.ts";

Deno.test("block cursors", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "cursor-test-" });
  try {
    await t.step("a file cursor saves atomically and loads what it saved", async () => {
      const cursor = fileCursor(`${dir}/a/b/cursor.json`);
      assert.equal(await cursor.load(), undefined);
      await Promise.all([cursor.save(5n), cursor.save(9n), cursor.save(12n)]);
      assert.equal(await cursor.load(), 12n);
      assert.deepEqual([...Deno.readDirSync(`${dir}/a/b`)].map((e) => e.name), ["cursor.json"]);
    });

    await t.step("a cursor of another chain loads as nothing", async () => {
      await fileCursor(`${dir}/chain.json`, { chain: "0xaa" }).save(7n);
      assert.equal(await fileCursor(`${dir}/chain.json`, { chain: "0xaa" }).load(), 7n);
      assert.equal(await fileCursor(`${dir}/chain.json`, { chain: "0xbb" }).load(), undefined);
    });

    await t.step("a corrupt cursor file says how to recover", async () => {
      await Deno.writeTextFile(`${dir}/bad.json`, '{"block": -1}');
      await assert.rejects(fileCursor(`${dir}/bad.json`).load(), (error) => {
        assert.ok(error instanceof StorageError);
        assert.equal(error.code, "STORAGE_CORRUPT_CURSOR");
        assert.match(error.message, /delete the file/);
        return true;
      });
    });

    await t.step("a held cursor never saves past a held block", async () => {
      const cursor = heldCursor(fileCursor(`${dir}/held.json`));
      const releaseA = cursor.hold(10n);
      const releaseB = cursor.hold(14n);
      await cursor.save(20n);
      assert.equal(await cursor.load(), 10n);
      await releaseA();
      assert.equal(await cursor.load(), 14n);
      await cursor.save(30n);
      assert.equal(await cursor.load(), 14n);
      await releaseB();
      await releaseB(); // a second release changes nothing
      assert.equal(await cursor.load(), 30n);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
