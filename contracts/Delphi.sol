// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {ERC6909} from "@openzeppelin/contracts/token/ERC6909/ERC6909.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {JobMarket} from "./JobMarket.sol";
import {Lmsr} from "./delphi/Lmsr.sol";

/// @title Delphi: prediction markets on which model scores best, settled by a verified evaluation
/// @notice A creator opens a market over 2 to 20 candidates (model content ids or job ids) and an
/// evaluation spec (dataset, metric, direction, execution profile), funds it, and an LMSR market
/// maker quotes every outcome until the close time. Outcome shares are ERC-6909 balances with id
/// `marketId << 8 | outcome`. Every trade pays a 0.5% fee, accrued per market and swept to the
/// protocol's fee router (which buys AIGENSYN back: 70% burned, 30% treasury).
///
/// **The evaluation job belongs to the market.** The creator escrows the evaluation's payment in
/// AIGENSYN with the market and fixes its terms: replicas, the stake each evaluator locks, the
/// challenge window and the commit deadline. After the close anyone calls `startEvaluation`, and
/// Delphi itself creates the job in the `JobMarket` with those terms and a staked referee
/// committee (Delphi, the submitter, cannot referee), and keeps the returned job id. Nothing else
/// can resolve the market: no job someone else created, and nothing committed before the close
/// (the job does not exist before).
///
/// **Resolution.** Once every slot of the job is settled (paid, refunded or slashed; anyone can
/// push a slot there through the `JobMarket`: finalize after its window, refund after the
/// deadline) anyone calls `resolve` with the scores the paid slots committed
/// (`finalStateHash = keccak256(abi.encode(scores))`); the best score per the metric direction
/// wins and tied best outcomes split the payout (`1 / k` of a collateral unit per share).
///
/// **No winner, no payout but refunds.** If the job ends with no paid slot or with paid slots that
/// disagree (`voidMarket`), or the market reaches its resolution deadline unresolved (expiry), no
/// share pays: every account takes back its net deposit (`refund`) and the creator its funding.
/// A sale returns the seller's own deposit at once; proceeds beyond it (a trading gain) are held
/// until the market resolves and forfeited to the refunds otherwise. So the pool always holds the
/// creator's funding plus every deposit exactly, and a refund makes every trader whole up to the
/// fees: nobody profits from stopping a market from resolving. Refunds are keyed to the
/// depositor, not to share balances, so shares moved with ERC-6909 transfers cannot claim twice.
/// @dev Solvency: the pool holds `F + sum of deposits` (F the creator's funding) exactly, which is
/// what a refund pays; and `pool - heldProceeds >= b * ln(S) >= max_i q_i` (see `Lmsr`), which
/// covers any resolution on top of the held proceeds.
contract Delphi is ERC6909, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;

    /// @notice Fewest outcomes per market.
    uint256 public constant MIN_OUTCOMES = 2;
    /// @notice Most outcomes per market (bounds every loop over outcomes).
    uint256 public constant MAX_OUTCOMES = 20;
    /// @notice Protocol fee on every trade, in basis points (0.5%).
    uint256 public constant FEE_BPS = 50;
    /// @notice Least creator funding, in collateral units (1 unit of a 6-decimal token).
    uint256 public constant MIN_LIQUIDITY = 1e6;
    /// @notice Most creator funding, in collateral units; keeps pools and fees within 64 bits.
    uint256 public constant MAX_LIQUIDITY = 1e18;
    /// @notice Domain tag of evaluation spec hashes.
    bytes32 public constant EVAL_SPEC_TAG = keccak256("gensyn.delphi.evaluation.v1");
    /// @notice Most evaluation replicas per market; bounds the loops over the job's slots.
    uint8 public constant MAX_EVAL_REPLICAS = 8;
    /// @notice Size of the staked referee committee ruling on the evaluation job's disputes: the
    /// job's submitter is Delphi, which cannot recompute a kernel.
    uint8 public constant EVAL_REFEREE_COMMITTEE = 3;
    /// @notice Shortest challenge window of an evaluation: time for verifiers to re-run it.
    uint32 public constant MIN_EVAL_CHALLENGE_WINDOW = 1 hours;
    /// @notice Shortest time evaluators get after the close to claim and commit.
    uint32 public constant MIN_EVAL_TIMEOUT = 1 hours;
    /// @notice Time the schedule keeps between the end of the last possible challenge window and
    /// the resolution deadline, for a dispute to play out (moves, referee) and anyone to resolve.
    uint32 public constant SETTLEMENT_MARGIN = 1 days;

    uint256 private constant BPS = 10_000;
    /// @dev "No such slot" in a `Scan`.
    uint256 private constant NONE = type(uint256).max;
    /// @dev An evaluation is one step: score every candidate once.
    uint32 private constant EVAL_STEPS = 1;

    /// @notice Which way the metric ranks candidates.
    enum Direction {
        HigherIsBetter,
        LowerIsBetter
    }

    /// @notice Where a market is in its life. `Expired` and `Voided` both refund deposits.
    enum Phase {
        Trading,
        Closed,
        Resolved,
        Expired,
        Voided
    }

    /// @notice Why a market was voided.
    enum VoidReason {
        // Nobody started the evaluation before its deadline.
        NotEvaluated,
        // Every slot of the evaluation job was refunded or slashed.
        NoResult,
        // Paid slots committed different scores.
        Conflicting
    }

    /// @notice A market, in four storage words; trades touch the first two only (a sale with a
    /// gain also the fourth).
    /// @dev `winners` is a bit mask over outcomes, valid once `resolved`. `pool` is the creator's
    /// funding plus every account's deposit, and holds the proceeds held back from sales.
    struct Market {
        // word 0, written by every trade
        uint128 sumExp;
        uint64 pool;
        uint64 fees;
        // word 1, read by every trade
        uint96 b;
        uint40 closeTime;
        uint40 deadline;
        uint8 outcomeCount;
        bool resolved;
        uint32 winners;
        uint8 winnerCount;
        Direction direction;
        bool voided;
        // word 2
        address creator;
        uint64 funding;
        // word 3
        uint64 heldProceeds;
        uint96 minEvalStake;
    }

    /// @notice One outcome: its shares outstanding and its cached `exp(q / b)` (WAD).
    struct Outcome {
        uint128 supply;
        uint128 expWad;
    }

    /// @notice A market's evaluation: the terms its job is created with, and the job.
    struct Evaluation {
        // What the job computes: a hash of the market's candidates, dataset, metric and profile.
        bytes32 specHash;
        // The JobMarket id of the job Delphi created; zero until `startEvaluation`.
        bytes32 jobId;
        // AIGENSYN escrowed for the evaluators, split over the replicas.
        uint96 payment;
        // Commits close at this time (the job's deadline).
        uint40 deadline;
        uint32 challengeWindow;
        uint8 replicas;
        // The refunded part of the escrow went back to the creator.
        bool escrowReclaimed;
    }

    /// @notice One account's money in one market, in one storage word.
    struct Ledger {
        // Collateral the account paid into the pool, less what its sales took back out.
        uint64 deposit;
        // Sale proceeds beyond the deposit (a gain), fee included; paid once the market resolves.
        uint64 heldProceeds;
        // The fee still due on `heldProceeds`.
        uint64 heldFee;
    }

    /// @notice What one read of an evaluation job's slots found (see `_scanEvaluation`).
    struct Scan {
        bytes32 agreed;
        uint256 paidSlot;
        uint256 conflictSlot;
        uint256 pendingSlot;
        uint8 pendingStatus;
        uint256 returnedSlots;
        uint256 paymentPerReplica;
    }

    /// @notice What the creator fixes about the evaluation job when opening a market.
    struct EvaluationTerms {
        // AIGENSYN escrowed for the evaluators; must split evenly over the replicas.
        uint96 payment;
        // Stake each evaluator locks; non-zero.
        uint96 requiredStake;
        // Seconds after the close by which evaluators must commit (the job's deadline).
        uint32 timeout;
        // Seconds a commitment can be disputed.
        uint32 challengeWindow;
        // Independent evaluators, 1 to `MAX_EVAL_REPLICAS`.
        uint8 replicas;
    }

    /// @notice What a creator gives to open a market.
    struct CreateMarketParams {
        string question;
        bytes32[] outcomes;
        bytes32 evalDataset;
        string metric;
        Direction direction;
        string profile;
        uint40 closeTime;
        uint40 resolutionDeadline;
        uint256 liquidity;
        EvaluationTerms evaluation;
    }

    /// @notice The collateral token (a 6-decimal stable token).
    IERC20 public immutable collateral;
    /// @notice The job market that runs and verifies evaluation jobs.
    JobMarket public immutable jobMarket;
    /// @notice The token evaluations are paid in: the job market's (AIGENSYN).
    IERC20 public immutable evaluationToken;
    /// @notice Number of markets created; ids count from 1.
    uint256 public marketCount;
    /// @notice Evaluation escrow not yet reclaimed, over every market: an upper bound of the
    /// AIGENSYN Delphi holds, or will get back from the job market, for creators.
    uint256 public evaluationEscrow;

    mapping(uint256 => Market) private _markets;
    mapping(uint256 => Outcome) private _outcomes;
    mapping(uint256 => Evaluation) private _evaluations;
    mapping(uint256 => mapping(address => Ledger)) private _ledgers;

    /// @notice A market opened; `evalSpecHash` names what its evaluation computes.
    event MarketCreated(
        uint256 indexed marketId,
        address indexed creator,
        bytes32 indexed evalSpecHash,
        string question,
        bytes32[] outcomes,
        bytes32 evalDataset,
        string metric,
        Direction direction,
        string profile,
        uint256 closeTime,
        uint256 resolutionDeadline,
        uint256 liquidity,
        uint256 b
    );
    /// @notice The terms of the market's evaluation job, its payment escrowed.
    event EvaluationScheduled(
        uint256 indexed marketId,
        uint256 payment,
        uint256 requiredStake,
        uint256 replicas,
        uint256 challengeWindow,
        uint256 deadline
    );
    /// @notice Delphi created the market's evaluation job `jobId` (spec hash `jobSpecHash`).
    event EvaluationStarted(uint256 indexed marketId, bytes32 indexed jobId, bytes32 jobSpecHash);
    /// @notice A trade: `shares` of `outcome` bought or sold for `collateral` (cost paid or payout
    /// received, fee excluded) plus `fee`; `expWad` is the outcome's exponential after it.
    event Traded(
        uint256 indexed marketId,
        address indexed trader,
        uint256 outcome,
        bool isBuy,
        uint256 shares,
        uint256 collateral,
        uint256 fee,
        uint256 expWad
    );
    /// @notice A sale returned more than `trader`'s deposit: `amount` (after its `fee`) is held
    /// until the market resolves.
    event ProceedsHeld(uint256 indexed marketId, address indexed trader, uint256 amount, uint256 fee);
    /// @notice The market resolved from evaluation `evalJobId`: `winners` is a bit mask of the
    /// best-scoring outcomes.
    event Resolved(uint256 indexed marketId, bytes32 indexed evalJobId, int256[] scores, bytes32 traceRoot, uint256 winners);
    /// @notice The market can name no winner: deposits are refunded.
    event MarketVoided(uint256 indexed marketId, bytes32 indexed evalJobId, VoidReason reason);
    /// @notice `account` redeemed `shares` of `outcome` for `payout`.
    event Redeemed(uint256 indexed marketId, address indexed account, uint256 outcome, uint256 shares, uint256 payout);
    /// @notice `account` got its held sale proceeds, `amount` after `fee`.
    event ProceedsReleased(uint256 indexed marketId, address indexed account, uint256 amount, uint256 fee);
    /// @notice `account` took back its deposit `amount` from a market that named no winner.
    event Refunded(uint256 indexed marketId, address indexed account, uint256 amount);
    /// @notice The creator got back `amount`, what the pool held beyond outstanding claims.
    event LiquidityWithdrawn(uint256 indexed marketId, address indexed creator, uint256 amount);
    /// @notice The refunded part of the evaluation escrow, `amount` AIGENSYN, went to the creator.
    event EscrowReclaimed(uint256 indexed marketId, address indexed creator, uint256 amount);
    /// @notice `amount` of accrued trading fees went to `feeRouter`.
    event FeesSwept(address indexed feeRouter, uint256 amount);
    /// @notice `amount` AIGENSYN no creator is owed (slash compensation paid to Delphi as a job's
    /// submitter) went to `feeRouter`.
    event SurplusSwept(address indexed feeRouter, uint256 amount);

    /// @notice The collateral cannot be the evaluation token: their balances would mix.
    error CollateralIsEvaluationToken(address token);
    /// @notice No market has this id.
    error UnknownMarket(uint256 marketId);
    /// @notice A market needs between `min` and `max` outcomes.
    error InvalidOutcomeCount(uint256 count, uint256 min, uint256 max);
    /// @notice Outcome `index` repeats an earlier one (or is zero).
    error InvalidOutcomeId(uint256 index);
    /// @notice The close time must be in the future and before the resolution deadline.
    error InvalidSchedule(uint256 closeTime, uint256 resolutionDeadline, uint256 nowTimestamp);
    /// @notice Funding must be between `min` and `max` collateral units.
    error InvalidLiquidity(uint256 amount, uint256 min, uint256 max);
    /// @notice The evaluation payment must be non-zero and split evenly over `replicas`.
    error InvalidEvalPayment(uint256 payment, uint256 replicas);
    /// @notice Evaluation replicas must be between 1 and `max`.
    error InvalidEvalReplicas(uint256 replicas, uint256 max);
    /// @notice Evaluators must lock some stake: a result nobody can lose by faking is worth nothing.
    error ZeroEvalStake();
    /// @notice The evaluation's challenge window must be between `min` and `max` seconds.
    error InvalidEvalChallengeWindow(uint256 window, uint256 min, uint256 max);
    /// @notice Evaluators get at least `min` seconds after the close.
    error InvalidEvalTimeout(uint256 timeout, uint256 min);
    /// @notice The evaluation may settle as late as `settledBy` (its deadline, challenge window
    /// and `SETTLEMENT_MARGIN`), after the resolution deadline `resolutionDeadline`.
    error InvalidEvaluationSchedule(uint256 settledBy, uint256 resolutionDeadline);
    /// @notice Trading in the market closed at `closeTime` (or it settled).
    error MarketClosed(uint256 marketId, uint256 closeTime);
    /// @notice The market has `count` outcomes; `outcome` is not one of them.
    error UnknownOutcome(uint256 marketId, uint256 outcome, uint256 count);
    /// @notice A trade of zero shares.
    error ZeroShares();
    /// @notice The trade's price `actual` is worse than the caller's limit `limit`.
    error PriceLimitExceeded(uint256 marketId, uint256 actual, uint256 limit);
    /// @notice `account` holds `held` shares of `outcome`, fewer than `needed`.
    error InsufficientShares(uint256 marketId, uint256 outcome, uint256 held, uint256 needed);
    /// @notice Trading closes at `closeTime`; the market cannot be evaluated or resolved before.
    error MarketNotClosed(uint256 marketId, uint256 closeTime);
    /// @notice The market resolved already.
    error AlreadyResolved(uint256 marketId);
    /// @notice The market was voided: it refunds deposits.
    error AlreadyVoided(uint256 marketId);
    /// @notice The resolution deadline `deadline` passed: the market expired.
    error MarketExpired(uint256 marketId, uint256 deadline);
    /// @notice The evaluation job was created already, as `jobId`.
    error EvaluationAlreadyStarted(uint256 marketId, bytes32 jobId);
    /// @notice The evaluation could start only before `deadline`; the market cannot resolve.
    error EvaluationWindowPassed(uint256 marketId, uint256 deadline);
    /// @notice Nobody started the evaluation yet; it can start until `startBy`.
    error EvaluationNotStarted(uint256 marketId, uint256 startBy);
    /// @notice Slot `slot` of evaluation job `jobId` is not settled (status `status`).
    error EvaluationNotFinal(uint256 marketId, bytes32 jobId, uint256 slot, uint8 status);
    /// @notice Paid slots `slotA` and `slotB` of evaluation job `jobId` committed different scores.
    error EvaluationConflict(uint256 marketId, bytes32 jobId, uint256 slotA, uint256 slotB);
    /// @notice Every slot of evaluation job `jobId` was refunded or slashed: no result.
    error NoEvaluationResult(uint256 marketId, bytes32 jobId);
    /// @notice Evaluation job `jobId` has a result every paid slot agrees on: resolve the market.
    error EvaluationConclusive(uint256 marketId, bytes32 jobId);
    /// @notice The scores do not match what paid slot `slot` of evaluation job `jobId` committed.
    error ScoresMismatch(uint256 marketId, bytes32 jobId, uint256 slot);
    /// @notice `given` scores for a market of `count` outcomes.
    error WrongScoreCount(uint256 marketId, uint256 given, uint256 count);
    /// @notice The market is neither resolved, voided nor expired (its deadline is `deadline`).
    error NotSettled(uint256 marketId, uint256 deadline);
    /// @notice The market named no winner: shares and held proceeds pay nothing; deposits are refunded.
    error MarketRefunding(uint256 marketId);
    /// @notice The market resolved: it pays winning shares, not refunds.
    error NoRefunds(uint256 marketId);
    /// @notice `outcome` did not win the market.
    error NotWinningOutcome(uint256 marketId, uint256 outcome);
    /// @notice The caller holds no shares of `outcome`.
    error NothingToRedeem(uint256 marketId, uint256 outcome);
    /// @notice `account` has no deposit in the market.
    error NothingToRefund(uint256 marketId, address account);
    /// @notice `account` has no held sale proceeds in the market.
    error NoHeldProceeds(uint256 marketId, address account);
    /// @notice The pool holds nothing beyond outstanding claims.
    error NothingToReclaim(uint256 marketId);
    /// @notice The evaluation escrow went back to the creator already.
    error EscrowAlreadyReclaimed(uint256 marketId);
    /// @notice No trading fees have accrued in the given markets.
    error NoFeesAccrued();
    /// @notice Delphi holds no AIGENSYN beyond the evaluation escrows.
    error NoSurplus();

    /// @param collateralToken The collateral token (6-decimal stable).
    /// @param jobs The job market running evaluation jobs.
    constructor(IERC20 collateralToken, JobMarket jobs) {
        IERC20 evalToken = jobs.token();
        if (address(collateralToken) == address(evalToken)) {
            revert CollateralIsEvaluationToken(address(collateralToken));
        }
        collateral = collateralToken;
        jobMarket = jobs;
        evaluationToken = evalToken;
    }

    // ------------------------------------------------------------------ create

    /// @notice Opens a market, taking `p.liquidity` collateral and `p.evaluation.payment` AIGENSYN
    /// from the caller (needs both allowances). The liquidity parameter is the largest `b` with
    /// `b * ln(n) <= p.liquidity`, the creator's worst-case loss. The evaluation's terms are fixed
    /// here; its job is created after the close (`startEvaluation`).
    /// @param p The market's parameters.
    /// @return marketId The new market's id.
    function createMarket(CreateMarketParams calldata p) external nonReentrant returns (uint256 marketId) {
        uint256 n = p.outcomes.length;
        if (n < MIN_OUTCOMES || n > MAX_OUTCOMES) revert InvalidOutcomeCount(n, MIN_OUTCOMES, MAX_OUTCOMES);
        for (uint256 i = 0; i < n; ++i) {
            if (p.outcomes[i] == bytes32(0)) revert InvalidOutcomeId(i);
            for (uint256 j = 0; j < i; ++j) {
                if (p.outcomes[i] == p.outcomes[j]) revert InvalidOutcomeId(i);
            }
        }
        if (p.closeTime <= block.timestamp || p.resolutionDeadline <= p.closeTime) {
            revert InvalidSchedule(p.closeTime, p.resolutionDeadline, block.timestamp);
        }
        if (p.liquidity < MIN_LIQUIDITY || p.liquidity > MAX_LIQUIDITY) {
            revert InvalidLiquidity(p.liquidity, MIN_LIQUIDITY, MAX_LIQUIDITY);
        }
        uint40 evalDeadline = _checkEvaluationTerms(p.evaluation, p.closeTime, p.resolutionDeadline);
        marketId = ++marketCount;
        uint256 b = Lmsr.liquidityFor(p.liquidity, n);
        bytes32 specHash = keccak256(
            abi.encode(
                EVAL_SPEC_TAG,
                block.chainid,
                address(this),
                marketId,
                p.outcomes,
                p.evalDataset,
                keccak256(bytes(p.metric)),
                p.direction,
                keccak256(bytes(p.profile))
            )
        );
        _markets[marketId] = Market({
            sumExp: uint128(n * Lmsr.WAD),
            pool: uint64(p.liquidity),
            fees: 0,
            b: b.toUint96(),
            closeTime: p.closeTime,
            deadline: p.resolutionDeadline,
            outcomeCount: uint8(n),
            resolved: false,
            winners: 0,
            winnerCount: 0,
            direction: p.direction,
            voided: false,
            creator: msg.sender,
            funding: uint64(p.liquidity),
            heldProceeds: 0,
            minEvalStake: p.evaluation.requiredStake
        });
        _evaluations[marketId] = Evaluation({
            specHash: specHash,
            jobId: bytes32(0),
            payment: p.evaluation.payment,
            deadline: evalDeadline,
            challengeWindow: p.evaluation.challengeWindow,
            replicas: p.evaluation.replicas,
            escrowReclaimed: false
        });
        evaluationEscrow += p.evaluation.payment;
        for (uint256 i = 0; i < n; ++i) {
            _outcomes[_tokenId(marketId, i)] = Outcome({supply: 0, expWad: uint128(Lmsr.WAD)});
        }
        emit MarketCreated(
            marketId,
            msg.sender,
            specHash,
            p.question,
            p.outcomes,
            p.evalDataset,
            p.metric,
            p.direction,
            p.profile,
            p.closeTime,
            p.resolutionDeadline,
            p.liquidity,
            b
        );
        emit EvaluationScheduled(
            marketId,
            p.evaluation.payment,
            p.evaluation.requiredStake,
            p.evaluation.replicas,
            p.evaluation.challengeWindow,
            evalDeadline
        );
        collateral.safeTransferFrom(msg.sender, address(this), p.liquidity);
        evaluationToken.safeTransferFrom(msg.sender, address(this), p.evaluation.payment);
    }

    // ------------------------------------------------------------------ trade

    /// @notice Buys `shares` of `outcome` for at most `maxCost` collateral, fee included. The cost
    /// (fee excluded) adds to the caller's deposit in the market.
    /// @param marketId The market.
    /// @param outcome Outcome index.
    /// @param shares Shares to buy (one share redeems one collateral unit if the outcome wins).
    /// @param maxCost Most collateral the caller pays, fee included (slippage limit).
    /// @return cost Collateral paid into the pool (rounded up).
    /// @return fee Protocol fee paid on top (rounded up).
    function buy(uint256 marketId, uint256 outcome, uint256 shares, uint256 maxCost)
        external
        nonReentrant
        returns (uint256 cost, uint256 fee)
    {
        Market storage m = _markets[marketId];
        (uint256 b, uint256 id) = _tradable(m, marketId, outcome, shares);
        Outcome storage o = _outcomes[id];
        uint256 sumExp = m.sumExp;
        uint256 newExp;
        (cost, newExp, sumExp) = Lmsr.buy(b, o.expWad, sumExp, shares);
        fee = _feeOf(cost);
        uint256 total = cost + fee;
        if (total > maxCost) revert PriceLimitExceeded(marketId, total, maxCost);
        m.sumExp = uint128(sumExp); // <= 20 * MAX_EXP < 2^128
        uint64 pool = (m.pool + cost).toUint64();
        m.pool = pool;
        m.fees = (m.fees + fee).toUint64();
        o.supply = (o.supply + shares).toUint128();
        o.expWad = uint128(newExp); // <= MAX_EXP
        Ledger storage l = _ledgers[marketId][msg.sender];
        // Cannot overflow: a deposit is part of the pool, which fits 64 bits.
        l.deposit = uint64(l.deposit + cost);
        _mint(msg.sender, id, shares);
        emit Traded(marketId, msg.sender, outcome, true, shares, cost, fee, newExp);
        collateral.safeTransferFrom(msg.sender, address(this), total);
    }

    /// @notice Sells `shares` of `outcome` for at least `minPayout` collateral, fee deducted. The
    /// proceeds return the caller's deposit first, paid now; what exceeds it (a gain) is held until
    /// the market resolves (`releaseProceeds`) and forfeited to the refunds if it names no winner.
    /// @param marketId The market.
    /// @param outcome Outcome index.
    /// @param shares Shares to sell; the caller must hold them.
    /// @param minPayout Least collateral the caller accepts in all, after the fee (slippage limit).
    /// @return payout Collateral due to the caller in all: paid now, or held if a gain.
    /// @return fee Protocol fee deducted (rounded up).
    function sell(uint256 marketId, uint256 outcome, uint256 shares, uint256 minPayout)
        external
        nonReentrant
        returns (uint256 payout, uint256 fee)
    {
        Market storage m = _markets[marketId];
        (uint256 b, uint256 id) = _tradable(m, marketId, outcome, shares);
        uint256 held = balanceOf(msg.sender, id);
        if (held < shares) revert InsufficientShares(marketId, outcome, held, shares);
        Outcome storage o = _outcomes[id];
        uint256 sumExp = m.sumExp;
        uint256 proceeds;
        uint256 newExp;
        (proceeds, newExp, sumExp) = Lmsr.sell(b, o.expWad, sumExp, shares);
        fee = _feeOf(proceeds);
        payout = proceeds - fee;
        if (payout < minPayout) revert PriceLimitExceeded(marketId, payout, minPayout);
        m.sumExp = uint128(sumExp);
        Ledger storage l = _ledgers[marketId][msg.sender];
        uint256 deposit = l.deposit;
        uint256 returned = proceeds < deposit ? proceeds : deposit;
        uint256 feeNow = fee < returned ? fee : returned;
        uint256 gain = proceeds - returned;
        l.deposit = uint64(deposit - returned);
        // Only the returned deposit leaves the pool; a gain stays in it, held for the seller.
        // Cannot underflow: the pool holds at least b*ln(S) >= b*ln(S/S') >= proceeds beyond the
        // held proceeds (see Lmsr).
        m.pool = uint64(m.pool - returned);
        m.fees = (m.fees + feeNow).toUint64();
        if (gain > 0) {
            uint256 feeLater = fee - feeNow; // <= gain, as fee <= proceeds
            // Cannot overflow: held proceeds are part of the pool, which fits 64 bits.
            m.heldProceeds = uint64(m.heldProceeds + gain);
            l.heldProceeds = uint64(l.heldProceeds + gain);
            l.heldFee = uint64(l.heldFee + feeLater);
            emit ProceedsHeld(marketId, msg.sender, gain - feeLater, feeLater);
        }
        unchecked {
            o.supply -= uint128(shares); // held <= supply
        }
        o.expWad = uint128(newExp);
        _burn(msg.sender, id, shares);
        emit Traded(marketId, msg.sender, outcome, false, shares, proceeds, fee, newExp);
        if (returned > feeNow) collateral.safeTransfer(msg.sender, returned - feeNow);
    }

    /// @notice What buying `shares` of `outcome` would cost now.
    /// @param marketId The market.
    /// @param outcome Outcome index.
    /// @param shares Shares to buy.
    /// @return cost Collateral into the pool.
    /// @return fee Protocol fee on top.
    function quoteBuy(uint256 marketId, uint256 outcome, uint256 shares)
        external
        view
        returns (uint256 cost, uint256 fee)
    {
        Market storage m = _markets[marketId];
        (uint256 b, uint256 id) = _tradable(m, marketId, outcome, shares);
        (cost,,) = Lmsr.buy(b, _outcomes[id].expWad, m.sumExp, shares);
        fee = _feeOf(cost);
    }

    /// @notice What selling `shares` of `outcome` would pay now, in all (part may be held).
    /// @param marketId The market.
    /// @param outcome Outcome index.
    /// @param shares Shares to sell.
    /// @return payout Collateral to the seller, after the fee.
    /// @return fee Protocol fee deducted.
    function quoteSell(uint256 marketId, uint256 outcome, uint256 shares)
        external
        view
        returns (uint256 payout, uint256 fee)
    {
        Market storage m = _markets[marketId];
        (uint256 b, uint256 id) = _tradable(m, marketId, outcome, shares);
        (uint256 proceeds,,) = Lmsr.sell(b, _outcomes[id].expWad, m.sumExp, shares);
        fee = _feeOf(proceeds);
        payout = proceeds - fee;
    }

    // ------------------------------------------------------------------ evaluate

    /// @notice Creates the market's evaluation job in the job market, paying its escrow, with the
    /// terms fixed at creation and a staked referee committee; anyone may call, once, between the
    /// close and the evaluation deadline. The job's spec hash is the market's evaluation spec hash
    /// salted with the market id (two markets may evaluate the same way); the job market derives
    /// the job's id from this contract and that hash, so nobody can create it first.
    /// @param marketId The market.
    /// @return jobId The job id the job market returned.
    function startEvaluation(uint256 marketId) external nonReentrant returns (bytes32 jobId) {
        Market storage m = _existing(marketId);
        Evaluation storage e = _evaluations[marketId];
        if (block.timestamp < m.closeTime) revert MarketNotClosed(marketId, m.closeTime);
        if (e.jobId != bytes32(0)) revert EvaluationAlreadyStarted(marketId, e.jobId);
        if (block.timestamp >= e.deadline) revert EvaluationWindowPassed(marketId, e.deadline);
        uint256 payment = e.payment;
        uint32 window = e.challengeWindow;
        // Governance may have raised the job market's floor since the market opened.
        uint32 floor = jobMarket.minChallengeWindow();
        if (window < floor) window = floor;
        bytes32 jobSpecHash = keccak256(abi.encode(e.specHash, marketId));
        evaluationToken.forceApprove(address(jobMarket), payment);
        // The job market is immutable and trusted, and this call is non-reentrant: the id it
        // returns is stored after the call.
        jobId = jobMarket.createJob(
            JobMarket.CreateJobParams({
                specHash: jobSpecHash,
                payment: payment,
                replicas: e.replicas,
                checkpointInterval: EVAL_STEPS,
                steps: EVAL_STEPS,
                deadline: e.deadline,
                challengeWindow: window,
                requiredStake: m.minEvalStake,
                workUnits: 0,
                refereeCommittee: EVAL_REFEREE_COMMITTEE
            })
        );
        e.jobId = jobId;
        emit EvaluationStarted(marketId, jobId, jobSpecHash);
    }

    // ------------------------------------------------------------------ settle

    /// @notice Resolves the market from its own evaluation job; anyone may call between the close
    /// and the resolution deadline. Every slot of the job must be settled (paid, refunded or
    /// slashed: finalize or refund it in the job market first), at least one paid, every paid slot
    /// must have committed the same `(keccak256(abi.encode(scores)), traceRoot)`. The best score
    /// per the metric direction wins; tied best scores all win and split the payout.
    /// @param marketId The market.
    /// @param scores One score per outcome, as the evaluation committed them.
    /// @param traceRoot The evaluation trace root the job committed.
    function resolve(uint256 marketId, int256[] calldata scores, bytes32 traceRoot) external nonReentrant {
        Market storage m = _unsettled(marketId);
        uint256 n = m.outcomeCount;
        if (scores.length != n) revert WrongScoreCount(marketId, scores.length, n);
        bytes32 jobId = _startedJob(marketId);
        Scan memory scan = _readEvaluation(marketId, jobId);
        if (scan.conflictSlot != NONE) revert EvaluationConflict(marketId, jobId, scan.paidSlot, scan.conflictSlot);
        if (scan.agreed == bytes32(0)) revert NoEvaluationResult(marketId, jobId);
        if (scan.agreed != jobMarket.commitmentOf(keccak256(abi.encode(scores)), traceRoot)) {
            revert ScoresMismatch(marketId, jobId, scan.paidSlot);
        }

        bool lowerIsBetter = m.direction == Direction.LowerIsBetter;
        int256 best = scores[0];
        uint256 mask = 1;
        uint256 count = 1;
        for (uint256 i = 1; i < n; ++i) {
            int256 s = scores[i];
            if (s == best) {
                mask |= 1 << i;
                ++count;
            } else if (lowerIsBetter ? s < best : s > best) {
                best = s;
                mask = 1 << i;
                count = 1;
            }
        }
        m.resolved = true;
        m.winners = uint32(mask);
        m.winnerCount = uint8(count);
        emit Resolved(marketId, jobId, scores, traceRoot, mask);
    }

    /// @notice Voids a market whose evaluation can name no winner, so deposits are refunded at
    /// once rather than at the resolution deadline: nobody started the evaluation before its
    /// deadline, or every slot of its job settled with none paid, or paid slots disagree. Anyone
    /// may call.
    /// @param marketId The market.
    function voidMarket(uint256 marketId) external nonReentrant {
        Market storage m = _unsettled(marketId);
        Evaluation storage e = _evaluations[marketId];
        bytes32 jobId = e.jobId;
        VoidReason reason;
        if (jobId == bytes32(0)) {
            if (block.timestamp < e.deadline) revert EvaluationNotStarted(marketId, e.deadline);
            reason = VoidReason.NotEvaluated;
        } else {
            Scan memory scan = _readEvaluation(marketId, jobId);
            if (scan.conflictSlot != NONE) {
                reason = VoidReason.Conflicting;
            } else if (scan.agreed == bytes32(0)) {
                reason = VoidReason.NoResult;
            } else {
                revert EvaluationConclusive(marketId, jobId);
            }
        }
        m.voided = true;
        emit MarketVoided(marketId, jobId, reason);
    }

    /// @notice Redeems the caller's whole balance of a winning `outcome` once the market resolved:
    /// `1 / k` collateral unit per share for `k` winners, rounded down.
    /// @param marketId The market.
    /// @param outcome Outcome index.
    /// @return payout Collateral sent to the caller.
    function redeem(uint256 marketId, uint256 outcome) external nonReentrant returns (uint256 payout) {
        Market storage m = _existing(marketId);
        if (outcome >= m.outcomeCount) revert UnknownOutcome(marketId, outcome, m.outcomeCount);
        _requireResolved(m, marketId);
        if (m.winners & (1 << outcome) == 0) revert NotWinningOutcome(marketId, outcome);
        uint256 id = _tokenId(marketId, outcome);
        uint256 shares = balanceOf(msg.sender, id);
        if (shares == 0) revert NothingToRedeem(marketId, outcome);
        payout = shares / m.winnerCount;
        // Cannot underflow: the pool covers every outstanding claim (see `withdrawLiquidity`).
        m.pool = uint64(m.pool - payout);
        unchecked {
            _outcomes[id].supply -= uint128(shares);
        }
        _burn(msg.sender, id, shares);
        emit Redeemed(marketId, msg.sender, outcome, shares, payout);
        collateral.safeTransfer(msg.sender, payout);
    }

    /// @notice Pays the caller the sale proceeds held back from its sales (gains beyond its
    /// deposit), less their fee, once the market resolved.
    /// @param marketId The market.
    /// @return amount Collateral sent to the caller.
    function releaseProceeds(uint256 marketId) external nonReentrant returns (uint256 amount) {
        Market storage m = _existing(marketId);
        _requireResolved(m, marketId);
        Ledger storage l = _ledgers[marketId][msg.sender];
        uint256 gross = l.heldProceeds;
        if (gross == 0) revert NoHeldProceeds(marketId, msg.sender);
        uint256 fee = l.heldFee;
        amount = gross - fee;
        l.heldProceeds = 0;
        l.heldFee = 0;
        // Cannot underflow: the held proceeds are part of the pool and counted in its liability.
        m.heldProceeds = uint64(m.heldProceeds - gross);
        m.pool = uint64(m.pool - gross);
        m.fees = (m.fees + fee).toUint64();
        emit ProceedsReleased(marketId, msg.sender, amount, fee);
        collateral.safeTransfer(msg.sender, amount);
    }

    /// @notice Pays the caller back its deposit (what it paid into the pool, less what its sales
    /// took out) from a market that named no winner: voided, or expired unresolved. Fees are not
    /// refunded, and held sale proceeds are forfeited (they are other depositors' money).
    /// @param marketId The market.
    /// @return amount Collateral sent to the caller.
    function refund(uint256 marketId) external nonReentrant returns (uint256 amount) {
        Market storage m = _existing(marketId);
        if (m.resolved) revert NoRefunds(marketId);
        if (!_refunding(m)) revert NotSettled(marketId, m.deadline);
        Ledger storage l = _ledgers[marketId][msg.sender];
        amount = l.deposit;
        if (amount == 0) revert NothingToRefund(marketId, msg.sender);
        delete _ledgers[marketId][msg.sender];
        // Cannot underflow: the pool is the creator's funding plus every deposit.
        m.pool = uint64(m.pool - amount);
        emit Refunded(marketId, msg.sender, amount);
        collateral.safeTransfer(msg.sender, amount);
    }

    /// @notice Pays the creator what the pool holds beyond outstanding claims: after a resolution,
    /// the pool less the winning shares and held proceeds (anyone may call, and again after more
    /// holders redeemed, for rounding dust); after a void or expiry, its funding, once.
    /// @param marketId The market.
    /// @return amount Collateral sent to the creator.
    function withdrawLiquidity(uint256 marketId) external nonReentrant returns (uint256 amount) {
        Market storage m = _existing(marketId);
        uint256 pool = m.pool;
        if (m.resolved) {
            uint256 owed = _liability(m, marketId);
            if (pool <= owed) revert NothingToReclaim(marketId);
            amount = pool - owed;
        } else if (_refunding(m)) {
            amount = m.funding;
            if (amount == 0) revert NothingToReclaim(marketId);
            m.funding = 0;
        } else {
            revert NotSettled(marketId, m.deadline);
        }
        m.pool = uint64(pool - amount);
        address creator = m.creator;
        emit LiquidityWithdrawn(marketId, creator, amount);
        collateral.safeTransfer(creator, amount);
    }

    /// @notice Sends the creator the part of the evaluation escrow that came back unspent: all of
    /// it when the evaluation never started (and no longer can), else the share of every refunded
    /// or slashed slot once every slot of the job settled. Anyone may call, once.
    /// @param marketId The market.
    /// @return amount AIGENSYN sent to the creator.
    function reclaimEvaluationEscrow(uint256 marketId) external nonReentrant returns (uint256 amount) {
        Market storage m = _existing(marketId);
        Evaluation storage e = _evaluations[marketId];
        if (e.escrowReclaimed) revert EscrowAlreadyReclaimed(marketId);
        bytes32 jobId = e.jobId;
        if (jobId == bytes32(0)) {
            if (block.timestamp < e.deadline) revert EvaluationNotStarted(marketId, e.deadline);
            amount = e.payment;
        } else {
            Scan memory scan = _scanEvaluation(jobId);
            if (scan.pendingSlot != NONE) {
                revert EvaluationNotFinal(marketId, jobId, scan.pendingSlot, scan.pendingStatus);
            }
            amount = scan.returnedSlots * scan.paymentPerReplica;
        }
        e.escrowReclaimed = true;
        evaluationEscrow -= e.payment;
        address creator = m.creator;
        emit EscrowReclaimed(marketId, creator, amount);
        if (amount > 0) evaluationToken.safeTransfer(creator, amount);
    }

    /// @notice Sends the trading fees accrued in `marketIds` to the protocol fee router, which buys
    /// AIGENSYN back with them (`FeeRouter.buyback`); anyone may call.
    /// @param marketIds Markets whose fees to sweep.
    /// @return amount Collateral sent.
    function sweepFees(uint256[] calldata marketIds) external nonReentrant returns (uint256 amount) {
        for (uint256 i = 0; i < marketIds.length; ++i) {
            Market storage m = _markets[marketIds[i]];
            amount += m.fees;
            m.fees = 0;
        }
        if (amount == 0) revert NoFeesAccrued();
        address router = jobMarket.feeRouter();
        emit FeesSwept(router, amount);
        collateral.safeTransfer(router, amount);
    }

    /// @notice Sends the fee router the AIGENSYN Delphi holds beyond every unreclaimed evaluation
    /// escrow: slash compensation the job market paid Delphi as the jobs' submitter, which no
    /// single market can claim. Anyone may call.
    /// @return amount AIGENSYN sent.
    function sweepEvaluationSurplus() external nonReentrant returns (uint256 amount) {
        uint256 balance = evaluationToken.balanceOf(address(this));
        uint256 escrow = evaluationEscrow;
        if (balance <= escrow) revert NoSurplus();
        amount = balance - escrow;
        address router = jobMarket.feeRouter();
        emit SurplusSwept(router, amount);
        evaluationToken.safeTransfer(router, amount);
    }

    // ------------------------------------------------------------------ views

    /// @notice A market's stored state.
    /// @param marketId The market.
    /// @return The market.
    function getMarket(uint256 marketId) external view returns (Market memory) {
        return _existing(marketId);
    }

    /// @notice A market's evaluation: its terms, and its job once started.
    /// @param marketId The market.
    /// @return The evaluation.
    function getEvaluation(uint256 marketId) external view returns (Evaluation memory) {
        _existing(marketId);
        return _evaluations[marketId];
    }

    /// @notice One account's deposit and held proceeds in a market.
    /// @param marketId The market.
    /// @param account The account.
    /// @return The ledger.
    function ledgerOf(uint256 marketId, address account) external view returns (Ledger memory) {
        return _ledgers[marketId][account];
    }

    /// @notice Where a market is in its life.
    /// @param marketId The market.
    /// @return The phase.
    function phaseOf(uint256 marketId) external view returns (Phase) {
        Market storage m = _existing(marketId);
        if (m.resolved) return Phase.Resolved;
        if (m.voided) return Phase.Voided;
        if (block.timestamp >= m.deadline) return Phase.Expired;
        if (block.timestamp >= m.closeTime) return Phase.Closed;
        return Phase.Trading;
    }

    /// @notice Every outcome's price (WAD, summing to one up to rounding), shares outstanding and
    /// cached exponential.
    /// @param marketId The market.
    /// @return prices Price of each outcome, `e_i / S`, WAD.
    /// @return supplies Shares outstanding of each outcome.
    /// @return exps Each outcome's `e_i`, an upper bound of `exp(q_i / b)`, WAD.
    function pricesOf(uint256 marketId)
        external
        view
        returns (uint256[] memory prices, uint256[] memory supplies, uint256[] memory exps)
    {
        Market storage m = _existing(marketId);
        uint256 n = m.outcomeCount;
        uint256 sumExp = m.sumExp;
        prices = new uint256[](n);
        supplies = new uint256[](n);
        exps = new uint256[](n);
        for (uint256 i = 0; i < n; ++i) {
            Outcome storage o = _outcomes[_tokenId(marketId, i)];
            prices[i] = uint256(o.expWad) * Lmsr.WAD / sumExp;
            supplies[i] = o.supply;
            exps[i] = o.expWad;
        }
    }

    /// @notice What the market owes holders now: resolved, its winning shares and held proceeds;
    /// voided or expired, every deposit; while open, the most a resolution could demand,
    /// `max_i q_i` plus the held proceeds (a refund pays deposits the pool holds by construction).
    /// @param marketId The market.
    /// @return The liability, collateral units.
    function liabilityOf(uint256 marketId) external view returns (uint256) {
        return _liability(_existing(marketId), marketId);
    }

    /// @notice The ERC-6909 token id of an outcome's shares.
    /// @param marketId The market.
    /// @param outcome Outcome index.
    /// @return The token id, `marketId << 8 | outcome`.
    function tokenIdOf(uint256 marketId, uint256 outcome) external pure returns (uint256) {
        return _tokenId(marketId, outcome);
    }

    // ------------------------------------------------------------------ internals

    function _tokenId(uint256 marketId, uint256 outcome) private pure returns (uint256) {
        return marketId << 8 | outcome;
    }

    function _existing(uint256 marketId) private view returns (Market storage m) {
        m = _markets[marketId];
        if (m.b == 0) revert UnknownMarket(marketId);
    }

    /// @dev A closed market that is neither resolved, voided nor expired.
    function _unsettled(uint256 marketId) private view returns (Market storage m) {
        m = _existing(marketId);
        if (m.resolved) revert AlreadyResolved(marketId);
        if (m.voided) revert AlreadyVoided(marketId);
        if (block.timestamp < m.closeTime) revert MarketNotClosed(marketId, m.closeTime);
        if (block.timestamp >= m.deadline) revert MarketExpired(marketId, m.deadline);
    }

    function _requireResolved(Market storage m, uint256 marketId) private view {
        if (m.resolved) return;
        if (_refunding(m)) revert MarketRefunding(marketId);
        revert NotSettled(marketId, m.deadline);
    }

    /// @dev Whether the market named no winner and refunds deposits.
    function _refunding(Market storage m) private view returns (bool) {
        return m.voided || (!m.resolved && block.timestamp >= m.deadline);
    }

    /// @dev The market's evaluation job; reverts while it has not started.
    function _startedJob(uint256 marketId) private view returns (bytes32 jobId) {
        Evaluation storage e = _evaluations[marketId];
        jobId = e.jobId;
        if (jobId == bytes32(0)) revert EvaluationNotStarted(marketId, e.deadline);
    }

    /// @dev Checks a trade's inputs; returns the liquidity parameter and the outcome's token id.
    function _tradable(Market storage m, uint256 marketId, uint256 outcome, uint256 shares)
        private
        view
        returns (uint256 b, uint256 id)
    {
        b = m.b;
        uint256 closeTime = m.closeTime;
        if (b == 0) revert UnknownMarket(marketId);
        if (block.timestamp >= closeTime || m.resolved || m.voided) revert MarketClosed(marketId, closeTime);
        if (outcome >= m.outcomeCount) revert UnknownOutcome(marketId, outcome, m.outcomeCount);
        if (shares == 0) revert ZeroShares();
        id = _tokenId(marketId, outcome);
    }

    /// @dev The fee on `amount`, rounded up: against the trader.
    function _feeOf(uint256 amount) private pure returns (uint256) {
        return (amount * FEE_BPS + BPS - 1) / BPS;
    }

    /// @dev Checks the evaluation terms against the market's schedule; returns the job deadline.
    function _checkEvaluationTerms(EvaluationTerms calldata t, uint256 closeTime, uint256 resolutionDeadline)
        private
        view
        returns (uint40 evalDeadline)
    {
        if (t.replicas == 0 || t.replicas > MAX_EVAL_REPLICAS) revert InvalidEvalReplicas(t.replicas, MAX_EVAL_REPLICAS);
        if (t.payment == 0 || t.payment % t.replicas != 0) revert InvalidEvalPayment(t.payment, t.replicas);
        if (t.requiredStake == 0) revert ZeroEvalStake();
        uint256 minWindow = jobMarket.minChallengeWindow();
        if (minWindow < MIN_EVAL_CHALLENGE_WINDOW) minWindow = MIN_EVAL_CHALLENGE_WINDOW;
        uint256 maxWindow = jobMarket.MAX_CHALLENGE_WINDOW();
        if (t.challengeWindow < minWindow || t.challengeWindow > maxWindow) {
            revert InvalidEvalChallengeWindow(t.challengeWindow, minWindow, maxWindow);
        }
        if (t.timeout < MIN_EVAL_TIMEOUT) revert InvalidEvalTimeout(t.timeout, MIN_EVAL_TIMEOUT);
        uint256 deadline = closeTime + t.timeout;
        uint256 settledBy = deadline + t.challengeWindow + SETTLEMENT_MARGIN;
        if (settledBy > resolutionDeadline) revert InvalidEvaluationSchedule(settledBy, resolutionDeadline);
        evalDeadline = uint40(deadline); // < resolutionDeadline, a uint40
    }

    /// @dev Reads every slot of evaluation job `jobId`: the commitment of its first paid slot
    /// (zero when none was paid), the first paid slot that disagrees with it, the first unsettled
    /// slot, and how many slots were refunded or slashed (their escrow came back to Delphi).
    function _scanEvaluation(bytes32 jobId) private view returns (Scan memory scan) {
        JobMarket.Job memory job = jobMarket.getJob(jobId);
        scan.paymentPerReplica = job.paymentPerReplica;
        scan.conflictSlot = NONE;
        scan.pendingSlot = NONE;
        for (uint256 i = 0; i < job.replicas; ++i) {
            JobMarket.Slot memory s = jobMarket.getSlot(jobId, i);
            if (s.status == JobMarket.SlotStatus.Paid) {
                if (scan.agreed == bytes32(0)) {
                    scan.agreed = s.commitment;
                    scan.paidSlot = i;
                } else if (s.commitment != scan.agreed && scan.conflictSlot == NONE) {
                    scan.conflictSlot = i;
                }
            } else if (s.status == JobMarket.SlotStatus.Refunded || s.status == JobMarket.SlotStatus.Slashed) {
                ++scan.returnedSlots;
            } else if (scan.pendingSlot == NONE) {
                scan.pendingSlot = i;
                scan.pendingStatus = uint8(s.status);
            }
        }
    }

    /// @dev `_scanEvaluation`, reverting while a slot is unsettled unless paid slots disagree
    /// already (a later result cannot reconcile them).
    function _readEvaluation(uint256 marketId, bytes32 jobId) private view returns (Scan memory scan) {
        scan = _scanEvaluation(jobId);
        if (scan.pendingSlot != NONE && scan.conflictSlot == NONE) {
            revert EvaluationNotFinal(marketId, jobId, scan.pendingSlot, scan.pendingStatus);
        }
    }

    /// @dev Resolved: sum over winners of floor(q_i / k), plus held proceeds. Voided or expired:
    /// every deposit (the pool less the creator's funding). Open: max_i q_i plus held proceeds.
    /// Each holder's payout is floor(balance / k) and floor is superadditive, so the sum over
    /// holders never exceeds these.
    function _liability(Market storage m, uint256 marketId) private view returns (uint256 owed) {
        if (_refunding(m)) return m.pool - m.funding;
        uint256 n = m.outcomeCount;
        for (uint256 i = 0; i < n; ++i) {
            uint256 supply = _outcomes[_tokenId(marketId, i)].supply;
            if (m.resolved) {
                if (m.winners & (1 << i) != 0) owed += supply / m.winnerCount;
            } else if (supply > owed) {
                owed = supply;
            }
        }
        owed += m.heldProceeds;
    }
}
