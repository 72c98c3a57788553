import assert from "node:assert/strict";
import { VerificationError } from "../../lib/core/errors.ts";
import { loadMnist } from "../../lib/exec/mnist.ts";
import { mlp } from "../../lib/exec/zoo.ts";
import { Network } from "../../lib/node/network.ts";
import { toBytes32 } from "../../lib/node/settlement.ts";
import { selectionSeed, selectVerifiers } from "../../lib/proof/audit.ts";

const TOKEN = 10n ** 18n;

Deno.test("with two registered verifiers and a policy of one, exactly the drawn one audits each job", async () => {
  await using network = await Network.local({ providers: 1, verifiers: 2 });
  assert.ok(network.verifiers.every((v) => v.registered));
  const accounts = network.verifiers.map((v) => v.account);
  assert.deepEqual([...await network.chain.verifiers.list()].sort(), [...accounts].sort());
  const data = await loadMnist({ limit: 512 });
  for (let i = 0; i < 3; i++) {
    const job = await network.train({
      model: mlp({ hidden: [8] }),
      data,
      steps: 20,
      batchSize: 16,
      k: 10,
      priceWei: 10n * TOKEN,
      audit: { segments: 1, verifiers: 1 },
    });
    const outcomes = await Promise.allSettled(
      network.verifiers.map((v) => v.audited(job.id, { timeoutMs: 120_000 })),
    );
    const done = outcomes.flatMap((o, j) => o.status === "fulfilled" ? [{ j, r: o.value }] : []);
    assert.equal(done.length, 1, `job ${i}: ${JSON.stringify(outcomes.map((o) => o.status))}`);
    const [{ j, r: record }] = done;
    assert.equal(record.outcome, "passed");
    const skipped = outcomes[1 - j];
    assert.equal(skipped.status, "rejected");
    const reason = (skipped as PromiseRejectedResult).reason;
    assert.ok(reason instanceof VerificationError && reason.code === "VERIFY_NOT_SELECTED", reason);
    assert.match(reason.message, /not drawn to audit/);
    assert.deepEqual(network.verifiers[1 - j].auditsOf(job.id), []);
    // Anyone recomputes the draw from chain data: the block after the commit and the registry.
    const commitBlock = BigInt(record.commitBlock);
    const block = await network.chain.public.getBlock({ blockNumber: commitBlock + 1n });
    const seed = selectionSeed({ blockHash: block.hash!, jobId: job.id });
    const candidates = await network.chain.verifiers.list({ blockNumber: commitBlock });
    assert.deepEqual(selectVerifiers({ seed, candidates, count: 1 }), [accounts[j]]);
    assert.deepEqual(record.selection, { seed, candidates: 2, selected: [accounts[j]] });
    await job.settled();
  }
});

Deno.test("a policy of two verifiers has both registered verifiers audit", async () => {
  await using network = await Network.local({ providers: 1, verifiers: 2 });
  const job = await network.train({
    model: mlp({ hidden: [8] }),
    data: await loadMnist({ limit: 256 }),
    steps: 20,
    batchSize: 16,
    k: 10,
    priceWei: 10n * TOKEN,
    audit: { segments: 1, verifiers: 2 },
  });
  const records = await Promise.all(
    network.verifiers.map((v) => v.audited(job.id, { timeoutMs: 120_000 })),
  );
  assert.deepEqual(records.map((r) => r.outcome), ["passed", "passed"]);
  assert.deepEqual(records[0].selection?.selected, records[1].selection?.selected);
  const { paidWei } = await job.settled();
  assert.ok(paidWei > 0n);
  assert.equal((await network.chain.jobs.slot({ jobId: toBytes32(job.id) })).status, "Paid");
});
