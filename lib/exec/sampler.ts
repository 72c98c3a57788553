/**
 * The exact order in which a training job visits its data: a seeded shuffle per epoch, shards for
 * workers, and batches addressed by a data cursor, identical on every machine.
 *
 * **PRNG.** Integer-only, specified here so any implementation can reproduce it:
 * 1. SplitMix64 (Steele, Lea, Flood, "Fast splittable pseudorandom number generators", 2014):
 *    `state += 0x9E3779B97F4A7C15; z = state; z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
 *    z = (z ^ (z >> 27)) * 0x94D049BB133111EB; return z ^ (z >> 31)`, all mod 2^64.
 * 2. Seeding from `(seed, epoch)`: a SplitMix64 with state `seed mod 2^64` (two's complement for
 *    negative seeds) gives one output `k`; a second SplitMix64 with state `k XOR epoch` gives two
 *    outputs `o1, o2`; the xoshiro128** state is `[lo32(o1), hi32(o1), lo32(o2), hi32(o2)]` (if
 *    all four are 0, the first becomes 1).
 * 3. xoshiro128** 1.1 (Blackman and Vigna, "Scrambled linear pseudorandom number generators",
 *    2018) produces uint32 values.
 * 4. A value uniform in `[0, bound)` rejects outputs below `2^32 mod bound` and returns
 *    `r mod bound` (unbiased; the OpenBSD `arc4random_uniform` rule).
 *
 * **Shuffle.** Fisher–Yates (Durstenfeld): start from `[0, 1, ..., count-1]`; for `i` from
 * `count-1` down to 1, swap positions `i` and `uniform(i + 1)`.
 *
 * **Shards.** Shard `i` of `n` is the strided positions `i, i+n, i+2n, ...` of a sequence: shards
 * partition it, their sizes differ by at most one, and a dataset stored sorted (by class, by time)
 * still gives every shard a fair sample, which contiguous ranges would not.
 *
 * **Sampler rule.** A sampler owns a fixed shard of example indices (the strided shard above of
 * `0..count-1`), so a worker only ever needs its own shard's data. Epoch `e` visits that shard in
 * the order `shuffleOrder(shardLength, seed, e)`, truncated to `examplesPerEpoch =
 * floor(floor(count / n) / batchSize) * batchSize` examples: every shard takes the same number of
 * whole batches per epoch and the tail (different examples each epoch) is dropped. The data cursor
 * counts examples this sampler has consumed since the start, across epochs; it is always a
 * multiple of `batchSize`, so epoch `floor(cursor / examplesPerEpoch)` contains the whole batch at
 * `cursor` and no batch straddles two epochs.
 *
 * @module
 */

import { DatasetError } from "../core/errors.ts";

/** Parameters of {@linkcode createSampler}. */
export interface SamplerParams {
  /** Number of examples in the dataset. */
  count: number;
  /** Shuffle seed (any safe integer). */
  seed: number;
  /** Examples per batch. */
  batchSize: number;
  /** This worker's shard: `index` in `[0, of)`; default the whole dataset (`{ index: 0, of: 1 }`). */
  shard?: { index: number; of: number };
}

/** Batches of example indices addressed by a data cursor (see the module doc for the rule). */
export interface Sampler {
  /** Examples visited per epoch by this sampler: a whole number of batches. */
  readonly examplesPerEpoch: number;
  /** Batches per epoch: `examplesPerEpoch / batchSize`. */
  readonly batchesPerEpoch: number;
  /** Examples per batch. */
  readonly batchSize: number;
  /** The epoch the batch at `cursor` belongs to. */
  epoch(cursor: number): number;
  /** Dataset indices of the `batchSize` examples starting at data cursor `cursor` (a fresh array). */
  batch(cursor: number): Uint32Array;
  /** The cursor after the batch at `cursor`: `cursor + batchSize`. */
  next(cursor: number): number;
}

const MASK64 = (1n << 64n) - 1n;
const GOLDEN_GAMMA = 0x9e3779b97f4a7c15n;

