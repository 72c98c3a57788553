import assert from "node:assert/strict";
import fc from "fast-check";
import { VerificationError } from "../../lib/core/errors.ts";
import {
  applyAnswer,
  bisect,
  claimsFault,
  disputedSegment,
  EMPTY_OP_CHAIN,
  extendOpChain,
  findOpFaults,
  isDone,
  maxRounds,
  nextMidpoint,
  opChain,
  programDeviation,
  programOf,
  sourceMismatch,
  startBisection,
  startStepBisection,
} from "../../lib/proof/bisect.ts";
import { type OpRecord, STEP_INPUT, STEP_OUTPUT } from "../../lib/proof/ops.ts";

const h = (n: number): string => n.toString(16).padStart(64, "0");

/** A tiny step: input state (2 vars), Mul(w, lr), Sub(w, Mul), output state. */
function steps(lr = 7, out = 4): OpRecord[] {
  return [
    {
      index: 0,
      kernel: STEP_INPUT,
      attrs: { step: 3, cursor: 96, stateHash: h(100), names: ["w", "g"] },
      inputs: [],
      outputs: [{ shape: [2], dtype: "float32", hash: h(1) }, {
        shape: [2],
        dtype: "float32",
        hash: h(2),
      }],
    },
    {
      index: 1,
      kernel: "Multiply",
      attrs: {},
      inputs: [
        {
          name: "a",
          shape: [2],
          dtype: "float32",
          hash: h(2),
          source: { kind: "op", op: 0, output: 1 },
        },
        { name: "b", shape: [], dtype: "float32", hash: h(lr), source: { kind: "const" } },
      ],
      outputs: [{ shape: [2], dtype: "float32", hash: h(3) }],
    },
    {
      index: 2,
      kernel: "Sub",
      attrs: {},
      inputs: [
        {
          name: "a",
          shape: [2],
          dtype: "float32",
          hash: h(1),
          source: { kind: "op", op: 0, output: 0 },
        },
        {
          name: "b",
          shape: [2],
          dtype: "float32",
          hash: h(3),
          source: { kind: "op", op: 1, output: 0 },
        },
      ],
      outputs: [{ shape: [2], dtype: "float32", hash: h(out) }],
    },
    {
      index: 3,
      kernel: STEP_OUTPUT,
      attrs: { step: 4, cursor: 128, stateHash: h(200 + out) },
      inputs: [
        {
          name: "w",
          shape: [2],
          dtype: "float32",
          hash: h(out),
          source: { kind: "op", op: 2, output: 0 },
        },
        {
          name: "g",
          shape: [2],
          dtype: "float32",
          hash: h(2),
          source: { kind: "op", op: 0, output: 1 },
        },
      ],
      outputs: [],
    },
  ];
}

