/**
 * Job announcements on the gossip topic `gensyn/jobs/2`: a submitter signs a job's terms with its
 * Ethereum key (EIP-191 `personal_sign` over the canonical JSON of the fields) and publishes them;
 * every receiver checks the signature and then asks the chain (an injected `isOnChain`) before
 * accepting. Gossipsub's validation drops what fails, so bad announcements are not propagated:
 * a bad signature or shape is `Reject` (the sender is penalised), a job not (yet) on-chain or
 * past its deadline is `Ignore`.
 *
 * @module
 */

import { TopicValidatorResult } from "npm:@libp2p/gossipsub@17.1.1";
import { isAddressEqual, recoverMessageAddress } from "npm:viem@2.57.20";
import type { Address, Hex } from "./types.ts";
import { canonicalJson } from "../core/canonical.ts";
import { PeerError } from "../core/errors.ts";
import { decodeMessage, encodeMessage } from "./codec.ts";
import type { P2PHost } from "./host.ts";
import {
  address,
  array,
  bytes,
  hash,
  literal,
  object,
  optional,
  str,
  uint,
  uint256,
} from "./schema.ts";

/** Gossip topic of job announcements. */
export const JOBS_TOPIC = "gensyn/jobs/2";

/** The terms of a job as announced. */
export interface JobAnnouncement {
  /** The job's id on-chain (derived by the job market from the submitter and the spec hash). */
  jobId: string;
  /** Hash of the job's spec: the content id of the spec's blob at the submitter. */
  specHash: string;
  /** Content id of the model spec. */
  specId: string;
  /** Content id of the dataset. */
  datasetId: string;
  /** Training steps. */
  steps: number;
  /** Batch size. */
  batchSize: number;
  /** Checkpoint interval. */
  k: number;
  /** Payment escrowed, in wei. */
  priceWei: bigint;
  /** Unix time (seconds) after which the job is void. */
  deadline: number;
  /** The submitter's Ethereum address (the signer). */
  submitter: Address;
  /** Chain id the job is escrowed on. */
  chainId: number;
  /**
   * Multiaddrs where the submitter serves the job's blobs, so providers that are not connected
   * to it yet can reach it (gossip travels further than direct connections).
   */
  addrs?: string[];
}

/** An announcement with the submitter's signature. */
export interface SignedAnnouncement extends JobAnnouncement {
  /** 65-byte EIP-191 signature of {@link announcementMessage}. */
  signature: Hex;
}

const wireSchema = object({
  v: literal(2),
  jobId: hash,
  specHash: hash,
  specId: hash,
  datasetId: hash,
  steps: uint(),
  batchSize: uint(),
  k: uint(),
  priceWei: uint256,
  deadline: uint(),
  submitter: address,
  chainId: uint(),
  addrs: optional(array(str(256), 8)),
  signature: bytes(65, true),
});

/**
 * The text the submitter signs: canonical JSON (RFC 8785 style, `lib/core/canonical.ts`) of the
 * fields, with `priceWei` as a decimal string and a `type` tag so the signature cannot be
 * replayed as anything else.
 */
export function announcementMessage(a: JobAnnouncement): string {
  return canonicalJson({
    type: "gensyn job announcement v2",
    jobId: a.jobId,
    specHash: a.specHash,
    specId: a.specId,
    datasetId: a.datasetId,
    steps: a.steps,
    batchSize: a.batchSize,
    k: a.k,
    priceWei: a.priceWei.toString(),
    deadline: a.deadline,
    submitter: a.submitter.toLowerCase(),
    chainId: a.chainId,
    addrs: a.addrs ?? [],
  });
}

/** Anything that signs EIP-191 messages, e.g. a viem `LocalAccount`. */
export interface MessageSigner {
  /** The signer's address. */
  address: Address;
  /** EIP-191 `personal_sign`. */
  signMessage(args: { message: string }): Promise<Hex>;
}

/**
 * Signs an announcement with the submitter's account.
 *
 * @example
 * ```ts ignore
 * import { privateKeyToAccount } from "viem/accounts";
 * const account = privateKeyToAccount(key);
 * const signed = await signAnnouncement(account, { ...terms, submitter: account.address });
 * ```
 */
export async function signAnnouncement(
  account: MessageSigner,
  announcement: JobAnnouncement,
): Promise<SignedAnnouncement> {
  if (!isAddressEqual(account.address, announcement.submitter)) {
    throw new PeerError(
      "PEER_BAD_SIGNATURE",
      `announcement names submitter ${announcement.submitter} but is signed by ${account.address}`,
    );
  }
  const signature = await account.signMessage({ message: announcementMessage(announcement) });
  return { ...announcement, signature };
}

