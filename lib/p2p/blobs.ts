/**
 * Blob transfer by content id (`/gensyn/blobs/1.0.0`): models, datasets and checkpoints move
 * between nodes as SHA-256-addressed blobs, hash-checked on arrival, resumable, and served only
 * by nodes that hold them.
 *
 * The request and its answer travel on an authenticated, encrypted libp2p stream. The bytes then
 * travel one of two ways:
 *
 * - **direct** (default when the server offers it): the server hands out a single-use random
 *   ticket and a TCP port; the client connects, presents the ticket, and receives the raw bytes.
 *   Content ids make this safe without encryption: any tampering fails the hash check, and the
 *   ticket (sent over Noise, consumed on first use) keeps the port closed to everyone else. It
 *   exists because Noise's ChaCha20-Poly1305 in JavaScript tops out near 200 MB/s here while the
 *   payload needs no confidentiality; the measured figures are in `bench/p2p.ts`.
 * - **stream**: the bytes follow the answer on the libp2p stream (encrypted), for peers whose data
 *   port is unreachable or blobs that must stay confidential in transit.
 *
 * The client hashes incrementally as bytes arrive, appends to `blobs/partial/<id>` (kept after an
 * interruption so the next fetch resumes from its length), and renames into the store only after
 * the hash matches. A mismatch deletes the partial file and counts a strike against the server.
 *
 * @module
 */

import { createHash, type Hash as NodeHash } from "node:crypto";
import type { PeerId } from "./types.ts";
import { PeerError } from "../core/errors.ts";
import type { Hash } from "../core/hash.ts";
import type { BlobStore } from "../proof/store.ts";
import type { P2PHost } from "./host.ts";
import { bool, bytes, hash, literal, object, optional, str, uint, union } from "./schema.ts";

/** Protocol id of blob transfer. */
export const BLOBS_PROTOCOL = "/gensyn/blobs/1.0.0";

/** Default largest blob a client accepts: 4 GiB. */
export const DEFAULT_MAX_BLOB_BYTES = 4 * 1024 ** 3;

const CHUNK_BYTES = 1 << 20;
const TICKET_BYTES = 16;
const TICKET_TTL_MS = 10_000;

const requestSchema = object({
  t: literal("get"),
  id: hash,
  offset: uint(),
  direct: optional(bool),
});

const replySchema = union({
  ok: object({
    t: literal("ok"),
    size: uint(),
    offset: uint(),
    port: optional(uint(65535)),
    ticket: optional(bytes(TICKET_BYTES, true)),
  }),
  err: object({ t: literal("err"), code: str(64), message: str(1024) }),
});

/** Options of {@link serveBlobs}. */
export interface BlobServerOptions {
  /** The store whose blobs are served. */
  store: BlobStore;
  /**
   * Offer direct TCP data connections (default true). The data port listens on the same
   * interface as the host's first TCP address.
   */
  direct?: boolean;
  /** Most concurrent uploads (default 8); further requests get `PEER_BUSY`. */
  maxUploads?: number;
}

/** A running blob server. */
export interface BlobServer {
  /** The direct data port, when offered. */
  readonly dataPort: number | undefined;
  /** Stops serving (also runs when the host stops). */
  close(): Promise<void>;
}

interface Ticket {
  id: Hash;
  offset: number;
  size: number;
  expires: number;
}

/**
 * Serves the blobs of a store to peers.
 *
 * @example
 * ```ts ignore
 * import { serveBlobs } from "./blobs.ts";
 * await serveBlobs(host, { store });
 * ```
 */
