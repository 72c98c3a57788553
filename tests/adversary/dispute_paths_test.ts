import assert from "node:assert/strict";
import { jobMarketAbi } from "../../lib/chain/artifacts/JobMarket.ts";
import { loadMnist } from "../../lib/exec/mnist.ts";
import { challengeExecution, checkpointParty, jobTrainer } from "../../lib/node/disputes/mod.ts";
import { Network } from "../../lib/node/network.ts";
import { createP2PWire, peerIdOfAccount } from "../../lib/node/p2p_wire.ts";
import { ProviderNode } from "../../lib/node/provider.ts";
import {
  ensurePeerBound,
  fromBytes32,
  specHashOfJob,
  toBytes32,
} from "../../lib/node/settlement.ts";
import { loadCheckpoint } from "../../lib/proof/checkpoint.ts";
import type { DisputeParty } from "../../lib/proof/dispute.ts";
import { decodeJobSpec } from "../../lib/proof/job.ts";
import { sha256Sync } from "../../lib/proof/ops.ts";
import { BlobStore } from "../../lib/proof/store.ts";
import { buildTrace, checkpointSteps } from "../../lib/proof/trace.ts";
import { CheatingProvider } from "../../testing/adversary.ts";
import { PRICE, tinySpec, TOKEN } from "./_suite.ts";

const BOND = 10n * TOKEN;

