/**
 * The verifier's book of audits: the records it keeps on disk (`<dataDir>/audits`), who waits for
 * which record, the slots it was not drawn for, and the disputes it opened, remembered
 * (`<dataDir>/disputes`) until their audit is recorded so that a restart plays them on.
 *
 * @module
 */

import { VerificationError } from "../../core/errors.ts";
import { writeJsonAtomic } from "../../core/files.ts";
import type { Hash } from "../../core/hash.ts";
import { type AuditRecord, type CommitSeen, keyOf, type OpenedDispute } from "./record.ts";

interface Waiter {
  resolve: (record: AuditRecord) => void;
  reject: (error: Error) => void;
}

/** Audit records on disk and in memory, and the waiters for them. */
export class AuditBook {
  readonly #dir: string;
  readonly #records = new Map<string, AuditRecord>();
  /** Why there is no record of a slot this verifier was not drawn for, by job:slot. */
  readonly #notSelected = new Map<string, VerificationError>();
  readonly #waiters = new Map<string, Waiter[]>();

  private constructor(dataDir: string) {
    this.#dir = dataDir;
  }

  /** The book of the verifier whose data folder is `dataDir`, with the records saved there. */
  static async open(dataDir: string): Promise<AuditBook> {
    const book = new AuditBook(dataDir);
    const dir = `${dataDir}/audits`;
    try {
      for await (const entry of Deno.readDir(dir)) {
        if (!entry.isFile || !entry.name.endsWith(".json")) continue;
        const record = JSON.parse(await Deno.readTextFile(`${dir}/${entry.name}`)) as AuditRecord;
        book.#records.set(keyOf(record.jobId, record.slot), record);
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    return book;
  }

  /** Every record, oldest first (a full re-audit counts from when it ended). */
  all(): AuditRecord[] {
    return [...this.#records.values()];
  }

  /** The record of a slot, if any. */
  get(jobId: Hash, slot: number): AuditRecord | undefined {
    return this.#records.get(keyOf(jobId, slot));
  }

  /** Whether this verifier found it was not drawn for a slot. */
  notSelected(jobId: Hash, slot: number): boolean {
    return this.#notSelected.has(keyOf(jobId, slot));
  }

  /**
   * Waits for the record of a slot (past or future); fails with `VERIFY_AUDIT_TIMEOUT` after
   * `timeoutMs` (default: no limit), or with why there is none (see {@link skip}, {@link fail}).
   */
  waitFor(jobId: Hash, slot: number, timeoutMs?: number): Promise<AuditRecord> {
    const key = keyOf(jobId, slot);
    const done = this.#records.get(key);
    if (done) return Promise.resolve(done);
    const skipped = this.#notSelected.get(key);
    if (skipped) return Promise.reject(skipped);
    return new Promise((resolve, reject) => {
      const timer = timeoutMs === undefined ? undefined : setTimeout(() => {
        reject(
          new VerificationError(
            "VERIFY_AUDIT_TIMEOUT",
            `no audit of job ${jobId.slice(0, 10)} slot ${slot} within ${timeoutMs} ms; ` +
              "is the verifier following this chain?",
            { value: jobId },
          ),
        );
      }, timeoutMs);
      const list = this.#waiters.get(key) ?? [];
      list.push({
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.#waiters.set(key, list);
    });
  }

  /**
   * Records an audit: saved (atomically) before anyone is told, so a record once reported is
   * never lost; the dispute it settled is forgotten.
   */
  async record(commit: CommitSeen, record: AuditRecord): Promise<void> {
    const key = keyOf(commit.jobId, commit.slot);
    this.#records.delete(key); // a full re-audit goes last in the order of records
    this.#records.set(key, record);
    this.#notSelected.delete(key);
    const dir = `${this.#dir}/audits`;
    await Deno.mkdir(dir, { recursive: true });
    await writeJsonAtomic(`${dir}/${record.jobId}-${record.slot}.json`, record, { indent: 1 });
    await this.forgetDispute(commit);
    for (const w of this.#take(key)) w.resolve(record);
  }

  /** Notes that this verifier was not drawn for a slot: its waiters get `error`. */
  skip(commit: CommitSeen, error: VerificationError): void {
    const key = keyOf(commit.jobId, commit.slot);
    this.#notSelected.set(key, error);
    for (const w of this.#take(key)) w.reject(error);
  }

  /** Tells the slot's waiters that its audit failed with `error` (nothing is recorded). */
  fail(commit: CommitSeen, error: Error): void {
    for (const w of this.#take(keyOf(commit.jobId, commit.slot))) w.reject(error);
  }

  #take(key: string): Waiter[] {
    const list = this.#waiters.get(key) ?? [];
    this.#waiters.delete(key);
    return list;
  }

  /** Remembers a dispute this verifier opened over `commit`, until its audit is recorded. */
  async rememberDispute(commit: CommitSeen, open: OpenedDispute): Promise<void> {
    await Deno.mkdir(`${this.#dir}/disputes`, { recursive: true });
    await writeJsonAtomic(this.#disputeFile(commit), open);
  }

  /** The dispute this verifier opened over `commit` and has not recorded, if any. */
  async openedDispute(commit: CommitSeen): Promise<OpenedDispute | undefined> {
    try {
      return JSON.parse(await Deno.readTextFile(this.#disputeFile(commit))) as OpenedDispute;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
  }

  /** Forgets the dispute over `commit` (its audit is recorded). */
  async forgetDispute(commit: CommitSeen): Promise<void> {
    await Deno.remove(this.#disputeFile(commit)).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
  }

  #disputeFile(commit: CommitSeen): string {
    return `${this.#dir}/disputes/${commit.jobId}-${commit.slot}.json`;
  }
}
