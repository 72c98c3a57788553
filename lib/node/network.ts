/**
 * The submitter's entry point: a network to train on.
 *
 * `Network.local()` is the embedded default: it starts a devnet chain (anvil) with the protocol
 * deployed, and N provider nodes in this process on loopback, each with its own account, stake,
 * peer key and data directory. `Network.connect()` joins an existing network (a JSON-RPC URL,
 * the protocol's addresses, bootstrap peers) with the same API. `network.train()` escrows the
 * payment, publishes the model and data, announces the job, and returns a {@link Job}.
 *
 * @module
 */

import {
  chainTime,
  createChainClient,
  createProtocolClient,
  type Devnet,
  mineEvery,
  type ProtocolAddresses,
  type ProtocolClient,
  readLogs,
  startDevnet,
} from "../chain/mod.ts";
import { privateKeyToAccount } from "npm:viem@2.57.20/accounts";
import { PeerError, SpecError, VerificationError } from "../core/errors.ts";
import { EventLog } from "../core/event_log.ts";
import { makeOwnedTempDir } from "../core/owned_dir.ts";
import { sleep } from "../core/sleep.ts";
import type { Hash } from "../core/hash.ts";
import { type Dataset, encodeDataset } from "../exec/dataset.ts";
import {
  decodeModelSpec,
  defineModel,
  encodeModelSpec,
  type LayersModel,
  type LossName,
  type ModelSpec,
  type OptimizerInput,
} from "../exec/model.ts";
import {
  type AuditPolicy,
  createJobSpec,
  decodeJobSpec,
  encodeJobSpec,
  type JobSpec,
  type JobSpecInput,
  specHashOf,
} from "../proof/job.ts";
import type { CompressionOptions } from "../diloco/compress.ts";
import { BlobStore } from "../proof/store.ts";
import { Job } from "./job.ts";
import { createP2PWire, peerIdOfAccount } from "./p2p_wire.ts";
import { ProviderNode } from "./provider.ts";
import { VerifierNode } from "./verifier/mod.ts";
import type { NodeLimits } from "./limits.ts";
import { jobTrainer, Referee, type Ruling } from "./disputes/mod.ts";
import {
  ensurePeerBound,
  ensureStake,
  fromBytes32,
  specHashOfJob,
  toBytes32,
} from "./settlement.ts";
import { followDistributedJob, type JobEvent, watchJob } from "./watch.ts";
import { fetchBlobWithin, type NodeWire, type ProviderSighting } from "./wire.ts";
import type { Refusal } from "../p2p/presence.ts";
import { checkJobLocally } from "./precheck.ts";
import { jobMarketAbi } from "../chain/artifacts/JobMarket.ts";

/** One AIGENSYN in wei. */
const TOKEN = 10n ** 18n;

/**
 * Peer keys of local networks are sealed with this password (or `$GENSYN_NODE_PASSWORD`) and a
 * light key derivation: they guard nothing but devnet accounts.
 */
const LOCAL_PASSWORD = Deno.env.get("GENSYN_NODE_PASSWORD") ?? "local-devnet";
const LOCAL_KEY_ITERATIONS = 1_000;

/**
 * Margin of a fast-forward, seconds: it waits for chain time to run this far past the commit, and
 * audits first the slots whose windows close within it of the move's target.
 */
const FORWARD_MARGIN_SEC = 3n;

/** How often an unclaimed job is announced again. */
const REANNOUNCE_MS = 3_000;

/** Default job timeout on a devnet with `fastSettle`, seconds of chain time (30 days). */
const FAST_SETTLE_TIMEOUT_SEC = 30 * 24 * 3600;

/** How often a job's follower looks whether its deadline passed with slots unfinished, ms. */
const DEADLINE_POLL_MS = 5_000;

/** Wall-clock grace after a job's deadline before its follower refunds it, ms. */
const DEADLINE_REFUND_GRACE_MS = 60_000;

/** How long `attach` waits for one peer to serve one of the job's blobs, ms. */
const ATTACH_FETCH_MS = 60_000;

/** The network description `deno task devnet` writes and nodes read. */
export interface NetworkFile {
  /** JSON-RPC endpoint. */
  rpcUrl: string;
  /** Chain id. */
  chainId: number;
  /** Protocol contract addresses. */
  addresses: ProtocolAddresses;
  /** Multiaddrs to join through. */
  bootstrap: string[];
}

