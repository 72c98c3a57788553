/**
 * Harnesses for testing a network built on this toolkit, never imported by `lib/`: the adversary
 * catalogue (a provider node that cheats as told, {@link CheatingProvider}), the adversarial
 * stateful fuzz of the protocol contracts on a real chain ({@link runAdversarialFuzz}), and the
 * solvency fuzz of Delphi's markets ({@link runSolvencyFuzz}).
 *
 * @example
 * ```ts
 * import { CheatingProvider } from "./mod.ts";
 * declare const network: import("../lib/node/network.ts").Network;
 * const cheater = await CheatingProvider.start({ network, account: 2, cheat: { kind: "flip-bit", step: 7 } });
 * // ... submit a job; a verifier catches and disputes it
 * await cheater.close();
 * ```
 *
 * @module
 */

export { type Cheat, CheatingProvider, type CheatingProviderOptions } from "./adversary.ts";
export {
  type AdversarialFuzzOptions,
  type AdversarialFuzzResult,
  ROLES,
  runAdversarialFuzz,
} from "./chain_fuzz.ts";
export { runSolvencyFuzz, type SolvencyOptions, type SolvencyResult } from "./delphi_solvency.ts";
export { forgeRecording } from "../lib/proof/dispute.ts";
