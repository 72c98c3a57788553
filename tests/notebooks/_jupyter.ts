/**
 * The real tools the notebook tests drive: Jupyter's `nbconvert` (execute a notebook headless on
 * a kernel, export it to HTML) and headless Chromium (load the HTML, lay it out, report what was
 * drawn). Missing tools fail loudly with the command that installs them.
 *
 * @module
 */

import assert from "node:assert/strict";

/** How to install what the notebook tests need on Debian (what `.ci/run` does). */
export const INSTALL_HINT = "install them with `apt-get install -y jupyter-nbconvert " +
  "python3-nbclient jupyter-client chromium` (on Debian; `deno task test` does this itself when it runs as root)";

/** Paths of the tools, found on PATH. */
export interface Tools {
  /** The `jupyter` command. */
  readonly jupyter: string;
  /** The Chromium binary (`$CHROMIUM`, else `chromium` on PATH, else `chromium-browser`). */
  readonly chromium: string;
}

/** Output of a finished command. */
interface Finished {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to completion; kills it when `timeoutMs` passes. */
export async function runCommand(
  cmd: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; timeoutMs: number },
): Promise<Finished> {
  const child = new Deno.Command(cmd, {
    args,
    cwd: options.cwd,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch {
      // It exited between the timeout firing and the kill: nothing left to stop.
    }
  }, options.timeoutMs);
  try {
    const out = await child.output();
    const decoder = new TextDecoder();
    const stderr = decoder.decode(out.stderr);
    if (timedOut) {
      throw new Error(
        `${cmd} ${args.join(" ")} did not finish within ${options.timeoutMs} ms; its stderr:\n` +
          tail(stderr),
      );
    }
    return { code: out.code, stdout: decoder.decode(out.stdout), stderr };
  } finally {
    clearTimeout(timer);
  }
}

/** The last lines of a long text. */
export function tail(text: string, lines = 40): string {
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}

async function which(name: string): Promise<string | null> {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (!dir) continue;
    const path = `${dir}/${name}`;
    try {
      const info = await Deno.stat(path);
      if (info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) return path;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound || e instanceof Deno.errors.PermissionDenied)) {
        throw e;
      }
    }
  }
  return null;
}

/** Finds Jupyter (with nbconvert and nbclient) and Chromium, or fails saying how to install them. */
export async function requireTools(): Promise<Tools> {
  const jupyter = await which("jupyter");
  assert(
    jupyter !== null,
    `the notebook tests need Jupyter, which is not on PATH; ${INSTALL_HINT}`,
  );
  const nbconvert = await runCommand(jupyter, ["nbconvert", "--version"], { timeoutMs: 60_000 });
  assert.equal(
    nbconvert.code,
    0,
    `\`jupyter nbconvert\` does not run (${tail(nbconvert.stderr, 5)}); ${INSTALL_HINT}`,
  );
  const chromium = Deno.env.get("CHROMIUM") ?? await which("chromium") ??
    await which("chromium-browser");
  assert(
    chromium !== null,
    `the notebook render check needs Chromium, which is not on PATH; ${INSTALL_HINT}`,
  );
  return { jupyter, chromium };
}

/** Options of {@link executeNotebook}. */
export interface ExecuteOptions {
  /** The notebook to run. */
  notebook: string;
  /** Folder for the executed copy. */
  outDir: string;
  /** Environment of Jupyter and the kernel (JUPYTER_DATA_DIR pointing at the test's kernelspec). */
  env: Record<string, string>;
  /** Per-cell timeout in seconds; the whole run is killed after three times that. */
  cellTimeoutS: number;
}

/** Executes a notebook headless with `jupyter nbconvert --execute`; returns the executed copy's path. */
export async function executeNotebook(tools: Tools, options: ExecuteOptions): Promise<string> {
  const name = options.notebook.split("/").pop()!;
  const result = await runCommand(tools.jupyter, [
    "nbconvert",
    "--to",
    "notebook",
    "--execute",
    `--ExecutePreprocessor.timeout=${options.cellTimeoutS}`,
    "--output-dir",
    options.outDir,
    options.notebook,
  ], { env: options.env, timeoutMs: 3 * options.cellTimeoutS * 1000 });
  assert.equal(
    result.code,
    0,
    `executing ${name} failed (a cell raised, or the kernel did not start):\n` +
      tail(result.stderr) +
      (/No module named/.test(result.stderr)
        ? `\nA Jupyter package is missing; ${INSTALL_HINT}`
        : ""),
  );
  return `${options.outDir}/${name}`;
}

/** Exports an executed notebook to HTML (nbconvert's default lab template); returns its path. */
export async function exportHtml(
  tools: Tools,
  notebook: string,
  env: Record<string, string>,
): Promise<string> {
  const result = await runCommand(
    tools.jupyter,
    ["nbconvert", "--to", "html", notebook],
    { env, timeoutMs: 120_000 },
  );
  assert.equal(result.code, 0, `exporting ${notebook} to HTML failed:\n${tail(result.stderr)}`);
  return notebook.replace(/\.ipynb$/, ".html");
}

