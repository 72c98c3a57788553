/**
 * What a verifier node is started with, and the defaults of its audit pool.
 *
 * @module
 */

import type { ProtocolClient } from "../../chain/mod.ts";
import type { NodeLimits } from "../limits.ts";
import type { NodeWire } from "../wire.ts";

/** Options of `VerifierNode.start`. */
export interface VerifierNodeOptions {
  /** Folder for the verifier's blobs and audit records. */
  dataDir: string;
  /** Chain client acting as the verifier's account (its address seeds its sample). */
  chain: ProtocolClient;
  /** The node's network. */
  wire: NodeWire;
  /**
   * Segments to audit per job, overriding the job's audit policy: a count, or `"all"` (full
   * re-execution, which catches every cheater; tests use it). Default: the job's `audit.segments`.
   */
  segments?: number | "all";
  /** How long one fetch (blob or progress history) may take before it counts as withheld. Default 15000 ms. */
  fetchTimeoutMs?: number;
  /** Chain polling interval. Default 200 ms. */
  pollMs?: number;
  /**
   * Audits checked at once (fetching the trace and inputs, re-executing). What comes before, the
   * chain reads and the spec that decide whether this verifier was drawn, runs for up to
   * {@link PREPARING_PER_AUDIT} times as many slots at once: a slot this verifier is not drawn
   * for never waits behind a replay. A dispute an audit opens is played outside both counts, so
   * audits never wait behind a dispute, nor a dispute's moves behind audits.
   * Default {@link MAX_CONCURRENT_AUDITS}.
   */
  maxConcurrentAudits?: number;
  /**
   * How long one audit may take to check a slot before it stops, recorded `unverifiable` with the
   * reason, so one stuck audit cannot hold a slot of the pool. Default {@link AUDIT_TIMEOUT_MS}.
   */
  auditTimeoutMs?: number;
  /**
   * Stake to keep as a verifier. With stake the node registers in the verifier registry (it needs
   * the registry's minimum, `VerifierStakeTooLow` otherwise) and audits only the commits it is
   * drawn for. Default 0: no stake; a node that is not registered watches every commit.
   */
  stakeWei?: bigint;
  /**
   * Mines a block when none follows a commit within `pollMs * 5` (devnets with automine only make
   * blocks for transactions; the audit's randomness is the next block's hash). Default: wait.
   */
  mine?: () => Promise<void>;
  /**
   * The largest job this node audits or rules on (parameters, memory per step, dataset bytes,
   * steps): a larger one is not loaded, its audit ends `unverifiable` with `SPEC_TOO_LARGE`.
   * Fields left out keep `DEFAULT_NODE_LIMITS`.
   */
  limits?: Partial<NodeLimits>;
  /** Log sink. Default `console.log` with a prefix. */
  log?: (line: string) => void;
}

/** Default of {@link VerifierNodeOptions.maxConcurrentAudits}. */
export const MAX_CONCURRENT_AUDITS = 2;
/**
 * Slots whose draw is looked up at once, per audit that may run: the lookups wait on the chain and
 * on peers, not on this machine's cores.
 */
export const PREPARING_PER_AUDIT = 4;

/** Default of {@link VerifierNodeOptions.auditTimeoutMs}: 10 minutes. */
export const AUDIT_TIMEOUT_MS = 600_000;
