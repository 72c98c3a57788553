/**
 * The module's shape, as a user outside this repository meets it: notebooks use only the public
 * entry points (what a researcher can write too), `lib/` never reaches into the test harnesses or
 * their property-testing library, and every subpath export names a file that exists.
 */

import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);

/** Every `import ... from "X"` / `import("X")` specifier in a source text. */
function specifiers(source: string): string[] {
  const found: string[] = [];
  for (const m of source.matchAll(/(?:from|import)\s*\(?\s*"([^"]+)"/g)) found.push(m[1]);
  return found;
}

async function* files(dir: URL, ext: string): AsyncGenerator<URL> {
  for await (const entry of Deno.readDir(dir)) {
    const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
    if (entry.isDirectory) yield* files(url, ext);
    else if (entry.name.endsWith(ext)) yield url;
  }
}

/** The code of a notebook's code cells. */
async function notebookCode(url: URL): Promise<string> {
  const nb = JSON.parse(await Deno.readTextFile(url)) as {
    cells: { cell_type: string; source: string | string[] }[];
  };
  return nb.cells.filter((c) => c.cell_type === "code")
    .map((c) => Array.isArray(c.source) ? c.source.join("") : c.source).join("\n");
}

Deno.test("notebooks and their helpers import only the public entry points", async () => {
  const offending: string[] = [];
  const dir = new URL("notebooks/", ROOT);
  const sources: [string, string][] = [];
  for await (const url of files(dir, ".ipynb")) {
    sources.push([url.pathname, await notebookCode(url)]);
  }
  for await (const url of files(dir, ".ts")) {
    sources.push([url.pathname, await Deno.readTextFile(url)]);
  }
  assert.ok(sources.length >= 7, `found ${sources.length} notebook sources`);
  for (const [path, code] of sources) {
    for (const spec of specifiers(code)) {
      if (/(^|\/)(lib|tests|testing)\//.test(spec) || spec.endsWith("/mod.ts")) {
        offending.push(`${path.slice(ROOT.pathname.length)}: ${spec}`);
      }
    }
  }
  assert.deepEqual(offending, [], "import `@gensyn-deno/toolkit` or one of its subpaths instead");
});

Deno.test("lib/ never imports the harnesses, the tests or fast-check", async () => {
  const offending: string[] = [];
  for await (const url of files(new URL("lib/", ROOT), ".ts")) {
    const path = url.pathname.slice(ROOT.pathname.length);
    for (const spec of specifiers(await Deno.readTextFile(url))) {
      if (spec.includes("fast-check") || /(^|\/)(tests|testing)\//.test(spec)) {
        offending.push(`${path}: ${spec}`);
      }
    }
  }
  assert.deepEqual(offending, []);
});

Deno.test("deno.json exports the root and one entry point per layer, each a file here", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT))) as {
    name: string;
    exports: Record<string, string>;
  };
  const entries = Object.entries(config.exports);
  for (const sub of [".", "./exec", "./proof", "./chain", "./p2p", "./node", "./diloco"]) {
    assert.ok(config.exports[sub], `no ${sub} export`);
  }
  assert.ok(config.exports["./testing"], "no ./testing export for the harnesses");
  for (const [sub, path] of entries) {
    const stat = await Deno.stat(new URL(path, ROOT));
    assert.ok(stat.isFile, `${sub} -> ${path} is not a file`);
  }
  // The package resolves its own name, as a notebook here and a user's code there write it.
  const core = await import(`${config.name}/core`);
  assert.equal(typeof core.sha256Hex, "function");
});
