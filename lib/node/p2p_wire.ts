/**
 * {@link NodeWire} on libp2p (`lib/p2p`): one host per node serving its blob store and its jobs'
 * progress, subscribed to job offers whose escrow it checks on-chain.
 *
 * @module
 */

import { jobIdFor, peerIdToString, type ProtocolClient } from "../chain/mod.ts";
import { stakingAbi } from "../chain/artifacts/Staking.ts";
import { PeerError } from "../core/errors.ts";
import type { Hash } from "../core/hash.ts";
import { type JobSpec, specHashOf } from "../proof/job.ts";
import type { BlobStore } from "../proof/store.ts";
import { joinPresence } from "../p2p/presence.ts";
import {
  createHost,
  fetchBlob,
  joinAnnouncements,
  loadOrCreateIdentity,
  NodeIdentity,
  type Rejection,
  serveBlobs,
  serveTaskProgress,
  signAnnouncement,
  watchTaskProgress,
} from "../p2p/mod.ts";
import { toBytes32 } from "./settlement.ts";
import type { JobOffer, NodeWire, ProgressUpdate } from "./wire.ts";

/** Options of {@link createP2PWire}. */
export interface P2PWireOptions {
  /** Chain client of the node's account: signs offers, checks escrows, finds peers. */
  chain: ProtocolClient;
  /** The store whose blobs this node serves. */
  store: BlobStore;
  /**
   * Folder of the node's sealed peer key. Without it the node gets a fresh key that lives as long
   * as the process (fine for throwaway local networks).
   */
  dataDir?: string;
  /** Password of the peer key (default `$GENSYN_NODE_PASSWORD`). */
  password?: string;
  /** PBKDF2 iterations for a new key file (default the p2p layer's). */
  keyIterations?: number;
  /** Addresses to listen on. Default `/ip4/127.0.0.1/tcp/0`. */
  listen?: string[];
  /** Peers to join through. */
  bootstrap?: string[];
  /** Gossip heartbeat, ms. Default 200 on loopback-only hosts, else the p2p layer's. */
  gossipHeartbeatMs?: number;
  /** Receives peers' rejected messages and requests (default: one line on stderr). */
  onReject?: (rejection: Rejection) => void;
}

/**
 * Starts a node's networking.
 *
 * @example
 * ```ts
 * import { createP2PWire } from "./p2p_wire.ts";
 * import { BlobStore } from "../proof/store.ts";
 * declare const chain: import("../chain/mod.ts").ProtocolClient;
 * const wire = await createP2PWire({ chain, store: new BlobStore(".data/node") });
 * console.log(wire.peerId, wire.addrs);
 * await wire.close();
 * ```
 */
