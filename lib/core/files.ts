/**
 * Files a node writes while it runs: each JSON file is replaced whole or not at all, so a node
 * killed mid-write finds the previous version on restart, never half of the new one.
 *
 * @module
 */

/**
 * Writes `value` as JSON to `path` atomically: to a temporary file beside it, then renamed over
 * it (a rename within one folder is atomic). Concurrent writers of one path never share a
 * temporary file; the last rename wins. `mode` sets the file's permissions (e.g. `0o600` for a
 * key file that other users must not read).
 *
 * @example
 * ```ts
 * import { writeJsonAtomic } from "./files.ts";
 * const dir = await Deno.makeTempDir();
 * await writeJsonAtomic(`${dir}/state.json`, { step: 3 }, { indent: 1 });
 * console.log(await Deno.readTextFile(`${dir}/state.json`));
 * ```
 */
export async function writeJsonAtomic(
  path: string,
  value: unknown,
  options: { indent?: number; mode?: number } = {},
): Promise<void> {
  const tmp = `${path}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    await Deno.writeTextFile(
      tmp,
      JSON.stringify(value, null, options.indent) + "\n",
      options.mode === undefined ? {} : { mode: options.mode },
    );
    await Deno.rename(tmp, path);
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    throw error;
  }
}
