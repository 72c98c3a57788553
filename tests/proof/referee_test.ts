import assert from "node:assert/strict";
import { ProfileMismatchError, VerificationError } from "../../lib/core/errors.ts";
import { Trainer } from "../../lib/exec/trainer.ts";
import { programOf } from "../../lib/proof/bisect.ts";
import { type OpRecord, recordStep } from "../../lib/proof/ops.ts";
import { judgeOp, type JudgeOptions, recomputeOp } from "../../lib/proof/referee.ts";
import { mnistSubset, smallMlpSpec } from "../_fixtures/mlp.ts";

Deno.test("single-op referee", async (t) => {
  const dataset = await mnistSubset(512);
  const trainer = await Trainer.create({ spec: await smallMlpSpec(), dataset, batchSize: 32 });
  try {
    const state = await trainer.run(trainer.initialState(), 3);
    const rec = await recordStep(trainer, state);
    const agreedHash = (rec.ops[0].attrs as { stateHash: string }).stateHash;
    const lastIndex = rec.ops.length - 1;
    const sub = rec.ops.findLast((o) => o.kernel === "AdamUpdate")!;
    const options = (index: number, provider: OpRecord | undefined): JudgeOptions => ({
      index,
      agreed: rec.ops.slice(0, index),
      challenger: rec.ops[index],
      provider,
      program: () => Promise.resolve(programOf(rec.ops)),
      profile: trainer.plan.profile,
      agreedHash,
      reveals: [{ by: "challenger", bytes: rec.tensors(index) }],
    });
    const lieAbout = (op: OpRecord): OpRecord => ({
      ...op,
      outputs: op.outputs.map((o, i) => i === 0 ? { ...o, hash: "ab".repeat(32) } : o),
    });

    await t.step(
      "recomputing any kernel of a step on its inputs gives its recorded outputs",
      () => {
        for (const op of rec.ops.slice(1, -1)) {
          assert.deepEqual(
            recomputeOp(op, rec.tensors(op.index)),
            op.outputs.map((o) => o.hash),
            `op ${op.index} ${op.kernel}`,
          );
        }
        assert.throws(
          () => recomputeOp(rec.ops[0], []),
          (e) => e instanceof VerificationError && e.code === "VERIFY_NOT_RECOMPUTABLE",
        );
      },
    );

    await t.step("a wrong output hash loses after one recomputed kernel", async () => {
      const v = await judgeOp(options(sub.index, lieAbout(sub)));
      assert.equal(v.winner, "challenger");
      assert.deepEqual(v.faults.map((f) => [f.side, f.reason]), [["provider", "wrong-output"]]);
      assert.equal(v.kernel, "AdamUpdate");
      assert.equal(v.kernelsRun, 1);
      assert.equal(v.programDerived, false);
      assert.deepEqual(v.recomputed, sub.outputs.map((o) => o.hash));
    });

    await t.step("a false accusation loses the same way", async () => {
      const v = await judgeOp({ ...options(sub.index, sub), challenger: lieAbout(sub) });
      assert.equal(v.winner, "provider");
    });

    await t.step(
      "revealed bytes that do not match the agreed hashes lose for the revealer",
      async () => {
        const junk = rec.tensors(sub.index).map((b) => b.map((x) => x ^ 1));
        const only = await judgeOp({
          ...options(sub.index, lieAbout(sub)),
          reveals: [{ by: "provider", bytes: junk }],
        });
        assert.deepEqual(only.faults.map((f) => [f.side, f.reason]), [["provider", "bad-reveal"]]);
        assert.equal(only.winner, "challenger");
        const both = await judgeOp({
          ...options(sub.index, lieAbout(sub)),
          reveals: [{ by: "provider", bytes: junk }, {
            by: "challenger",
            bytes: rec.tensors(sub.index),
          }],
        });
        assert.deepEqual(both.faults.map((f) => f.reason).sort(), ["bad-reveal", "wrong-output"]);
        await assert.rejects(
          () => judgeOp({ ...options(sub.index, lieAbout(sub)), reveals: [] }),
          (e) => e instanceof VerificationError && e.code === "VERIFY_MISSING_REVEAL",
        );
      },
    );

    await t.step("refuses to recompute under another profile", async () => {
      await assert.rejects(
        () => judgeOp({ ...options(sub.index, lieAbout(sub)), profile: "cpu" }),
        ProfileMismatchError,
      );
    });

    await t.step("a deviating structure is judged against the derived program", async () => {
      const other = { ...sub, kernel: "Add" };
      const v = await judgeOp(options(sub.index, other));
      assert.equal(v.programDerived, true);
      assert.equal(v.kernelsRun, 0);
      assert.deepEqual(v.faults.map((f) => [f.side, f.reason]), [[
        "provider",
        "program-deviation",
      ]]);
    });

    await t.step("the step input is checked against the revealed agreed state", async () => {
      // Swap two same-shaped variables (Adam's m and v of the first kernel): values, not structure.
      const outputs = [...rec.ops[0].outputs];
      [outputs[4], outputs[5]] = [outputs[5], outputs[4]];
      const swapped = { ...rec.ops[0], outputs };
      const base = { ...options(0, swapped), reveals: [] };
      const v = await judgeOp({ ...base, agreedState: { state, by: "challenger" } });
      assert.deepEqual(v.faults.map((f) => [f.side, f.reason]), [["provider", "step-input"]]);
      const wrong = await trainer.run(state, 1);
      const bad = await judgeOp({ ...base, agreedState: { state: wrong, by: "provider" } });
      assert.deepEqual(bad.faults.map((f) => [f.side, f.reason]), [["provider", "bad-reveal"]]);
      await assert.rejects(() => judgeOp(base), VerificationError);
    });

    await t.step("the step output is judged by recomputing the state commitment", async () => {
      const last = rec.ops[lastIndex];
      const forged = { ...last, attrs: { ...(last.attrs as object), stateHash: "cd".repeat(32) } };
      const v = await judgeOp(options(lastIndex, forged));
      assert.deepEqual(v.faults.map((f) => [f.side, f.reason]), [["provider", "state-commitment"]]);
      assert.deepEqual(v.recomputed, [(last.attrs as { stateHash: string }).stateHash]);
    });

    await t.step("records that agree cannot be judged", async () => {
      await assert.rejects(
        () => judgeOp(options(sub.index, sub)),
        (e) => e instanceof VerificationError && e.code === "VERIFY_NO_FAULT",
      );
    });
  } finally {
    trainer.dispose();
  }
});
