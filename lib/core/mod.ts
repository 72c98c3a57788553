/**
 * Shared primitives of every layer: typed errors, canonical encoding and hashing.
 *
 * @module
 */

export * from "./errors.ts";
export * from "./hash.ts";
export * from "./canonical.ts";
export { EventLog } from "./event_log.ts";
export { formatUnits, parseUnits } from "./units.ts";
export { sleep } from "./sleep.ts";