export async function serveBlobs(host: P2PHost, options: BlobServerOptions): Promise<BlobServer> {
  const { store } = options;
  const maxUploads = options.maxUploads ?? 8;
  let uploads = 0;
  const tickets = new Map<string, Ticket>();
  let listener: Deno.TcpListener | undefined;
  const dataConns = new Set<Deno.TcpConn>();

  if (options.direct ?? true) {
    const hostname = listenHostname(host);
    if (hostname !== undefined) {
      listener = Deno.listen({ hostname, port: 0 });
      acceptLoop(listener).catch((e) => {
        host.reject({
          peer: "-",
          protocol: BLOBS_PROTOCOL,
          code: "PEER_INTERNAL",
          reason: String(e),
        }, false);
      });
    }
  }

  async function acceptLoop(l: Deno.TcpListener): Promise<void> {
    for await (const conn of l) {
      if (uploads >= maxUploads) {
        conn.close();
        continue;
      }
      uploads++;
      dataConns.add(conn);
      serveDataConn(conn)
        .catch(() => {
          // A data connection that breaks mid-way is the client's to retry; nothing to recover here.
        })
        .finally(() => {
          uploads--;
          dataConns.delete(conn);
          try {
            conn.close();
          } catch {
            // Already closed by the peer or by close(); closing twice is harmless.
          }
        });
    }
  }

  async function serveDataConn(conn: Deno.TcpConn): Promise<void> {
    const ticketBytes = new Uint8Array(TICKET_BYTES);
    let got = 0;
    const timer = setTimeout(() => conn.close(), 5_000);
    try {
      while (got < TICKET_BYTES) {
        const n = await conn.read(ticketBytes.subarray(got));
        if (n === null) return;
        got += n;
      }
    } finally {
      clearTimeout(timer);
    }
    const key = ticketKey(ticketBytes);
    const ticket = tickets.get(key);
    tickets.delete(key);
    if (ticket === undefined || ticket.expires < Date.now()) return;
    conn.setNoDelay(true);
    using file = await Deno.open(store.pathOf(ticket.id), { read: true });
    await file.seek(ticket.offset, Deno.SeekMode.Start);
    const buf = new Uint8Array(CHUNK_BYTES);
    let left = ticket.size - ticket.offset;
    while (left > 0) {
      const n = await file.read(buf.subarray(0, Math.min(buf.length, left)));
      if (n === null) break;
      await writeAll(conn, buf.subarray(0, n));
      left -= n;
    }
  }

  await host.handle(BLOBS_PROTOCOL, async ({ framed }) => {
    const req = await framed.readOne(requestSchema);
    if (!(await store.has(req.id))) {
      await framed.fail("PEER_BLOB_NOT_FOUND", `this node does not hold blob ${req.id}`);
      return;
    }
    const size = (await Deno.stat(store.pathOf(req.id))).size;
    if (req.offset > size) {
      await framed.fail("PEER_BAD_OFFSET", `offset ${req.offset} is past the blob's ${size} bytes`);
      return;
    }
    if (req.direct && listener !== undefined) {
      const ticket = crypto.getRandomValues(new Uint8Array(TICKET_BYTES));
      // Expired tickets are dropped here so an idle server does not accumulate them.
      for (const [k, v] of tickets) if (v.expires < Date.now()) tickets.delete(k);
      if (tickets.size >= maxUploads * 4) {
        await framed.fail("PEER_BUSY", "too many pending transfers; retry shortly");
        return;
      }
      tickets.set(ticketKey(ticket), {
        id: req.id,
        offset: req.offset,
        size,
        expires: Date.now() + TICKET_TTL_MS,
      });
      const port = (listener.addr as Deno.NetAddr).port;
      await framed.write({ t: "ok", size, offset: req.offset, port, ticket });
      await framed.close();
      return;
    }
    if (uploads >= maxUploads) {
      await framed.fail("PEER_BUSY", "too many concurrent uploads; retry shortly");
      return;
    }
    uploads++;
    try {
      await framed.write({ t: "ok", size, offset: req.offset });
      using file = await Deno.open(store.pathOf(req.id), { read: true });
      await file.seek(req.offset, Deno.SeekMode.Start);
      let left = size - req.offset;
      while (left > 0) {
        // A fresh buffer per chunk: libp2p may still hold the previous one in its send queue.
        const buf = new Uint8Array(Math.min(CHUNK_BYTES, left));
        const n = await file.read(buf);
        if (n === null) break;
        await framed.writeBytes(buf.subarray(0, n));
        left -= n;
      }
      await framed.close();
    } finally {
      uploads--;
    }
  });

  const server: BlobServer = {
    dataPort: listener === undefined ? undefined : (listener.addr as Deno.NetAddr).port,
    async close(): Promise<void> {
      if (listener !== undefined) {
        try {
          listener.close();
        } catch {
          // Already closed by an earlier close(); nothing to do.
        }
        listener = undefined;
      }
      for (const c of dataConns) {
        try {
          c.close();
        } catch {
          // The upload already finished and closed it.
        }
      }
      tickets.clear();
      await Promise.resolve();
    },
  };
  host.onStop(() => server.close());
  return server;
}

