/**
 * The communication layer: peer identity, a libp2p host with limits, and the protocols a
 * training network speaks: job announcements (gossip), blob transfer by content id, and task
 * progress streams.
 *
 * @example
 * ```ts ignore
 * import { createHost, fetchBlob, serveBlobs } from "./mod.ts";
 * await using a = await createHost({});
 * await using b = await createHost({ bootstrap: a.multiaddrs() });
 * await serveBlobs(a, { store: storeA });
 * await fetchBlob(b, { peer: a.peerId, id, store: storeB });
 * ```
 *
 * @module
 */

export {
  DEFAULT_PBKDF2_ITERATIONS,
  IDENTITY_FILE,
  type IdentityStoreOptions,
  loadOrCreateIdentity,
  NodeIdentity,
  PASSWORD_ENV,
  PEER_BINDING_TAG,
  type PeerBinding,
  peerBindingDigest,
  signPeerBinding,
} from "./identity.ts";
export {
  decodeMessage,
  DEFAULT_MAX_MESSAGE_BYTES,
  encodeMessage,
  frame,
  FRAME_HEADER_BYTES,
  FrameDecoder,
} from "./codec.ts";
export type { Infer, Schema } from "./schema.ts";
export { type ErrorFrame, FramedStream, type FramedStreamOptions } from "./stream.ts";
export { DEFAULT_RATE_LIMITS, PeerLimiter, type RateLimits, TokenBucket } from "./limits.ts";
export {
  createHost,
  DEFAULT_HOST_LIMITS,
  type HostLimits,
  type HostOptions,
  P2PHost,
  type Rejection,
  type StreamContext,
} from "./host.ts";
export {
  type AnnouncementFeed,
  announcementMessage,
  type AnnouncementOptions,
  decodeAnnouncement,
  encodeAnnouncement,
  type JobAnnouncement,
  JOBS_TOPIC,
  joinAnnouncements,
  type MessageSigner,
  signAnnouncement,
  type SignedAnnouncement,
  verifyAnnouncement,
} from "./announce.ts";
export {
  BLOBS_PROTOCOL,
  type BlobServer,
  type BlobServerOptions,
  DEFAULT_MAX_BLOB_BYTES,
  fetchBlob,
  type FetchBlobOptions,
  type FetchBlobResult,
  serveBlobs,
} from "./blobs.ts";
export {
  type ProgressEvent,
  serveTaskProgress,
  type TaskPublisher,
  type TaskPublisherOptions,
  TASKS_PROTOCOL,
  type TaskStatus,
  type WatchOptions,
  watchTaskProgress,
} from "./tasks.ts";

export type { Address, Connection, Hex, PeerId, PrivateKey, Stream } from "./types.ts";
export type { Hash } from "../core/hash.ts";
export { BlobStore } from "../proof/store.ts";
