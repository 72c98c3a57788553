/**
 * The toolkit used from a researcher's own folder: a fresh temporary folder outside this
 * repository, with no `deno.json`, no import map and no `node_modules`, whose notebook and script
 * import the toolkit with one line (`import { ... } from "file:///.../mod.ts"`) and nothing else.
 * The notebook runs headless with real Jupyter on the project kernel, the script under
 * `deno run`; each starts the local network, trains the same small MLP job on it and gets the
 * verified result. Both must produce the same trace root (the same bits, from two processes).
 * First, every module of `mod.ts` and `lib/` must resolve there: a bare specifier anywhere in
 * `lib/` (which only this repository's import map resolves) fails the test with its location.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  installKernelSpec,
  KERNEL_DISPLAY_NAME,
  KERNEL_NAME,
} from "../../lib/notebook/kernelspec.ts";
import { executeNotebook, INSTALL_HINT, runCommand, tail, type Tools } from "./_jupyter.ts";

const REPO_ROOT = new URL("../../", import.meta.url);
/** The one step: the toolkit's entry point, by its absolute URL. */
const TOOLKIT = new URL("mod.ts", REPO_ROOT).href;

/** The job both runs train: small enough for seconds, real enough to verify (3 checkpoints). */
const STEPS = 40;
const K = 20;

/** What the notebook and the script record after `job.result()`. */
interface Recorded {
  jobId: string;
  provider: string;
  root: string;
  finalHash: string;
  traceJobId: string | null;
  steps: number;
  checkpoints: { step: number; hash: string }[];
  slot: { provider: string; status: string; commitment: string };
  profile: string;
}

/** Source of the training, shared by the notebook (split into cells) and the script. */
const CELLS = {
  importToolkit: `import { loadMnist, mlp, Network } from "${TOOLKIT}";`,
  startNetwork: `const network = await Network.local({ providers: 1 });`,
  trainAndVerify: `const train = await loadMnist({ limit: 512 });
const job = await network.train({
  model: mlp({ hidden: [16] }),
  optimizer: { name: "adam", learningRate: 2e-3 },
  seed: 1,
  data: train,
  steps: ${STEPS},
  batchSize: 32,
  k: ${K},
  priceWei: 10n ** 18n,
});
const result = await job.result();
const slot = await network.chain.jobs.slot({ jobId: \`0x\${job.id}\` });
const recorded = {
  jobId: job.id,
  provider: result.provider,
  root: result.trace.root,
  finalHash: result.finalHash,
  traceJobId: result.trace.jobId,
  steps: result.trace.steps,
  checkpoints: result.trace.checkpoints.map((c) => ({ step: c.step, hash: c.hash })),
  slot: { provider: slot.provider, status: slot.status, commitment: slot.commitment },
  profile: job.spec.profile,
};
// A file, not only the cell's output: Jupyter can lose a stream output in transit.
await Deno.writeTextFile("result.json", JSON.stringify(recorded));
console.log(\`verified \${result.trace.root}\`);`,
  close: `result.model.dispose();
await network.close();
console.log("network closed");`,
};

function notebookOf(cells: string[]): unknown {
  return {
    cells: cells.map((source, i) => ({
      cell_type: "code",
      id: `cell-${i}`,
      metadata: {},
      execution_count: null,
      outputs: [],
      source,
    })),
    metadata: {
      kernelspec: { display_name: KERNEL_DISPLAY_NAME, language: "typescript", name: KERNEL_NAME },
      language_info: { name: "typescript", file_extension: ".ts" },
    },
    nbformat: 4,
    nbformat_minor: 5,
  };
}

const SCRIPT = `${CELLS.importToolkit}
${CELLS.startNetwork}
try {
${CELLS.trainAndVerify}
result.model.dispose();
} finally {
  await network.close();
}
`;

/** A fresh folder that no `deno.json`, `package.json` or `node_modules` above it configures. */
async function freshOutsideFolder(prefix: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix });
  assert(
    !dir.startsWith(REPO_ROOT.pathname),
    `the temp folder ${dir} is inside the repository; set TMPDIR to a folder outside it`,
  );
  const parts = dir.split("/").filter(Boolean);
  for (let depth = 0; depth < parts.length; depth++) {
    const up = "/" + parts.slice(0, depth).join("/");
    for (const name of ["deno.json", "deno.jsonc", "package.json", "node_modules"]) {
      assert(
        !(await exists(`${up}/${name}`)),
        `${up}/${name} would configure ${dir}; the test needs a folder nothing configures`,
      );
    }
  }
  return dir;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** `file:` URLs of every TypeScript module under a folder, sorted. */
async function modulesUnder(dir: URL): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
    if (entry.isDirectory) out.push(...await modulesUnder(url));
    else if (entry.isFile && entry.name.endsWith(".ts")) out.push(url.href);
  }
  return out.sort();
}

async function readRecorded(dir: string): Promise<Recorded> {
  return JSON.parse(await Deno.readTextFile(`${dir}/result.json`)) as Recorded;
}

