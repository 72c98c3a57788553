import assert from "node:assert/strict";
import fc from "fast-check";
import { DatasetError } from "../../lib/core/errors.ts";
import { createSampler, shardIndices, shuffleOrder, Xoshiro128ss } from "../../lib/exec/sampler.ts";

function isPermutation(order: Uint32Array, count: number): boolean {
  if (order.length !== count) return false;
  const seen = new Uint8Array(count);
  for (const i of order) {
    if (i >= count || seen[i]) return false;
    seen[i] = 1;
  }
  return true;
}

function assertInvalid(fn: () => unknown): void {
  assert.throws(fn, (e) => e instanceof DatasetError && e.code === "DATASET_INVALID_PARAM");
}

Deno.test("prng", async (t) => {
  // Vectors produced by the reference C code of SplitMix64 and xoshiro128** (Vigna's
  // splitmix64.c and xoshiro128starstar.c) seeded as the sampler module doc specifies.
  const vectors: [number, number, number[]][] = [
    [42, 3, [4270423161, 4248737757, 1865820134, 1673553217, 3024265308]],
    [-7, 0, [4223611229, 503407668, 1975746621, 3672616396, 1722355233]],
    [0, 1, [3897246909, 1885252544, 1052105080, 65707390, 4123395349]],
    [9007199254740991, 12345, [3258146641, 3769509388, 2052324178, 2108915586, 2966543679]],
  ];
  for (const [seed, epoch, expected] of vectors) {
    await t.step(`matches the reference for seed ${seed}, epoch ${epoch}`, () => {
      const rng = new Xoshiro128ss(seed, epoch);
      assert.deepEqual(expected.map(() => rng.nextUint32()), expected);
    });
  }

  await t.step("nextBelow stays in range, including the 2^32 bound", () => {
    const rng = new Xoshiro128ss(1, 0);
    for (const bound of [1, 2, 3, 7, 1000, 0x80000001, 0x100000000]) {
      for (let i = 0; i < 100; i++) {
        const v = rng.nextBelow(bound);
        assert.ok(Number.isInteger(v) && v >= 0 && v < bound);
      }
    }
  });
});

Deno.test("shuffleOrder", async (t) => {
  await t.step("is pinned: the same order on every machine (also checked against C)", () => {
    assert.deepEqual(Array.from(shuffleOrder(10, 42, 0)), [8, 0, 1, 6, 3, 4, 2, 5, 9, 7]);
    assert.deepEqual(Array.from(shuffleOrder(10, 42, 1)), [9, 7, 8, 6, 2, 3, 5, 4, 1, 0]);
  });

  await t.step("is a permutation, and a pure function of (count, seed, epoch)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 300 }),
        fc.maxSafeInteger(),
        fc.integer({ min: 0, max: 1_000_000 }),
        (count, seed, epoch) => {
          const order = shuffleOrder(count, seed, epoch);
          assert.ok(isPermutation(order, count));
          assert.deepEqual(order, shuffleOrder(count, seed, epoch));
        },
      ),
    );
  });

  await t.step("differs across seeds and epochs", () => {
    const base = shuffleOrder(1000, 1, 0);
    assert.notDeepEqual(base, shuffleOrder(1000, 2, 0));
    assert.notDeepEqual(base, shuffleOrder(1000, 1, 1));
    assert.notDeepEqual(base, shuffleOrder(1000, -1, 0));
  });

  await t.step("moves every position roughly uniformly", () => {
    // Where element 0 lands over many epochs: each of 10 slots should get about 10%.
    const hits = new Array(10).fill(0);
    for (let epoch = 0; epoch < 5000; epoch++) hits[shuffleOrder(10, 9, epoch).indexOf(0)]++;
    for (const h of hits) assert.ok(h > 400 && h < 600, `slot hits ${hits}`);
  });

  await t.step("rejects bad parameters", () => {
    assertInvalid(() => shuffleOrder(-1, 0, 0));
    assertInvalid(() => shuffleOrder(1.5, 0, 0));
    assertInvalid(() => shuffleOrder(10, 0.5, 0));
    assertInvalid(() => shuffleOrder(10, 0, -1));
    assertInvalid(() => shuffleOrder(10, Number.MAX_SAFE_INTEGER + 1, 0));
  });
});

