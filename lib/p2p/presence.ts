/**
 * Provider presence on the gossip topic `gensyn/providers/1`: every few seconds a provider says
 * which account it works for, which execution profile it runs and where it listens. Gossipsub
 * signs each message with the sender's peer key, and a sighting is kept only when that peer is
 * the one the account bound on-chain, so nobody can speak for another provider. Every node adds
 * the addresses to its peer store: a provider that restarted on a new port is found again by its
 * peer id, and a submitter learns which profiles the network runs before it pays for a job.
 *
 * @module
 */

import { peerIdFromString } from "npm:@libp2p/peer-id@6.0.15";
import { multiaddr } from "npm:@multiformats/multiaddr@13.0.3";
import { TopicValidatorResult } from "npm:@libp2p/gossipsub@17.1.1";
import type { P2PHost } from "./host.ts";

/** Gossip topic of provider presence. */
export const PRESENCE_TOPIC = "gensyn/providers/1";

/** How often a provider repeats its presence, ms. */
export const PRESENCE_INTERVAL_MS = 2_000;

/** A sighting older than this is forgotten, and a message this far off the clock ignored, s. */
const PRESENCE_TTL_S = 60;

/** Delay before greeting a new subscriber, so its mesh has formed, ms. */
const SUBSCRIBER_DELAY_MS = 300;

/** Most addresses one presence message may carry. */
const MAX_ADDRS = 8;

/** Most refusals one presence message carries (the newest). */
export const MAX_REFUSALS = 16;

/** Longest refusal reason carried, characters. */
const MAX_REASON = 400;

/** A job a provider refused without claiming it, and why. */
export interface Refusal {
  /** The job (64 hex digits, no prefix). */
  readonly jobId: string;
  /** The error code, for instance `SPEC_TOO_LARGE`. */
  readonly code: string;
  /** The provider's message. */
  readonly reason: string;
}

/** What a provider says about itself. */
export interface Presence {
  /** The chain account it works for. */
  readonly account: string;
  /** The execution profile it runs. */
  readonly profile: string;
  /** Where it listens (multiaddrs ending in its `/p2p/` id). */
  readonly addrs: readonly string[];
  /** When it said so, unix seconds. */
  readonly at: number;
  /** Jobs it refused lately, newest last (at most {@link MAX_REFUSALS}). */
  readonly refused?: readonly Refusal[];
}

/** A provider seen on the topic, with its checked peer id. */
export interface Sighting extends Presence {
  /** Its libp2p peer id (the gossip sender, matched to the account's on-chain binding). */
  readonly peerId: string;
}

/** Options of {@link joinPresence}. */
export interface PresenceOptions {
  /** Whether `peerId` is the peer `account` bound on-chain. */
  isBound(account: string, peerId: string): Promise<boolean>;
  /** Current time, unix seconds (tests). Default the clock. */
  nowSeconds?: () => number;
}

/** A node's view of provider presence. */
export interface PresenceFeed {
  /** Starts repeating this node's presence (a provider), until `close()`. */
  advertise(info: Omit<Presence, "at" | "addrs" | "refused">): void;
  /**
   * Adds a job this provider refused to what its presence says (the newest
   * {@link MAX_REFUSALS}), and says it at once.
   */
  refuse(refusal: Refusal): void;
  /** Providers seen within the last minute, newest sighting per peer. */
  sightings(): Sighting[];
  /** Stops advertising and listening. */
  close(): void;
}

function decodePresence(data: Uint8Array): Presence {
  const value = JSON.parse(new TextDecoder().decode(data)) as Record<string, unknown>;
  const { account, profile, addrs, at, refused } = value ?? {};
  if (
    typeof account !== "string" || !/^0x[0-9a-fA-F]{40}$/.test(account) ||
    typeof profile !== "string" || profile.length > 64 ||
    !Array.isArray(addrs) || addrs.length > MAX_ADDRS ||
    addrs.some((a) => typeof a !== "string" || a.length > 256) ||
    !Number.isSafeInteger(at) ||
    (refused !== undefined && (!Array.isArray(refused) || refused.length > MAX_REFUSALS ||
      refused.some((r) => !isRefusal(r))))
  ) {
    throw new Error("malformed presence message");
  }
  return {
    account,
    profile,
    addrs: addrs as string[],
    at: at as number,
    ...(refused === undefined ? {} : { refused: refused as Refusal[] }),
  };
}

function isRefusal(value: unknown): value is Refusal {
  const r = value as Record<string, unknown> | null;
  return typeof r === "object" && r !== null &&
    typeof r.jobId === "string" && /^[0-9a-f]{64}$/.test(r.jobId) &&
    typeof r.code === "string" && /^[A-Z0-9_]{1,48}$/.test(r.code) &&
    typeof r.reason === "string" && r.reason.length <= MAX_REASON;
}

