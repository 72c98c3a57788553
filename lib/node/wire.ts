/**
 * The narrow interface through which the node's logic talks to other nodes.
 *
 * `provider.ts` and `network.ts` speak only in these terms: signed job offers on the gossip
 * topic, blobs fetched by content id, and progress events a provider publishes and a submitter
 * watches. Peers find each other's libp2p ids through the chain (`Staking.peerOf`), so nothing a
 * peer claims about who it is needs to be trusted. `p2p_wire.ts` implements it on `lib/p2p`.
 *
 * @module
 */

import { PeerError } from "../core/errors.ts";
import type { Hash } from "../core/hash.ts";
import type { JobSpec } from "../proof/job.ts";
import type { BlobStore } from "../proof/store.ts";
import type { P2PHost } from "../p2p/host.ts";
import type { Refusal } from "../p2p/presence.ts";
import { sleep } from "../core/sleep.ts";

/** A job offered on the network: signed by the submitter and checked against its escrow. */
export interface JobOffer {
  /** Job id on-chain (derived from the submitter and the spec hash). */
  readonly jobId: Hash;
  /** Hash of the spec: the id of the spec's blob at the submitter. */
  readonly specHash: Hash;
  /** The submitter's account. */
  readonly submitter: string;
  /** Total payment escrowed, wei. */
  readonly priceWei: bigint;
  /** Commit deadline, unix seconds. */
  readonly deadline: number;
  /** Where the submitter listens (signed with the offer), to reach it directly. */
  readonly addrs: readonly string[];
}

/** One progress event of a job, as a provider publishes it. */
export interface ProgressUpdate {
  /** The job. */
  readonly jobId: Hash;
  /** Step reached. */
  readonly step: number;
  /** Training loss at that step. */
  readonly loss?: number;
  /** A checkpoint committed at this point. */
  readonly checkpoint?: { readonly step: number; readonly hash: Hash };
  /**
   * Blob id of the provider's committed trace, on the update after its commit. Distributed
   * workers publish it (their trace records rounds, not checkpoints); verifiers fetch it.
   */
  readonly trace?: Hash;
  /** Where the job stands. */
  readonly status: "queued" | "running" | "done" | "failed" | "cancelled";
  /** Why it failed, for failures. */
  readonly message?: string;
  /** The failure's error code (`ToolkitError.code`), for failures. */
  readonly code?: string;
}

/** The node's view of the network. */
export interface NodeWire {
  /** This node's libp2p peer id. */
  readonly peerId: string;
  /** Where this node listens. */
  readonly addrs: readonly string[];
  /** The node's secp256k1 peer key (for binding it on-chain). */
  readonly peerPrivateKey: Uint8Array;
  /**
   * The libp2p host under the wire, when there is one: distributed training runs its own
   * protocol and gossip topic on it.
   *
   * @ignore
   */
  readonly host?: P2PHost;
  /** Signs (with the node's chain account) and gossips a job offer. */
  announce(spec: JobSpec, jobId: Hash, deadline: number): Promise<void>;
  /** Receives offers whose signature and on-chain escrow checked out. */
  onOffer(handler: (offer: JobOffer) => void): void;
  /** Connects to a peer at one of its multiaddrs, if not connected already (best effort). */
  connect(addrs: readonly string[]): Promise<void>;
  /**
   * Fetches a blob by content id from a peer into a store (hash-checked, resumable: an aborted
   * fetch keeps what arrived and the next one goes on from there). With `maxBytes`, a blob the
   * peer says is larger is refused (`PEER_BLOB_TOO_LARGE`, its size as the value) before any
   * byte is written.
   */
  fetchBlob(
    fromPeerId: string,
    hash: Hash,
    store: BlobStore,
    options?: { signal?: AbortSignal; maxBytes?: number },
  ): Promise<void>;
  /** Publishes a progress event of a job this node runs. */
  publishProgress(update: ProgressUpdate): void;
  /** Watches a provider's progress events of a job, from the first. */
  watchProgress(
    fromPeerId: string,
    jobId: Hash,
    signal?: AbortSignal,
  ): AsyncIterable<ProgressUpdate>;
  /**
   * Starts saying, every few seconds, that this node is a provider running `profile`, and where
   * it listens (`lib/p2p/presence.ts`). Absent on wires without presence.
   */
  advertise?(profile: string): void;
  /**
   * Says, with this provider's presence, that it refused `refusal.jobId` without claiming it, so
   * the job's submitter learns why. Absent on wires without presence.
   */
  refuse?(refusal: Refusal): void;
  /** Providers seen recently, with the profile each runs. Absent on wires without presence. */
  providers?(): readonly ProviderSighting[];
  /** Stops the node's networking. */
  close(): Promise<void>;
}

/** A provider seen on the network: its account, checked peer id, profile and addresses. */
export interface ProviderSighting {
  /** The chain account it works for. */
  readonly account: string;
  /** Its libp2p peer id, the one the account bound on-chain. */
  readonly peerId: string;
  /** The execution profile it runs. */
  readonly profile: string;
  /** Where it listens. */
  readonly addrs: readonly string[];
  /** Jobs it refused lately without claiming them (too large for its limits), newest last. */
  readonly refused?: readonly Refusal[];
}