Deno.test("shardIndices", async (t) => {
  await t.step("shards partition a count, strided, sizes within one", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2000 }),
        fc.integer({ min: 1, max: 40 }),
        (count, of) => {
          const shards = Array.from({ length: of }, (_, i) => shardIndices(count, i, of));
          shards.forEach((s, i) => assert.ok(s.every((k) => k % of === i)));
          const all = shards.flatMap((s) => Array.from(s)).sort((a, b) => a - b);
          assert.deepEqual(all, Array.from({ length: count }, (_, i) => i));
          const sizes = shards.map((s) => s.length);
          assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1);
        },
      ),
    );
  });

  await t.step("shards of an order partition that order", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 500 }),
        fc.integer({ min: 1, max: 17 }),
        fc.integer(),
        (count, of, seed) => {
          const order = shuffleOrder(count, seed, 0);
          const shards = Array.from({ length: of }, (_, i) => shardIndices(order, i, of));
          // Position p of the order lands in shard p % of, as element floor(p / of).
          order.forEach((v, p) => assert.equal(shards[p % of][Math.floor(p / of)], v));
          assert.equal(shards.reduce((n, s) => n + s.length, 0), count);
        },
      ),
    );
  });

  await t.step("documented example", () => {
    const mine = shardIndices(1000, 2, 4);
    assert.deepEqual([mine[0], mine[1], mine[249]], [2, 6, 998]);
    assert.equal(mine.length, 250);
    assert.deepEqual(Array.from(shardIndices(10, 0, 3)), [0, 3, 6, 9]);
    assert.deepEqual(Array.from(shardIndices(10, 1, 3)), [1, 4, 7]);
    assert.deepEqual(Array.from(shardIndices(10, 2, 3)), [2, 5, 8]);
    assert.deepEqual(Array.from(shardIndices(new Uint32Array([9, 8, 7, 6, 5]), 1, 2)), [8, 6]);
    assert.deepEqual(Array.from(shardIndices(2, 3, 5)), []);
  });

  await t.step("rejects bad shard parameters", () => {
    assertInvalid(() => shardIndices(10, 3, 3));
    assertInvalid(() => shardIndices(10, -1, 3));
    assertInvalid(() => shardIndices(10, 0, 0));
    assertInvalid(() => shardIndices(10, 0, 1.5));
  });
});

