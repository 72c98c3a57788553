import assert from "node:assert/strict";
import fc from "fast-check";
import { StorageError } from "../../lib/core/errors.ts";
import { CheckpointWriter } from "../../lib/proof/checkpoint.ts";
import {
  commitState,
  decodeState,
  encodeState,
  encodeStateInto,
} from "../../lib/proof/commitment.ts";
import { BlobStore } from "../../lib/proof/store.ts";
import type { TrainingState } from "../../lib/exec/state.ts";

const stateArb: fc.Arbitrary<TrainingState> = fc.record({
  step: fc.nat(),
  cursor: fc.nat(),
  variables: fc.array(
    fc.tuple(fc.string(), fc.array(fc.integer({ min: 1, max: 4 }), { maxLength: 3 })).chain((
      [name, shape],
    ) =>
      fc.float32Array({
        minLength: shape.reduce((a, b) => a * b, 1),
        maxLength: shape.reduce((a, b) => a * b, 1),
      }).map((data) => ({ name, shape, data }))
    ),
    { maxLength: 4 },
  ),
});

const corrupt = (e: unknown) => e instanceof StorageError && e.code === "STORAGE_CORRUPT_STATE";

Deno.test("state commitments", async (t) => {
  await t.step("encode/decode round-trips every bit (NaN payloads and -0 included)", () => {
    fc.assert(
      fc.property(stateArb, (state) => {
        const bytes = encodeState(state);
        assert.deepEqual(encodeState(decodeState(bytes)), bytes);
      }),
    );
  });

  await t.step("one flipped bit anywhere changes the commitment", async () => {
    const state: TrainingState = {
      step: 7,
      cursor: 448,
      variables: [{ name: "w", shape: [3], data: new Float32Array([1, 2, 3]) }],
    };
    const base = await commitState(state);
    const flipped = state.variables[0].data.slice();
    new Uint8Array(flipped.buffer)[5] ^= 1;
    assert.notEqual(
      await commitState({ ...state, variables: [{ ...state.variables[0], data: flipped }] }),
      base,
    );
    assert.notEqual(await commitState({ ...state, step: 8 }), base);
    assert.notEqual(await commitState({ ...state, cursor: 449 }), base);
  });

  await t.step("truncated or corrupted checkpoint files are typed errors", () => {
    const bytes = encodeState({
      step: 1,
      cursor: 2,
      variables: [{ name: "w", shape: [2, 2], data: new Float32Array(4) }],
    });
    assert.throws(() => decodeState(bytes.subarray(0, bytes.length - 1)), corrupt);
    assert.throws(() => decodeState(bytes.subarray(0, 6)), corrupt);
    const extra = new Uint8Array(bytes.length + 4);
    extra.set(bytes);
    assert.throws(() => decodeState(extra), corrupt);
    const badMagic = bytes.slice();
    badMagic[0] = 0;
    assert.throws(() => decodeState(badMagic), corrupt);
    const badHeader = bytes.slice();
    badHeader[9] = 0x20;
    assert.throws(() => decodeState(badHeader), corrupt);
  });

  await t.step("encodeStateInto writes encodeState's bytes, or nothing if they do not fit", () => {
    fc.assert(
      fc.property(stateArb, fc.nat(64), fc.boolean(), (state, spare, shared) => {
        const bytes = encodeState(state);
        const size = bytes.length + spare;
        const target = new Uint8Array(
          shared ? new SharedArrayBuffer(size) : new ArrayBuffer(size),
        );
        assert.equal(encodeStateInto(state, target), bytes.length);
        assert.deepEqual(target.slice(0, bytes.length), bytes);
        assert.ok(target.subarray(bytes.length).every((b) => b === 0));
        const small = new Uint8Array(bytes.length - 1);
        assert.equal(encodeStateInto(state, small), bytes.length);
        assert.ok(small.every((b) => b === 0));
        assert.equal(encodeStateInto(state), bytes.length);
      }),
    );
  });

  await t.step("the checkpoint writer's background commitments are commitState's", async () => {
    const dir = await Deno.makeTempDir();
    try {
      const store = new BlobStore(dir);
      const states = fc.sample(stateArb, { numRuns: 12, seed: 7 });
      for (const target of [store, undefined]) {
        const writer = new CheckpointWriter(target);
        // A finished writer takes more checkpoints (on a new worker) and lists them all.
        const added = states.slice(0, 5).map((s) => writer.add(s));
        await writer.finish();
        added.push(...states.slice(5).map((s) => writer.add(s)));
        const refs = await writer.finish();
        assert.deepEqual(refs, await Promise.all(added));
        for (const [i, state] of states.entries()) {
          assert.deepEqual(refs[i], {
            step: state.step,
            cursor: state.cursor,
            hash: await commitState(state),
          });
          if (target) assert.deepEqual(await store.get(refs[i].hash), encodeState(state));
        }
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });

  await t.step("a checkpoint the writer cannot store is a typed error", async () => {
    const dir = await Deno.makeTempDir();
    try {
      // A store under a regular file: its folders cannot be made.
      await Deno.writeTextFile(`${dir}/file`, "");
      const writer = new CheckpointWriter(new BlobStore(`${dir}/file/store`));
      writer.add(fc.sample(stateArb, { numRuns: 1, seed: 1 })[0]);
      await assert.rejects(
        () => writer.finish(),
        (e: unknown) => e instanceof StorageError && e.code === "STORAGE_WRITE_FAILED",
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});
