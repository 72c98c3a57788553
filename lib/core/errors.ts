/**
 * Typed errors shared by every layer.
 *
 * One class per failure family. Each error carries a stable machine-readable `code`, the offending
 * value when there is one, and a message that says what to do about it. Code that catches errors
 * should switch on `code`, never on the message text.
 *
 * @module
 */

/** Options common to every toolkit error. */
export interface ToolkitErrorOptions {
  /** The value that caused the error, kept for callers and logs. */
  value?: unknown;
  /** The underlying error, if this one wraps another. */
  cause?: unknown;
}

/**
 * Base class of every error the toolkit throws on purpose.
 *
 * @example
 * ```ts
 * import { SpecError, ToolkitError } from "./errors.ts";
 * try {
 *   throw new SpecError("SPEC_INVALID", "layer 2 has no units; give Dense layers a `units` field");
 * } catch (e) {
 *   if (e instanceof ToolkitError) console.log(e.code); // "SPEC_INVALID"
 * }
 * ```
 */
export class ToolkitError extends Error {
  /** Stable identifier of the failure, e.g. `SPEC_INVALID`. */
  readonly code: string;
  /** The offending value, when there is one. */
  readonly value: unknown;

  /** Creates an error with a stable code and an actionable message. */
  constructor(code: string, message: string, options: ToolkitErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.value = options.value;
  }
}

/** A model, job or training spec is malformed or inconsistent. */
export class SpecError extends ToolkitError {}

/** A dataset cannot be read, is malformed, or does not fit the model. */
export class DatasetError extends ToolkitError {}

/** An execution profile is unknown, or the running backend does not match the one a job pins. */
export class ProfileMismatchError extends ToolkitError {}

/** Training produced a non-finite loss or cannot continue. */
export class TrainingError extends ToolkitError {}

/** Stored data (a checkpoint, trace or blob) is corrupted, truncated, or of an unsupported format. */
export class StorageError extends ToolkitError {}

/** A proof, commitment or replay does not verify. */
export class VerificationError extends ToolkitError {}

/** A value cannot be canonically encoded or decoded. */
export class EncodingError extends ToolkitError {}

/** A chain call failed or reverted. */
export class ChainError extends ToolkitError {}

/** A peer misbehaved or could not be reached. */
export class PeerError extends ToolkitError {}
