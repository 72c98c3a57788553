/**
 * Temporary folders owned by a process: removed when the owner dies, however it dies, and swept
 * by the next owner when even that failed.
 *
 * {@linkcode makeOwnedTempDir} writes an owner record (`.owner`: pid, the process's start time,
 * pid namespace and boot id) into the new folder and starts a detached watchdog (`/bin/sh`, polling
 * once a second) that removes the folder once the owner is gone, or exits when the folder is
 * removed first. A process killed with SIGKILL runs no cleanup; its watchdog still does. Should the
 * watchdog be killed too, the next {@linkcode makeOwnedTempDir} with the same prefix removes every
 * folder whose recorded owner is provably gone: same boot, same pid namespace, and the pid is free
 * or now names a process that started at another time (pids are reused; start times are not).
 * Folders of other machines, containers or boots, and folders without a record, are left alone.
 *
 * Process identity comes from Linux's `/proc/<pid>/stat` (proc(5): field 3 state, field 22
 * starttime). Elsewhere the watchdog falls back to `kill -0` and nothing is swept.
 *
 * @module
 */

import { StorageError } from "./errors.ts";

/** Name of the owner record inside an owned folder. */
export const OWNER_FILE = ".owner";

/** Who owns a folder: enough to tell, later, whether that process still runs. */
export interface DirOwner {
  /** Process id of the owner. */
  readonly pid: number;
  /** Start time of the owner in clock ticks since boot (`/proc/<pid>/stat` field 22); Linux only. */
  readonly startTicks?: string;
  /** The pid namespace the pid belongs to (`readlink /proc/self/ns/pid`); Linux only. */
  readonly pidNamespace?: string;
  /** Boot id of the machine (`/proc/sys/kernel/random/boot_id`); Linux only. */
  readonly bootId?: string;
}

/** The fields of `/proc/<pid>/stat` that identify a process and its parent. */
export interface ProcStat {
  /** State letter: `R`, `S`, `D`, `Z` (zombie: exited, not reaped), `X` (dead), ... */
  readonly state: string;
  /** Parent process id. */
  readonly ppid: number;
  /** Session id: the process's own pid when it leads a session (`setsid`). */
  readonly session: number;
  /** Start time in clock ticks since boot, as written (it can pass 2^53 on long uptimes). */
  readonly startTicks: string;
}

/**
 * Parses a `/proc/<pid>/stat` line (proc(5)). The command name, in parentheses, may itself hold
 * spaces and parentheses, so fields are counted after the last `)`.
 *
 * @example
 * ```ts
 * import { parseProcStat } from "./owned_dir.ts";
 * parseProcStat("42 (my (odd) name) S 1 42 42 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 777 0 0");
 * // { state: "S", ppid: 1, session: 42, startTicks: "777" }
 * ```
 */
export function parseProcStat(line: string): ProcStat | null {
  const fields = line.slice(line.lastIndexOf(")") + 1).trim().split(/\s+/);
  // fields[0] is field 3 of proc(5): state; [1] field 4: ppid; [3] field 6: session; [19] field
  // 22: starttime.
  if (fields.length < 20 || ![1, 3, 19].every((i) => /^\d+$/.test(fields[i]))) return null;
  return {
    state: fields[0],
    ppid: Number(fields[1]),
    session: Number(fields[3]),
    startTicks: fields[19],
  };
}

/**
 * Whether `owner` is provably gone, judged from `here` (this process's identity) and `stat`, the
 * current `/proc/<pid>/stat` of the owner's pid (`null` when there is no such process). `false`
 * whenever it cannot be told: another boot, another pid namespace, no start time recorded.
 *
 * @example
 * ```ts
 * import { ownerIsGone } from "./owned_dir.ts";
 * const here = { pid: 1, pidNamespace: "pid:[1]", bootId: "b" };
 * const owner = { pid: 7, startTicks: "100", pidNamespace: "pid:[1]", bootId: "b" };
 * ownerIsGone(owner, here, null); // true: pid 7 is free
 * ownerIsGone(owner, here, { state: "S", ppid: 1, session: 7, startTicks: "100" }); // false: runs
 * ownerIsGone(owner, here, { state: "S", ppid: 1, session: 7, startTicks: "555" }); // true: reused
 * ```
 */
export function ownerIsGone(owner: DirOwner, here: DirOwner, stat: ProcStat | null): boolean {
  if (owner.startTicks === undefined || owner.pidNamespace === undefined) return false;
  if (owner.bootId !== here.bootId || owner.pidNamespace !== here.pidNamespace) return false;
  if (stat === null) return true;
  return stat.state === "Z" || stat.state === "X" || stat.startTicks !== owner.startTicks;
}

