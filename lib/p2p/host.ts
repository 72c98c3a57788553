/**
 * The p2p host: one libp2p node (TCP, Noise, Yamux, identify, ping, gossipsub) with the node's
 * identity, a bootstrap list, connection gating and per-peer rate limits.
 *
 * Protocols (`announce.ts`, `blobs.ts`, `tasks.ts`) register on a host with {@link P2PHost.handle},
 * which admits a stream only if its peer is under its rate and not banned, and answers otherwise
 * with an error frame. Peers that send bad data get strikes ({@link P2PHost.reject}) and are banned
 * after a few, which also refuses their connections.
 *
 * @module
 */

// Must load before libp2p creates its peer store (see the module for why).
import "./deno_compat.ts";
import { noise } from "npm:@chainsafe/libp2p-noise@17.0.0";
import { yamux } from "npm:@chainsafe/libp2p-yamux@8.0.1";
import { gossipsub } from "npm:@libp2p/gossipsub@17.1.1";
import { identify } from "npm:@libp2p/identify@4.1.14";
import type { Connection, GossipSub, Libp2pNode, PeerId, Stream } from "./types.ts";
import { peerIdFromString } from "npm:@libp2p/peer-id@6.0.15";
import { ping } from "npm:@libp2p/ping@3.1.13";
import { tcp } from "npm:@libp2p/tcp@11.0.28";
import { multiaddr } from "npm:@multiformats/multiaddr@13.0.3";
import { createLibp2p } from "npm:libp2p@3.3.11";
import { PeerError } from "../core/errors.ts";
import { loadOrCreateIdentity, NodeIdentity } from "./identity.ts";
import { PeerLimiter, type RateLimits } from "./limits.ts";
import { FramedStream } from "./stream.ts";

/** Limits of a host; every field has a default. */
export interface HostLimits extends RateLimits {
  /** Most open connections (default 64). */
  maxConnections: number;
  /** Most inbound connections still handshaking (default 16). */
  maxPendingConnections: number;
  /** Most concurrent inbound streams per protocol per connection (default 16). */
  maxInboundStreams: number;
  /** Largest framed message (default 64 KiB). */
  maxMessageBytes: number;
  /** A read from a peer that waits longer fails (default 30 s). */
  readTimeoutMs: number;
}

/** Default {@link HostLimits}. */
export const DEFAULT_HOST_LIMITS: HostLimits = {
  requestsPerSecond: 20,
  burst: 40,
  banAfterStrikes: 5,
  banMs: 10 * 60_000,
  maxTrackedPeers: 4096,
  maxConnections: 64,
  maxPendingConnections: 16,
  maxInboundStreams: 16,
  maxMessageBytes: 64 * 1024,
  readTimeoutMs: 30_000,
};

/** Why a peer's request or message was refused. */
export interface Rejection {
  /** The peer, as a string. */
  peer: string;
  /** The protocol or gossip topic. */
  protocol: string;
  /** A stable `PeerError` code. */
  code: string;
  /** Human-readable reason. */
  reason: string;
}

/** Options of {@link createHost}. */
export interface HostOptions {
  /** The node identity; or give `dataDir` (and a password) to load or create one there. */
  identity?: NodeIdentity;
  /** Folder holding `identity.json` (used when `identity` is absent). */
  dataDir?: string;
  /** Password of the identity in `dataDir` (default: `GENSYN_NODE_PASSWORD`). */
  password?: string;
  /** Addresses to listen on (default `["/ip4/127.0.0.1/tcp/0"]`). */
  listen?: string[];
  /** Multiaddrs (with `/p2p/<id>`) dialed when the host starts. */
  bootstrap?: string[];
  /** Limits overriding {@link DEFAULT_HOST_LIMITS}. */
  limits?: Partial<HostLimits>;
  /** Receives every rejection (default: one line on stderr). */
  onReject?: (rejection: Rejection) => void;
  /** Gossipsub heartbeat in ms (default 1000; lower propagates faster in small test networks). */
  gossipHeartbeatMs?: number;
}

/** What a protocol handler gets for each admitted stream. */
export interface StreamContext {
  /** The stream, framed. */
  framed: FramedStream;
  /** The remote peer. */
  peer: PeerId;
  /** The connection the stream runs on. */
  connection: Connection;
}

/** The libp2p services a host runs. */
export type HostServices = { pubsub: GossipSub; identify: unknown; ping: unknown };

/**
 * A running libp2p node with limits. `await using` stops it at the end of the scope.
 *
 * @example
 * ```ts ignore
 * import { createHost } from "./host.ts";
 * await using a = await createHost({});
 * await using b = await createHost({ bootstrap: a.multiaddrs() });
 * console.log(b.peers().length); // 1
 * ```
 */
