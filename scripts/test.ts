/**
 * `deno task test [deno test options] [paths]`: runs the test suite (`tests/` when no path is
 * given) after making sure what the notebook tests need is there: Jupyter (`jupyter-nbconvert`,
 * `python3-nbclient`, `jupyter-client`) and headless Chromium, from Debian. When they are missing
 * it installs them with apt if it runs as root (about 1.5 min on a fresh machine), or else stops
 * with one line that says what to run. A run whose paths leave out `tests/notebooks` needs neither.
 *
 * @module
 */

/** A Debian package the notebook tests need, and the command that shows it is installed. */
const NEEDED: readonly { pkg: string; commands: readonly string[] }[] = [
  { pkg: "jupyter-nbconvert", commands: ["jupyter-nbconvert"] },
  { pkg: "python3-nbclient", commands: ["jupyter-execute"] },
  { pkg: "jupyter-client", commands: ["jupyter-kernelspec"] },
  { pkg: "chromium", commands: ["chromium", "chromium-browser"] },
];

async function onPath(command: string): Promise<boolean> {
  const found = await new Deno.Command("sh", {
    args: ["-c", 'command -v "$1" >/dev/null 2>&1', "sh", command],
  }).output();
  return found.success;
}

async function missing(): Promise<string[]> {
  const absent: string[] = [];
  for (const { pkg, commands } of NEEDED) {
    if (pkg === "chromium" && Deno.env.get("CHROMIUM")) continue;
    let any = false;
    for (const command of commands) any ||= await onPath(command);
    if (!any) absent.push(pkg);
  }
  return absent;
}

/** Whether the run includes the notebook tests: no path given, or a path over `tests/notebooks`. */
function runsNotebooks(paths: readonly string[]): boolean {
  if (paths.length === 0) return true;
  return paths.some((p) => {
    const path = p.replace(/^\.\//, "").replace(/\/$/, "");
    return path === "tests" || path === "." || path.startsWith("tests/notebooks");
  });
}

async function apt(args: string[]): Promise<boolean> {
  const out = await new Deno.Command("apt-get", {
    args,
    env: { DEBIAN_FRONTEND: "noninteractive" },
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join(" | ");
    console.error(`apt-get ${args.join(" ")} failed: ${err}`);
  }
  return out.success;
}

/** Options of `deno test` whose value may come as the next argument. */
const TAKES_VALUE = new Set(["--filter", "--reporter", "--junit-path", "--coverage", "--shuffle"]);

// Paths are the arguments that are neither options nor an option's value.
const args = Deno.args;
const paths = args.filter((a, i) => !a.startsWith("-") && !TAKES_VALUE.has(args[i - 1]));
if (runsNotebooks(paths)) {
  const absent = await missing();
  if (absent.length > 0) {
    const install = `apt-get install -y ${absent.join(" ")}`;
    const root = Deno.uid() === 0;
    if (!root || !(await onPath("apt-get"))) {
      console.error(
        `the notebook tests need ${absent.join(", ")}: run \`sudo ${install}\` (Debian), or ` +
          "`deno task test` with paths that leave out tests/notebooks",
      );
      Deno.exit(1);
    }
    console.error(`installing ${absent.join(" ")} for the notebook tests (apt, about 1.5 min)`);
    const ok = await apt(["update", "-qq"]) &&
      await apt(["install", "-y", "-qq", ...absent]);
    if (!ok) {
      console.error(`could not install ${absent.join(" ")}; run \`${install}\` and try again`);
      Deno.exit(1);
    }
  }
}

const test = new Deno.Command(Deno.execPath(), {
  args: ["test", "-A", "--parallel", ...args, ...(paths.length === 0 ? ["tests/"] : [])],
  stdin: "inherit",
  stdout: "inherit",
  stderr: "inherit",
});
Deno.exit((await test.output()).code);