/** Options of {@link Network.local}. */
export interface LocalNetworkOptions {
  /** Provider nodes to start. Default 3. */
  providers?: number;
  /**
   * Funded dev accounts to have beyond the submitter, the referee and the devnet's own (for nodes
   * started apart, as processes). They take indices 2 up, as the providers do: with `providers`
   * or `verifiers` started here as well, count those in. Default 0.
   */
  extraAccounts?: number;
  /** Folder for every node's data. Default: a fresh temporary folder, removed by `close()`. */
  dataDir?: string;
  /** Profile the providers run. Default `wasm`. */
  profile?: string;
  /** Stake each provider keeps. Default 1000 AIGENSYN. */
  providerStakeWei?: bigint;
  /**
   * Advance chain time past the challenge window as soon as a job commits, so jobs settle in
   * seconds (a devnet shortcut; real networks wait). Default true.
   */
  fastSettle?: boolean;
  /**
   * Mine a block every this many seconds, so chain time follows the clock while nothing is sent
   * (anvil alone mines only on transactions). Default 1 with `fastSettle: false`, else none.
   */
  blockTimeSec?: number;
  /**
   * Verifier nodes to start, on dev accounts 7, 8, ... (at most 9, and at most 5 providers then).
   * Default 0.
   * A verifier whose audit fails opens a dispute in the dispute game; the providers answer it and
   * a committee drawn from the staked verifiers outside the dispute (the other verifiers and this
   * network's own referee) rules. With `fastSettle`,
   * time moves past a challenge window only once every verifier has audited the commit.
   */
  verifiers?: number;
  /** Segments each verifier audits per job, overriding the jobs' policies (`"all"`: every one). */
  verifierSegments?: number | "all";
  /**
   * Resource limits of every provider (`lib/node/limits.ts`): a job larger than them is refused
   * before it is claimed. Default `DEFAULT_NODE_LIMITS`.
   */
  providerLimits?: Partial<NodeLimits>;
  /**
   * Resource limits of every verifier: a larger job's audit ends `unverifiable`, without loading
   * it. Default `DEFAULT_NODE_LIMITS`.
   */
  verifierLimits?: Partial<NodeLimits>;
  /**
   * Log sink for the nodes. Default: silent, unless the environment sets `GENSYN_LOG=1`: then
   * every node's lines go to stderr with the time.
   */
  log?: (line: string) => void;
}

/** Options of {@link Network.connect}. */
export interface NetworkConnectOptions {
  /** JSON-RPC endpoint of the chain. */
  rpcUrl: string;
  /** Protocol contract addresses. */
  addresses: ProtocolAddresses;
  /** The submitter's account key (`0x` hex secp256k1). */
  accountKey: `0x${string}`;
  /** Multiaddrs of peers to join through. */
  bootstrap: string[];
  /** Folder for this client's peer key and blobs. */
  dataDir: string;
  /** Chain id. Default 31337. */
  chainId?: number;
  /** Password of the peer key in `dataDir`. Default `$GENSYN_NODE_PASSWORD`. */
  password?: string;
}

/** Options of {@link Network.train}. */
export interface TrainOptions {
  /** The model: a tfjs model (defined with `seed`, `loss`, `optimizer`) or a ready spec. */
  model: LayersModel | ModelSpec;
  /** Training data. */
  data: Dataset;
  /** Optimizer steps. */
  steps: number;
  /** Examples per step. */
  batchSize: number;
  /** Optimizer, when `model` is a tfjs model. Default Adam 1e-3. */
  optimizer?: OptimizerInput;
  /** Loss, when `model` is a tfjs model. Default sparse categorical cross-entropy. */
  loss?: LossName;
  /** Initializer seed, when `model` is a tfjs model. Default 0. */
  seed?: number;
  /** Checkpoint interval. Default 50. */
  k?: number;
  /** Payment, wei. Default 10 AIGENSYN. */
  priceWei?: bigint;
  /** Execution profile. Default `wasm`. */
  profile?: string;
  /** Seed of the data order. Default 0. */
  dataSeed?: number;
  /**
   * Seconds until the job must be committed. Default 3600 (30 days of chain time on a local
   * network with `fastSettle`, whose chain time jumps ahead at each commit).
   */
  timeoutSec?: number;
  /** Seconds a commit stays open to disputes. Default 600. */
  challengeWindowSec?: number;
  /** Stake a provider must lock to claim. Default 100 AIGENSYN. */
  requiredStakeWei?: bigint;
  /** Audit policy. Default: `DEFAULT_AUDIT` of `lib/proof/job.ts`. */
  audit?: AuditPolicy;
  /**
   * Size of the committee of staked verifiers that rules on this job's disputes: an odd number up
   * to 9, drawn by the dispute game from the verifier registry when a dispute needs a ruling (never
   * the parties or the submitter); the majority's ruling stands, and members who rule against it
   * lose stake. Default 0: the game's default size (3).
   */
  refereeCommittee?: number;
  /**
   * Providers training the job together, DiLoCo-style (`lib/diloco`): each takes one on-chain slot
   * and one data shard; `steps` is then each worker's total inner steps, `rounds * innerSteps`.
   * Default 1: one provider trains the whole job.
   */
  workers?: number;
  /** Outer rounds of a distributed job. Default: `steps / innerSteps`, else up to 10. */
  rounds?: number;
  /** Inner steps per round of a distributed job (DiLoCo's H). Default `steps / rounds`. */
  innerSteps?: number;
  /** Delta compression of a distributed job. Default int8 in blocks of 256 values. */
  compression?: CompressionOptions;
  /** Seconds a worker waits for the others' deltas in a round. Default 60. */
  roundTimeoutSec?: number;
}

