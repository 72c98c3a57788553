/**
 * Child processes that die with their parent, even when the parent is killed with SIGKILL and runs
 * no cleanup at all.
 *
 * The child runs through a tether: `/bin/sh` forks a watchdog that blocks reading the child's
 * stdin, a pipe whose only writer is this process, then `exec`s the command (so the child keeps
 * the shell's pid: `child.pid`, `kill()` and `status` are the command's own). When this process
 * exits, however it exits, the kernel closes the pipe, the read returns, and the watchdog sends
 * the child SIGTERM. Closing the pipe on purpose (`child.stdin.close()`) stops the child the same
 * way. The child runs in its own session, so signals aimed at this process's group (Ctrl-C,
 * Jupyter's interrupt, `killpg`) do not reach it before this process has decided what to do.
 *
 * Only `sh` is needed (POSIX `read`, `kill`), no polling, and the tether costs one fork at start.
 *
 * @module
 */

/**
 * The tether (POSIX sh): `$0` is a label, `$@` the command. fd 3 keeps the pipe for the watchdog
 * (an asynchronous list's stdin is `/dev/null` otherwise); the command gets `/dev/null` as stdin.
 * Before killing, the watchdog checks that the command is still its parent (on Linux): once the
 * command has exited and been reaped the watchdog is re-parented, and its pid may belong to
 * another process.
 */
const TETHER_SCRIPT = `exec 3<&0
(
  trap '' INT HUP
  read -r _ <&3
  if [ -r /proc/self/stat ]; then
    read -r stat </proc/self/stat
    set -- \${stat##*) }
    [ "$2" = "$$" ] || exit 0
  fi
  kill -TERM "$$"
) </dev/null >/dev/null 2>&1 &
exec "$@" 3<&- </dev/null`;

/** Options of {@linkcode tetheredCommand}: those of `Deno.Command`, less what the tether owns. */
export type TetheredCommandOptions = Omit<Deno.CommandOptions, "stdin" | "detached">;

/**
 * A `Deno.Command` that runs `command` tethered to this process: it gets SIGTERM when this
 * process exits, also by SIGKILL. Its stdin is the tether: leave it open while the command should
 * run, and close it (`await child.stdin.close()`) to stop the command.
 *
 * @example
 * ```ts
 * import { tetheredCommand } from "./watchdog.ts";
 * const child = tetheredCommand("sleep", { args: ["600"] }).spawn();
 * // ... if this process dies now, `sleep` dies with it.
 * await child.stdin.close(); // stops it
 * console.log((await child.status).signal); // "SIGTERM"
 * ```
 */
export function tetheredCommand(
  command: string,
  options: TetheredCommandOptions = {},
): Deno.Command {
  const label = `${command.split("/").pop()}-tether`;
  return new Deno.Command("/bin/sh", {
    ...options,
    args: ["-c", TETHER_SCRIPT, label, command, ...(options.args ?? [])],
    stdin: "piped",
    // Its own session: a signal sent to this process's group is this process's to handle.
    detached: true,
  });
}
