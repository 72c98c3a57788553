/**
 * The provider's job records: what it has claimed, trained, committed and been paid for, one
 * JSON file per job under `<dataDir>/jobs/<jobId>/record.json`, written atomically (temporary
 * file, then rename), so a node killed at any moment restarts knowing exactly where each job was.
 *
 * A record can outlive its chain: a devnet restarted under a node comes back with the same
 * contract addresses but none of the old jobs. {@link staleReason} tells such a record apart by
 * what the chain holds, and {@link JobRecords.setAside} moves it to `<dataDir>/jobs/stale/`, kept
 * for the user and out of the node's way.
 *
 * @module
 */

import { contractRevertOf, type ProtocolClient, toChainError } from "../chain/mod.ts";
import { StorageError } from "../core/errors.ts";
import { type Hash, isHash } from "../core/hash.ts";
import { type JobSpec, validateJobSpec } from "../proof/job.ts";
import { writeJsonAtomic } from "../core/files.ts";
import type { PendingDistRound } from "./dist_run.ts";

/**
 * Where a job stands on this node. `claiming` is written before the claim is sent: a node that
 * stops before it hears back finds out on restart, from the chain, whether the claim landed.
 */
export type JobStatus =
  | "claiming"
  | "claimed"
  | "training"
  | "committed"
  | "paid"
  | "failed"
  | "released";

/** One job as this node knows it. */
export interface JobRecord {
  /** Job id (SHA-256 hex of the spec; `0x` + this on-chain). */
  readonly jobId: Hash;
  /** The job. */
  readonly spec: JobSpec;
  /** The submitter's account. */
  readonly submitter: string;
  /** The submitter's libp2p peer id, where the job's blobs are served. */
  readonly submitterPeer: string;
  /** Multiaddrs the submitter announced (to reach it again after a restart). */
  readonly submitterAddrs?: readonly string[];
  /** Status. */
  readonly status: JobStatus;
  /** The slot this node claimed (-1 while `claiming`). */
  readonly slot: number;
  /** Commitment of the final state, once trained. */
  readonly finalHash?: Hash;
  /** Trace root, once trained. */
  readonly traceRoot?: Hash;
  /** Blob id of the trace, once trained. */
  readonly traceBlob?: Hash;
  /**
   * A distributed worker's trace so far (blob id, updated every round), so that after a restart it
   * commits the rounds it counted in.
   */
  readonly partialTrace?: Hash;
  /**
   * A distributed worker's round in flight: its delta was sent and the round not yet seen agreed
   * (see `PendingDistRound`), so that after a restart it can still count the round.
   */
  readonly pendingRound?: PendingDistRound;
  /** What the provider was paid (wei, decimal), once finalized. */
  readonly paidWei?: string;
  /** Why the job failed, if it did. */
  readonly error?: string;
  /** Last update, ms since the epoch. */
  readonly updatedAt: number;
}

/**
 * Job records in a node's data directory.
 *
 * @example
 * ```ts
 * import { JobRecords } from "./records.ts";
 * const records = new JobRecords(await Deno.makeTempDir());
 * for (const r of await records.list()) console.log(r.jobId, r.status);
 * ```
 */
export class JobRecords {
  /** Folder holding one sub-folder per job. */
  readonly root: string;

  /** Records under `<dataDir>/jobs`. */
  constructor(dataDir: string) {
    this.root = `${dataDir}/jobs`;
  }

  /** Folder of one job (progress, trace). */
  dirOf(jobId: Hash): string {
    if (!isHash(jobId)) {
      throw new StorageError("STORAGE_BAD_HASH", `"${jobId}" is not a job id`, { value: jobId });
    }
    return `${this.root}/${jobId}`;
  }

  /** Writes a record (atomically). */
  async put(record: Omit<JobRecord, "updatedAt">): Promise<JobRecord> {
    const full: JobRecord = { ...record, updatedAt: Date.now() };
    const dir = this.dirOf(record.jobId);
    await Deno.mkdir(dir, { recursive: true });
    await writeJsonAtomic(`${dir}/record.json`, full);
    return full;
  }

  /** Updates fields of an existing record. */
  async update(jobId: Hash, change: Partial<Omit<JobRecord, "jobId">>): Promise<JobRecord> {
    const current = await this.get(jobId);
    if (!current) {
      throw new StorageError("STORAGE_MISSING_RECORD", `no record of job ${jobId} on this node`, {
        value: jobId,
      });
    }
    return this.put({ ...current, ...change });
  }

  /** The record of a job, or undefined. A damaged record is reported, not ignored. */
  async get(jobId: Hash): Promise<JobRecord | undefined> {
    let text: string;
    try {
      text = await Deno.readTextFile(`${this.dirOf(jobId)}/record.json`);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return undefined;
      throw e;
    }
    try {
      const record = JSON.parse(text) as JobRecord;
      validateJobSpec(record.spec);
      if (record.jobId !== jobId) throw new Error("job id does not match its folder");
      return record;
    } catch (cause) {
      throw new StorageError(
        "STORAGE_CORRUPT_RECORD",
        `the record of job ${jobId} is damaged (${(cause as Error).message}); move ` +
          `${this.dirOf(jobId)} aside to let the node forget it`,
        { value: jobId, cause },
      );
    }
  }

