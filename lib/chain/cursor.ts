/**
 * Where a log follower stands: the first block whose logs it has not delivered and seen processed.
 * A follower that saves its cursor resumes there after a restart instead of reading the chain
 * from block 0 again ({@linkcode followLogs}). Delivery is at least once: the cursor is saved after
 * a batch was processed, so a crash in between delivers that batch again.
 *
 * Two cursors: {@linkcode fileCursor} keeps the block in a file (written atomically, temporary
 * file then rename, so a crash leaves the old block or the new one), and {@linkcode heldCursor}
 * wraps another so that it never saves past a block whose work is still running (a consumer that
 * hands logs on to a queue keeps the block of each one until its work is done).
 *
 * @module
 */

import { StorageError } from "../core/errors.ts";
import { writeJsonAtomic } from "../core/files.ts";

/** A durable block cursor: the first block not yet processed. */
export interface BlockCursor {
  /** The saved block, or `undefined` when none was saved (start from the follower's `fromBlock`). */
  load(): Promise<bigint | undefined>;
  /** Saves `block`: every block before it was processed. */
  save(block: bigint): Promise<void>;
}

/** Options of {@linkcode fileCursor}. */
export interface FileCursorOptions {
  /**
   * The chain the cursor belongs to, e.g. its genesis block hash. A file saved for another chain
   * (a data folder reused on a fresh devnet) loads as `undefined`, so the follower starts over
   * instead of skipping the new chain's first blocks. Default: not checked.
   */
  chain?: string;
}

/** The file's shape. */
interface SavedCursor {
  block: string;
  chain?: string;
}

/**
 * A cursor kept in a JSON file at `path` (its folder is created on the first save). Saves are
 * atomic and run one at a time in call order.
 *
 * @example
 * ```ts
 * import { fileCursor } from "./cursor.ts";
 * const dir = await Deno.makeTempDir();
 * const cursor = fileCursor(`${dir}/commits.json`, { chain: "0xabc" });
 * await cursor.save(120n);
 * console.log(await cursor.load()); // 120n
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function fileCursor(path: string, options: FileCursorOptions = {}): BlockCursor {
  let writes: Promise<void> = Promise.resolve();
  const write = async (block: bigint): Promise<void> => {
    const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : ".";
    await Deno.mkdir(dir, { recursive: true });
    const saved: SavedCursor = {
      block: block.toString(),
      ...(options.chain === undefined ? {} : { chain: options.chain }),
    };
    await writeJsonAtomic(path, saved);
  };
  return {
    async load(): Promise<bigint | undefined> {
      let text: string;
      try {
        text = await Deno.readTextFile(path);
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) return undefined;
        throw error;
      }
      const saved = parseCursor(text, path);
      if (options.chain !== undefined && saved.chain !== options.chain) return undefined;
      return BigInt(saved.block);
    },
    save(block: bigint): Promise<void> {
      // One write at a time: two writers of one temporary file would rename each other's bytes.
      const next = writes.then(() => write(block));
      writes = next.catch(() => {
        // This save's caller gets its error from `next`; later saves still run.
      });
      return next;
    },
  };
}

/** The cursor file's content, checked. */
function parseCursor(text: string, path: string): SavedCursor {
  let saved: unknown;
  try {
    saved = JSON.parse(text);
  } catch (error) {
    throw corrupt(path, text, error);
  }
  const { block, chain } = (saved ?? {}) as Partial<SavedCursor>;
  if (typeof block !== "string" || !/^\d+$/.test(block)) throw corrupt(path, text);
  if (chain !== undefined && typeof chain !== "string") throw corrupt(path, text);
  return { block, ...(chain === undefined ? {} : { chain }) };
}

function corrupt(path: string, text: string, cause?: unknown): StorageError {
  return new StorageError(
    "STORAGE_CORRUPT_CURSOR",
    `the block cursor ${path} holds ${JSON.stringify(text.slice(0, 80))}, not a saved block; ` +
      "delete the file to read the chain from the start again",
    { value: path, cause },
  );
}

/** A cursor that keeps blocks back while their work runs ({@linkcode heldCursor}). */
export interface HeldCursor extends BlockCursor {
  /**
   * Keeps the saved block at or below `block` until the returned release is called; releasing
   * saves again when the hold was what kept the cursor back. Call it while the batch holding
   * `block` is processed, before the follower saves past it.
   */
  hold(block: bigint): () => Promise<void>;
}

/**
 * Wraps `cursor` so that it saves the least of the block the follower reached and the blocks still
 * held: a consumer that queues work for a log holds the log's block until the work is done, so a
 * restart delivers again every log whose work had not finished.
 *
 * @example
 * ```ts
 * import { fileCursor, heldCursor } from "./cursor.ts";
 * const dir = await Deno.makeTempDir();
 * const cursor = heldCursor(fileCursor(`${dir}/commits.json`));
 * const release = cursor.hold(100n); // an audit of a log in block 100 starts
 * await cursor.save(150n); // the follower read up to block 149
 * console.log(await cursor.load()); // 100n
 * await release(); // the audit finished
 * console.log(await cursor.load()); // 150n
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function heldCursor(cursor: BlockCursor): HeldCursor {
  const held = new Map<number, bigint>();
  let nextHold = 0;
  let reached: bigint | undefined;
  let saved: bigint | undefined;
  const persist = (): Promise<void> => {
    if (reached === undefined) return Promise.resolve();
    let block = reached;
    for (const h of held.values()) if (h < block) block = h;
    if (block === saved) return Promise.resolve();
    saved = block;
    return cursor.save(block).catch((error) => {
      saved = undefined; // not saved after all: the next call writes again
      throw error;
    });
  };
  return {
    load: () => cursor.load(),
    save(block: bigint): Promise<void> {
      reached = block;
      return persist();
    },
    hold(block: bigint): () => Promise<void> {
      const id = nextHold++;
      held.set(id, block);
      return () => {
        if (!held.delete(id)) return Promise.resolve();
        return persist();
      };
    },
  };
}
