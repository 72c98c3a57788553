/**
 * The project's Jupyter kernelspec: Deno's kernel with this toolkit's name, `NO_COLOR=1`, a
 * launcher that ties the kernel's life to Jupyter's, and interrupts by signal, pointing at a given
 * Deno binary; and its installation into a Jupyter data folder.
 *
 * The template lives in `kernels/gensyn-deno/kernel.json`; installing fills in the path of the Deno
 * that runs the installer, so notebooks run on the same Deno as the tasks and tests.
 *
 * The launcher (`/bin/sh -c`, before `exec`ing `deno jupyter`, so the kernel keeps its pid):
 * - forks a watchdog that checks once a second that the kernel's parent is still the Jupyter
 *   process that started it; when Jupyter dies, even by SIGKILL (a killed `nbconvert`, a crashed
 *   server), the kernel is re-parented and the watchdog stops it (SIGTERM, SIGKILL after 5 s). Deno
 *   exits on SIGTERM without cleanup; what it started is tethered (`core/watchdog.ts`,
 *   `core/owned_dir.ts`) and goes with it.
 * - ignores SIGINT, and `interrupt_mode` is `"signal"`: Deno's own message interrupt terminates
 *   whatever JavaScript runs next, which leaves a cell that awaits a promise hanging for good (see
 *   `node/interrupt.ts`). A signal reaches waits that listen for it (`followJob`,
 *   `interruptible(...)`) and is ignored otherwise.
 *
 * @module
 */

import { SpecError, StorageError } from "../core/errors.ts";

/** Name of the project's kernel: notebooks name it in `metadata.kernelspec.name`. */
export const KERNEL_NAME = "gensyn-deno";

/** What Jupyter frontends show for the kernel. */
export const KERNEL_DISPLAY_NAME = "Deno (verifiable training)";

/** A Jupyter kernelspec (`kernel.json`). */
export interface KernelSpec {
  /**
   * Command line that starts the kernel: the launcher, then Deno and its arguments;
   * `{connection_file}` is filled in by Jupyter.
   */
  readonly argv: readonly string[];
  /** Name shown by frontends. */
  readonly display_name: string;
  /** Language of the kernel. */
  readonly language: string;
  /** Environment variables of the kernel process. */
  readonly env: Readonly<Record<string, string>>;
  /** How Jupyter interrupts the kernel: `"signal"` (SIGINT, which the launcher ignores by default). */
  readonly interrupt_mode: "signal" | "message";
  /** Extra metadata. */
  readonly metadata?: Readonly<Record<string, unknown>>;
}

const TEMPLATE_URL = new URL(`../../kernels/${KERNEL_NAME}/kernel.json`, import.meta.url);

/** The placeholder for the Deno binary in the template's `argv`. */
const DENO_PLACEHOLDER = "deno";

/**
 * The kernelspec template from `kernels/gensyn-deno/kernel.json`, with its `deno` argument set to
 * `denoPath`. On Windows, which has no `/bin/sh`, the kernel runs without the launcher.
 *
 * @example
 * ```ts
 * import { kernelSpec } from "./kernelspec.ts";
 * const spec = await kernelSpec(Deno.execPath());
 * console.log(spec.argv.slice(-5).join(" "));
 * // /usr/local/bin/deno jupyter --kernel --conn {connection_file}
 * ```
 */
export async function kernelSpec(
  denoPath: string,
  os: typeof Deno.build.os = Deno.build.os,
): Promise<KernelSpec> {
  const template = JSON.parse(await Deno.readTextFile(TEMPLATE_URL)) as KernelSpec;
  const at = Array.isArray(template.argv) ? template.argv.indexOf(DENO_PLACEHOLDER) : -1;
  if (at < 0 || template.argv.lastIndexOf(DENO_PLACEHOLDER) !== at) {
    throw new SpecError(
      "SPEC_INVALID_KERNELSPEC",
      `${TEMPLATE_URL.pathname} must have an argv list naming the Deno binary as "deno", once`,
      { value: template.argv },
    );
  }
  const deno = [denoPath, ...template.argv.slice(at + 1)];
  if (os === "windows") return { ...template, argv: deno, interrupt_mode: "message" };
  return { ...template, argv: [...template.argv.slice(0, at), ...deno] };
}

/**
 * The Deno binary a kernelspec runs (its `argv` starts with the launcher).
 *
 * @example
 * ```ts
 * import { kernelDenoPath, kernelSpec } from "./kernelspec.ts";
 * kernelDenoPath(await kernelSpec("/opt/deno")); // "/opt/deno"
 * ```
 */
export function kernelDenoPath(spec: KernelSpec): string {
  return spec.argv[spec.argv.indexOf("jupyter") - 1];
}

