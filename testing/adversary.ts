/**
 * Cheating providers for the adversary tests: a provider node that takes jobs from a real local
 * network (anvil, libp2p, tfjs) like `ProviderNode` does (offer -> spec from the submitter ->
 * claim -> model and data -> train with a checkpoint every `k` steps, publishing progress ->
 * commit), except that a {@link Cheat} bends one part of it. When disputed, it defends its
 * committed checkpoints in the dispute game like any provider would. Test-only: nothing here
 * belongs in `lib/`.
 *
 * @module
 */

import { getProfile } from "../lib/exec/profile.ts";
import type { ProtocolClient } from "../lib/chain/mod.ts";
import type { Hash } from "../lib/core/hash.ts";
import { decodeDataset } from "../lib/exec/dataset.ts";
import { decodeModelSpec, type ModelSpec } from "../lib/exec/model.ts";
import { cloneState, type TrainingState } from "../lib/exec/state.ts";
import { Trainer } from "../lib/exec/trainer.ts";
import { commitState, encodeState } from "../lib/proof/commitment.ts";
import { forgeRecording } from "../lib/proof/dispute.ts";
import { recordStep } from "../lib/proof/ops.ts";
import { decodeJobSpec, type JobSpec, planOfJob } from "../lib/proof/job.ts";
import { BlobStore } from "../lib/proof/store.ts";
import { loadCheckpoint } from "../lib/proof/checkpoint.ts";
import { checkpointParty, DisputeResponder, jobTrainer } from "../lib/node/disputes/mod.ts";
import { buildTrace, type CheckpointRef, checkpointSteps } from "../lib/proof/trace.ts";
import type { Network } from "../lib/node/network.ts";
import { createP2PWire, peerIdOfAccount } from "../lib/node/p2p_wire.ts";
import {
  commitResult,
  ensurePeerBound,
  ensureStake,
  finalizeIfDue,
  tryClaim,
} from "../lib/node/settlement.ts";
import type { JobOffer, NodeWire } from "../lib/node/wire.ts";

/** How a provider cheats. */
export type Cheat =
  /** No cheating: the control. */
  | { readonly kind: "honest" }
  /** Trains `skip` steps fewer in the given segments but labels the states as if it had not. */
  | {
    readonly kind: "skip-steps";
    readonly segments: readonly number[] | "all";
    readonly skip: number;
  }
  /** Trains another model spec (other learning rate or seed) and claims the job's spec. */
  | { readonly kind: "other-spec"; readonly spec: ModelSpec }
  /**
   * Flips the lowest bit of the first weight right after `step`, then trains on honestly. With
   * `forgeRecords`, it defends a dispute with op records forged to match its claim, so the referee
   * has to recompute a kernel to catch it.
   */
  | { readonly kind: "flip-bit"; readonly step: number; readonly forgeRecords?: boolean }
  /** Never trains: every checkpoint is the initial state relabelled (stale weights). */
  | { readonly kind: "stale" }
  /** Trains honestly but commits random final weights. */
  | { readonly kind: "random" }
  /**
   * Trains honestly to the end, then forges every intermediate checkpoint by interpolating between
   * the initial and the final state (the known spoof of proof-of-learning).
   */
  | { readonly kind: "interpolate" }
  /** Commits the checkpoints of the previous job it ran (copying another job's result). */
  | { readonly kind: "copy" }
  /** Trains honestly, then refuses to serve its intermediate checkpoints. */
  | { readonly kind: "withhold" }
  /** Trains honestly and commits, then serves other bytes under its checkpoints' hashes. */
  | { readonly kind: "serve-other" }
  /** Publishes its honest checkpoints but commits the trace root of a corrupted run. */
  | { readonly kind: "commit-other" };

/** Options of {@link CheatingProvider.start}. */
export interface CheatingProviderOptions {
  /** The local network to cheat on. */
  network: Network;
  /** Dev account index of the cheater. */
  account: number;
  /** The first cheat (change it with `provider.cheat = ...` between jobs). */
  cheat: Cheat;
  /** Log sink. Default: silent. */
  log?: (line: string) => void;
  /** More peers to connect to at start (verifiers the network does not run). */
  bootstrap?: readonly string[];
}

const TOKEN = 10n ** 18n;

/** A provider node that cheats as told. */
export class CheatingProvider {
  /** The cheat applied to the next job. */
  cheat: Cheat;
  /** When set, it answers the first move of a dispute, then goes silent. */
  silentInDisputes = false;
  /** The cheater's chain client. */
  readonly chain: ProtocolClient;
  readonly #wire: NodeWire;
  readonly #store: BlobStore;
  readonly #dir: string;
  readonly #log: (line: string) => void;
  #closed = false;
  #queue: Promise<void> = Promise.resolve();
  #responder: DisputeResponder | undefined;
  /** What it committed per job: the spec and the checkpoints under its trace root. */
  readonly #runs = new Map<Hash, { spec: JobSpec; refs: CheckpointRef[]; forge: boolean }>();
  /** The checkpoints of the last job it trained, for `copy`. */
  #last: CheckpointRef[] | undefined;

