// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title A 6-decimal stable test token for devnets
/// @notice Stands in for USDC on a local chain: Delphi fees and buyback swaps are paid in it.
contract TestStable is ERC20, Ownable {
    /// @notice Creates the token owned by `owner`, who alone can mint.
    /// @param owner The minter.
    constructor(address owner) ERC20("Test USD", "TUSD") Ownable(owner) {}

    /// @notice Six decimals, like USDC.
    /// @return 6
    function decimals() public pure override returns (uint8) {
        return 6;
    }

    /// @notice Mints `amount` to `to`; owner only.
    /// @param to Receiver.
    /// @param amount Amount in base units (1e6 per dollar).
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }
}
