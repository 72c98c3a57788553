/**
 * The orphan harness: runs a notebook that starts `Network.local` and a job far too long to finish
 * under real `jupyter nbconvert`, stops once the job trains, and lists what the run left behind
 * after it was killed: live processes (found by a mark in their environment, which every process
 * the run starts inherits, re-parented or not) and `gensyn-local-*` folders in the kernel's own
 * temporary folder.
 *
 * Shared by `orphans_test.ts` and `bench/_orphans.ts`.
 *
 * @module
 */

import { parseProcStat } from "../../lib/core/owned_dir.ts";
import { installKernelSpec, KERNEL_NAME } from "../../lib/notebook/kernelspec.ts";
import { tail } from "./_jupyter.ts";

/** Environment variable whose value marks every process of one run. */
export const MARK_VARIABLE = "GENSYN_ORPHAN_RUN";

/** Prefix of the data folders `Network.local()` makes. */
export const LOCAL_DIR_PREFIX = "gensyn-local-";

const REPO = new URL("../../", import.meta.url);

/** A live process of a run. */
export interface MarkedProcess {
  /** Process id. */
  readonly pid: number;
  /** Parent process id. */
  readonly ppid: number;
  /** Its command line. */
  readonly command: string;
}

/** What a run left behind. */
export interface Leftovers {
  /** Live (not zombie) processes carrying the run's mark. */
  readonly processes: readonly MarkedProcess[];
  /** `gensyn-local-*` folders in the run's temporary folder. */
  readonly folders: readonly string[];
}

/** The code cells of the notebook; `markFile` is written once the job is being followed. */
export function trainingCells(markFile: string): string[] {
  const url = (path: string) => new URL(path, REPO).href;
  return [
    `import { loadMnist, mlp, Network } from "${url("mod.ts")}";\n` +
    `import { followJob } from "${url("lib/notebook/job_progress.ts")}";`,
    "const network = await Network.local({ providers: 1 });\n" +
    "const data = await loadMnist({ limit: 512 });\n" +
    "const job = await network.train({\n" +
    "  model: mlp({ hidden: [16] }),\n" +
    '  optimizer: { name: "adam", learningRate: 1e-3 },\n' +
    "  seed: 1,\n" +
    "  data,\n" +
    "  steps: 500_000, // far more than any run waits for\n" +
    "  batchSize: 16,\n" +
    "  k: 10_000,\n" +
    "  priceWei: 10n ** 18n,\n" +
    "});",
    // The mark is written after followJob started, so a kill or interrupt lands in its wait.
    'const following = followJob(job, { title: "a job too long to finish" });\n' +
    `await Deno.writeTextFile(${JSON.stringify(markFile)}, "following");\n` +
    "await following;",
    "await network.close();",
  ];
}

/** An `.ipynb` of `cells` on the project kernel. */
export function notebookOf(cells: readonly string[]): unknown {
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: { name: KERNEL_NAME, display_name: KERNEL_NAME, language: "typescript" },
    },
    cells: cells.map((source, i) => ({
      cell_type: "code",
      id: `cell-${i}`,
      metadata: {},
      source,
      outputs: [],
      execution_count: null,
    })),
  };
}

/** Live processes whose environment holds `MARK_VARIABLE=mark`. */
export async function markedProcesses(mark: string): Promise<MarkedProcess[]> {
  const needle = `\0${MARK_VARIABLE}=${mark}\0`;
  const found: MarkedProcess[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const pid = Number(entry.name);
    try {
      const environ = "\0" + await Deno.readTextFile(`/proc/${pid}/environ`);
      if (!environ.includes(needle)) continue;
      const stat = parseProcStat(await Deno.readTextFile(`/proc/${pid}/stat`));
      if (stat === null || stat.state === "Z" || stat.state === "X") continue;
      const cmdline = await Deno.readTextFile(`/proc/${pid}/cmdline`);
      found.push({ pid, ppid: stat.ppid, command: cmdline.replaceAll("\0", " ").trim() });
    } catch {
      // It exited while being read, or is another user's: either way not one of this run's.
    }
  }
  return found;
}

/** Everything of the run with `mark` still there: live processes and data folders in `tmpDir`. */
export async function leftovers(mark: string, tmpDir: string): Promise<Leftovers> {
  const folders: string[] = [];
  for await (const entry of Deno.readDir(tmpDir)) {
    if (entry.name.startsWith(LOCAL_DIR_PREFIX)) folders.push(`${tmpDir}/${entry.name}`);
  }
  return { processes: await markedProcesses(mark), folders };
}

/** The number of things in `l`. */
export function countOf(l: Leftovers): number {
  return l.processes.length + l.folders.length;
}

/** Leftovers as lines for an assertion message. */
export function describe(l: Leftovers): string {
  return [
    ...l.processes.map((p) => `process ${p.pid} (parent ${p.ppid}): ${p.command.slice(0, 160)}`),
    ...l.folders.map((f) => `folder ${f}`),
  ].join("\n") || "nothing";
}

