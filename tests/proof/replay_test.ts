import assert from "node:assert/strict";
import { StorageError, VerificationError } from "../../lib/core/errors.ts";
import { canonicalJson } from "../../lib/core/canonical.ts";
import type { TrainingState } from "../../lib/exec/state.ts";
import { Trainer } from "../../lib/exec/trainer.ts";
import { trainWithProof } from "../../lib/proof/checkpoint.ts";
import { encodeState } from "../../lib/proof/commitment.ts";
import { replaySegment, verifyInitialState } from "../../lib/proof/replay.ts";
import { BlobStore } from "../../lib/proof/store.ts";
import { buildTrace, decodeTrace, encodeTrace, type Trace } from "../../lib/proof/trace.ts";
import { mnistSubset, smallMlpSpec } from "../_fixtures/mlp.ts";

const K = 10;
const STEPS = 40;

/** A trace claiming `honest`'s plan but with the given states as its checkpoints. */
async function forgedTrace(
  honest: Trace,
  states: TrainingState[],
  store: BlobStore,
): Promise<Trace> {
  const checkpoints = [];
  for (const s of states) {
    checkpoints.push({ step: s.step, cursor: s.cursor, hash: await store.put(encodeState(s)) });
  }
  return buildTrace({ plan: honest.plan, k: K, steps: STEPS, checkpoints });
}

/** Checkpoints of an honest run from `from` every K steps until STEPS, using `trainer`. */
async function continueFrom(trainer: Trainer, from: TrainingState): Promise<TrainingState[]> {
  const out: TrainingState[] = [];
  let s = from;
  while (s.step < STEPS) {
    s = await trainer.run(s, K);
    out.push(s);
  }
  return out;
}

