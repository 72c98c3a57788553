/**
 * Deterministic compression of pseudo-gradients, so every receiver decodes the same bits.
 *
 * Encodings (all little-endian):
 *
 * | encoding | bytes | rounding |
 * |---|---|---|
 * | `fp32` | `4·n` float32 values | none (exact) |
 * | `fp16` | `2·n` IEEE 754 binary16 values | round to nearest, ties to even; overflow to ±∞, which validation then rejects |
 * | `int8` | `4·⌈n/B⌉` float32 scales, then `n` int8 values | per block of `B` values: `scale = fround(maxabs / 127)`, `q = roundHalfEven(x / scale)` clamped to ±127; `x' = fround(q · scale)` |
 *
 * INTELLECT-1 sends int8 pseudo-gradients; the per-block scale keeps one large value from
 * flattening the rest of the tensor. The round trip error is at most half an fp16 ulp for `fp16`,
 * and at most `scale / 2` (plus float32 rounding of the product) per value for `int8`; a block whose
 * `maxabs / 127` underflows float32 (maxabs below about 1.8e-43) has scale 0 and decodes to zeros.
 *
 * @module
 */

import { PeerError, SpecError } from "../core/errors.ts";

/** How a delta is encoded on the wire. */
export type DeltaEncoding = "fp32" | "fp16" | "int8";

/** Every encoding, for validation. */
export const DELTA_ENCODINGS: readonly DeltaEncoding[] = ["fp32", "fp16", "int8"];

/** Default values per int8 block. */
export const DEFAULT_INT8_BLOCK_SIZE = 256;

/** How to compress a delta. */
export interface CompressionOptions {
  /** Encoding. */
  readonly encoding: DeltaEncoding;
  /** Values per int8 scale block (int8 only). Default {@link DEFAULT_INT8_BLOCK_SIZE}. */
  readonly blockSize?: number;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * Float32 to IEEE 754 binary16 bits, rounding to nearest with ties to even (subnormals kept,
 * overflow to ±∞, NaN stays NaN).
 *
 * @example
 * ```ts
 * import { float32ToFloat16Bits } from "./compress.ts";
 * float32ToFloat16Bits(1); // 0x3c00
 * ```
 */
export function float32ToFloat16Bits(value: number): number {
  f32[0] = value;
  const bits = u32[0];
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half (or zero): value / 2^-24 = m · 2^(e - 14), m with the implicit bit.
    const shift = 14 - e;
    if (shift >= 25) return sign;
    const m = mant | 0x800000;
    const half = m >>> shift;
    const rest = m & ((1 << shift) - 1);
    const tie = 1 << (shift - 1);
    return sign | (half + (rest > tie || (rest === tie && (half & 1) === 1) ? 1 : 0));
  }
  const half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (up to +∞).
  return sign | (half + (rest > 0x1000 || (rest === 0x1000 && (half & 1) === 1) ? 1 : 0));
}