export class P2PHost {
  /**
   * The libp2p node, for protocols of this layer.
   *
   * @ignore
   */
  readonly libp2p: Libp2pNode;
  /** The node identity. */
  readonly identity: NodeIdentity;
  /** Limits in force. */
  readonly limits: HostLimits;
  /** Rate limits and bans. */
  readonly limiter: PeerLimiter;
  readonly #onReject: (rejection: Rejection) => void;
  readonly #bootstrap: string[];
  readonly #closers = new Set<() => Promise<void> | void>();

  /**
   * Use {@link createHost}.
   *
   * @ignore
   */
  constructor(
    libp2p: Libp2pNode,
    identity: NodeIdentity,
    limits: HostLimits,
    limiter: PeerLimiter,
    bootstrap: string[],
    onReject: (rejection: Rejection) => void,
  ) {
    this.libp2p = libp2p;
    this.identity = identity;
    this.limits = limits;
    this.limiter = limiter;
    this.#bootstrap = bootstrap;
    this.#onReject = onReject;
  }

  /** This node's peer id. */
  get peerId(): PeerId {
    return this.libp2p.peerId;
  }

  /**
   * The gossipsub service.
   *
   * @ignore
   */
  get pubsub(): GossipSub {
    return this.libp2p.services.pubsub;
  }

  /** Addresses others can dial, each ending in `/p2p/<peer id>`. */
  multiaddrs(): string[] {
    return this.libp2p.getMultiaddrs().map((m) => m.toString());
  }

  /** Peers with an open connection. */
  peers(): PeerId[] {
    return this.libp2p.getPeers();
  }

  /** Starts listening and dials the bootstrap list (failures are reported, not thrown). */
  async start(): Promise<void> {
    await this.libp2p.start();
    await Promise.all(this.#bootstrap.map(async (addr) => {
      try {
        await this.dial(addr);
      } catch (cause) {
        this.#onReject({
          peer: addr,
          protocol: "bootstrap",
          code: "PEER_UNREACHABLE",
          reason: `cannot reach bootstrap peer: ${(cause as Error).message}`,
        });
      }
    }));
  }

  /** Stops protocols registered with {@link P2PHost.onStop}, then libp2p. */
  async stop(): Promise<void> {
    for (const close of [...this.#closers].reverse()) await close();
    this.#closers.clear();
    await this.libp2p.stop();
  }

  /** Stops the host at the end of an `await using` scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  /** Registers cleanup to run when the host stops (protocol servers use it). */
  onStop(close: () => Promise<void> | void): void {
    this.#closers.add(close);
  }

  /** Connects to a peer by multiaddr string or peer id. */
  async dial(target: string | PeerId): Promise<Connection> {
    try {
      return await this.libp2p.dial(typeof target === "string" ? multiaddr(target) : target);
    } catch (cause) {
      throw new PeerError(
        "PEER_UNREACHABLE",
        `cannot connect to ${target}: ${
          (cause as Error).message
        }; check the address and that the peer runs`,
        { value: String(target), cause },
      );
    }
  }

  /** Opens a framed stream to a peer on a protocol (`readTimeoutMs` 0 waits forever). */
  async open(
    peer: PeerId | string,
    protocol: string,
    signal?: AbortSignal,
    readTimeoutMs: number = this.limits.readTimeoutMs,
  ): Promise<FramedStream> {
    const target = typeof peer === "string"
      ? (peer.startsWith("/") ? multiaddr(peer) : peerIdFromString(peer))
      : peer;
    let stream: Stream;
    let connection: Connection;
    try {
      connection = await this.libp2p.dial(target, { signal });
      stream = await connection.newStream(protocol, { signal });
    } catch (cause) {
      throw new PeerError(
        "PEER_UNREACHABLE",
        `cannot open ${protocol} to ${peer}: ${(cause as Error).message}`,
        { value: String(peer), cause },
      );
    }
    return new FramedStream(stream, {
      maxFrameBytes: this.limits.maxMessageBytes,
      readTimeoutMs,
      remoteAddr: connection.remoteAddr.toString(),
    });
  }

  /**
   * Registers a protocol handler behind the rate limiter: a peer over its rate or banned gets an
   * error frame `PEER_RATE_LIMITED` and its stream closed; a handler that throws a `PeerError` has
   * it sent back as an error frame, recorded as a rejection and, for bad data, a strike.
   */
  async handle(protocol: string, handler: (ctx: StreamContext) => Promise<void>): Promise<void> {
    await this.libp2p.handle(protocol, async (stream, connection) => {
      const peer = connection.remotePeer;
      const framed = new FramedStream(stream, {
        maxFrameBytes: this.limits.maxMessageBytes,
        readTimeoutMs: this.limits.readTimeoutMs,
      });
      if (!this.limiter.allow(peer.toString(), protocol)) {
        this.reject({
          peer: peer.toString(),
          protocol,
          code: "PEER_RATE_LIMITED",
          reason: `over ${this.limits.requestsPerSecond} requests/s (burst ${this.limits.burst})`,
        }, false);
        await framed.fail("PEER_RATE_LIMITED", "too many requests; slow down and retry later");
        return;
      }
      try {
        await handler({ framed, peer, connection });
      } catch (e) {
        const code = e instanceof PeerError ? e.code : "PEER_INTERNAL";
        const bad = ["PEER_MALFORMED", "PEER_OVERSIZED", "PEER_TRUNCATED"].includes(code);
        this.reject({ peer: peer.toString(), protocol, code, reason: (e as Error).message }, bad);
        await framed.fail(code, bad ? (e as Error).message : "request failed");
      }
    }, { maxInboundStreams: this.limits.maxInboundStreams });
    this.onStop(() => this.libp2p.unhandle(protocol));
  }

  /** Reports a rejection; with `strike`, counts it against the peer (banned after a few). */
  reject(rejection: Rejection, strike: boolean): void {
    this.#onReject(rejection);
    if (strike && this.limiter.strike(rejection.peer)) {
      this.#onReject({
        ...rejection,
        code: "PEER_BANNED",
        reason: "too many bad messages; banned",
      });
      // Hang up on the banned peer; the gater refuses it until the ban ends.
      this.libp2p.hangUp(peerIdFromString(rejection.peer)).catch((e) => {
        this.#onReject({ ...rejection, code: "PEER_HANGUP_FAILED", reason: String(e) });
      });
    }
  }
}

