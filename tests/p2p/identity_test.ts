import assert from "node:assert/strict";
import { recoverAddress, toHex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { PeerError } from "../../lib/core/errors.ts";
import {
  loadOrCreateIdentity,
  NodeIdentity,
  peerBindingDigest,
  signPeerBinding,
} from "../../lib/p2p/identity.ts";

const FAST = { iterations: 1000 };

Deno.test("node identity", async (t) => {
  const dataDir = await Deno.makeTempDir({ prefix: "p2p-identity-" });
  try {
    await t.step("persists across loads and is encrypted at rest", async () => {
      const a = await loadOrCreateIdentity({ dataDir, password: "pw-1", ...FAST });
      const b = await loadOrCreateIdentity({ dataDir, password: "pw-1" });
      assert.equal(a.peerId.toString(), b.peerId.toString());
      // The reloaded key is usable, not just its id (the decrypted bytes are wiped after loading).
      assert.deepEqual(b.secretKeyBytes(), a.secretKeyBytes());
      assert.equal(b.address(), a.address());
      const text = await Deno.readTextFile(`${dataDir}/identity.json`);
      const secretHex = toHex(a.secretKeyBytes()).slice(2);
      assert.ok(!text.includes(secretHex), "secret key must not be stored in the clear");
      const b64 = btoa(String.fromCharCode(...a.secretKeyBytes()));
      assert.ok(!text.includes(b64));
      assert.equal(((await Deno.stat(`${dataDir}/identity.json`)).mode ?? 0) & 0o077, 0);
    });

    await t.step("wrong password is a typed error", async () => {
      await assert.rejects(
        loadOrCreateIdentity({ dataDir, password: "wrong" }),
        (e) => e instanceof PeerError && e.code === "PEER_IDENTITY_LOCKED",
      );
    });

    await t.step("a missing password is a typed error", async () => {
      const prev = Deno.env.get("GENSYN_NODE_PASSWORD");
      Deno.env.delete("GENSYN_NODE_PASSWORD");
      try {
        await assert.rejects(
          loadOrCreateIdentity({ dataDir }),
          (e) => e instanceof PeerError && e.code === "PEER_IDENTITY_NO_PASSWORD",
        );
      } finally {
        if (prev !== undefined) Deno.env.set("GENSYN_NODE_PASSWORD", prev);
      }
    });

    await t.step("the password can come from GENSYN_NODE_PASSWORD", async () => {
      const dir = `${dataDir}/env`;
      Deno.env.set("GENSYN_NODE_PASSWORD", "from-env");
      try {
        const a = await loadOrCreateIdentity({ dataDir: dir, ...FAST });
        const b = await loadOrCreateIdentity({ dataDir: dir });
        assert.ok(a.peerId.equals(b.peerId));
      } finally {
        Deno.env.delete("GENSYN_NODE_PASSWORD");
      }
    });

    await t.step("a tampered file is a typed error", async () => {
      const dir = `${dataDir}/tampered`;
      await loadOrCreateIdentity({ dataDir: dir, password: "pw", ...FAST });
      await Deno.writeTextFile(`${dir}/identity.json`, "{ not json");
      await assert.rejects(
        loadOrCreateIdentity({ dataDir: dir, password: "pw" }),
        (e) => e instanceof PeerError && e.code === "PEER_IDENTITY_CORRUPT",
      );
    });
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("identity never prints its key", async () => {
  const id = await NodeIdentity.generate();
  const secretHex = toHex(id.secretKeyBytes()).slice(2);
  for (const shown of [String(id), JSON.stringify(id), Deno.inspect(id), Deno.inspect({ id })]) {
    assert.ok(!shown.includes(secretHex), shown);
    assert.ok(shown.includes(id.peerId.toString()));
  }
});

Deno.test("peer binding signature", async (t) => {
  const id = await NodeIdentity.generate();
  const eth = privateKeyToAccount(`0x${"42".repeat(32)}`).address;
  const b = await signPeerBinding(id, eth);

  await t.step("has the documented shape", () => {
    assert.equal(b.signature.length, 65);
    assert.equal(b.pubkey.length, 33);
    assert.equal(b.pubkeyUncompressed.length, 64);
    assert.ok(b.signature[64] === 27 || b.signature[64] === 28);
    assert.equal(b.peerId, id.peerId.toString());
    assert.deepEqual(b.pubkey, id.publicKeyBytes());
    // The peer id's multihash carries the compressed key at its end.
    assert.deepEqual(b.peerIdBytes.slice(-33), b.pubkey);
    const parity = b.pubkeyUncompressed[63] & 1;
    assert.equal(b.pubkey[0], parity ? 0x03 : 0x02);
    assert.deepEqual(b.pubkey.slice(1), b.pubkeyUncompressed.slice(0, 32));
  });

  await t.step("digest is keccak256(tag || address || peer id bytes)", () => {
    assert.equal(b.digest, peerBindingDigest(eth, id.peerId.toMultihash().bytes));
    assert.notEqual(
      b.digest,
      peerBindingDigest("0x000000000000000000000000000000000000dEaD", b.peerIdBytes),
    );
  });

  await t.step("ecrecover gives the peer key's address", async () => {
    const recovered = await recoverAddress({ hash: b.digest, signature: toHex(b.signature) });
    assert.equal(recovered, b.keyAddress);
    assert.equal(b.keyAddress, id.address());
    // The same secret as an Ethereum account has the same address.
    assert.equal(privateKeyToAccount(toHex(id.secretKeyBytes())).address, id.address());
  });
});
