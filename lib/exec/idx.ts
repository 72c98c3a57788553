/**
 * The IDX file format (LeCun et al., "THE MNIST DATABASE of handwritten digits": the format
 * section): a tensor of one element type, stored big-endian after a short header.
 *
 * Header: two zero bytes, one type byte (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
 * 0x0D float32, 0x0E float64), one byte with the number of dimensions `n`, then `n` big-endian
 * uint32 dimension sizes. The data follows in row-major order. Files may be gzipped (`.gz`, as
 * they are distributed); {@linkcode loadIdxDataset} inflates them.
 *
 * @module
 */

import { DatasetError } from "../core/errors.ts";
import { createDataset, type Dataset, shapeSize } from "./dataset.ts";

/** Element types an IDX file can hold. */
export type IdxDtype = "uint8" | "int8" | "int16" | "int32" | "float32" | "float64";

/** The typed array an IDX tensor's data comes in. */
export type IdxData =
  | Uint8Array
  | Int8Array
  | Int16Array
  | Int32Array
  | Float32Array
  | Float64Array;

/** A tensor read from (or to be written as) an IDX file. */
export interface IdxTensor {
  /** Element type. */
  dtype: IdxDtype;
  /** Dimension sizes, outermost first, e.g. `[60000, 28, 28]`. */
  shape: number[];
  /** `prod(shape)` values in row-major order. */
  data: IdxData;
}

const DTYPES: Record<number, { dtype: IdxDtype; size: number }> = {
  0x08: { dtype: "uint8", size: 1 },
  0x09: { dtype: "int8", size: 1 },
  0x0b: { dtype: "int16", size: 2 },
  0x0c: { dtype: "int32", size: 4 },
  0x0d: { dtype: "float32", size: 4 },
  0x0e: { dtype: "float64", size: 8 },
};

const CODES: Record<IdxDtype, number> = {
  uint8: 0x08,
  int8: 0x09,
  int16: 0x0b,
  int32: 0x0c,
  float32: 0x0d,
  float64: 0x0e,
};

function truncated(message: string, value: unknown): DatasetError {
  return new DatasetError(
    "DATASET_TRUNCATED",
    `${message}; the IDX file is incomplete: download it again (check for a failed or partial copy)`,
    { value },
  );
}

/**
 * Parses IDX bytes into a typed tensor. One-byte types come back as views into `bytes` (no copy);
 * wider types are converted from big-endian into fresh arrays.
 *
 * @example
 * ```ts
 * import { parseIdx } from "./idx.ts";
 * const { dtype, shape, data } = parseIdx(await Deno.readFile("train-labels-idx1-ubyte"));
 * console.log(dtype, shape, data[0]); // "uint8" [60000] 5
 * ```
 */
