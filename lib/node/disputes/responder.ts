/**
 * The provider's side of a dispute ({@link DisputeResponder}): follows the disputes opened
 * against its account and answers every move from its own checkpoints.
 *
 * @module
 */

import { type DisputeResult, newDisputes, playDispute, type PlayOptions } from "./play.ts";
import type { DisputeView } from "../../chain/mod.ts";
import type { DisputeParty } from "../../proof/dispute.ts";

/** Options of {@link DisputeResponder.start}. */
export interface ResponderOptions extends Omit<PlayOptions, "signal"> {
  /** The party that answers a dispute over one of this account's slots. */
  partyFor(dispute: DisputeView): Promise<DisputeParty & { dispose?: () => void }>;
}

/**
 * The provider's side: follows disputes opened against its account and plays each one.
 *
 * @example
 * ```ts
 * import { DisputeResponder } from "./responder.ts";
 * declare const options: import("./responder.ts").ResponderOptions;
 * const responder = DisputeResponder.start(options);
 * // ... later
 * await responder.close();
 * ```
 */
export class DisputeResponder {
  readonly #abort = new AbortController();
  readonly #results = new Map<bigint, DisputeResult>();
  #loop: Promise<void> = Promise.resolve();
  #running = new Set<Promise<void>>();

  private constructor(readonly options: ResponderOptions) {}

  /** Starts following disputes against `options.chain.account`. */
  static start(options: ResponderOptions): DisputeResponder {
    const responder = new DisputeResponder(options);
    responder.#loop = responder.#follow();
    return responder;
  }

  /** Disputes played to the end so far. */
  results(): readonly DisputeResult[] {
    return [...this.#results.values()];
  }

  /** Stops following; moves in flight finish or stop at their next poll. */
  async close(): Promise<void> {
    this.#abort.abort();
    await this.#loop;
    await Promise.allSettled(this.#running);
  }

  async #follow(): Promise<void> {
    const { chain } = this.options;
    const log = this.options.log ?? (() => {});
    const me = chain.account.toLowerCase();
    const ids = newDisputes(
      chain,
      "DisputeOpened",
      (a) => a.provider.toLowerCase() === me && a.kind === 0,
      this.options.pollMs ?? 200,
      this.#abort.signal,
      log,
    );
    for await (const id of ids) {
      const run = this.#play(id).catch((error) =>
        log(`dispute ${id}: cannot answer: ${(error as Error).message}`)
      ).finally(() => this.#running.delete(run));
      this.#running.add(run);
    }
  }

  async #play(id: bigint): Promise<void> {
    const d = await this.options.chain.game.get(id);
    const party = await this.options.partyFor(d);
    try {
      const result = await playDispute({
        ...this.options,
        id,
        role: "provider",
        party,
        signal: this.#abort.signal,
      });
      this.#results.set(id, result);
      this.options.log?.(`dispute ${id}: ${result.dispute.outcome}`);
    } finally {
      party.dispose?.();
    }
  }
}
