import assert from "node:assert/strict";
import { jobMarketAbi } from "../../lib/chain/artifacts/JobMarket.ts";
import { readLogs } from "../../lib/chain/mod.ts";
import { loadMnist } from "../../lib/exec/mnist.ts";
import { mlp } from "../../lib/exec/zoo.ts";
import { Network } from "../../lib/node/network.ts";
import { ensurePeerBound, toBytes32 } from "../../lib/node/settlement.ts";
import { VerifierNode } from "../../lib/node/verifier/mod.ts";
import { verifierHost } from "./_verifier_host.ts";
import { auditSeed, selectAuditSegments } from "../../lib/proof/audit.ts";
import { CheatingProvider } from "../../testing/adversary.ts";
import { tinySpec } from "../adversary/_suite.ts";

const TOKEN = 10n ** 18n;
/** Node logs on stderr, as `Network.local` gives them, with `GENSYN_LOG=1`. */
const SHOW_LOG = Deno.env.get("GENSYN_LOG") === "1";

Deno.test("a verifier audits an honest job from chain randomness and never disputes it", async () => {
  await using network = await Network.local({ providers: 1, verifiers: 1 });
  const [verifier] = network.verifiers;
  const data = await loadMnist({ limit: 1024 });
  const job = await network.train({
    model: mlp({ hidden: [16] }),
    data,
    steps: 40,
    batchSize: 16,
    k: 10,
    optimizer: { name: "adam", learningRate: 0.01 },
    priceWei: 10n * TOKEN,
    audit: { segments: 2, verifiers: 1 },
  });
  const record = await verifier.audited(job.id, { timeoutMs: 120_000 });
  const { paidWei } = await job.settled();
  assert.ok(paidWei > 0n);
  assert.equal(record.outcome, "passed");
  assert.equal(record.disputed, false);
  assert.equal(record.totalSegments, 4);
  assert.equal(record.segments.length, 2);
  assert.deepEqual(record.verdicts.map((v) => v.status), ["valid", "valid"]);
  assert.equal(record.replayedSteps, 20);
  // The sample is the one anyone recomputes from the block after the commit.
  const block = await network.chain.public.getBlock({
    blockNumber: BigInt(record.commitBlock) + 1n,
  });
  const seed = auditSeed({ blockHash: block.hash!, jobId: job.id, verifier: verifier.account });
  assert.equal(record.seed, seed);
  assert.deepEqual(record.segments, selectAuditSegments({ seed, segments: 4, count: 2 }));
  assert.deepEqual(verifier.auditsOf(job.id), [record]);
  const slot = await network.chain.jobs.slot({ jobId: toBytes32(job.id) });
  assert.equal(slot.status, "Paid");
});

