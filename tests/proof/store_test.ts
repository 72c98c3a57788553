import assert from "node:assert/strict";
import { StorageError } from "../../lib/core/errors.ts";
import { sha256Hex } from "../../lib/core/hash.ts";
import { BlobStore } from "../../lib/proof/store.ts";

Deno.test("blob store", async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    const store = new BlobStore(dir);
    const bytes = new TextEncoder().encode("checkpoint bytes");
    const id = await store.put(bytes);

    await t.step("stores by content id and reads back", async () => {
      assert.ok(await store.has(id));
      assert.deepEqual(await store.get(id), bytes);
      assert.match(store.pathOf(id), new RegExp(`/blobs/sha256/${id.slice(0, 2)}/${id.slice(2)}$`));
      assert.equal(await store.put(bytes), id); // idempotent
    });

    await t.step("blocking puts, and stores sharing a folder, write whole blobs", async () => {
      const other = new BlobStore(dir);
      const blobs = Array.from({ length: 32 }, (_, i) => new TextEncoder().encode(`blob ${i % 8}`));
      // Two store objects writing the same blobs at once never share a temporary file.
      const ids = await Promise.all(blobs.map((b, i) => (i % 2 ? other : store).put(b)));
      for (const [i, b] of blobs.entries()) assert.deepEqual(await store.get(ids[i]), b);
      const sync = new TextEncoder().encode("written blocking");
      const syncId = await sha256Hex(sync);
      store.putVerifiedSync(syncId, sync);
      store.putVerifiedSync(syncId, sync); // idempotent
      assert.deepEqual(await other.get(syncId), sync);
      const leftovers = [];
      for await (const e of Deno.readDir(store.pathOf(syncId).slice(0, -63))) {
        if (e.name.startsWith(".tmp-")) leftovers.push(e.name);
      }
      assert.deepEqual(leftovers, []);
    });

    await t.step("a corrupted or truncated file is reported, never returned", async () => {
      await Deno.writeFile(store.pathOf(id), bytes.subarray(0, 5));
      await assert.rejects(
        () => store.get(id),
        (e: unknown) => e instanceof StorageError && e.code === "STORAGE_CORRUPT_BLOB",
      );
    });

    await t.step("missing blobs and malformed ids are typed errors", async () => {
      await assert.rejects(
        () => store.get("ab".repeat(32)),
        (e: unknown) => e instanceof StorageError && e.code === "STORAGE_MISSING_BLOB",
      );
      assert.throws(
        () => store.pathOf("../../etc/passwd"),
        (e: unknown) => e instanceof StorageError && e.code === "STORAGE_BAD_HASH",
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
