/**
 * Deployment and wiring of the whole protocol on an empty chain: token, Uniswap V2 (factory,
 * WETH9, router02, an AIGENSYN/stable pair with liquidity), timelock + governor, staking, fee
 * router, job market, dispute game, verifier registry and Delphi markets; then ownership of every parameter goes to the timelock.
 *
 * @module
 */

import { keccak256, maxUint256, toBytes, zeroAddress } from "npm:viem@2.57.20";
import type { Abi, Address, Hex } from "./types.ts";
import { ChainError } from "../core/errors.ts";
import * as a from "./artifacts/mod.ts";
import type { ChainClient, ProtocolAddresses } from "./client.ts";
import { inSendTurn, receiptOf, send } from "./transact.ts";

/** Deployment settings; every field has a devnet default. */
export interface DeployOptions {
  /** AIGENSYN minted to the deployer; default 1e9 tokens. */
  supplyWei?: bigint;
  /** Unbonding delay, seconds; default 7 days. */
  unbondingDelaySec?: bigint;
  /** Governor voting delay, seconds; default 1 day. */
  votingDelaySec?: number;
  /** Governor voting period, seconds; default 1 week. */
  votingPeriodSec?: number;
  /** Quorum, percent of supply; default 4. */
  quorumPercent?: bigint;
  /** Timelock delay, seconds; default 2 days. */
  timelockDelaySec?: bigint;
  /** Pool liquidity, AIGENSYN side; default 1,000,000 tokens. */
  poolTokenWei?: bigint;
  /** Pool liquidity, stable side (6 decimals); default 500,000 (price 0.5 stable per token). */
  poolStable?: bigint;
  /**
   * Accounts authorised as verification contracts (and slashers) besides the dispute game: a
   * test devnet's shortcut to settle disputes directly. Refused on any chain but the local
   * devnet's ({@linkcode DEVNET_CHAIN_ID}): in production only the dispute game slashes.
   */
  verifiers?: Address[];
  /** Bond a challenger posts to open a dispute, wei; default 10 tokens. */
  disputeBondWei?: bigint;
  /** Seconds each party has per dispute move; default 600. */
  moveTimeoutSec?: number;
  /** Seconds the referee has to rule; default 1800. */
  refereeTimeoutSec?: number;
  /** Active stake a verifier needs to register in the verifier registry, wei; default 100 tokens. */
  minVerifierStakeWei?: bigint;
  /**
   * Seconds a new verifier waits before it can be drawn (audits, committees); default 0, so that a
   * devnet's verifiers serve at once. The contract itself starts at `DEFAULT_WARMUP` (1 day): a
   * production deployment passes that or more (at most `MAX_WARMUP`, 30 days), so that nobody can
   * register just before a draw.
   */
  verifierWarmupSec?: bigint;
}

const UNSET = zeroAddress;
const DEFAULT_ADMIN_ROLE: Hex = `0x${"00".repeat(32)}`;

async function deploy(
  client: ChainClient,
  name: string,
  abi: Abi,
  bytecode: Hex,
  args: readonly unknown[] = [],
): Promise<Address> {
  let hash: Hex;
  try {
    hash = await inSendTurn(client, () =>
      client.wallet.deployContract(
        {
          abi,
          bytecode,
          args,
          account: client.wallet.account,
          chain: client.wallet.chain,
        } as Parameters<typeof client.wallet.deployContract>[0],
      ));
  } catch (cause) {
    throw new ChainError(
      "DEPLOY_FAILED",
      `deploying ${name} failed; is the chain empty and funded?`,
      {
        cause,
      },
    );
  }
  const { receipt } = await receiptOf(client, hash, `deploy ${name}`);
  if (!receipt.contractAddress) {
    throw new ChainError("DEPLOY_FAILED", `deploying ${name} returned no address`, { value: hash });
  }
  return receipt.contractAddress;
}

/** Chain id of the local devnet (anvil's default), the only chain with test-only slashers. */
export const DEVNET_CHAIN_ID = 31337;

/**
 * Deploys and wires every protocol contract as the client's account, which ends up with the whole
 * token supply minus the pool liquidity and without any admin power.
 *
 * @example
 * ```ts
 * import { deployProtocol } from "./deploy.ts";
 * declare const deployer: import("./client.ts").ChainClient;
 * const addresses = await deployProtocol(deployer, {});
 * console.log(addresses.jobMarket);
 * ```
 */
