import assert from "node:assert/strict";
import fc from "fast-check";
import {
  aggregateDeltas,
  commitOuterState,
  DILOCO_OUTER,
  encodeOuterState,
  initialOuterState,
  outerFromTrainingState,
  outerStep,
  pseudoGradient,
  skipOuterStep,
  verifyOuterStep,
} from "../../lib/diloco/outer.ts";
import { decodeState } from "../../lib/proof/commitment.ts";
import { SpecError, VerificationError } from "../../lib/core/errors.ts";

const weights = (xs: number[]) => [{ name: "w", shape: [xs.length], data: new Float32Array(xs) }];
const f32 = fc.float({ noNaN: true, noDefaultInfinity: true, min: -1e3, max: 1e3 });

Deno.test("outer step", async (t) => {
  await t.step("pseudo-gradient is outer minus local, ignoring optimizer slots", () => {
    const local = [...weights([0.5, 2.5]), {
      name: "w/adam_m",
      shape: [2],
      data: new Float32Array(2),
    }];
    assert.deepEqual([...pseudoGradient(weights([1, 2]), local)], [0.5, -0.5]);
    assert.throws(
      () => pseudoGradient(weights([1, 2]), [{ name: "v", shape: [2], data: new Float32Array(2) }]),
      SpecError,
    );
  });

  await t.step("aggregation: mean in order, float32, same bits for the same inputs", () => {
    assert.deepEqual([...aggregateDeltas([new Float32Array([1, 2]), new Float32Array([3, 4])])], [
      2,
      3,
    ]);
    assert.throws(() => aggregateDeltas([]), SpecError);
    fc.assert(fc.property(
      fc.array(fc.array(f32, { minLength: 4, maxLength: 4 }), {
        minLength: 1,
        maxLength: 6,
      }),
      (rows) => {
        const deltas = rows.map((r) => new Float32Array(r));
        const a = aggregateDeltas(deltas);
        const b = aggregateDeltas(deltas.map((d) => d.slice()));
        assert.deepEqual(new Uint8Array(a.buffer), new Uint8Array(b.buffer));
        // Every value is a float32 and close to the exact mean.
        for (let j = 0; j < 4; j++) {
          assert.equal(Math.fround(a[j]), a[j]);
          const exact = rows.reduce((s, r) => s + Math.fround(r[j]), 0) / rows.length;
          assert.ok(Math.abs(a[j] - exact) <= 1e-3 + 1e-5 * Math.abs(exact));
        }
      },
    ));
  });

  await t.step("Nesterov SGD matches the formula, momentum carried in the state", () => {
    const o0 = initialOuterState(weights([1]));
    const o1 = outerStep(o0, new Float32Array([0.1]), DILOCO_OUTER);
    // m = 0.1; w = 1 - 0.7 * (0.1 + 0.9 * 0.1)
    assert.equal(o1.round, 1);
    assert.equal(o1.momentum[0][0], Math.fround(0.1));
    assert.ok(Math.abs(o1.weights[0].data[0] - (1 - 0.7 * 0.19)) < 1e-6);
    const o2 = outerStep(o1, new Float32Array([0.1]), DILOCO_OUTER);
    assert.ok(Math.abs(o2.momentum[0][0] - 0.19) < 1e-6);
    assert.equal(o0.weights[0].data[0], 1, "input state is not modified");
    assert.equal(skipOuterStep(o1).round, 2);
    assert.throws(() => outerStep(o0, new Float32Array(2)), SpecError);
  });

  await t.step("commitment binds weights, momentum and round; encoding round-trips", async () => {
    const o0 = initialOuterState(weights([1, 2]));
    const o1 = outerStep(o0, new Float32Array([0, 0]));
    assert.equal(
      await commitOuterState(o0),
      await commitOuterState(initialOuterState(weights([1, 2]))),
    );
    assert.notEqual(await commitOuterState(o0), await commitOuterState(o1)); // round differs
    const m = { ...o0, momentum: [new Float32Array([0, 1e-30])] };
    assert.notEqual(await commitOuterState(o0), await commitOuterState(m));
    const back = outerFromTrainingState(decodeState(encodeOuterState(o1)));
    assert.equal(await commitOuterState(back), await commitOuterState(o1));
  });

  await t.step("verifyOuterStep recomputes the claimed state and rejects another", async () => {
    const before = initialOuterState(weights([1, -1]));
    const deltas = [new Float32Array([0.5, 0.25]), new Float32Array([-0.125, 1])];
    const after = outerStep(before, aggregateDeltas(deltas));
    const claimed = await commitOuterState(after);
    const again = await verifyOuterStep({ before, deltas, claimed });
    assert.equal(await commitOuterState(again), claimed);
    await assert.rejects(
      verifyOuterStep({ before, deltas: deltas.slice(0, 1), claimed }),
      (e) => e instanceof VerificationError && e.code === "VERIFY_OUTER_STEP_MISMATCH",
    );
    assert.equal(
      await commitOuterState(
        await verifyOuterStep({
          before,
          deltas: [],
          claimed: await commitOuterState(skipOuterStep(before)),
        }),
      ),
      await commitOuterState(skipOuterStep(before)),
    );
  });
});
