/**
 * A content-addressed blob store on disk: `<root>/blobs/sha256/ab/cdef...`.
 *
 * Blobs (checkpoints, specs, datasets, traces) are stored under the SHA-256 of their bytes and
 * checked against it on every read, so a corrupted or truncated file is reported, never used.
 * Writes go to a temporary file first and are renamed into place, so a crash mid-write never
 * leaves a partial blob under a valid name.
 *
 * @module
 */

import { StorageError } from "../core/errors.ts";
import { type Hash, isHash, sha256Hex } from "../core/hash.ts";

/**
 * Blobs by content id in a folder.
 *
 * @example
 * ```ts
 * import { BlobStore } from "./store.ts";
 * const store = new BlobStore(await Deno.makeTempDir());
 * const id = await store.put(new TextEncoder().encode("hello"));
 * const bytes = await store.get(id);
 * ```
 */
export class BlobStore {
  /** Folder holding the `blobs/` tree. */
  readonly root: string;

  /** Opens (lazily creates) a store rooted at `root`. */
  constructor(root: string) {
    this.root = root;
  }

  /** Path of a blob's file (whether or not it exists). */
  pathOf(hash: Hash): string {
    if (!isHash(hash)) {
      throw new StorageError(
        "STORAGE_BAD_HASH",
        `"${hash}" is not a SHA-256 content id (64 lowercase hex characters)`,
        { value: hash },
      );
    }
    return `${this.root}/blobs/sha256/${hash.slice(0, 2)}/${hash.slice(2)}`;
  }

  /** Stores bytes and returns their content id. */
  async put(bytes: Uint8Array): Promise<Hash> {
    const hash = await sha256Hex(bytes);
    await this.putVerified(hash, bytes);
    return hash;
  }

  /** Stores bytes whose hash the caller has just computed (skips hashing them again). */
  async putVerified(hash: Hash, bytes: Uint8Array): Promise<void> {
    const { path, dir, tmp } = this.#placement(hash);
    if (await exists(path)) return;
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeFile(tmp, bytes);
    await Deno.rename(tmp, path);
  }

  /**
   * {@link BlobStore.putVerified}, blocking: for a worker thread that does its file work on its
   * own thread (Deno runs async file operations on a shared thread pool).
   */
  putVerifiedSync(hash: Hash, bytes: Uint8Array): void {
    const { path, dir, tmp } = this.#placement(hash);
    if (existsSync(path)) return;
    Deno.mkdirSync(dir, { recursive: true });
    Deno.writeFileSync(tmp, bytes);
    Deno.renameSync(tmp, path);
  }

  /** Where a blob goes, and a temporary file to write it to first. */
  #placement(hash: Hash): { path: string; dir: string; tmp: string } {
    const path = this.pathOf(hash);
    const dir = path.slice(0, path.lastIndexOf("/"));
    // Unique across every store object and thread writing to this folder (a checkpoint writer's
    // worker has its own), so concurrent writes never share a temporary file.
    return { path, dir, tmp: `${dir}/.tmp-${Deno.pid}-${crypto.randomUUID()}` };
  }

  /** True if the store holds the blob. */
  has(hash: Hash): Promise<boolean> {
    return exists(this.pathOf(hash));
  }

  /** Reads a blob and checks it against its id; fails with a `StorageError` if missing or corrupt. */
  async get(hash: Hash): Promise<Uint8Array<ArrayBuffer>> {
    const path = this.pathOf(hash);
    let bytes: Uint8Array<ArrayBuffer>;
    try {
      bytes = await Deno.readFile(path);
    } catch (cause) {
      if (cause instanceof Deno.errors.NotFound) {
        throw new StorageError(
          "STORAGE_MISSING_BLOB",
          `blob ${hash} is not in the store at ${this.root}; fetch it from a peer that holds it`,
          { value: hash, cause },
        );
      }
      throw cause;
    }
    const actual = await sha256Hex(bytes);
    if (actual !== hash) {
      throw new StorageError(
        "STORAGE_CORRUPT_BLOB",
        `blob ${hash} on disk hashes to ${actual}: the file is corrupted or truncated; delete ` +
          `${path} and fetch it again`,
        { value: { expected: hash, actual } },
      );
    }
    return bytes;
  }
}

function existsSync(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}
