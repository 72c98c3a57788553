// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ERC20Burnable} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Burnable.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {JobMarket} from "./JobMarket.sol";
import {VerifierRegistry} from "./VerifierRegistry.sol";
import {IStaking} from "./interfaces/IStaking.sol";

/// @title Two-phase disputes over a committed training result, refereed down to one kernel
/// @notice A challenger (any account, usually a verifier whose audit failed) bonds AIGENSYN and
/// opens a dispute on a committed slot of the job market, naming the first checkpoint segment it
/// disagrees on; the provider's checkpoint hashes at both ends are proven against its committed
/// trace root.
///
/// Phase 1 bisects the segment's steps: the provider posts its state hash at the midpoint, the
/// challenger posts its own, equal hashes move the agreed step up, different ones move the
/// disputed step down, until the parties agree at step `t` and disagree at `t + 1`.
///
/// Phase 2 bisects the kernels of step `t -> t + 1`: both parties commit the count and the hash
/// chain of their op records (`c(0) = 0`, `c(n + 1) = sha256(c(n) || opHash(n))`, and past a
/// party's last op the chain stays put), then the same bisection runs over chain prefixes until
/// they agree on the first `i` records and differ at record `i`.
///
/// The referee then recomputes that one kernel off-chain and rules. No party to the job referees
/// it: every dispute is ruled by a committee of staked verifiers (the job's `refereeCommittee`, or
/// `defaultCommittee` when the job left it at 0), never the provider, the challenger or the
/// submitter. The pool (warmed-up verifiers with their stake) is snapshotted when the dispute
/// reaches the referee, and the members are drawn stake-weighted in `drawCommittee` from the hash
/// of that block, which nobody knows when making the move that reaches the referee. With no
/// eligible verifier at all the dispute is voided. Each member rules on its own and the first
/// ruling a majority gives stands. Members who ruled against it, and, when no majority formed in
/// time, members who did not rule, lose `refereePenalty` of their stake (burned). The contract
/// checks that the winner's record it judged extends the agreed prefix to the winner's
/// posted prefix, then settles through the job market: a losing provider is slashed (part to the
/// challenger, the rest to the submitter, who is refunded) and the challenger gets its bond back;
/// a losing challenger forfeits its bond (`winnerShareBps` to the provider, the rest burned) and
/// the slot becomes finalizable again.
///
/// Every move has a deadline: at most `moveTimeout`, and never past what is left of the mover's
/// chess clock (`clockBudget` seconds per party per dispute, charged for the time each of its
/// turns took), so a dispute ends within a bounded time however late each move comes. Past the
/// deadline anyone may call `timeout`, and the party that owed the move loses. The challenger is
/// neither the provider nor the job's submitter. A referee that does not rule within `refereeTimeout` voids the
/// dispute: the bond goes back and the slot is committed again.
///
/// Availability disputes cover what bisection cannot: a provider that withholds its trace or a
/// checkpoint. The referee tries to fetch what the challenger names and rules whether it was
/// served.
///
/// Work disputes cover distributed (DiLoCo) jobs, whose workers commit a Merkle root over their
/// per-round records rather than over checkpoints, so there is nothing to bisect. The challenger
/// names one round of one worker (or the worker's trace as a whole, for its units claim); the
/// referee re-audits that round off-chain (its inner segments, its delta hash, the outer step)
/// and rules.
/// @dev One active dispute per slot (the job market's `Disputed` status enforces it). Hashes are
/// SHA-256, as in the off-chain trace format, so the precompile checks Merkle proofs cheaply.
contract DisputeGame is Ownable, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice Basis-point denominator.
    uint256 private constant BPS = 10_000;
    /// @notice Most op records a step may have; bounds the op bisection.
    uint32 public constant MAX_OPS = 1 << 24;
    /// @notice Shortest move timeout governance may set.
    uint32 public constant MIN_MOVE_TIMEOUT = 10;
    /// @notice Longest chess clock governance may set.
    uint32 public constant MAX_CLOCK_BUDGET = 7 days;
    /// @notice Chess clock of each party at deployment.
    uint32 public constant INITIAL_CLOCK_BUDGET = 1 hours;
    /// @notice Referee committee size at deployment for jobs that do not ask for one.
    uint8 public constant INITIAL_COMMITTEE = 3;
    /// @notice Largest referee committee (the job market's bound).
    uint8 public constant MAX_COMMITTEE = 9;

    /// @notice What is disputed.
    enum Kind {
        Execution,
        Availability,
        Work
    }

    /// @notice Where a dispute is.
    enum Phase {
        None,
        Steps,
        OpsCommit,
        Ops,
        Referee,
        Done
    }

    /// @notice Who won.
    enum Outcome {
        Pending,
        ProviderWon,
        ChallengerWon,
        BothFaulty,
        Voided
    }

    /// @notice Rulings the referee can give.
    enum Ruling {
        Provider,
        Challenger,
        Both
    }

    /// @notice A dispute's referee committee: its size, the majority that decides, and the votes.
    struct Panel {
        uint8 size;
        uint8 quorum;
        uint8 forProvider;
        uint8 forChallenger;
        uint8 forBoth;
        uint64 seedBlock;
    }

    /// @notice One dispute.
    /// @dev `lo`/`hi` are steps in phase 1 and op-prefix lengths in phase 2. `loHash` is the agreed
    /// hash at `lo`; `hiProvider`/`hiChallenger` each party's hash at `hi`; `midHash` the
    /// provider's hash at the midpoint, awaiting the challenger's while `pending`. (`midHash` is
    /// never cleared: rewriting a non-zero word costs a seventh of setting a zero one; once the
    /// dispute reaches the referee it holds the hash of the committee pool.) `providerClock` and
    /// `challengerClock`, the seconds left on each party's chess clock, share the word of the
    /// deadline and the phase, which every move writes anyway. The agreed state after
    /// phase 1 (in `StepFound`) is not stored:
    /// every stored word costs 20k gas to open. `subject` is stored for availability and work
    /// disputes only.
    struct Dispute {
        bytes32 jobId;
        address challenger;
        uint32 deadline;
        Phase phase;
        bool pending;
        uint24 providerClock;
        uint24 challengerClock;
        address provider;
        uint32 slot;
        uint32 lo;
        uint32 hi;
        uint32 step;
        uint32 providerOps;
        uint32 challengerOps;
        uint96 bond;
        Kind kind;
        Outcome outcome;
        bytes32 loHash;
        bytes32 hiProvider;
        bytes32 hiChallenger;
        bytes32 midHash;
        bytes32 subject;
    }

    /// @notice What a challenger gives to open an execution dispute.
    /// @dev `leafCount` and the two proofs bind the segment to the provider's committed trace root.
    struct OpenParams {
        bytes32 jobId;
        uint32 slot;
        bytes32 finalStateHash;
        bytes32 traceRoot;
        uint32 segment;
        bytes32 providerFrom;
        bytes32[] proofFrom;
        bytes32 providerTo;
        bytes32[] proofTo;
        bytes32 challengerFrom;
        bytes32 challengerTo;
    }

    /// @notice The job market whose slots are disputed (this contract is one of its verifiers).
    JobMarket public immutable market;
    /// @notice AIGENSYN; bonds are paid in it and forfeited shares burned.
    IERC20 public immutable token;
    /// @notice Where referee committees are drawn from: its active (staked) verifiers.
    VerifierRegistry public immutable registry;
    /// @notice Where committee members' stake is held (the market's staking contract); this game
    /// must be authorised there to penalise them.
    IStaking public immutable staking;

    /// @notice Bond a challenger posts to open a dispute.
    uint96 public bond;
    /// @notice Seconds each party has for its move.
    uint32 public moveTimeout;
    /// @notice Seconds the referee has to rule.
    uint32 public refereeTimeout;
    /// @notice Share of a forfeited bond paid to the provider; the rest is burned.
    uint16 public winnerShareBps;
    /// @notice Stake a committee member loses for ruling against the majority, or for not ruling
    /// when no majority formed in time; burned.
    uint96 public refereePenalty;
    /// @notice Seconds each party's chess clock holds for all its moves in one dispute.
    uint32 public clockBudget;
    /// @notice Committee size for jobs created without one (`refereeCommittee == 0`).
    uint8 public defaultCommittee;
    /// @notice Disputes opened so far; ids start at 1.
    uint256 public disputeCount;

    mapping(uint256 => Dispute) private _disputes;
    mapping(uint256 => Panel) private _panels;
    mapping(uint256 => address[]) private _members;
    /// @dev A member's ruling plus one; zero until it rules.
    mapping(uint256 => mapping(address => uint8)) private _votes;

    /// @notice A dispute was opened; `lo`/`hi` are the disputed steps (or zero for availability and
    /// work).
    event DisputeOpened(
        uint256 indexed id,
        bytes32 indexed jobId,
        uint256 slot,
        address indexed challenger,
        address provider,
        Kind kind,
        uint256 lo,
        uint256 hi,
        bytes32 subject
    );
    /// @notice The provider posted `hash` at midpoint `at` (a step in phase 1, a prefix length in phase 2).
    event MovePosted(uint256 indexed id, Phase phase, uint256 at, bytes32 hash);
    /// @notice The challenger answered at `at`; `agreed` tells which way the bisection went.
    event MoveAnswered(uint256 indexed id, Phase phase, uint256 at, bytes32 hash, bool agreed);
    /// @notice Step bisection ended: the parties agree at `step` and disagree at `step + 1`, where
    /// they claim `providerClaim` and `challengerClaim`.
    event StepFound(
        uint256 indexed id, uint256 step, bytes32 agreedState, bytes32 providerClaim, bytes32 challengerClaim
    );
    /// @notice A party committed its op records of the disputed step; `evidence` is the content id
    /// of the blob holding the records and their input tensors, which the referee fetches.
    event OpsCommitted(uint256 indexed id, address indexed party, uint256 count, bytes32 root, bytes32 evidence);
    /// @notice The dispute awaits the referee at op `opIndex` of step `step`.
    event RefereeNeeded(uint256 indexed id, address indexed referee, uint256 step, uint256 opIndex);
    /// @notice The dispute reached its referee: a committee will be drawn from `pool` (weighted by
    /// `stakes`) with the hash of block `seedBlock`; anyone calls `drawCommittee` once it is mined.
    event CommitteePending(uint256 indexed id, address[] pool, uint256[] stakes, uint256 seedBlock);
    /// @notice No verifier outside the dispute could referee it, so it was voided.
    event NoCommittee(uint256 indexed id);
    /// @notice A referee committee of `members` was drawn for the dispute; `quorum` of them decide.
    event CommitteeDrawn(uint256 indexed id, address[] members, uint256 quorum);
    /// @notice A committee member ruled; the dispute ends when `quorum` members gave one ruling.
    event Voted(uint256 indexed id, address indexed member, Ruling ruling, uint256 votes);
    /// @notice A committee member lost `amount` of stake for ruling against the majority or not ruling.
    event RefereePenalized(uint256 indexed id, address indexed member, uint256 amount);
    /// @notice The referee ruled on op `opIndex`, kernel `kernel`.
    event Ruled(uint256 indexed id, Ruling ruling, uint256 opIndex, string kernel);
    /// @notice A party missed its deadline.
    event TimedOut(uint256 indexed id, Phase phase, address indexed party);
    /// @notice The dispute ended.
    event DisputeResolved(uint256 indexed id, Outcome outcome, uint256 bondToProvider, uint256 bondBurned);
    /// @notice A governed value changed.
    event ParameterSet(bytes32 indexed name, uint256 value);

    /// @notice No dispute has this id.
    error UnknownDispute(uint256 id);
    /// @notice The dispute is in `phase`, not one this move belongs to.
    error WrongPhase(uint256 id, Phase phase);
    /// @notice `caller` is not the party whose move this is.
    error NotYourMove(uint256 id, address caller);
    /// @notice The move's deadline passed at `deadline`; call `timeout`.
    error MoveTooLate(uint256 id, uint256 deadline);
    /// @notice The deadline `deadline` has not passed.
    error TooEarly(uint256 id, uint256 deadline);
    /// @notice A posted hash is zero.
    error ZeroHash();
    /// @notice The committed final state and trace root are not what the slot holds.
    error CommitmentMismatch(bytes32 jobId, uint256 slot);
    /// @notice The segment is outside the trace of `segments` segments.
    error SegmentOutOfRange(uint256 segment, uint256 segments);
    /// @notice A Merkle proof does not show the provider's checkpoint at `index` under the trace root.
    error BadProof(uint256 index);
    /// @notice The challenger agrees with the provider at the end of the segment: nothing to dispute.
    error NothingDisputed();
    /// @notice The challenger disagrees at the start of a segment after the first: dispute the first one.
    error StartNotAgreed(uint256 segment);
    /// @notice The op count is zero or above `MAX_OPS`.
    error BadOpCount(uint256 count);
    /// @notice The party committed its ops already.
    error AlreadyCommitted(uint256 id, address party);
    /// @notice The referee's op hashes do not extend the agreed prefix to `party`'s posted one.
    error InconsistentRuling(uint256 id, address party);
    /// @notice A value is outside its governed bounds.
    error BadParameter(bytes32 name, uint256 value);
    /// @notice The job's steps are unknown to the market (created without them).
    error UnknownSteps(bytes32 jobId);
    /// @notice The job is not distributed (it has no work units): open an execution dispute.
    error NotDistributed(bytes32 jobId);
    /// @notice The committee member ruled on this dispute already.
    error AlreadyVoted(uint256 id, address member);
    /// @notice `caller` is the provider or the submitter of the job: a party cannot challenge it.
    error PartyCannotChallenge(bytes32 jobId, address caller);
    /// @notice The job is distributed: its slots are disputed with `openWork`.
    error DistributedJob(bytes32 jobId);
    /// @notice The committee is not drawn yet: call `drawCommittee` first.
    error CommitteeNotDrawn(uint256 id);
    /// @notice The committee was drawn already.
    error CommitteeAlreadyDrawn(uint256 id);
    /// @notice The pool given is not the one snapshotted when the dispute reached its referee.
    error PoolMismatch(uint256 id);
    /// @notice The draw's seed block `seedBlock` is not mined yet; draw from the next block on.
    error DrawTooEarly(uint256 id, uint256 seedBlock);

    /// @param market_ The job market.
    /// @param owner_ Owner of the parameters (the governance timelock after deployment).
    /// @param bond_ Challenger bond, wei.
    /// @param moveTimeout_ Seconds per move.
    /// @param refereeTimeout_ Seconds for the referee.
    /// @param registry_ The verifier registry referee committees are drawn from.
    constructor(
        JobMarket market_,
        address owner_,
        uint96 bond_,
        uint32 moveTimeout_,
        uint32 refereeTimeout_,
        VerifierRegistry registry_
    ) Ownable(owner_) {
        market = market_;
        token = market_.token();
        staking = market_.staking();
        registry = registry_;
        refereePenalty = bond_;
        _setTimeouts(moveTimeout_, refereeTimeout_);
        bond = bond_;
        winnerShareBps = 5_000;
        clockBudget = INITIAL_CLOCK_BUDGET;
        defaultCommittee = INITIAL_COMMITTEE;
    }

    // ----- opening -----

    /// @notice Opens an execution dispute on the first segment the caller disagrees on; pulls the
    /// bond (needs an allowance) and marks the slot disputed in the market.
    /// @param p The slot, its commitment, the segment with the provider's proven checkpoint hashes,
    /// and the challenger's own hashes at both ends.
    /// @return id The dispute id.
    function open(OpenParams calldata p) external nonReentrant returns (uint256 id) {
        (JobMarket.Job memory job, address provider) = _committed(p.jobId, p.slot, p.finalStateHash, p.traceRoot);
        if (market.workUnitsOf(p.jobId) != 0) revert DistributedJob(p.jobId);
        uint256 k = job.checkpointInterval;
        uint256 steps = job.steps;
        if (steps == 0) revert UnknownSteps(p.jobId);
        uint256 segments = (steps + k - 1) / k;
        if (p.segment >= segments) revert SegmentOutOfRange(p.segment, segments);
        if (p.providerTo == p.challengerTo) revert NothingDisputed();
        if (p.challengerFrom == bytes32(0) || p.challengerTo == bytes32(0)) revert ZeroHash();
        if (!_verify(p.traceRoot, p.providerFrom, p.segment, segments + 1, p.proofFrom)) revert BadProof(p.segment);
        if (!_verify(p.traceRoot, p.providerTo, p.segment + 1, segments + 1, p.proofTo)) {
            revert BadProof(p.segment + 1);
        }
        uint256 fromStep = uint256(p.segment) * k;
        uint256 toStep = fromStep + k < steps ? fromStep + k : steps;
        id = _new(p.jobId, p.slot, provider, Kind.Execution);
        Dispute storage d = _disputes[id];
        // The slot is marked (and the bond held) before the dispute can reach its referee, which
        // may void it at once when no verifier can rule.
        _pullBondAndMark(p.jobId, p.slot);
        if (p.challengerFrom != p.providerFrom) {
            // Only the initial state can be disputed at a segment's start: it is fixed by the spec.
            if (p.segment != 0) revert StartNotAgreed(p.segment);
            d.loHash = p.providerFrom;
            d.hiProvider = p.providerFrom;
            d.hiChallenger = p.challengerFrom;
            d.step = type(uint32).max;
            emit DisputeOpened(id, p.jobId, p.slot, msg.sender, provider, Kind.Execution, 0, 0, bytes32(0));
            _toReferee(id, d, 0);
        } else {
            d.lo = uint32(fromStep);
            d.hi = uint32(toStep);
            d.loHash = p.providerFrom;
            d.hiProvider = p.providerTo;
            d.hiChallenger = p.challengerTo;
            emit DisputeOpened(
                id, p.jobId, p.slot, msg.sender, provider, Kind.Execution, fromStep, toStep, bytes32(uint256(p.segment))
            );
            _afterNarrowing(id, d);
        }
    }

    /// @notice Opens an availability dispute: the provider did not serve `subject` (a checkpoint
    /// hash, or zero for its trace). The referee tries to fetch it and rules.
    /// @param jobId The job.
    /// @param slot The slot.
    /// @param finalStateHash The slot's committed final state.
    /// @param traceRoot The slot's committed trace root.
    /// @param subject What was withheld: a checkpoint hash, or zero for the trace itself.
    /// @return id The dispute id.
    function openAvailability(
        bytes32 jobId,
        uint32 slot,
        bytes32 finalStateHash,
        bytes32 traceRoot,
        bytes32 subject
    ) external nonReentrant returns (uint256 id) {
        id = _openForReferee(jobId, slot, finalStateHash, traceRoot, subject, Kind.Availability);
    }

    /// @notice Opens a work dispute on a distributed job's worker slot: a round of the worker does
    /// not hold up (an inner segment that does not replay, a delta or outer step that does not
    /// match), or its units claim is contradicted by its trace or the other workers' traces. The
    /// referee re-audits that one round off-chain and rules.
    /// @param jobId The job (created with `workUnits > 0`).
    /// @param slot The worker's slot.
    /// @param finalStateHash The slot's committed final state.
    /// @param traceRoot The slot's committed trace root (over the worker's round records).
    /// @param subject `bytes32(round + 1)` for a disputed round, or zero for the worker's trace as a
    /// whole (its units claim, its consistency with the other workers).
    /// @return id The dispute id.
    function openWork(bytes32 jobId, uint32 slot, bytes32 finalStateHash, bytes32 traceRoot, bytes32 subject)
        external
        nonReentrant
        returns (uint256 id)
    {
        if (market.workUnitsOf(jobId) == 0) revert NotDistributed(jobId);
        id = _openForReferee(jobId, slot, finalStateHash, traceRoot, subject, Kind.Work);
    }

    // ----- bisection moves -----

    /// @notice The provider's hash at the current midpoint (state hash in phase 1, op-chain prefix
    /// in phase 2).
    /// @param id The dispute.
    /// @param hash Its hash at `midpoint(id)`.
    function post(uint256 id, bytes32 hash) external {
        Dispute storage d = _active(id);
        if (d.phase != Phase.Steps && d.phase != Phase.Ops) revert WrongPhase(id, d.phase);
        if (msg.sender != d.provider || d.pending) revert NotYourMove(id, msg.sender);
        if (hash == bytes32(0)) revert ZeroHash();
        d.midHash = hash;
        d.pending = true;
        _charge(d, true);
        _startTurn(d, false);
        emit MovePosted(id, d.phase, _mid(d), hash);
    }

    /// @notice The challenger's own hash at the current midpoint; equal to the provider's means
    /// agreement there.
    /// @param id The dispute.
    /// @param hash Its hash at `midpoint(id)`.
    function answer(uint256 id, bytes32 hash) external {
        Dispute storage d = _active(id);
        if (d.phase != Phase.Steps && d.phase != Phase.Ops) revert WrongPhase(id, d.phase);
        if (msg.sender != d.challenger || !d.pending) revert NotYourMove(id, msg.sender);
        bytes32 posted = d.midHash;
        if (hash == bytes32(0)) revert ZeroHash();
        uint32 mid = _mid(d);
        bool agreed = hash == posted;
        if (agreed) {
            d.lo = mid;
            d.loHash = posted;
        } else {
            d.hi = mid;
            d.hiProvider = posted;
            d.hiChallenger = hash;
        }
        d.pending = false;
        _charge(d, false);
        emit MoveAnswered(id, d.phase, mid, hash, agreed);
        _afterNarrowing(id, d);
    }

    /// @notice Commits the caller's op records of the disputed step: their count and the hash chain
    /// over their hashes.
    /// @param id The dispute.
    /// @param count Number of op records.
    /// @param root Chain hash over all of them.
    /// @param evidence Content id of the blob with the records and their input tensors.
    function commitOps(uint256 id, uint32 count, bytes32 root, bytes32 evidence) external {
        Dispute storage d = _active(id);
        if (d.phase != Phase.OpsCommit) revert WrongPhase(id, d.phase);
        if (count == 0 || count > MAX_OPS) revert BadOpCount(count);
        if (root == bytes32(0) || evidence == bytes32(0)) revert ZeroHash();
        if (msg.sender == d.provider) {
            if (d.providerOps != 0) revert AlreadyCommitted(id, msg.sender);
            d.providerOps = count;
            d.hiProvider = root;
        } else if (msg.sender == d.challenger) {
            if (d.challengerOps != 0) revert AlreadyCommitted(id, msg.sender);
            d.challengerOps = count;
            d.hiChallenger = root;
        } else {
            revert NotYourMove(id, msg.sender);
        }
        emit OpsCommitted(id, msg.sender, count, root, evidence);
        if (d.providerOps == 0 || d.challengerOps == 0) return;
        d.lo = 0;
        d.loHash = bytes32(0);
        d.hi = d.providerOps > d.challengerOps ? d.providerOps : d.challengerOps;
        if (d.hiProvider == d.hiChallenger) {
            // Identical records: only the parties' claims about the step's end can differ.
            d.lo = d.hi;
            _toReferee(id, d, d.hi);
            return;
        }
        d.phase = Phase.Ops;
        _afterNarrowing(id, d);
    }

    // ----- referee -----

    /// @notice The referee's ruling. For an op dispute, `providerOp`/`challengerOp` are the hashes
    /// of the two records it judged (zero for a party with no record there); the winner's must
    /// extend the agreed prefix to the winner's posted prefix.
    /// @param id The dispute.
    /// @param ruling Who was right.
    /// @param providerOp Hash of the provider's record at the disputed op.
    /// @param challengerOp Hash of the challenger's record at the disputed op.
    /// @param kernel The judged kernel, for the record.
    function rule(uint256 id, Ruling ruling, bytes32 providerOp, bytes32 challengerOp, string calldata kernel)
        external
        nonReentrant
    {
        Dispute storage d = _active(id);
        if (d.phase != Phase.Referee) revert WrongPhase(id, d.phase);
        Panel storage panel = _panels[id];
        if (panel.quorum == 0) revert CommitteeNotDrawn(id);
        if (!_isMember(id, msg.sender)) revert NotYourMove(id, msg.sender);
        if (_votes[id][msg.sender] != 0) revert AlreadyVoted(id, msg.sender);
        if (block.timestamp > d.deadline) revert MoveTooLate(id, d.deadline);
        uint256 opIndex = d.lo;
        if (d.kind == Kind.Execution && d.step != type(uint32).max && d.hi == d.lo + 1) {
            // The winner's record must be the one it committed; a loser may have served nothing
            // that matches its own moves, which is why it lost.
            if (ruling == Ruling.Provider && !_extends(d.loHash, providerOp, d.hiProvider)) {
                revert InconsistentRuling(id, d.provider);
            }
            if (ruling == Ruling.Challenger && !_extends(d.loHash, challengerOp, d.hiChallenger)) {
                revert InconsistentRuling(id, d.challenger);
            }
        }
        _votes[id][msg.sender] = uint8(ruling) + 1;
        uint8 votes = _tally(panel, ruling);
        emit Voted(id, msg.sender, ruling, votes);
        if (votes < panel.quorum) return;
        emit Ruled(id, ruling, opIndex, kernel);
        _resolve(
            id,
            d,
            ruling == Ruling.Provider
                ? Outcome.ProviderWon
                : ruling == Ruling.Challenger ? Outcome.ChallengerWon : Outcome.BothFaulty
        );
        // Members who ruled otherwise answer for it; those who had not ruled yet do not.
        _penalize(id, uint8(ruling) + 1);
    }

    /// @notice Draws the referee committee of a dispute that reached its referee; anyone may call,
    /// from the block after the one that reached the referee on. The pool is the one snapshotted
    /// then (pass it as `CommitteePending` gave it); members are drawn without replacement, each
    /// with a chance proportional to its stake, seeded by the hash of the snapshot's block, which
    /// nobody knew when that block's moves were sent. If that hash is no longer available (more
    /// than 256 blocks ago), the draw is re-armed on the current block instead.
    /// @param id The dispute.
    /// @param pool The snapshotted pool.
    /// @param stakes The pool's snapshotted stakes.
    function drawCommittee(uint256 id, address[] calldata pool, uint256[] calldata stakes) external nonReentrant {
        Dispute storage d = _open(id);
        if (d.phase != Phase.Referee) revert WrongPhase(id, d.phase);
        if (block.timestamp > d.deadline) revert MoveTooLate(id, d.deadline);
        Panel storage panel = _panels[id];
        if (panel.quorum != 0) revert CommitteeAlreadyDrawn(id);
        if (keccak256(abi.encode(pool, stakes)) != d.midHash) revert PoolMismatch(id);
        uint256 seedBlock = panel.seedBlock;
        if (block.number <= seedBlock) revert DrawTooEarly(id, seedBlock);
        bytes32 seedHash = blockhash(seedBlock);
        if (seedHash == bytes32(0)) {
            panel.seedBlock = uint64(block.number);
            emit CommitteePending(id, pool, stakes, block.number);
            return;
        }
        uint256 n = pool.length;
        uint256 drawn = n < panel.size ? n : panel.size;
        // An odd committee, so that a majority always exists (the pool is never empty here).
        if (drawn % 2 == 0) --drawn;
        address[] memory accounts = pool;
        uint256[] memory weights = new uint256[](n);
        uint256 total = 0;
        for (uint256 i = 0; i < n; ++i) {
            // Plus one, so that a zero minimum stake still gives everyone a chance.
            weights[i] = stakes[i] + 1;
            total += weights[i];
        }
        bytes32 seed = keccak256(abi.encode(seedHash, id));
        address[] storage stored = _members[id];
        for (uint256 i = 0; i < drawn; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i))) % total;
            uint256 j = i;
            uint256 acc = weights[i];
            while (acc <= r) acc += weights[++j];
            (accounts[i], accounts[j]) = (accounts[j], accounts[i]);
            (weights[i], weights[j]) = (weights[j], weights[i]);
            total -= weights[i];
            stored.push(accounts[i]);
        }
        uint8 quorum = uint8(drawn / 2 + 1);
        panel.size = uint8(drawn);
        panel.quorum = quorum;
        d.deadline = uint32(block.timestamp + refereeTimeout);
        emit CommitteeDrawn(id, stored, quorum);
        for (uint256 i = 0; i < drawn; ++i) {
            emit RefereeNeeded(id, stored[i], d.step, d.lo);
        }
    }

    /// @notice Ends a dispute whose deadline passed: the party that owed the move loses; a silent
    /// referee voids the dispute. Anyone may call.
    /// @param id The dispute.
    function timeout(uint256 id) external nonReentrant {
        Dispute storage d = _open(id);
        if (block.timestamp <= d.deadline) revert TooEarly(id, d.deadline);
        Phase phase = d.phase;
        if (phase == Phase.Referee) {
            // The silent referee: each committee member that did not rule (none, when nobody drew
            // the committee in time).
            address[] storage members = _members[id];
            if (members.length == 0) emit TimedOut(id, phase, address(0));
            for (uint256 i = 0; i < members.length; ++i) {
                if (_votes[id][members[i]] == 0) emit TimedOut(id, phase, members[i]);
            }
            _resolve(id, d, Outcome.Voided);
            // No majority in time: the members who did not rule answer for it (none without one).
            _penalize(id, 0);
        } else if (phase == Phase.OpsCommit) {
            // The provider is presumed honest: a challenger that does not commit loses even when
            // the provider is silent too.
            bool providerSilent = d.providerOps == 0;
            bool challengerSilent = d.challengerOps == 0;
            emit TimedOut(id, phase, challengerSilent ? d.challenger : d.provider);
            _resolve(id, d, challengerSilent || !providerSilent ? Outcome.ProviderWon : Outcome.ChallengerWon);
        } else if (!d.pending) {
            emit TimedOut(id, phase, d.provider);
            _resolve(id, d, Outcome.ChallengerWon);
        } else {
            emit TimedOut(id, phase, d.challenger);
            _resolve(id, d, Outcome.ProviderWon);
        }
    }

    // ----- views -----

    /// @notice A dispute by id.
    /// @param id The dispute.
    /// @return The dispute.
    function getDispute(uint256 id) external view returns (Dispute memory) {
        if (id == 0 || id > disputeCount) revert UnknownDispute(id);
        return _disputes[id];
    }

    /// @notice A dispute's referee committee (empty when the job's submitter referees) and how
    /// each member ruled so far (`0` not yet, else `Ruling + 1`).
    /// @param id The dispute.
    /// @return members The drawn members.
    /// @return votes Each member's ruling plus one, zero while it has not ruled.
    /// @return quorum Matching rulings that decide the dispute.
    function committeeOf(uint256 id)
        external
        view
        returns (address[] memory members, uint8[] memory votes, uint256 quorum)
    {
        if (id == 0 || id > disputeCount) revert UnknownDispute(id);
        members = _members[id];
        votes = new uint8[](members.length);
        for (uint256 i = 0; i < members.length; ++i) {
            votes[i] = _votes[id][members[i]];
        }
        quorum = _panels[id].quorum;
    }

    /// @notice The point the next bisection move is about (a step or a prefix length).
    /// @param id The dispute.
    /// @return The midpoint.
    function midpoint(uint256 id) external view returns (uint256) {
        if (id == 0 || id > disputeCount) revert UnknownDispute(id);
        return _mid(_disputes[id]);
    }

    // ----- governance -----

    /// @notice Sets the challenger bond; governance only.
    /// @param value Wei.
    function setBond(uint96 value) external onlyOwner {
        bond = value;
        emit ParameterSet("bond", value);
    }

    /// @notice Sets the stake a committee member loses for ruling against the majority or not
    /// ruling; governance only.
    /// @param value Wei (0: no penalty).
    function setRefereePenalty(uint96 value) external onlyOwner {
        refereePenalty = value;
        emit ParameterSet("refereePenalty", value);
    }

    /// @notice Sets the move and referee timeouts; governance only.
    /// @param moveSeconds Seconds per move, at least `MIN_MOVE_TIMEOUT`.
    /// @param refereeSeconds Seconds for the referee, at least `MIN_MOVE_TIMEOUT`.
    function setTimeouts(uint32 moveSeconds, uint32 refereeSeconds) external onlyOwner {
        _setTimeouts(moveSeconds, refereeSeconds);
    }

    /// @notice Sets each party's chess clock for disputes opened from now on; governance only.
    /// @param value Seconds, between `MIN_MOVE_TIMEOUT` and `MAX_CLOCK_BUDGET`.
    function setClockBudget(uint32 value) external onlyOwner {
        if (value < MIN_MOVE_TIMEOUT || value > MAX_CLOCK_BUDGET) revert BadParameter("clockBudget", value);
        clockBudget = value;
        emit ParameterSet("clockBudget", value);
    }

    /// @notice Sets the committee size of jobs created without one; governance only.
    /// @param value An odd size up to `MAX_COMMITTEE`.
    function setDefaultCommittee(uint8 value) external onlyOwner {
        if (value == 0 || value % 2 == 0 || value > MAX_COMMITTEE) revert BadParameter("defaultCommittee", value);
        defaultCommittee = value;
        emit ParameterSet("defaultCommittee", value);
    }

    /// @notice Sets the provider's share of a forfeited bond; governance only.
    /// @param value Basis points; the rest is burned.
    function setWinnerShareBps(uint16 value) external onlyOwner {
        if (value > BPS) revert BadParameter("winnerShareBps", value);
        winnerShareBps = value;
        emit ParameterSet("winnerShareBps", value);
    }

    // ----- internals -----

    function _setTimeouts(uint32 moveSeconds, uint32 refereeSeconds) private {
        if (moveSeconds < MIN_MOVE_TIMEOUT) revert BadParameter("moveTimeout", moveSeconds);
        if (refereeSeconds < MIN_MOVE_TIMEOUT) revert BadParameter("refereeTimeout", refereeSeconds);
        moveTimeout = moveSeconds;
        refereeTimeout = refereeSeconds;
        emit ParameterSet("moveTimeout", moveSeconds);
        emit ParameterSet("refereeTimeout", refereeSeconds);
    }

    function _committed(bytes32 jobId, uint32 slot, bytes32 finalStateHash, bytes32 traceRoot)
        private
        view
        returns (JobMarket.Job memory job, address provider)
    {
        job = market.getJob(jobId);
        JobMarket.Slot memory s = market.getSlot(jobId, slot);
        if (s.commitment != market.commitmentOf(finalStateHash, traceRoot)) revert CommitmentMismatch(jobId, slot);
        provider = s.provider;
    }

    /// @dev Opens a dispute that goes straight to the referee (availability, work), pulls the
    /// bond and marks the slot.
    function _openForReferee(
        bytes32 jobId,
        uint32 slot,
        bytes32 finalStateHash,
        bytes32 traceRoot,
        bytes32 subject,
        Kind kind
    ) private returns (uint256 id) {
        (, address provider) = _committed(jobId, slot, finalStateHash, traceRoot);
        id = _new(jobId, slot, provider, kind);
        Dispute storage d = _disputes[id];
        d.subject = subject;
        emit DisputeOpened(id, jobId, slot, msg.sender, provider, kind, 0, 0, subject);
        _pullBondAndMark(jobId, slot);
        _toReferee(id, d, 0);
    }

    function _new(bytes32 jobId, uint32 slot, address provider, Kind kind) private returns (uint256 id) {
        // A provider disputing itself could hold its slot through the challenge window; a
        // submitter could dispute to get its payment back. Neither may challenge.
        if (msg.sender == provider || msg.sender == _submitterOf(jobId)) {
            revert PartyCannotChallenge(jobId, msg.sender);
        }
        id = ++disputeCount;
        Dispute storage d = _disputes[id];
        d.jobId = jobId;
        d.slot = slot;
        d.challenger = msg.sender;
        d.provider = provider;
        d.kind = kind;
        d.bond = bond;
        d.phase = Phase.Steps;
        uint24 clock = uint24(clockBudget);
        d.providerClock = clock;
        d.challengerClock = clock;
    }

    /// @dev Marks the slot disputed (the market checks it is committed and inside its challenge
    /// window) and pulls the bond.
    function _pullBondAndMark(bytes32 jobId, uint32 slot) private {
        market.markDisputed(jobId, slot);
        uint256 amount = bond;
        if (amount > 0) token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @dev A dispute that is not over, whatever its deadline.
    function _open(uint256 id) private view returns (Dispute storage d) {
        if (id == 0 || id > disputeCount) revert UnknownDispute(id);
        d = _disputes[id];
        Phase phase = d.phase;
        if (phase == Phase.Done || phase == Phase.None) revert WrongPhase(id, phase);
    }

    /// @dev A dispute whose current move is still on time (the referee's deadline is checked in `rule`).
    function _active(uint256 id) private view returns (Dispute storage d) {
        d = _open(id);
        if (d.phase != Phase.Referee && block.timestamp > d.deadline) revert MoveTooLate(id, d.deadline);
    }

    function _mid(Dispute storage d) private view returns (uint32) {
        return d.lo + (d.hi - d.lo) / 2;
    }

    /// @dev After the interval shrank: go on bisecting, or move to the next phase.
    function _afterNarrowing(uint256 id, Dispute storage d) private {
        if (d.hi != d.lo + 1) {
            _startTurn(d, true);
            return;
        }
        if (d.phase == Phase.Steps) {
            // Both parties commit at once, one move each: a plain move timeout, off the clocks.
            d.deadline = uint32(block.timestamp + moveTimeout);
            d.step = d.lo;
            d.phase = Phase.OpsCommit;
            emit StepFound(id, d.lo, d.loHash, d.hiProvider, d.hiChallenger);
            d.hiProvider = bytes32(0);
            d.hiChallenger = bytes32(0);
        } else {
            _toReferee(id, d, d.lo);
        }
    }

    /// @dev Hands the dispute to its referee: snapshots the committee pool (warmed-up staked
    /// verifiers other than the parties and the submitter) for `drawCommittee`, or voids the
    /// dispute when nobody outside it can rule. `opIndex` is `d.lo`.
    function _toReferee(uint256 id, Dispute storage d, uint32 opIndex) private {
        d.phase = Phase.Referee;
        d.lo = opIndex;
        d.deadline = uint32(block.timestamp + refereeTimeout);
        uint256 size = market.refereeCommitteeOf(d.jobId);
        if (size == 0) size = defaultCommittee;
        (address[] memory pool, uint256[] memory stakes) = registry.drawPool();
        address submitter = _submitterOf(d.jobId);
        uint256 n = 0;
        for (uint256 i = 0; i < pool.length; ++i) {
            address a = pool[i];
            if (a != d.provider && a != d.challenger && a != submitter) {
                pool[n] = a;
                stakes[n] = stakes[i];
                ++n;
            }
        }
        if (n == 0) {
            emit NoCommittee(id);
            _resolve(id, d, Outcome.Voided);
            return;
        }
        // Shrink both arrays in place to the eligible ones.
        assembly ("memory-safe") {
            mstore(pool, n)
            mstore(stakes, n)
        }
        d.midHash = keccak256(abi.encode(pool, stakes));
        _panels[id] = Panel({
            size: uint8(size),
            quorum: 0,
            forProvider: 0,
            forChallenger: 0,
            forBoth: 0,
            seedBlock: uint64(block.number)
        });
        emit CommitteePending(id, pool, stakes, block.number);
    }

    /// @dev Seconds the mover may take for its next move: its clock, at most `moveTimeout`.
    function _allotted(Dispute storage d, bool provider) private view returns (uint256) {
        uint256 clock = provider ? d.providerClock : d.challengerClock;
        uint256 limit = moveTimeout;
        return clock < limit ? clock : limit;
    }

    /// @dev Starts the provider's (`provider`) or the challenger's turn in a bisection.
    function _startTurn(Dispute storage d, bool provider) private {
        d.deadline = uint32(block.timestamp + _allotted(d, provider));
    }

    /// @dev Charges the mover's clock for its turn, which started `_allotted` seconds before its
    /// deadline (its clock has not changed since). Clamped, so a governed timeout change in
    /// between can never make a move revert.
    function _charge(Dispute storage d, bool provider) private {
        uint256 allotted = _allotted(d, provider);
        uint256 started = d.deadline > allotted ? d.deadline - allotted : 0;
        uint256 used = block.timestamp > started ? block.timestamp - started : 0;
        uint256 clock = provider ? d.providerClock : d.challengerClock;
        uint24 left = used >= clock ? 0 : uint24(clock - used);
        if (provider) d.providerClock = left;
        else d.challengerClock = left;
    }

    function _isMember(uint256 id, address account) private view returns (bool) {
        address[] storage members = _members[id];
        for (uint256 i = 0; i < members.length; ++i) {
            if (members[i] == account) return true;
        }
        return false;
    }

    /// @dev Counts one more vote for `ruling`; returns its votes now.
    function _tally(Panel storage panel, Ruling ruling) private returns (uint8) {
        if (ruling == Ruling.Provider) return ++panel.forProvider;
        if (ruling == Ruling.Challenger) return ++panel.forChallenger;
        return ++panel.forBoth;
    }

    /// @dev Burns `refereePenalty` of the stake of each member whose vote is neither zero nor
    /// `kept` (after a majority), or, with `kept == 0`, of each member that did not vote (after a
    /// timeout). A failing slash (this game not authorised in staking) never blocks the ruling.
    function _penalize(uint256 id, uint8 kept) private {
        uint256 penalty = refereePenalty;
        if (penalty == 0) return;
        address[] storage members = _members[id];
        uint256 burned = 0;
        for (uint256 i = 0; i < members.length; ++i) {
            address m = members[i];
            uint8 vote = _votes[id][m];
            bool faulty = kept == 0 ? vote == 0 : vote != 0 && vote != kept;
            if (!faulty) continue;
            try staking.slash(m, penalty, address(this)) returns (uint256 slashed) {
                burned += slashed;
                emit RefereePenalized(id, m, slashed);
            } catch {}
        }
        if (burned > 0) ERC20Burnable(address(token)).burn(burned);
    }

    /// @dev The job's submitter.
    function _submitterOf(bytes32 jobId) private view returns (address) {
        return market.getJob(jobId).submitter;
    }

    /// @dev True if `op` (or no op, when zero) takes the chain from `lo` to `hi`.
    function _extends(bytes32 lo, bytes32 op, bytes32 hi) private pure returns (bool) {
        if (op == bytes32(0)) return hi == lo;
        return sha256(abi.encodePacked(lo, op)) == hi;
    }

    /// @dev Checks a proof of leaf `index` of `count` under `root`, with the off-chain tree's
    /// rules: leaves are `sha256(0x00 || leaf)`, nodes `sha256(0x01 || left || right)`, and an
    /// odd last node moves up a level unchanged.
    function _verify(bytes32 root, bytes32 leaf, uint256 index, uint256 count, bytes32[] calldata proof)
        private
        pure
        returns (bool)
    {
        bytes32 node = sha256(abi.encodePacked(bytes1(0x00), leaf));
        uint256 used = 0;
        while (count > 1) {
            if (index % 2 == 1) {
                if (used >= proof.length) return false;
                node = sha256(abi.encodePacked(bytes1(0x01), proof[used++], node));
            } else if (index + 1 < count) {
                if (used >= proof.length) return false;
                node = sha256(abi.encodePacked(bytes1(0x01), node, proof[used++]));
            }
            index /= 2;
            count = (count + 1) / 2;
        }
        return used == proof.length && node == root;
    }

    /// @dev Settles the slot in the market and the bond here.
    function _resolve(uint256 id, Dispute storage d, Outcome outcome) private {
        d.phase = Phase.Done;
        d.outcome = outcome;
        bytes32 jobId = d.jobId;
        uint256 slot = d.slot;
        address challenger = d.challenger;
        uint256 amount = d.bond;
        uint256 toProvider = 0;
        uint256 burned = 0;
        if (outcome == Outcome.ProviderWon) {
            toProvider = amount * winnerShareBps / BPS;
            burned = amount - toProvider;
        } else if (outcome == Outcome.BothFaulty) {
            burned = amount;
        }
        emit DisputeResolved(id, outcome, toProvider, burned);
        if (outcome == Outcome.ChallengerWon) {
            market.settleDispute(jobId, slot, false, challenger);
        } else if (outcome == Outcome.BothFaulty) {
            // A faulty challenger earns nothing from the slash: it all goes to the submitter.
            market.settleDispute(jobId, slot, false, _submitterOf(jobId));
        } else {
            market.settleDispute(jobId, slot, true, challenger);
        }
        if (toProvider > 0) token.safeTransfer(d.provider, toProvider);
        if (burned > 0) ERC20Burnable(address(token)).burn(burned);
        uint256 refund = amount - toProvider - burned;
        if (refund > 0) token.safeTransfer(challenger, refund);
    }
}