export async function createP2PWire(options: P2PWireOptions): Promise<NodeWire> {
  const { chain } = options;
  const identity = options.dataDir
    ? await loadOrCreateIdentity({
      dataDir: options.dataDir,
      password: options.password,
      iterations: options.keyIterations,
    })
    : await NodeIdentity.generate();
  const listen = options.listen ?? ["/ip4/127.0.0.1/tcp/0"];
  const loopback = listen.every((a) => a.startsWith("/ip4/127.") || a.startsWith("/ip6/::1/"));
  const host = await createHost({
    identity,
    listen,
    bootstrap: options.bootstrap,
    gossipHeartbeatMs: options.gossipHeartbeatMs ?? (loopback ? 200 : undefined),
    onReject: options.onReject,
  });
  try {
    await serveBlobs(host, { store: options.store });
    const publisher = await serveTaskProgress(host);
    const feed = joinAnnouncements(host, {
      isOnChain: async (a) => {
        // The id must be the one the job market derives for this submitter and spec: an
        // announcement cannot pair someone's job with another spec.
        if (jobIdFor(a.submitter, toBytes32(a.specHash)) !== toBytes32(a.jobId)) return false;
        const job = await chain.jobs.get(toBytes32(a.jobId));
        return job.submitter.toLowerCase() === a.submitter.toLowerCase() &&
          job.paymentPerReplicaWei * BigInt(job.replicas) === a.priceWei &&
          Number(job.deadline) === a.deadline && job.checkpointInterval === a.k;
      },
    });
    // A provider's on-chain peer binding, looked up once a minute at most per account.
    const bindings = new Map<string, { peer: string; at: number }>();
    const presence = joinPresence(host, {
      isBound: async (account, peer) => {
        const key = account.toLowerCase();
        const cached = bindings.get(key);
        if (cached && Date.now() - cached.at < 60_000 && cached.peer === peer) return true;
        const bound = await peerIdOfAccount(chain, account);
        bindings.set(key, { peer: bound, at: Date.now() });
        return bound === peer;
      },
    });
    const signer = {
      address: chain.account,
      signMessage: ({ message }: { message: string }) =>
        chain.wallet.signMessage({ account: chain.wallet.account!, message }),
    };
    const wire: NodeWire = {
      peerId: host.peerId.toString(),
      addrs: host.multiaddrs(),
      peerPrivateKey: identity.secretKeyBytes(),
      host,
      async announce(spec: JobSpec, jobId: Hash, deadline: number): Promise<void> {
        const signed = await signAnnouncement(signer, {
          jobId,
          specHash: await specHashOf(spec),
          specId: spec.model,
          datasetId: spec.datasetBlob,
          steps: spec.steps,
          batchSize: spec.batchSize,
          k: spec.k,
          priceWei: BigInt(spec.priceWei),
          deadline,
          submitter: chain.account,
          chainId: chain.chainId,
          addrs: host.multiaddrs().slice(0, 8),
        });
        await feed.publish(signed);
      },
      onOffer(handler: (offer: JobOffer) => void): void {
        feed.onAnnouncement((a) =>
          handler({
            jobId: a.jobId,
            specHash: a.specHash,
            submitter: a.submitter,
            priceWei: a.priceWei,
            deadline: a.deadline,
            addrs: a.addrs ?? [],
          })
        );
      },
      async connect(addrs: readonly string[]): Promise<void> {
        for (const addr of addrs) {
          try {
            await host.dial(addr);
            return;
          } catch {
            // Try the next address; the caller's fetch reports if none worked.
          }
        }
      },
      async fetchBlob(
        fromPeerId: string,
        hash: Hash,
        store: BlobStore,
        options: { signal?: AbortSignal; maxBytes?: number } = {},
      ): Promise<void> {
        await fetchBlob(host, {
          peer: fromPeerId,
          id: hash,
          store,
          ...(options.signal ? { signal: options.signal } : {}),
          ...(options.maxBytes === undefined ? {} : { maxBlobBytes: options.maxBytes }),
        });
      },
      publishProgress(update: ProgressUpdate): void {
        publisher.publish({ ...update });
      },
      async *watchProgress(
        fromPeerId: string,
        jobId: Hash,
        signal?: AbortSignal,
      ): AsyncIterable<ProgressUpdate> {
        yield* watchTaskProgress(host, { peer: fromPeerId, jobId, signal });
      },
      advertise(profile: string): void {
        presence.advertise({ account: chain.account, profile });
      },
      refuse(refusal): void {
        presence.refuse(refusal);
      },
      providers() {
        return presence.sightings();
      },
      async close(): Promise<void> {
        presence.close();
        feed.close();
        await host.stop();
      },
    };
    return wire;
  } catch (error) {
    await host.stop();
    throw error;
  }
}

/**
 * The libp2p peer id an account has bound on-chain (`Staking.peerOf`); fails with
 * `PEER_NOT_BOUND` when it has none.
 */
export async function peerIdOfAccount(chain: ProtocolClient, account: string): Promise<string> {
  const bytes = await chain.public.readContract({
    address: chain.addresses.staking,
    abi: stakingAbi,
    functionName: "peerOf",
    args: [account as `0x${string}`],
  });
  if (bytes === "0x") {
    throw new PeerError(
      "PEER_NOT_BOUND",
      `account ${account} has bound no peer id on-chain, so its node cannot be found; it must ` +
        "bind one (staking.bindPeer) before taking part",
      { value: account },
    );
  }
  const hex = bytes.slice(2);
  const raw = new Uint8Array(hex.length / 2);
  for (let i = 0; i < raw.length; i++) raw[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return peerIdToString(raw);
}