/** The distributed part of a job from `train()`'s options, or undefined for one worker. */
function distributedOf(options: TrainOptions): JobSpecInput["distributed"] {
  const workers = options.workers ?? 1;
  if (!Number.isSafeInteger(workers) || workers < 1) {
    throw new SpecError("SPEC_INVALID_DIST", `workers must be a positive integer, got ${workers}`, {
      value: workers,
    });
  }
  if (workers === 1) return undefined;
  const { steps } = options;
  let rounds = options.rounds;
  let innerSteps = options.innerSteps;
  if (rounds === undefined && innerSteps === undefined) {
    rounds = 1;
    for (let r = Math.min(10, steps); r >= 1; r--) {
      if (steps % r === 0) {
        rounds = r;
        break;
      }
    }
  }
  rounds ??= steps / innerSteps!;
  innerSteps ??= steps / rounds;
  if (!Number.isSafeInteger(rounds) || !Number.isSafeInteger(innerSteps) || rounds < 1) {
    throw new SpecError(
      "SPEC_INVALID_DIST",
      `steps (${steps}) must be rounds * innerSteps for a distributed job; got rounds ` +
        `${options.rounds ?? "-"} and innerSteps ${
          options.innerSteps ?? "-"
        }: pick values that divide`,
      { value: { steps, rounds: options.rounds, innerSteps: options.innerSteps } },
    );
  }
  if (rounds * innerSteps !== steps) {
    throw new SpecError(
      "SPEC_INVALID_DIST",
      `steps (${steps}) must equal rounds (${rounds}) * innerSteps (${innerSteps})`,
      { value: steps },
    );
  }
  const compression = options.compression ?? { encoding: "int8" };
  return {
    workers,
    rounds,
    innerSteps,
    encoding: compression.encoding,
    ...(compression.encoding === "int8" ? { blockSize: compression.blockSize ?? 256 } : {}),
    roundTimeoutSec: options.roundTimeoutSec ?? 60,
  };
}

/**
 * A network to train on.
 *
 * @example
 * ```ts
 * import { Network } from "./network.ts";
 * import { loadMnist } from "../exec/mnist.ts";
 * import { mlp } from "../exec/zoo.ts";
 * await using network = await Network.local({ providers: 3 });
 * const job = await network.train({ model: mlp(), data: await loadMnist(), steps: 500, batchSize: 128 });
 * for await (const e of job.progress()) if (e.kind === "step") console.log(e.step, e.loss);
 * const { model, trace } = await job.result();
 * ```
 */
export class Network implements AsyncDisposable {
  /** The submitter's chain client. */
  readonly chain: ProtocolClient;
  /** The submitter's network. */
  readonly wire: NodeWire;
  /** The submitter's blob store (models and data it publishes, results it fetches). */
  readonly store: BlobStore;
  /** The devnet, for `Network.local()`. */
  readonly devnet: Devnet | undefined;
  /** Provider nodes started in this process, for `Network.local()`. */
  readonly providers: readonly ProviderNode[];
  /** Verifier nodes started in this process, for `Network.local({ verifiers })`. */
  readonly verifiers: readonly VerifierNode[];
  /**
   * The local network's referee (`Network.local` only): a staked verifier account of its own,
   * registered so that the dispute game can draw it onto the committee of any dispute it is not a
   * party to. It holds this network's jobs' inputs, so it rules without fetching them. A network
   * that joins an existing chain has none: the chain's own verifiers referee.
   */
  readonly referee?: Referee;
  readonly #cleanup: (() => Promise<void>)[];
  readonly #fastSettle: boolean;
  readonly #abort = new AbortController();
  /** Jobs this network submitted that still have a slot in play (for `fastSettle`). */
  readonly #submitted = new Set<Hash>();
  /** Every dispute below this id is resolved (where the fast-forward's scan starts). */
  #disputesDoneBelow = 1n;
  /** Jobs this network checked on its own machine before paying for them. */
  readonly #checked = new Set<Hash>();
  /** The last fast-forward, so moves of chain time never overlap. */
  #forwarding: Promise<void> = Promise.resolve();

  private constructor(parts: {
    chain: ProtocolClient;
    wire: NodeWire;
    store: BlobStore;
    devnet?: Devnet;
    providers?: ProviderNode[];
    verifiers?: VerifierNode[];
    cleanup: (() => Promise<void>)[];
    fastSettle?: boolean;
    log?: (line: string) => void;
    referee?: { chain: ProtocolClient };
  }) {
    this.chain = parts.chain;
    this.wire = parts.wire;
    this.store = parts.store;
    this.devnet = parts.devnet;
    this.providers = parts.providers ?? [];
    this.verifiers = parts.verifiers ?? [];
    this.#cleanup = parts.cleanup;
    this.#fastSettle = parts.fastSettle ?? false;
    if (parts.referee) {
      const referee = Referee.start({
        chain: parts.referee.chain,
        wire: parts.wire,
        store: parts.store,
        trainerFor: async (jobId) =>
          await jobTrainer(
            parts.store,
            decodeJobSpec(await parts.store.get(await specHashOfJob(parts.referee!.chain, jobId))),
          ),
        ...(parts.log ? { log: parts.log } : {}),
      });
      this.referee = referee;
      this.#cleanup.unshift(() => referee.close());
    }
  }