Deno.test("dispute paths on a live network: a false accuser loses its bond, a provider that goes silent mid-dispute loses its stake", async (t) => {
  await using network = await Network.local({ providers: 0, verifiers: 1, fastSettle: false });
  const devnet = network.devnet!;
  const spec = await tinySpec();
  const data = await loadMnist({ limit: 512 });
  const train = () =>
    network.train({ model: spec, data, steps: 20, batchSize: 16, k: 10, priceWei: PRICE });

  await t.step(
    "an honest provider falsely accused wins; the accuser forfeits its bond",
    async () => {
      // The accuser runs its own node, bound on-chain, so the referee can fetch its evidence.
      const dirs = [await Deno.makeTempDir(), await Deno.makeTempDir()];
      const accuser = devnet.client(8);
      const store = new BlobStore(dirs[0]);
      const accuserWire = await createP2PWire({
        chain: accuser,
        store,
        bootstrap: [...network.wire.addrs],
      });
      const chain = devnet.client(3);
      const providerWire = await createP2PWire({
        chain,
        store: new BlobStore(dirs[1]),
        bootstrap: [...network.wire.addrs, ...accuserWire.addrs, ...network.verifiers[0].addrs],
      });
      const provider = await ProviderNode.start({
        dataDir: dirs[1],
        chain,
        wire: providerWire,
        peerPrivateKey: providerWire.peerPrivateKey,
        stakeWei: 1000n * TOKEN,
        log: () => {},
      });
      try {
        await ensurePeerBound(accuser, accuserWire.peerPrivateKey);
        const job = await train();
        for await (const e of job.progress()) if (e.kind === "committed") break;
        const [committed] = await network.chain.public.getContractEvents({
          address: network.chain.addresses.jobMarket,
          abi: jobMarketAbi,
          eventName: "JobCommitted",
          args: { jobId: toBytes32(job.id) },
          fromBlock: 0n,
        });
        const args = committed.args as { finalStateHash: string; traceRoot: string };
        const commit = {
          jobId: job.id,
          slot: 0,
          finalHash: fromBytes32(args.finalStateHash),
          traceRoot: fromBytes32(args.traceRoot),
        };
        // It reads the provider's trace and job like any verifier would.
        const providerPeer = await peerIdOfAccount(accuser, chain.account);
        const hashes = new Map<number, string>();
        for await (const u of accuserWire.watchProgress(providerPeer, job.id)) {
          if (u.checkpoint) hashes.set(u.checkpoint.step, u.checkpoint.hash);
        }
        const specHash = await specHashOfJob(accuser, job.id);
        await accuserWire.fetchBlob(network.wire.peerId, specHash, store);
        const jobSpec = decodeJobSpec(await store.get(specHash));
        for (const blob of [jobSpec.model, jobSpec.datasetBlob]) {
          await accuserWire.fetchBlob(network.wire.peerId, blob, store);
        }
        const trainer = await jobTrainer(store, jobSpec);
        const trace = await buildTrace({
          plan: trainer.plan,
          k: 10,
          steps: 20,
          jobId: job.id,
          checkpoints: checkpointSteps(20, 10).map((step) => ({
            step,
            cursor: step * 16,
            hash: hashes.get(step)!,
          })),
        });
        assert.equal(trace.root, commit.traceRoot);
        await accuserWire.fetchBlob(providerPeer, trace.checkpoints[1].hash, store);
        const honest = checkpointParty({
          trainer,
          checkpoints: [trace.checkpoints[1]],
          load: (hash) => loadCheckpoint(store, hash),
        });
        // The lie: another state after step 20; every other hash is honest.
        const liar: DisputeParty = {
          ...honest,
          stateHashAt: (step) =>
            step === 20 ? Promise.resolve(sha256Sync("a lie")) : honest.stateHashAt(step),
        };
        const accuserBefore = await accuser.token.balanceOf();
        const providerBefore = await chain.token.balanceOf();
        const result = await challengeExecution({
          chain: accuser,
          store,
          commit,
          trace,
          segment: 1,
          party: liar,
        });
        trainer.dispose();
        assert.equal(result.dispute.outcome, "ProviderWon");
        assert.equal(result.dispute.step, 19);
        assert.equal(result.slashedWei, 0n);
        const ruling = await network.ruled(result.dispute.id);
        assert.equal(ruling.winner, "provider");
        assert.equal(ruling.kernel, "(claims)");
        assert.equal(await accuser.token.balanceOf(), accuserBefore - BOND);
        assert.equal(await chain.token.balanceOf(), providerBefore + BOND / 2n);
        assert.equal(
          (await network.chain.jobs.slot({ jobId: toBytes32(job.id) })).status,
          "Committed",
        );
        await devnet.increaseTime(601);
        const { paidWei } = await job.settled();
        assert.ok(paidWei > 0n, "the accused provider is paid once the window closes");
      } finally {
        await provider.close();
        await providerWire.close();
        await accuserWire.close();
        for (const dir of dirs) await Deno.remove(dir, { recursive: true });
      }
    },
  );

  await t.step("a cheater that stops answering mid-dispute loses by timeout", async () => {
    const cheater = await CheatingProvider.start({
      network,
      account: 4,
      cheat: { kind: "flip-bit", step: 15 },
    });
    cheater.silentInDisputes = true;
    try {
      const stakeBefore = await cheater.chain.staking.get();
      const job = await train();
      // Wait for the verifier's dispute to stall on the cheater's second move, then let time pass.
      const game = network.chain.game;
      let id = 0n;
      for (let tries = 0; tries < 600; tries++) {
        const count = await game.count();
        if (count > 0n) {
          const d = await game.get(count);
          if (d.jobId === toBytes32(job.id) && d.phase === "Steps" && d.lo > 10) {
            id = count;
            break;
          }
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.ok(id > 0n, "the verifier opened a dispute and the cheater answered once");
      await devnet.increaseTime(601);
      const record = await network.verifiers[0].audited(job.id, { timeoutMs: 60_000 });
      assert.equal(record.dispute?.outcome, "ChallengerWon");
      assert.equal(record.disputed, true);
      assert.equal((await network.chain.jobs.slot({ jobId: toBytes32(job.id) })).status, "Slashed");
      assert.ok((await cheater.chain.staking.get()).stakedWei < stakeBefore.stakedWei);
    } finally {
      await cheater.close();
    }
  });
});
