/**
 * Per-peer admission control: token buckets that cap how often one peer may open requests, and a
 * strike record that bans a peer who keeps sending bad data. The host consults it before any
 * protocol handler runs and its connection gater refuses banned peers, so one bad peer cannot
 * exhaust a node while others keep being served.
 *
 * @module
 */

/** Limits of a {@link PeerLimiter}. */
export interface RateLimits {
  /** Sustained requests per second one peer may open per protocol (default 20). */
  requestsPerSecond: number;
  /** Requests a peer may open in a burst (default 40). */
  burst: number;
  /** Strikes (bad messages, wrong blobs) after which a peer is banned (default 5). */
  banAfterStrikes: number;
  /** How long a ban lasts (default 10 minutes). */
  banMs: number;
  /** Most peers tracked at once; the least recently seen are forgotten past it (default 4096). */
  maxTrackedPeers: number;
}

/** Default {@link RateLimits}. */
export const DEFAULT_RATE_LIMITS: RateLimits = {
  requestsPerSecond: 20,
  burst: 40,
  banAfterStrikes: 5,
  banMs: 10 * 60_000,
  maxTrackedPeers: 4096,
};

/**
 * A token bucket (capacity `burst`, refilled at `ratePerSecond`), pure over an explicit clock.
 *
 * @example
 * ```ts
 * import { TokenBucket } from "./limits.ts";
 * const b = new TokenBucket(2, 1, 0);
 * console.log(b.take(0), b.take(0), b.take(0), b.take(1000)); // true true false true
 * ```
 */
export class TokenBucket {
  #tokens: number;
  #at: number;
  /** Largest number of tokens. */
  readonly burst: number;
  /** Tokens added per second. */
  readonly ratePerSecond: number;

  /** A full bucket at time `nowMs`. */
  constructor(burst: number, ratePerSecond: number, nowMs: number) {
    this.burst = burst;
    this.ratePerSecond = ratePerSecond;
    this.#tokens = burst;
    this.#at = nowMs;
  }

  /** Takes one token if there is one at time `nowMs`. */
  take(nowMs: number): boolean {
    const elapsed = Math.max(0, nowMs - this.#at);
    this.#tokens = Math.min(this.burst, this.#tokens + (elapsed * this.ratePerSecond) / 1000);
    this.#at = nowMs;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

interface PeerRecord {
  buckets: Map<string, TokenBucket>;
  strikes: number;
  bannedUntil: number;
}

/** Rate limits and bans by peer id. */
export class PeerLimiter {
  /** The limits in force. */
  readonly limits: RateLimits;
  readonly #peers = new Map<string, PeerRecord>();
  readonly #now: () => number;

  /** A limiter with the given limits; `now` is injectable for tests of the pure logic. */
  constructor(limits: Partial<RateLimits> = {}, now: () => number = Date.now) {
    this.limits = { ...DEFAULT_RATE_LIMITS, ...limits };
    this.#now = now;
  }

  #record(peer: string): PeerRecord {
    let r = this.#peers.get(peer);
    if (r === undefined) {
      r = { buckets: new Map(), strikes: 0, bannedUntil: 0 };
      if (this.#peers.size >= this.limits.maxTrackedPeers) {
        // Forget the least recently seen peer that is not banned (Map keeps insertion order).
        for (const [k, v] of this.#peers) {
          if (v.bannedUntil <= this.#now()) {
            this.#peers.delete(k);
            break;
          }
        }
      }
    } else {
      this.#peers.delete(peer);
    }
    this.#peers.set(peer, r);
    return r;
  }

  /** Takes a request token for `peer` on `protocol`; false if the peer is over its rate or banned. */
  allow(peer: string, protocol: string): boolean {
    const now = this.#now();
    const r = this.#record(peer);
    if (r.bannedUntil > now) return false;
    let b = r.buckets.get(protocol);
    if (b === undefined) {
      b = new TokenBucket(this.limits.burst, this.limits.requestsPerSecond, now);
      r.buckets.set(protocol, b);
    }
    return b.take(now);
  }

  /** Records a strike against `peer`; returns true if this strike got it banned. */
  strike(peer: string): boolean {
    const r = this.#record(peer);
    r.strikes += 1;
    if (r.strikes >= this.limits.banAfterStrikes && r.bannedUntil <= this.#now()) {
      r.bannedUntil = this.#now() + this.limits.banMs;
      r.strikes = 0;
      return true;
    }
    return false;
  }

  /** True while `peer` is banned. */
  isBanned(peer: string): boolean {
    return (this.#peers.get(peer)?.bannedUntil ?? 0) > this.#now();
  }
}
