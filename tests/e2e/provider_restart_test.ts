import assert from "node:assert/strict";
import { loadMnist } from "../../lib/exec/mnist.ts";
import { Trainer } from "../../lib/exec/trainer.ts";
import { mlp } from "../../lib/exec/zoo.ts";
import { trainWithProof } from "../../lib/proof/checkpoint.ts";
import { Network } from "../../lib/node/network.ts";
import { startProviderProcess } from "./_provider_process.ts";

Deno.test("a provider process killed mid-job restarts, resumes from its checkpoint and is paid", async () => {
  await using network = await Network.local({ providers: 0 });
  const dir = await Deno.makeTempDir({ prefix: "restart-test-" });
  try {
    const networkFile = `${dir}/network.json`;
    await Deno.writeTextFile(networkFile, JSON.stringify(network.describe()));
    const providerOptions = {
      networkFile,
      dataDir: `${dir}/provider`,
      account: 6,
      password: "restart-test",
    };
    const data = await loadMnist({ limit: 4096 });
    let provider = await startProviderProcess(providerOptions);
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
    provider = await startProviderProcess(providerOptions);
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