  /** Starts the embedded local network: a devnet chain and `providers` nodes on loopback. */
  static async local(options: LocalNetworkOptions = {}): Promise<Network> {
    const count = options.providers ?? 3;
    const ownDir = options.dataDir === undefined;
    const dataDir = options.dataDir ?? await makeOwnedTempDir({ prefix: "gensyn-local-" });
    const cleanup: (() => Promise<void>)[] = [];
    const log = options.log ?? envLog();
    try {
      const verifierCount = options.verifiers ?? 0;
      if (verifierCount > 9) {
        throw new SpecError(
          "SPEC_TOO_MANY_VERIFIERS",
          "a local network starts at most 9 verifiers (the largest referee committee)",
          { value: verifierCount },
        );
      }
      // Verifiers take accounts 7, 8, ...; then the network's referee; the last account stays
      // the devnet's own.
      const devnet = await startDevnet({
        accounts: Math.max(11, 9 + verifierCount, 4 + (options.extraAccounts ?? 0)),
      });
      cleanup.unshift(() => devnet.close());
      // Anvil mines only on transactions: without fastSettle's jumps, blocks every second keep
      // chain time with the clock, as on a real chain, so windows and deadlines pass while idle.
      const blockTimeSec = options.blockTimeSec ?? (options.fastSettle === false ? 1 : 0);
      if (blockTimeSec > 0) {
        const miner = mineEvery(devnet, {
          intervalMs: blockTimeSec * 1000,
          onError: (error) => log(`[devnet] stopped mining blocks: ${(error as Error).message}`),
        });
        cleanup.unshift(() => miner.stop());
      }
      const refereeIndex = devnet.accounts.length - 2;
      if (count + 1 >= refereeIndex) {
        throw new SpecError(
          "SPEC_TOO_MANY_PROVIDERS",
          `a local network has room for ${refereeIndex - 2} providers`,
          { value: count },
        );
      }
      const chain = devnet.client(1);
      const store = new BlobStore(`${dataDir}/submitter`);
      const keys = { password: LOCAL_PASSWORD, keyIterations: LOCAL_KEY_ITERATIONS };
      const wire = await createP2PWire({ dataDir: `${dataDir}/submitter`, chain, store, ...keys });
      cleanup.unshift(() => wire.close());
      await ensurePeerBound(chain, wire.peerPrivateKey);
      const bootstrap = wire.addrs;
      const providerAddrs: string[] = [];
      const providers = await Promise.all(
        Array.from({ length: count }, async (_, i) => {
          const nodeDir = `${dataDir}/provider-${i + 1}`;
          const providerChain = devnet.client(2 + i);
          const providerWire = await createP2PWire({
            dataDir: nodeDir,
            chain: providerChain,
            store: new BlobStore(nodeDir),
            bootstrap: [...bootstrap],
            ...keys,
          });
          cleanup.unshift(() => providerWire.close());
          providerAddrs.push(...providerWire.addrs);
          const node = await ProviderNode.start({
            dataDir: nodeDir,
            chain: providerChain,
            wire: providerWire,
            peerPrivateKey: providerWire.peerPrivateKey,
            profile: options.profile,
            stakeWei: options.providerStakeWei ?? 1000n * TOKEN,
            ...(options.providerLimits ? { limits: options.providerLimits } : {}),
            log: (line) => log(`[provider ${i + 1}] ${line}`),
          });
          cleanup.unshift(() => node.close());
          return node;
        }),
      );
      if (verifierCount > 0 && count > 5) {
        throw new SpecError(
          "SPEC_TOO_MANY_PROVIDERS",
          "a local network with verifiers has room for 5 providers",
          { value: count },
        );
      }
      const verifiers: VerifierNode[] = [];
      for (let i = 0; i < verifierCount; i++) {
        const nodeDir = `${dataDir}/verifier-${i + 1}`;
        const verifierChain = devnet.client(7 + i);
        const verifierStore = new BlobStore(nodeDir);
        const verifierWire = await createP2PWire({
          dataDir: nodeDir,
          chain: verifierChain,
          store: verifierStore,
          // Verifiers dial the providers they audit, and each other: a verifier drawn onto a
          // referee committee fetches the evidence of the verifier that opened the dispute.
          bootstrap: [...bootstrap, ...providerAddrs, ...verifiers.flatMap((v) => v.addrs)],
          ...keys,
        });
        cleanup.unshift(() => verifierWire.close());
        await ensurePeerBound(verifierChain, verifierWire.peerPrivateKey);
        const verifier = await VerifierNode.start({
          dataDir: nodeDir,
          chain: verifierChain,
          wire: verifierWire,
          segments: options.verifierSegments,
          ...(options.verifierLimits ? { limits: options.verifierLimits } : {}),
          // Staked, so it registers and audits the commits it is drawn for.
          stakeWei: 1000n * TOKEN,
          mine: () => devnet.increaseTime(0),
          log: (line) => log(`[verifier ${i + 1}] ${line}`),
        });
        cleanup.unshift(() => verifier.close());
        verifiers.push(verifier);
      }
      if (ownDir) cleanup.push(() => Deno.remove(dataDir, { recursive: true }));
      // The network's referee: staked and registered for committees (it runs no audits, so it
      // is never drawn to audit a commit).
      const refereeChain = devnet.client(refereeIndex);
      await ensureStake(refereeChain, 1000n * TOKEN);
      await refereeChain.verifiers.registerReferee();
      return new Network({
        referee: { chain: refereeChain },
        verifiers,
        chain,
        wire,
        store,
        devnet,
        providers,
        cleanup,
        fastSettle: options.fastSettle ?? true,
        log: (line) => log(`[referee] ${line}`),
      });
    } catch (error) {
      for (const step of cleanup) await step().catch(() => {});
      throw error;
    }
  }

