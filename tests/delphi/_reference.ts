/**
 * Reference models for the Delphi tests. High-precision LMSR math: exp and ln in 60-decimal fixed
 * point with plain bigint arithmetic (Taylor series after halving for exp, atanh series after
 * reduction by powers of two for ln), accurate far beyond the contract's 18 decimals. And the
 * money of a market that names no winner ({@linkcode LedgerModel}): who is refunded what.
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

/** One account's money in the {@linkcode LedgerModel}. */
export interface ModelAccount {
  /** Collateral paid into the pool, less what sales took back out. */
  deposit: bigint;
  /** Sale proceeds beyond the deposit (fee included), due once the market resolves. */
  held: bigint;
  /** The fee still due on `held`. */
  heldFee: bigint;
}

/**
 * Reference model of a market's money when it names no winner (void or expiry), written from the
 * rule rather than the contract: a buy's cost (fee apart) is the buyer's deposit; a sale pays the
 * seller back out of its own deposit first, fee first out of that, and holds what exceeds it (a
 * gain, with the rest of its fee) until a resolution. A refund returns each deposit, the creator
 * gets its funding, held proceeds are forfeited. The pool is the funding plus every deposit.
 */
export class LedgerModel {
  /** The creator's funding. */
  readonly funding: bigint;
  /** Collateral the market maker holds (fees apart). */
  pool: bigint;
  /** Accrued fees (held ones excluded). */
  fees = 0n;
  /** Accounts by address (lowercase). */
  readonly accounts = new Map<string, ModelAccount>();

  /** A market funded with `funding`. */
  constructor(funding: bigint) {
    this.funding = funding;
    this.pool = funding;
  }

  /** The account's entry, created empty. */
  account(address: string): ModelAccount {
    const key = address.toLowerCase();
    let a = this.accounts.get(key);
    if (!a) {
      a = { deposit: 0n, held: 0n, heldFee: 0n };
      this.accounts.set(key, a);
    }
    return a;
  }

  /** A buy of `cost` collateral into the pool plus `fee`. */
  buy(address: string, cost: bigint, fee: bigint): void {
    this.account(address).deposit += cost;
    this.pool += cost;
    this.fees += fee;
  }

  /** A sale with `proceeds` out of the market maker and `fee` on them; returns what is paid now. */
  sell(address: string, proceeds: bigint, fee: bigint): { paidNow: bigint; held: bigint } {
    const a = this.account(address);
    const returned = proceeds < a.deposit ? proceeds : a.deposit;
    const feeNow = fee < returned ? fee : returned;
    a.deposit -= returned;
    a.held += proceeds - returned;
    a.heldFee += fee - feeNow;
    this.pool -= returned;
    this.fees += feeNow;
    return { paidNow: returned - feeNow, held: proceeds - returned - (fee - feeNow) };
  }

  /** What `refund` pays the account when the market names no winner. */
  refundOf(address: string): bigint {
    return this.accounts.get(address.toLowerCase())?.deposit ?? 0n;
  }

  /** Every deposit: what the refunds pay in all. */
  totalDeposits(): bigint {
    let sum = 0n;
    for (const a of this.accounts.values()) sum += a.deposit;
    return sum;
  }
}
