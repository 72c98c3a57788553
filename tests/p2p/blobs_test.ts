import assert from "node:assert/strict";
import { PeerError } from "../../lib/core/errors.ts";
import { sha256Hex } from "../../lib/core/hash.ts";
import { BlobStore } from "../../lib/proof/store.ts";
import { fetchBlob, serveBlobs } from "../../lib/p2p/blobs.ts";
import { TestNet } from "./_hosts.ts";

function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let at = 0; at < n; at += 65536) {
    crypto.getRandomValues(out.subarray(at, Math.min(n, at + 65536)));
  }
  return out;
}

const isCode = (code: string) => (e: unknown) => e instanceof PeerError && e.code === code;

Deno.test("blob transfer", async (t) => {
  await using net = new TestNet();
  const server = await net.host();
  const client = await net.host({ bootstrap: server.multiaddrs() });
  const serverStore = new BlobStore(await net.dir());
  await serveBlobs(server, { store: serverStore });
  const blob = randomBytes(3 * 1024 * 1024 + 17);
  const id = await serverStore.put(blob);

  for (const direct of [true, false]) {
    await t.step(`fetches and verifies a blob (${direct ? "direct" : "stream"})`, async () => {
      const store = new BlobStore(await net.dir());
      const r = await fetchBlob(client, { peer: server.peerId, id, store, direct });
      assert.equal(r.via, direct ? "direct" : "stream");
      assert.equal(r.size, blob.length);
      assert.deepEqual(await store.get(id), blob);
    });
  }

  await t.step("fetches of one blob into one store at once all get it whole", async () => {
    // Two audits of one job fetch its spec at the same moment: they must not share a partial
    // file, or the blob lands corrupted.
    const store = new BlobStore(await net.dir());
    const results = await Promise.all(
      [true, false, true].map((direct) =>
        fetchBlob(client, { peer: server.peerId, id, store, direct })
      ),
    );
    assert.equal(results.filter((r) => r.via !== "local").length, 1, "one transfer");
    assert.deepEqual(await store.get(id), blob);
  });

  await t.step("a missing blob is a typed error", async () => {
    const store = new BlobStore(await net.dir());
    const missing = await sha256Hex(new TextEncoder().encode("nobody has this"));
    await assert.rejects(
      fetchBlob(client, { peer: server.peerId, id: missing, store }),
      isCode("PEER_BLOB_NOT_FOUND"),
    );
    assert.equal(await store.has(missing), false);
  });

  await t.step("a blob over the size limit is refused", async () => {
    const store = new BlobStore(await net.dir());
    await assert.rejects(
      fetchBlob(client, { peer: server.peerId, id, store, maxBlobBytes: 1024 }),
      isCode("PEER_BLOB_TOO_LARGE"),
    );
    assert.equal(await store.has(id), false);
  });

  for (const direct of [true, false]) {
    await t.step(
      `bytes that do not match the id are rejected (${direct ? "direct" : "stream"})`,
      async () => {
        // A lying peer: its store holds other bytes under this id.
        const liar = await net.host();
        const liarStore = new BlobStore(await net.dir());
        await serveBlobs(liar, { store: liarStore });
        const good = randomBytes(200_000);
        const goodId = await sha256Hex(good);
        const path = liarStore.pathOf(goodId);
        await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
        const bad = good.slice();
        bad[1234] ^= 1;
        await Deno.writeFile(path, bad);
        await client.dial(liar.multiaddrs()[0]);
        const store = new BlobStore(await net.dir());
        await assert.rejects(
          fetchBlob(client, { peer: liar.peerId, id: goodId, store, direct }),
          isCode("PEER_BLOB_MISMATCH"),
        );
        assert.equal(await store.has(goodId), false);
        // The partial file is discarded too, so a retry starts clean.
        await assert.rejects(
          Deno.stat(`${store.root}/blobs/partial/${goodId}`),
          Deno.errors.NotFound,
        );
        assert.ok(
          net.rejections.some((r) =>
            r.code === "PEER_BLOB_MISMATCH" && r.peer === liar.peerId.toString()
          ),
        );
      },
    );
  }

  for (const direct of [true, false]) {
    await t.step(`resumes after an interruption (${direct ? "direct" : "stream"})`, async () => {
      const store = new BlobStore(await net.dir());
      const abort = new AbortController();
      await assert.rejects(
        fetchBlob(client, {
          peer: server.peerId,
          id,
          store,
          direct,
          signal: abort.signal,
          onProgress: (held) => {
            if (held >= 1024 * 1024) abort.abort();
          },
        }),
        isCode("PEER_TRANSFER_INTERRUPTED"),
      );
      const partial = (await Deno.stat(`${store.root}/blobs/partial/${id}`)).size;
      assert.ok(partial > 0 && partial < blob.length, `partial file holds ${partial} bytes`);
      const r = await fetchBlob(client, { peer: server.peerId, id, store, direct });
      assert.equal(r.resumedFrom, partial);
      assert.equal(r.received, blob.length - partial);
      assert.deepEqual(await store.get(id), blob);
    });
  }
});
