import assert from "node:assert/strict";
import type { TrainingState } from "../../lib/exec/state.ts";
import { Trainer } from "../../lib/exec/trainer.ts";
import {
  applyAnswer,
  isDone,
  maxRounds,
  nextMidpoint,
  startStepBisection,
} from "../../lib/proof/bisect.ts";
import {
  type Cheat,
  type DisputePath,
  forgeRecording,
  runDispute,
  trainParty,
} from "../../lib/proof/dispute.ts";
import { mnistSubset, smallMlpSpec } from "../_fixtures/mlp.ts";

const STEPS = 100;
const K = 50;
const CHEAT_STEP = 63;

/** The state with one bit of one weight flipped when it reaches `step`. */
function flipBit(state: TrainingState, step: number): TrainingState {
  if (state.step !== step) return state;
  const data = state.variables[0].data.slice();
  new Uint32Array(data.buffer)[123] ^= 1 << 20;
  return { ...state, variables: [{ ...state.variables[0], data }, ...state.variables.slice(1)] };
}

/** Checks a transcript's phase-1 moves replay through the pure state machine to the same step. */
function replayStepMoves(path: DisputePath): void {
  let game = startStepBisection(path.segment.fromStep, path.segment.toStep);
  for (const move of path.transcript) {
    if (move.phase !== "step") continue;
    assert.equal(move.at, nextMidpoint(game));
    assert.equal(move.answer, move.provider === move.challenger ? "agree" : "disagree");
    game = applyAnswer(game, move.answer);
  }
  assert.ok(isDone(game));
  assert.equal(game.agreed, path.step);
}

Deno.test("off-chain two-phase disputes", async (t) => {
  const dataset = await mnistSubset(512);
  const spec = await smallMlpSpec();
  const verifier = await Trainer.create({ spec, dataset, batchSize: 32 });
  const providerTrainer = await Trainer.create({ spec, dataset, batchSize: 32 });
  const wrongLr = await Trainer.create({
    spec: await smallMlpSpec({ name: "adam", learningRate: 0.02 }),
    dataset,
    batchSize: 32,
  });
  try {
    const challenger = await trainParty(verifier, { steps: STEPS, k: K });
    const dispute = async (cheat: Cheat | undefined, trainer = providerTrainer) => {
      const provider = await trainParty(trainer, { steps: STEPS, k: K, cheat });
      const started = performance.now();
      const path = await runDispute({ challenger, provider, referee: verifier });
      if (path) {
        console.log(
          `dispute step ${path.step}->${path.step + 1} op ${path.opIndex} ${path.kernel}: ` +
            `${path.verdict.faults.map((f) => `${f.side} ${f.reason}`).join(", ")}; rounds ` +
            `${path.rounds.step}+${path.rounds.op}; ${(performance.now() - started).toFixed(0)} ms`,
        );
      }
      return path;
    };

    await t.step("honest provider vs honest verifier: no dispute", async () => {
      assert.equal(await dispute(undefined), null);
    });

    await t.step(
      "a flipped bit, recorded honestly: the records miss the claimed state",
      async () => {
        const path = await dispute({ afterStep: (s) => flipBit(s, CHEAT_STEP) });
        assert.ok(path);
        assert.deepEqual(path.segment, { segment: 1, fromStep: 50, toStep: 100 });
        assert.equal(path.step, CHEAT_STEP - 1);
        assert.equal(path.verdict.winner, "challenger");
        assert.equal(path.verdict.faults[0].reason, "claims-inconsistent");
        replayStepMoves(path);
      },
    );

    await t.step(
      "a flipped bit, lied about at the step output: caught by its sources",
      async () => {
        const path = await dispute({
          afterStep: (s) => flipBit(s, CHEAT_STEP),
          recording: (honest, claimed) => forgeRecording(honest, claimed, "final"),
        });
        assert.ok(path);
        assert.equal(path.step, CHEAT_STEP - 1);
        assert.equal(path.kernel, "@StepOutput");
        assert.deepEqual(path.verdict.faults.map((f) => [f.side, f.reason]), [[
          "provider",
          "input-mismatch",
        ]]);
        assert.ok(path.rounds.step <= maxRounds(K));
      },
    );

    await t.step(
      "a flipped bit, lied about in the kernel that wrote it: one recomputed kernel",
      async () => {
        const path = await dispute({
          afterStep: (s) => flipBit(s, CHEAT_STEP),
          recording: (honest, claimed) => forgeRecording(honest, claimed, "producer"),
        });
        assert.ok(path);
        assert.equal(path.kernel, "AdamUpdate", "the fused Adam update writes the weight");
        assert.equal(path.verdict.winner, "challenger");
        assert.deepEqual(path.verdict.faults.map((f) => f.reason), ["wrong-output"]);
        assert.equal(path.verdict.kernelsRun, 1);
        assert.equal(path.verdict.programDerived, false);
        const ops = path.transcript.filter((m) => m.phase === "op").length;
        assert.equal(ops, path.rounds.op);
        assert.ok(path.rounds.op <= maxRounds(123), `${path.rounds.op} op rounds`);
        replayStepMoves(path);
      },
    );

    await t.step("a wrong learning rate: caught in the optimizer update op", async () => {
      const path = await dispute(undefined, wrongLr);
      assert.ok(path);
      assert.equal(path.step, 0, "the first step already differs");
      assert.equal(path.kernel, "AdamUpdate", "the learning rate is an attribute of the update");
      assert.deepEqual(path.verdict.faults.map((f) => [f.side, f.reason]), [[
        "provider",
        "program-deviation",
      ]]);
      assert.equal(path.verdict.programDerived, true);
    });

    await t.step("a skipped step: the kernel that should have written the weight", async () => {
      const skip: Cheat = {
        afterStep: (s, previous) =>
          s.step === CHEAT_STEP ? { ...previous, step: s.step, cursor: s.cursor } : s,
        recording: (honest, claimed) => forgeRecording(honest, claimed, "producer"),
      };
      const path = await dispute(skip);
      assert.ok(path);
      assert.equal(path.step, CHEAT_STEP - 1);
      assert.equal(path.verdict.winner, "challenger");
      assert.deepEqual(path.verdict.faults.map((f) => f.reason), ["wrong-output"]);
    });

    await t.step("a false accusation: the lying challenger loses", async () => {
      const provider = await trainParty(providerTrainer, { steps: STEPS, k: K });
      const liar = await trainParty(verifier, {
        steps: STEPS,
        k: K,
        cheat: {
          afterStep: (s) => flipBit(s, 20),
          recording: (honest, claimed) => forgeRecording(honest, claimed, "producer"),
        },
      });
      const path = await runDispute({ challenger: liar, provider, referee: verifier });
      assert.ok(path);
      assert.equal(path.step, 19);
      assert.equal(path.verdict.winner, "provider");
      assert.deepEqual(path.verdict.faults.map((f) => [f.side, f.reason]), [[
        "challenger",
        "wrong-output",
      ]]);
    });
  } finally {
    verifier.dispose();
    providerTrainer.dispose();
    wrongLr.dispose();
  }
});