/** One SplitMix64 step: the advanced state and its output. */
function splitMix64(state: bigint): [bigint, bigint] {
  const next = (state + GOLDEN_GAMMA) & MASK64;
  let z = next;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return [next, z ^ (z >> 31n)];
}

/** The xoshiro128** generator, seeded from `(seed, epoch)` as the module doc specifies. */
export class Xoshiro128ss {
  #s0: number;
  #s1: number;
  #s2: number;
  #s3: number;

  /** Seeds the generator from a seed and an epoch (both safe integers, epoch >= 0). */
  constructor(seed: number, epoch: number) {
    const [, key] = splitMix64(BigInt.asUintN(64, BigInt(seed)));
    let state = key ^ BigInt(epoch);
    let o1: bigint, o2: bigint;
    [state, o1] = splitMix64(state);
    [state, o2] = splitMix64(state);
    this.#s0 = Number(o1 & 0xffffffffn);
    this.#s1 = Number(o1 >> 32n);
    this.#s2 = Number(o2 & 0xffffffffn);
    this.#s3 = Number(o2 >> 32n);
    if ((this.#s0 | this.#s1 | this.#s2 | this.#s3) === 0) this.#s0 = 1;
  }

  /** The next uint32 output. */
  nextUint32(): number {
    const s0 = this.#s0, s1 = this.#s1;
    let s2 = this.#s2, s3 = this.#s3;
    const x = Math.imul(s1, 5);
    const result = Math.imul((x << 7) | (x >>> 25), 9) >>> 0;
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    this.#s1 = s1 ^ s2;
    this.#s0 = s0 ^ s3;
    this.#s2 = s2 ^ t;
    this.#s3 = (s3 << 11) | (s3 >>> 21);
    return result;
  }

  /** A uniform integer in `[0, bound)`, `1 <= bound <= 2^32`, without modulo bias. */
  nextBelow(bound: number): number {
    const threshold = 0x100000000 % bound;
    for (;;) {
      const r = this.nextUint32();
      if (r >= threshold) return r % bound;
    }
  }
}

function invalid(message: string, value: unknown): DatasetError {
  return new DatasetError("DATASET_INVALID_PARAM", message, { value });
}

const MAX_COUNT = 0xffffffff;
const MAX_SHARDS = 1 << 26;

function checkCount(count: number): void {
  if (!Number.isSafeInteger(count) || count < 0 || count > MAX_COUNT) {
    throw invalid(`count must be an integer in [0, 2^32-1], got ${count}`, count);
  }
}

function checkSeed(seed: number, epoch: number): void {
  if (!Number.isSafeInteger(seed)) {
    throw invalid(`seed must be a safe integer, got ${seed}; use e.g. 42`, seed);
  }
  if (!Number.isSafeInteger(epoch) || epoch < 0) {
    throw invalid(`epoch must be a non-negative integer, got ${epoch}`, epoch);
  }
}

/**
 * The permutation of `0..count-1` for one epoch: Fisher–Yates driven by xoshiro128** seeded from
 * `(seed, epoch)`, identical on every machine.
 *
 * @example
 * ```ts
 * import { shuffleOrder } from "./sampler.ts";
 * const order = shuffleOrder(10, 42, 0); // a permutation of 0..9
 * ```
 */
export function shuffleOrder(count: number, seed: number, epoch: number): Uint32Array {
  checkCount(count);
  checkSeed(seed, epoch);
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  const rng = new Xoshiro128ss(seed, epoch);
  for (let i = count - 1; i > 0; i--) {
    const j = rng.nextBelow(i + 1);
    const tmp = order[i];
    order[i] = order[j];
    order[j] = tmp;
  }
  return order;
}

/** Number of positions of a length-`length` sequence in strided shard `index` of `of`. */
function shardLengthOf(length: number, index: number, of: number): number {
  return index >= length ? 0 : Math.floor((length - index - 1) / of) + 1;
}

function checkShard(index: number, of: number): void {
  if (!Number.isSafeInteger(of) || of < 1 || of > MAX_SHARDS) {
    throw invalid(`shard count must be an integer in [1, 2^26], got ${of}`, of);
  }
  if (!Number.isSafeInteger(index) || index < 0 || index >= of) {
    throw invalid(`shard index must be an integer in [0, ${of}), got ${index}`, index);
  }
}

/**
 * Shard `index` of `of`: the strided positions `index, index+of, index+2*of, ...` of `order` (or
 * of `0..count-1` when given a count). The shards partition the sequence.
 *
 * @example
 * ```ts
 * import { shardIndices, shuffleOrder } from "./sampler.ts";
 * const mine = shardIndices(1000, 2, 4); // indices 2, 6, 10, ..., 998
 * const mineThisEpoch = shardIndices(shuffleOrder(1000, 7, 0), 2, 4);
 * ```
 */
export function shardIndices(order: Uint32Array | number, index: number, of: number): Uint32Array {
  checkShard(index, of);
  if (typeof order === "number") {
    checkCount(order);
    const out = new Uint32Array(shardLengthOf(order, index, of));
    for (let k = 0; k < out.length; k++) out[k] = index + k * of;
    return out;
  }
  if (!(order instanceof Uint32Array)) {
    throw invalid("order must be a Uint32Array (e.g. from shuffleOrder) or a count", order);
  }
  const out = new Uint32Array(shardLengthOf(order.length, index, of));
  for (let k = 0; k < out.length; k++) out[k] = order[index + k * of];
  return out;
}

/**
 * Creates a sampler: the batches of one worker's shard, reshuffled every epoch, addressed by the
 * data cursor that checkpoints store.
 *
 * @example
 * ```ts
 * import { createSampler } from "./sampler.ts";
 * const sampler = createSampler({ count: 60_000, seed: 1, batchSize: 32, shard: { index: 0, of: 2 } });
 * let cursor = 0;
 * const indices = sampler.batch(cursor); // 32 even indices (shard 0 of 2)
 * cursor = sampler.next(cursor);
 * ```
 */
export function createSampler(p: SamplerParams): Sampler {
  if (p === null || typeof p !== "object") {
    throw invalid("createSampler needs { count, seed, batchSize, shard? }", p);
  }
  const { count, seed, batchSize } = p;
  const { index, of } = p.shard ?? { index: 0, of: 1 };
  checkCount(count);
  checkSeed(seed, 0);
  checkShard(index, of);
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
    throw invalid(`batchSize must be a positive integer, got ${batchSize}`, batchSize);
  }
  const shardLength = shardLengthOf(count, index, of);
  const smallestShard = Math.floor(count / of);
  const batchesPerEpoch = Math.floor(smallestShard / batchSize);
  if (batchesPerEpoch < 1) {
    throw invalid(
      `batchSize ${batchSize} is larger than the ${smallestShard} examples per shard ` +
        `(${count} examples in ${of} shards); lower batchSize or use fewer shards`,
      batchSize,
    );
  }
  const examplesPerEpoch = batchesPerEpoch * batchSize;
  let cachedEpoch = -1;
  let cachedOrder = new Uint32Array(0);

  const epochOf = (cursor: number): number => {
    if (!Number.isSafeInteger(cursor) || cursor < 0 || cursor % batchSize !== 0) {
      throw invalid(
        `cursor must be a non-negative multiple of batchSize ${batchSize}, got ${cursor}; ` +
          "cursors count examples consumed and advance by next(cursor)",
        cursor,
      );
    }
    return Math.floor(cursor / examplesPerEpoch);
  };

  return Object.freeze({
    examplesPerEpoch,
    batchesPerEpoch,
    batchSize,
    epoch: epochOf,
    batch(cursor: number): Uint32Array {
      const epoch = epochOf(cursor);
      if (epoch !== cachedEpoch) {
        const perm = shuffleOrder(shardLength, seed, epoch);
        const order = new Uint32Array(examplesPerEpoch);
        for (let k = 0; k < examplesPerEpoch; k++) order[k] = index + perm[k] * of;
        cachedOrder = order;
        cachedEpoch = epoch;
      }
      const offset = cursor - epoch * examplesPerEpoch;
      return cachedOrder.slice(offset, offset + batchSize);
    },
    next(cursor: number): number {
      epochOf(cursor);
      return cursor + batchSize;
    },
  });
}