  /**
   * Moves a job's folder to `<root>/stale/` (never deletes it), with `reason` written next to the
   * record in `stale.txt`; returns where it went. A name taken by an earlier one gets a suffix.
   */
  async setAside(jobId: Hash, reason: string): Promise<string> {
    const from = this.dirOf(jobId);
    const staleRoot = `${this.root}/stale`;
    await Deno.mkdir(staleRoot, { recursive: true });
    let to = `${staleRoot}/${jobId}`;
    for (let n = 2; await exists(to); n++) to = `${staleRoot}/${jobId}-${n}`;
    await Deno.rename(from, to);
    await Deno.writeTextFile(`${to}/stale.txt`, `${reason}\n`);
    return to;
  }

  /**
   * Removes the record of a job this node tried to claim and did not get (status `claiming`);
   * any other record stays, and this throws `STORAGE_NOT_CLAIMING`.
   */
  async dropClaim(jobId: Hash): Promise<void> {
    const record = await this.get(jobId);
    if (!record) return;
    if (record.status !== "claiming") {
      throw new StorageError(
        "STORAGE_NOT_CLAIMING",
        `job ${jobId} is ${record.status} on this node, not being claimed; its record stays`,
        { value: jobId },
      );
    }
    await Deno.remove(this.dirOf(jobId), { recursive: true });
  }

  /** Every record, oldest update first. */
  async list(): Promise<JobRecord[]> {
    const out: JobRecord[] = [];
    try {
      for await (const entry of Deno.readDir(this.root)) {
        if (!entry.isDirectory || !isHash(entry.name)) continue;
        const record = await this.get(entry.name);
        if (record) out.push(record);
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e; // no jobs folder yet: no records
    }
    return out.sort((a, b) => a.updatedAt - b.updatedAt);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** The custom error a chain call reverted with (at estimation, or replayed after mining). */
function revertName(error: unknown): string | undefined {
  return contractRevertOf(error)?.errorName;
}

/**
 * Why `record` belongs to another chain than `chain`'s, or undefined when this chain holds its
 * job: the job does not exist here, another account submitted it here, or its slot is not this
 * node's here. A job id is the hash of its spec, so an existing job with the same id and submitter
 * is the same job; the slot check catches a spec submitted again on a new chain. Reads that fail
 * for any other reason (the RPC is down) throw: only what the chain says makes a record stale.
 *
 * @example
 * ```ts
 * import { JobRecords, staleReason } from "./records.ts";
 * declare const chain: import("../chain/mod.ts").ProtocolClient;
 * const records = new JobRecords(".data/node");
 * for (const record of await records.list()) {
 *   const reason = await staleReason(chain, record);
 *   if (reason) await records.setAside(record.jobId, reason);
 * }
 * ```
 */
export async function staleReason(
  chain: ProtocolClient,
  record: Pick<JobRecord, "jobId" | "submitter" | "slot">,
): Promise<string | undefined> {
  const id = `0x${record.jobId}` as const;
  const jobReason = await staleJobReason(chain, record);
  if (jobReason) return jobReason;
  try {
    const slot = await chain.jobs.slot({ jobId: id, slot: record.slot });
    if (slot.provider.toLowerCase() !== chain.account.toLowerCase()) {
      return `slot ${record.slot} of job ${id} on this chain is not this node's ` +
        `(its provider is ${slot.provider})`;
    }
    return undefined;
  } catch (error) {
    const name = revertName(toChainError(error, "jobs.get"));
    if (name === "UnknownSlot") return `job ${id} on this chain has no slot ${record.slot}`;
    throw error;
  }
}

/**
 * Why the job of `record` is not this chain's, or undefined when it is: the job does not exist
 * here, or another account submitted it. Unlike {@link staleReason}, the slot is not looked at
 * (a record written before its claim has none yet).
 *
 * @example
 * ```ts ignore
 * const reason = await staleJobReason(chain, record);
 * if (reason) await records.setAside(record.jobId, reason);
 * ```
 */
export async function staleJobReason(
  chain: ProtocolClient,
  record: Pick<JobRecord, "jobId" | "submitter">,
): Promise<string | undefined> {
  const id = `0x${record.jobId}` as const;
  try {
    const job = await chain.jobs.get(id);
    if (job.submitter.toLowerCase() !== record.submitter.toLowerCase()) {
      return `job ${id} on this chain was submitted by ${job.submitter}, not by ${record.submitter}`;
    }
    return undefined;
  } catch (error) {
    const name = revertName(toChainError(error, "jobs.get"));
    if (name === "UnknownJob") return `job ${id} does not exist on this chain`;
    throw error;
  }
}
