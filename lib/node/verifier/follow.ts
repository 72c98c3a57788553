/**
 * How a verifier follows commits: `JobCommitted` events from a cursor saved on disk that never
 * passes a commit whose audit has not finished, with the earlier commits of a job read back after
 * a restart so that its replicas can be compared.
 *
 * @module
 */

import {
  type DecodedLog,
  fileCursor,
  followLogs,
  heldCursor,
  type ProtocolClient,
  readLogs,
  retryChainCall,
} from "../../chain/mod.ts";
import { jobMarketAbi } from "../../chain/artifacts/JobMarket.ts";
import type { Hash } from "../../core/hash.ts";
import { fromBytes32 } from "../settlement.ts";
import type { CommitSeen } from "./record.ts";

/** Options of {@link followCommits}. */
export interface FollowCommitsOptions {
  /** The verifier's chain client. */
  chain: ProtocolClient;
  /** Where the cursor is saved (`follow/job-committed.json` under it). */
  dataDir: string;
  /** Chain polling interval, ms. */
  pollMs: number;
  /** Stops following. */
  signal: AbortSignal;
  /** Log sink. */
  log: (line: string) => void;
  /**
   * Takes a commit, as it appears or as read back after a restart; returns whether its audit was
   * queued now (false for a commit already audited or queued).
   */
  onCommit(commit: CommitSeen): boolean;
  /** Settles when the audit of a commit that `onCommit` queued has finished, passed or failed. */
  finished(commit: CommitSeen): Promise<unknown>;
}

/**
 * Follows `JobCommitted` from the block saved in `<dataDir>/follow/job-committed.json`
 * (from block 0 on the first start, or on another chain). The saved block never passes the
 * block of a commit whose audit has not finished (passed, failed, or found this verifier not
 * drawn): a restart delivers every such commit again, and `onCommit` skips those with records.
 * Replicas are compared across restarts: the first time a job shows up after resuming, its
 * earlier commits are read again, so its other slots are known before its audit runs.
 */
export async function followCommits(options: FollowCommitsOptions): Promise<void> {
  const { chain, signal, log: say } = options;
  const retry = {
    pollMs: options.pollMs,
    signal,
    onStall: (error: Error, failures: number) =>
      say(`chain poll failed (${failures} in a row), will retry: ${error.message}`),
  };
  const commitOf = (log: DecodedLog<typeof jobMarketAbi, "JobCommitted">): CommitSeen => ({
    jobId: fromBytes32(log.args.jobId),
    slot: Number(log.args.slot),
    provider: log.args.provider,
    finalHash: fromBytes32(log.args.finalStateHash),
    traceRoot: fromBytes32(log.args.traceRoot),
    block: log.blockNumber,
  });
  /** Cursor writes in flight, which closing waits for; none start after the follower stopped. */
  const writes = new Set<Promise<void>>();
  let stopped = false;
  const commits = {
    client: chain.public,
    address: chain.addresses.jobMarket,
    abi: jobMarketAbi,
    eventName: "JobCommitted" as const,
  };
  try {
    // The saved block is this chain's: a data folder reused on a fresh devnet starts over.
    const genesis = await retryChainCall(() => chain.public.getBlock({ blockNumber: 0n }), {
      ...retry,
      what: "reading the chain's genesis block",
    });
    const cursor = heldCursor(
      fileCursor(`${options.dataDir}/follow/job-committed.json`, { chain: genesis.hash }),
    );
    const resumedAt = (await cursor.load()) ?? 0n;
    const backfilled = new Set<Hash>();
    for await (const logs of followLogs({ ...commits, ...retry, cursor })) {
      if (resumedAt > 0n) {
        // The jobs new since the restart, in one read of their earlier commits (a backlog of
        // hundreds of jobs is one call, not one each).
        const jobIds = [...new Set(logs.map((l) => l.args.jobId))].filter((jobId) =>
          !backfilled.has(fromBytes32(jobId))
        );
        if (jobIds.length > 0) {
          const earlier = await retryChainCall(
            () => readLogs({ ...commits, args: { jobId: jobIds }, toBlock: resumedAt - 1n }),
            {
              ...retry,
              what: `reading the earlier commits of ${jobIds.length} jobs`,
            },
          );
          for (const jobId of jobIds) backfilled.add(fromBytes32(jobId));
          for (const e of earlier) options.onCommit(commitOf(e));
        }
      }
      for (const log of logs) {
        const commit = commitOf(log);
        if (!options.onCommit(commit)) continue;
        const release = cursor.hold(commit.block);
        const done = (): void => {
          if (stopped) return; // the node closed: a restart reads the commit again
          const write = release().catch((error) =>
            say(`cannot save the commit cursor: ${(error as Error).message}`)
          ).finally(() => writes.delete(write));
          writes.add(write);
        };
        options.finished(commit).then(done, () => {
          // Failed or not drawn: finished all the same (the audit logged why), unless closing
          // the node stopped it midway; then it stays held, to run again after a restart.
          if (!signal.aborted) done();
        });
      }
    }
  } catch (error) {
    if (!signal.aborted) say(`stopped following commits: ${(error as Error).message}`);
  } finally {
    stopped = true;
    await Promise.allSettled(writes);
  }
}
