// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title A hostile ERC-20 used by tests to attack the protocol through re-entrancy
/// @notice On `approve` it calls back into `target` with `payload`, bubbling any revert, so a test
/// can check that the protocol refuses the nested call instead of running it.
contract ReentrantToken is ERC20 {
    /// @notice The contract to call back into.
    address public target;
    /// @notice The calldata of the nested call.
    bytes public payload;

    /// @notice Mints `supply` to the deployer.
    /// @param supply Initial supply.
    constructor(uint256 supply) ERC20("Reentrant", "EVIL") {
        _mint(msg.sender, supply);
    }

    /// @notice Sets the call made from inside `approve`.
    /// @param newTarget Contract to call.
    /// @param newPayload Calldata.
    function arm(address newTarget, bytes calldata newPayload) external {
        target = newTarget;
        payload = newPayload;
    }

    /// @notice ERC-20 approve that first re-enters `target` when armed.
    /// @param spender Spender.
    /// @param value Allowance.
    /// @return true
    function approve(address spender, uint256 value) public override returns (bool) {
        if (target != address(0)) {
            (bool ok, bytes memory data) = target.call(payload);
            if (!ok) {
                assembly ("memory-safe") {
                    revert(add(data, 32), mload(data))
                }
            }
        }
        return super.approve(spender, value);
    }
}
