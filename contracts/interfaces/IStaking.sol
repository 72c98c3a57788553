// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title The staking surface that protocol contracts (job market, disputes) call
interface IStaking {
    /// @notice Locks `amount` of `account`'s stake so it cannot be unstaked.
    function lock(address account, uint256 amount) external;

    /// @notice Releases a lock of `amount` on `account` that the caller took with `lock`. It never
    /// reverts for such a lock, even after a slash took part of the stake behind it.
    function unlock(address account, uint256 amount) external;

    /// @notice Takes up to `amount` from `account`'s stake (free active stake first, then locked,
    /// then unbonding) and sends it to `to`.
    /// @return slashed The amount actually taken.
    function slash(address account, uint256 amount, address to) external returns (uint256 slashed);
}
