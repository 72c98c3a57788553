import assert from "node:assert/strict";
import { CheatingProvider } from "../../testing/adversary.ts";
import { assertCaught, assertPaid, auditedNetwork, submitAndAudit, tinySpec } from "./_suite.ts";

Deno.test("providers that bend the training are caught by a full audit; the honest one is paid", async (t) => {
  await using network = await auditedNetwork();
  const spec = await tinySpec();
  const cheater = await CheatingProvider.start({ network, account: 2, cheat: { kind: "honest" } });
  try {
    const provider = cheater.chain.account;
    await t.step("skips steps in one segment", async () => {
      cheater.cheat = { kind: "skip-steps", segments: [2], skip: 3 };
      const run = await submitAndAudit(network, spec);
      await assertCaught(network, run, provider);
      assert.deepEqual(run.record.verdicts.map((v) => v.status), ["valid", "valid", "mismatch"]);
    });
    await t.step("trains fewer steps (half of every segment)", async () => {
      cheater.cheat = { kind: "skip-steps", segments: "all", skip: 5 };
      const run = await submitAndAudit(network, spec);
      await assertCaught(network, run, provider);
      assert.equal(run.record.verdicts.at(-1)?.status, "mismatch");
    });
    await t.step("trains with another learning rate under the claimed spec", async () => {
      cheater.cheat = { kind: "other-spec", spec: await tinySpec({ learningRate: 0.02 }) };
      const run = await submitAndAudit(network, spec);
      await assertCaught(network, run, provider);
      assert.equal(run.record.verdicts[0].status, "mismatch");
    });
    await t.step("trains from another seed under the claimed spec", async () => {
      cheater.cheat = { kind: "other-spec", spec: await tinySpec({ seed: 4 }) };
      const run = await submitAndAudit(network, spec);
      await assertCaught(network, run, provider);
      // Every segment replays (same hyperparameters), but the start is not the spec's.
      assert.equal(run.record.verdicts[0].status, "bad-initial-state");
    });
    await t.step("flips a single bit at one step", async () => {
      cheater.cheat = { kind: "flip-bit", step: 27 };
      const run = await submitAndAudit(network, spec);
      await assertCaught(network, run, provider);
      assert.deepEqual(run.record.verdicts.map((v) => v.status), ["valid", "valid", "mismatch"]);
    });
    await t.step("the same node, honest, is audited and paid, never slashed", async () => {
      cheater.cheat = { kind: "honest" };
      await assertPaid(network, await submitAndAudit(network, spec), (id) => cheater.collect(id));
    });
  } finally {
    await cheater.close();
  }
});
