// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title The stake view the registry reads
interface IStakeOf {
    /// @notice Active stake of `account` (locked part included) and its locked part.
    function stakeOf(address account) external view returns (uint256 staked, uint256 locked);
}

/// @title Registry of staked verifiers
/// @notice Verifiers with at least `minVerifierStake` of active stake in `Staking` register here;
/// the verifiers of each committed job are drawn off-chain from `activeVerifiers()` read at the
/// commit's block, ranked by a hash of the next block's hash, the job id and each account, so that
/// no provider chooses who audits it (see `lib/proof/audit.ts`, `selectVerifiers`).
/// @dev The owner is the governance timelock: it alone sets the minimum stake. A verifier whose
/// stake falls below the minimum stays registered but drops out of `activeVerifiers()`.
contract VerifierRegistry is Ownable {
    /// @notice Most registered verifiers; bounds the loop of `activeVerifiers`.
    uint256 public constant MAX_VERIFIERS = 256;

    /// @notice Where stake is held.
    IStakeOf public immutable staking;
    /// @notice Active stake a verifier needs to register and to be drawn.
    uint256 public minVerifierStake;

    address[] private _verifiers;
    /// @dev Index in `_verifiers` plus one; zero when not registered.
    mapping(address => uint256) private _position;

    /// @notice `account` registered as a verifier with `stake` of active stake.
    event VerifierRegistered(address indexed account, uint256 stake);
    /// @notice `account` left the verifier registry.
    event VerifierDeregistered(address indexed account);
    /// @notice Governance changed the minimum verifier stake.
    event MinVerifierStakeSet(uint256 value);

    /// @notice `account` is registered already.
    error VerifierAlreadyRegistered(address account);
    /// @notice `account` is not registered.
    error VerifierNotRegistered(address account);
    /// @notice `account` has `staked` of active stake, below the `required` minimum.
    error VerifierStakeTooLow(address account, uint256 staked, uint256 required);
    /// @notice The registry holds `max` verifiers already.
    error VerifierRegistryFull(uint256 max);
    /// @notice The staking contract address is zero.
    error ZeroStaking();

    /// @param staking_ The staking contract.
    /// @param owner_ Initial owner (the deployer, who hands ownership to the timelock after wiring).
    /// @param minStake Initial minimum verifier stake, wei.
    constructor(IStakeOf staking_, address owner_, uint256 minStake) Ownable(owner_) {
        if (address(staking_) == address(0)) revert ZeroStaking();
        staking = staking_;
        minVerifierStake = minStake;
    }

    /// @notice Registers the caller as a verifier; needs `minVerifierStake` of active stake.
    function registerVerifier() external {
        if (_position[msg.sender] != 0) revert VerifierAlreadyRegistered(msg.sender);
        if (_verifiers.length >= MAX_VERIFIERS) revert VerifierRegistryFull(MAX_VERIFIERS);
        (uint256 staked,) = staking.stakeOf(msg.sender);
        uint256 required = minVerifierStake;
        if (staked < required) revert VerifierStakeTooLow(msg.sender, staked, required);
        _verifiers.push(msg.sender);
        _position[msg.sender] = _verifiers.length;
        emit VerifierRegistered(msg.sender, staked);
    }

    /// @notice Removes the caller from the registry (its stake is untouched).
    function deregisterVerifier() external {
        uint256 position = _position[msg.sender];
        if (position == 0) revert VerifierNotRegistered(msg.sender);
        address last = _verifiers[_verifiers.length - 1];
        _verifiers[position - 1] = last;
        _position[last] = position;
        _verifiers.pop();
        delete _position[msg.sender];
        emit VerifierDeregistered(msg.sender);
    }

    /// @notice Sets the minimum verifier stake; governance only.
    /// @param value Wei of active stake.
    function setMinVerifierStake(uint256 value) external onlyOwner {
        minVerifierStake = value;
        emit MinVerifierStakeSet(value);
    }

    /// @notice Whether `account` is registered (whatever its stake now).
    /// @param account The account.
    /// @return registered True when registered.
    function isVerifier(address account) external view returns (bool registered) {
        return _position[account] != 0;
    }

    /// @notice Number of registered verifiers.
    /// @return count Registered verifiers, eligible or not.
    function verifierCount() external view returns (uint256 count) {
        return _verifiers.length;
    }

    /// @notice Every registered verifier, eligible or not (order changes on deregistration).
    /// @return accounts The registered accounts.
    function verifiers() external view returns (address[] memory accounts) {
        return _verifiers;
    }

    /// @notice The verifiers a referee committee is drawn from, with their active stake: registered
    /// ones whose active stake is at least `minVerifierStake` now.
    /// @return accounts The eligible accounts, in registry order.
    /// @return stakes Their active stake, wei.
    function drawPool() external view returns (address[] memory accounts, uint256[] memory stakes) {
        uint256 n = _verifiers.length;
        uint256 required = minVerifierStake;
        accounts = new address[](n);
        stakes = new uint256[](n);
        uint256 count = 0;
        for (uint256 i = 0; i < n; ++i) {
            address v = _verifiers[i];
            (uint256 staked,) = staking.stakeOf(v);
            if (staked >= required) {
                accounts[count] = v;
                stakes[count++] = staked;
            }
        }
        assembly ("memory-safe") {
            mstore(accounts, count)
            mstore(stakes, count)
        }
    }

    /// @notice Registered verifiers whose active stake is at least `minVerifierStake` now: the
    /// candidates a job's verifiers are drawn from.
    /// @return accounts The eligible accounts, in registry order.
    function activeVerifiers() external view returns (address[] memory accounts) {
        uint256 n = _verifiers.length;
        uint256 required = minVerifierStake;
        accounts = new address[](n);
        uint256 count = 0;
        for (uint256 i = 0; i < n; ++i) {
            address v = _verifiers[i];
            (uint256 staked,) = staking.stakeOf(v);
            if (staked >= required) accounts[count++] = v;
        }
        // Shrink the array in place to the eligible ones.
        assembly ("memory-safe") {
            mstore(accounts, count)
        }
    }
}
