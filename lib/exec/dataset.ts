/**
 * The in-memory dataset: features and labels as float32 arrays, with a content id that names the
 * data itself (not its display name), so a job can pin exactly which examples it trains on.
 *
 * The id is SHA-256 over the canonical header `{format: "dataset/1", count, featureShape,
 * labelShape, numClasses}` (see `lib/core/canonical.ts`) followed by the little-endian float32
 * feature bytes and then the little-endian float32 label bytes. The canonical JSON header is
 * self-delimiting and fixes the byte lengths that follow, so the concatenation is unambiguous.
 *
 * The binary blob form ({@linkcode encodeDataset}) is a 4-byte little-endian header length, the
 * canonical header JSON (the id header plus `name` and `id`), then the same feature and label
 * bytes; {@linkcode decodeDataset} recomputes the id and rejects a blob whose bytes do not match.
 *
 * @module
 */

import { decodeCanonical, encodeCanonical } from "../core/canonical.ts";
import { DatasetError } from "../core/errors.ts";
import type { Hash } from "../core/hash.ts";
import { concatBytes, isHash } from "../core/hash.ts";
import { createHash } from "node:crypto";

export type { Hash };

/** The format tag inside every dataset header; bump it if the byte layout ever changes. */
export const DATASET_FORMAT = "dataset/1";

/**
 * A labelled dataset held in memory, identified by the hash of its content.
 *
 * The arrays are shared, not copied: treat them as read-only, since changing a value would make
 * `id` describe data that no longer exists.
 */
export interface Dataset {
  /** Content id: SHA-256 hex of the canonical header, the feature bytes and the label bytes. */
  readonly id: Hash;
  /** Display name; not part of the id. */
  readonly name: string;
  /** Number of examples. */
  readonly count: number;
  /** Shape of one example's features, e.g. `[784]`. */
  readonly featureShape: readonly number[];
  /** All features, `count * prod(featureShape)` values, row-major, one example after another. */
  readonly features: Float32Array;
  /** Shape of one example's label: `[]` for a class index or a scalar target. */
  readonly labelShape: readonly number[];
  /** All labels, `count * prod(labelShape)` values; class indices as floats when `numClasses` is set. */
  readonly labels: Float32Array;
  /** Number of classes when labels are class indices in `[0, numClasses)`. */
  readonly numClasses?: number;
}

/** Parameters of {@linkcode createDataset}. */
export interface CreateDatasetParams {
  /** Display name (not part of the id). */
  name: string;
  /** Shape of one example's features; every dimension a positive integer. */
  featureShape: number[];
  /** Row-major features of all examples; the dataset keeps this array, it does not copy it. */
  features: Float32Array;
  /** Shape of one example's label; default `[]`. With `numClasses`, one class index per element (a sequence model's next token per position). */
  labelShape?: number[];
  /** Labels of all examples; the dataset keeps this array, it does not copy it. */
  labels: Float32Array;
  /** Number of classes, when labels are class indices. */
  numClasses?: number;
}

/** A batch of examples copied out of a dataset by {@linkcode gatherBatch}. */
export interface Batch {
  /** `indices.length * prod(featureShape)` values, row-major. */
  features: Float32Array;
  /** `indices.length * prod(labelShape)` values. */
  labels: Float32Array;
}

/** Product of the dimensions of a shape (1 for `[]`). */
export function shapeSize(shape: readonly number[]): number {
  let size = 1;
  for (const d of shape) size *= d;
  return size;
}

function invalid(message: string, value?: unknown): DatasetError {
  return new DatasetError("DATASET_INVALID_PARAM", message, { value });
}

function checkShape(shape: unknown, what: string): number[] {
  if (
    !Array.isArray(shape) ||
    !shape.every((d) => Number.isSafeInteger(d) && d > 0)
  ) {
    throw invalid(
      `${what} must be an array of positive integers, got ${JSON.stringify(shape)}; ` +
        "give the per-example shape, e.g. [784] or [28, 28, 1]",
      shape,
    );
  }
  return [...shape];
}

function checkFinite(values: Float32Array, what: string, rowSize: number): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    // `v - v` is 0 for finite numbers and NaN for NaN and ±Infinity: one branch per value.
    if (v - v !== 0) {
      throw new DatasetError(
        "DATASET_BAD_VALUE",
        `${what} of example ${Math.floor(i / rowSize)} (flat index ${i}) is ${v}; ` +
          "datasets hold finite numbers only: clean or impute the value before loading",
        { value: v },
      );
    }
  }
}

