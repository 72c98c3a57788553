import assert from "node:assert/strict";
import fc from "fast-check";
import { SpecError } from "../../lib/core/errors.ts";
import { formatUnits, parseUnits } from "../../lib/core/units.ts";

Deno.test("token units", async (t) => {
  await t.step("known values", () => {
    assert.equal(formatUnits(0n, 18), "0");
    assert.equal(formatUnits(1n, 18), "0.000000000000000001");
    assert.equal(formatUnits(25n * 10n ** 17n, 18), "2.5");
    assert.equal(formatUnits(-5n * 10n ** 6n, 6), "-5");
    assert.equal(parseUnits("1000", 18), 1000n * 10n ** 18n);
    assert.equal(parseUnits("0.5", 6), 500_000n);
  });
  await t.step("parse inverts format for every amount", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 2n ** 256n }),
        fc.integer({ min: 0, max: 30 }),
        (v, d) => {
          assert.equal(parseUnits(formatUnits(v, d), d), v);
        },
      ),
    );
  });
  await t.step("malformed amounts are typed errors", () => {
    for (const bad of ["", "1e18", "-1", "1.2.3", "0.1234567", "abc"]) {
      assert.throws(() => parseUnits(bad, 6), SpecError, bad);
    }
  });
});
