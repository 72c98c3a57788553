/**
 * The gossip topic of one distributed job, `gensyn/dist/<jobId>/1`: how the job's workers find
 * each other's addresses (`hello`) and how every worker reports each round (`round`) to the other
 * workers and to the submitter, who subscribes too (it is the peer every worker already reaches,
 * so it relays the topic between workers that are not yet connected).
 *
 * Gossip messages are signed by the sender's libp2p key (gossipsub's strict signing), so `from` is
 * authenticated; whether that peer is a worker of the job is decided by the reader against the
 * chain (slot -> provider -> bound peer id). Deltas never travel here: they go point to point on
 * the job's `/gensyn/dist/1.0.0/<jobId>` protocol.
 *
 * @module
 */

import { TopicValidatorResult } from "npm:@libp2p/gossipsub@17.1.1";
import { PeerError } from "../core/errors.ts";
import type { Hash } from "../core/hash.ts";
import { decodeMessage, encodeMessage } from "../p2p/codec.ts";
import type { P2PHost } from "../p2p/host.ts";
import {
  array,
  finite,
  hash,
  type Infer,
  literal,
  object,
  str,
  uint,
  union,
} from "../p2p/schema.ts";

const MAX_WORKERS = 16;

const segmentSchema = object({
  shard: uint(MAX_WORKERS),
  steps: uint(),
  startHash: hash,
  endHash: hash,
});

const messageSchema = union({
  hello: object({
    t: literal("hello"),
    slot: uint(MAX_WORKERS),
    addrs: array(str(512), 8),
  }),
  round: object({
    t: literal("round"),
    slot: uint(MAX_WORKERS),
    round: uint(),
    members: array(uint(MAX_WORKERS), MAX_WORKERS),
    counted: array(uint(MAX_WORKERS), MAX_WORKERS),
    absent: array(uint(MAX_WORKERS), MAX_WORKERS),
    rejected: array(uint(MAX_WORKERS), MAX_WORKERS),
    loss: finite,
    bytesSent: uint(),
    outerHash: hash,
    segments: array(segmentSchema, MAX_WORKERS),
  }),
});

/** A message on a distributed job's topic. */
export type DistTopicMessage = Infer<typeof messageSchema>;

/** A worker's report of one round, as published on the topic. */
export type DistRoundMessage = Extract<DistTopicMessage, { t: "round" }>;

/** A joined topic. */
export interface DistTopic {
  /** Publishes a message (lost when nobody listens yet: `hello` is repeated for that reason). */
  publish(message: DistTopicMessage): Promise<void>;
  /** Receives every valid message with its authenticated sender peer id. */
  onMessage(handler: (from: string, message: DistTopicMessage) => void): void;
  /** Unsubscribes. */
  close(): void;
}

/** The gossip topic of a distributed job. */
export function distTopicOf(jobId: Hash): string {
  return `gensyn/dist/${jobId}/1`;
}

/**
 * Joins a distributed job's topic on a host: malformed messages are rejected (and count against
 * the sender), valid ones go to the handlers.
 *
 * @example
 * ```ts ignore
 * const topic = joinDistTopic(host, jobId);
 * topic.onMessage((from, m) => console.log(from, m.t));
 * await topic.publish({ t: "hello", slot: 0, addrs: host.multiaddrs() });
 * ```
 */
export function joinDistTopic(host: P2PHost, jobId: Hash): DistTopic {
  const topic = distTopicOf(jobId);
  const pubsub = host.pubsub;
  const handlers = new Set<(from: string, message: DistTopicMessage) => void>();
  let closed = false;
  pubsub.topicValidators.set(topic, (peer, msg) => {
    try {
      decodeMessage(msg.data, messageSchema);
      return TopicValidatorResult.Accept;
    } catch (e) {
      host.reject({
        peer: peer.toString(),
        protocol: topic,
        code: (e as PeerError).code ?? "PEER_MALFORMED",
        reason: (e as Error).message,
      }, true);
      return TopicValidatorResult.Reject;
    }
  });
  const onMessage = (
    evt: CustomEvent<{ topic: string; data: Uint8Array; from?: { toString(): string } }>,
  ): void => {
    if (evt.detail.topic !== topic || evt.detail.from === undefined) return;
    const message = decodeMessage(evt.detail.data, messageSchema);
    for (const h of handlers) h(evt.detail.from.toString(), message);
  };
  pubsub.addEventListener("message", onMessage as EventListener);
  pubsub.subscribe(topic);
  return {
    async publish(message: DistTopicMessage): Promise<void> {
      if (closed) return;
      await pubsub.publish(topic, encodeMessage(message));
    },
    onMessage(handler): void {
      handlers.add(handler);
    },
    close(): void {
      if (closed) return;
      closed = true;
      handlers.clear();
      pubsub.removeEventListener("message", onMessage as EventListener);
      pubsub.topicValidators.delete(topic);
      try {
        pubsub.unsubscribe(topic);
      } catch {
        // The host already stopped; there is no subscription left to remove.
      }
    },
  };
}

/** Rejects a round report whose sender is not the worker it claims to be. */
export function checkSender(
  from: string,
  message: DistTopicMessage,
  peerOfSlot: ReadonlyMap<number, string>,
): void {
  if (peerOfSlot.get(message.slot) !== from) {
    throw new PeerError(
      "PEER_WRONG_SENDER",
      `peer ${from} sent a ${message.t} message as worker ${message.slot}, whose bound peer is ` +
        `${peerOfSlot.get(message.slot) ?? "unknown"}`,
      { value: from },
    );
  }
}