/** Where to install: the user's Jupyter data folder, or under an environment prefix. */
export interface KernelsDirOptions {
  /** Install under `<prefix>/share/jupyter/kernels` (like `jupyter kernelspec install --prefix`). */
  prefix?: string;
  /** Environment to read (`JUPYTER_DATA_DIR`, `HOME`, `APPDATA`). Default `Deno.env`. */
  env?: (name: string) => string | undefined;
  /** Operating system. Default `Deno.build.os`. */
  os?: typeof Deno.build.os;
}

/**
 * The Jupyter `kernels` folder: `<prefix>/share/jupyter/kernels` with a prefix, else the user's
 * data folder as `jupyter --data-dir` reports it: `$JUPYTER_DATA_DIR`, or `~/.local/share/jupyter`
 * (Linux; `$XDG_DATA_HOME/jupyter` when set), `~/Library/Jupyter` (macOS), `%APPDATA%\jupyter`
 * (Windows), followed by `/kernels`.
 *
 * @example
 * ```ts
 * import { kernelsDir } from "./kernelspec.ts";
 * kernelsDir({ env: (n) => ({ HOME: "/home/ada" })[n], os: "linux" });
 * // "/home/ada/.local/share/jupyter/kernels"
 * ```
 */
export function kernelsDir(options: KernelsDirOptions = {}): string {
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  const os = options.os ?? Deno.build.os;
  const sep = os === "windows" ? "\\" : "/";
  if (options.prefix !== undefined) return join(sep, options.prefix, "share", "jupyter", "kernels");
  const dataDir = env("JUPYTER_DATA_DIR");
  if (dataDir) return join(sep, dataDir, "kernels");
  if (os === "windows") {
    const appData = env("APPDATA");
    if (!appData) throw missingHome("APPDATA");
    return join(sep, appData, "jupyter", "kernels");
  }
  const home = env("HOME");
  if (os === "darwin") {
    if (!home) throw missingHome("HOME");
    return join(sep, home, "Library", "Jupyter", "kernels");
  }
  const xdg = env("XDG_DATA_HOME");
  if (xdg) return join(sep, xdg, "jupyter", "kernels");
  if (!home) throw missingHome("HOME");
  return join(sep, home, ".local", "share", "jupyter", "kernels");
}

/** Options of {@link installKernelSpec}. */
export interface InstallKernelSpecOptions extends KernelsDirOptions {
  /** The Deno binary the kernel runs. Default `Deno.execPath()`, the Deno running this code. */
  denoPath?: string;
}

/** What {@link installKernelSpec} did. */
export interface InstalledKernelSpec {
  /** Folder holding the installed `kernel.json`. */
  readonly dir: string;
  /** The installed spec. */
  readonly spec: KernelSpec;
  /** False when an identical spec was already installed there (nothing was written). */
  readonly changed: boolean;
}

/**
 * Installs the project's kernelspec (idempotent: an identical installed spec is left untouched,
 * a different one is replaced).
 *
 * @example
 * ```ts
 * import { installKernelSpec } from "./kernelspec.ts";
 * const { dir } = await installKernelSpec({ env: (n) => ({ JUPYTER_DATA_DIR: "/tmp/jupyter" })[n] });
 * console.log(dir); // /tmp/jupyter/kernels/gensyn-deno
 * ```
 */
export async function installKernelSpec(
  options: InstallKernelSpecOptions = {},
): Promise<InstalledKernelSpec> {
  const spec = await kernelSpec(options.denoPath ?? Deno.execPath(), options.os);
  const sep = (options.os ?? Deno.build.os) === "windows" ? "\\" : "/";
  const dir = join(sep, kernelsDir(options), KERNEL_NAME);
  const file = join(sep, dir, "kernel.json");
  const text = JSON.stringify(spec, null, 2) + "\n";
  let current: string | null = null;
  try {
    current = await Deno.readTextFile(file);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw writeError(file, e);
  }
  if (current === text) return { dir, spec, changed: false };
  try {
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(file, text);
  } catch (e) {
    throw writeError(file, e);
  }
  return { dir, spec, changed: true };
}

function join(sep: string, ...parts: string[]): string {
  return parts.map((p, i) => i === 0 ? p.replace(/[\\/]+$/, "") : p.replace(/^[\\/]+|[\\/]+$/g, ""))
    .join(sep);
}

function missingHome(variable: string): SpecError {
  return new SpecError(
    "SPEC_NO_JUPYTER_DIR",
    `cannot find the Jupyter data folder: ${variable} is not set; set JUPYTER_DATA_DIR or pass ` +
      "--prefix",
    { value: variable },
  );
}

function writeError(file: string, cause: unknown): StorageError {
  return new StorageError(
    "STORAGE_KERNELSPEC_WRITE",
    `cannot write ${file}: ${cause instanceof Error ? cause.message : cause}; choose a writable ` +
      "folder with --prefix or JUPYTER_DATA_DIR",
    { value: file, cause },
  );
}