  private constructor(
    chain: ProtocolClient,
    wire: NodeWire,
    store: BlobStore,
    dir: string,
    options: CheatingProviderOptions,
  ) {
    this.chain = chain;
    this.#wire = wire;
    this.#store = store;
    this.#dir = dir;
    this.cheat = options.cheat;
    this.#log = options.log ?? (() => {});
  }

  /** Stakes, binds a fresh peer key, connects to the submitter and the verifiers, takes offers. */
  static async start(options: CheatingProviderOptions): Promise<CheatingProvider> {
    const { network } = options;
    const chain = network.devnet!.client(options.account);
    const dir = await Deno.makeTempDir({ prefix: "gensyn-cheater-" });
    const store = new BlobStore(dir);
    const wire = await createP2PWire({
      chain,
      store,
      bootstrap: [
        ...network.wire.addrs,
        ...network.verifiers.flatMap((v) => v.addrs),
        ...options.bootstrap ?? [],
      ],
    });
    await ensureStake(chain, 1000n * TOKEN);
    await ensurePeerBound(chain, wire.peerPrivateKey);
    const node = new CheatingProvider(chain, wire, store, dir, options);
    node.#responder = DisputeResponder.start({
      chain,
      store,
      ...(options.log ? { log: options.log } : {}),
      partyFor: async (dispute) => {
        const run = node.#runs.get(dispute.jobId.slice(2).toLowerCase());
        if (!run) throw new Error(`no run of job ${dispute.jobId}`);
        const trainer = await jobTrainer(store, run.spec);
        const party = checkpointParty({
          trainer,
          checkpoints: run.refs,
          load: (hash) => loadCheckpoint(store, hash),
        });
        const forged = {
          ...party,
          // Records of the disputed step bent to end in the state it claims.
          async recordStep(from: number) {
            const honest = await recordStep(trainer, await party.stateAt(from));
            const claimed = await party.stateAt(from + 1);
            return await commitState(claimed) === honest.stateHash
              ? honest
              : await forgeRecording(honest, claimed, "producer");
          },
        };
        const chosen = run.forge ? forged : party;
        let answered = 0;
        return {
          ...chosen,
          stateHashAt: (step: number) => {
            if (node.silentInDisputes && ++answered > 1) {
              return Promise.reject(new Error("went silent mid-dispute"));
            }
            return chosen.stateHashAt(step);
          },
          dispose: () => trainer.dispose(),
        };
      },
    });
    // Found by peer id like any provider, also by nodes that start (or restart) after it.
    wire.advertise?.(getProfile("wasm").id);
    wire.onOffer((offer) => {
      node.#queue = node.#queue.then(() => node.#take(offer)).catch((error) =>
        node.#log(`job ${offer.jobId.slice(0, 10)}: ${(error as Error).message}`)
      );
    });
    return node;
  }

  /**
   * Finalizes the cheater's slot of a job once its challenge window has passed (as
   * `ProviderNode` does on a timer); fails after `timeoutMs`.
   */
  async collect(jobId: Hash, timeoutMs = 30_000): Promise<bigint> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      const paid = await finalizeIfDue(this.chain, { jobId, slot: 0 });
      if (paid) return paid.paidWei;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`job ${jobId.slice(0, 10)} did not come due within ${timeoutMs} ms`);
  }

  /** Whether it takes offers; cleared, it still answers the disputes over its jobs. */
  taking = true;

  /** Jobs it claimed, oldest first. */
  readonly claimed: Hash[] = [];

  /** Stops taking jobs and removes the cheater's data. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#queue;
    await this.#responder?.close();
    await this.#wire.close();
    await Deno.remove(this.#dir, { recursive: true });
  }

  async #take(offer: JobOffer): Promise<void> {
    if (this.#closed || !this.taking) return;
    const cheat = this.cheat;
    const { jobId } = offer;
    const submitterPeer = await peerIdOfAccount(this.chain, offer.submitter);
    await this.#wire.fetchBlob(submitterPeer, offer.specHash, this.#store);
    const spec = decodeJobSpec(await this.#store.get(offer.specHash));
    const slot = await tryClaim(this.chain, jobId);
    if (slot === undefined) return;
    this.claimed.push(jobId);
    for (const blob of [spec.model, spec.datasetBlob]) {
      await this.#wire.fetchBlob(submitterPeer, blob, this.#store);
    }
    this.#log(`job ${jobId.slice(0, 10)}: claimed, cheating with ${cheat.kind}`);
    const refs = cheat.kind === "copy" && this.#last
      ? this.#publish(jobId, this.#last)
      : await this.#train(spec, jobId, cheat);
    this.#last = refs;
    let committedRefs = refs;
    if (cheat.kind === "commit-other") {
      const other = await this.#train(spec, jobId, { kind: "flip-bit", step: 1 }, false);
      committedRefs = other;
    }
    const trace = await buildTrace({
      plan: planOfJob(spec),
      k: spec.k,
      steps: spec.steps,
      jobId,
      checkpoints: committedRefs,
    });
    this.#runs.set(jobId, {
      spec,
      refs: committedRefs,
      forge: cheat.kind === "flip-bit" && cheat.forgeRecords === true,
    });
    await commitResult(this.chain, {
      jobId,
      finalHash: committedRefs[committedRefs.length - 1].hash,
      traceRoot: trace.root,
    });
    const intermediate = refs.slice(0, -1).map((r) => r.hash);
    if (cheat.kind === "withhold") {
      for (const hash of intermediate) await Deno.remove(this.#store.pathOf(hash));
    } else if (cheat.kind === "serve-other") {
      // Each checkpoint's file now holds the next checkpoint's bytes: a different state.
      const next = await Promise.all(refs.slice(1).map((r) => this.#store.get(r.hash)));
      for (const [i, hash] of intermediate.entries()) {
        await Deno.writeFile(this.#store.pathOf(hash), next[i]);
      }
    }
    this.#wire.publishProgress({ jobId, step: spec.steps, status: "done" });
    this.#log(`job ${jobId.slice(0, 10)}: committed ${trace.root.slice(0, 10)}`);
  }

  /** Publishes checkpoints it already holds as the progress of `jobId`. */
  #publish(jobId: Hash, refs: CheckpointRef[]): CheckpointRef[] {
    for (const ref of refs) {
      this.#wire.publishProgress({
        jobId,
        step: ref.step,
        checkpoint: { step: ref.step, hash: ref.hash },
        status: "running",
      });
    }
    return refs;
  }

  /** Trains the job under `cheat`, storing and (if `publish`) publishing every checkpoint. */
  async #train(
    spec: JobSpec,
    jobId: Hash,
    cheat: Cheat,
    publish = true,
  ): Promise<CheckpointRef[]> {
    const modelSpec = cheat.kind === "other-spec"
      ? cheat.spec
      : await decodeModelSpec(await this.#store.get(spec.model));
    const dataset = decodeDataset(await this.#store.get(spec.datasetBlob));
    const trainer = await Trainer.create({
      spec: modelSpec,
      dataset: await dataset,
      batchSize: spec.batchSize,
      dataSeed: spec.dataSeed,
      profile: spec.profile,
    });
    try {
      const refs: CheckpointRef[] = [];
      const save = async (state: TrainingState) => {
        const hash = await this.#store.put(encodeState(state));
        const ref = { step: state.step, cursor: state.cursor, hash };
        refs.push(ref);
        if (publish) {
          this.#wire.publishProgress({
            jobId,
            step: ref.step,
            checkpoint: { step: ref.step, hash },
            status: "running",
          });
        }
      };
      let state = trainer.initialState();
      const initial = cloneState(state);
      await save(state);
      const steps = checkpointSteps(spec.steps, spec.k);
      if (cheat.kind === "interpolate") {
        const final = await trainer.run(state, spec.steps);
        for (const step of steps.slice(1)) {
          await save(
            step === spec.steps
              ? final
              : lerpState(initial, final, step / spec.steps, step, step * spec.batchSize),
          );
        }
        return refs;
      }
      for (let i = 1; i < steps.length; i++) {
        state = await trainSegment(trainer, state, steps[i], i - 1, spec.batchSize, cheat);
        if (cheat.kind === "random" && i === steps.length - 1) state = randomWeights(state);
        await save(state);
      }
      return refs;
    } finally {
      trainer.dispose();
    }
  }
}