/** IEEE 754 binary16 bits to the (exactly representable) number. */
export function float16BitsToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Rounds half to even (banker's rounding), for the int8 quantiser. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  // Math.round rounds .5 up; move exact ties at odd results down to the even neighbour.
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function blockSizeOf(options: CompressionOptions): number {
  const b = options.blockSize ?? DEFAULT_INT8_BLOCK_SIZE;
  if (!Number.isSafeInteger(b) || b < 1 || b > 1 << 20) {
    throw new SpecError(
      "SPEC_INVALID_BLOCK_SIZE",
      `int8 blockSize must be in [1, 2^20], got ${b}`,
      {
        value: b,
      },
    );
  }
  return b;
}

/**
 * Bytes a delta of `count` values takes in an encoding.
 *
 * @example
 * ```ts
 * import { compressedSize } from "./compress.ts";
 * compressedSize(1000, { encoding: "int8", blockSize: 256 }); // 4·4 + 1000 = 1016
 * ```
 */
export function compressedSize(count: number, options: CompressionOptions): number {
  switch (options.encoding) {
    case "fp32":
      return 4 * count;
    case "fp16":
      return 2 * count;
    case "int8":
      return 4 * Math.ceil(count / blockSizeOf(options)) + count;
    default:
      throw new SpecError(
        "SPEC_INVALID_ENCODING",
        `unknown delta encoding ${JSON.stringify(options.encoding)}; use ${
          DELTA_ENCODINGS.join(", ")
        }`,
        { value: options.encoding },
      );
  }
}

/**
 * Encodes a delta (see the module doc for the formats).
 *
 * @example
 * ```ts
 * import { compressDelta, decompressDelta } from "./compress.ts";
 * const delta = new Float32Array([0.5, -0.25, 1e-3]);
 * const bytes = compressDelta(delta, { encoding: "int8", blockSize: 2 });
 * const back = decompressDelta(bytes, { encoding: "int8", blockSize: 2, count: 3 });
 * ```
 */
export function compressDelta(
  values: Float32Array,
  options: CompressionOptions,
): Uint8Array<ArrayBuffer> {
  const n = values.length;
  const out = new Uint8Array(compressedSize(n, options));
  const view = new DataView(out.buffer);
  switch (options.encoding) {
    case "fp32":
      for (let i = 0; i < n; i++) view.setFloat32(4 * i, values[i], true);
      break;
    case "fp16":
      for (let i = 0; i < n; i++) view.setUint16(2 * i, float32ToFloat16Bits(values[i]), true);
      break;
    case "int8": {
      const b = blockSizeOf(options);
      const blocks = Math.ceil(n / b);
      const base = 4 * blocks;
      for (let k = 0; k < blocks; k++) {
        const end = Math.min(n, (k + 1) * b);
        let maxAbs = 0;
        for (let i = k * b; i < end; i++) maxAbs = Math.max(maxAbs, Math.abs(values[i]));
        const scale = Math.fround(maxAbs / 127);
        view.setFloat32(4 * k, scale, true);
        for (let i = k * b; i < end; i++) {
          const q = scale === 0
            ? 0
            : Math.max(-127, Math.min(127, roundHalfEven(values[i] / scale)));
          view.setInt8(base + i, q);
        }
      }
      break;
    }
  }
  return out;
}

/** What a receiver needs to decode a delta: the encoding, its block size, and the value count. */
export interface DecompressOptions extends CompressionOptions {
  /** Number of values the delta must hold (the model's parameter count). */
  readonly count: number;
}

/**
 * Decodes a delta, failing with `PeerError` `PEER_MALFORMED_DELTA` if the bytes do not have the
 * size the encoding and count require, or an int8 scale is negative or not finite.
 */
export function decompressDelta(bytes: Uint8Array, options: DecompressOptions): Float32Array {
  const { count } = options;
  let expected: number;
  try {
    expected = compressedSize(count, options);
  } catch (cause) {
    throw new PeerError("PEER_MALFORMED_DELTA", `bad delta encoding: ${(cause as Error).message}`, {
      value: options.encoding,
      cause,
    });
  }
  if (bytes.length !== expected) {
    throw new PeerError(
      "PEER_MALFORMED_DELTA",
      `a ${options.encoding} delta of ${count} values takes ${expected} bytes, got ${bytes.length}`,
      { value: bytes.length },
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(count);
  switch (options.encoding) {
    case "fp32":
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true);
      break;
    case "fp16":
      for (let i = 0; i < count; i++) out[i] = float16BitsToNumber(view.getUint16(2 * i, true));
      break;
    case "int8": {
      const b = blockSizeOf(options);
      const blocks = Math.ceil(count / b);
      const base = 4 * blocks;
      for (let k = 0; k < blocks; k++) {
        const scale = view.getFloat32(4 * k, true);
        if (!Number.isFinite(scale) || scale < 0) {
          throw new PeerError(
            "PEER_MALFORMED_DELTA",
            `int8 block ${k} has scale ${scale}; scales must be finite and >= 0`,
            { value: scale },
          );
        }
        const end = Math.min(count, (k + 1) * b);
        for (let i = k * b; i < end; i++) out[i] = view.getInt8(base + i) * scale;
      }
      break;
    }
  }
  return out;
}