  /**
   * Joins an existing network as a submitter: a chain endpoint with the protocol deployed and
   * peers to join through (`deno task devnet` writes both into its network file).
   */
  static async connect(options: NetworkConnectOptions): Promise<Network> {
    const chain = createProtocolClient(createChainClient({
      rpcUrl: options.rpcUrl,
      chainId: options.chainId,
      addresses: options.addresses,
      account: privateKeyToAccount(options.accountKey),
    }));
    const store = new BlobStore(options.dataDir);
    const wire = await createP2PWire({
      dataDir: options.dataDir,
      chain,
      store,
      bootstrap: options.bootstrap,
      password: options.password,
    });
    try {
      await ensurePeerBound(chain, wire.peerPrivateKey);
    } catch (error) {
      await wire.close();
      throw error;
    }
    return new Network({ chain, wire, store, cleanup: [() => wire.close()] });
  }

  /**
   * The first ruling a referee of this process gives on dispute `id`: the network's referee or a
   * local verifier drawn onto the dispute's committee (any member's ruling; the committee's
   * majority decides the dispute, see `chain.game.committee`).
   *
   * @example
   * ```ts
   * import { Network } from "./network.ts";
   * await using network = await Network.local({ providers: 1, verifiers: 1 });
   * const ruling = await network.ruled(1n);
   * console.log(ruling.winner, ruling.kernel);
   * ```
   */
  ruled(id: bigint): Promise<Ruling> {
    const referees = [
      ...(this.referee ? [this.referee.ruled(id)] : []),
      // A verifier that is not registered can never be drawn: it never rules.
      ...this.verifiers.map((v) => v.committeeRuled(id).catch(() => new Promise<never>(() => {}))),
    ];
    if (referees.length === 0) {
      return Promise.reject(
        new VerificationError(
          "VERIFY_NOT_SELECTED",
          "no referee runs in this process: the chain's own verifiers rule on its disputes",
        ),
      );
    }
    return Promise.race(referees);
  }

