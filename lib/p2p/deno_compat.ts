/**
 * Deno compatibility for libp2p's dependencies, applied once when `lib/p2p` loads.
 *
 * `mortice` (the lock libp2p's peer store takes per peer) opens a `BroadcastChannel` named
 * "mortice" for every peer on the main thread and calls `unref()` on it so that it does not keep
 * the process alive. Deno's `BroadcastChannel` has no `unref()`, so every such channel kept a
 * `deno run` process running after all its hosts had stopped. On the main thread mortice uses the
 * channel only to serve lock requests from worker threads, which this toolkit never makes, so
 * that one channel name gets an inert, in-process stand-in; every other `BroadcastChannel` is
 * Deno's own.
 *
 * @module
 */

const MORTICE_CHANNEL = "mortice";
const INSTALLED = Symbol.for("gensyn.p2p.broadcastChannelShim");

/** A channel that delivers nothing and holds no handle on the event loop. */
class InertChannel extends EventTarget {
  readonly name: string;
  onmessage: ((event: MessageEvent) => void) | null = null;
  onmessageerror: ((event: MessageEvent) => void) | null = null;

  constructor(name: string) {
    super();
    this.name = name;
  }

  postMessage(_message: unknown): void {}

  close(): void {}

  unref(): void {}

  ref(): void {}
}

const global = globalThis as unknown as Record<symbol, boolean> & {
  BroadcastChannel?: typeof BroadcastChannel;
};
if (global.BroadcastChannel && !global[INSTALLED]) {
  global[INSTALLED] = true;
  global.BroadcastChannel = new Proxy(global.BroadcastChannel, {
    construct(target, args, newTarget) {
      if (args[0] === MORTICE_CHANNEL) return new InertChannel(MORTICE_CHANNEL);
      return Reflect.construct(target, args, newTarget);
    },
  });
}