/** True if the announcement's signature recovers to its submitter. */
export async function verifyAnnouncement(a: SignedAnnouncement): Promise<boolean> {
  try {
    const signer = await recoverMessageAddress({
      message: announcementMessage(a),
      signature: a.signature,
    });
    return isAddressEqual(signer, a.submitter);
  } catch {
    // A signature that does not even parse as a secp256k1 signature is simply invalid.
    return false;
  }
}

/** Encodes a signed announcement for the wire. */
export function encodeAnnouncement(a: SignedAnnouncement): Uint8Array {
  const sig = a.signature.slice(2);
  const signature = new Uint8Array(65);
  for (let i = 0; i < 65; i++) signature[i] = parseInt(sig.slice(2 * i, 2 * i + 2), 16);
  return encodeMessage({ v: 2, ...a, priceWei: a.priceWei.toString(), signature }, 4096);
}

/** Decodes a wire announcement; throws `PEER_MALFORMED`/`PEER_OVERSIZED` on bad input. */
export function decodeAnnouncement(bytes: Uint8Array): SignedAnnouncement {
  const w = decodeMessage(bytes, wireSchema, 4096);
  const { v: _v, signature, ...rest } = w;
  return {
    ...rest,
    signature: `0x${Array.from(signature, (b) => b.toString(16).padStart(2, "0")).join("")}`,
  };
}

/** Options of {@link joinAnnouncements}. */
export interface AnnouncementOptions {
  /** Checks the job exists on-chain with these terms (the node wires this to `JobMarket`). */
  isOnChain: (a: SignedAnnouncement) => Promise<boolean>;
  /** Clock in unix seconds for deadline checks (default: now). */
  nowSeconds?: () => number;
  /**
   * A job announced again is delivered again once this long (ms) has passed since it was last
   * delivered (default {@link REDELIVER_MS}): a submitter re-announces while a slot is open, and a
   * node that could not take the job the first time (a fetch that failed, a busy node) must see
   * it again. Sooner repeats, a replay flood included, are dropped; an announcement with another
   * deadline than the last one delivered (the job was reassigned) is always delivered.
   */
  redeliverMs?: number;
}

/** Default of {@link AnnouncementOptions.redeliverMs}. */
export const REDELIVER_MS = 2_000;

/** Jobs remembered for redelivery; past it, expired ones are forgotten first, then the oldest. */
const REMEMBERED_JOBS = 4096;

/** A subscription to job announcements. */
export interface AnnouncementFeed extends AsyncIterable<SignedAnnouncement> {
  /** Publishes a signed announcement to the network. */
  publish(a: SignedAnnouncement): Promise<void>;
  /** Registers a callback for each accepted announcement. */
  onAnnouncement(listener: (a: SignedAnnouncement) => void): void;
  /** Peers this node exchanges announcements with directly (its gossip mesh for the topic). */
  meshPeers(): string[];
  /** Unsubscribes and ends the iterators. */
  close(): void;
}

/**
 * Subscribes the host to job announcements; only verified, on-chain ones are delivered and
 * forwarded.
 *
 * @example
 * ```ts ignore
 * const feed = joinAnnouncements(host, { isOnChain: (a) => market.exists(a.jobId) });
 * for await (const job of feed) console.log(job.jobId, job.priceWei);
 * ```
 */