/** Options of {@link fetchBlob}. */
export interface FetchBlobOptions {
  /** The peer to fetch from (peer id or multiaddr string). */
  peer: PeerId | string;
  /** Content id of the blob. */
  id: Hash;
  /** Where the blob goes. */
  store: BlobStore;
  /** Largest blob accepted (default 4 GiB); a bigger one is refused before any byte is written. */
  maxBlobBytes?: number;
  /** Use the direct data connection when the server offers it (default true). */
  direct?: boolean;
  /** Aborts the transfer; the partial file is kept for a later resume. */
  signal?: AbortSignal;
  /** Called as bytes arrive with the total held so far and the blob's size. */
  onProgress?: (received: number, size: number) => void;
}

/** What {@link fetchBlob} did. */
export interface FetchBlobResult {
  /** The content id. */
  id: Hash;
  /** Size of the blob in bytes. */
  size: number;
  /** Bytes already held from an earlier interrupted fetch (0 for a fresh one). */
  resumedFrom: number;
  /** Bytes received in this call. */
  received: number;
  /** How the bytes came. */
  via: "direct" | "stream" | "local";
}

/**
 * Fetches a blob from a peer into a store, verifying its hash; resumes a partial earlier fetch.
 *
 * Fails with `PeerError`: `PEER_BLOB_NOT_FOUND` (the peer does not hold it), `PEER_BLOB_MISMATCH`
 * (the bytes do not hash to the id; the partial file is deleted), `PEER_BLOB_TOO_LARGE`,
 * `PEER_TRANSFER_INTERRUPTED` (the partial file is kept; call again to resume),
 * `PEER_RATE_LIMITED`, `PEER_UNREACHABLE`.
 *
 * @example
 * ```ts ignore
 * import { fetchBlob } from "./blobs.ts";
 * const r = await fetchBlob(host, { peer: serverPeerId, id, store });
 * const bytes = await store.get(r.id);
 * ```
 */
export async function fetchBlob(
  host: P2PHost,
  options: FetchBlobOptions,
): Promise<FetchBlobResult> {
  // One fetch of a blob into a store at a time: two would append to the same partial file (a
  // verifier auditing two slots of one job fetches its spec twice at once). A second caller
  // waits for the first, then finds the blob in the store, or fetches it itself.
  const key = options.store.pathOf(options.id);
  for (let running = fetching.get(key); running; running = fetching.get(key)) {
    await running.catch(() => {});
    options.signal?.throwIfAborted();
  }
  const run = fetchBlobAlone(host, options);
  fetching.set(key, run);
  try {
    return await run;
  } finally {
    if (fetching.get(key) === run) fetching.delete(key);
  }
}

/** Fetches under way, by the path the blob lands at. */
const fetching = new Map<string, Promise<FetchBlobResult>>();