/** Reads `/proc/<pid>/stat`; `null` when no such process exists (or there is no `/proc`). */
export async function readProcStat(pid: number): Promise<ProcStat | null> {
  try {
    return parseProcStat(await Deno.readTextFile(`/proc/${pid}/stat`));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/** This process as a {@link DirOwner}; only the pid where `/proc` is missing. */
export async function currentOwner(): Promise<DirOwner> {
  const pid = Deno.pid;
  if (Deno.build.os !== "linux") return { pid };
  const stat = await readProcStat(pid);
  if (stat === null) return { pid };
  const [pidNamespace, bootId] = await Promise.all([
    Deno.readLink("/proc/self/ns/pid"),
    Deno.readTextFile("/proc/sys/kernel/random/boot_id").then((text) => text.trim()),
  ]);
  return { pid, startTicks: stat.startTicks, pidNamespace, bootId };
}

/**
 * The folder watchdog (POSIX sh), run detached so that no signal sent to the owner's process
 * group reaches it: `$1` folder, `$2` owner pid, `$3` owner start ticks (empty: use `kill -0`).
 * The outer shell exits at once; the loop lives on, re-parented, until the folder or the owner is
 * gone.
 */
const DIR_WATCHDOG_SCRIPT = `dir=$1 pid=$2 start=$3
(
  trap '' INT HUP TERM
  alive() {
    if [ -n "$start" ]; then
      read -r stat <"/proc/$pid/stat" || return 1
      set -- \${stat##*) }
      [ "$1" != Z ] && [ "$1" != X ] && [ "\${20}" = "$start" ]
    else
      kill -0 "$pid"
    fi
  }
  while [ -d "$dir" ] && alive; do sleep 1; done
  rm -rf -- "$dir"
) </dev/null >/dev/null 2>&1 &`;

/** Options of {@linkcode makeOwnedTempDir}. */
export interface OwnedTempDirOptions {
  /** Name prefix, e.g. `gensyn-local-`; folders with it and a dead owner are swept. */
  prefix: string;
  /** Parent folder. Default: Deno's temporary folder (`$TMPDIR`, else `/tmp`). */
  dir?: string;
}

/**
 * Creates a temporary folder owned by this process: a watchdog removes it once this process is
 * gone (even after SIGKILL), and folders with the same prefix whose owners died are swept.
 * Removing it when done is still the owner's job (`Deno.remove(path, { recursive: true })`).
 *
 * @example
 * ```ts
 * import { makeOwnedTempDir } from "./owned_dir.ts";
 * const dir = await makeOwnedTempDir({ prefix: "gensyn-local-" });
 * await Deno.writeTextFile(`${dir}/notes.txt`, "scratch");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function makeOwnedTempDir(options: OwnedTempDirOptions): Promise<string> {
  const path = await Deno.makeTempDir({ prefix: options.prefix, dir: options.dir });
  const owner = await currentOwner();
  await Deno.writeTextFile(`${path}/${OWNER_FILE}`, JSON.stringify(owner) + "\n");
  const watchdog = await new Deno.Command("/bin/sh", {
    args: [
      "-c",
      DIR_WATCHDOG_SCRIPT,
      "owned-dir-watchdog",
      path,
      String(owner.pid),
      owner.startTicks ?? "",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
    detached: true,
  }).output();
  if (!watchdog.success) {
    await Deno.remove(path, { recursive: true });
    throw new StorageError(
      "STORAGE_WATCHDOG",
      `/bin/sh could not start the watchdog of ${path} (exit ${watchdog.code}); check that ` +
        "/bin/sh is a POSIX shell",
      { value: path },
    );
  }
  await sweepOwnedTempDirs({ prefix: options.prefix, dir: path.slice(0, path.lastIndexOf("/")) });
  return path;
}

/** Options of {@linkcode sweepOwnedTempDirs}. */
export interface SweepOptions {
  /** Name prefix of the folders to look at. */
  prefix: string;
  /** Folder to look in. Default: Deno's temporary folder (`$TMPDIR`, else `/tmp`). */
  dir?: string;
}

/**
 * Removes the folders named `<dir>/<prefix>*` whose recorded owner is provably gone (see
 * {@linkcode ownerIsGone}); returns their paths. Folders without a record are left alone.
 *
 * @example
 * ```ts
 * import { sweepOwnedTempDirs } from "./owned_dir.ts";
 * const removed = await sweepOwnedTempDirs({ prefix: "gensyn-local-" });
 * console.log(`${removed.length} leftover folders removed`);
 * ```
 */
export async function sweepOwnedTempDirs(options: SweepOptions): Promise<string[]> {
  const here = await currentOwner();
  if (here.startTicks === undefined) return [];
  const dir = options.dir ?? (Deno.env.get("TMPDIR") || "/tmp");
  const removed: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isDirectory || !entry.name.startsWith(options.prefix)) continue;
    const path = `${dir}/${entry.name}`;
    const owner = await readOwner(path);
    if (owner === null || owner.pid === here.pid) continue;
    if (!ownerIsGone(owner, here, await readProcStat(owner.pid))) continue;
    try {
      await Deno.remove(path, { recursive: true });
      removed.push(path);
    } catch (e) {
      // NotFound: its own watchdog, or another sweeper, removed it first. PermissionDenied:
      // another user's folder in a shared /tmp; theirs to sweep.
      if (!(e instanceof Deno.errors.NotFound || e instanceof Deno.errors.PermissionDenied)) {
        throw e;
      }
    }
  }
  return removed;
}

/** The owner record of `path`; `null` when it has none (or not yet) or it is unreadable. */
async function readOwner(path: string): Promise<DirOwner | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(`${path}/${OWNER_FILE}`);
  } catch (e) {
    // No record: not ours to judge, or created a moment ago and not written yet.
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.PermissionDenied) return null;
    throw e;
  }
  try {
    const owner = JSON.parse(text) as DirOwner;
    return Number.isInteger(owner.pid) ? owner : null;
  } catch {
    // A torn or foreign record proves nothing about the owner: leave the folder.
    return null;
  }
}
