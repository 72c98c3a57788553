import assert from "node:assert/strict";
import { privateKeyToAccount } from "viem/accounts";
import {
  decodeAnnouncement,
  encodeAnnouncement,
  type JobAnnouncement,
  JOBS_TOPIC,
  joinAnnouncements,
  signAnnouncement,
  type SignedAnnouncement,
  verifyAnnouncement,
} from "../../lib/p2p/announce.ts";
import { TestNet, waitFor } from "./_hosts.ts";

const submitter = privateKeyToAccount(`0x${"11".repeat(32)}`);
const mallory = privateKeyToAccount(`0x${"22".repeat(32)}`);

function terms(jobByte: string): JobAnnouncement {
  return {
    jobId: jobByte.repeat(64),
    specHash: "c".repeat(64),
    specId: "a".repeat(64),
    datasetId: "b".repeat(64),
    steps: 100,
    batchSize: 32,
    k: 10,
    priceWei: 10n ** 18n,
    deadline: Math.floor(Date.now() / 1000) + 3600,
    submitter: submitter.address,
    chainId: 31337,
  };
}

Deno.test("announcement signatures", async () => {
  const signed = await signAnnouncement(submitter, terms("1"));
  assert.equal(await verifyAnnouncement(signed), true);
  assert.equal(await verifyAnnouncement({ ...signed, priceWei: 1n }), false);
  const forged = await mallory.signMessage({ message: "x" });
  assert.equal(await verifyAnnouncement({ ...signed, signature: forged }), false);
});

Deno.test("announcements carry amounts beyond 64 bits", async () => {
  for (const priceWei of [0n, 2n ** 64n, 10n ** 24n, 2n ** 256n - 1n]) {
    const signed = await signAnnouncement(submitter, { ...terms("2"), priceWei });
    const back = decodeAnnouncement(encodeAnnouncement(signed));
    assert.equal(back.priceWei, priceWei);
    assert.equal(await verifyAnnouncement(back), true);
  }
});

Deno.test("job announcements over gossip", async (t) => {
  await using net = new TestNet();
  const a = await net.host({ gossipHeartbeatMs: 100 });
  const b = await net.host({ gossipHeartbeatMs: 100, bootstrap: a.multiaddrs() });
  const c = await net.host({ gossipHeartbeatMs: 100, bootstrap: [b.multiaddrs()[0]] });
  const d = await net.host({
    gossipHeartbeatMs: 100,
    bootstrap: [a.multiaddrs()[0], c.multiaddrs()[0]],
  });
  const onChain = new Set<string>();
  const received = new Map<string, SignedAnnouncement[]>();
  const feeds = [a, b, c, d].map((h) => {
    const feed = joinAnnouncements(h, {
      isOnChain: (x) => Promise.resolve(onChain.has(x.jobId)),
      redeliverMs: 1_000,
    });
    const list: SignedAnnouncement[] = [];
    received.set(h.peerId.toString(), list);
    feed.onAnnouncement((x) => list.push(x));
    return feed;
  });
  const receivers = [b, c, d].map((h) => received.get(h.peerId.toString())!);
  await waitFor(
    () => [a, b, c, d].every((h) => h.pubsub.getSubscribers(JOBS_TOPIC).length > 0),
    "every node to see a topic peer",
  );
  // The mesh is grafted on heartbeats; publish once it has formed on the publisher.
  await waitFor(
    () => feeds.every((f) => f.meshPeers().length > 0),
    "every node to have a mesh peer",
  );

  await t.step("a valid, on-chain announcement reaches the other 3 nodes", async () => {
    const signed = await signAnnouncement(submitter, terms("1"));
    onChain.add(signed.jobId);
    await feeds[0].publish(signed);
    await waitFor(
      () => receivers.every((l) => l.some((x) => x.jobId === signed.jobId)),
      "3 receivers",
    );
    const got = receivers[2].find((x) => x.jobId === signed.jobId)!;
    assert.equal(got.priceWei, 10n ** 18n);
    assert.equal(got.signature, signed.signature);
  });

  await t.step(
    "a job announced again is delivered again, but not sooner than allowed",
    async () => {
      // Signatures are deterministic: re-announcing the same terms repeats the same bytes, and a
      // node that could not take the job the first time must still see the next announcement.
      const signed = await signAnnouncement(submitter, terms("7"));
      onChain.add(signed.jobId);
      const count = () => receivers.map((l) => l.filter((x) => x.jobId === signed.jobId).length);
      await feeds[0].publish(signed);
      await waitFor(() => count().every((n) => n === 1), "the first delivery");
      // A repeat within the redelivery interval (a replay flood) is dropped.
      await feeds[0].publish(signed);
      const marker = await signAnnouncement(submitter, terms("8"));
      onChain.add(marker.jobId);
      await feeds[0].publish(marker);
      await waitFor(
        () => receivers.every((l) => l.some((x) => x.jobId === marker.jobId)),
        "an announcement published after the repeat",
      );
      assert.deepEqual(count(), [1, 1, 1]);
      await new Promise((r) => setTimeout(r, 1_100));
      await feeds[0].publish(signed);
      await waitFor(() => count().every((n) => n === 2), "the delivery after the interval");
      // Reassigned (a new deadline): delivered at once, inside the interval, so the providers
      // that lost the first claim race see the reopened slot.
      const reassigned = await signAnnouncement(submitter, {
        ...terms("7"),
        deadline: signed.deadline + 600,
      });
      await feeds[0].publish(reassigned);
      await waitFor(() => count().every((n) => n === 3), "the reassigned job's announcement");
    },
  );

  await t.step("a bad signature is dropped and logged", async () => {
    const signed = await signAnnouncement(submitter, terms("2"));
    onChain.add(signed.jobId);
    const tampered = { ...signed, priceWei: 1n };
    const before = net.rejections.length;
    await feeds[0].publish(tampered);
    await waitFor(
      () => net.rejections.slice(before).some((r) => r.code === "PEER_BAD_SIGNATURE"),
      "a bad-signature rejection",
    );
    // Then a good one published after it arrives everywhere, and the bad one never did.
    const next = await signAnnouncement(submitter, terms("3"));
    onChain.add(next.jobId);
    await feeds[0].publish(next);
    await waitFor(
      () => receivers.every((l) => l.some((x) => x.jobId === next.jobId)),
      "the next announcement",
    );
    assert.ok(receivers.every((l) => !l.some((x) => x.jobId === signed.jobId)));
  });

  await t.step("a job that is not on-chain is dropped and logged", async () => {
    const signed = await signAnnouncement(submitter, terms("4"));
    const before = net.rejections.length;
    await feeds[0].publish(signed);
    await waitFor(
      () => net.rejections.slice(before).some((r) => r.code === "PEER_NOT_ON_CHAIN"),
      "a not-on-chain rejection",
    );
    const next = await signAnnouncement(submitter, terms("5"));
    onChain.add(next.jobId);
    await feeds[0].publish(next);
    await waitFor(
      () => receivers.every((l) => l.some((x) => x.jobId === next.jobId)),
      "the next announcement",
    );
    assert.ok(receivers.every((l) => !l.some((x) => x.jobId === signed.jobId)));
  });

  await t.step("the async iterator yields accepted announcements", async () => {
    const it = feeds[3][Symbol.asyncIterator]();
    const signed = await signAnnouncement(submitter, terms("6"));
    onChain.add(signed.jobId);
    await feeds[0].publish(signed);
    const first = await it.next();
    assert.equal(first.done, false);
    assert.equal(first.value.jobId, signed.jobId);
    await it.return?.();
  });
});