/** `a + (b - a) * t` for every variable, labelled with `step` and `cursor`. */
function lerpState(
  a: TrainingState,
  b: TrainingState,
  t: number,
  step: number,
  cursor: number,
): TrainingState {
  return {
    step,
    cursor,
    variables: a.variables.map((v, i) => ({
      ...v,
      data: v.data.map((x, j) => x + (b.variables[i].data[j] - x) * t),
    })),
  };
}

/** The same state with every variable replaced by uniform noise in [-0.1, 0.1). */
function randomWeights(state: TrainingState): TrainingState {
  return {
    ...state,
    variables: state.variables.map((v) => ({
      ...v,
      data: v.data.map(() => (Math.random() - 0.5) * 0.2),
    })),
  };
}

/** Trains from `state` to step `to` (segment `segment`), bent by `cheat`. */
async function trainSegment(
  trainer: Trainer,
  state: TrainingState,
  to: number,
  segment: number,
  batchSize: number,
  cheat: Cheat,
): Promise<TrainingState> {
  const from = state.step;
  if (cheat.kind === "stale") return { ...state, step: to, cursor: to * batchSize };
  if (
    cheat.kind === "skip-steps" && (cheat.segments === "all" || cheat.segments.includes(segment))
  ) {
    const trained = await trainer.run(state, Math.max(0, to - from - cheat.skip));
    return { ...trained, step: to, cursor: to * batchSize };
  }
  if (cheat.kind === "flip-bit" && cheat.step > from && cheat.step <= to) {
    const before = cloneState(await trainer.run(state, cheat.step - from));
    const bits = new Uint32Array(
      before.variables[0].data.buffer,
      before.variables[0].data.byteOffset,
      1,
    );
    bits[0] ^= 1;
    return await trainer.run(before, to - cheat.step);
  }
  return await trainer.run(state, to - from);
}
