/**
 * The embedded devnet: anvil on loopback with the whole protocol deployed and wired, test accounts
 * funded with AIGENSYN and the stable token, and typed clients for each. Time travel and
 * snapshots for tests. `await using devnet = await startDevnet()` stops anvil however the scope
 * exits.
 *
 * @module
 */

import { getAddress, maxUint256 } from "npm:viem@2.57.20";
import type { Address, Hex } from "./types.ts";
import { mnemonicToAccount } from "npm:viem@2.57.20/accounts";
import { ChainError } from "../core/errors.ts";
import { sleep } from "../core/sleep.ts";
import { testStableAbi } from "./artifacts/TestStable.ts";
import { tokenAbi } from "./artifacts/Token.ts";
import { type Anvil, type AnvilOptions, startAnvil } from "./anvil.ts";
import { createChainClient, type ProtocolAddresses } from "./client.ts";
import { type DeployOptions, deployProtocol, DEVNET_CHAIN_ID } from "./deploy.ts";
import { createProtocolClient, type ProtocolClient } from "./protocol.ts";
import { send } from "./transact.ts";

/** Options of {@linkcode startDevnet}. */
export interface DevnetOptions extends AnvilOptions, DeployOptions {
  /** AIGENSYN given to each test account; default 1,000,000 tokens. */
  fundTokenWei?: bigint;
  /** Stable tokens (6 decimals) given to each test account; default 100,000. */
  fundStable?: bigint;
}

/** A running devnet. */
export interface Devnet extends AsyncDisposable {
  /** JSON-RPC endpoint. */
  readonly rpcUrl: string;
  /** Deployed contract addresses. */
  readonly addresses: ProtocolAddresses;
  /** Dev accounts, index 0 is the deployer. */
  readonly accounts: Address[];
  /** Account 9, authorised as a verifier (stands in for the dispute game on devnets). */
  readonly referee: Address;
  /** Client of the deployer (account 0), which holds the undistributed supply. */
  readonly deployer: ProtocolClient;
  /** Client for dev account `index`. */
  client(index: number): ProtocolClient;
  /** Moves chain time forward by `seconds` and mines a block. */
  increaseTime(seconds: number | bigint): Promise<void>;
  /** Mines one empty block at the current time (chain time catches up with the clock). */
  mine(): Promise<void>;
  /** Timestamp of the latest block. */
  now(): Promise<bigint>;
  /** Takes a snapshot; `revert` goes back to it. */
  snapshot(): Promise<Hex>;
  /** Reverts to a snapshot (which is consumed: take a new one to go back again). */
  revert(id: Hex): Promise<void>;
  /** Stops anvil. */
  close(): Promise<void>;
}

async function rpc<T>(url: string, method: string, params: unknown[] = []): Promise<T> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  const body = await response.json() as { result?: T; error?: { message: string } };
  if (body.error) {
    throw new ChainError("RPC_FAILED", `${method} failed: ${body.error.message}`, {
      value: params,
    });
  }
  return body.result as T;
}

/**
 * Starts anvil, deploys the protocol and funds accounts 1..9.
 *
 * @example
 * ```ts
 * import { startDevnet } from "./devnet.ts";
 * await using devnet = await startDevnet();
 * const provider = devnet.client(2);
 * await provider.staking.stake({ amountWei: 1000n * 10n ** 18n });
 * ```
 */
