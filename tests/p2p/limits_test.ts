import assert from "node:assert/strict";
import { PeerError } from "../../lib/core/errors.ts";
import { BlobStore } from "../../lib/proof/store.ts";
import { fetchBlob, serveBlobs } from "../../lib/p2p/blobs.ts";
import { PeerLimiter, TokenBucket } from "../../lib/p2p/limits.ts";
import { TestNet } from "./_hosts.ts";

Deno.test("token bucket", () => {
  const b = new TokenBucket(3, 2, 0);
  assert.deepEqual([b.take(0), b.take(0), b.take(0), b.take(0)], [true, true, true, false]);
  assert.equal(b.take(499), false);
  assert.equal(b.take(500), true);
  assert.equal(b.take(10_000), true);
});

Deno.test("peer limiter bans after strikes", () => {
  let now = 0;
  const l = new PeerLimiter({ banAfterStrikes: 2, banMs: 1000 }, () => now);
  assert.equal(l.strike("p"), false);
  assert.equal(l.strike("p"), true);
  assert.equal(l.isBanned("p"), true);
  assert.equal(l.allow("p", "x"), false);
  assert.equal(l.allow("q", "x"), true);
  now = 1001;
  assert.equal(l.isBanned("p"), false);
});

Deno.test("a flooding peer is rate-limited while another is still served", async () => {
  await using net = new TestNet();
  const server = await net.host({ limits: { requestsPerSecond: 2, burst: 5 } });
  const flooder = await net.host({ bootstrap: server.multiaddrs() });
  const honest = await net.host({ bootstrap: server.multiaddrs() });
  const store = new BlobStore(await net.dir());
  await serveBlobs(server, { store });
  const id = await store.put(new TextEncoder().encode("model weights"));

  const results = await Promise.allSettled(
    Array.from({ length: 30 }, async () => {
      const mine = new BlobStore(await net.dir());
      return await fetchBlob(flooder, { peer: server.peerId, id, store: mine });
    }),
  );
  const limited = results.filter((r) =>
    r.status === "rejected" && r.reason instanceof PeerError &&
    r.reason.code === "PEER_RATE_LIMITED"
  );
  const served = results.filter((r) => r.status === "fulfilled");
  assert.ok(served.length >= 1 && served.length <= 6, `flooder was served ${served.length} times`);
  // The rest were refused too: rate-limited, or over the per-connection stream limit.
  assert.ok(limited.length >= 10, `only ${limited.length} requests were rate-limited`);
  assert.ok(results.every((r) => r.status === "fulfilled" || r.reason instanceof PeerError));
  assert.ok(
    net.rejections.some((r) =>
      r.code === "PEER_RATE_LIMITED" && r.peer === flooder.peerId.toString()
    ),
  );

  const mine = new BlobStore(await net.dir());
  const r = await fetchBlob(honest, { peer: server.peerId, id, store: mine });
  assert.equal(r.size, 13);
});
