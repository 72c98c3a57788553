import assert from "node:assert/strict";

Deno.test("a deno run process exits once its hosts have stopped", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./_exit_fixture.ts", import.meta.url).pathname],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // A process that never exits would hang the test: kill it after a generous grace period and
  // fail, rather than wait forever.
  let killed = false;
  const guard = setTimeout(() => {
    killed = true;
    child.kill("SIGKILL");
  }, 60_000);
  const [status, out] = await Promise.all([child.status, new Response(child.stdout).text()]);
  await child.stderr.cancel();
  clearTimeout(guard);
  assert.equal(out.trim(), "stopped");
  assert.ok(!killed, "the process was still running after its hosts stopped");
  assert.equal(status.code, 0);
});
