import assert from "node:assert/strict";
import fc from "fast-check";
import { StorageError } from "../../lib/core/errors.ts";
import { commitState, decodeState, encodeState } from "../../lib/proof/commitment.ts";
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
});
