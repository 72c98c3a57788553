/**
 * The benches' common reference: gas of a Uniswap V2 router swap (stable -> AIGENSYN) by an
 * account that already holds both tokens, measured on the bench's own devnet.
 *
 * @module
 */

import { maxUint256 } from "viem";
import { uniswapV2Router02Abi } from "../lib/chain/artifacts/UniswapV2Router02.ts";
import { type Devnet, send } from "../lib/chain/mod.ts";

/** Swaps `amountIn` stable units for AIGENSYN as dev account 7 and returns the gas used. */
export async function univ2SwapGas(devnet: Devnet, amountIn: bigint): Promise<bigint> {
  const swapper = devnet.client(7);
  await swapper.token.approve({
    spender: devnet.addresses.uniswapRouter,
    amountWei: maxUint256,
    token: devnet.addresses.stable,
  });
  const swap = await send(swapper, {
    address: devnet.addresses.uniswapRouter,
    abi: uniswapV2Router02Abi,
    functionName: "swapExactTokensForTokens",
    args: [
      amountIn,
      0n,
      [devnet.addresses.stable, devnet.addresses.token],
      swapper.account,
      (await devnet.now()) + 600n,
    ],
    action: "uniswap swap",
  });
  return swap.gasUsed;
}
