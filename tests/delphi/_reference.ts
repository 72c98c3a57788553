/**
 * High-precision references for the LMSR tests: exp and ln in 60-decimal fixed point with plain
 * bigint arithmetic (Taylor series after halving for exp, atanh series after reduction by powers of
 * two for ln), accurate far beyond the contract's 18 decimals.
 *
 * @module
 */

/** Fixed-point one of the reference: 1e60. */
export const ONE = 10n ** 60n;
const WAD_TO_ONE = 10n ** 42n;
const HALVINGS = 24n;

/** exp(x) for `x` in WAD, as a 1e60 fixed-point number. */
export function expRef(xWad: bigint): bigint {
  const y = (xWad * WAD_TO_ONE) >> HALVINGS;
  let sum = ONE;
  let term = ONE;
  for (let i = 1n; term !== 0n; i++) {
    term = term * y / ONE / i;
    sum += term;
  }
  for (let i = 0n; i < HALVINGS; i++) sum = sum * sum / ONE;
  return sum;
}

function lnOfReduced(m: bigint): bigint {
  // ln(m) = 2 atanh(z), z = (m - 1) / (m + 1), for m in [1, 2].
  const z = (m - ONE) * ONE / (m + ONE);
  const z2 = z * z / ONE;
  let power = z;
  let sum = 0n;
  for (let k = 1n; power !== 0n; k += 2n) {
    sum += power / k;
    power = power * z2 / ONE;
  }
  return 2n * sum;
}

const LN2 = lnOfReduced(2n * ONE);

/** ln(r) for `r >= 1` in WAD, as a 1e60 fixed-point number. */
export function lnRef(rWad: bigint): bigint {
  let m = rWad * WAD_TO_ONE;
  let k = 0n;
  while (m >= 2n * ONE) {
    m /= 2n;
    k++;
  }
  // Dividing by two floors at 1e-60: far below anything the 18-decimal contract resolves.
  return k * LN2 + lnOfReduced(m);
}

/** A 1e60 fixed-point number in WAD, rounded down. */
export function toWad(x: bigint): bigint {
  return x / WAD_TO_ONE;
}
