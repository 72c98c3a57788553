/**
 * A cheating distributed worker for the audit tests: a node that takes a slot of a distributed
 * job on a real local network (anvil, libp2p, tfjs) like `ProviderNode` does (offer -> spec ->
 * claim -> model and data -> `runDistributedJob` -> `commitWork` -> trace blob published), except
 * that it bends one part:
 *
 * - `trainAs`: it trains its inner steps under another model spec (another learning rate) while
 *   claiming the job's. Its trace is consistent with itself and the other workers count its delta
 *   (they cannot tell), so only re-execution catches it.
 * - `malformedRound`: in that round it sends a delta of the wrong length, which every member
 *   rejects; the round rule drops it and it commits the rounds it counted in.
 *
 * Test-only: nothing here belongs in `lib/`.
 *
 * @module
 */

import type { ProtocolClient } from "../../lib/chain/mod.ts";
import type { Hash } from "../../lib/core/hash.ts";
import type { ModelSpec } from "../../lib/exec/model.ts";
import { decodeJobSpec } from "../../lib/proof/job.ts";
import { BlobStore } from "../../lib/proof/store.ts";
import { runDistributedJob } from "../../lib/node/dist_run.ts";
import { loadJobInputs } from "../../lib/node/executor.ts";
import type { Network } from "../../lib/node/network.ts";
import { createP2PWire, peerIdOfAccount } from "../../lib/node/p2p_wire.ts";
import {
  ensurePeerBound,
  ensureStake,
  finalizeIfDue,
  toBytes32,
  tryClaim,
} from "../../lib/node/settlement.ts";
import type { NodeWire } from "../../lib/node/wire.ts";

const TOKEN = 10n ** 18n;

/** How a {@link CheatingDistWorker} cheats. */
export interface DistCheat {
  /** Train under this model spec instead of the job's. */
  trainAs?: ModelSpec;
  /** Send a delta of the wrong length in this round. */
  malformedRound?: number;
}

/** A distributed worker that cheats as told (see the module doc). */
export class CheatingDistWorker {
  /** The cheater's chain client. */
  readonly chain: ProtocolClient;
  /** Slots it committed, by job. */
  readonly committed = new Map<Hash, number>();
  readonly #wire: NodeWire;
  readonly #store: BlobStore;
  readonly #dir: string;
  readonly #log: (line: string) => void;
  #queue: Promise<void> = Promise.resolve();
  #collecting: Promise<void>[] = [];
  #closed = false;

  private constructor(
    chain: ProtocolClient,
    wire: NodeWire,
    store: BlobStore,
    dir: string,
    log: (line: string) => void,
  ) {
    this.chain = chain;
    this.#wire = wire;
    this.#store = store;
    this.#dir = dir;
    this.#log = log;
  }

  /** Stakes, binds a fresh peer key, joins the network and takes distributed offers. */
  static async start(options: {
    network: Network;
    account: number;
    cheat: DistCheat;
    log?: (line: string) => void;
  }): Promise<CheatingDistWorker> {
    const { network } = options;
    const chain = network.devnet!.client(options.account);
    const dir = await Deno.makeTempDir({ prefix: "gensyn-dist-cheater-" });
    const store = new BlobStore(dir);
    const wire = await createP2PWire({
      chain,
      store,
      bootstrap: [
        ...network.wire.addrs,
        ...network.verifiers.flatMap((v) => v.addrs),
        ...network.providers.flatMap((p) => p.wire.addrs),
      ],
    });
    await ensureStake(chain, 1000n * TOKEN);
    await ensurePeerBound(chain, wire.peerPrivateKey);
    const node = new CheatingDistWorker(chain, wire, store, dir, options.log ?? (() => {}));
    wire.onOffer((offer) => {
      node.#queue = node.#queue.then(() =>
        node.#take(offer.jobId, offer.specHash, offer.submitter, options.cheat)
      )
        .catch((error) =>
          node.#log(`job ${offer.jobId.slice(0, 10)}: ${(error as Error).message}`)
        );
    });
    return node;
  }

  /** Stops and removes the cheater's data. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#queue;
    await Promise.all(this.#collecting);
    await this.#wire.close();
    await Deno.remove(this.#dir, { recursive: true });
  }

  async #take(jobId: Hash, specHash: Hash, submitter: string, cheat: DistCheat): Promise<void> {
    const submitterPeer = await peerIdOfAccount(this.chain, submitter);
    await this.#wire.fetchBlob(submitterPeer, specHash, this.#store);
    const spec = decodeJobSpec(await this.#store.get(specHash));
    if (!spec.distributed) return;
    const slot = await tryClaim(this.chain, jobId);
    if (slot === undefined) return;
    for (const blob of [spec.model, spec.datasetBlob]) {
      await this.#wire.fetchBlob(submitterPeer, blob, this.#store);
    }
    const { modelSpec, dataset } = await loadJobInputs({ spec, store: this.#store });
    this.#log(`job ${jobId.slice(0, 10)}: worker ${slot}, cheating with ${Object.keys(cheat)}`);
    const run = await runDistributedJob({
      spec,
      jobId,
      slot,
      chain: this.chain,
      host: this.#wire.host!,
      store: this.#store,
      modelSpec: cheat.trainAs ?? modelSpec,
      dataset,
      beforeSend: async (worker, round) => {
        if (round === cheat.malformedRound) await worker.tamper((p) => p.slice(1));
      },
    });
    if (run.units === 0) return;
    await this.chain.jobs.commitWork({
      jobId: toBytes32(jobId),
      finalStateHash: toBytes32(run.finalHash),
      traceRoot: toBytes32(run.trace.root),
      units: run.units,
    });
    this.committed.set(jobId, slot);
    this.#wire.publishProgress({
      jobId,
      step: spec.steps,
      status: "done",
      trace: run.traceBlob,
    });
    // Finalizes its slot once the window has passed, as a provider node does on a timer.
    this.#collecting.push((async () => {
      while (!this.#closed) {
        const paid = await finalizeIfDue(this.chain, { jobId, slot }).catch(() => undefined);
        if (paid) return;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    })());
  }
}