/** {@link fetchBlob}, for a blob no other fetch into the same store is writing. */
async function fetchBlobAlone(
  host: P2PHost,
  options: FetchBlobOptions,
): Promise<FetchBlobResult> {
  const { id, store } = options;
  const maxBlobBytes = options.maxBlobBytes ?? DEFAULT_MAX_BLOB_BYTES;
  const finalPath = store.pathOf(id);
  if (await store.has(id)) {
    return {
      id,
      size: (await Deno.stat(finalPath)).size,
      resumedFrom: 0,
      received: 0,
      via: "local",
    };
  }
  options.signal?.throwIfAborted();

  const partialDir = `${store.root}/blobs/partial`;
  await Deno.mkdir(partialDir, { recursive: true });
  const partialPath = `${partialDir}/${id}`;
  const hasher = createHash("sha256");
  let offset = await hashExisting(partialPath, hasher);
  if (offset > maxBlobBytes) {
    await removeIfExists(partialPath);
    offset = 0;
    hasher.destroy?.();
    return await fetchBlobAlone(host, options);
  }

  const framed = await host.open(options.peer, BLOBS_PROTOCOL, options.signal);
  const peerName = String(options.peer);
  const onAbort = (): void => framed.abort("fetch aborted");
  options.signal?.addEventListener("abort", onAbort, { once: true });
  let dataConn: Deno.TcpConn | undefined;
  try {
    await framed.write({
      t: "get",
      id,
      offset,
      direct: options.direct ?? true,
    });
    const reply = await framed.readOne(replySchema);
    if (reply.t === "err") {
      throw new PeerError(
        reply.code.startsWith("PEER_") ? reply.code : "PEER_REFUSED",
        `${peerName} refused blob ${id}: ${reply.message}`,
        {
          value: id,
        },
      );
    }
    if (reply.size > maxBlobBytes) {
      framed.abort("blob too large");
      throw new PeerError(
        "PEER_BLOB_TOO_LARGE",
        `blob ${id} is ${reply.size} bytes, over the ${maxBlobBytes}-byte limit`,
        {
          value: reply.size,
        },
      );
    }
    if (reply.offset !== offset || reply.size < offset) {
      throw new PeerError(
        "PEER_MALFORMED",
        `peer answered offset ${reply.offset} (asked ${offset}) of a ${reply.size}-byte blob`,
      );
    }

    let source: () => Promise<Uint8Array | undefined>;
    let pending: Promise<void> = Promise.resolve();
    let via: "direct" | "stream";
    if (reply.port !== undefined && reply.ticket !== undefined) {
      const hostname = ipOf(framed.remoteAddr);
      try {
        dataConn = await Deno.connect({ hostname, port: reply.port });
      } catch (cause) {
        throw new PeerError(
          "PEER_UNREACHABLE",
          `cannot reach ${peerName}'s data port ${hostname}:${reply.port}; fetch with direct: false`,
          { cause },
        );
      }
      dataConn.setNoDelay(true);
      await writeAll(dataConn, reply.ticket);
      const conn = dataConn;
      options.signal?.addEventListener("abort", () => {
        try {
          conn.close();
        } catch {
          // Already closed at the end of the transfer.
        }
      }, { once: true });
      via = "direct";
      // Two buffers used in turn: one is written to disk while the other fills. Reusing them
      // matters here: touching fresh memory for every chunk costs more than the copy itself.
      const buffers = [new Uint8Array(CHUNK_BYTES), new Uint8Array(CHUNK_BYTES)];
      let turn = 0;
      source = async () => {
        const buf = buffers[turn++ % 2];
        let filled = 0;
        // Fill whole chunks: fewer, larger hash updates and file writes.
        while (filled < buf.length) {
          let n: number | null;
          try {
            n = await conn.read(buf.subarray(filled));
          } catch (e) {
            if (filled > 0) break;
            throw e;
          }
          if (n === null) break;
          filled += n;
        }
        return filled === 0 ? undefined : buf.subarray(0, filled);
      };
      await framed.close().catch(() => {
        // The server closes its side right after the ticket; either order is fine.
      });
    } else {
      via = "stream";
      source = () => framed.readBytes();
    }

    const expected = reply.size - offset;
    let received = 0;
    const file = await Deno.open(partialPath, { write: true, create: true, append: true });
    try {
      while (true) {
        let chunk: Uint8Array | undefined;
        try {
          chunk = await source();
        } catch (cause) {
          throw interrupted(id, offset + received, reply.size, cause);
        }
        if (chunk === undefined) break;
        if (received + chunk.length > expected) {
          await pending;
          file.close();
          await removeIfExists(partialPath);
          host.reject({
            peer: String(options.peer),
            protocol: BLOBS_PROTOCOL,
            code: "PEER_OVERSIZED",
            reason: `sent more than ${reply.size} bytes for ${id}`,
          }, true);
          throw new PeerError(
            "PEER_BLOB_MISMATCH",
            `peer sent more bytes than the ${reply.size} it announced for ${id}`,
            { value: id },
          );
        }
        hasher.update(chunk);
        // One write in flight while the next chunk is read and hashed.
        await pending;
        const c = chunk;
        pending = writeAll(file, c);
        received += chunk.length;
        options.onProgress?.(offset + received, reply.size);
        if (options.signal?.aborted) {
          throw interrupted(id, offset + received, reply.size, options.signal.reason);
        }
      }
      await pending;
    } finally {
      // Keep every byte that arrived: an interrupted fetch resumes from the partial file's length.
      await pending.catch(() => {
        // A failed write shortens the partial file; the resume offset comes from its real length.
      });
      try {
        file.close();
      } catch {
        // Closed already on the oversize path.
      }
    }
    if (received < expected) {
      throw interrupted(id, offset + received, reply.size, options.signal?.reason);
    }
    const actual = hasher.digest("hex");
    if (actual !== id) {
      await removeIfExists(partialPath);
      host.reject({
        peer: String(options.peer),
        protocol: BLOBS_PROTOCOL,
        code: "PEER_BLOB_MISMATCH",
        reason: `bytes for ${id} hash to ${actual}`,
      }, true);
      throw new PeerError(
        "PEER_BLOB_MISMATCH",
        `blob from ${options.peer} hashes to ${actual}, not ${id}; discarded it, fetch from another peer`,
        { value: { expected: id, actual } },
      );
    }
    await Deno.mkdir(finalPath.slice(0, finalPath.lastIndexOf("/")), { recursive: true });
    await Deno.rename(partialPath, finalPath);
    return { id, size: reply.size, resumedFrom: offset, received, via };
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    if (dataConn !== undefined) {
      try {
        dataConn.close();
      } catch {
        // The server or an abort closed it first.
      }
    }
    if (framed.stream.status === "open") framed.abort("done");
  }
}