Deno.test("step bisection state machine", async (t) => {
  await t.step("rejects bad ranges and moves after the end", () => {
    for (
      const range of [{ agreed: 5, disputed: 5 }, { agreed: 6, disputed: 5 }, {
        agreed: 0.5,
        disputed: 3,
      }]
    ) {
      assert.throws(
        () => startBisection(range),
        (e) => e instanceof VerificationError && e.code === "VERIFY_BAD_RANGE",
      );
    }
    const done = startStepBisection(9, 10);
    assert.ok(isDone(done));
    assert.throws(
      () => nextMidpoint(done),
      (e) => e instanceof VerificationError && e.code === "VERIFY_BISECTION_DONE",
    );
    assert.throws(
      () => applyAnswer(startStepBisection(0, 4), "maybe" as "agree"),
      VerificationError,
    );
  });

  await t.step("k = 50 takes at most 6 rounds; table of spans", () => {
    for (const [span, rounds] of [[1, 0], [2, 1], [3, 2], [50, 6], [64, 6], [65, 7], [1000, 10]]) {
      assert.equal(maxRounds(span), rounds, `span ${span}`);
    }
  });

  await t.step(
    "finds the first divergence within ceil(log2(b - a)) rounds, for any divergence",
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 0, max: 1_000_000 }),
          fc.integer({ min: 1, max: 5000 }),
          fc.double({ min: 0, max: 1, noNaN: true }),
          async (a, span, where) => {
            const b = a + span;
            // First disagreeing step d in (a, b]: both agree before d, disagree from d on.
            const d = a + 1 + Math.min(span - 1, Math.floor(where * span));
            const end = await bisect(startStepBisection(a, b), (m) => m < d ? "agree" : "disagree");
            assert.deepEqual([end.agreed, end.disputed], [d - 1, d]);
            assert.ok(end.rounds <= maxRounds(span), `${end.rounds} rounds for span ${span}`);
            assert.ok(end.rounds >= Math.floor(Math.log2(span)));
          },
        ),
        { numRuns: 500 },
      );
    },
  );

  await t.step("every midpoint lies strictly inside the interval", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1000 }),
        fc.integer({ min: 2, max: 1000 }),
        fc.array(fc.boolean()),
        (a, span, answers) => {
          let game = startBisection({ agreed: a, disputed: a + span });
          for (const agree of answers) {
            if (isDone(game)) break;
            const mid = nextMidpoint(game);
            assert.ok(game.agreed < mid && mid < game.disputed);
            game = applyAnswer(game, agree ? "agree" : "disagree");
          }
        },
      ),
    );
  });
});

Deno.test("disputed segment and op prefixes", async (t) => {
  const cps = (hashes: number[]) =>
    hashes.map((x, i) => ({ step: i * 50, cursor: i * 1600, hash: h(x) }));
  await t.step("the first differing checkpoint names the segment", () => {
    assert.equal(disputedSegment(cps([1, 2, 3]), cps([1, 2, 3])), null);
    assert.deepEqual(disputedSegment(cps([1, 2, 3, 4]), cps([1, 2, 9, 9])), {
      segment: 1,
      fromStep: 50,
      toStep: 100,
    });
    assert.throws(
      () => disputedSegment(cps([1, 2]), cps([1, 2, 3])),
      (e) => e instanceof VerificationError && e.code === "VERIFY_TRACES_INCOMPARABLE",
    );
    assert.throws(() => disputedSegment(cps([1, 2]), cps([5, 2])), VerificationError);
  });

  await t.step("op chains extend one record at a time and stay put past the end", () => {
    const hashes = [h(1), h(2), h(3)];
    assert.equal(opChain(hashes, 0), EMPTY_OP_CHAIN);
    assert.equal(opChain(hashes, 2), extendOpChain(extendOpChain(EMPTY_OP_CHAIN, h(1)), h(2)));
    assert.equal(opChain(hashes, 3), extendOpChain(opChain(hashes, 2), h(3)));
    assert.equal(opChain(hashes, 7), opChain(hashes, 3));
    assert.notEqual(opChain(hashes, 2), opChain([h(1), h(9)], 2));
    for (const n of [-1, 1.5]) assert.throws(() => opChain(hashes, n), VerificationError);
  });
});

