// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Lmsr} from "../Lmsr.sol";

/// @title Test harness exposing the LMSR library
/// @notice Lets the TypeScript tests check `Lmsr`'s directed rounding against a high-precision
/// reference through `eth_call`. Never deployed by the protocol.
contract LmsrHarness {
    /// @notice See `Lmsr.expUp`.
    function expUp(uint256 x) external pure returns (uint256) {
        return Lmsr.expUp(x);
    }

    /// @notice See `Lmsr.expDown`.
    function expDown(uint256 x) external pure returns (uint256) {
        return Lmsr.expDown(x);
    }

    /// @notice See `Lmsr.lnUp`.
    function lnUp(uint256 r) external pure returns (uint256) {
        return Lmsr.lnUp(r);
    }

    /// @notice See `Lmsr.lnDown`.
    function lnDown(uint256 r) external pure returns (uint256) {
        return Lmsr.lnDown(r);
    }

    /// @notice See `Lmsr.buy`.
    function buy(uint256 b, uint256 e, uint256 sum, uint256 shares)
        external
        pure
        returns (uint256 cost, uint256 newE, uint256 newSum)
    {
        return Lmsr.buy(b, e, sum, shares);
    }

    /// @notice See `Lmsr.sell`.
    function sell(uint256 b, uint256 e, uint256 sum, uint256 shares)
        external
        pure
        returns (uint256 proceeds, uint256 newE, uint256 newSum)
    {
        return Lmsr.sell(b, e, sum, shares);
    }
}