function idHeader(
  count: number,
  featureShape: readonly number[],
  labelShape: readonly number[],
  numClasses: number | undefined,
): Record<string, unknown> {
  return { format: DATASET_FORMAT, count, featureShape, labelShape, numClasses };
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** The little-endian bytes of a float32 array (a view when the platform is little-endian). */
export function float32LeBytes(values: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const out = new Uint8Array(values.byteLength);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(4 * i, values[i], true);
  return out;
}

/** A float32 array read from little-endian bytes (always a fresh, aligned copy). */
function float32FromLeBytes(bytes: Uint8Array): Float32Array {
  if (LITTLE_ENDIAN) return new Float32Array(bytes.slice().buffer);
  const out = new Float32Array(bytes.length / 4);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(4 * i, true);
  return out;
}

/**
 * SHA-256 of header + features + labels, fed incrementally so the (often hundreds of MB) feature
 * bytes are never copied into one buffer. `node:crypto` is used rather than WebCrypto because
 * WebCrypto can only hash one contiguous buffer, and measured here it hashed about 7x slower
 * (no SHA extensions); the digest is the same SHA-256 either way.
 */
function computeId(
  header: Record<string, unknown>,
  features: Float32Array,
  labels: Float32Array,
): Hash {
  const hash = createHash("sha256");
  hash.update(encodeCanonical(header));
  hash.update(float32LeBytes(features));
  hash.update(float32LeBytes(labels));
  return hash.digest("hex");
}

/**
 * Builds a dataset from float32 features and labels, validating lengths, finiteness and class
 * indices, and computes its content id.
 *
 * @example
 * ```ts
 * import { createDataset } from "./dataset.ts";
 * const ds = await createDataset({
 *   name: "xor",
 *   featureShape: [2],
 *   features: new Float32Array([0, 0, 0, 1, 1, 0, 1, 1]),
 *   labels: new Float32Array([0, 1, 1, 0]),
 *   numClasses: 2,
 * });
 * console.log(ds.count, ds.id); // 4 "…64 hex chars…"
 * ```
 */
export function createDataset(params: CreateDatasetParams): Promise<Dataset> {
  // Async in the API so hashing can move off the main thread later without breaking callers.
  try {
    return Promise.resolve(buildDataset(params));
  } catch (e) {
    return Promise.reject(e);
  }
}

function buildDataset(params: CreateDatasetParams): Dataset {
  if (params === null || typeof params !== "object") {
    throw invalid("createDataset needs a params object { name, featureShape, features, labels }");
  }
  const { name, features, labels, numClasses } = params;
  if (typeof name !== "string") {
    throw invalid(`dataset name must be a string, got ${typeof name}`, name);
  }
  const featureShape = checkShape(params.featureShape, "featureShape");
  const labelShape = checkShape(params.labelShape ?? [], "labelShape");
  if (!(features instanceof Float32Array)) {
    throw invalid("features must be a Float32Array; convert with Float32Array.from(values)");
  }
  if (!(labels instanceof Float32Array)) {
    throw invalid("labels must be a Float32Array; convert with Float32Array.from(values)");
  }
  const featureSize = shapeSize(featureShape);
  const labelSize = shapeSize(labelShape);
  if (features.length % featureSize !== 0) {
    throw new DatasetError(
      "DATASET_SHAPE_MISMATCH",
      `features has ${features.length} values, not a multiple of prod(featureShape) = ` +
        `${featureSize} (featureShape ${JSON.stringify(featureShape)}); fix the shape or the data`,
      { value: features.length },
    );
  }
  const count = features.length / featureSize;
  if (labels.length !== count * labelSize) {
    throw new DatasetError(
      "DATASET_SHAPE_MISMATCH",
      `features hold ${count} examples, so labels should have ${count * labelSize} values ` +
        `(labelShape ${JSON.stringify(labelShape)}), but it has ${labels.length}; ` +
        "give one label per example",
      { value: labels.length },
    );
  }
  if (numClasses !== undefined) {
    if (!Number.isSafeInteger(numClasses) || numClasses < 1) {
      throw invalid(`numClasses must be a positive integer, got ${numClasses}`, numClasses);
    }
  }
  checkFinite(features, "a feature", featureSize);
  checkFinite(labels, "the label", labelSize);
  if (numClasses !== undefined) {
    for (let i = 0; i < labels.length; i++) {
      const c = labels[i];
      if (!Number.isInteger(c) || c < 0 || c >= numClasses) {
        throw new DatasetError(
          "DATASET_BAD_VALUE",
          `label of example ${i} is ${c}, not a class index in [0, ${numClasses}); ` +
            "map class names to integers 0..numClasses-1 or raise numClasses",
          { value: c },
        );
      }
    }
  }
  const id = computeId(idHeader(count, featureShape, labelShape, numClasses), features, labels);
  const ds: Dataset = {
    id,
    name,
    count,
    featureShape: Object.freeze(featureShape),
    features,
    labelShape: Object.freeze(labelShape),
    labels,
    ...(numClasses === undefined ? {} : { numClasses }),
  };
  return Object.freeze(ds);
}

/**
 * The examples `[start, end)` of a dataset as a new dataset (sharing memory with the original),
 * e.g. to hold out a validation range.
 *
 * @example
 * ```ts
 * import { createDataset, sliceDataset } from "./dataset.ts";
 * const ds = await createDataset({ name: "d", featureShape: [1], features: new Float32Array([1, 2, 3]), labels: new Float32Array([0, 1, 0]) });
 * const middle = await sliceDataset(ds, 1, 2); // one example
 * ```
 */
export function sliceDataset(ds: Dataset, start: number, end: number): Promise<Dataset> {
  if (
    !Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start ||
    end > ds.count
  ) {
    return Promise.reject(invalid(
      `slice [${start}, ${end}) is not a range of example indices within [0, ${ds.count}]; ` +
        "give integers with 0 <= start <= end <= count",
      [start, end],
    ));
  }
  const fs = shapeSize(ds.featureShape);
  const ls = shapeSize(ds.labelShape);
  return createDataset({
    name: `${ds.name}[${start}:${end}]`,
    featureShape: [...ds.featureShape],
    features: ds.features.subarray(start * fs, end * fs),
    labelShape: [...ds.labelShape],
    labels: ds.labels.subarray(start * ls, end * ls),
    numClasses: ds.numClasses,
  });
}

/**
 * Splits a dataset at example index `at` into `[first at examples, the rest]`, e.g. a training
 * set and a held-out set. No shuffling: shuffle with the sampler, split by index here.
 *
 * @example
 * ```ts
 * import { loadMnist } from "./mnist.ts";
 * import { splitDataset } from "./dataset.ts";
 * const [train, validation] = await splitDataset(await loadMnist(), { at: 50_000 });
 * ```
 */
export async function splitDataset(
  ds: Dataset,
  params: { at: number },
): Promise<[Dataset, Dataset]> {
  const at = params?.at;
  if (!Number.isSafeInteger(at) || at < 0 || at > ds.count) {
    throw invalid(
      `split point at=${at} must be an integer in [0, ${ds.count}]: the number of examples ` +
        "that go to the first part",
      at,
    );
  }
  return await Promise.all([sliceDataset(ds, 0, at), sliceDataset(ds, at, ds.count)]);
}

/**
 * Copies the examples at `indices` into one contiguous batch, in the order given.
 *
 * @example
 * ```ts
 * import { gatherBatch } from "./dataset.ts";
 * import { createSampler } from "./sampler.ts";
 * import { loadMnist } from "./mnist.ts";
 * const ds = await loadMnist({ limit: 1000 });
 * const sampler = createSampler({ count: ds.count, seed: 1, batchSize: 32 });
 * const { features, labels } = gatherBatch(ds, sampler.batch(0)); // 32*784 and 32 values
 * ```
 */
export function gatherBatch(ds: Dataset, indices: Uint32Array): Batch {
  if (!(indices instanceof Uint32Array)) {
    throw invalid("indices must be a Uint32Array (e.g. from Sampler.batch)");
  }
  const fs = shapeSize(ds.featureShape);
  const ls = shapeSize(ds.labelShape);
  const features = new Float32Array(indices.length * fs);
  const labels = new Float32Array(indices.length * ls);
  const src = ds.features;
  const srcLabels = ds.labels;
  for (let b = 0; b < indices.length; b++) {
    const i = indices[b];
    if (i >= ds.count) {
      throw invalid(
        `batch index ${i} (position ${b}) is out of range for dataset "${ds.name}" of ` +
          `${ds.count} examples; build the sampler with count = dataset.count`,
        i,
      );
    }
    if (fs >= 16) {
      features.set(src.subarray(i * fs, i * fs + fs), b * fs);
    } else {
      for (let k = 0; k < fs; k++) features[b * fs + k] = src[i * fs + k];
    }
    if (ls === 1) labels[b] = srcLabels[i];
    else labels.set(srcLabels.subarray(i * ls, i * ls + ls), b * ls);
  }
  return { features, labels };
}

/**
 * The binary blob form of a dataset: header length (u32 little-endian), canonical header JSON
 * (with `name` and `id`), then the little-endian float32 features and labels.
 *
 * @example
 * ```ts
 * import { createDataset, decodeDataset, encodeDataset } from "./dataset.ts";
 * const ds = await createDataset({ name: "d", featureShape: [1], features: new Float32Array([1]), labels: new Float32Array([2]) });
 * const copy = await decodeDataset(encodeDataset(ds)); // copy.id === ds.id
 * ```
 */
export function encodeDataset(ds: Dataset): Uint8Array<ArrayBuffer> {
  const header = encodeCanonical({
    ...idHeader(ds.count, ds.featureShape, ds.labelShape, ds.numClasses),
    name: ds.name,
    id: ds.id,
  });
  const length = new Uint8Array(4);
  new DataView(length.buffer).setUint32(0, header.length, true);
  return concatBytes([length, header, float32LeBytes(ds.features), float32LeBytes(ds.labels)]);
}

function corrupt(message: string, cause?: unknown): DatasetError {
  return new DatasetError(
    "DATASET_CORRUPT",
    `${message}; the blob is corrupted or not a dataset: fetch it again from its source`,
    { cause },
  );
}

function isShape(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((d) => Number.isSafeInteger(d) && d > 0);
}

/**
 * Decodes a blob from {@linkcode encodeDataset}, checking its structure and that its content
 * hashes to the id it claims.
 *
 * Errors: `DATASET_TRUNCATED` when bytes are missing, `DATASET_CORRUPT` for a malformed header,
 * trailing bytes or an id mismatch, and the {@linkcode createDataset} errors for invalid values.
 *
 * @example
 * ```ts
 * import { decodeDataset } from "./dataset.ts";
 * const ds = await decodeDataset(await Deno.readFile("mnist-test.dataset"));
 * ```
 */
export function decodeDataset(bytes: Uint8Array): Promise<Dataset> {
  try {
    return Promise.resolve(decodeDatasetNow(bytes));
  } catch (e) {
    return Promise.reject(e);
  }
}

function decodeDatasetNow(bytes: Uint8Array): Dataset {
  if (!(bytes instanceof Uint8Array)) throw invalid("decodeDataset needs a Uint8Array");
  if (bytes.length < 4) {
    throw new DatasetError(
      "DATASET_TRUNCATED",
      `dataset blob has ${bytes.length} bytes, fewer than its 4-byte header length; ` +
        "the transfer was cut short: fetch it again",
      { value: bytes.length },
    );
  }
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true);
  if (4 + headerLength > bytes.length) {
    throw new DatasetError(
      "DATASET_TRUNCATED",
      `dataset blob declares a ${headerLength}-byte header but only ${bytes.length - 4} bytes ` +
        "follow; the transfer was cut short or the blob is corrupted: fetch it again",
      { value: headerLength },
    );
  }
  let header: Record<string, unknown>;
  try {
    const decoded = decodeCanonical(bytes.subarray(4, 4 + headerLength));
    if (decoded === null || typeof decoded !== "object" || Array.isArray(decoded)) {
      throw new TypeError("header is not an object");
    }
    header = decoded;
  } catch (cause) {
    throw corrupt("dataset header is not canonical JSON", cause);
  }
  const { format, count, featureShape, labelShape, numClasses, name, id } = header;
  if (format !== DATASET_FORMAT) {
    throw corrupt(
      `dataset header format is ${JSON.stringify(format)}, expected "${DATASET_FORMAT}"`,
    );
  }
  if (
    !Number.isSafeInteger(count) || (count as number) < 0 || !isShape(featureShape) ||
    !isShape(labelShape) || typeof name !== "string" || !isHash(id) ||
    (numClasses !== undefined && typeof numClasses !== "number")
  ) {
    throw corrupt("dataset header has missing or ill-typed fields");
  }
  const featureBytes = (count as number) * shapeSize(featureShape) * 4;
  const labelBytes = (count as number) * shapeSize(labelShape) * 4;
  const expected = 4 + headerLength + featureBytes + labelBytes;
  if (bytes.length < expected) {
    throw new DatasetError(
      "DATASET_TRUNCATED",
      `dataset blob "${name}" should be ${expected} bytes but has ${bytes.length}; ` +
        "the transfer was cut short: fetch it again",
      { value: bytes.length },
    );
  }
  if (bytes.length > expected) {
    throw corrupt(`dataset blob "${name}" has ${bytes.length - expected} bytes past its end`);
  }
  const start = 4 + headerLength;
  const ds = buildDataset({
    name,
    featureShape,
    features: float32FromLeBytes(bytes.subarray(start, start + featureBytes)),
    labelShape,
    labels: float32FromLeBytes(bytes.subarray(start + featureBytes, expected)),
    numClasses: numClasses as number | undefined,
  });
  if (ds.id !== id) {
    throw new DatasetError(
      "DATASET_CORRUPT",
      `dataset blob "${name}" claims id ${id} but its content hashes to ${ds.id}; ` +
        "the data was altered or corrupted: fetch it again from its source",
      { value: ds.id },
    );
  }
  return ds;
}
