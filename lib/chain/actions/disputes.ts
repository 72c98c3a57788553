/**
 * The job market's verification hooks: an authorised verification contract (the dispute game, or
 * on devnets an authorised referee account) marks a committed slot disputed and settles it.
 *
 * @module
 */

import type { Address, Hex } from "../types.ts";
import { jobMarketAbi } from "../artifacts/JobMarket.ts";
import type { ChainClient } from "../client.ts";
import { eventsOf, send, type TxResult } from "../transact.ts";

/** Marks a committed slot disputed, inside its challenge window; verifiers only. */
export async function markDisputed(
  client: ChainClient,
  params: { jobId: Hex; slot?: number },
): Promise<TxResult> {
  return await send(client, {
    address: client.addresses.jobMarket,
    abi: jobMarketAbi,
    functionName: "markDisputed",
    args: [params.jobId, BigInt(params.slot ?? 0)],
    action: "disputes.open",
  });
}

/** Parameters of {@linkcode settleDispute}. */
export interface SettleDisputeParams {
  /** The job. */
  jobId: Hex;
  /** The disputed slot; default 0. */
  slot?: number;
  /** Whether the provider's commitment held up. */
  providerHonest: boolean;
  /** Who raised the dispute; rewarded from the slash when the provider lost. */
  challenger: Address;
}

/** Ends a dispute: an honest provider's slot becomes finalizable, a dishonest one is slashed. */
export async function settleDispute(
  client: ChainClient,
  params: SettleDisputeParams,
): Promise<TxResult & { slashedWei: bigint }> {
  const tx = await send(client, {
    address: client.addresses.jobMarket,
    abi: jobMarketAbi,
    functionName: "settleDispute",
    args: [params.jobId, BigInt(params.slot ?? 0), params.providerHonest, params.challenger],
    action: "disputes.settle",
  });
  const [event] = eventsOf(jobMarketAbi, tx.receipt, "DisputeSettled");
  return { ...tx, slashedWei: event.args.slashed as bigint };
}