function defaultOnReject(r: Rejection): void {
  console.error(`p2p: rejected ${r.peer} on ${r.protocol}: ${r.code}: ${r.reason}`);
}

/**
 * Creates and starts a host.
 *
 * @example
 * ```ts ignore
 * import { createHost } from "./host.ts";
 * await using host = await createHost({
 *   dataDir: "./data",
 *   password: Deno.env.get("GENSYN_NODE_PASSWORD"),
 *   listen: ["/ip4/0.0.0.0/tcp/4001"],
 *   bootstrap: ["/ip4/10.0.0.2/tcp/4001/p2p/16Uiu2HAm..."],
 * });
 * console.log(host.multiaddrs());
 * ```
 */
export async function createHost(options: HostOptions = {}): Promise<P2PHost> {
  const identity = options.identity ??
    (options.dataDir !== undefined
      ? await loadOrCreateIdentity({ dataDir: options.dataDir, password: options.password })
      : await NodeIdentity.generate());
  const limits: HostLimits = { ...DEFAULT_HOST_LIMITS, ...options.limits };
  const limiter = new PeerLimiter(limits);
  const denyBanned = (peer: PeerId): boolean => limiter.isBanned(peer.toString());
  const libp2p = await createLibp2p({
    privateKey: identity.privateKey,
    start: false,
    addresses: { listen: options.listen ?? ["/ip4/127.0.0.1/tcp/0"] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    // Larger yamux windows keep a bulk stream from stalling on window updates every 256 KiB.
    streamMuxers: [yamux({
      streamOptions: { initialStreamWindowSize: 4 << 20, maxStreamWindowSize: 16 << 20 },
      maxInboundStreams: limits.maxInboundStreams * 8,
    })],
    connectionManager: {
      maxConnections: limits.maxConnections,
      maxIncomingPendingConnections: limits.maxPendingConnections,
    },
    connectionGater: {
      denyDialPeer: denyBanned,
      denyInboundEncryptedConnection: denyBanned,
      denyOutboundEncryptedConnection: denyBanned,
    },
    services: {
      identify: identify(),
      ping: ping(),
      pubsub: gossipsub({
        allowPublishToZeroTopicPeers: true,
        heartbeatInterval: options.gossipHeartbeatMs ?? 1000,
        maxInboundDataLength: limits.maxMessageBytes,
      }),
    },
  }) as unknown as Libp2pNode;
  const host = new P2PHost(
    libp2p,
    identity,
    limits,
    limiter,
    options.bootstrap ?? [],
    options.onReject ?? defaultOnReject,
  );
  await host.start();
  return host;
}
