/**
 * `deno task demo`: the whole protocol on one machine. Starts the embedded local network (a devnet
 * chain with the protocol deployed, three provider nodes on loopback), submits an MNIST training
 * job, watches it train, checks the result against the provider's on-chain commitment, audits a
 * random segment of its trace by re-executing it, waits for the payment, and distributes the
 * protocol fee (70% burned, 30% to the treasury).
 *
 * Options: `--epochs N` (default 1), `--providers N` (default 3), `--k N` (default 50),
 * `--batch N` (default 128).
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  BlobStore,
  formatUnits,
  loadMnist,
  mlp,
  Network,
  replaySegment,
  type SegmentVerdict,
  Trainer,
} from "../mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    epochs: { type: "string", default: "1" },
    providers: { type: "string", default: "3" },
    k: { type: "string", default: "50" },
    batch: { type: "string", default: "128" },
    help: { type: "boolean", default: false },
  },
});
if (values.help) {
  console.log("usage: deno task demo [--epochs 1] [--providers 3] [--k 50] [--batch 128]");
  Deno.exit(0);
}
const batchSize = Number(values.batch);
const interactive = Deno.stdout.isTerminal();
const aigensyn = (wei: bigint) => `${formatUnits(wei, 18)} AIGENSYN`;

console.log("Loading MNIST (60,000 training and 10,000 test images)...");
const [train, test] = await Promise.all([loadMnist(), loadMnist({ split: "test" })]);

let started = performance.now();
const network = await Network.local({ providers: Number(values.providers) });
console.log(
  `Local network up in ${((performance.now() - started) / 1000).toFixed(1)} s: chain ` +
    `${network.devnet!.rpcUrl}, ${network.providers.length} providers, submitter ` +
    `${network.chain.account}`,
);
try {
  const steps = Number(values.epochs) * Math.floor(train.count / batchSize);
  const priceWei = 25n * 10n ** 18n;
  const job = await network.train({
    model: mlp(), // 784-256-128-10
    data: train,
    steps,
    batchSize,
    k: Number(values.k),
    optimizer: { name: "adam", learningRate: 1e-3 },
    seed: 1,
    priceWei,
  });
  console.log(`Job ${job.id.slice(0, 16)}... escrowed ${aigensyn(priceWei)} for ${steps} steps`);

  started = performance.now();
  let lastPrint = 0;
  let checkpoints = 0;
  for await (const e of job.progress()) {
    if (e.kind === "claimed") console.log(`claimed by provider ${e.provider} (slot ${e.slot})`);
    if (e.kind === "checkpoint") checkpoints++;
    if (e.kind === "step") {
      const now = performance.now();
      if (e.step !== steps && now - lastPrint < (interactive ? 200 : 3000)) continue;
      lastPrint = now;
      const rate = (e.step * batchSize) / ((now - started) / 1000);
      const line = `step ${String(e.step).padStart(5)}/${steps}  loss ${e.loss.toFixed(4)}  ` +
        `${Math.round(rate)} samples/s  checkpoints ${checkpoints}`;
      if (interactive) Deno.stdout.writeSync(new TextEncoder().encode(`\r${line}`));
      else console.log(line);
    }
    if (e.kind === "committed") {
      if (interactive) console.log();
      console.log(`committed on-chain: final state ${e.finalHash.slice(0, 16)}...`);
      break;
    }
  }

  const result = await job.result();
  console.log(`result verified against the commitment: trace root ${result.trace.root}`);

  // Audit: re-execute one random segment of the trace from the provider's checkpoint.
  const store = new BlobStore(await Deno.makeTempDir({ prefix: "demo-audit-" }));
  const trainer = await Trainer.create({ spec: job.modelSpec, dataset: train, batchSize });
  const segments = result.trace.checkpoints.length - 1;
  const pick = crypto.getRandomValues(new Uint32Array(1))[0] % segments;
  const provider = await network.peerOf(result.provider);
  await network.wire.fetchBlob(provider, result.trace.checkpoints[pick].hash, store);
  const verdict = await replaySegment(result.trace, pick, { trainer, store });
  console.log(`audit of segment ${pick}: ${describe(verdict)}`);
  const evaluation = trainer.evaluate(result.state, test);
  trainer.dispose();
  await Deno.remove(store.root, { recursive: true });
  console.log(`test accuracy ${(evaluation.accuracy * 100).toFixed(2)}%`);

  const { paidWei, feeWei } = await job.settled();
  console.log(`provider paid ${aigensyn(paidWei)}; protocol fee ${aigensyn(feeWei)}`);
  const supplyBefore = (await network.chain.token.supply()).totalSupplyWei;
  const { burnedWei, treasuryWei } = await network.chain.fees.distribute();
  const supplyAfter = (await network.chain.token.supply()).totalSupplyWei;
  console.log(
    `fee distributed: ${aigensyn(burnedWei)} burned, ${aigensyn(treasuryWei)} to the treasury ` +
      `(total supply ${aigensyn(supplyBefore)} -> ${aigensyn(supplyAfter)})`,
  );
  result.model.dispose();
  if (verdict.status !== "valid") Deno.exitCode = 1;
} finally {
  await network.close();
}

function describe(v: SegmentVerdict): string {
  switch (v.status) {
    case "valid":
      return `steps ${v.fromStep}..${v.toStep} re-executed: VALID, bit-identical`;
    case "mismatch":
      return `steps ${v.fromStep}..${v.toStep}: MISMATCH (committed ${v.expected.slice(0, 12)}, ` +
        `re-executed ${v.actual.slice(0, 12)})`;
    case "missing-checkpoint":
      return `checkpoint ${v.hash.slice(0, 12)} is missing`;
    case "corrupt-checkpoint":
      return `checkpoint ${v.hash.slice(0, 12)} is corrupt: ${v.reason}`;
  }
}
