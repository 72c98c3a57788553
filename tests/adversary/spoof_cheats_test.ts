import assert from "node:assert/strict";
import { CheatingProvider } from "../../testing/adversary.ts";
import { assertCaught, auditedNetwork, submitAndAudit, tinySpec } from "./_suite.ts";

Deno.test("spoofed, stale, random and copied results are caught; forged op records go down to one kernel", async (t) => {
  await using network = await auditedNetwork();
  const spec = await tinySpec();
  const cheater = await CheatingProvider.start({ network, account: 2, cheat: { kind: "honest" } });
  try {
    const provider = cheater.chain.account;
    await t.step("never trains (stale weights)", async () => {
      cheater.cheat = { kind: "stale" };
      const run = await submitAndAudit(network, spec);
      await assertCaught(network, run, provider);
      assert.equal(run.record.verdicts[0].status, "mismatch");
    });
    await t.step("commits random final weights", async () => {
      cheater.cheat = { kind: "random" };
      const run = await submitAndAudit(network, spec);
      await assertCaught(network, run, provider);
      assert.deepEqual(
        run.record.verdicts.map((v) => v.status),
        ["valid", "valid", "valid", "mismatch"],
      );
    });
    await t.step("interpolates its intermediate checkpoints between real ones", async () => {
      cheater.cheat = { kind: "interpolate" };
      const run = await submitAndAudit(network, spec);
      await assertCaught(network, run, provider);
      assert.equal(run.record.verdicts[0].status, "mismatch");
    });
    await t.step("copies another job's result", async () => {
      cheater.cheat = { kind: "copy" };
      const run = await submitAndAudit(network, await tinySpec({ learningRate: 0.03 }));
      await assertCaught(network, run, provider);
      assert.equal(run.record.verdicts[0].status, "mismatch");
    });
    await t.step(
      "flips a bit and forges its op records: the referee recomputes exactly one kernel",
      async () => {
        cheater.cheat = { kind: "flip-bit", step: 30, forgeRecords: true };
        const run = await submitAndAudit(network, spec);
        await assertCaught(network, run, provider);
        const dispute = run.record.dispute!;
        assert.equal(dispute.kind, "Execution");
        assert.equal(dispute.step, 29, "agreed at step 29, the flip is in step 29 -> 30");
        const ruling = await network.ruled(BigInt(dispute.id));
        assert.equal(ruling.kernelsRun, 1);
        assert.equal(ruling.opIndex, dispute.opIndex);
        assert.ok(!ruling.kernel.startsWith("("), `a real kernel, got ${ruling.kernel}`);
        assert.equal(ruling.verdict?.faults[0].reason, "wrong-output");
      },
    );
  } finally {
    await cheater.close();
  }
});
