import assert from "node:assert/strict";
import { devAccountKey } from "../../lib/chain/mod.ts";
import { loadMnist } from "../../lib/exec/mnist.ts";
import { Trainer } from "../../lib/exec/trainer.ts";
import { mlp } from "../../lib/exec/zoo.ts";
import { trainWithProof } from "../../lib/proof/checkpoint.ts";
import { Network } from "../../lib/node/network.ts";

/** Starts `deno task node` as its own process and resolves once it is ready. */
async function startProvider(networkFile: string, dataDir: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../../lib/node/cli.ts", import.meta.url).pathname,
      "--network",
      networkFile,
      "--data-dir",
      dataDir,
      "--stake",
      "500",
    ],
    env: { GENSYN_ACCOUNT_KEY: devAccountKey(6), GENSYN_NODE_PASSWORD: "restart-test" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output: string[] = [];
  const lines = (async () => {
    let buffered = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      buffered += chunk;
      const parts = buffered.split("\n");
      buffered = parts.pop()!;
      output.push(...parts);
    }
  })();
  const stderr = new Response(child.stderr).text();
  const deadline = Date.now() + 60_000;
  while (!output.some((l) => l.includes("listening on"))) {
    if (Date.now() > deadline) throw new Error(`provider did not start:\n${output.join("\n")}`);
    const exited = await Promise.race([
      child.status.then(() => true),
      new Promise<false>((r) => setTimeout(() => r(false), 50)),
    ]);
    if (exited) throw new Error(`provider exited:\n${output.join("\n")}\n${await stderr}`);
  }
  return {
    output,
    async kill(signal: Deno.Signal) {
      child.kill(signal);
      await child.status;
      await lines;
      await stderr;
    },
  };
}

Deno.test("a provider process killed mid-job restarts, resumes from its checkpoint and is paid", async () => {
  await using network = await Network.local({ providers: 0 });
  const dir = await Deno.makeTempDir({ prefix: "restart-test-" });
  try {
    const networkFile = `${dir}/network.json`;
    await Deno.writeTextFile(networkFile, JSON.stringify(network.describe()));
    const data = await loadMnist({ limit: 4096 });
    let provider = await startProvider(networkFile, `${dir}/provider`);
    const job = await network.train({
      model: mlp({ hidden: [128] }),
      data,
      steps: 1500, // long enough to be killed mid-job
      batchSize: 64,
      k: 50,
    });
    for await (const e of job.progress()) {
      if (e.kind === "checkpoint" && e.step >= 100) break;
    }
    await provider.kill("SIGKILL");
    provider = await startProvider(networkFile, `${dir}/provider`);
    try {
      const result = await job.result();
      const { paidWei } = await job.settled();
      assert.ok(paidWei > 0n);
      assert.ok(
        provider.output.some((l) => l.includes("resuming job")),
        provider.output.join("\n"),
      );
      // The resumed run is bit-identical to an uninterrupted one.
      const trainer = await Trainer.create({ spec: job.modelSpec, dataset: data, batchSize: 64 });
      try {
        const reference = await trainWithProof({ trainer, steps: 1500, k: 50, jobId: job.id });
        assert.equal(result.trace.root, reference.trace.root);
        assert.equal(result.finalHash, reference.finalHash);
      } finally {
        trainer.dispose();
      }
      result.model.dispose();
    } finally {
      await provider.kill("SIGTERM");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
