// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title The governed parameters of the job market
/// @notice Every value here is set by the owner, which after deployment is the governance timelock,
/// and only within the bounds below.
abstract contract MarketParameters is Ownable {
    /// @notice Basis-point denominator.
    uint256 internal constant BPS = 10_000;
    /// @notice Highest protocol fee governance may set: 10%.
    uint16 public constant MAX_FEE_BPS = 1_000;
    /// @notice Longest challenge window a job may ask for.
    uint32 public constant MAX_CHALLENGE_WINDOW = 30 days;

    // Storage is laid out by use: `createJob` reads only the first slot (shared with the owner),
    // the slash paths the second.

    /// @notice Protocol fee on each payment, in basis points (50 = 0.5%).
    uint16 public feeBps = 50;
    /// @notice Shortest challenge window a job may ask for, in seconds.
    uint32 public minChallengeWindow = 60;
    /// @notice Version of the current slash percentages; each job snapshots it at creation.
    uint16 public slashTermsVersion;
    /// @notice Least stake a job may require of its providers, in whole AIGENSYN: with none, a
    /// provider that cheats risks nothing.
    uint32 public minRequiredStakeTokens = 1;

    /// @notice Share of the required stake slashed from a provider that abandons a claimed slot.
    uint16 public abandonSlashBps = 1_000;
    /// @notice Share of the required stake slashed from a provider that loses a dispute.
    uint16 public disputeSlashBps = 5_000;
    /// @notice Share of a dispute slash paid to the challenger; the rest goes to the submitter.
    uint16 public challengerRewardBps = 5_000;
    /// @notice Seconds after its claim during which a provider may release a slot it cannot run
    /// without penalty (`JobMarket.releaseJob`); a later release is an abandonment.
    uint32 public releaseGrace = 600;
    /// @notice Longest release grace governance may set.
    uint32 public constant MAX_RELEASE_GRACE = 1 days;
    /// @notice Where protocol fees go.
    address public feeRouter;

    /// @notice The slash percentages a job is created under.
    struct SlashTerms {
        uint16 abandonSlashBps;
        uint16 disputeSlashBps;
        uint16 challengerRewardBps;
    }

    /// @notice The slash percentages of each version.
    mapping(uint16 => SlashTerms) public slashTermsOf;
    /// @notice Verification contracts allowed to dispute and settle.
    mapping(address => bool) public verifiers;
    /// @notice Index (from 1) each verification contract got when first authorised; it is kept
    /// when the contract is deauthorised, so that it can still end the disputes it opened.
    mapping(address => uint16) public verifierIndex;
    /// @notice Verification contracts ever authorised.
    uint16 public verifierCount;

    /// @notice A governed value changed.
    event ParameterSet(bytes32 indexed name, uint256 value);
    /// @notice The fee router changed.
    event FeeRouterSet(address router);
    /// @notice A verification contract was allowed or disallowed.
    event VerifierSet(address indexed verifier, bool allowed);

    /// @notice A basis-point value exceeds its bound.
    error BpsTooHigh(uint256 value, uint256 max);
    /// @notice The challenge window bound is out of range.
    error InvalidWindowBound(uint256 value, uint256 max);
    /// @notice A zero address was given.
    error ZeroRouter();

    constructor(address router, address owner_) Ownable(owner_) {
        if (router == address(0)) revert ZeroRouter();
        feeRouter = router;
        slashTermsOf[0] = SlashTerms(abandonSlashBps, disputeSlashBps, challengerRewardBps);
    }

    /// @notice Sets the protocol fee; governance only.
    /// @param value Basis points, at most `MAX_FEE_BPS`.
    function setFeeBps(uint16 value) external onlyOwner {
        if (value > MAX_FEE_BPS) revert BpsTooHigh(value, MAX_FEE_BPS);
        feeBps = value;
        emit ParameterSet("feeBps", value);
    }

    /// @notice Sets the abandon slash fraction; governance only.
    /// @param value Basis points of the required stake.
    function setAbandonSlashBps(uint16 value) external onlyOwner {
        if (value > BPS) revert BpsTooHigh(value, BPS);
        abandonSlashBps = value;
        _newSlashTerms();
        emit ParameterSet("abandonSlashBps", value);
    }

    /// @notice Sets the dispute slash fraction; governance only.
    /// @param value Basis points of the required stake.
    function setDisputeSlashBps(uint16 value) external onlyOwner {
        if (value > BPS) revert BpsTooHigh(value, BPS);
        disputeSlashBps = value;
        _newSlashTerms();
        emit ParameterSet("disputeSlashBps", value);
    }

    /// @notice Sets the challenger's share of a dispute slash; governance only.
    /// @param value Basis points of the slash.
    function setChallengerRewardBps(uint16 value) external onlyOwner {
        if (value > BPS) revert BpsTooHigh(value, BPS);
        challengerRewardBps = value;
        _newSlashTerms();
        emit ParameterSet("challengerRewardBps", value);
    }

    /// @notice Sets the shortest allowed challenge window; governance only.
    /// @param value Seconds, at most `MAX_CHALLENGE_WINDOW`.
    function setMinChallengeWindow(uint32 value) external onlyOwner {
        if (value > MAX_CHALLENGE_WINDOW) revert InvalidWindowBound(value, MAX_CHALLENGE_WINDOW);
        minChallengeWindow = value;
        emit ParameterSet("minChallengeWindow", value);
    }

    /// @notice Sets the penalty-free release period after a claim; governance only.
    /// @param value Seconds, at most `MAX_RELEASE_GRACE`.
    function setReleaseGrace(uint32 value) external onlyOwner {
        if (value > MAX_RELEASE_GRACE) revert InvalidWindowBound(value, MAX_RELEASE_GRACE);
        releaseGrace = value;
        emit ParameterSet("releaseGrace", value);
    }

    /// @notice Sets the least stake a job may require; governance only.
    /// @param value Whole AIGENSYN.
    function setMinRequiredStakeTokens(uint32 value) external onlyOwner {
        minRequiredStakeTokens = value;
        emit ParameterSet("minRequiredStakeTokens", value);
    }

    /// @notice Sets where fees go; governance only.
    /// @param router The new fee router.
    function setFeeRouter(address router) external onlyOwner {
        if (router == address(0)) revert ZeroRouter();
        feeRouter = router;
        emit FeeRouterSet(router);
    }

    /// @notice Allows or disallows a verification contract; governance only.
    /// @param verifier The contract.
    /// @param allowed Whether it may dispute and settle.
    function setVerifier(address verifier, bool allowed) external onlyOwner {
        verifiers[verifier] = allowed;
        if (allowed && verifierIndex[verifier] == 0) verifierIndex[verifier] = ++verifierCount;
        emit VerifierSet(verifier, allowed);
    }

    /// @dev Records the current slash percentages as a new version: jobs created from now on use
    /// it, open jobs keep theirs.
    function _newSlashTerms() private {
        uint16 version = slashTermsVersion + 1;
        slashTermsVersion = version;
        slashTermsOf[version] = SlashTerms(abandonSlashBps, disputeSlashBps, challengerRewardBps);
        emit ParameterSet("slashTermsVersion", version);
    }
}
