/**
 * Test fixtures for the p2p tests: hosts on loopback that are always stopped, and waiting on a
 * condition with a loud timeout instead of sleeping.
 *
 * @module
 */

import { createHost, type HostOptions, type P2PHost, type Rejection } from "../../lib/p2p/host.ts";

/** Hosts started for one test, stopped together. */
export class TestNet {
  /** Started hosts. */
  readonly hosts: P2PHost[] = [];
  /** Rejections any host reported. */
  readonly rejections: Rejection[] = [];
  /** Temp dirs removed at the end. */
  readonly dirs: string[] = [];

  /** Starts a host that logs rejections into {@link TestNet.rejections}. */
  async host(options: HostOptions = {}): Promise<P2PHost> {
    const h = await createHost({
      ...options,
      onReject: (r) => this.rejections.push(r),
    });
    this.hosts.push(h);
    return h;
  }

  /** A temp dir removed at the end. */
  async dir(): Promise<string> {
    const d = await Deno.makeTempDir({ prefix: "p2p-test-" });
    this.dirs.push(d);
    return d;
  }

  /** Stops every host and removes temp dirs. */
  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.allSettled(this.hosts.map((h) => h.stop()));
    await Promise.allSettled(this.dirs.map((d) => Deno.remove(d, { recursive: true })));
  }
}

/** Polls `condition` until true; fails loudly after `timeoutMs`. */
export async function waitFor(
  condition: () => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}