export function joinAnnouncements(host: P2PHost, options: AnnouncementOptions): AnnouncementFeed {
  const pubsub = host.pubsub;
  const now = options.nowSeconds ?? (() => Math.floor(Date.now() / 1000));
  const accepted = new Map<string, SignedAnnouncement>();
  const listeners = new Set<(a: SignedAnnouncement) => void>();
  const redeliverMs = options.redeliverMs ?? REDELIVER_MS;
  /** When each job was last delivered, and its deadline (to forget it once void). */
  const delivered = new Map<string, { at: number; deadline: number }>();
  let closed = false;

  pubsub.topicValidators.set(JOBS_TOPIC, async (peer, msg) => {
    const from = peer.toString();
    const reject = (code: string, reason: string, result: TopicValidatorResult) => {
      host.reject(
        { peer: from, protocol: JOBS_TOPIC, code, reason },
        result === TopicValidatorResult.Reject,
      );
      return result;
    };
    let a: SignedAnnouncement;
    try {
      a = decodeAnnouncement(msg.data);
    } catch (e) {
      return reject(
        (e as PeerError).code ?? "PEER_MALFORMED",
        (e as Error).message,
        TopicValidatorResult.Reject,
      );
    }
    if (!(await verifyAnnouncement(a))) {
      return reject(
        "PEER_BAD_SIGNATURE",
        `announcement of job ${a.jobId} is not signed by ${a.submitter}`,
        TopicValidatorResult.Reject,
      );
    }
    if (a.deadline <= now()) {
      return reject(
        "PEER_EXPIRED",
        `job ${a.jobId} passed its deadline`,
        TopicValidatorResult.Ignore,
      );
    }
    let onChain: boolean;
    try {
      onChain = await options.isOnChain(a);
    } catch (e) {
      return reject(
        "PEER_CHAIN_CHECK_FAILED",
        `cannot check job ${a.jobId} on-chain: ${(e as Error).message}`,
        TopicValidatorResult.Ignore,
      );
    }
    if (!onChain) {
      return reject(
        "PEER_NOT_ON_CHAIN",
        `job ${a.jobId} is not escrowed on-chain with these terms`,
        TopicValidatorResult.Ignore,
      );
    }
    accepted.set(msgKey(msg.data), a);
    return TopicValidatorResult.Accept;
  });

  const onMessage = (evt: CustomEvent<{ topic: string; data: Uint8Array }>): void => {
    if (evt.detail.topic !== JOBS_TOPIC) return;
    const key = msgKey(evt.detail.data);
    const a = accepted.get(key);
    accepted.delete(key);
    if (a === undefined) return;
    const at = Date.now();
    const last = delivered.get(a.jobId);
    // A new deadline is news (the job was reassigned: its slots are open again), never held back.
    if (last !== undefined && last.deadline === a.deadline && at - last.at < redeliverMs) return;
    delivered.delete(a.jobId); // re-inserted last: the Map keeps the oldest delivery first
    delivered.set(a.jobId, { at, deadline: a.deadline });
    if (delivered.size > REMEMBERED_JOBS) forget();
    for (const l of listeners) l(a);
  };
  const forget = (): void => {
    const nowSec = now();
    for (const [jobId, d] of delivered) if (d.deadline <= nowSec) delivered.delete(jobId);
    for (const jobId of delivered.keys()) {
      if (delivered.size <= REMEMBERED_JOBS) break;
      delivered.delete(jobId);
    }
  };
  pubsub.addEventListener("message", onMessage as EventListener);
  pubsub.subscribe(JOBS_TOPIC);

  const iterators = new Set<{ push: (a: SignedAnnouncement | null) => void }>();
  const feed: AnnouncementFeed = {
    async publish(a: SignedAnnouncement): Promise<void> {
      await pubsub.publish(JOBS_TOPIC, encodeAnnouncement(a));
    },
    onAnnouncement(listener): void {
      listeners.add(listener);
    },
    meshPeers(): string[] {
      // The implementation exposes the mesh; the published interface type does not.
      const impl = pubsub as unknown as { getMeshPeers?: (topic: string) => string[] };
      return impl.getMeshPeers?.(JOBS_TOPIC) ?? [];
    },
    close(): void {
      if (closed) return;
      closed = true;
      pubsub.removeEventListener("message", onMessage as EventListener);
      pubsub.topicValidators.delete(JOBS_TOPIC);
      try {
        pubsub.unsubscribe(JOBS_TOPIC);
      } catch {
        // The host already stopped; there is no subscription left to remove.
      }
      for (const it of iterators) it.push(null);
    },
    [Symbol.asyncIterator](): AsyncIterator<SignedAnnouncement> {
      const queue: (SignedAnnouncement | null)[] = [];
      let wake: (() => void) | undefined;
      const it = {
        push(a: SignedAnnouncement | null) {
          queue.push(a);
          wake?.();
        },
      };
      iterators.add(it);
      const listener = (a: SignedAnnouncement): void => it.push(a);
      listeners.add(listener);
      if (closed) it.push(null);
      const finish = (): IteratorResult<SignedAnnouncement> => {
        listeners.delete(listener);
        iterators.delete(it);
        return { done: true, value: undefined };
      };
      return {
        async next(): Promise<IteratorResult<SignedAnnouncement>> {
          while (queue.length === 0) await new Promise<void>((r) => (wake = r));
          const a = queue.shift()!;
          return a === null ? finish() : { done: false, value: a };
        },
        return(): Promise<IteratorResult<SignedAnnouncement>> {
          return Promise.resolve(finish());
        },
      };
    },
  };
  host.onStop(() => feed.close());
  return feed;
}

function msgKey(data: Uint8Array): string {
  // Announcements are small (< 4 KiB); the bytes themselves are a fine map key.
  let s = "";
  for (const b of data) s += String.fromCharCode(b);
  return s;
}
