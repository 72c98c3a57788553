// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {UD60x18, ud} from "@prb/math/src/UD60x18.sol";
import {exp as prbExp, ln as prbLn} from "@prb/math/src/ud60x18/Math.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

/// @title LMSR cost function with cached exponentials and directed rounding
/// @notice Hanson's logarithmic market scoring rule, C(q) = b * ln(sum_i exp(q_i / b)). The state
/// keeps `e_i = exp(q_i / b)` per outcome (WAD) and their sum `S`, so a trade on outcome `i` costs
/// one `exp` and one `ln`, whatever the number of outcomes:
/// buying `d` shares moves `e_i` to `e_i * exp(d / b)` and costs `b * ln(S' / S)`; selling is the
/// mirror image.
/// @dev Rounding is directed so the market maker never owes more than it holds (the argument is
/// in `lib/delphi/mod.ts`): every stored `e_i` is an UPPER bound of `exp(q_i / b)` (so `b ln(e_i)` bounds
/// the shares outstanding), a buy's cost is rounded UP and a sale's proceeds DOWN, so the pool is
/// always at least `b * ln(S)`, which is at least `max_i q_i`. PRB's `exp`/`ln` are accurate to a
/// few units in the 18th decimal; the margins below are a thousand times that, and
/// `tests/delphi/lmsr_test.ts` checks them against a 60-digit reference.
library Lmsr {
    /// @notice Fixed-point one.
    uint256 internal constant WAD = 1e18;
    /// @notice Relative safety margin added to (or taken from) every `exp`: 1e-15.
    uint256 internal constant EXP_MARGIN_DIV = 1e15;
    /// @notice Absolute safety margin added to (or taken from) every `ln`, in WAD: 1e-15.
    uint256 internal constant LN_MARGIN = 1e3;
    /// @notice Largest stored `e_i` (about exp(43.7)); 20 of them still fit the 128-bit sum.
    uint256 internal constant MAX_EXP = 1e37;
    /// @notice Largest exponent a single trade may apply (PRB's `exp` takes up to ~133).
    uint256 internal constant MAX_STEP = 44e18;

    /// @notice A trade would push an outcome past `MAX_EXP` (its price within e^-40 of one).
    error OutcomeSaturated();

    /// @notice `exp(x)` rounded up, `x` in WAD.
    /// @param x Exponent, at most `MAX_STEP`.
    /// @return An upper bound of exp(x), WAD.
    function expUp(uint256 x) internal pure returns (uint256) {
        if (x > MAX_STEP) revert OutcomeSaturated();
        uint256 e = UD60x18.unwrap(prbExp(ud(x)));
        return e + e / EXP_MARGIN_DIV + 1;
    }

    /// @notice `exp(x)` rounded down but never below one, `x` in WAD.
    /// @param x Exponent.
    /// @return A lower bound of exp(x), WAD, at least `WAD`.
    function expDown(uint256 x) internal pure returns (uint256) {
        if (x > MAX_STEP) x = MAX_STEP; // exp is increasing: a smaller exponent is a lower bound
        uint256 e = UD60x18.unwrap(prbExp(ud(x)));
        uint256 cut = e / EXP_MARGIN_DIV + 1;
        return e > WAD + cut ? e - cut : WAD;
    }

    /// @notice `ln(r)` rounded up, `r >= WAD`.
    /// @param r Argument, WAD.
    /// @return An upper bound of ln(r), WAD.
    function lnUp(uint256 r) internal pure returns (uint256) {
        if (r == WAD) return 0;
        return UD60x18.unwrap(prbLn(ud(r))) + LN_MARGIN;
    }

    /// @notice `ln(r)` rounded down, `r >= WAD`.
    /// @param r Argument, WAD.
    /// @return A lower bound of ln(r), WAD, at least zero.
    function lnDown(uint256 r) internal pure returns (uint256) {
        uint256 l = UD60x18.unwrap(prbLn(ud(r)));
        return l > LN_MARGIN ? l - LN_MARGIN : 0;
    }

    /// @notice The cost of buying `shares` of an outcome, rounded up.
    /// @param b Liquidity parameter, collateral units.
    /// @param e The outcome's cached exponential, WAD.
    /// @param sum Sum of every outcome's exponential, WAD.
    /// @param shares Shares to buy, collateral units.
    /// @return cost Collateral the pool must receive.
    /// @return newE The outcome's exponential after the trade.
    /// @return newSum The sum after the trade.
    function buy(uint256 b, uint256 e, uint256 sum, uint256 shares)
        internal
        pure
        returns (uint256 cost, uint256 newE, uint256 newSum)
    {
        newE = Math.mulDiv(e, expUp(Math.mulDiv(shares, WAD, b, Math.Rounding.Ceil)), WAD, Math.Rounding.Ceil);
        if (newE > MAX_EXP) revert OutcomeSaturated();
        newSum = sum - e + newE;
        cost = Math.mulDiv(b, lnUp(Math.mulDiv(newSum, WAD, sum, Math.Rounding.Ceil)), WAD, Math.Rounding.Ceil);
    }

    /// @notice The proceeds of selling `shares` of an outcome, rounded down.
    /// @param b Liquidity parameter, collateral units.
    /// @param e The outcome's cached exponential, WAD.
    /// @param sum Sum of every outcome's exponential, WAD.
    /// @param shares Shares to sell, collateral units.
    /// @return proceeds Collateral the pool pays out (before the fee).
    /// @return newE The outcome's exponential after the trade.
    /// @return newSum The sum after the trade.
    function sell(uint256 b, uint256 e, uint256 sum, uint256 shares)
        internal
        pure
        returns (uint256 proceeds, uint256 newE, uint256 newSum)
    {
        newE = Math.mulDiv(e, WAD, expDown(shares * WAD / b), Math.Rounding.Ceil);
        newSum = sum - e + newE;
        proceeds = b * lnDown(sum * WAD / newSum) / WAD;
    }

    /// @notice The liquidity parameter a creator's funding buys: the largest `b` with
    /// `b * ln(n) <= funding`, so the creator's worst loss is at most the funding.
    /// @param funding Collateral the creator puts in.
    /// @param n Number of outcomes.
    /// @return b The liquidity parameter.
    function liquidityFor(uint256 funding, uint256 n) internal pure returns (uint256 b) {
        b = funding * WAD / lnUp(n * WAD);
    }
}
