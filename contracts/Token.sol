// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Burnable} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Burnable.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {ERC20Votes} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Votes.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {Time} from "@openzeppelin/contracts/utils/types/Time.sol";

/// @title AIGENSYN protocol token
/// @notice ERC-20 with burn, EIP-2612 permit and ERC20Votes on a timestamp clock (ERC-6372).
/// @dev The whole supply is minted once at construction; afterwards supply only falls, by burns.
/// `totalBurned` makes `totalSupply() == totalMinted - totalBurned` checkable on-chain.
contract Token is ERC20, ERC20Burnable, ERC20Permit, ERC20Votes {
    /// @notice Tokens minted at construction; nothing mints afterwards.
    uint256 public immutable totalMinted;
    /// @notice Tokens destroyed by burns so far.
    uint256 public totalBurned;

    /// @notice The initial supply is zero; a token without supply cannot be staked or paid.
    error ZeroSupply();

    /// @notice Mints `supply` tokens to `holder`.
    /// @param holder Receiver of the whole initial supply (the deployer or a treasury).
    /// @param supply Initial and maximal supply, in wei.
    constructor(address holder, uint256 supply) ERC20("AIGENSYN", "AIGENSYN") ERC20Permit("AIGENSYN") {
        if (supply == 0) revert ZeroSupply();
        totalMinted = supply;
        _mint(holder, supply);
    }

    /// @notice ERC-6372 clock: block timestamps, so governance delays are in seconds.
    /// @return The current block timestamp.
    function clock() public view override returns (uint48) {
        return Time.timestamp();
    }

    /// @notice ERC-6372 clock description.
    /// @return The machine-readable clock mode.
    // solhint-disable-next-line func-name-mixedcase
    function CLOCK_MODE() public pure override returns (string memory) {
        return "mode=timestamp";
    }

    /// @notice EIP-2612 nonce of `owner` (shared by permit and vote delegation by signature).
    /// @param owner The account whose nonce is read.
    /// @return The next nonce.
    function nonces(address owner) public view override(ERC20Permit, Nonces) returns (uint256) {
        return super.nonces(owner);
    }

    /// @dev Counts burns so that supply accounting can be checked without replaying events.
    function _update(address from, address to, uint256 value) internal override(ERC20, ERC20Votes) {
        super._update(from, to, value);
        if (to == address(0)) totalBurned += value;
    }
}