Deno.test("createSampler", async (t) => {
  await t.step("same params give the same batches; another seed gives others", () => {
    const a = createSampler({ count: 1000, seed: 5, batchSize: 32 });
    const b = createSampler({ count: 1000, seed: 5, batchSize: 32 });
    const c = createSampler({ count: 1000, seed: 6, batchSize: 32 });
    for (let cursor = 0; cursor < 5000; cursor = a.next(cursor)) {
      assert.deepEqual(a.batch(cursor), b.batch(cursor));
    }
    assert.notDeepEqual(a.batch(0), c.batch(0));
  });

  await t.step("each epoch visits examplesPerEpoch distinct examples, dropping the tail", () => {
    const s = createSampler({ count: 1000, seed: 3, batchSize: 64 });
    assert.equal(s.examplesPerEpoch, 960);
    assert.equal(s.batchesPerEpoch, 15);
    for (let epoch = 0; epoch < 3; epoch++) {
      const seen = new Set<number>();
      for (let b = 0; b < s.batchesPerEpoch; b++) {
        const cursor: number = epoch * s.examplesPerEpoch + b * s.batchSize;
        assert.equal(s.epoch(cursor), epoch);
        const batch = s.batch(cursor);
        assert.equal(batch.length, 64);
        for (const i of batch) {
          assert.ok(i < 1000);
          seen.add(i);
        }
      }
      assert.equal(seen.size, 960);
    }
  });

  await t.step("cursor arithmetic across the epoch boundary", () => {
    const s = createSampler({ count: 100, seed: 11, batchSize: 10 });
    const last = s.examplesPerEpoch - 10;
    assert.equal(s.epoch(last), 0);
    assert.equal(s.next(last), s.examplesPerEpoch);
    assert.equal(s.epoch(s.next(last)), 1);
    // The first batch of epoch 1 is the head of shuffleOrder(count, seed, 1).
    assert.deepEqual(Array.from(s.batch(100)), Array.from(shuffleOrder(100, 11, 1).slice(0, 10)));
    assert.deepEqual(Array.from(s.batch(0)), Array.from(shuffleOrder(100, 11, 0).slice(0, 10)));
    // Epoch 1's batches together are again a permutation.
    const epoch1 = new Uint32Array(100);
    for (let c = 100; c < 200; c = s.next(c)) epoch1.set(s.batch(c), c - 100);
    assert.ok(isPermutation(epoch1, 100));
  });

  await t.step("a fresh sampler resumed at a cursor agrees with one that ran there", () => {
    const params = { count: 777, seed: 2, batchSize: 16, shard: { index: 1, of: 3 } };
    const running = createSampler(params);
    let cursor = 0;
    for (let i = 0; i < 40; i++) {
      running.batch(cursor);
      cursor = running.next(cursor);
    }
    assert.deepEqual(createSampler(params).batch(cursor), running.batch(cursor));
  });

  await t.step("returned batches are copies: changing one does not change the sampler", () => {
    const s = createSampler({ count: 50, seed: 1, batchSize: 5 });
    const first = s.batch(0);
    const copy = first.slice();
    first.fill(0);
    assert.deepEqual(s.batch(0), copy);
  });

  await t.step("shards are disjoint within an epoch and take equal whole batches", () => {
    const count = 1003, of = 4, batchSize = 10;
    const samplers = Array.from(
      { length: of },
      (_, index) => createSampler({ count, seed: 8, batchSize, shard: { index, of } }),
    );
    assert.deepEqual(samplers.map((s) => s.examplesPerEpoch), [250, 250, 250, 250]);
    for (let epoch = 0; epoch < 2; epoch++) {
      const seen = new Set<number>();
      samplers.forEach((s, index) => {
        const own = new Set(shardIndices(count, index, of));
        for (let b = 0; b < s.batchesPerEpoch; b++) {
          for (const i of s.batch(epoch * s.examplesPerEpoch + b * batchSize)) {
            assert.ok(own.has(i), `index ${i} outside shard ${index}`);
            assert.ok(!seen.has(i), `index ${i} visited twice`);
            seen.add(i);
          }
        }
      });
      assert.equal(seen.size, of * 250);
    }
  });

  await t.step("rejects bad parameters and cursors", () => {
    assertInvalid(() => createSampler({ count: 10, seed: 0, batchSize: 11 }));
    assertInvalid(() =>
      createSampler({ count: 10, seed: 0, batchSize: 5, shard: { index: 0, of: 3 } })
    );
    assertInvalid(() => createSampler({ count: 10, seed: 0, batchSize: 0 }));
    assertInvalid(() => createSampler({ count: 10, seed: 1.5, batchSize: 2 }));
    assertInvalid(() =>
      createSampler({ count: 10, seed: 0, batchSize: 2, shard: { index: 2, of: 2 } })
    );
    const s = createSampler({ count: 10, seed: 0, batchSize: 2 });
    assertInvalid(() => s.batch(3));
    assertInvalid(() => s.batch(-2));
    assertInvalid(() => s.next(1));
  });
});
