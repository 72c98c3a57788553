import assert from "node:assert/strict";
import fc from "fast-check";
import { canonicalJson } from "../../lib/core/canonical.ts";
import { VerificationError } from "../../lib/core/errors.ts";
import { Trainer } from "../../lib/exec/trainer.ts";
import { programOf } from "../../lib/proof/bisect.ts";
import { commitState } from "../../lib/proof/commitment.ts";
import {
  attrsFromCanonical,
  canonicalAttrs,
  hashOpRecord,
  recordStep,
  sha256Sync,
  STEP_INPUT,
  STEP_OUTPUT,
} from "../../lib/proof/ops.ts";
import { recordProgram } from "../../lib/proof/referee.ts";
import { mnistSubset, smallMlpSpec } from "../_fixtures/mlp.ts";

Deno.test("canonical kernel attrs round-trip", () => {
  const attrs = {
    perm: new Int32Array([1, 0]),
    clip: [-Infinity, Infinity],
    alpha: NaN,
    keepDims: true,
    dtype: "float32",
    axis: null,
    skipped: undefined,
  };
  const canon = canonicalAttrs(attrs);
  assert.equal(
    canonicalJson(canon),
    '{"alpha":{"$float":"NaN"},"axis":null,"clip":[{"$float":"-Infinity"},{"$float":"Infinity"}],' +
      '"dtype":"float32","keepDims":true,"perm":[1,0]}',
  );
  assert.deepEqual(attrsFromCanonical(canon), {
    alpha: NaN,
    axis: null,
    clip: [-Infinity, Infinity],
    dtype: "float32",
    keepDims: true,
    perm: [1, 0],
  });
  fc.assert(fc.property(fc.jsonValue(), (v) => {
    const once = canonicalAttrs(v);
    assert.deepEqual(canonicalAttrs(attrsFromCanonical(once)), once);
  }));
});

Deno.test("recording one training step", async (t) => {
  const dataset = await mnistSubset(512);
  const trainer = await Trainer.create({ spec: await smallMlpSpec(), dataset, batchSize: 32 });
  try {
    const s5 = await trainer.run(trainer.initialState(), 5);
    await recordStep(trainer, s5); // warm up the wrappers and the wasm kernels
    const started = performance.now();
    const first = await recordStep(trainer, s5);
    const recordMs = performance.now() - started;
    const second = await recordStep(trainer, s5);
    const plainStarted = performance.now();
    const plain = await trainer.run(s5, 1);
    const plainMs = performance.now() - plainStarted;

    await t.step("does not change the bits: the state equals run(state, 1)", async () => {
      assert.equal(first.stateHash, await commitState(plain));
      assert.equal(await commitState(first.state), await commitState(plain));
      assert.equal(first.state.step, 6);
    });

    await t.step("is reproducible: identical records and root twice", () => {
      assert.equal(first.opsRoot, second.opsRoot);
      assert.equal(canonicalJson(first.ops), canonicalJson(second.ops));
      assert.deepEqual(first.opHashes, first.ops.map(hashOpRecord));
    });

    await t.step("is framed by the step input and output, with sources pointing back", () => {
      const ops = first.ops;
      console.log(
        `one MLP step runs ${ops.length - 2} kernels; recording it takes ${
          recordMs.toFixed(1)
        } ms ` +
          `vs plain step ${plainMs.toFixed(1)} ms`,
      );
      assert.ok(ops.length > 20, `${ops.length} ops`);
      assert.equal(ops[0].kernel, STEP_INPUT);
      assert.equal(ops[ops.length - 1].kernel, STEP_OUTPUT);
      assert.deepEqual(ops[0].attrs, {
        step: 5,
        cursor: s5.cursor,
        stateHash: ops[0].attrs && (ops[0].attrs as { stateHash: string }).stateHash,
        names: [...trainer.variableNames],
      });
      const kernels = new Set(ops.map((o) => o.kernel));
      for (
        const k of ["BatchMatMul", "_FusedMatMul", "Relu", "AdamUpdate", "SoftmaxCrossEntropy"]
      ) {
        assert.ok(kernels.has(k), `records ${k}`);
      }
      ops.forEach((op, i) => {
        assert.equal(op.index, i);
        for (const input of op.inputs) {
          if (input.source.kind !== "op") continue;
          assert.ok(input.source.op < i, `op ${i} reads a later op`);
          assert.equal(input.hash, ops[input.source.op].outputs[input.source.output].hash);
        }
      });
      // Every variable of the state after the step is the output of a recorded op.
      const out = ops[ops.length - 1];
      assert.deepEqual(out.inputs.map((i) => i.name), [...trainer.variableNames]);
      assert.ok(out.inputs.every((i) => i.source.kind === "op" && i.source.op > 0));
    });

    await t.step("keeps the input bytes of every op for a reveal", () => {
      for (const op of first.ops) {
        const bytes = first.tensors(op.index);
        assert.deepEqual(bytes.map((b) => sha256Sync(b)), op.inputs.map((i) => i.hash));
      }
      assert.throws(
        () => first.tensors(first.ops.length),
        (e) => e instanceof VerificationError && e.code === "VERIFY_BAD_INDEX",
      );
    });

    await t.step("the program depends on the plan and step only, not on the weights", async () => {
      const program = await recordProgram(trainer, { step: 5, cursor: s5.cursor });
      assert.equal(canonicalJson(program), canonicalJson(programOf(first.ops)));
      // Adam's bias corrections are constants of the step number: another step, another program.
      const next = await recordProgram(trainer, { step: 6, cursor: s5.cursor });
      assert.notEqual(canonicalJson(next), canonicalJson(program));
      assert.equal(next.length, program.length);
    });

    await t.step("is off outside recordStep: training runs unrecorded and unchanged", async () => {
      const again = await trainer.run(s5, 1);
      assert.equal(await commitState(again), first.stateHash);
    });
  } finally {
    trainer.dispose();
  }
});
