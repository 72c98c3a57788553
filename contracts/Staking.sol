// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {Checkpoints} from "@openzeppelin/contracts/utils/structs/Checkpoints.sol";
import {IStaking} from "./interfaces/IStaking.sol";
import {PeerIdentity} from "./PeerIdentity.sol";

/// @title Staking of AIGENSYN by providers and verifiers
/// @notice Stake, request an unstake, withdraw after the unbonding delay. Stake backing a claimed job
/// or an audit is locked; authorised protocol contracts can slash it, including stake mid-unbonding.
/// A node also binds its libp2p peer id here (see `PeerIdentity`).
/// @dev A slash takes free stake before locked stake, and the locked stake it takes is recorded as
/// the account's lock shortfall, so that every lock can still be unlocked in full: a penalty (a
/// referee committee's, say) never strands the jobs whose locks it ate. The owner is the governance timelock: it alone sets the delay and the authorised contracts.
contract Staking is IStaking, PeerIdentity, Ownable, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;
    using Checkpoints for Checkpoints.Trace208;

    /// @notice Stake of one account. `locked <= staked` always holds.
    struct Stake {
        uint96 staked;
        uint96 locked;
        /// @dev Whether `_lockShortfall` holds anything for the account, so that the common
        /// unlock (no slash ever ate a lock) reads no second slot.
        bool shortfall;
    }

    /// @notice Stake on its way out. Requests add up; each request restarts the delay.
    struct Unbonding {
        uint96 amount;
        uint40 releaseAt;
    }

    /// @notice Longest unbonding delay governance may set.
    uint64 public constant MAX_UNBONDING_DELAY = 365 days;

    /// @notice The staked token (AIGENSYN).
    IERC20 public immutable token;
    /// @notice Seconds between an unstake request and the withdrawal it allows.
    uint64 public unbondingDelay;
    /// @notice Protocol contracts allowed to lock, unlock and slash.
    mapping(address => bool) public authorized;

    mapping(address => Stake) private _stakes;
    mapping(address => Unbonding) private _unbondings;
    /// @dev Each account's active stake over time, by block timestamp (the token's ERC-6372 voting
    /// clock), so that governance counts staked tokens as votes at a proposal's snapshot.
    mapping(address => Checkpoints.Trace208) private _stakeHistory;
    /// @dev Per account, locks that authorised contracts still hold but a slash already took.
    mapping(address => uint256) private _lockShortfall;

    /// @notice `account` added `amount` to its stake, now `total`.
    event Staked(address indexed account, uint256 amount, uint256 total);
    /// @notice `account` moved `amount` into unbonding, withdrawable from `releaseAt`.
    event UnstakeRequested(address indexed account, uint256 amount, uint256 releaseAt);
    /// @notice `account` withdrew `amount` of unbonded stake.
    event Withdrawn(address indexed account, uint256 amount);
    /// @notice `amount` of `account`'s stake was locked by `by`.
    event StakeLocked(address indexed account, address indexed by, uint256 amount);
    /// @notice `amount` of `account`'s stake was unlocked by `by`.
    event StakeUnlocked(address indexed account, address indexed by, uint256 amount);
    /// @notice `by` slashed `amount` of `account`'s stake and sent it to `to`.
    event Slashed(address indexed account, address indexed by, address indexed to, uint256 amount);
    /// @notice A slash by `by` took `amount` of `account`'s locked stake (its free stake did not
    /// cover it); the locks it backed are `shortfall` short now, until they are unlocked.
    event LockedStakeSlashed(
        address indexed account, address indexed by, uint256 amount, uint256 shortfall
    );
    /// @notice Governance changed the unbonding delay.
    event UnbondingDelaySet(uint256 delay);
    /// @notice Governance authorised or deauthorised a protocol contract.
    event AuthorizedSet(address indexed account, bool allowed);

    /// @notice An amount of zero was given.
    error ZeroAmount();
    /// @notice A zero address was given where an account is needed.
    error ZeroAddress();
    /// @notice `account` has `available` unlocked stake, less than the `requested` amount.
    error InsufficientUnlockedStake(address account, uint256 available, uint256 requested);
    /// @notice Unlocking `requested` exceeds every lock `account` has (`locked`, lock shortfall
    /// included): the caller unlocks more than it locked.
    error LockUnderflow(address account, uint256 locked, uint256 requested);
    /// @notice Stake history is known before the current block; `timepoint` is `current` or later.
    error FutureLookup(uint256 timepoint, uint256 current);
    /// @notice `account` has no unbonding stake to withdraw.
    error NothingToWithdraw(address account);
    /// @notice The unbonding stake becomes withdrawable at `releaseAt`.
    error StillUnbonding(address account, uint256 releaseAt);
    /// @notice `caller` is not an authorised protocol contract.
    error NotAuthorized(address caller);
    /// @notice The delay exceeds `MAX_UNBONDING_DELAY`.
    error UnbondingDelayTooLong(uint256 delay, uint256 max);

    modifier onlyAuthorized() {
        if (!authorized[msg.sender]) revert NotAuthorized(msg.sender);
        _;
    }

    /// @param stakedToken The AIGENSYN token.
    /// @param owner_ Initial owner (the deployer, who hands ownership to the timelock after wiring).
    /// @param delay Initial unbonding delay in seconds.
    constructor(IERC20 stakedToken, address owner_, uint64 delay) Ownable(owner_) {
        if (delay > MAX_UNBONDING_DELAY) revert UnbondingDelayTooLong(delay, MAX_UNBONDING_DELAY);
        token = stakedToken;
        unbondingDelay = delay;
    }

    /// @notice Adds `amount` of the caller's tokens to its stake (needs an allowance).
    /// @param amount Tokens to stake, in wei.
    function stake(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        Stake storage s = _stakes[msg.sender];
        uint96 total = s.staked + amount.toUint96();
        s.staked = total;
        _checkpoint(msg.sender, total);
        emit Staked(msg.sender, amount, total);
        token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Starts unbonding `amount` of the caller's unlocked stake.
    /// @param amount Tokens to unbond, in wei.
    function requestUnstake(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        Stake storage s = _stakes[msg.sender];
        uint256 free = s.staked - s.locked;
        if (amount > free) revert InsufficientUnlockedStake(msg.sender, free, amount);
        s.staked -= uint96(amount);
        _checkpoint(msg.sender, s.staked);
        Unbonding storage u = _unbondings[msg.sender];
        u.amount += uint96(amount);
        uint40 releaseAt = (block.timestamp + unbondingDelay).toUint40();
        u.releaseAt = releaseAt;
        emit UnstakeRequested(msg.sender, amount, releaseAt);
    }

    /// @notice Withdraws the caller's unbonded stake once the delay has passed.
    /// @return amount Tokens sent to the caller.
    function withdraw() external nonReentrant returns (uint256 amount) {
        Unbonding memory u = _unbondings[msg.sender];
        if (u.amount == 0) revert NothingToWithdraw(msg.sender);
        if (block.timestamp < u.releaseAt) revert StillUnbonding(msg.sender, u.releaseAt);
        amount = u.amount;
        delete _unbondings[msg.sender];
        emit Withdrawn(msg.sender, amount);
        token.safeTransfer(msg.sender, amount);
    }

    /// @inheritdoc IStaking
    function lock(address account, uint256 amount) external onlyAuthorized {
        Stake storage s = _stakes[account];
        uint256 locked = s.locked;
        uint256 free = s.staked - locked;
        if (amount > free) revert InsufficientUnlockedStake(account, free, amount);
        // Cannot overflow: locked + amount <= staked < 2^96.
        unchecked {
            s.locked = uint96(locked + amount);
        }
        emit StakeLocked(account, msg.sender, amount);
    }

    /// @inheritdoc IStaking
    /// @dev Never strands a lock that a slash took part of. Releases the account's lock shortfall
    /// first (locks that a slash already took, see `slash`), then locked stake. This is safe
    /// because authorised contracts unlock only what they locked: the locks they hold on an account
    /// always add up to `locked + lockShortfall`, so an unlock of a lock they hold never exceeds
    /// it, and `LockUnderflow` means a caller unlocked more than it ever locked. Releasing the
    /// shortfall first leaves the remaining locks backed by as much stake as there is, and a lock
    /// taken after a slash fully backed.
    function unlock(address account, uint256 amount) external onlyAuthorized {
        Stake storage s = _stakes[account];
        uint256 shortfall = s.shortfall ? _lockShortfall[account] : 0;
        uint256 fromShortfall = amount < shortfall ? amount : shortfall;
        if (fromShortfall > 0) {
            _lockShortfall[account] = shortfall - fromShortfall;
            if (fromShortfall == shortfall) s.shortfall = false;
        }
        uint256 fromLocked = amount - fromShortfall;
        uint256 locked = s.locked;
        if (fromLocked > locked) revert LockUnderflow(account, locked + shortfall, amount);
        // Cannot underflow: checked just above.
        unchecked {
            s.locked = uint96(locked - fromLocked);
        }
        emit StakeUnlocked(account, msg.sender, amount);
    }

    /// @inheritdoc IStaking
    /// @dev Takes free (unlocked) active stake first, then locked active stake, then unbonding
    /// stake: a penalty unrelated to a job eats free stake before it eats job locks, and requesting
    /// an unstake never escapes a pending slash. Locked stake it takes becomes lock shortfall, so
    /// that the contracts holding those locks can still unlock them in full (see `unlock`).
    function slash(address account, uint256 amount, address to)
        external
        onlyAuthorized
        nonReentrant
        returns (uint256 slashed)
    {
        if (amount == 0) revert ZeroAmount();
        if (to == address(0)) revert ZeroAddress();
        Stake storage s = _stakes[account];
        uint256 staked = s.staked;
        uint256 locked = s.locked;
        uint256 free = staked - locked;
        uint256 fromFree = amount < free ? amount : free;
        uint256 rest = amount - fromFree;
        uint256 fromLocked = rest < locked ? rest : locked;
        rest -= fromLocked;
        // Cannot underflow: fromFree + fromLocked <= free + locked == staked.
        unchecked {
            s.staked = uint96(staked - fromFree - fromLocked);
        }
        if (fromFree + fromLocked > 0) _checkpoint(account, s.staked);
        if (fromLocked > 0) {
            unchecked {
                s.locked = uint96(locked - fromLocked);
            }
            uint256 shortfall = _lockShortfall[account] + fromLocked;
            _lockShortfall[account] = shortfall;
            s.shortfall = true;
            emit LockedStakeSlashed(account, msg.sender, fromLocked, shortfall);
        }
        uint256 fromUnbonding = 0;
        if (rest > 0) {
            Unbonding storage u = _unbondings[account];
            fromUnbonding = rest < u.amount ? rest : u.amount;
            u.amount -= uint96(fromUnbonding);
        }
        slashed = fromFree + fromLocked + fromUnbonding;
        emit Slashed(account, msg.sender, to, slashed);
        if (slashed > 0) token.safeTransfer(to, slashed);
    }

    /// @notice Sets the unbonding delay; governance only.
    /// @param delay New delay in seconds, at most `MAX_UNBONDING_DELAY`.
    function setUnbondingDelay(uint64 delay) external onlyOwner {
        if (delay > MAX_UNBONDING_DELAY) revert UnbondingDelayTooLong(delay, MAX_UNBONDING_DELAY);
        unbondingDelay = delay;
        emit UnbondingDelaySet(delay);
    }

    /// @notice Authorises or deauthorises a protocol contract to lock, unlock and slash; governance only.
    /// @param account The contract.
    /// @param allowed Whether it may.
    function setAuthorized(address account, bool allowed) external onlyOwner {
        if (account == address(0)) revert ZeroAddress();
        authorized[account] = allowed;
        emit AuthorizedSet(account, allowed);
    }

    /// @notice Stake of `account`: total staked (including locked) and locked.
    /// @param account The staker.
    /// @return staked Active stake, locked part included.
    /// @return locked Part of `staked` backing jobs or audits.
    function stakeOf(address account) external view returns (uint256 staked, uint256 locked) {
        Stake memory s = _stakes[account];
        return (s.staked, s.locked);
    }

    /// @notice Locks on `account` that a slash already took: authorised contracts still hold them,
    /// and unlocking them releases no stake.
    /// @param account The staker.
    /// @return shortfall Wei of locks no longer backed by stake.
    function lockShortfallOf(address account) external view returns (uint256 shortfall) {
        return _lockShortfall[account];
    }

    /// @notice Unbonding stake of `account` and when it becomes withdrawable.
    /// @param account The staker.
    /// @return amount Tokens unbonding.
    /// @return releaseAt Timestamp from which `withdraw` succeeds.
    function unbondingOf(address account) external view returns (uint256 amount, uint256 releaseAt) {
        Unbonding memory u = _unbondings[account];
        return (u.amount, u.releaseAt);
    }

    /// @notice Active stake of `account` at time `timepoint` (a past timestamp, the token's voting
    /// clock): the voting power its staked tokens give it in governance, which the staking
    /// contract's own token balance (never delegated) does not.
    /// @param account The staker.
    /// @param timepoint A timestamp before the current block's.
    /// @return Active stake then, wei.
    function getPastStake(address account, uint256 timepoint) external view returns (uint256) {
        if (timepoint >= block.timestamp) revert FutureLookup(timepoint, block.timestamp);
        return _stakeHistory[account].upperLookupRecent(timepoint.toUint48());
    }

    /// @dev Records `account`'s active stake as of this block's timestamp.
    function _checkpoint(address account, uint256 staked) private {
        _stakeHistory[account].push(uint48(block.timestamp), uint208(staked));
    }
}
