import assert from "node:assert/strict";
import { StorageError } from "../../lib/core/errors.ts";
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