function interrupted(id: Hash, held: number, size: number, cause: unknown): PeerError {
  return new PeerError(
    "PEER_TRANSFER_INTERRUPTED",
    `transfer of ${id} stopped at ${held} of ${size} bytes; the partial file is kept, fetch again to resume`,
    { value: { id, held, size }, cause },
  );
}

async function hashExisting(path: string, hasher: NodeHash): Promise<number> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return 0;
    throw e;
  }
  using f = file;
  const buf = new Uint8Array(CHUNK_BYTES);
  let total = 0;
  while (true) {
    const n = await f.read(buf);
    if (n === null) break;
    hasher.update(buf.subarray(0, n));
    total += n;
  }
  return total;
}

async function removeIfExists(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

async function writeAll(
  w: { write(p: Uint8Array): Promise<number> },
  bytes: Uint8Array,
): Promise<void> {
  let at = 0;
  while (at < bytes.length) at += await w.write(bytes.subarray(at));
}

function ticketKey(ticket: Uint8Array): string {
  return Array.from(ticket, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The IP the host listens on for TCP, for the data port to share. */
function listenHostname(host: P2PHost): string | undefined {
  for (const m of host.libp2p.getMultiaddrs()) {
    const parts = m.toString().split("/");
    if ((parts[1] === "ip4" || parts[1] === "ip6") && parts[3] === "tcp") return parts[2];
  }
  return undefined;
}

/** The IP inside a multiaddr such as `/ip4/127.0.0.1/tcp/4001/p2p/...`. */
function ipOf(addr: string | undefined): string {
  const parts = (addr ?? "").split("/");
  if (parts[1] === "ip4" || parts[1] === "ip6") return parts[2];
  throw new PeerError("PEER_UNREACHABLE", `no IP address in ${addr} for a direct transfer`);
}