Deno.test("phase-2 rules at the first differing op", async (t) => {
  const honest = steps();
  const program = programOf(honest);

  await t.step("the program keeps structure and constants, drops values and state hashes", () => {
    assert.equal(program.length, 4);
    assert.deepEqual(program[0].attrs, { step: 3, cursor: 96, names: ["w", "g"] });
    assert.equal(program[1].inputs[0].hash, undefined);
    assert.equal(program[1].inputs[1].hash, h(7));
    assert.deepEqual(programOf(steps(7, 5)), program, "values do not change the program");
    assert.notDeepEqual(programOf(steps(8)), program, "constants do");
  });

  await t.step("deviations from the program, table-driven", () => {
    const op = honest[1];
    const cases: [string, OpRecord | undefined, number, RegExp | null][] = [
      ["same op", op, 1, null],
      ["output value only", { ...op, outputs: [{ ...op.outputs[0], hash: h(99) }] }, 1, null],
      ["other kernel", { ...op, kernel: "Add" }, 1, /runs Add where the program runs Multiply/],
      ["other attrs", { ...op, attrs: { x: 1 } }, 1, /attrs/],
      ["other constant", steps(8)[1], 1, /inputs/],
      [
        "other source",
        { ...op, inputs: [{ ...op.inputs[0], source: { kind: "const" } }, op.inputs[1]] },
        1,
        /inputs/,
      ],
      ["other output shape", { ...op, outputs: [{ ...op.outputs[0], shape: [3] }] }, 1, /outputs/],
      ["missing op", undefined, 2, /missing/],
      ["extra op", op, 4, /extra op/],
    ];
    for (const [name, record, at, want] of cases) {
      const got = programDeviation(record, program[at]);
      if (want === null) assert.equal(got, null, name);
      else assert.match(got ?? "", want, name);
    }
  });

  await t.step("inputs must carry the agreed hash of the output they name", () => {
    assert.equal(sourceMismatch(honest[2], honest.slice(0, 2)), null);
    const lied = {
      ...honest[2],
      inputs: [honest[2].inputs[0], { ...honest[2].inputs[1], hash: h(42) }],
    };
    assert.match(sourceMismatch(lied, honest.slice(0, 2)) ?? "", /source, output 0 of op 1/);
    const forward = {
      ...honest[1],
      inputs: [{ ...honest[1].inputs[0], source: { kind: "op" as const, op: 2, output: 0 } }],
    };
    assert.match(sourceMismatch(forward, honest.slice(0, 1)) ?? "", /no agreed value/);
  });

  await t.step("findOpFaults names the side that broke a rule, or none for a value dispute", () => {
    const cheat = steps(8); // wrong learning rate
    const faults = findOpFaults({
      index: 1,
      expected: program[1],
      agreed: honest.slice(0, 1),
      challenger: honest[1],
      provider: cheat[1],
    });
    assert.deepEqual(faults.map((f) => [f.side, f.reason]), [["provider", "program-deviation"]]);
    const valueOnly = steps(7, 5);
    assert.deepEqual(
      findOpFaults({
        index: 2,
        expected: program[2],
        agreed: honest.slice(0, 2),
        challenger: honest[2],
        provider: valueOnly[2],
      }),
      [],
    );
    const short = findOpFaults({
      index: 3,
      expected: program[3],
      agreed: honest.slice(0, 3),
      challenger: honest[3],
      provider: undefined,
    });
    assert.deepEqual(short.map((f) => [f.side, f.reason]), [["provider", "program-deviation"]]);
    const badInput = { ...honest[0], outputs: [honest[0].outputs[1], honest[0].outputs[0]] };
    const atZero = findOpFaults({
      index: 0,
      expected: program[0],
      agreed: [],
      challenger: honest[0],
      provider: badInput,
      stepInput: honest[0],
    });
    assert.deepEqual(atZero.map((f) => [f.side, f.reason]), [["provider", "step-input"]]);
    assert.throws(
      () =>
        findOpFaults({
          index: 0,
          expected: program[0],
          agreed: [],
          challenger: honest[0],
          provider: badInput,
        }),
      (e) => e instanceof VerificationError && e.code === "VERIFY_MISSING_STEP_INPUT",
    );
  });

  await t.step("a recording must start at the agreed state and end at its side's claim", () => {
    const claims = { agreedHash: h(100), claimedHash: h(204) };
    assert.equal(claimsFault("provider", honest, claims), null);
    assert.match(
      claimsFault("provider", honest, { ...claims, claimedHash: h(9) })?.detail ?? "",
      /not at the claimed/,
    );
    assert.match(
      claimsFault("provider", honest, { ...claims, agreedHash: h(9) })?.detail ?? "",
      /agreed state/,
    );
    assert.equal(claimsFault("challenger", honest.slice(1), claims)?.reason, "claims-inconsistent");
  });
});
