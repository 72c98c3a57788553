import assert from "node:assert/strict";
import { joinPresence, PRESENCE_TOPIC } from "../../lib/p2p/presence.ts";
import { TestNet, waitFor } from "./_hosts.ts";

const HONEST = "0x" + "11".repeat(20);
const OTHER = "0x" + "22".repeat(20);

Deno.test("provider presence: relayed, checked against the on-chain binding, addresses learned", async () => {
  await using net = new TestNet();
  const provider = await net.host({ gossipHeartbeatMs: 100 });
  const relay = await net.host({ gossipHeartbeatMs: 100, bootstrap: provider.multiaddrs() });
  const client = await net.host({ gossipHeartbeatMs: 100, bootstrap: relay.multiaddrs() });
  const spoofer = await net.host({ gossipHeartbeatMs: 100, bootstrap: relay.multiaddrs() });
  // The chain binds HONEST to the provider's peer and OTHER to nobody here.
  const binding = new Map([[HONEST, provider.peerId.toString()]]);
  const isBound = (account: string, peer: string) =>
    Promise.resolve(binding.get(account.toLowerCase()) === peer);
  const feeds = [provider, relay, client, spoofer].map((h) => joinPresence(h, { isBound }));
  try {
    await waitFor(
      () => [relay, client].every((h) => h.pubsub.getSubscribers(PRESENCE_TOPIC).length > 0),
      "the topic to reach the client",
    );
    feeds[0].advertise({ account: HONEST, profile: "wasm-simd-1t+k1@tfjs-4.22.0" });
    // A spoofer speaks for the honest account, and for an account bound to nobody.
    feeds[3].advertise({ account: HONEST, profile: "cpu@tfjs-4.22.0" });
    await waitFor(() => feeds[2].sightings().length > 0, "the client to see the provider", 15_000);
    const [seen] = feeds[2].sightings();
    assert.equal(seen.peerId, provider.peerId.toString());
    assert.equal(seen.account, HONEST);
    assert.equal(seen.profile, "wasm-simd-1t+k1@tfjs-4.22.0");
    // Two hops away, the client never dialled the provider; now it knows where it listens.
    const known = await client.libp2p.peerStore.get(provider.peerId);
    assert.ok(known.addresses.length > 0, "the provider's address is in the client's peer store");
    await client.dial(provider.peerId);
    feeds[3].advertise({ account: OTHER, profile: "cpu@tfjs-4.22.0" });
    await new Promise((r) => setTimeout(r, 2_500));
    assert.deepEqual(
      feeds[2].sightings().map((s) => s.peerId),
      [provider.peerId.toString()],
      "nobody else is taken for a provider",
    );
    assert.ok(net.rejections.some((r) => r.code === "PEER_NOT_BOUND"));
  } finally {
    for (const f of feeds) f.close();
  }
});
