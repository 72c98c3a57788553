// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title The stake view the registry reads
interface IStakeOf {
    /// @notice Active stake of `account` (locked part included) and its locked part.
    function stakeOf(address account) external view returns (uint256 staked, uint256 locked);
}

/// @title Registry of staked verifiers
/// @notice Verifiers with at least `minVerifierStake` of active stake in `Staking` register here.
/// The verifiers of each committed job are drawn off-chain from `activeVerifiers()` read at the
/// commit's block, ranked by a hash of the next block's hash, the job id and each account, so that
/// no provider chooses who audits it (see `lib/proof/audit.ts`, `selectVerifiers`); referee
/// committees are drawn on-chain from the same pool (`drawPool()`, with each member's stake).
/// @dev The registry is bounded (`MAX_VERIFIERS`, which bounds every loop here) but cannot be
/// locked by sybils: an entry whose active stake fell below the minimum can be evicted by anyone
/// (`evict`), and a newcomer to a full registry takes the slot of such an entry or, failing one,
/// of the entry with the lowest active stake if its own is strictly higher. So a full registry
/// holds the best-staked verifiers, and holding a slot costs stake that stays slashable for as long
/// as the slot is held (stake leaves only through `Staking`'s unbonding delay, and an entry is
/// evictable as soon as it does). An entry is drawable only `warmup` seconds after it registered,
/// so nobody can register just before a draw whose seed it can see coming.
/// The owner is the governance timelock: it alone sets the minimum stake and the warm-up.
contract VerifierRegistry is Ownable {
    /// @notice One registered verifier. Packed into one slot so a draw reads one slot per entry.
    struct Entry {
        address account;
        uint64 registeredAt;
        bool refereeOnly;
    }

    /// @notice Most registered verifiers; bounds the loops of registration and the draws.
    uint256 public constant MAX_VERIFIERS = 256;
    /// @notice Warm-up a new registry starts with, seconds.
    uint64 public constant DEFAULT_WARMUP = 1 days;
    /// @notice Longest warm-up governance may set, seconds.
    uint64 public constant MAX_WARMUP = 30 days;

    /// @notice Where stake is held.
    IStakeOf public immutable staking;
    /// @notice Active stake a verifier needs to register, to stay unevictable and to be drawn.
    uint256 public minVerifierStake;
    /// @notice Seconds after registering before an entry can be drawn.
    uint64 public warmup;

    Entry[] private _entries;
    /// @dev Index in `_entries` plus one; zero when not registered.
    mapping(address => uint256) private _position;

    /// @notice `account` registered as a verifier with `stake` of active stake.
    event VerifierRegistered(address indexed account, uint256 stake);
    /// @notice `account` left the verifier registry.
    event VerifierDeregistered(address indexed account);
    /// @notice `by` removed `account`, whose active stake `stake` was below the minimum.
    event VerifierEvicted(address indexed account, address indexed by, uint256 stake);
    /// @notice `by`, with `newcomerStake` of active stake, took the slot of `account`, which had
    /// the lowest active stake (`stake`) of a full registry.
    event VerifierDisplaced(
        address indexed account, address indexed by, uint256 stake, uint256 newcomerStake
    );
    /// @notice Governance changed the minimum verifier stake.
    event MinVerifierStakeSet(uint256 value);
    /// @notice Governance changed the warm-up, seconds.
    event WarmupSet(uint256 value);

    /// @notice `account` is registered already.
    error VerifierAlreadyRegistered(address account);
    /// @notice `account` is not registered.
    error VerifierNotRegistered(address account);
    /// @notice `account` has `staked` of active stake, below the `required` minimum.
    error VerifierStakeTooLow(address account, uint256 staked, uint256 required);
    /// @notice The registry holds `max` verifiers, each with at least the minimum, and the lowest
    /// of their active stakes, `lowestStake`, is not below the newcomer's `staked`.
    error VerifierRegistryFull(uint256 max, uint256 lowestStake, uint256 staked);
    /// @notice `account` has `staked` of active stake, at least the `required` minimum: it cannot
    /// be evicted.
    error VerifierNotEvictable(address account, uint256 staked, uint256 required);
    /// @notice The warm-up `value` exceeds `MAX_WARMUP` (`max`).
    error WarmupTooLong(uint256 value, uint256 max);
    /// @notice The staking contract address is zero.
    error ZeroStaking();

    /// @param staking_ The staking contract.
    /// @param owner_ Initial owner (the deployer, who hands ownership to the timelock after wiring).
    /// @param minStake Initial minimum verifier stake, wei.
    /// @dev The warm-up starts at `DEFAULT_WARMUP`; a deployer may change it before handing over.
    constructor(IStakeOf staking_, address owner_, uint256 minStake) Ownable(owner_) {
        if (address(staking_) == address(0)) revert ZeroStaking();
        staking = staking_;
        minVerifierStake = minStake;
        warmup = DEFAULT_WARMUP;
        emit WarmupSet(DEFAULT_WARMUP);
    }

    /// @notice Registers the caller as a verifier; needs `minVerifierStake` of active stake. When
    /// the registry is full, the caller takes the slot of an entry below the minimum stake, or
    /// else of the entry with the lowest active stake if the caller's is strictly higher
    /// (`VerifierRegistryFull` otherwise). The caller is drawable `warmup` seconds from now.
    function registerVerifier() external {
        _register(false);
    }

    /// @notice Registers the caller for referee committees only: like `registerVerifier` (same
    /// stake, warm-up and eviction rules), but the caller is never drawn to audit commits
    /// (`activeVerifiers` leaves it out), only to rule on disputes (`drawPool` holds it).
    function registerReferee() external {
        _register(true);
    }

    /// @notice Whether `account` registered for referee committees only.
    /// @param account The account.
    /// @return True for a referee-only entry; false for a full verifier or no entry.
    function isRefereeOnly(address account) external view returns (bool) {
        uint256 position = _position[account];
        return position != 0 && _entries[position - 1].refereeOnly;
    }

    function _register(bool refereeOnly) private {
        if (_position[msg.sender] != 0) revert VerifierAlreadyRegistered(msg.sender);
        (uint256 staked,) = staking.stakeOf(msg.sender);
        uint256 required = minVerifierStake;
        if (staked < required) revert VerifierStakeTooLow(msg.sender, staked, required);
        Entry memory entry =
            Entry({account: msg.sender, registeredAt: uint64(block.timestamp), refereeOnly: refereeOnly});
        uint256 n = _entries.length;
        if (n < MAX_VERIFIERS) {
            _entries.push(entry);
            _position[msg.sender] = n + 1;
        } else {
            (uint256 index, uint256 lowest) = _weakest(n, required);
            address out = _entries[index].account;
            if (lowest < required) {
                emit VerifierEvicted(out, msg.sender, lowest);
            } else if (staked > lowest) {
                emit VerifierDisplaced(out, msg.sender, lowest, staked);
            } else {
                revert VerifierRegistryFull(MAX_VERIFIERS, lowest, staked);
            }
            // The newcomer takes the slot in place: the other entries keep their order.
            delete _position[out];
            _entries[index] = entry;
            _position[msg.sender] = index + 1;
        }
        emit VerifierRegistered(msg.sender, staked);
    }

    /// @notice Removes the caller from the registry (its stake is untouched).
    function deregisterVerifier() external {
        uint256 position = _position[msg.sender];
        if (position == 0) revert VerifierNotRegistered(msg.sender);
        _remove(msg.sender, position);
        emit VerifierDeregistered(msg.sender);
    }

    /// @notice Removes `account`, whose active stake is below `minVerifierStake` now; anyone may
    /// call it (`VerifierNotEvictable` while the stake meets the minimum).
    /// @param account The registered verifier to remove.
    function evict(address account) external {
        uint256 position = _position[account];
        if (position == 0) revert VerifierNotRegistered(account);
        (uint256 staked,) = staking.stakeOf(account);
        uint256 required = minVerifierStake;
        if (staked >= required) revert VerifierNotEvictable(account, staked, required);
        _remove(account, position);
        emit VerifierEvicted(account, msg.sender, staked);
    }

    /// @notice Sets the minimum verifier stake; governance only.
    /// @param value Wei of active stake.
    function setMinVerifierStake(uint256 value) external onlyOwner {
        minVerifierStake = value;
        emit MinVerifierStakeSet(value);
    }

    /// @notice Sets the warm-up before a new entry can be drawn; governance only. It applies to
    /// every entry at once, registered before or after.
    /// @param value Seconds, at most `MAX_WARMUP`.
    function setWarmup(uint64 value) external onlyOwner {
        if (value > MAX_WARMUP) revert WarmupTooLong(value, MAX_WARMUP);
        warmup = value;
        emit WarmupSet(value);
    }

    /// @notice Whether `account` is registered (whatever its stake now).
    /// @param account The account.
    /// @return registered True when registered.
    function isVerifier(address account) external view returns (bool registered) {
        return _position[account] != 0;
    }

    /// @notice When `account` registered (its current entry), unix seconds; zero when not registered.
    /// @param account The account.
    /// @return timestamp Block timestamp of its registration.
    function registeredAt(address account) external view returns (uint256 timestamp) {
        uint256 position = _position[account];
        return position == 0 ? 0 : _entries[position - 1].registeredAt;
    }

    /// @notice Number of registered verifiers.
    /// @return count Registered verifiers, eligible or not.
    function verifierCount() external view returns (uint256 count) {
        return _entries.length;
    }

    /// @notice Every registered verifier, eligible or not (order changes when one leaves).
    /// @return accounts The registered accounts.
    function verifiers() external view returns (address[] memory accounts) {
        uint256 n = _entries.length;
        accounts = new address[](n);
        for (uint256 i = 0; i < n; ++i) {
            accounts[i] = _entries[i].account;
        }
    }

    /// @notice Registered verifiers that can be drawn now: active stake at least
    /// `minVerifierStake` and warm-up passed. The candidates a job's auditors are drawn from
    /// (read at the commit's block, so a verifier registered less than `warmup` before a commit is
    /// never its auditor); the accounts of `drawPool()` less the referee-only ones.
    /// @return accounts The drawable accounts, in registry order.
    function activeVerifiers() external view returns (address[] memory accounts) {
        (accounts,) = _drawPool(true);
    }

    /// @notice The pool a committee is drawn from, with the weights of a stake-weighted draw:
    /// registered verifiers whose active stake is at least `minVerifierStake` and whose warm-up has
    /// passed, each with its active stake now.
    /// @return accounts The drawable accounts, in registry order.
    /// @return stakes Active stake of each, wei (same order).
    function drawPool() external view returns (address[] memory accounts, uint256[] memory stakes) {
        return _drawPool(false);
    }

    /// @dev Drawable entries (stake at least the minimum, warm-up passed) with their stake; with
    /// `auditorsOnly`, without the referee-only ones.
    function _drawPool(bool auditorsOnly)
        private
        view
        returns (address[] memory accounts, uint256[] memory stakes)
    {
        uint256 n = _entries.length;
        uint256 required = minVerifierStake;
        uint256 wait = warmup;
        accounts = new address[](n);
        stakes = new uint256[](n);
        uint256 count = 0;
        for (uint256 i = 0; i < n; ++i) {
            Entry memory e = _entries[i];
            if (block.timestamp < e.registeredAt + wait) continue;
            if (auditorsOnly && e.refereeOnly) continue;
            (uint256 staked,) = staking.stakeOf(e.account);
            if (staked < required) continue;
            accounts[count] = e.account;
            stakes[count] = staked;
            ++count;
        }
        // Shrink both arrays in place to the drawable ones.
        assembly ("memory-safe") {
            mstore(accounts, count)
            mstore(stakes, count)
        }
    }

    /// @dev The slot a newcomer to a full registry may take: the first entry below `required`
    /// (returned at once), else the entry with the lowest active stake (the first of equals).
    function _weakest(uint256 n, uint256 required) private view returns (uint256 index, uint256 lowest) {
        lowest = type(uint256).max;
        for (uint256 i = 0; i < n; ++i) {
            (uint256 staked,) = staking.stakeOf(_entries[i].account);
            if (staked < required) return (i, staked);
            if (staked < lowest) (index, lowest) = (i, staked);
        }
    }

    /// @dev Removes the entry of `account` at `position` by moving the last entry into its slot.
    function _remove(address account, uint256 position) private {
        uint256 last = _entries.length - 1;
        if (position - 1 != last) {
            Entry memory moved = _entries[last];
            _entries[position - 1] = moved;
            _position[moved.account] = position;
        }
        _entries.pop();
        delete _position[account];
    }
}
