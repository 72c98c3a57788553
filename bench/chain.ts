/**
 * Coordination-layer bench: gas of every user action on the real contracts (anvil), the job
 * lifecycle budget, ERC-20 transfer and Uniswap V2 swap references measured in the same run, exact
 * fee splitting over awkward payment amounts, and the adversarial fuzz through the real dispute
 * game with its safety and liveness invariants (`deno task bench chain [runs] [seed] [maxActions]`).
 *
 * Gas is measured in steady state: another job's escrow is open and earlier fees wait in the fee
 * router, as on a live market, so no storage slot is paid for the first time by the measured job.
 *
 * @module
 */

import { type Hex, keccak256, maxUint256, toBytes } from "viem";
import { testStableAbi } from "../lib/chain/artifacts/TestStable.ts";
import { ROLES, runAdversarialFuzz } from "../testing/chain_fuzz.ts";
import { type Devnet, type ProtocolClient, send, startDevnet } from "../lib/chain/mod.ts";
import { univ2SwapGas } from "./_univ2.ts";
import { figure } from "./figure.ts";

const TOKEN = 10n ** 18n;
const spec = (label: string): Hex => keccak256(toBytes(label));
const hash = (label: string): Hex => keccak256(toBytes(`h:${label}`));

async function lifecycle(
  devnet: Devnet,
  submitter: ProtocolClient,
  provider: ProtocolClient,
  label: string,
  paymentWei: bigint,
): Promise<{ gas: Record<string, bigint>; paid: bigint; fee: bigint }> {
  const create = await submitter.jobs.create({
    specHash: spec(label),
    paymentWei,
    timeoutSec: 3600,
    challengeWindowSec: 60,
    requiredStakeWei: 100n * TOKEN,
  });
  const claim = await provider.jobs.claim({ jobId: create.jobId });
  const commit = await provider.jobs.commit({
    jobId: create.jobId,
    finalStateHash: hash(`${label}:state`),
    traceRoot: hash(`${label}:trace`),
  });
  await devnet.increaseTime(61);
  const finalize = await submitter.jobs.finalize({ jobId: create.jobId, slot: claim.slot });
  return {
    gas: {
      create: create.gasUsed,
      claim: claim.gasUsed,
      commit: commit.gasUsed,
      finalize: finalize.gasUsed,
    },
    paid: finalize.paidWei,
    fee: finalize.feeWei,
  };
}

async function gasFigures(devnet: Devnet): Promise<void> {
  const submitter = devnet.client(1);
  const provider = devnet.client(2);
  const other = devnet.client(3);
  await submitter.token.approve({ spender: devnet.addresses.jobMarket, amountWei: maxUint256 });
  await provider.staking.stake({ amountWei: 10_000n * TOKEN });
  // Steady state: one finished job (fees pending in the router) and one open escrow.
  await lifecycle(devnet, submitter, provider, "warmup", 50n * TOKEN);
  await submitter.jobs.create({
    specHash: spec("background"),
    paymentWei: TOKEN,
    timeoutSec: 7200,
  });

  const { gas } = await lifecycle(devnet, submitter, provider, "measured", 50n * TOKEN);
  for (const [name, used] of Object.entries(gas)) figure(`gas.${name}`, Number(used), "gas");
  figure("gas.job_lifecycle", Number(gas.create + gas.claim + gas.commit + gas.finalize), "gas");

  const stake = await other.staking.stake({ amountWei: 1_000n * TOKEN });
  figure("gas.stake", Number(stake.gasUsed), "gas");
  const unstake = await other.staking.requestUnstake({ amountWei: 400n * TOKEN });
  figure("gas.unstake", Number(unstake.gasUsed), "gas");
  await devnet.increaseTime(7 * 86_400);
  figure("gas.withdraw", Number((await other.staking.withdraw()).gasUsed), "gas");

  // Slash: a provider whose commitment loses a dispute (the referee stands in for the game).
  const referee = devnet.client(9);
  const job = await submitter.jobs.create({
    specHash: spec("disputed"),
    paymentWei: TOKEN,
    timeoutSec: 3600,
    requiredStakeWei: 100n * TOKEN,
  });
  await provider.jobs.claim({ jobId: job.jobId });
  await provider.jobs.commit({
    jobId: job.jobId,
    finalStateHash: hash("bad"),
    traceRoot: hash("t"),
  });
  await referee.disputes.open({ jobId: job.jobId });
  const slash = await referee.disputes.settle({
    jobId: job.jobId,
    providerHonest: false,
    challenger: referee.account,
  });
  figure("gas.slash", Number(slash.gasUsed), "gas");

  // Buyback: stable fees (Delphi pays in it) swapped through the Uniswap V2 pair.
  await send(devnet.client(4), {
    address: devnet.addresses.stable,
    abi: testStableAbi,
    functionName: "transfer",
    args: [devnet.addresses.feeRouter, 1_000n * 10n ** 6n],
    action: "fund router",
  });
  // The buyback prices against the pool's TWAP: observe it, wait a window, then buy back.
  const { readyAt } = await other.fees.observe();
  await devnet.increaseTime(readyAt - (await devnet.now()));
  figure("gas.buyback", Number((await other.fees.buyback()).gasUsed), "gas");
  figure(
    "gas.distribute",
    Number((await other.fees.distribute().catch(() => undefined))?.gasUsed ?? 0n),
    "gas",
  );

  // Governance: delegate, propose a fee change, vote, queue, execute.
  const holder = devnet.deployer;
  await holder.governance.delegate();
  await devnet.increaseTime(1);
  const proposal = {
    calls: [
      holder.governance.parameterCall({
        contract: "jobMarket",
        functionName: "setFeeBps",
        value: 40,
      }),
    ],
    description: "Lower the protocol fee to 0.4%",
  };
  const proposed = await holder.governance.propose(proposal);
  figure("gas.propose", Number(proposed.gasUsed), "gas");
  await devnet.increaseTime(86_400 + 1);
  const vote = await holder.governance.vote({ proposalId: proposed.proposalId, support: "for" });
  figure("gas.vote", Number(vote.gasUsed), "gas");
  await devnet.increaseTime(7 * 86_400 + 1);
  figure("gas.queue", Number((await holder.governance.queue(proposal)).gasUsed), "gas");
  await devnet.increaseTime(2 * 86_400 + 1);
  figure("gas.execute", Number((await holder.governance.execute(proposal)).gasUsed), "gas");

  // References in the same run.
  const transfer = await devnet.client(5).token.transfer({
    to: devnet.accounts[6],
    amountWei: TOKEN,
  });
  figure("gas.erc20_transfer", Number(transfer.gasUsed), "gas");
  const swapGas = await univ2SwapGas(devnet, 100n * 10n ** 6n);
  figure("gas.univ2_swap", Number(swapGas), "gas");
}