export function parseIdx(bytes: Uint8Array): IdxTensor {
  if (!(bytes instanceof Uint8Array)) {
    throw new DatasetError("DATASET_INVALID_PARAM", "parseIdx needs a Uint8Array of file bytes");
  }
  if (bytes.length < 4) {
    throw truncated(`only ${bytes.length} bytes, no 4-byte IDX magic`, bytes.length);
  }
  const kind = DTYPES[bytes[2]];
  if (bytes[0] !== 0 || bytes[1] !== 0 || kind === undefined) {
    const magic = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, "0")).join("");
    const gz = bytes[0] === 0x1f && bytes[1] === 0x8b;
    throw new DatasetError(
      "DATASET_BAD_MAGIC",
      `bytes start with 0x${magic}, not an IDX magic (00 00 <type 08|09|0b|0c|0d|0e> <ndims>); ` +
        (gz
          ? "this is a gzip file: inflate it first (loadIdxDataset does this for you)"
          : "this is not an IDX file: check the path"),
      { value: magic },
    );
  }
  const ndims = bytes[3];
  const headerLength = 4 + 4 * ndims;
  if (bytes.length < headerLength) {
    throw truncated(
      `header declares ${ndims} dimensions (${headerLength} header bytes) but the file has ` +
        `${bytes.length} bytes`,
      bytes.length,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape: number[] = [];
  for (let d = 0; d < ndims; d++) shape.push(view.getUint32(4 + 4 * d, false));
  const count = shapeSize(shape);
  const dataLength = count * kind.size;
  const available = bytes.length - headerLength;
  if (available < dataLength) {
    throw truncated(
      `shape ${JSON.stringify(shape)} of ${kind.dtype} needs ${dataLength} data bytes but only ` +
        `${available} follow the header`,
      available,
    );
  }
  if (available > dataLength) {
    throw new DatasetError(
      "DATASET_SHAPE_MISMATCH",
      `shape ${JSON.stringify(shape)} of ${kind.dtype} needs ${dataLength} data bytes but ` +
        `${available} follow the header; the header and the data disagree: the file is corrupt ` +
        "or was concatenated with another",
      { value: available },
    );
  }
  const offset = bytes.byteOffset + headerLength;
  let data: IdxData;
  switch (kind.dtype) {
    case "uint8":
      data = new Uint8Array(bytes.buffer, offset, count);
      break;
    case "int8":
      data = new Int8Array(bytes.buffer, offset, count);
      break;
    case "int16": {
      const out = new Int16Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt16(headerLength + 2 * i, false);
      data = out;
      break;
    }
    case "int32": {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(headerLength + 4 * i, false);
      data = out;
      break;
    }
    case "float32": {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(headerLength + 4 * i, false);
      data = out;
      break;
    }
    case "float64": {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(headerLength + 8 * i, false);
      data = out;
      break;
    }
  }
  return { dtype: kind.dtype, shape, data };
}

/**
 * Encodes a tensor as IDX bytes (big-endian), the inverse of {@linkcode parseIdx}.
 *
 * @example
 * ```ts
 * import { encodeIdx } from "./idx.ts";
 * const bytes = encodeIdx({ dtype: "uint8", shape: [2], data: new Uint8Array([3, 7]) });
 * ```
 */
export function encodeIdx(tensor: IdxTensor): Uint8Array<ArrayBuffer> {
  const { dtype, shape, data } = tensor;
  const code = CODES[dtype];
  if (code === undefined) {
    throw new DatasetError("DATASET_INVALID_PARAM", `unknown IDX dtype ${dtype}`, { value: dtype });
  }
  if (
    !Array.isArray(shape) || shape.length > 255 ||
    !shape.every((d) => Number.isInteger(d) && d >= 0 && d <= 0xffffffff)
  ) {
    throw new DatasetError(
      "DATASET_INVALID_PARAM",
      `IDX shape must be at most 255 dimensions of uint32 sizes, got ${JSON.stringify(shape)}`,
      { value: shape },
    );
  }
  if (data.length !== shapeSize(shape)) {
    throw new DatasetError(
      "DATASET_SHAPE_MISMATCH",
      `shape ${JSON.stringify(shape)} holds ${shapeSize(shape)} values but data has ${data.length}`,
      { value: data.length },
    );
  }
  const size = DTYPES[code].size;
  const headerLength = 4 + 4 * shape.length;
  const out = new Uint8Array(headerLength + data.length * size);
  const view = new DataView(out.buffer);
  out[2] = code;
  out[3] = shape.length;
  shape.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  for (let i = 0; i < data.length; i++) {
    const at = headerLength + i * size;
    const v = data[i];
    switch (dtype) {
      case "uint8":
        view.setUint8(at, v);
        break;
      case "int8":
        view.setInt8(at, v);
        break;
      case "int16":
        view.setInt16(at, v, false);
        break;
      case "int32":
        view.setInt32(at, v, false);
        break;
      case "float32":
        view.setFloat32(at, v, false);
        break;
      case "float64":
        view.setFloat64(at, v, false);
        break;
    }
  }
  return out;
}

/**
 * Reads a file's bytes, inflating gzip (by magic bytes 1f 8b, whatever the name), and turns
 * missing files and missing permissions into `DatasetError`s that say what to do.
 */
export async function readMaybeGzip(path: string): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (cause) {
    if (cause instanceof Deno.errors.NotFound) {
      throw new DatasetError(
        "DATASET_NOT_FOUND",
        `no file at ${path}; check the path (relative paths are resolved from ${Deno.cwd()})`,
        { value: path, cause },
      );
    }
    if (cause instanceof Deno.errors.NotCapable || cause instanceof Deno.errors.PermissionDenied) {
      throw new DatasetError(
        "DATASET_NOT_FOUND",
        `no permission to read ${path}; run with --allow-read (or -A)`,
        { value: path, cause },
      );
    }
    throw cause;
  }
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
        .pipeThrough(new DecompressionStream("gzip"));
      return new Uint8Array(await new Response(stream).arrayBuffer());
    } catch (cause) {
      throw new DatasetError(
        "DATASET_TRUNCATED",
        `${path} is gzip but does not inflate (truncated or corrupt); download it again`,
        { value: path, cause },
      );
    }
  }
  return bytes;
}