/** The checks a verified result passes, wherever it was trained. */
function assertVerified(r: Recorded, where: string): void {
  assert.match(r.root, /^[0-9a-f]{64}$/, `${where}: trace root`);
  assert.equal(r.traceJobId, r.jobId, `${where}: the trace belongs to the job`);
  assert.equal(r.steps, STEPS, `${where}: steps trained`);
  assert.deepEqual(r.checkpoints.map((c) => c.step), [0, K, 2 * K], `${where}: checkpoints`);
  assert.equal(
    r.checkpoints.at(-1)!.hash,
    r.finalHash,
    `${where}: last checkpoint is the final state`,
  );
  assert.equal(
    r.slot.provider.toLowerCase(),
    r.provider.toLowerCase(),
    `${where}: on-chain claimant`,
  );
  assert(["Committed", "Paid"].includes(r.slot.status), `${where}: slot is ${r.slot.status}`);
  assert.doesNotMatch(r.slot.commitment, /^0x0*$/, `${where}: on-chain commitment`);
  assert.match(r.profile, /^wasm-simd-1t\+k\d+@tfjs-4\.22\.0$/, `${where}: wasm profile`);
}

/** Jupyter's tools as `executeNotebook` takes them; no Chromium, since nothing is rendered here. */
async function requireJupyter(): Promise<Tools> {
  try {
    const out = await runCommand("jupyter", ["nbconvert", "--version"], { timeoutMs: 60_000 });
    assert.equal(
      out.code,
      0,
      `\`jupyter nbconvert\` does not run (${tail(out.stderr, 5)}); ${INSTALL_HINT}`,
    );
    return { jupyter: "jupyter", chromium: "" };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      assert.fail(`this test needs Jupyter, which is not on PATH; ${INSTALL_HINT}`);
    }
    throw e;
  }
}

Deno.test("the toolkit works from a folder outside the repository with one import line", async (t) => {
  const folders: string[] = [];
  try {
    await t.step("every module of mod.ts and lib/ resolves with no import map", async () => {
      const dir = await freshOutsideFolder("gensyn-outside-graph-");
      folders.push(dir);
      const modules = [TOOLKIT, ...(await modulesUnder(new URL("lib/", REPO_ROOT)))];
      await Deno.writeTextFile(
        `${dir}/all.ts`,
        modules.map((url) => `import "${url}";\n`).join(""),
      );
      // Resolves and fetches the whole graph without running it (lib/ holds CLIs that would start).
      const cached = await runCommand(Deno.execPath(), ["cache", "all.ts"], {
        cwd: dir,
        env: { NO_COLOR: "1" },
        timeoutMs: 120_000,
      });
      assert.equal(
        cached.code,
        0,
        "a module of the toolkit does not resolve outside the repository; mod.ts and lib/ must " +
          `name npm packages inline with deno.json's versions (npm:name@version):\n${
            tail(cached.stderr)
          }`,
      );
    });

    let scriptRoot = "";
    await t.step("a `deno run` script trains, verifies and closes", async () => {
      const dir = await freshOutsideFolder("gensyn-outside-script-");
      folders.push(dir);
      await Deno.writeTextFile(`${dir}/train.ts`, SCRIPT);
      const run = await runCommand(Deno.execPath(), ["run", "-A", "train.ts"], {
        cwd: dir,
        env: { NO_COLOR: "1" },
        timeoutMs: 180_000,
      });
      assert.equal(run.code, 0, `train.ts failed in ${dir}:\n${tail(run.stderr)}`);
      assert.match(run.stdout, /^verified [0-9a-f]{64}$/m);
      const recorded = await readRecorded(dir);
      assertVerified(recorded, "script");
      assert(!(await exists(`${dir}/node_modules`)), "npm packages came from Deno's global cache");
      scriptRoot = recorded.root;
    });

    await t.step("a notebook on the project kernel does the same under Jupyter", async () => {
      const tools = await requireJupyter();
      const dir = await freshOutsideFolder("gensyn-outside-notebook-");
      folders.push(dir);
      const env: Record<string, string> = {
        JUPYTER_DATA_DIR: `${dir}/.jupyter`,
        JUPYTER_RUNTIME_DIR: `${dir}/.jupyter-runtime`,
        JUPYTER_PLATFORM_DIRS: "1",
        NO_COLOR: "1",
      };
      await installKernelSpec({ env: (name) => env[name] });
      const notebook = `${dir}/train.ipynb`;
      await Deno.writeTextFile(notebook, JSON.stringify(notebookOf(Object.values(CELLS)), null, 1));
      await executeNotebook(tools, {
        notebook,
        outDir: `${dir}/executed`,
        env,
        cellTimeoutS: 120,
      });
      const recorded = await readRecorded(dir);
      assertVerified(recorded, "notebook");
      assert(!(await exists(`${dir}/node_modules`)), "npm packages came from Deno's global cache");
      if (scriptRoot) {
        assert.equal(
          recorded.root,
          scriptRoot,
          "the notebook and the script trained the same bits",
        );
      }
    });
  } finally {
    for (const dir of folders) await Deno.remove(dir, { recursive: true });
  }
});