export async function deployProtocol(
  client: ChainClient,
  options: DeployOptions = {},
): Promise<ProtocolAddresses> {
  if ((options.verifiers ?? []).length > 0 && client.chainId !== DEVNET_CHAIN_ID) {
    throw new ChainError(
      "DEVNET_ONLY",
      `deployProtocol authorises extra slashers (options.verifiers) only on the local devnet ` +
        `(chain ${DEVNET_CHAIN_ID}), not on chain ${client.chainId}; drop the option`,
      { value: options.verifiers },
    );
  }
  const me = client.account;
  const token = await deploy(client, "Token", a.tokenAbi, a.tokenBytecode, [
    me,
    options.supplyWei ?? 10n ** 27n,
  ]);
  const stable = await deploy(client, "TestStable", a.testStableAbi, a.testStableBytecode, [me]);
  const weth = await deploy(client, "WETH9", a.wETH9Abi, a.wETH9Bytecode);
  const uniswapFactory = await deploy(
    client,
    "UniswapV2Factory",
    a.uniswapV2FactoryAbi,
    a.uniswapV2FactoryBytecode,
    [me],
  );
  const uniswapRouter = await deploy(
    client,
    "UniswapV2Router02",
    a.uniswapV2Router02Abi,
    a.uniswapV2Router02Bytecode,
    [uniswapFactory, weth],
  );
  const timelock = await deploy(
    client,
    "ProtocolTimelock",
    a.protocolTimelockAbi,
    a.protocolTimelockBytecode,
    [
      options.timelockDelaySec ?? 2n * 86_400n,
      [],
      [UNSET],
      me,
    ],
  );
  const staking = await deploy(client, "Staking", a.stakingAbi, a.stakingBytecode, [
    token,
    me,
    options.unbondingDelaySec ?? 7n * 86_400n,
  ]);
  // The governor counts active stake as votes, so staking comes first.
  const governor = await deploy(
    client,
    "ProtocolGovernor",
    a.protocolGovernorAbi,
    a.protocolGovernorBytecode,
    [
      token,
      staking,
      timelock,
      options.votingDelaySec ?? 86_400,
      options.votingPeriodSec ?? 7 * 86_400,
      options.quorumPercent ?? 4n,
    ],
  );
  const feeRouter = await deploy(client, "FeeRouter", a.feeRouterAbi, a.feeRouterBytecode, [
    token,
    uniswapRouter,
    timelock,
    me,
  ]);
  const jobMarket = await deploy(client, "JobMarket", a.jobMarketAbi, a.jobMarketBytecode, [
    token,
    staking,
    feeRouter,
    me,
  ]);
  const verifierRegistry = await deploy(
    client,
    "VerifierRegistry",
    a.verifierRegistryAbi,
    a.verifierRegistryBytecode,
    [staking, me, options.minVerifierStakeWei ?? 100n * 10n ** 18n],
  );
  const disputeGame = await deploy(
    client,
    "DisputeGame",
    a.disputeGameAbi,
    a.disputeGameBytecode,
    [
      jobMarket,
      me,
      options.disputeBondWei ?? 10n * 10n ** 18n,
      options.moveTimeoutSec ?? 600,
      options.refereeTimeoutSec ?? 1800,
      verifierRegistry,
    ],
  );
  // Delphi has no owner: its fee is a constant and its fee router is the job market's.
  const delphi = await deploy(client, "Delphi", a.delphiAbi, a.delphiBytecode, [stable, jobMarket]);

  const call = async (address: Address, abi: Abi, functionName: string, args: readonly unknown[]) =>
    await send(client, { address, abi, functionName, args, action: `deploy: ${functionName}` });

  // Wiring, while the deployer still owns everything.
  await call(staking, a.stakingAbi, "setAuthorized", [jobMarket, true]);
  await call(jobMarket, a.jobMarketAbi, "setVerifier", [disputeGame, true]);
  // The dispute game burns stake of referee committee members who rule against the majority.
  await call(staking, a.stakingAbi, "setAuthorized", [disputeGame, true]);
  // Delphi pays its fees in the stable token: the fee router buys AIGENSYN back with them.
  await call(feeRouter, a.feeRouterAbi, "setFeeToken", [stable, true]);
  await call(verifierRegistry, a.verifierRegistryAbi, "setWarmup", [
    options.verifierWarmupSec ?? 0n,
  ]);
  for (const v of options.verifiers ?? []) {
    await call(jobMarket, a.jobMarketAbi, "setVerifier", [v, true]);
    await call(staking, a.stakingAbi, "setAuthorized", [v, true]);
  }
  const role = (name: string) => keccak256(toBytes(name));
  await call(timelock, a.protocolTimelockAbi, "grantRole", [role("PROPOSER_ROLE"), governor]);
  await call(timelock, a.protocolTimelockAbi, "grantRole", [role("CANCELLER_ROLE"), governor]);

  // The AIGENSYN/stable pool the buyback swaps through.
  const poolToken = options.poolTokenWei ?? 1_000_000n * 10n ** 18n;
  const poolStable = options.poolStable ?? 500_000n * 10n ** 6n;
  await call(stable, a.testStableAbi, "mint", [me, poolStable]);
  await call(token, a.tokenAbi, "approve", [uniswapRouter, maxUint256]);
  await call(stable, a.testStableAbi, "approve", [uniswapRouter, maxUint256]);
  const latest = await client.public.getBlock({ blockTag: "latest" });
  await call(uniswapRouter, a.uniswapV2Router02Abi, "addLiquidity", [
    token,
    stable,
    poolToken,
    poolStable,
    poolToken,
    poolStable,
    me,
    latest.timestamp + 3600n,
  ]);
  const pair = await client.public.readContract({
    address: uniswapFactory,
    abi: a.uniswapV2FactoryAbi,
    functionName: "getPair",
    args: [token, stable],
  });

  // Hand every parameter to governance; the deployer keeps no admin power.
  for (
    const [address, abi] of [
      [staking, a.stakingAbi],
      [feeRouter, a.feeRouterAbi],
      [jobMarket, a.jobMarketAbi],
      [disputeGame, a.disputeGameAbi],
      [verifierRegistry, a.verifierRegistryAbi],
    ] as const
  ) {
    await call(address, abi, "transferOwnership", [timelock]);
  }
  await call(timelock, a.protocolTimelockAbi, "renounceRole", [DEFAULT_ADMIN_ROLE, me]);
  return {
    token,
    staking,
    jobMarket,
    disputeGame,
    verifierRegistry,
    feeRouter,
    governor,
    timelock,
    stable,
    uniswapFactory,
    uniswapRouter,
    pair,
    weth,
    delphi,
  };
}
