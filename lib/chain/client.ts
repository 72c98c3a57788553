/**
 * The chain client every action takes: a viem public client for reads, a wallet client bound to
 * one account for writes, and the protocol's contract addresses. Works against the embedded devnet
 * and against any EVM JSON-RPC endpoint.
 *
 * @module
 */

import { createPublicClient, createWalletClient, defineChain, http } from "npm:viem@2.57.20";
import type { Account, Address, PublicClient, WalletClient } from "./types.ts";

/** Addresses of every deployed protocol contract (and the Uniswap V2 pieces the buyback uses). */
export interface ProtocolAddresses {
  /** AIGENSYN token. */
  token: Address;
  /** Staking and peer identity. */
  staking: Address;
  /** Job escrow and settlement. */
  jobMarket: Address;
  /** Two-phase disputes over committed results (a verifier of the job market). */
  disputeGame: Address;
  /** Staked verifiers that jobs' auditors are drawn from. */
  verifierRegistry: Address;
  /** Fee buyback, burn and treasury split. */
  feeRouter: Address;
  /** OpenZeppelin governor. */
  governor: Address;
  /** Timelock that owns every parameter (and is the treasury on devnets). */
  timelock: Address;
  /** 6-decimal stable test token. */
  stable: Address;
  /** Uniswap V2 factory. */
  uniswapFactory: Address;
  /** Uniswap V2 router02. */
  uniswapRouter: Address;
  /** AIGENSYN/stable Uniswap V2 pair. */
  pair: Address;
  /** Wrapped ether used by the router. */
  weth: Address;
  /** Delphi prediction markets (collateral: the stable token). */
  delphi: Address;
}

/** A client that reads, writes as one account, and knows the protocol's addresses. */
export interface ChainClient {
  /** Reads, receipts, logs. */
  readonly public: PublicClient;
  /** Writes as `account`. */
  readonly wallet: WalletClient;
  /** The acting account's address. */
  readonly account: Address;
  /** Chain id the client signs for (EIP-155). */
  readonly chainId: number;
  /** Protocol contract addresses. */
  readonly addresses: ProtocolAddresses;
  /** The JSON-RPC endpoint. */
  readonly rpcUrl: string;
}

/** Options of {@linkcode createChainClient}. */
export interface ChainClientOptions {
  /** JSON-RPC endpoint. */
  rpcUrl: string;
  /** Protocol contract addresses. */
  addresses: ProtocolAddresses;
  /** Acting account: a local viem account (signs here) or an address the node has unlocked. */
  account: Account | Address;
  /** Chain id; default 31337 (anvil). */
  chainId?: number;
  /** Receipt polling interval; default 50 ms (automining devnets answer at once). */
  pollingIntervalMs?: number;
}

/**
 * Creates a chain client for one account.
 *
 * @example
 * ```ts
 * import { createChainClient } from "./client.ts";
 * declare const addresses: import("./client.ts").ProtocolAddresses;
 * const client = createChainClient({
 *   rpcUrl: "http://127.0.0.1:8545",
 *   addresses,
 *   account: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
 * });
 * console.log(client.account);
 * ```
 */
export function createChainClient(options: ChainClientOptions): ChainClient {
  const chain = defineChain({
    id: options.chainId ?? 31337,
    name: `chain-${options.chainId ?? 31337}`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [options.rpcUrl] } },
  });
  const transport = http(options.rpcUrl, { batch: false, retryCount: 0 });
  const pollingInterval = options.pollingIntervalMs ?? 50;
  const publicClient = createPublicClient({ chain, transport, pollingInterval });
  const walletAccount: Account = typeof options.account === "string"
    ? { address: options.account, type: "json-rpc" }
    : options.account;
  const wallet = createWalletClient({ chain, transport, account: walletAccount, pollingInterval });
  return {
    public: publicClient as PublicClient,
    wallet,
    account: walletAccount.address,
    chainId: chain.id,
    addresses: options.addresses,
    rpcUrl: options.rpcUrl,
  };
}

/** The same client acting as another account. */
export function withAccount(client: ChainClient, account: Account | Address): ChainClient {
  const walletAccount: Account = typeof account === "string"
    ? { address: account, type: "json-rpc" }
    : account;
  const wallet = createWalletClient({
    chain: client.wallet.chain,
    transport: http(client.rpcUrl, { batch: false, retryCount: 0 }),
    account: walletAccount,
    pollingInterval: client.wallet.pollingInterval,
  });
  return { ...client, wallet, account: walletAccount.address };
}