Deno.test("a verifier that cannot reach the provider records the job unverifiable, never disputes it, and keeps its records across restarts", async () => {
  await using network = await Network.local({ providers: 1, fastSettle: false });
  const devnet = network.devnet!;
  const job = await network.train({
    model: mlp({ hidden: [16] }),
    data: await loadMnist({ limit: 512 }),
    steps: 20,
    batchSize: 16,
    k: 10,
    priceWei: 10n * TOKEN,
  });
  for await (const e of job.progress()) if (e.kind === "committed") break;
  // The provider's node goes away after its commit: nobody can fetch its checkpoints any more.
  await network.providers[0].close();
  await network.providers[0].wire.close();
  const { dir, chain, wire } = await verifierHost(network);
  try {
    await ensurePeerBound(chain, wire.peerPrivateKey);
    const start = () =>
      VerifierNode.start({
        dataDir: dir,
        chain,
        wire,
        fetchTimeoutMs: 2000,
        mine: () => devnet.increaseTime(0),
        log: () => {},
      });
    const verifier = await start();
    const record = await verifier.audited(job.id, { timeoutMs: 60_000 });
    assert.equal(record.outcome, "unverifiable");
    assert.equal(record.disputed, false);
    assert.match(record.reason ?? "", /cannot reach the provider/);
    assert.equal((await network.chain.jobs.slot({ jobId: toBytes32(job.id) })).status, "Committed");
    await verifier.close();
    // The commit cursor moved past the audited commit: a restart does not read it again.
    const saved = JSON.parse(await Deno.readTextFile(`${dir}/follow/job-committed.json`));
    const [commit] = await readLogs({
      client: chain.public,
      address: chain.addresses.jobMarket,
      abi: jobMarketAbi,
      eventName: "JobCommitted",
      args: { jobId: toBytes32(job.id) },
    });
    assert.ok(BigInt(saved.block) > commit.blockNumber, `cursor ${saved.block} at the commit`);
    const again = await start();
    assert.deepEqual(again.audits(), [record]);
    await again.close();
  } finally {
    await wire.close();
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * A network with no nodes of its own, a cheater that flips a bit at step 27, and a verifier on its
 * own data dir that the test stops and restarts; `opened` resolves with the dispute's id and the
 * step span of the segment it disputes when the verifier opens one.
 */
async function disputeToRestart(network: Network, cheaterSilent = false) {
  const devnet = network.devnet!;
  const host = await verifierHost(network);
  const cheater = await CheatingProvider.start({
    network,
    account: 2,
    cheat: { kind: "flip-bit", step: 27 },
    bootstrap: host.wire.addrs,
    ...(SHOW_LOG ? { log: (line: string) => console.error("[cheater]", line) } : {}),
  });
  cheater.silentInDisputes = cheaterSilent;
  await ensurePeerBound(host.chain, host.wire.peerPrivateKey);
  let opened: (dispute: { id: bigint; span: number }) => void;
  const disputeOpened = new Promise<{ id: bigint; span: number }>((resolve) => opened = resolve);
  const start = (run: string, lines: string[] = []) =>
    VerifierNode.start({
      dataDir: host.dir,
      chain: host.chain,
      wire: host.wire,
      segments: "all",
      mine: () => devnet.increaseTime(0),
      log: (line) => {
        if (SHOW_LOG) console.error(`[verifier, ${run}]`, line);
        lines.push(line);
        const m = /dispute (\d+): opened on segment \d+ \(steps (\d+)\.\.(\d+)\)/.exec(line);
        if (m) opened({ id: BigInt(m[1]), span: Number(m[3]) - Number(m[2]) });
      },
    });
  return {
    start,
    opened: disputeOpened,
    cheater,
    async [Symbol.asyncDispose]() {
      await cheater.close();
      await host.wire.close();
      await Deno.remove(host.dir, { recursive: true });
    },
  };
}

async function trainOn(network: Network) {
  return await network.train({
    model: await tinySpec(),
    data: await loadMnist({ limit: 512 }),
    steps: 40,
    batchSize: 16,
    k: 10,
    priceWei: 10n * TOKEN,
  });
}

Deno.test("a verifier stopped in the middle of a dispute plays it on after a restart, and wins", async () => {
  await using network = await Network.local({ providers: 0, verifiers: 0 });
  await using setup = await disputeToRestart(network);
  const first = await setup.start("first run");
  const job = await trainOn(network);
  await setup.opened;
  // Stopped right after opening: the dispute is open and this verifier is to play on.
  await first.close();
  assert.deepEqual(first.audits(), []);
  assert.equal((await network.chain.jobs.slot({ jobId: toBytes32(job.id) })).status, "Disputed");
  const lines: string[] = [];
  const again = await setup.start("restarted", lines);
  const record = await again.audited(job.id, { timeoutMs: 120_000 });
  assert.equal(record.outcome, "caught");
  assert.equal(record.dispute?.outcome, "ChallengerWon");
  assert.equal(record.disputed, true);
  assert.ok(lines.some((l) => /playing on dispute \d+/.test(l)), lines.join("\n"));
  assert.equal((await network.chain.jobs.slot({ jobId: toBytes32(job.id) })).status, "Slashed");
  await again.close();
});

Deno.test("a verifier whose dispute ended while it was down records the audit as the dispute ended", async () => {
  await using network = await Network.local({ providers: 0, verifiers: 0 });
  const devnet = network.devnet!;
  // The cheater answers the first move, then goes silent: the dispute waits on it.
  await using setup = await disputeToRestart(network, true);
  const first = await setup.start("first run");
  const job = await trainOn(network);
  const { id, span } = await setup.opened;
  const game = network.chain.game;
  // Both moved once (the bisection narrowed) and the cheater is the one to move next.
  let d = await game.get(id);
  while (d.phase !== "Steps" || d.pending || d.hi - d.lo >= span) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    d = await game.get(id);
  }
  await first.close();
  assert.deepEqual(first.audits(), []);
  // While the verifier is down, the cheater's time runs out and someone else ends the dispute.
  await devnet.increaseTime(
    d.deadline - BigInt((await network.chain.public.getBlock()).timestamp) + 1n,
  );
  await game.timeout(id);
  assert.equal((await game.get(id)).outcome, "ChallengerWon");
  const slotOf = () => network.chain.jobs.slot({ jobId: toBytes32(job.id) });
  assert.equal((await slotOf()).status, "Slashed");
  const lines: string[] = [];
  const again = await setup.start("restarted", lines);
  const record = await again.audited(job.id, { timeoutMs: 120_000 });
  assert.equal(record.outcome, "caught");
  assert.equal(record.disputed, true);
  assert.equal(record.dispute?.id, id.toString());
  assert.equal(record.dispute?.outcome, "ChallengerWon");
  assert.ok(!lines.some((l) => /nothing to audit/.test(l)), lines.join("\n"));
  await again.close();
  // Recorded, the dispute is forgotten: a second restart finds the record and nothing to resume.
  const third = await setup.start("second restart");
  assert.deepEqual(third.audits(), [record]);
  await third.close();
});