/** Payment amounts that stress rounding: tiny, odd, fee-boundary, and near the uint96 maximum. */
function awkwardAmounts(max: bigint): bigint[] {
  return [
    1n,
    2n,
    3n,
    199n,
    200n,
    201n,
    9_999n,
    10_001n,
    1_000_000_007n,
    10n ** 18n + 1n,
    123_456_789_012_345_678_901n,
    max / 3n,
    max - 1n,
    max,
  ];
}

async function feeSplitExact(devnet: Devnet): Promise<number> {
  const submitter = devnet.deployer;
  const provider = devnet.client(8);
  const distributor = devnet.client(5);
  await provider.staking.stake({ amountWei: 1_000n * TOKEN });
  await submitter.token.approve({ spender: devnet.addresses.jobMarket, amountWei: maxUint256 });
  const treasury = devnet.addresses.timelock;
  // Near the uint96 ceiling of a payment, within what the submitter holds for the whole sweep.
  const max = (await submitter.token.balanceOf()) / 4n;
  let exact = true;
  for (const [i, payment] of awkwardAmounts(max).entries()) {
    const { paid, fee } = await lifecycle(devnet, submitter, provider, `split-${i}`, payment);
    let burned = 0n;
    let toTreasury = 0n;
    const treasuryBefore = await submitter.token.balanceOf({ account: treasury });
    const supplyBefore = (await submitter.token.supply()).totalSupplyWei;
    if (fee > 0n) {
      ({ burnedWei: burned, treasuryWei: toTreasury } = await distributor.fees.distribute());
    }
    const treasuryGain = (await submitter.token.balanceOf({ account: treasury })) - treasuryBefore;
    const supplyDrop = supplyBefore - (await submitter.token.supply()).totalSupplyWei;
    const ok = paid + burned + toTreasury === payment &&
      fee === payment * 50n / 10_000n && // 0.5%, rounded down: < 1 wei in the provider's favour
      burned === fee * 7_000n / 10_000n && // 70%, rounded down: < 1 wei in the treasury's favour
      treasuryGain === toTreasury && supplyDrop === burned;
    if (!ok) {
      console.error(
        `fee split not exact for payment ${payment}: paid ${paid} fee ${fee} burned ${burned}`,
      );
      exact = false;
    }
  }
  return exact ? 1 : 0;
}

const runs = Number(Deno.args[1] ?? 500);
const maxActions = Number(Deno.args[3] ?? 24);
{
  await using devnet = await startDevnet();
  await gasFigures(devnet);
}
{
  await using devnet = await startDevnet({ supplyWei: 2n ** 96n - 1n });
  figure("chain.fee_split_exact", await feeSplitExact(devnet), "bool");
}
{
  // No EOA is authorised to slash or settle: every dispute goes through the real DisputeGame.
  await using devnet = await startDevnet({ accounts: ROLES.accounts + 3, verifiers: [] });
  const started = performance.now();
  const result = await runAdversarialFuzz(devnet, {
    runs,
    maxActions,
    seed: Number(Deno.args[2] ?? 42),
  });
  const safety = [...result.invariantViolations, ...result.adversarialViolations];
  figure("chain.adversarial_runs", result.runs, "runs");
  figure("chain.adversarial_actions", result.actions, "actions");
  figure("chain.adversarial_disputes", result.coverage.DisputeOpened ?? 0, "disputes");
  figure("chain.adversarial_rulings", result.coverage.Ruled ?? 0, "rulings");
  figure("chain.adversarial_violations", safety.length, "violations");
  figure("chain.liveness_violations", result.livenessViolations.length, "violations");
  // The protocol invariants (supply, solvency, stake conservation) of the same run.
  figure("chain.invariant_runs", result.runs, "runs");
  figure("chain.invariant_violations", result.invariantViolations.length, "violations");
  figure("chain.unexpected_reverts", result.unexpectedReverts.length, "reverts");
  figure("chain.adversarial_seconds", (performance.now() - started) / 1000, "s");
  const first = [...safety, ...result.livenessViolations, ...result.unexpectedReverts];
  for (const v of first.slice(0, 5)) console.error(v);
}
