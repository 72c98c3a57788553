// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IStaking} from "./interfaces/IStaking.sol";
import {MarketParameters} from "./MarketParameters.sol";

/// @title Escrow and settlement of training jobs
/// @notice A submitter escrows AIGENSYN for a job, split over `replicas`
/// slots. Staked providers claim slots, commit `(finalStateHash, traceRoot)`, and after the
/// challenge window anyone finalizes a slot: the provider is paid minus the protocol fee (sent to
/// the FeeRouter) and its stake is released. Past the deadline, unclaimed and abandoned slots are
/// refunded (an abandoning provider is slashed) or reassigned. Authorised verification contracts
/// mark slots disputed and settle the dispute.
/// A distributed job (`workUnits > 0`, one unit per training round) pays by verified work: a worker
/// commits with `commitWork` the units it counted in, and its slot pays `units / workUnits` of the
/// replica's share; the rest goes back to the submitter when the slot is finalized.
/// @dev Governed values live in `MarketParameters`; each job snapshots the fee at creation so a fee
/// change never touches open escrows. Token flows follow checks-effects-interactions and every
/// state-changing entry point is `nonReentrant`.
contract JobMarket is MarketParameters, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;

    /// @notice Most replicas per job; bounds the slot loops.
    uint8 public constant MAX_REPLICAS = 16;
    /// @notice Largest referee committee a job may ask for.
    uint8 public constant MAX_REFEREE_COMMITTEE = 9;

    /// @notice Where a slot is in its life.
    enum SlotStatus {
        Open,
        Claimed,
        Committed,
        Disputed,
        Paid,
        Refunded,
        Slashed
    }

    /// @notice A job, packed into two storage words; `steps` and `checkpointInterval` let the
    /// dispute game map checkpoint segments to steps. `feeBps` and `slashTerms` (the version of
    /// the slash percentages, see `MarketParameters`) are snapshotted at creation, so governance
    /// never changes what an open job pays or risks.
    struct Job {
        address submitter;
        uint32 deadline;
        uint24 challengeWindow;
        uint8 replicas;
        uint16 feeBps;
        uint16 slashTerms;
        uint96 paymentPerReplica;
        uint96 requiredStake;
        uint32 checkpointInterval;
        uint32 steps;
    }

    /// @notice One replica of a job: who trains it and what they committed.
    /// @dev `committedAt` holds the claim time while the slot is `Claimed` (for the release grace),
    /// the commit time while `Committed` (moved on by the length of any dispute, which pauses the
    /// challenge window), and the seconds of the window that had run while `Disputed`. Only `keccak256(abi.encode(finalStateHash, traceRoot))` is stored (one word instead of
    /// two); both values are in the `JobCommitted` event, and `commitmentOf` recomputes the hash.
    /// `units` (work units committed; 0 = the whole replica) shares the first word with the
    /// provider, so `commitWork` writes no extra storage word. `disputedBy` is the index (see
    /// `verifierIndex`) of the verification contract that marked the slot disputed: it alone
    /// settles that dispute, even after governance stops authorising it.
    struct Slot {
        address provider;
        uint40 committedAt;
        SlotStatus status;
        uint32 units;
        uint16 disputedBy;
        bytes32 commitment;
    }

    /// @notice What a submitter gives to create a job.
    struct CreateJobParams {
        bytes32 specHash;
        uint256 payment;
        uint8 replicas;
        uint32 checkpointInterval;
        uint32 steps;
        uint40 deadline;
        uint32 challengeWindow;
        uint96 requiredStake;
        uint32 workUnits;
        uint8 refereeCommittee;
    }

    /// @notice The payment token (AIGENSYN).
    IERC20 public immutable token;
    /// @notice Staking contract holding providers' stake.
    IStaking public immutable staking;

    /// @notice Protocol fees earned by finalized slots and not yet swept to the fee router.
    /// @dev Accrued here rather than transferred per payment: one warm storage write instead of a
    /// token transfer on every finalize; `sweepFees` moves them in one transfer.
    uint256 public accruedFees;

    /// @notice Work units (training rounds) of each distributed job; 0 for a plain job.
    /// @dev Kept out of `Job` (two full words) so plain jobs pay for no third word.
    mapping(bytes32 => uint32) public workUnitsOf;

    /// @notice Size of the staked referee committee that rules on each job's disputes (drawn from
    /// the verifier registry by the dispute game); 0 for the dispute game's default size.
    /// @dev Kept out of `Job` like `workUnitsOf`: jobs with the default committee store nothing.
    mapping(bytes32 => uint8) public refereeCommitteeOf;

    /// @notice Whether `provider` released a slot of `jobId`; it may not claim that job again.
    mapping(bytes32 => mapping(address => bool)) public releasedBy;

    /// @notice Reason codes of `releaseJob`.
    /// @dev 1: the job itself cannot be trained as specified (any provider would fail the same way);
    /// 2: this provider cannot run it (resources, a fetch that failed, a crash). Other values are
    /// accepted and mean "unspecified".
    uint8 public constant RELEASE_JOB_FAULT = 1;
    /// @notice See `RELEASE_JOB_FAULT`.
    uint8 public constant RELEASE_NODE_FAULT = 2;

    mapping(bytes32 => Job) private _jobs;
    mapping(bytes32 => mapping(uint256 => Slot)) private _slots;

    /// @notice A job was created and `payment` escrowed; `specHash` names its spec (the job id is
    /// `jobIdOf(submitter, specHash)`).
    event JobCreated(
        bytes32 indexed jobId,
        address indexed submitter,
        bytes32 specHash,
        uint256 payment,
        uint256 replicas,
        uint256 checkpointInterval,
        uint256 deadline,
        uint256 challengeWindow,
        uint256 requiredStake
    );
    /// @notice `provider` claimed slot `slot` of `jobId`.
    event JobClaimed(bytes32 indexed jobId, uint256 slot, address indexed provider);
    /// @notice `provider` committed its result for `slot`.
    event JobCommitted(
        bytes32 indexed jobId, uint256 slot, address indexed provider, bytes32 finalStateHash, bytes32 traceRoot
    );
    /// @notice The provider of `slot` committed `units` of the job's `workUnits` (a distributed job).
    event WorkCommitted(bytes32 indexed jobId, uint256 slot, uint256 units, uint256 workUnits);
    /// @notice Finalizing `slot` for partial work sent `amount` (the unworked share) back to `submitter`.
    event WorkRefunded(bytes32 indexed jobId, uint256 slot, address indexed submitter, uint256 amount);
    /// @notice Slot `slot` was paid: `paid` to the provider, `fee` accrued for the fee router.
    event JobFinalized(bytes32 indexed jobId, uint256 slot, address indexed provider, uint256 paid, uint256 fee);
    /// @notice `amount` of accrued fees went to the fee router.
    event FeesSwept(address indexed feeRouter, uint256 amount);
    /// @notice `amount` went back to the submitter of `jobId`.
    event JobRefunded(bytes32 indexed jobId, address indexed submitter, uint256 amount);
    /// @notice `provider` abandoned `slot` past the deadline and lost `slashed` stake.
    event JobAbandoned(bytes32 indexed jobId, uint256 slot, address indexed provider, uint256 slashed);
    /// @notice `provider` gave its claimed `slot` back (it cannot run the job, `reason` says why);
    /// the slot is open again. `slashed` is nonzero only for a release after the grace period.
    event JobReleased(bytes32 indexed jobId, uint256 slot, address indexed provider, uint8 reason, uint256 slashed);
    /// @notice The submitter withdrew the unclaimed slots of `jobId` before its deadline.
    event JobCancelled(bytes32 indexed jobId, uint256 slots);
    /// @notice The submitter reopened abandoned slots with a new deadline.
    event JobReassigned(bytes32 indexed jobId, uint256 reopened, uint256 deadline);
    /// @notice A verification contract disputed `slot`.
    event JobDisputed(bytes32 indexed jobId, uint256 slot, address indexed verifier);
    /// @notice A dispute on `slot` ended; when the provider lost, `slashed` went partly to `challenger`.
    event DisputeSettled(
        bytes32 indexed jobId, uint256 slot, bool providerHonest, address challenger, uint256 slashed
    );

    /// @notice An amount of zero was given.
    error ZeroAmount();
    /// @notice The spec hash is zero.
    error ZeroSpecHash();
    /// @notice The caller created a job with this spec hash already.
    error JobExists(bytes32 jobId);
    /// @notice No job has this id.
    error UnknownJob(bytes32 jobId);
    /// @notice The job requires `stake` of its providers, below the governed `minimum`.
    error StakeBelowMinimum(uint256 stake, uint256 minimum);
    /// @notice Replicas must be between 1 and `MAX_REPLICAS`.
    error InvalidReplicas(uint256 replicas, uint256 max);
    /// @notice A referee committee must have an odd size up to `max` (or 0: the dispute game's default).
    error InvalidRefereeCommittee(uint256 size, uint256 max);
    /// @notice The payment does not split evenly over the replicas.
    error PaymentNotDivisible(uint256 payment, uint256 replicas);
    /// @notice The checkpoint interval is zero.
    error ZeroCheckpointInterval();
    /// @notice The job's step count is zero.
    error ZeroSteps();
    /// @notice The deadline is not in the future.
    error DeadlineInPast(uint256 deadline, uint256 nowTimestamp);
    /// @notice The challenge window is outside the governed bounds.
    error InvalidChallengeWindow(uint256 window, uint256 min, uint256 max);
    /// @notice The job's deadline passed at `deadline`.
    error JobExpired(bytes32 jobId, uint256 deadline);
    /// @notice Every slot of the job is taken.
    error NoOpenSlot(bytes32 jobId);
    /// @notice `provider` already holds a slot of this job.
    error AlreadyClaimed(bytes32 jobId, address provider);
    /// @notice `caller` holds no uncommitted slot of this job.
    error NotClaimant(bytes32 jobId, address caller);
    /// @notice A commitment hash is zero.
    error ZeroCommitment();
    /// @notice The slot is in `status`, not the one this action needs.
    error WrongSlotStatus(bytes32 jobId, uint256 slot, SlotStatus status);
    /// @notice The challenge window of the slot closes at `endsAt`.
    error ChallengeWindowOpen(bytes32 jobId, uint256 slot, uint256 endsAt);
    /// @notice The challenge window of the slot closed at `endedAt`.
    error ChallengeWindowClosed(bytes32 jobId, uint256 slot, uint256 endedAt);
    /// @notice The job's deadline `deadline` has not passed yet.
    error DeadlineNotReached(bytes32 jobId, uint256 deadline);
    /// @notice Nothing of this job can be refunded or reassigned.
    error NothingToSettle(bytes32 jobId);
    /// @notice Only the job's submitter may do this.
    error NotSubmitter(bytes32 jobId, address caller);
    /// @notice `provider` released a slot of this job before and may not claim it again.
    error ReleasedBefore(bytes32 jobId, address provider);
    /// @notice `caller` is not an authorised verification contract.
    error NotVerifier(address caller);
    /// @notice No fees have accrued since the last sweep.
    error NoFeesAccrued();
    /// @notice The slot index is out of range.
    error UnknownSlot(bytes32 jobId, uint256 slot);
    /// @notice Work units must be between 1 and the job's `workUnits` (0 when the job is not distributed).
    error InvalidWorkUnits(bytes32 jobId, uint256 units, uint256 workUnits);

    modifier onlyVerifier() {
        if (!verifiers[msg.sender]) revert NotVerifier(msg.sender);
        _;
    }

    /// @param paymentToken The AIGENSYN token.
    /// @param stakingContract The staking contract (must authorise this market).
    /// @param router The fee router.
    /// @param owner_ Initial owner; the deployer hands ownership to the timelock after wiring.
    constructor(IERC20 paymentToken, IStaking stakingContract, address router, address owner_)
        MarketParameters(router, owner_)
    {
        token = paymentToken;
        staking = stakingContract;
    }

    /// @notice Creates a job and escrows its payment from the caller (needs an allowance).
    /// @param p The job's parameters; `p.workUnits` is the number of rounds of a distributed job
    /// (0 for a plain job).
    /// @return jobId The job id, `jobIdOf(msg.sender, p.specHash)`: derived from the caller, so
    /// nobody can take a submitter's id first (each caller's spec hashes are its own nonces).
    function createJob(CreateJobParams calldata p) external nonReentrant returns (bytes32 jobId) {
        if (p.specHash == bytes32(0)) revert ZeroSpecHash();
        jobId = jobIdOf(msg.sender, p.specHash);
        if (p.payment == 0) revert ZeroAmount();
        uint256 minStake = uint256(minRequiredStakeTokens) * 1e18;
        if (p.requiredStake < minStake) revert StakeBelowMinimum(p.requiredStake, minStake);
        if (p.replicas == 0 || p.replicas > MAX_REPLICAS) revert InvalidReplicas(p.replicas, MAX_REPLICAS);
        if (p.payment % p.replicas != 0) revert PaymentNotDivisible(p.payment, p.replicas);
        if (p.checkpointInterval == 0) revert ZeroCheckpointInterval();
        if (p.steps == 0) revert ZeroSteps();
        if (p.deadline <= block.timestamp) revert DeadlineInPast(p.deadline, block.timestamp);
        if (p.challengeWindow < minChallengeWindow || p.challengeWindow > MAX_CHALLENGE_WINDOW) {
            revert InvalidChallengeWindow(p.challengeWindow, minChallengeWindow, MAX_CHALLENGE_WINDOW);
        }
        if (_jobs[jobId].submitter != address(0)) revert JobExists(jobId);
        if (p.refereeCommittee > MAX_REFEREE_COMMITTEE || (p.refereeCommittee != 0 && p.refereeCommittee % 2 == 0)) {
            revert InvalidRefereeCommittee(p.refereeCommittee, MAX_REFEREE_COMMITTEE);
        }
        if (p.workUnits != 0) workUnitsOf[jobId] = p.workUnits;
        if (p.refereeCommittee != 0) refereeCommitteeOf[jobId] = p.refereeCommittee;
        _jobs[jobId] = Job({
            submitter: msg.sender,
            deadline: uint256(p.deadline).toUint32(),
            challengeWindow: uint24(p.challengeWindow),
            replicas: p.replicas,
            feeBps: feeBps,
            slashTerms: slashTermsVersion,
            paymentPerReplica: (p.payment / p.replicas).toUint96(),
            requiredStake: p.requiredStake,
            checkpointInterval: p.checkpointInterval,
            steps: p.steps
        });
        emit JobCreated(
            jobId, msg.sender, p.specHash, p.payment, p.replicas, p.checkpointInterval, p.deadline, p.challengeWindow, p.requiredStake
        );
        token.safeTransferFrom(msg.sender, address(this), p.payment);
    }

    /// @notice Claims an open slot of `jobId` for the caller, locking `requiredStake` of its stake.
    /// @param jobId The job.
    /// @return slot The slot index claimed.
    function claimJob(bytes32 jobId) external nonReentrant returns (uint256 slot) {
        Job storage job = _existing(jobId);
        if (block.timestamp >= job.deadline) revert JobExpired(jobId, job.deadline);
        uint256 replicas = job.replicas;
        slot = type(uint256).max;
        for (uint256 i = 0; i < replicas; ++i) {
            Slot storage s = _slots[jobId][i];
            address holder = s.provider;
            if (holder == msg.sender && s.status != SlotStatus.Slashed) revert AlreadyClaimed(jobId, msg.sender);
            if (s.status == SlotStatus.Open && slot == type(uint256).max) slot = i;
        }
        if (slot == type(uint256).max) revert NoOpenSlot(jobId);
        if (releasedBy[jobId][msg.sender]) revert ReleasedBefore(jobId, msg.sender);
        Slot storage claimed = _slots[jobId][slot];
        claimed.provider = msg.sender;
        claimed.committedAt = uint40(block.timestamp);
        claimed.status = SlotStatus.Claimed;
        emit JobClaimed(jobId, slot, msg.sender);
        staking.lock(msg.sender, job.requiredStake);
    }

    /// @notice Gives the caller's claimed (uncommitted) slot of `jobId` back: the slot is open again
    /// for other providers, and the caller may not claim this job again. Within `releaseGrace`
    /// seconds of the claim it costs nothing; later it is an abandonment and `abandonSlashBps` of the
    /// required stake goes to the submitter. A committed slot cannot be released, so a release never
    /// escapes a dispute.
    /// @param jobId The job.
    /// @param reason Why (`RELEASE_JOB_FAULT`, `RELEASE_NODE_FAULT`, or 0: unspecified).
    /// @return slot The slot released.
    function releaseJob(bytes32 jobId, uint8 reason) external nonReentrant returns (uint256 slot) {
        Job storage job = _existing(jobId);
        slot = _slotOf(jobId, job.replicas, msg.sender);
        Slot storage s = _slots[jobId][slot];
        bool late = block.timestamp > uint256(s.committedAt) + releaseGrace;
        delete _slots[jobId][slot];
        releasedBy[jobId][msg.sender] = true;
        uint256 required = job.requiredStake;
        uint256 penalty = late ? required * _termsOf(job).abandonSlashBps / BPS : 0;
        staking.unlock(msg.sender, required);
        uint256 slashed = penalty > 0 ? staking.slash(msg.sender, penalty, job.submitter) : 0;
        emit JobReleased(jobId, slot, msg.sender, reason, slashed);
    }

    /// @notice The submitter withdraws every unclaimed slot of `jobId` at once, before or after the
    /// deadline, and gets their share back. Claimed and committed slots are untouched: a provider
    /// at work keeps its slot.
    /// @param jobId The job.
    /// @return refunded Tokens returned to the submitter.
    function cancelJob(bytes32 jobId) external nonReentrant returns (uint256 refunded) {
        Job storage job = _existing(jobId);
        if (msg.sender != job.submitter) revert NotSubmitter(jobId, msg.sender);
        uint256 replicas = job.replicas;
        uint256 count = 0;
        for (uint256 i = 0; i < replicas; ++i) {
            Slot storage s = _slots[jobId][i];
            if (s.status == SlotStatus.Open) {
                s.status = SlotStatus.Refunded;
                ++count;
            }
        }
        if (count == 0) revert NothingToSettle(jobId);
        refunded = count * job.paymentPerReplica;
        emit JobCancelled(jobId, count);
        emit JobRefunded(jobId, job.submitter, refunded);
        token.safeTransfer(job.submitter, refunded);
    }

    /// @notice Commits the caller's result for its slot of `jobId`, opening the challenge window. On
    /// a distributed job this claims the whole replica's work, like `commitWork` with every unit.
    /// @param jobId The job.
    /// @param finalStateHash Hash of the final training state.
    /// @param traceRoot Merkle root of the checkpoint trace.
    /// @return slot The caller's slot index.
    function commitJob(bytes32 jobId, bytes32 finalStateHash, bytes32 traceRoot)
        external
        nonReentrant
        returns (uint256 slot)
    {
        slot = _commit(jobId, finalStateHash, traceRoot, 0);
    }

    /// @notice Commits the caller's partial or full work on a distributed job: its result and the
    /// number of work units (rounds) it counted in, opening the challenge window. The slot pays
    /// `units / workUnits` of its share. `traceRoot` covers the worker's per-round records (who
    /// counted in each round), so a verifier can dispute a wrong count.
    /// @param jobId The job (created with `workUnits > 0`).
    /// @param finalStateHash Hash of the outer state after the worker's last round.
    /// @param traceRoot Merkle root of the worker's round records.
    /// @param units Rounds the worker counted in, between 1 and the job's `workUnits`.
    /// @return slot The caller's slot index.
    function commitWork(bytes32 jobId, bytes32 finalStateHash, bytes32 traceRoot, uint32 units)
        external
        nonReentrant
        returns (uint256 slot)
    {
        uint256 total = workUnitsOf[jobId];
        if (units == 0 || units > total) revert InvalidWorkUnits(jobId, units, total);
        slot = _commit(jobId, finalStateHash, traceRoot, units);
        emit WorkCommitted(jobId, slot, units, total);
    }

    /// @notice Pays the provider of a committed slot whose challenge window has passed and accrues
    /// the protocol fee; anyone may call.
    /// @param jobId The job.
    /// @param slot The slot index.
    /// @return paid Tokens sent to the provider (payment minus fee).
    function finalizeJob(bytes32 jobId, uint256 slot) external nonReentrant returns (uint256 paid) {
        Job storage job = _existing(jobId);
        if (slot >= job.replicas) revert UnknownSlot(jobId, slot);
        Slot storage s = _slots[jobId][slot];
        // Every field is read before the status write, so each storage word is loaded once.
        SlotStatus status = s.status;
        address provider = s.provider;
        if (status != SlotStatus.Committed) revert WrongSlotStatus(jobId, slot, status);
        uint256 endsAt = uint256(s.committedAt) + job.challengeWindow;
        if (block.timestamp < endsAt) revert ChallengeWindowOpen(jobId, slot, endsAt);
        uint256 units = s.units;
        uint256 payment = job.paymentPerReplica;
        uint256 required = job.requiredStake;
        uint256 refund;
        if (units != 0) {
            // Partial work: the share scales with the units; the unworked rest (rounded up, so the
            // provider is never overpaid) goes back to the submitter. Cannot overflow: payment <
            // 2^96 and units < 2^32; units <= workUnits, so worked <= payment.
            uint256 worked = payment * units / workUnitsOf[jobId];
            refund = payment - worked;
            payment = worked;
        }
        uint256 fee;
        // Cannot overflow: payment < 2^96 and feeBps < 2^16. Cannot underflow: feeBps <= MAX_FEE_BPS
        // < BPS, so fee <= payment. Fee rounds down: the provider gets the sub-wei remainder.
        unchecked {
            fee = payment * job.feeBps / BPS;
            paid = payment - fee;
        }
        s.status = SlotStatus.Paid;
        if (fee > 0) accruedFees += fee;
        emit JobFinalized(jobId, slot, provider, paid, fee);
        staking.unlock(provider, required);
        token.safeTransfer(provider, paid);
        if (refund > 0) {
            address submitter = job.submitter;
            emit WorkRefunded(jobId, slot, submitter, refund);
            token.safeTransfer(submitter, refund);
        }
    }

    /// @notice Sends every accrued protocol fee to the fee router; anyone may call.
    /// @return amount Tokens sent.
    function sweepFees() external nonReentrant returns (uint256 amount) {
        amount = accruedFees;
        if (amount == 0) revert NoFeesAccrued();
        accruedFees = 0;
        address router = feeRouter;
        emit FeesSwept(router, amount);
        token.safeTransfer(router, amount);
    }

    /// @notice After the deadline, refunds every unclaimed slot and every abandoned one (claimed, never
    /// committed) to the submitter, slashing abandoning providers; anyone may call.
    /// @param jobId The job.
    /// @return refunded Tokens returned to the submitter.
    function refundJob(bytes32 jobId) external nonReentrant returns (uint256 refunded) {
        Job storage job = _existing(jobId);
        if (block.timestamp < job.deadline) revert DeadlineNotReached(jobId, job.deadline);
        uint256 replicas = job.replicas;
        uint256 count = 0;
        for (uint256 i = 0; i < replicas; ++i) {
            Slot storage s = _slots[jobId][i];
            if (s.status == SlotStatus.Open) {
                s.status = SlotStatus.Refunded;
                ++count;
            } else if (s.status == SlotStatus.Claimed) {
                s.status = SlotStatus.Slashed;
                _penalize(jobId, job, i, s.provider);
                ++count;
            }
        }
        if (count == 0) revert NothingToSettle(jobId);
        refunded = count * job.paymentPerReplica;
        emit JobRefunded(jobId, job.submitter, refunded);
        token.safeTransfer(job.submitter, refunded);
    }

    /// @notice After the deadline, the submitter reopens abandoned slots for new providers with a new
    /// deadline (the abandoning providers are slashed); open slots (released or never claimed) stay
    /// open under it.
    /// @param jobId The job.
    /// @param newDeadline The new deadline, in the future.
    /// @return reopened Number of slots reopened.
    function reassignJob(bytes32 jobId, uint40 newDeadline) external nonReentrant returns (uint256 reopened) {
        Job storage job = _existing(jobId);
        if (msg.sender != job.submitter) revert NotSubmitter(jobId, msg.sender);
        if (block.timestamp < job.deadline) revert DeadlineNotReached(jobId, job.deadline);
        if (newDeadline <= block.timestamp) revert DeadlineInPast(newDeadline, block.timestamp);
        uint256 replicas = job.replicas;
        for (uint256 i = 0; i < replicas; ++i) {
            Slot storage s = _slots[jobId][i];
            if (s.status == SlotStatus.Claimed) {
                address provider = s.provider;
                delete _slots[jobId][i];
                _penalize(jobId, job, i, provider);
                ++reopened;
            } else if (s.status == SlotStatus.Open) {
                // Released or never claimed: it stays open under the new deadline.
                ++reopened;
            }
        }
        if (reopened == 0) revert NothingToSettle(jobId);
        job.deadline = uint256(newDeadline).toUint32();
        emit JobReassigned(jobId, reopened, newDeadline);
    }

    /// @notice Marks a committed slot disputed within its challenge window; verification contracts only.
    /// @param jobId The job.
    /// @param slot The slot index.
    function markDisputed(bytes32 jobId, uint256 slot) external onlyVerifier nonReentrant {
        Job storage job = _existing(jobId);
        if (slot >= job.replicas) revert UnknownSlot(jobId, slot);
        Slot storage s = _slots[jobId][slot];
        if (s.status != SlotStatus.Committed) revert WrongSlotStatus(jobId, slot, s.status);
        uint256 committedAt = s.committedAt;
        uint256 endsAt = committedAt + job.challengeWindow;
        if (block.timestamp >= endsAt) revert ChallengeWindowClosed(jobId, slot, endsAt);
        // The window pauses while the dispute lasts: `committedAt` keeps the seconds of it that
        // had run, and `settleDispute` resumes it from there.
        s.committedAt = uint40(block.timestamp - committedAt);
        s.status = SlotStatus.Disputed;
        s.disputedBy = verifierIndex[msg.sender];
        emit JobDisputed(jobId, slot, msg.sender);
    }

    /// @notice Ends a dispute; only the verification contract that marked the slot disputed. An
    /// honest provider's slot returns to
    /// committed (finalizable); a dishonest one is slashed `disputeSlashBps` of the required stake,
    /// `challengerRewardBps` of that to `challenger` and the rest to the submitter, who is refunded.
    /// @param jobId The job.
    /// @param slot The slot index.
    /// @param providerHonest Whether the provider won.
    /// @param challenger Who raised the dispute (rewarded when the provider lost).
    function settleDispute(bytes32 jobId, uint256 slot, bool providerHonest, address challenger)
        external
        nonReentrant
    {
        Job storage job = _existing(jobId);
        if (slot >= job.replicas) revert UnknownSlot(jobId, slot);
        Slot storage s = _slots[jobId][slot];
        if (s.status != SlotStatus.Disputed) revert WrongSlotStatus(jobId, slot, s.status);
        // The contract that opened the dispute ends it, authorised still or not: a dispute open
        // when governance retires its game is never stranded.
        if (verifierIndex[msg.sender] != s.disputedBy) revert NotVerifier(msg.sender);
        if (providerHonest) {
            // The window resumes where the dispute paused it, with at least `minChallengeWindow`
            // left, so a dispute that lapses (say, a provider's own sybil that let it time out)
            // never runs the window out from under honest challengers.
            uint256 window = job.challengeWindow;
            uint256 resume = minChallengeWindow < window ? minChallengeWindow : window;
            uint256 elapsed = s.committedAt;
            if (elapsed > window - resume) elapsed = window - resume;
            s.committedAt = uint40(block.timestamp - elapsed);
            s.status = SlotStatus.Committed;
            emit DisputeSettled(jobId, slot, true, challenger, 0);
            return;
        }
        s.status = SlotStatus.Slashed;
        address provider = s.provider;
        SlashTerms memory terms = _termsOf(job);
        uint256 penalty = uint256(job.requiredStake) * terms.disputeSlashBps / BPS;
        uint256 reward = penalty * terms.challengerRewardBps / BPS;
        uint256 payment = job.paymentPerReplica;
        address submitter = job.submitter;
        emit DisputeSettled(jobId, slot, false, challenger, penalty);
        emit JobRefunded(jobId, submitter, payment);
        staking.unlock(provider, job.requiredStake);
        if (reward > 0) staking.slash(provider, reward, challenger);
        if (penalty > reward) staking.slash(provider, penalty - reward, submitter);
        token.safeTransfer(submitter, payment);
    }

    /// @notice A job by id; reverts with `UnknownJob` when there is none.
    /// @param jobId The job.
    /// @return The job.
    function getJob(bytes32 jobId) external view returns (Job memory) {
        return _existing(jobId);
    }

    /// @notice One slot of a job.
    /// @param jobId The job.
    /// @param slot The slot index.
    /// @return The slot.
    function getSlot(bytes32 jobId, uint256 slot) external view returns (Slot memory) {
        if (slot >= _existing(jobId).replicas) revert UnknownSlot(jobId, slot);
        return _slots[jobId][slot];
    }

    /// @notice The id of the job `submitter` creates for `specHash`.
    /// @param submitter The creator.
    /// @param specHash Hash of the job's spec (the creator's nonce).
    /// @return The job id.
    function jobIdOf(address submitter, bytes32 specHash) public pure returns (bytes32) {
        return keccak256(abi.encode(submitter, specHash));
    }

    /// @notice The stored commitment of a result: keccak256 of the ABI-encoded pair.
    /// @param finalStateHash Hash of the final training state.
    /// @param traceRoot Merkle root of the checkpoint trace.
    /// @return The commitment.
    function commitmentOf(bytes32 finalStateHash, bytes32 traceRoot) public pure returns (bytes32) {
        return keccak256(abi.encode(finalStateHash, traceRoot));
    }

    /// @dev Records a commit (`units` 0 = the whole replica) on the caller's claimed slot.
    function _commit(bytes32 jobId, bytes32 finalStateHash, bytes32 traceRoot, uint32 units)
        private
        returns (uint256 slot)
    {
        Job storage job = _existing(jobId);
        if (finalStateHash == bytes32(0) || traceRoot == bytes32(0)) revert ZeroCommitment();
        if (block.timestamp >= job.deadline) revert JobExpired(jobId, job.deadline);
        slot = _slotOf(jobId, job.replicas, msg.sender);
        Slot storage s = _slots[jobId][slot];
        s.committedAt = uint40(block.timestamp);
        s.status = SlotStatus.Committed;
        s.units = units;
        s.commitment = commitmentOf(finalStateHash, traceRoot);
        emit JobCommitted(jobId, slot, msg.sender, finalStateHash, traceRoot);
    }

    /// @dev The slash percentages job `job` was created under.
    function _termsOf(Job storage job) private view returns (SlashTerms memory) {
        return slashTermsOf[job.slashTerms];
    }

    function _existing(bytes32 jobId) private view returns (Job storage job) {
        job = _jobs[jobId];
        if (job.submitter == address(0)) revert UnknownJob(jobId);
    }

    function _slotOf(bytes32 jobId, uint256 replicas, address provider) private view returns (uint256) {
        for (uint256 i = 0; i < replicas; ++i) {
            Slot storage s = _slots[jobId][i];
            if (s.provider == provider && s.status == SlotStatus.Claimed) return i;
        }
        revert NotClaimant(jobId, provider);
    }

    /// @dev Releases an abandoning provider's lock and slashes `abandonSlashBps` of the required
    /// stake to the submitter as compensation for the lost time.
    function _penalize(bytes32 jobId, Job storage job, uint256 slot, address provider) private {
        uint256 required = job.requiredStake;
        uint256 penalty = required * _termsOf(job).abandonSlashBps / BPS;
        staking.unlock(provider, required);
        uint256 slashed = penalty > 0 ? staking.slash(provider, penalty, job.submitter) : 0;
        emit JobAbandoned(jobId, slot, provider, slashed);
    }
}
