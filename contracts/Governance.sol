// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IGovernor, Governor} from "@openzeppelin/contracts/governance/Governor.sol";
import {GovernorCountingSimple} from "@openzeppelin/contracts/governance/extensions/GovernorCountingSimple.sol";
import {GovernorSettings} from "@openzeppelin/contracts/governance/extensions/GovernorSettings.sol";
import {GovernorTimelockControl} from "@openzeppelin/contracts/governance/extensions/GovernorTimelockControl.sol";
import {GovernorVotes} from "@openzeppelin/contracts/governance/extensions/GovernorVotes.sol";
import {GovernorVotesQuorumFraction} from
    "@openzeppelin/contracts/governance/extensions/GovernorVotesQuorumFraction.sol";
import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
import {IVotes} from "@openzeppelin/contracts/governance/utils/IVotes.sol";

/// @title The stake history governance reads
interface IStakeHistory {
    /// @notice Active stake of `account` at past time `timepoint`.
    function getPastStake(address account, uint256 timepoint) external view returns (uint256);
}

/// @title AIGENSYN token-holder governance
/// @notice OpenZeppelin Governor voting with AIGENSYN on its timestamp clock (delays in seconds),
/// executing through a `TimelockController` that owns every protocol parameter. An account's
/// votes are its delegated AIGENSYN votes plus its active stake in `Staking` at the snapshot:
/// staking (which moves tokens into the staking contract, whose balance is never delegated) does
/// not take a provider's or verifier's voice away.
contract ProtocolGovernor is
    Governor,
    GovernorSettings,
    GovernorCountingSimple,
    GovernorVotes,
    GovernorVotesQuorumFraction,
    GovernorTimelockControl
{
    /// @notice Where stake is held; its stake history counts as votes.
    IStakeHistory public immutable staking;

    /// @param votes The AIGENSYN token.
    /// @param staking_ The staking contract.
    /// @param timelock The timelock that executes passed proposals.
    /// @param votingDelay Seconds between proposal and vote start.
    /// @param votingPeriod Seconds the vote lasts.
    /// @param quorumPercent Quorum as a percentage of supply at the snapshot.
    constructor(
        IVotes votes,
        IStakeHistory staking_,
        TimelockController timelock,
        uint48 votingDelay,
        uint32 votingPeriod,
        uint256 quorumPercent
    )
        Governor("AIGENSYN Governor")
        GovernorSettings(votingDelay, votingPeriod, 0)
        GovernorVotes(votes)
        GovernorVotesQuorumFraction(quorumPercent)
        GovernorTimelockControl(timelock)
    {
        staking = staking_;
    }

    /// @dev Delegated token votes plus active stake at `timepoint`.
    function _getVotes(address account, uint256 timepoint, bytes memory params)
        internal
        view
        override(Governor, GovernorVotes)
        returns (uint256)
    {
        return super._getVotes(account, timepoint, params) + staking.getPastStake(account, timepoint);
    }

    /// @inheritdoc Governor
    function proposalThreshold() public view override(Governor, GovernorSettings) returns (uint256) {
        return super.proposalThreshold();
    }

    /// @inheritdoc Governor
    function state(uint256 proposalId)
        public
        view
        override(Governor, GovernorTimelockControl)
        returns (ProposalState)
    {
        return super.state(proposalId);
    }

    /// @inheritdoc Governor
    function proposalNeedsQueuing(uint256 proposalId)
        public
        view
        override(Governor, GovernorTimelockControl)
        returns (bool)
    {
        return super.proposalNeedsQueuing(proposalId);
    }

    function _queueOperations(
        uint256 proposalId,
        address[] memory targets,
        uint256[] memory values,
        bytes[] memory calldatas,
        bytes32 descriptionHash
    ) internal override(Governor, GovernorTimelockControl) returns (uint48) {
        return super._queueOperations(proposalId, targets, values, calldatas, descriptionHash);
    }

    function _executeOperations(
        uint256 proposalId,
        address[] memory targets,
        uint256[] memory values,
        bytes[] memory calldatas,
        bytes32 descriptionHash
    ) internal override(Governor, GovernorTimelockControl) {
        super._executeOperations(proposalId, targets, values, calldatas, descriptionHash);
    }

    function _cancel(
        address[] memory targets,
        uint256[] memory values,
        bytes[] memory calldatas,
        bytes32 descriptionHash
    ) internal override(Governor, GovernorTimelockControl) returns (uint256) {
        return super._cancel(targets, values, calldatas, descriptionHash);
    }

    function _executor() internal view override(Governor, GovernorTimelockControl) returns (address) {
        return super._executor();
    }
}

/// @title The protocol's timelock
/// @notice A plain OpenZeppelin `TimelockController`; the governor proposes, anyone executes.
contract ProtocolTimelock is TimelockController {
    /// @param minDelay Seconds between queueing and execution.
    /// @param proposers Accounts allowed to queue (the governor).
    /// @param executors Accounts allowed to execute (zero address = anyone).
    /// @param admin Temporary admin for wiring, or zero.
    constructor(uint256 minDelay, address[] memory proposers, address[] memory executors, address admin)
        TimelockController(minDelay, proposers, executors, admin)
    {}
}
