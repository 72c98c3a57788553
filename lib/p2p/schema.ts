/**
 * Schemas for peer messages: small composable validators that turn an `unknown` decoded from the
 * wire into a typed value or fail with `PeerError` `PEER_MALFORMED` naming the offending field.
 *
 * Everything a peer sends passes through one of these at the boundary; code past it trusts the
 * types. Strings and byte strings carry length limits so no field can be used to exhaust memory.
 *
 * @module
 */

import { PeerError } from "../core/errors.ts";
import { isHash } from "../core/hash.ts";

/** A validator: returns the typed value or throws `PeerError` `PEER_MALFORMED`. */
export type Schema<T> = (value: unknown, path: string) => T;

/** The type a schema produces. */
export type Infer<S> = S extends Schema<infer T> ? T : never;

function fail(path: string, expected: string, value: unknown): never {
  const shown = typeof value === "string" ? JSON.stringify(value.slice(0, 40)) : typeof value;
  throw new PeerError(
    "PEER_MALFORMED",
    `peer message field ${path}: expected ${expected}, got ${shown}`,
    {
      value: path,
    },
  );
}

/** A UTF-8 string of at most `max` characters (default 256). */
export function str(max = 256): Schema<string> {
  return (v, p) => typeof v === "string" && v.length <= max ? v : fail(p, `string <= ${max}`, v);
}

/** A lowercase hex SHA-256 content id. */
export const hash: Schema<string> = (v, p) => isHash(v) ? v : fail(p, "sha256 hex id", v);

/** A 0x-prefixed 20-byte hex Ethereum address. */
export const address: Schema<`0x${string}`> = (v, p) =>
  typeof v === "string" && /^0x[0-9a-fA-F]{40}$/.test(v)
    ? v as `0x${string}`
    : fail(p, "address", v);

/** A non-negative safe integer no larger than `max`. */
export function uint(max = Number.MAX_SAFE_INTEGER): Schema<number> {
  return (v, p) =>
    typeof v === "number" && Number.isSafeInteger(v) && v >= 0 && v <= max
      ? v
      : fail(p, `uint <= ${max}`, v);
}

/**
 * A non-negative integer below 2^256 as a bigint. On the wire it is a decimal string (CBOR
 * integers stop at 2^64, and token amounts in wei pass that at 18.4 tokens); small values may
 * also come as numbers or bigints.
 */
export const uint256: Schema<bigint> = (v, p) => {
  if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  if (typeof v === "bigint" && v >= 0n && v < 1n << 256n) return v;
  if (typeof v === "string" && /^(0|[1-9][0-9]{0,77})$/.test(v)) {
    const n = BigInt(v);
    if (n < 1n << 256n) return n;
  }
  return fail(p, "uint256", v);
};

/** A finite number. */
export const finite: Schema<number> = (v, p) =>
  typeof v === "number" && Number.isFinite(v) ? v : fail(p, "finite number", v);

/** A byte string of at most `max` bytes (exactly `max` when `exact`). */
export function bytes(max: number, exact = false): Schema<Uint8Array> {
  return (v, p) =>
    v instanceof Uint8Array && (exact ? v.length === max : v.length <= max)
      ? v
      : fail(p, `${exact ? "exactly" : "at most"} ${max} bytes`, v);
}

/** A boolean. */
export const bool: Schema<boolean> = (v, p) => typeof v === "boolean" ? v : fail(p, "boolean", v);

/** One of the given literal values. */
export function literal<const T extends readonly (string | number)[]>(
  ...values: T
): Schema<T[number]> {
  return (v, p) => values.includes(v as T[number]) ? v as T[number] : fail(p, values.join("|"), v);
}

/** A value that may be absent (`undefined` or `null` both read as absent). */
export function optional<T>(inner: Schema<T>): Schema<T | undefined> {
  return (v, p) => v === undefined || v === null ? undefined : inner(v, p);
}

/** An array of at most `max` items of one schema. */
export function array<T>(item: Schema<T>, max: number): Schema<T[]> {
  return (v, p) => {
    if (!Array.isArray(v) || v.length > max) return fail(p, `array <= ${max}`, v);
    return v.map((x, i) => item(x, `${p}[${i}]`));
  };
}

/** A map-shaped object with exactly the given fields (unknown fields are rejected). */
export function object<S extends Record<string, Schema<unknown>>>(
  shape: S,
): Schema<{ [K in keyof S]: Infer<S[K]> }> {
  const keys = Object.keys(shape);
  return (v, p) => {
    if (typeof v !== "object" || v === null || Array.isArray(v) || v instanceof Uint8Array) {
      return fail(p, "map", v);
    }
    for (const k of Object.keys(v)) if (!(k in shape)) fail(`${p}.${k}`, "no such field", k);
    const out: Record<string, unknown> = {};
    for (const k of keys) {
      const x = shape[k]((v as Record<string, unknown>)[k], `${p}.${k}`);
      if (x !== undefined) out[k] = x;
    }
    return out as { [K in keyof S]: Infer<S[K]> };
  };
}

/** A tagged union on field `t`: picks the schema by the tag value. */
export function union<S extends Record<string, Schema<unknown>>>(
  variants: S,
): Schema<Infer<S[keyof S]>> {
  return (v, p) => {
    const tag = typeof v === "object" && v !== null ? (v as Record<string, unknown>).t : undefined;
    if (typeof tag !== "string" || !Object.hasOwn(variants, tag)) {
      return fail(`${p}.t`, Object.keys(variants).join("|"), tag);
    }
    return variants[tag](v, p) as Infer<S[keyof S]>;
  };
}