/**
 * Joins the presence topic: checks and records every provider's presence, and merges its
 * addresses into this node's peer store.
 *
 * @example
 * ```ts ignore
 * const presence = joinPresence(host, { isBound: async (account, peer) => peerOf(account) === peer });
 * presence.advertise({ account: "0x...", profile: "wasm-simd-1t+k1@tfjs-4.22.0" });
 * console.log(presence.sightings().map((s) => s.profile));
 * ```
 */
export function joinPresence(host: P2PHost, options: PresenceOptions): PresenceFeed {
  const pubsub = host.pubsub;
  const now = options.nowSeconds ?? (() => Math.floor(Date.now() / 1000));
  const seen = new Map<string, Sighting>();
  let timer: ReturnType<typeof setInterval> | undefined;
  let closed = false;

  pubsub.topicValidators.set(PRESENCE_TOPIC, async (peer, msg) => {
    // The author signed the message (gossipsub's strict signing); `peer` only forwarded it.
    const relay = peer.toString();
    const reject = (code: string, reason: string, result: TopicValidatorResult) => {
      host.reject(
        { peer: relay, protocol: PRESENCE_TOPIC, code, reason },
        result === TopicValidatorResult.Reject,
      );
      return result;
    };
    if (msg.type !== "signed") {
      return reject("PEER_MALFORMED", "presence must be signed", TopicValidatorResult.Reject);
    }
    const from = msg.from.toString();
    let p: Presence;
    try {
      p = decodePresence(msg.data);
    } catch (e) {
      return reject("PEER_MALFORMED", (e as Error).message, TopicValidatorResult.Reject);
    }
    if (p.addrs.some((a) => !a.endsWith(`/p2p/${from}`))) {
      return reject(
        "PEER_MALFORMED",
        "presence addresses must end in the sender's own /p2p/ id",
        TopicValidatorResult.Reject,
      );
    }
    if (Math.abs(now() - p.at) > PRESENCE_TTL_S) {
      return reject("PEER_EXPIRED", "presence message is stale", TopicValidatorResult.Ignore);
    }
    let bound = false;
    try {
      bound = await options.isBound(p.account, from);
    } catch {
      // Cannot check now: ignored, the provider repeats itself in a few seconds.
    }
    if (!bound) {
      return reject(
        "PEER_NOT_BOUND",
        `peer ${from} is not the peer ${p.account} bound on-chain`,
        TopicValidatorResult.Ignore,
      );
    }
    const previous = seen.get(from);
    if (previous === undefined || previous.at <= p.at) seen.set(from, { ...p, peerId: from });
    try {
      await host.libp2p.peerStore.merge(peerIdFromString(from), {
        multiaddrs: p.addrs.map((a) => multiaddr(a.slice(0, -`/p2p/${from}`.length))),
      });
    } catch {
      // An address this libp2p cannot parse: the sighting stands, the dial tries the others.
    }
    return TopicValidatorResult.Accept;
  });
  pubsub.subscribe(PRESENCE_TOPIC);

  let say: (() => void) | undefined;
  let refused: Refusal[] = [];
  // A peer that just subscribed hears from this provider at once, not at the next interval.
  const onSubscription = (evt: CustomEvent<{ subscriptions: { topic: string }[] }>) => {
    if (evt.detail.subscriptions.some((sub) => sub.topic === PRESENCE_TOPIC)) {
      setTimeout(() => say?.(), SUBSCRIBER_DELAY_MS);
    }
  };
  pubsub.addEventListener("subscription-change", onSubscription as EventListener);

  return {
    advertise(info): void {
      clearInterval(timer);
      say = () => {
        if (closed) return;
        const message: Presence = {
          ...info,
          addrs: host.multiaddrs().slice(0, MAX_ADDRS),
          at: now(),
          ...(refused.length > 0 ? { refused } : {}),
        };
        pubsub.publish(PRESENCE_TOPIC, new TextEncoder().encode(JSON.stringify(message)))
          .catch(() => {
            // Nobody subscribed yet: said again at the next interval.
          });
      };
      say();
      timer = setInterval(say, PRESENCE_INTERVAL_MS);
    },
    refuse(refusal): void {
      const entry: Refusal = {
        jobId: refusal.jobId.replace(/^0x/, "").toLowerCase(),
        code: refusal.code,
        reason: refusal.reason.slice(0, MAX_REASON),
      };
      refused = [...refused.filter((r) => r.jobId !== entry.jobId), entry].slice(-MAX_REFUSALS);
      say?.();
    },
    sightings(): Sighting[] {
      const fresh = now() - PRESENCE_TTL_S;
      return [...seen.values()].filter((s) => s.at >= fresh);
    },
    close(): void {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      pubsub.removeEventListener("subscription-change", onSubscription as EventListener);
      pubsub.topicValidators.delete(PRESENCE_TOPIC);
      try {
        pubsub.unsubscribe(PRESENCE_TOPIC);
      } catch {
        // The host already stopped.
      }
    },
  };
}
