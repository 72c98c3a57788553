/**
 * Token amounts: integer base units (wei) to and from decimal text, exactly (no floating point).
 *
 * @module
 */

import { SpecError } from "./errors.ts";

/**
 * Decimal text of an amount in base units: `formatUnits(1500000000000000000n, 18)` is `"1.5"`.
 *
 * @example
 * ```ts
 * import { formatUnits } from "./units.ts";
 * console.log(formatUnits(25n * 10n ** 17n, 18)); // "2.5"
 * ```
 */
export function formatUnits(value: bigint, decimals: number): string {
  const negative = value < 0n;
  const digits = (negative ? -value : value).toString().padStart(decimals + 1, "0");
  const whole = digits.slice(0, digits.length - decimals);
  const fraction = digits.slice(digits.length - decimals).replace(/0+$/, "");
  return `${negative ? "-" : ""}${whole}${fraction ? `.${fraction}` : ""}`;
}

/**
 * Base units of a decimal amount: `parseUnits("1.5", 18)` is `1500000000000000000n`. Fails with
 * `SPEC_INVALID_AMOUNT` on anything but plain decimal text with at most `decimals` fraction digits.
 *
 * @example
 * ```ts
 * import { parseUnits } from "./units.ts";
 * console.log(parseUnits("1000", 18)); // 1000000000000000000000n
 * ```
 */
export function parseUnits(text: string, decimals: number): bigint {
  const match = /^(\d+)(?:\.(\d+))?$/.exec(text.trim());
  if (!match || (match[2]?.length ?? 0) > decimals) {
    throw new SpecError(
      "SPEC_INVALID_AMOUNT",
      `"${text}" is not an amount with at most ${decimals} decimals; write it like 1000 or 2.5`,
      { value: text },
    );
  }
  return BigInt(match[1]) * 10n ** BigInt(decimals) +
    BigInt((match[2] ?? "").padEnd(decimals, "0"));
}