Deno.test("segment replay catches every kind of cheating", async (t) => {
  const dir = await Deno.makeTempDir();
  const dataset = await mnistSubset(1024);
  const spec = await smallMlpSpec();
  const trainer = await Trainer.create({ spec, dataset, batchSize: 32, dataSeed: 4 });
  const store = new BlobStore(dir);
  const others: Trainer[] = [];
  try {
    const honest = await trainWithProof({ trainer, steps: STEPS, k: K, store });
    const states = [trainer.initialState()];
    for (const c of honest.trace.checkpoints.slice(1)) {
      states.push(
        (await import("../../lib/proof/checkpoint.ts")).loadCheckpoint(store, c.hash)
          .then((s) => s) as unknown as TrainingState,
      );
    }
    const honestStates = await Promise.all(states);

    await t.step("an honest trace verifies segment by segment", async () => {
      assert.equal(honest.trace.checkpoints.length, STEPS / K + 1);
      assert.ok((await verifyInitialState(honest.trace, trainer)).valid);
      for (let i = 0; i < honest.trace.checkpoints.length - 1; i++) {
        const v = await replaySegment(honest.trace, i, { trainer, store });
        assert.equal(v.status, "valid", JSON.stringify(v));
      }
    });

    await t.step(
      "a forged checkpoint with one flipped bit fails the segment before it",
      async () => {
        const s2 = honestStates[2];
        const data = s2.variables[0].data.slice();
        new Uint32Array(data.buffer)[17] ^= 1 << 3;
        const tampered = {
          ...s2,
          variables: [{ ...s2.variables[0], data }, ...s2.variables.slice(1)],
        };
        const forged = await forgedTrace(honest.trace, [
          ...honestStates.slice(0, 2),
          tampered,
          ...await continueFrom(trainer, tampered),
        ], store);
        const v1 = await replaySegment(forged, 1, { trainer, store });
        assert.equal(v1.status, "mismatch");
        assert.equal(v1.status === "mismatch" && v1.expected, forged.checkpoints[2].hash);
        assert.equal(v1.status === "mismatch" && v1.actual, honest.trace.checkpoints[2].hash);
        assert.equal((await replaySegment(forged, 0, { trainer, store })).status, "valid");
        assert.equal((await replaySegment(forged, 2, { trainer, store })).status, "valid");
      },
    );

    await t.step(
      "a stored checkpoint whose bytes changed on disk is reported corrupt",
      async () => {
        const local = new BlobStore(await Deno.makeTempDir({ dir }));
        for (const s of honestStates) await local.put(encodeState(s));
        const path = local.pathOf(honest.trace.checkpoints[1].hash);
        const bytes = await Deno.readFile(path);
        bytes[bytes.length - 3] ^= 0x80;
        await Deno.writeFile(path, bytes);
        const v = await replaySegment(honest.trace, 1, { trainer, store: local });
        assert.equal(v.status, "corrupt-checkpoint");
        await Deno.remove(local.pathOf(honest.trace.checkpoints[2].hash));
        const missing = await replaySegment(honest.trace, 2, { trainer, store: local });
        assert.equal(missing.status, "missing-checkpoint");
      },
    );

    await t.step("a skipped step is caught", async () => {
      const s1 = honestStates[1];
      const s14 = await trainer.run(s1, 4);
      // Skip step 15: advance the counters without training on that batch.
      const skipped = { ...s14, step: 15, cursor: trainer.sampler.next(s14.cursor) };
      const s20 = await trainer.run(skipped, 5);
      const forged = await forgedTrace(honest.trace, [
        honestStates[0],
        s1,
        s20,
        ...await continueFrom(trainer, s20),
      ], store);
      assert.equal((await replaySegment(forged, 1, { trainer, store })).status, "mismatch");
      assert.equal((await replaySegment(forged, 2, { trainer, store })).status, "valid");
    });

    await t.step("a wrong batch order is caught", async () => {
      const wrongOrder = await Trainer.create({ spec, dataset, batchSize: 32, dataSeed: 5 });
      others.push(wrongOrder);
      const s20 = await wrongOrder.run(honestStates[1], K);
      const forged = await forgedTrace(honest.trace, [
        ...honestStates.slice(0, 2),
        s20,
        ...await continueFrom(trainer, s20),
      ], store);
      assert.equal((await replaySegment(forged, 1, { trainer, store })).status, "mismatch");
    });

    await t.step("a wrong learning rate is caught", async () => {
      const wrongLr = await Trainer.create({
        spec: await smallMlpSpec({ name: "adam", learningRate: 0.0101 }),
        dataset,
        batchSize: 32,
        dataSeed: 4,
      });
      others.push(wrongLr);
      const s20 = await wrongLr.run(honestStates[1], K);
      const forged = await forgedTrace(honest.trace, [
        ...honestStates.slice(0, 2),
        s20,
        ...await continueFrom(trainer, s20),
      ], store);
      assert.equal((await replaySegment(forged, 1, { trainer, store })).status, "mismatch");
    });

    await t.step("a trace replayed with another plan is a typed error", async () => {
      const other = await Trainer.create({ spec, dataset, batchSize: 16, dataSeed: 4 });
      others.push(other);
      await assert.rejects(
        () => replaySegment(honest.trace, 0, { trainer: other, store }),
        (e: unknown) => e instanceof VerificationError && e.code === "VERIFY_PLAN_MISMATCH",
      );
      await assert.rejects(
        () => replaySegment(honest.trace, 99, { trainer, store }),
        (e: unknown) => e instanceof VerificationError && e.code === "VERIFY_BAD_SEGMENT",
      );
    });

    await t.step("resuming an interrupted run gives the same trace", async () => {
      const resumed = await trainWithProof({
        trainer,
        steps: STEPS,
        k: K,
        store,
        resume: { checkpoints: honest.trace.checkpoints.slice(0, 3), state: honestStates[2] },
      });
      assert.deepEqual(resumed.trace, honest.trace);
    });

    await t.step(
      "trace files round-trip; altered, malformed or newer ones are refused",
      async () => {
        const bytes = encodeTrace(honest.trace);
        assert.deepEqual(await decodeTrace(bytes), honest.trace);
        const code = (c: string) => (e: unknown) => e instanceof StorageError && e.code === c;
        const mutate = (f: (t: Record<string, unknown>) => void) => {
          const copy = JSON.parse(new TextDecoder().decode(bytes));
          f(copy);
          return new TextEncoder().encode(canonicalJson(copy));
        };
        await assert.rejects(
          () => decodeTrace(mutate((t) => (t.version = 2))),
          code("STORAGE_TRACE_VERSION_UNSUPPORTED"),
        );
        await assert.rejects(
          () =>
            decodeTrace(
              mutate((t) => ((t.checkpoints as { hash: string }[])[1].hash = "ab".repeat(32))),
            ),
          code("STORAGE_CORRUPT_TRACE"),
        );
        await assert.rejects(
          () => decodeTrace(mutate((t) => (t.checkpoints as unknown[]).pop())),
          code("STORAGE_CORRUPT_TRACE"),
        );
        await assert.rejects(
          () => decodeTrace(bytes.subarray(0, 50)),
          code("STORAGE_CORRUPT_TRACE"),
        );
      },
    );
  } finally {
    trainer.dispose();
    for (const o of others) o.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});