export async function startDevnet(options: DevnetOptions = {}): Promise<Devnet> {
  const anvil: Anvil = await startAnvil(options);
  try {
    const accounts = (await rpc<Address[]>(anvil.rpcUrl, "eth_accounts")).map((a) => getAddress(a));
    const referee = accounts[accounts.length - 1];
    const bootstrap = createChainClient({
      rpcUrl: anvil.rpcUrl,
      chainId: options.chainId,
      account: accounts[0],
      addresses: {} as ProtocolAddresses,
    });
    const addresses = await deployProtocol(bootstrap, {
      ...options,
      // The test slasher exists on the local devnet's chain only (deployProtocol refuses it
      // elsewhere).
      verifiers: options.verifiers ??
        ((options.chainId ?? DEVNET_CHAIN_ID) === DEVNET_CHAIN_ID ? [referee] : []),
    });
    const deployer = createProtocolClient({ ...bootstrap, addresses });
    const fundToken = options.fundTokenWei ?? 1_000_000n * 10n ** 18n;
    const fundStable = options.fundStable ?? 100_000n * 10n ** 6n;
    for (const account of accounts.slice(1)) {
      await send(deployer, {
        address: addresses.token,
        abi: tokenAbi,
        functionName: "transfer",
        args: [account, fundToken],
        action: "devnet.fund",
      });
      await send(deployer, {
        address: addresses.stable,
        abi: testStableAbi,
        functionName: "mint",
        args: [account, fundStable],
        action: "devnet.fund",
      });
    }
    const clients = new Map<number, ProtocolClient>([[0, deployer]]);
    const client = (index: number): ProtocolClient => {
      if (!accounts[index]) {
        throw new ChainError("NO_ACCOUNT", `devnet has accounts 0..${accounts.length - 1}`, {
          value: index,
        });
      }
      let c = clients.get(index);
      if (!c) clients.set(index, c = deployer.as(accounts[index]));
      return c;
    };
    const close = (): Promise<void> => anvil.close();
    return {
      rpcUrl: anvil.rpcUrl,
      addresses,
      accounts,
      referee,
      deployer,
      client,
      increaseTime: async (seconds) => {
        await rpc(anvil.rpcUrl, "evm_increaseTime", [Number(seconds)]);
        await rpc(anvil.rpcUrl, "evm_mine");
      },
      mine: async () => {
        await rpc(anvil.rpcUrl, "evm_mine");
      },
      now: async () => (await deployer.public.getBlock({ blockTag: "latest" })).timestamp,
      snapshot: () => rpc<Hex>(anvil.rpcUrl, "evm_snapshot"),
      revert: async (id) => {
        const ok = await rpc<boolean>(anvil.rpcUrl, "evm_revert", [id]);
        if (!ok) throw new ChainError("SNAPSHOT_UNKNOWN", `no snapshot ${id}; take one first`);
      },
      close,
      [Symbol.asyncDispose]: close,
    };
  } catch (error) {
    await anvil.close();
    throw error;
  }
}

/** Options of {@linkcode mineEvery}. */
export interface IntervalMiningOptions {
  /** Time between blocks, ms. */
  intervalMs: number;
  /**
   * Called once when a block cannot be mined (anvil stopped answering); mining stops then.
   * Default: one line on stderr.
   */
  onError?: (error: unknown) => void;
}

/** Blocks being mined on an interval; `stop()` (or `await using`) ends it. */
export interface IntervalMiner extends AsyncDisposable {
  /** Stops mining and waits for a block being mined to finish; safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Mines a block every `intervalMs`, so chain time follows the clock while no transaction arrives.
 * Anvil mines only on transactions by default: without this, a challenge window or deadline
 * measured in block time never passes on a quiet devnet. It never jumps time, so it composes with
 * {@linkcode Devnet.increaseTime}: a block it mines between a jump and the jump's own block only
 * takes the jump in early. Blocks never overlap (the next waits for the last).
 *
 * @example
 * ```ts
 * import { mineEvery, startDevnet } from "./devnet.ts";
 * await using devnet = await startDevnet();
 * await using miner = mineEvery(devnet, { intervalMs: 1000 });
 * // ... chain time now runs on by itself
 * ```
 */
export function mineEvery(
  devnet: Pick<Devnet, "mine">,
  options: IntervalMiningOptions,
): IntervalMiner {
  if (!(options.intervalMs > 0)) {
    throw new ChainError(
      "MINING_INTERVAL",
      `mine on an interval of more than 0 ms, not ${options.intervalMs}`,
      { value: options.intervalMs },
    );
  }
  const onError = options.onError ??
    ((error: unknown) => console.error(`devnet mining stopped: ${(error as Error).message}`));
  const stopped = new AbortController();
  const loop = (async () => {
    while (!stopped.signal.aborted) {
      await sleep(options.intervalMs, stopped.signal);
      if (stopped.signal.aborted) return;
      try {
        await devnet.mine();
      } catch (error) {
        if (!stopped.signal.aborted) onError(error);
        return;
      }
    }
  })();
  const stop = async (): Promise<void> => {
    stopped.abort();
    await loop;
  };
  return { stop, [Symbol.asyncDispose]: stop };
}

/** Anvil's default dev mnemonic: its accounts are public test keys, funded only on devnets. */
export const DEV_MNEMONIC = "test test test test test test test test test test test junk";

/**
 * The private key of devnet account `index` (public knowledge: never fund it on a real chain).
 *
 * @example
 * ```ts
 * import { devAccountKey } from "./devnet.ts";
 * const key = devAccountKey(8); // for a provider process joining a devnet
 * ```
 */
export function devAccountKey(index: number): Hex {
  const key = mnemonicToAccount(DEV_MNEMONIC, { addressIndex: index }).getHdKey().privateKey;
  if (!key) throw new ChainError("NO_ACCOUNT", `cannot derive dev account ${index}`);
  return `0x${Array.from(key, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** Unlimited allowance, for tests and benches that approve once. */
export const UNLIMITED: bigint = maxUint256;