/**
 * Waits until the run left nothing, or `timeoutMs` passed (the watchdogs look once a second);
 * returns what is left then.
 */
export async function settle(mark: string, tmpDir: string, timeoutMs: number): Promise<Leftovers> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const left = await leftovers(mark, tmpDir);
    if (countOf(left) === 0 || Date.now() >= deadline) return left;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Jupyter's environment for a run: private data, runtime and temporary folders, and the mark. */
export interface RunEnvironment {
  /** Variables to add to the inherited environment. */
  readonly env: Record<string, string>;
  /** The mark of the run's processes. */
  readonly mark: string;
  /** The kernel's `$TMPDIR`, where `Network.local()` makes its folder. */
  readonly tmpDir: string;
}

/** Makes the folders of a run under `dir` and installs the project kernel there. */
export async function prepareRun(dir: string): Promise<RunEnvironment> {
  const tmpDir = `${dir}/tmp`;
  await Deno.mkdir(tmpDir, { recursive: true });
  const mark = crypto.randomUUID();
  const env = {
    JUPYTER_DATA_DIR: `${dir}/jupyter`,
    JUPYTER_RUNTIME_DIR: `${dir}/runtime`,
    JUPYTER_PLATFORM_DIRS: "1",
    NO_COLOR: "1",
    TMPDIR: tmpDir,
    [MARK_VARIABLE]: mark,
  };
  await installKernelSpec({ env: (name) => (env as Record<string, string>)[name] });
  return { env, mark, tmpDir };
}

/** A notebook run under nbconvert, followed until its job trains. */
export interface TrainingRun extends AsyncDisposable {
  /** The mark of its processes. */
  readonly mark: string;
  /** The kernel's temporary folder. */
  readonly tmpDir: string;
  /** `jupyter nbconvert`, leader of its own process group. */
  readonly nbconvert: Deno.ChildProcess;
  /** Process id of the Deno kernel. */
  readonly kernelPid: number;
  /** Everything of the run alive while it trained. */
  readonly training: Leftovers;
  /** nbconvert's stderr, once it exited. */
  stderr(): Promise<string>;
}

/** Options of {@link startTrainingRun}. */
export interface TrainingRunOptions {
  /** The `jupyter` command. */
  jupyter: string;
  /** A fresh folder for the run. */
  dir: string;
  /** How long the kernel may take to start and the job to train; default 300000 ms. */
  timeoutMs?: number;
}

/**
 * Starts the notebook under `jupyter nbconvert --execute` in its own process group and resolves
 * once the job is being followed; fails loudly (and kills the run) if that does not happen.
 */
export async function startTrainingRun(options: TrainingRunOptions): Promise<TrainingRun> {
  const { env, mark, tmpDir } = await prepareRun(options.dir);
  const markFile = `${options.dir}/following`;
  const notebook = `${options.dir}/orphans.ipynb`;
  await Deno.writeTextFile(notebook, JSON.stringify(notebookOf(trainingCells(markFile))));
  const nbconvert = new Deno.Command(options.jupyter, {
    args: [
      "nbconvert",
      "--to",
      "notebook",
      "--execute",
      "--ExecutePreprocessor.timeout=1200",
      "--ExecutePreprocessor.startup_timeout=300",
      "--output-dir",
      `${options.dir}/out`,
      notebook,
    ],
    env,
    cwd: options.dir,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    // Its own process group, so that the test can kill the group as a terminal's Ctrl-C would.
    detached: true,
  }).spawn();
  const stderr = new Response(nbconvert.stderr).text();
  const killAll = async () => {
    for (const p of await markedProcesses(mark)) {
      try {
        Deno.kill(p.pid, "SIGKILL");
      } catch {
        // Gone between the scan and the kill.
      }
    }
  };
  const fail = async (why: string): Promise<never> => {
    await killAll();
    await nbconvert.status;
    throw new Error(`${why}; nbconvert said:\n${tail(await stderr)}`);
  };
  const deadline = Date.now() + (options.timeoutMs ?? 300_000);
  let exited = false;
  nbconvert.status.then(() => exited = true);
  while (!(await exists(markFile))) {
    if (exited) return await fail("nbconvert exited before the job trained");
    if (Date.now() > deadline) return await fail("the job did not start training in time");
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const training = await leftovers(mark, tmpDir);
  const kernel = training.processes.find((p) => / jupyter --kernel /.test(p.command));
  if (kernel === undefined) return await fail(`no kernel among\n${describe(training)}`);
  return {
    mark,
    tmpDir,
    nbconvert,
    kernelPid: kernel.pid,
    training,
    stderr: () => stderr,
    async [Symbol.asyncDispose]() {
      // Whatever the run's outcome, nothing of it outlives the test.
      await killAll();
      await nbconvert.status;
      await stderr;
    },
  };
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