/** Parameters of {@linkcode loadIdxDataset}. */
export interface LoadIdxDatasetParams {
  /** Display name of the dataset. */
  name: string;
  /** Path of the IDX images file (gzipped or not): shape `[count, ...]`. */
  imagesPath: string;
  /** Path of the IDX labels file (gzipped or not): shape `[count]` or `[count, ...]`. */
  labelsPath: string;
  /** Factor each feature value is multiplied by; default `1/255` for uint8 images, else 1. */
  scale?: number;
  /** Keep at most the first `limit` examples; default all. */
  limit?: number;
  /** Number of classes, when labels are class indices. */
  numClasses?: number;
}

/**
 * Loads an images file and a labels file in IDX format as a dataset, flattening each image to
 * one row: featureShape `[rows * cols * ...]`. Features are `Math.fround(value * scale)`.
 *
 * @example
 * ```ts
 * import { loadIdxDataset } from "./idx.ts";
 * const ds = await loadIdxDataset({
 *   name: "fashion-train",
 *   imagesPath: "data/train-images-idx3-ubyte.gz",
 *   labelsPath: "data/train-labels-idx1-ubyte.gz",
 *   numClasses: 10,
 * });
 * ```
 */
export async function loadIdxDataset(params: LoadIdxDatasetParams): Promise<Dataset> {
  const { name, imagesPath, labelsPath, limit, numClasses } = params;
  if (typeof imagesPath !== "string" || typeof labelsPath !== "string") {
    throw new DatasetError(
      "DATASET_INVALID_PARAM",
      "loadIdxDataset needs imagesPath and labelsPath as strings",
    );
  }
  if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 0)) {
    throw new DatasetError(
      "DATASET_INVALID_PARAM",
      `limit must be a non-negative integer, got ${limit}`,
      { value: limit },
    );
  }
  if (params.scale !== undefined && !Number.isFinite(params.scale)) {
    throw new DatasetError(
      "DATASET_INVALID_PARAM",
      `scale must be a finite number, got ${params.scale}`,
      {
        value: params.scale,
      },
    );
  }
  const [imageBytes, labelBytes] = await Promise.all([
    readMaybeGzip(imagesPath),
    readMaybeGzip(labelsPath),
  ]);
  const images = withPath(imagesPath, () => parseIdx(imageBytes));
  const labels = withPath(labelsPath, () => parseIdx(labelBytes));
  if (images.shape.length < 1 || labels.shape.length < 1) {
    throw new DatasetError(
      "DATASET_SHAPE_MISMATCH",
      `images ${JSON.stringify(images.shape)} and labels ${JSON.stringify(labels.shape)} need ` +
        "a leading example dimension; pass the images file and the labels file of one dataset",
    );
  }
  if (images.shape[0] !== labels.shape[0]) {
    throw new DatasetError(
      "DATASET_SHAPE_MISMATCH",
      `${imagesPath} has ${images.shape[0]} images but ${labelsPath} has ${labels.shape[0]} ` +
        "labels; pass the images and labels files of the same split (e.g. train with train)",
      { value: [images.shape[0], labels.shape[0]] },
    );
  }
  const count = Math.min(images.shape[0], limit ?? Infinity);
  const rowShape = images.shape.slice(1);
  const rowSize = shapeSize(rowShape);
  const labelShape = labels.shape.slice(1);
  const scale = params.scale ?? (images.dtype === "uint8" ? 1 / 255 : 1);
  const source = images.data.subarray(0, count * rowSize);
  const features = new Float32Array(source.length);
  if (scale === 1) {
    features.set(source);
  } else if (images.dtype === "uint8") {
    // A 256-entry table turns the multiply-and-round into one lookup per pixel.
    const table = new Float32Array(256);
    for (let v = 0; v < 256; v++) table[v] = v * scale;
    for (let i = 0; i < source.length; i++) features[i] = table[source[i]];
  } else {
    for (let i = 0; i < source.length; i++) features[i] = source[i] * scale;
  }
  const labelValues = new Float32Array(count * shapeSize(labelShape));
  labelValues.set(labels.data.subarray(0, labelValues.length));
  return await createDataset({
    name,
    featureShape: [rowSize],
    features,
    labelShape,
    labels: labelValues,
    numClasses,
  });
}

function withPath<T>(path: string, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    if (e instanceof DatasetError) {
      throw new DatasetError(e.code, `${path}: ${e.message}`, { value: e.value, cause: e });
    }
    throw e;
  }
}