  /** Trains a model on the network: escrows payment, publishes, announces; returns the job. */
  async train(options: TrainOptions): Promise<Job> {
    const modelSpec = "topology" in options.model && "id" in options.model
      ? options.model as ModelSpec
      : await defineModel(options.model as LayersModel, {
        seed: options.seed,
        loss: options.loss,
        optimizer: options.optimizer,
      });
    await this.store.put(encodeModelSpec(modelSpec));
    const datasetBlob = await this.store.put(encodeDataset(options.data));
    const distributed = distributedOf(options);
    const workers = distributed?.workers ?? 1;
    const spec = createJobSpec({
      distributed,
      model: modelSpec.id,
      datasetBlob,
      datasetId: options.data.id,
      steps: options.steps,
      batchSize: options.batchSize,
      k: distributed ? distributed.innerSteps : options.k,
      profile: options.profile,
      dataSeed: options.dataSeed,
      audit: options.audit,
      // The default price splits evenly over the workers' slots.
      priceWei: options.priceWei ?? 10n * TOKEN - (10n * TOKEN) % BigInt(workers),
    });
    // Everything a provider would reject is found here, before any money moves.
    await checkJobLocally({
      spec,
      modelSpec,
      data: options.data,
      ...this.#providerProfiles(),
    });
    // The spec itself is a blob named by its hash: providers fetch it from this node. The job's
    // id is derived from this account and that hash by the job market.
    const specHash = await specHashOf(spec);
    await this.store.put(encodeJobSpec(spec));
    const created = await this.chain.jobs.create({
      specHash: toBytes32(specHash),
      paymentWei: BigInt(spec.priceWei),
      // With fastSettle chain time jumps a challenge window ahead at each commit, so a deadline
      // sized for the wall clock would expire jobs still in flight.
      timeoutSec: options.timeoutSec ?? (this.#fastSettle ? FAST_SETTLE_TIMEOUT_SEC : 3600),
      challengeWindowSec: options.challengeWindowSec ?? 600,
      requiredStakeWei: options.requiredStakeWei ?? 100n * TOKEN,
      replicas: spec.replicas,
      checkpointInterval: spec.k,
      steps: spec.steps,
      // A distributed job pays each worker by the rounds it counted in.
      ...(spec.distributed ? { workUnits: spec.distributed.rounds } : {}),
      ...(options.refereeCommittee ? { refereeCommittee: options.refereeCommittee } : {}),
    });
    const jobId = fromBytes32(created.jobId);
    this.#checked.add(jobId);
    const job = this.#follow(jobId, spec, modelSpec);
    if (this.#fastSettle) this.#fastForwardOnCommit(jobId, job.events);
    return job.job;
  }

  /**
   * Profiles this network's providers run, when known: its own local providers and those seen on
   * the presence topic (none known yet: not checked).
   */
  #providerProfiles(): { providerProfiles?: string[] } {
    const known = [
      ...this.providers.map((p) => p.profile),
      ...(this.wire.providers?.() ?? []).map((p) => p.profile),
    ];
    return known.length > 0 ? { providerProfiles: known } : {};
  }

  /**
   * Follows a job from any process: its past and future events from the chain and its provider,
   * its verified result and its settlement. The job's spec and model are taken from this
   * network's store, else fetched from the job's providers or its submitter's node.
   *
   * @example
   * ```ts ignore
   * const job = await network.attach(jobId);
   * const { model } = await job.result({ timeoutMs: 600_000 });
   * ```
   */
  async attach(jobId: Hash): Promise<Job> {
    const id = jobId.startsWith("0x") ? jobId.slice(2).toLowerCase() : jobId.toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(id)) {
      throw new SpecError(
        "SPEC_INVALID_JOB_ID",
        `a job id is 64 hex digits (job.id, or 0x + them on-chain), got ${jobId}`,
        { value: jobId },
      );
    }
    const onChain = await this.chain.jobs.get(toBytes32(id));
    const sources = await this.#peersOfJob(id, onChain.submitter);
    const specHash = await specHashOfJob(this.chain, id);
    const spec = decodeJobSpec(await this.#blob(specHash, sources));
    if (await specHashOf(spec) !== specHash) {
      throw new SpecError("SPEC_ID_MISMATCH", `the spec fetched for job ${id} has another hash`, {
        value: id,
      });
    }
    const modelSpec = await decodeModelSpec(await this.#blob(spec.model, sources));
    return this.#follow(id, spec, modelSpec, { offer: false }).job;
  }

  /** Peers that may hold a job's blobs: its claimants' nodes, then its submitter's. */
  async #peersOfJob(jobId: Hash, submitter: string): Promise<string[]> {
    const peers: string[] = [];
    const logs = await readLogs({
      client: this.chain.public,
      address: this.chain.addresses.jobMarket,
      abi: jobMarketAbi,
      eventName: "JobClaimed",
      args: { jobId: toBytes32(jobId) },
    });
    for (const account of [...logs.map((l) => l.args.provider), submitter]) {
      try {
        const peer = await peerIdOfAccount(this.chain, account);
        if (!peers.includes(peer)) peers.push(peer);
      } catch {
        // An account without a bound peer serves nothing.
      }
    }
    return peers;
  }

  /** A blob from this network's store, else from the first of `peers` that serves it. */
  async #blob(hash: Hash, peers: readonly string[]): Promise<Uint8Array> {
    if (await this.store.has(hash)) return await this.store.get(hash);
    const failures: string[] = [];
    for (const peer of peers) {
      try {
        await fetchBlobWithin(this.wire, peer, hash, this.store, ATTACH_FETCH_MS);
        return await this.store.get(hash);
      } catch (error) {
        failures.push(`${peer.slice(0, 12)}…: ${(error as Error).message}`);
      }
    }
    throw new PeerError(
      "PEER_BLOB_UNAVAILABLE",
      `blob ${hash.slice(0, 10)} of the job is in no reachable node (${
        failures.join("; ") || "no peer to ask"
      }); join the network its providers are on, or attach from the submitter's data folder`,
      { value: hash },
    );
  }

