/**
 * Shared primitives of every layer: typed errors, canonical encoding and hashing.
 *
 * @module
 */

export * from "./errors.ts";
export * from "./hash.ts";
export * from "./canonical.ts";
