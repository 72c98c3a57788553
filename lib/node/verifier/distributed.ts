/**
 * The verifier's audit of a distributed (DiLoCo) worker's commit: the checks of `dist_audit.ts`
 * run over the network, from the verifier's chain client and store.
 *
 * @module
 */

import type { ProtocolClient } from "../../chain/mod.ts";
import type { Hash } from "../../core/hash.ts";
import { selectAuditSegments } from "../../proof/audit.ts";
import type { JobSpec } from "../../proof/job.ts";
import {
  committedWorkers,
  DistAuditor,
  type DistRoundVerdict,
  networkDistSource,
  peerTraces,
} from "../dist_audit.ts";
import type { NodeWire } from "../wire.ts";
import { AuditStop, type CommitSeen, short } from "./record.ts";
import type { AuditSources } from "./sources.ts";

/** What {@link auditWorker} reads with. */
export interface WorkerAuditOptions {
  /** The verifier's chain client. */
  chain: ProtocolClient;
  /** Its network. */
  wire: NodeWire;
  /** Its reads (the store, the job's inputs). */
  sources: AuditSources;
  /** How long one fetch may take. */
  fetchTimeoutMs: number;
  /** How many of `total` rounds to audit. */
  count: (total: number) => number;
  /** Stops the audit. */
  signal: AbortSignal;
  /** Log sink. */
  log: (line: string) => void;
}

/**
 * Audits a distributed worker's commit (see `dist_audit.ts`): its trace against its commit, the
 * round rule and the other workers' traces, then the sampled rounds re-executed. Returns how
 * many rounds there were, which were sampled, and the stop (`caught` with its dispute plan, or
 * `unverifiable`) when the audit did not pass.
 */
export async function auditWorker(
  reads: WorkerAuditOptions,
  commit: CommitSeen,
  spec: JobSpec,
  seed: Hash,
  peers: (string | undefined)[],
  onRound: (verdict: DistRoundVerdict) => void,
): Promise<{ total: number; sampled: number[]; stop?: AuditStop }> {
  const { chain, sources, signal, log } = reads;
  const id = short(commit.jobId);
  const commits = await committedWorkers(chain, commit.jobId);
  const mine = commits.find((c) => c.slot === commit.slot);
  if (!mine || mine.traceRoot !== commit.traceRoot) {
    return { total: 0, sampled: [], stop: new AuditStop("unverifiable", "the commit changed") };
  }
  const source = networkDistSource({
    chain: chain,
    wire: reads.wire,
    store: sources.store,
    jobId: commit.jobId,
    commits,
    fetchTimeoutMs: reads.fetchTimeoutMs,
    signal: signal,
  });
  let trace;
  try {
    trace = await source.traceOrWhy(commit.slot);
  } catch (error) {
    return {
      total: 0,
      sampled: [],
      stop: new AuditStop("caught", `the worker withheld its trace: ${(error as Error).message}`),
    };
  }
  const inputs = await sources.inputsOf(spec, peers);
  let auditor: DistAuditor;
  try {
    auditor = await DistAuditor.create({ spec, ...inputs });
  } catch (error) {
    return {
      total: trace.rounds.length,
      sampled: [],
      stop: new AuditStop("unverifiable", `cannot rebuild the job's trainers: ${error}`),
    };
  }
  try {
    const problem = await auditor.checkTrace(
      trace,
      mine,
      await peerTraces(source, commits, commit.slot),
    );
    if (problem) {
      return {
        total: trace.rounds.length,
        sampled: [],
        stop: new AuditStop("caught", `its trace: ${problem}`, { kind: "work" }),
      };
    }
    const total = trace.rounds.length;
    const count = reads.count(total);
    const sampled = selectAuditSegments({ seed, segments: total, count });
    log(`job ${id} worker ${commit.slot}: auditing rounds [${sampled.join(", ")}]`);
    for (const round of sampled) {
      if (signal.aborted) break;
      const verdict = await auditor.auditRound(trace, round, source);
      onRound(verdict);
      if (verdict.status === "mismatch") {
        return {
          total,
          sampled,
          stop: new AuditStop("caught", `round ${round}: ${verdict.reason}`, {
            kind: "work",
            round,
          }),
        };
      }
      if (verdict.status === "withheld") {
        return {
          total,
          sampled,
          stop: new AuditStop("caught", `round ${round}: withheld ${verdict.reason}`, {
            kind: "availability",
            subject: verdict.hash,
          }),
        };
      }
      if (!verdict.outerChecked) {
        log(`job ${id} worker ${commit.slot} round ${round}: ${verdict.note}`);
      }
    }
    return { total, sampled };
  } finally {
    auditor.dispose();
  }
}
