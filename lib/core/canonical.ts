/**
 * Canonical encoding of plain values, so that equal values always give equal bytes and therefore
 * equal content ids.
 *
 * The form is canonical JSON in the manner of RFC 8785 (JSON Canonicalization Scheme): object keys
 * sorted by UTF-16 code units, no insignificant whitespace, numbers in ECMAScript's shortest
 * round-trip form, UTF-8 output. Values JSON cannot carry exactly (`undefined`, `NaN`, `Infinity`,
 * `bigint`, functions, class instances, typed arrays) are rejected rather than silently changed:
 * encode binary payloads separately and refer to them by hash.
 *
 * @module
 */

import { EncodingError } from "./errors.ts";
import type { Hash } from "./hash.ts";
import { sha256Hex } from "./hash.ts";

/** A value that has a canonical encoding. */
export type CanonicalValue =
  | null
  | boolean
  | number
  | string
  | CanonicalValue[]
  | { [key: string]: CanonicalValue };

/**
 * Canonical JSON text of a value.
 *
 * @example
 * ```ts
 * import { canonicalJson } from "./canonical.ts";
 * console.log(canonicalJson({ b: 1, a: [true, null] })); // {"a":[true,null],"b":1}
 * ```
 */
export function canonicalJson(value: unknown): string {
  return encodeValue(value, "$");
}

function encodeValue(value: unknown, path: string): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false";
    case "string":
      return JSON.stringify(value);
    case "number":
      if (!Number.isFinite(value)) {
        throw new EncodingError(
          "ENCODING_NON_FINITE",
          `${path} is ${value}; canonical values must be finite numbers`,
          { value },
        );
      }
      // -0 and 0 are one value in JSON; keep the encoding stable.
      return Object.is(value, -0) ? "0" : String(value);
    case "object": {
      if (Array.isArray(value)) {
        return `[${value.map((v, i) => encodeValue(v, `${path}[${i}]`)).join(",")}]`;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        throw new EncodingError(
          "ENCODING_UNSUPPORTED",
          `${path} is a ${proto?.constructor?.name ?? "non-plain object"}; ` +
            "only plain objects, arrays, strings, finite numbers, booleans and null are canonical",
          { value },
        );
      }
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record).filter((k) => record[k] !== undefined).sort();
      return `{${
        keys.map((k) => `${JSON.stringify(k)}:${encodeValue(record[k], `${path}.${k}`)}`).join(
          ",",
        )
      }}`;
    }
    default:
      throw new EncodingError(
        "ENCODING_UNSUPPORTED",
        `${path} is of type ${typeof value}; convert it to a string or number first`,
        { value },
      );
  }
}

/**
 * Canonical UTF-8 bytes of a value.
 *
 * @example
 * ```ts
 * import { encodeCanonical } from "./canonical.ts";
 * const bytes = encodeCanonical({ steps: 100 });
 * ```
 */
export function encodeCanonical(value: unknown): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(canonicalJson(value));
}

/**
 * Decodes canonical bytes, rejecting anything that is not in canonical form (so one value never
 * has two encodings and two content ids).
 *
 * @example
 * ```ts
 * import { decodeCanonical, encodeCanonical } from "./canonical.ts";
 * const v = decodeCanonical(encodeCanonical({ a: 1 })); // { a: 1 }
 * ```
 */
export function decodeCanonical(bytes: Uint8Array): CanonicalValue {
  let text: string;
  let parsed: unknown;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new EncodingError(
      "ENCODING_MALFORMED",
      "bytes are not valid UTF-8 JSON; the data is corrupted or not a canonical encoding",
      { cause },
    );
  }
  if (canonicalJson(parsed) !== text) {
    throw new EncodingError(
      "ENCODING_NOT_CANONICAL",
      "JSON is valid but not in canonical form (sorted keys, no whitespace); re-encode it with encodeCanonical",
    );
  }
  return parsed as CanonicalValue;
}

/**
 * Content id of a value: SHA-256 hex of its canonical bytes.
 *
 * @example
 * ```ts
 * import { contentId } from "./canonical.ts";
 * const id = await contentId({ name: "mlp" });
 * ```
 */
export function contentId(value: unknown): Promise<Hash> {
  return sha256Hex(encodeCanonical(value));
}