/** What the browser drew for one Observable Plot SVG of the page. */
export interface DrawnPlot {
  /** Index of the notebook cell holding the plot. */
  readonly cell: number;
  /** Aria labels of the plot's mark groups (axes and grids excluded) with a non-empty box. */
  readonly marks: readonly string[];
  /** Laid-out width in CSS pixels. */
  readonly width: number;
  /** Laid-out height in CSS pixels. */
  readonly height: number;
}

/** What the render check measured in the browser. */
export interface RenderReport {
  /** Every Plot SVG in the cell outputs. */
  readonly plots: readonly DrawnPlot[];
  /** Count of elements matching each selector asked for. */
  readonly selectors: Readonly<Record<string, number>>;
  /** Error outputs shown on the page. */
  readonly errorOutputs: number;
  /** Height of the laid-out page in CSS pixels (the full-page screenshot is this tall). */
  readonly pageHeight: number;
}

/**
 * Runs in the page after it is laid out: measures every Plot SVG's mark groups with `getBBox`
 * (a blank or failed plot has none with a size) and counts the selectors; the report goes into an
 * attribute of `<body>` that `--dump-dom` carries out.
 */
function probeScript(selectors: readonly string[]): string {
  return `<script>(() => {
  const cells = [...document.querySelectorAll(".jp-Cell")];
  const plots = [...document.querySelectorAll(".jp-OutputArea-output svg")]
    .filter((svg) => [...svg.classList].some((c) => c.startsWith("plot-")))
    .map((svg) => {
      const marks = [...svg.querySelectorAll(":scope > g[aria-label]")]
        .filter((g) => !/axis|grid/.test(g.getAttribute("aria-label")))
        .filter((g) => { const b = g.getBBox(); return b.width > 0 || b.height > 0; })
        .map((g) => g.getAttribute("aria-label"));
      const box = svg.getBoundingClientRect();
      return { cell: cells.indexOf(svg.closest(".jp-Cell")), marks, width: box.width, height: box.height };
    });
  const selectors = Object.fromEntries(${
    JSON.stringify(selectors)
  }.map((s) => [s, document.querySelectorAll(s).length]));
  const errorOutputs = document.querySelectorAll(
    '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]').length;
  const pageHeight = document.documentElement.scrollHeight;
  const json = JSON.stringify({ plots, selectors, errorOutputs, pageHeight });
  document.body.setAttribute("data-render-check", btoa(unescape(encodeURIComponent(json))));
})();</script>`;
}

/** Options of {@link renderInChromium}. */
export interface RenderOptions {
  /** The exported HTML. */
  html: string;
  /** Selectors to count in the rendered page. */
  selectors: readonly string[];
  /** Scratch folder (Chromium's profile goes here). */
  tmpDir: string;
  /** Also save a full-page screenshot here (PNG). */
  screenshot?: string;
}

/** Tallest screenshot taken, in CSS pixels (Chromium's compositor caps textures at 16384). */
const MAX_SCREENSHOT_HEIGHT = 16_000;

const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--hide-scrollbars",
];

/** Loads the HTML in headless Chromium and reports what it drew. */
export async function renderInChromium(
  tools: Tools,
  options: RenderOptions,
): Promise<RenderReport> {
  const probed = options.html.replace(/\.html$/, ".probed.html");
  const page = await Deno.readTextFile(options.html);
  const at = page.lastIndexOf("</body>");
  assert(at >= 0, `${options.html} has no </body>`);
  await Deno.writeTextFile(
    probed,
    page.slice(0, at) + probeScript(options.selectors) + page.slice(at),
  );
  const flags = [...CHROMIUM_FLAGS, `--user-data-dir=${options.tmpDir}/chromium-profile`];
  const url = `file://${probed}`;
  const dumped = await runCommand(
    tools.chromium,
    [...flags, "--window-size=1100,1000", "--dump-dom", url],
    { timeoutMs: 90_000 },
  );
  assert.equal(dumped.code, 0, `chromium failed to load ${url}:\n${tail(dumped.stderr)}`);
  const match = dumped.stdout.match(/data-render-check="([A-Za-z0-9+/=]+)"/);
  assert(match, `the page's render probe did not run in chromium:\n${tail(dumped.stderr)}`);
  const bytes = Uint8Array.from(atob(match[1]), (c) => c.charCodeAt(0));
  const report = JSON.parse(new TextDecoder().decode(bytes)) as RenderReport;
  if (options.screenshot) {
    // As tall as the page (the window is the screenshot), within what Chromium will capture.
    const height = Math.min(MAX_SCREENSHOT_HEIGHT, Math.max(1000, Math.ceil(report.pageHeight)));
    const shot = await runCommand(
      tools.chromium,
      [...flags, `--window-size=1100,${height}`, `--screenshot=${options.screenshot}`, url],
      { timeoutMs: 90_000 },
    );
    assert.equal(shot.code, 0, `chromium could not screenshot ${url}:\n${tail(shot.stderr)}`);
  }
  return report;
}
