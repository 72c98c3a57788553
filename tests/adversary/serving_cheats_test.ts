import assert from "node:assert/strict";
import { createP2PWire } from "../../lib/node/p2p_wire.ts";
import { ProviderNode } from "../../lib/node/provider.ts";
import { BlobStore } from "../../lib/proof/store.ts";
import { CheatingProvider } from "../../testing/adversary.ts";
import {
  assertCaught,
  assertPaid,
  auditedNetwork,
  submitAndAudit,
  tinySpec,
  TOKEN,
} from "./_suite.ts";

Deno.test("providers that withhold or swap their proof are caught; an honest ProviderNode is paid", async (t) => {
  await using network = await auditedNetwork();
  const spec = await tinySpec();
  const cheater = await CheatingProvider.start({ network, account: 2, cheat: { kind: "honest" } });
  const provider = cheater.chain.account;
  try {
    await t.step("withholds its checkpoints when audited", async () => {
      cheater.cheat = { kind: "withhold" };
      const run = await submitAndAudit(network, spec);
      await assertCaught(network, run, provider);
      const [first] = run.record.verdicts;
      assert.equal(first.status, "withheld");
      assert.match(first.status === "withheld" ? first.reason : "", /PEER_BLOB_NOT_FOUND|not hold/);
    });
    await t.step("commits one result and serves other checkpoint bytes", async () => {
      cheater.cheat = { kind: "serve-other" };
      const run = await submitAndAudit(network, spec);
      await assertCaught(network, run, provider);
      assert.equal(run.record.verdicts[0].status, "withheld");
    });
    await t.step("publishes one trace and commits another's root", async () => {
      cheater.cheat = { kind: "commit-other" };
      const run = await submitAndAudit(network, spec);
      await assertCaught(network, run, provider);
      assert.deepEqual(run.record.verdicts, []);
      assert.match(run.record.reason ?? "", /trace root/);
    });
  } finally {
    await cheater.close();
  }

  await t.step("an honest ProviderNode under the same verifier is audited and paid", async () => {
    const dir = await Deno.makeTempDir({ prefix: "gensyn-honest-" });
    const chain = network.devnet!.client(3);
    const wire = await createP2PWire({
      chain,
      store: new BlobStore(dir),
      bootstrap: [...network.wire.addrs, ...network.verifiers.flatMap((v) => v.addrs)],
    });
    const node = await ProviderNode.start({
      dataDir: dir,
      chain,
      wire,
      peerPrivateKey: wire.peerPrivateKey,
      stakeWei: 1000n * TOKEN,
      log: () => {},
    });
    try {
      const stakeBefore = await chain.staking.get();
      const run = await submitAndAudit(network, spec);
      await assertPaid(network, run);
      assert.equal((await chain.staking.get()).stakedWei, stakeBefore.stakedWei);
    } finally {
      await node.close();
      await wire.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
});