  /** Starts following a job: the chain watch, the progress stream, offers and the fault rules. */
  #follow(
    jobId: Hash,
    spec: JobSpec,
    modelSpec: ModelSpec,
    options: { offer?: boolean } = {},
  ): { job: Job; events: EventLog<JobEvent> } {
    const events = new EventLog<JobEvent>();
    const stop = new AbortController();
    const signal = AbortSignal.any([stop.signal, this.#abort.signal]);
    const watch = { chain: this.chain, wire: this.wire, jobId, events, signal };
    watchJob({ ...watch, slots: spec.replicas });
    if (spec.distributed) followDistributedJob(watch);
    const job = new Job(jobId, spec, modelSpec, {
      chain: this.chain,
      wire: this.wire,
      store: this.store,
      events,
      stop: () => stop.abort(),
    });
    if (options.offer !== false) this.#keepOffering(spec, jobId, events, signal);
    this.#settleFaults(job, events, signal);
    return { job, events };
  }

  /**
   * The rules for a job whose provider cannot run it. A provider that released its slot because
   * the job itself fails (reason `job`) ends the job: its open slots are refunded at once, and
   * waits on it reject with the provider's error. One that released for its own reasons (`node`)
   * leaves the slot to another provider: the job is offered again and shows `stalled` meanwhile.
   * A minute past the deadline (time to reassign or cancel it first), slots nobody committed are
   * refunded, so no money waits on a job that can no longer finish.
   */
  async #settleFaults(job: Job, events: EventLog<JobEvent>, signal: AbortSignal): Promise<void> {
    const jobId = toBytes32(job.id);
    const refundPastDeadline = async () => {
      // Wall-clock time the deadline was first seen passed: the submitter gets a grace to
      // reassign or cancel the job itself first.
      let pastSince: number | undefined;
      while (!signal.aborted && !events.ended) {
        await sleep(DEADLINE_POLL_MS, signal).catch(() => {});
        if (signal.aborted || events.ended) return;
        try {
          const { deadline, replicas } = await this.chain.jobs.get(jobId);
          if (await chainTime(this.chain) < deadline) {
            pastSince = undefined; // reassigned: a new deadline
            continue;
          }
          pastSince ??= Date.now();
          if (Date.now() - pastSince < DEADLINE_REFUND_GRACE_MS) continue;
          for (let slot = 0; slot < replicas; slot++) {
            const { status } = await this.chain.jobs.slot({ jobId, slot });
            if (status === "Open" || status === "Claimed") {
              await this.chain.jobs.refund({ jobId });
              break;
            }
          }
        } catch {
          // A busy endpoint, or someone else refunded first: looked at again at the next poll.
        }
      }
    };
    refundPastDeadline();
    try {
      for await (const e of events) {
        if (e.kind !== "released") continue;
        const what = e.code ? `${e.code}: ${e.message ?? ""}` : e.message ?? "no report";
        // This submitter ran the job's first step on its own machine and checked every label
        // before paying: a provider that blames the spec or the data contradicts that, so the
        // slot goes to another provider. Only a loss that turned non-finite later is believed.
        const checkedHere = this.#checked.has(job.id) && e.code !== "TRAINING_NON_FINITE_LOSS";
        if (e.reason !== "job" || checkedHere) {
          events.push({
            kind: "stalled",
            reason: `provider ${e.provider} could not run slot ${e.slot} (${what})` +
              (e.reason === "job" ? ", though the job passed this submitter's own check" : "") +
              "; the job is offered to other providers",
          });
          continue;
        }
        await this.chain.jobs.cancel({ jobId }).catch(() => {
          // Nothing open any more (another slot's provider took it, or it was refunded already).
        });
      }
    } catch {
      // The job's watch ended with an error: nothing left to settle here.
    }
  }

  /** The libp2p peer id an account has bound on-chain (e.g. a job's provider). */
  peerOf(account: string): Promise<string> {
    return peerIdOfAccount(this.chain, account);
  }

  /** What other processes need to join this network (`deno task node --network FILE`). */
  describe(): NetworkFile {
    return {
      rpcUrl: this.chain.rpcUrl,
      chainId: this.chain.chainId,
      addresses: this.chain.addresses,
      bootstrap: [...this.wire.addrs],
    };
  }

  /** Stops every node and the devnet this network started, and removes temporary data. */
  async close(): Promise<void> {
    this.#abort.abort();
    const steps = this.#cleanup.splice(0);
    for (const step of steps) await step().catch(() => {});
  }

  /** Same as {@link Network.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * Announces a job, and again every few seconds while a slot is open on-chain: gossip published
   * before the mesh reaches a provider is lost, providers may join later, and a slot a provider
   * released, or the submitter reassigned, opens again. The chain says which slots are open, not
   * the events seen so far, so no reopening is missed.
   */
  async #keepOffering(
    spec: JobSpec,
    jobId: Hash,
    events: EventLog<JobEvent>,
    signal: AbortSignal,
  ): Promise<void> {
    const id = toBytes32(jobId);
    const refusals = new JobRefusals(jobId, spec.profile, events);
    while (!signal.aborted && !events.ended) {
      try {
        const job = await this.chain.jobs.get(id);
        let open = false;
        for (let slot = 0; slot < job.replicas && !open; slot++) {
          open = (await this.chain.jobs.slot({ jobId: id, slot })).status === "Open";
        }
        if (open) {
          refusals.update(this.wire.providers?.() ?? []);
          // The deadline is read again each time: reassigning the job moves it.
          await this.wire.announce(spec, jobId, Number(job.deadline));
        }
      } catch {
        // No peer to gossip to yet, or a busy endpoint: the next round retries.
      }
      await sleep(REANNOUNCE_MS, signal).catch(() => {});
    }
  }

  /**
   * On a devnet with `fastSettle`, moves chain time just past a committed slot's challenge window,
   * once every verifier has audited every slot of this network's jobs whose window that closes.
   * Chain time is global: moving it for one commit also closes the windows of commits made before
   * it, so those must be audited first, and moving only to this commit's window end keeps later
   * commits open. Moves are serialized.
   */
  async #fastForwardOnCommit(jobId: Hash, events: EventLog<JobEvent>): Promise<void> {
    const devnet = this.devnet;
    if (!devnet) return;
    this.#submitted.add(jobId);
    try {
      // Every commit (one per worker of a distributed job) gets its window moved past.
      for await (const committed of events) {
        if (committed.kind !== "committed") continue;
        const forward = this.#forwarding.then(() => this.#forwardPast(jobId, committed.slot));
        this.#forwarding = forward.catch(() => {});
        await forward;
      }
    } catch {
      // Not a job of this chain (or the devnet is closing): nothing to fast-forward.
    }
  }

  /** Moves chain time past the window of `jobId`'s `slot` once every slot it closes is audited. */
  async #forwardPast(jobId: Hash, slot: number): Promise<void> {
    const devnet = this.devnet!;
    const view = await this.chain.jobs.slot({ jobId: toBytes32(jobId), slot });
    if (view.status !== "Committed") return;
    const window = BigInt((await this.chain.jobs.get(toBytes32(jobId))).challengeWindowSec);
    const target = view.committedAt + window + 1n;
    // Let chain time run on with the clock (mining, never jumping) until it is a margin past the
    // commit: any commit the scan below cannot see lands after that, so its window outlasts the move.
    while (true) {
      if (this.#abort.signal.aborted) return;
      await devnet.increaseTime(0);
      if (await chainTime(this.chain) >= view.committedAt + FORWARD_MARGIN_SEC) break;
      await sleep(250, this.#abort.signal);
    }
    // Disputes must land inside the challenge window: audit everything this move closes first.
    for (const id of [...this.#submitted]) {
      const job = await this.chain.jobs.get(toBytes32(id));
      let open = false;
      for (let i = 0; i < job.replicas; i++) {
        const s = await this.chain.jobs.slot({ jobId: toBytes32(id), slot: i });
        if (s.status === "Open" || s.status === "Claimed" || s.status === "Disputed") open = true;
        if (s.status !== "Committed") continue;
        open = true;
        // With a margin: a move lands a moment after the time it was computed from.
        if (s.committedAt + BigInt(job.challengeWindowSec) >= target + FORWARD_MARGIN_SEC) continue;
        await Promise.all(
          // A failed or stuck audit is in the verifier's log; settling goes on without it.
          this.verifiers.map((v) => v.audited(id, { slot: i, timeoutMs: 300_000 }).catch(() => {})),
        );
      }
      if (!open) this.#submitted.delete(id);
    }
    // Never jump over an open dispute's move deadline: chain time is global, and the jump would
    // time out whichever party is to move, an honest one included. Until every such move is made,
    // time runs on with the clock, so a party that really stops moving times out as it would
    // without the fast-forward.
    while (!this.#abort.signal.aborted) {
      // Mine first: the next block's time runs on from the wall clock, not the latest block.
      await devnet.increaseTime(0);
      const now = await chainTime(this.chain);
      if (target <= now) return;
      const due = await this.#nextDisputeDeadline(now);
      if (due === undefined || due > target + FORWARD_MARGIN_SEC) {
        await devnet.increaseTime(target - now);
        return;
      }
      await sleep(250, this.#abort.signal).catch(() => {});
    }
  }

  /**
   * The earliest move deadline still ahead of `now` among the chain's open disputes (chain
   * seconds); undefined when there is none. A deadline already passed protects no one any more:
   * the party to move has timed out.
   */
  async #nextDisputeDeadline(now: bigint): Promise<bigint | undefined> {
    const count = await this.chain.game.count();
    let earliest: bigint | undefined;
    let allDoneSoFar = true;
    for (let id = this.#disputesDoneBelow; id <= count; id++) {
      const d = await this.chain.game.get(id);
      const open = d.outcome === "Pending" && d.phase !== "None" && d.phase !== "Done";
      if (!open && allDoneSoFar) this.#disputesDoneBelow = id + 1n;
      if (!open) continue;
      allDoneSoFar = false;
      if (d.deadline <= now) continue;
      if (earliest === undefined || d.deadline < earliest) earliest = d.deadline;
    }
    return earliest;
  }
}

/** The default node log: silent, or stderr with the time when `GENSYN_LOG=1`. */
function envLog(): (line: string) => void {
  let on = false;
  try {
    on = Deno.env.get("GENSYN_LOG") === "1";
  } catch {
    // No permission to read the environment: stay silent.
  }
  return on
    ? (line) => console.error(`${new Date().toISOString().slice(11, 23)} ${line}`)
    : () => {};
}

/**
 * What the providers seen on the network say about refusing one job: a `refused` event per
 * provider, and a `stalled` event once every provider seen that runs the job's profile refused it.
 */
class JobRefusals {
  readonly #jobId: string;
  readonly #profile: string;
  readonly #events: EventLog<JobEvent>;
  readonly #told = new Set<string>();
  #stalled = false;

  constructor(jobId: Hash, profile: string, events: EventLog<JobEvent>) {
    this.#jobId = jobId.replace(/^0x/, "").toLowerCase();
    this.#profile = profile;
    this.#events = events;
  }

  /** Looks at the providers seen now; pushes what is new. */
  update(sightings: readonly ProviderSighting[]): void {
    const able = sightings.filter((s) => s.profile === this.#profile);
    const refusals = new Map<string, Refusal>();
    for (const s of able) {
      const refusal = s.refused?.find((r) => r.jobId === this.#jobId);
      if (refusal) refusals.set(s.account.toLowerCase(), refusal);
    }
    for (const [provider, r] of refusals) {
      if (this.#told.has(provider)) continue;
      this.#told.add(provider);
      this.#events.push({ kind: "refused", provider, code: r.code, reason: r.reason });
    }
    if (this.#stalled || able.length === 0 || refusals.size < able.length) return;
    this.#stalled = true;
    const codes = [...new Set([...refusals.values()].map((r) => r.code))].join(", ");
    const first = [...refusals.values()][0];
    this.#events.push({
      kind: "stalled",
      reason: `every provider seen on the network that runs ${this.#profile} (${able.length}) ` +
        `refused job ${this.#jobId.slice(0, 10)} (${codes}), for instance: ${first.reason}; ` +
        "cancel the job (job.cancel()) to get its escrow back and submit a smaller one, or wait " +
        "for a provider with larger limits",
    });
  }
}
