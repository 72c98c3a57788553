import assert from "node:assert/strict";
import { loadMnist } from "../../lib/exec/mnist.ts";
import { mlp } from "../../lib/exec/zoo.ts";
import { Network } from "../../lib/node/network.ts";
import { toBytes32 } from "../../lib/node/settlement.ts";
import { auditSeed, selectAuditSegments } from "../../lib/proof/audit.ts";

const TOKEN = 10n ** 18n;

Deno.test("a verifier audits an honest job from chain randomness and never disputes it", async () => {
  await using network = await Network.local({ providers: 1, verifiers: 1 });
  const [verifier] = network.verifiers;
  const data = await loadMnist({ limit: 1024 });
  const job = await network.train({
    model: mlp({ hidden: [16] }),
    data,
    steps: 40,
    batchSize: 16,
    k: 10,
    optimizer: { name: "adam", learningRate: 0.01 },
    priceWei: 10n * TOKEN,
    audit: { segments: 2, verifiers: 1 },
  });
  const record = await verifier.audited(job.id, { timeoutMs: 120_000 });
  const { paidWei } = await job.settled();
  assert.ok(paidWei > 0n);
  assert.equal(record.outcome, "passed");
  assert.equal(record.disputed, false);
  assert.equal(record.totalSegments, 4);
  assert.equal(record.segments.length, 2);
  assert.deepEqual(record.verdicts.map((v) => v.status), ["valid", "valid"]);
  assert.equal(record.replayedSteps, 20);
  // The sample is the one anyone recomputes from the block after the commit.
  const block = await network.chain.public.getBlock({
    blockNumber: BigInt(record.commitBlock) + 1n,
  });
  const seed = auditSeed({ blockHash: block.hash!, jobId: job.id, verifier: verifier.account });
  assert.equal(record.seed, seed);
  assert.deepEqual(record.segments, selectAuditSegments({ seed, segments: 4, count: 2 }));
  assert.deepEqual(verifier.auditsOf(job.id), [record]);
  const slot = await network.chain.jobs.slot({ jobId: toBytes32(job.id) });
  assert.equal(slot.status, "Paid");
});
