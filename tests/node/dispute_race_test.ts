import assert from "node:assert/strict";
import { type Hex, parseGwei } from "viem";
import { startDevnet } from "../../lib/chain/mod.ts";
import { disputeGameAbi } from "../../lib/chain/artifacts/DisputeGame.ts";
import { toBytes32 } from "../../lib/core/hash.ts";
import { NO_MOVES, playDispute } from "../../lib/node/disputes/mod.ts";
import { sha256Sync } from "../../lib/proof/ops.ts";
import { BlobStore } from "../../lib/proof/store.ts";
import { anvilRpc, TOKEN } from "../chain/_devnet.ts";

const STAKE = 200n * TOKEN;

Deno.test("a party whose move is mined after another's that made it moot plays on to the ruling", async () => {
  await using devnet = await startDevnet();
  const submitter = devnet.client(1);
  const provider = devnet.client(2);
  const challenger = devnet.client(3);
  const rival = devnet.client(4);
  await provider.staking.stake({ amountWei: 1_000n * TOKEN });
  for (const i of [5, 6, 7]) {
    await devnet.client(i).staking.stake({ amountWei: STAKE });
    await devnet.client(i).verifiers.register();
  }
  const final = toBytes32(sha256Sync("final state"));
  const root = toBytes32(sha256Sync("trace root"));
  const { jobId } = await submitter.jobs.create({
    refereeCommittee: 3,
    specHash: toBytes32(sha256Sync("a job")),
    paymentWei: 100n * TOKEN,
    timeoutSec: 3_600,
    challengeWindowSec: 600,
    requiredStakeWei: STAKE,
    checkpointInterval: 10,
    steps: 40,
  });
  await provider.jobs.claim({ jobId });
  await provider.jobs.commit({ jobId, finalStateHash: final, traceRoot: root });
  const { id } = await challenger.game.openAvailability({
    jobId,
    finalStateHash: final,
    traceRoot: root,
  });
  await anvilRpc(devnet, "evm_mine", []); // the committee is drawn from the block after the seed
  const pending = async () =>
    Number(BigInt((await anvilRpc<{ pending: Hex }>(devnet, "txpool_status", [])).pending));

  // The challenger sends its draw; a rival's draw, with a higher tip, is mined before it in the
  // same block, so the challenger's was fine when estimated and reverts when mined.
  await anvilRpc(devnet, "evm_setAutomine", [false]);
  const logs: string[] = [];
  let playing: ReturnType<typeof playDispute>;
  try {
    playing = playDispute({
      chain: challenger,
      store: new BlobStore(await Deno.makeTempDir()),
      id,
      role: "challenger",
      party: NO_MOVES,
      pollMs: 50,
      log: (line) => logs.push(line),
    });
    playing.catch(() => {}); // awaited below
    while (await pending() < 1) await new Promise((r) => setTimeout(r, 20));
    const pool = await challenger.game.committeePool(id);
    assert.ok(pool, "the dispute is waiting for its committee");
    const tip = parseGwei("50");
    await rival.wallet.writeContract({
      address: devnet.addresses.disputeGame,
      abi: disputeGameAbi,
      functionName: "drawCommittee",
      args: [id, pool.pool, pool.stakesWei],
      account: rival.wallet.account!,
      chain: rival.wallet.chain,
      gas: 1_000_000n,
      maxPriorityFeePerGas: tip,
      maxFeePerGas: parseGwei("200"),
    });
    assert.equal(await pending(), 2);
    await anvilRpc(devnet, "evm_mine", []);
  } finally {
    await anvilRpc(devnet, "evm_setAutomine", [true]);
  }
  const committee = await challenger.game.committee(id);
  assert.equal(committee.members.length, 3, "the rival drew the committee");
  // The challenger's own draw was mined reverted; it reads the dispute again and plays on.
  let settled = false;
  playing.then(() => settled = true, () => settled = true);
  while (!settled && !logs.some((l) => /mined but reverted.*CommitteeAlreadyDrawn/.test(l))) {
    await new Promise((r) => setTimeout(r, 50));
  }
  if (settled) await playing;
  assert.ok(!settled, "the challenger stopped playing before the ruling");

  // The challenger is still playing: the members' majority ends the dispute, and it sees the end.
  for (const member of committee.members.slice(0, 2)) {
    await devnet.client(devnet.accounts.indexOf(member)).game.rule({
      id,
      ruling: "Challenger",
      kernel: "(availability)",
    });
  }
  const result = await playing;
  assert.equal(result.dispute.outcome, "ChallengerWon");
  assert.equal((await submitter.jobs.slot({ jobId })).status, "Slashed");
});