/**
 * Fetches a blob like `wire.fetchBlob`, failing with `PEER_FETCH_TIMEOUT` when it is not served
 * within `timeoutMs`: the fetch is aborted then (what arrived stays for the next try). `signal`
 * aborts it sooner; `maxBytes` refuses a larger blob (`PEER_BLOB_TOO_LARGE`).
 *
 * @example
 * ```ts
 * import { fetchBlobWithin } from "./wire.ts";
 * declare const wire: import("./wire.ts").NodeWire;
 * declare const store: import("../proof/store.ts").BlobStore;
 * await fetchBlobWithin(wire, "16Uiu2...", "ab".repeat(32), store, 15_000);
 * ```
 */
export function fetchBlobWithin(
  wire: NodeWire,
  peer: string,
  hash: Hash,
  store: BlobStore,
  timeoutMs: number,
  signal?: AbortSignal,
  maxBytes?: number,
): Promise<void> {
  const stop = new AbortController();
  const onAbort = () => stop.abort(signal?.reason);
  signal?.addEventListener("abort", onAbort, { once: true });
  const fetching = wire.fetchBlob(peer, hash, store, {
    signal: stop.signal,
    ...(maxBytes === undefined ? {} : { maxBytes }),
  });
  fetching.catch(() => {}); // a late failure after the timeout has already been reported
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      stop.abort();
      reject(
        new PeerError(
          "PEER_FETCH_TIMEOUT",
          `blob ${hash.slice(0, 10)} not served in ${timeoutMs} ms`,
          { value: hash },
        ),
      );
    }, timeoutMs);
  });
  return Promise.race([fetching, timeout]).finally(() => {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  });
}

/**
 * Peer errors that say the connection failed, dropped or was cut mid-reply, or that the peer was
 * busy: it may well serve the blob on another try.
 */
const PEER_DROPPED: ReadonlySet<string> = new Set([
  "PEER_UNREACHABLE",
  "PEER_BUSY",
  "PEER_RATE_LIMITED",
  "PEER_TRANSFER_INTERRUPTED",
  "PEER_TRUNCATED",
  "PEER_STREAM_RESET",
]);
/** Peer errors that say the peer stayed silent, or failed inside, while asked. */
const PEER_SILENT: ReadonlySet<string> = new Set([
  "PEER_TIMEOUT",
  "PEER_FETCH_TIMEOUT",
  "PEER_INTERNAL",
]);

/**
 * Whether a failed fetch says only that the peer was not reached or did not finish, rather than
 * that it answered without the blob, with other bytes, or with one too large. A dropped
 * connection always counts; a peer that stayed silent counts only with `silence` (a caller that
 * must not let a peer run out a deadline by not answering leaves it off).
 *
 * @example
 * ```ts
 * import { peerMayServeLater } from "./wire.ts";
 * declare const error: unknown;
 * if (peerMayServeLater(error, { silence: false })) console.log("ask again");
 * ```
 */
export function peerMayServeLater(error: unknown, options: { silence: boolean }): boolean {
  if (!(error instanceof PeerError)) return true; // a dial or transport failure
  return PEER_DROPPED.has(error.code) || (options.silence && PEER_SILENT.has(error.code));
}

/** How {@linkcode fetchBlobRetrying} tries. */
export interface FetchRetry {
  /** Each try's limit, ms (`PEER_FETCH_TIMEOUT` past it). */
  timeoutMs: number;
  /** Tries in all, at least 1. */
  attempts: number;
  /** Pause after the first failed try, ms; it doubles after each further one. */
  backoffMs: number;
  /** Whether a failure is worth another try (the last failure is thrown otherwise). */
  retryIf: (error: unknown) => boolean;
  /** Told of each failure that is tried again, with the pause before the next try. */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  /** Stops waiting and trying. */
  signal?: AbortSignal;
  /** Refuses a larger blob (`PEER_BLOB_TOO_LARGE`). */
  maxBytes?: number;
}

/**
 * Fetches a blob with {@linkcode fetchBlobWithin}, trying again after a failure `retryIf` accepts,
 * with a doubling pause, up to `attempts` tries; the last failure is thrown.
 *
 * @example
 * ```ts
 * import { fetchBlobRetrying, peerMayServeLater } from "./wire.ts";
 * declare const wire: import("./wire.ts").NodeWire;
 * declare const store: import("../proof/store.ts").BlobStore;
 * await fetchBlobRetrying(wire, "16Uiu2...", "ab".repeat(32), store, {
 *   timeoutMs: 15_000,
 *   attempts: 5,
 *   backoffMs: 1_000,
 *   retryIf: (e) => peerMayServeLater(e, { silence: false }),
 * });
 * ```
 */
export async function fetchBlobRetrying(
  wire: NodeWire,
  peer: string,
  hash: Hash,
  store: BlobStore,
  retry: FetchRetry,
): Promise<void> {
  for (let attempt = 1;; attempt++) {
    try {
      return await fetchBlobWithin(
        wire,
        peer,
        hash,
        store,
        retry.timeoutMs,
        retry.signal,
        retry.maxBytes,
      );
    } catch (error) {
      if (attempt >= retry.attempts || retry.signal?.aborted || !retry.retryIf(error)) throw error;
      const delayMs = retry.backoffMs * 2 ** (attempt - 1);
      retry.onRetry?.(error, attempt, delayMs);
      await sleep(delayMs, retry.signal);
    }
  }
}
