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
/// Resolution comes from an evaluation job in the `JobMarket` whose id the contract derives from
/// the market (`evalJobIdOf`): a staked provider evaluates every candidate deterministically under
/// the pinned profile and commits `finalStateHash = keccak256(abi.encode(scores))`. Once every slot
/// of that job is settled (at least one paid, none pending or disputed) anyone calls `resolve` with
/// the scores; the contract checks them against the paid slots' commitments and picks the best
/// score per the metric direction. Tied best outcomes split the payout: each winning share redeems
/// `1 / k` of a collateral unit for `k` winners.
///
/// A market not resolved by its deadline expires: each share of outcome `i` redeems at the final
/// LMSR price `p_i = e_i / S`. Either way the creator withdraws what the pool holds beyond the
/// outstanding claims, so no collateral stays behind.
/// @dev Solvency: the pool always holds at least `b * ln(S)` >= `max_i q_i` (see `Lmsr`), which
/// covers any resolution, and also `sum_i q_i p_i` (the LMSR identity `C(q) = sum q_i p_i +
/// b H(p)`), which covers expiry.
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
    /// @notice Domain tag of evaluation job ids.
    bytes32 public constant EVAL_SPEC_TAG = keccak256("gensyn.delphi.evaluation.v1");

    uint256 private constant BPS = 10_000;

    /// @notice Which way the metric ranks candidates.
    enum Direction {
        HigherIsBetter,
        LowerIsBetter
    }

    /// @notice Where a market is in its life.
    enum Phase {
        Trading,
        Closed,
        Resolved,
        Expired
    }

    /// @notice A market, in four storage words; trades touch the first two only.
    /// @dev `winners` is a bit mask over outcomes, valid once `resolved`.
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
        // word 2
        address creator;
        uint96 minEvalStake;
        // word 3
        bytes32 evalJobId;
    }

    /// @notice One outcome: its shares outstanding and its cached `exp(q / b)` (WAD).
    struct Outcome {
        uint128 supply;
        uint128 expWad;
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
        uint96 minEvalStake;
    }

    /// @notice The collateral token (a 6-decimal stable token).
    IERC20 public immutable collateral;
    /// @notice The job market that runs and verifies evaluation jobs.
    JobMarket public immutable jobMarket;
    /// @notice Number of markets created; ids count from 1.
    uint256 public marketCount;

    mapping(uint256 => Market) private _markets;
    mapping(uint256 => Outcome) private _outcomes;

    /// @notice A market opened; `evalJobId` is the job whose verified result resolves it.
    event MarketCreated(
        uint256 indexed marketId,
        address indexed creator,
        bytes32 indexed evalJobId,
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
    /// @notice The market resolved from evaluation `evalJobId`: `winners` is a bit mask of the
    /// best-scoring outcomes.
    event Resolved(uint256 indexed marketId, bytes32 indexed evalJobId, int256[] scores, bytes32 traceRoot, uint256 winners);
    /// @notice `account` redeemed `shares` of `outcome` for `payout`.
    event Redeemed(uint256 indexed marketId, address indexed account, uint256 outcome, uint256 shares, uint256 payout);
    /// @notice The creator got back `amount`, what the pool held beyond outstanding claims.
    event LiquidityWithdrawn(uint256 indexed marketId, address indexed creator, uint256 amount);
    /// @notice `amount` of accrued trading fees went to `feeRouter`.
    event FeesSwept(address indexed feeRouter, uint256 amount);

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
    /// @notice Trading in the market closed at `closeTime` (or it resolved).
    error MarketClosed(uint256 marketId, uint256 closeTime);
    /// @notice The market has `count` outcomes; `outcome` is not one of them.
    error UnknownOutcome(uint256 marketId, uint256 outcome, uint256 count);
    /// @notice A trade of zero shares.
    error ZeroShares();
    /// @notice The trade's price `actual` is worse than the caller's limit `limit`.
    error PriceLimitExceeded(uint256 marketId, uint256 actual, uint256 limit);
    /// @notice `account` holds `held` shares of `outcome`, fewer than `needed`.
    error InsufficientShares(uint256 marketId, uint256 outcome, uint256 held, uint256 needed);
    /// @notice Trading closes at `closeTime`; the market cannot resolve before.
    error MarketNotClosed(uint256 marketId, uint256 closeTime);
    /// @notice The market resolved already.
    error AlreadyResolved(uint256 marketId);
    /// @notice The resolution deadline `deadline` passed: the market expired.
    error MarketExpired(uint256 marketId, uint256 deadline);
    /// @notice The market's evaluation job `jobId` has not been created.
    error EvaluationMissing(uint256 marketId, bytes32 jobId);
    /// @notice Slot `slot` of evaluation job `jobId` is not settled (status `status`), or no slot was paid.
    error EvaluationNotFinal(uint256 marketId, bytes32 jobId, uint256 slot, uint8 status);
    /// @notice The evaluation job requires `stake` from providers, below the market's `minStake`.
    error EvaluationStakeTooLow(uint256 marketId, uint256 stake, uint256 minStake);
    /// @notice The scores do not match what paid slot `slot` of evaluation job `jobId` committed.
    error ScoresMismatch(uint256 marketId, bytes32 jobId, uint256 slot);
    /// @notice `given` scores for a market of `count` outcomes.
    error WrongScoreCount(uint256 marketId, uint256 given, uint256 count);
    /// @notice The market is neither resolved nor expired (its deadline is `deadline`).
    error NotSettled(uint256 marketId, uint256 deadline);
    /// @notice `outcome` did not win the market.
    error NotWinningOutcome(uint256 marketId, uint256 outcome);
    /// @notice The caller holds no shares of `outcome`.
    error NothingToRedeem(uint256 marketId, uint256 outcome);
    /// @notice The pool holds nothing beyond outstanding claims.
    error NothingToReclaim(uint256 marketId);
    /// @notice No trading fees have accrued in the given markets.
    error NoFeesAccrued();

    /// @param collateralToken The collateral token (6-decimal stable).
    /// @param jobs The job market running evaluation jobs.
    constructor(IERC20 collateralToken, JobMarket jobs) {
        collateral = collateralToken;
        jobMarket = jobs;
    }

    // ------------------------------------------------------------------ create

    /// @notice Opens a market and takes `p.liquidity` collateral from the caller (needs an
    /// allowance). The liquidity parameter is the largest `b` with `b * ln(n) <= p.liquidity`,
    /// the creator's worst-case loss.
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
        marketId = ++marketCount;
        uint256 b = Lmsr.liquidityFor(p.liquidity, n);
        bytes32 evalJobId = keccak256(
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
            creator: msg.sender,
            minEvalStake: p.minEvalStake,
            evalJobId: evalJobId
        });
        for (uint256 i = 0; i < n; ++i) {
            _outcomes[_tokenId(marketId, i)] = Outcome({supply: 0, expWad: uint128(Lmsr.WAD)});
        }
        emit MarketCreated(
            marketId,
            msg.sender,
            evalJobId,
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
        collateral.safeTransferFrom(msg.sender, address(this), p.liquidity);
    }

    // ------------------------------------------------------------------ trade

    /// @notice Buys `shares` of `outcome` for at most `maxCost` collateral, fee included.
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
        m.pool = (m.pool + cost).toUint64();
        m.fees = (m.fees + fee).toUint64();
        o.supply = (o.supply + shares).toUint128();
        o.expWad = uint128(newExp); // <= MAX_EXP
        _mint(msg.sender, id, shares);
        emit Traded(marketId, msg.sender, outcome, true, shares, cost, fee, newExp);
        collateral.safeTransferFrom(msg.sender, address(this), total);
    }

    /// @notice Sells `shares` of `outcome` for at least `minPayout` collateral, fee deducted.
    /// @param marketId The market.
    /// @param outcome Outcome index.
    /// @param shares Shares to sell; the caller must hold them.
    /// @param minPayout Least collateral the caller accepts, after the fee (slippage limit).
    /// @return payout Collateral sent to the caller.
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
        // Cannot underflow: the pool holds at least b*ln(S) >= b*ln(S/S') >= proceeds (see Lmsr).
        m.pool = uint64(m.pool - proceeds);
        m.fees = (m.fees + fee).toUint64();
        unchecked {
            o.supply -= uint128(shares); // held <= supply
        }
        o.expWad = uint128(newExp);
        _burn(msg.sender, id, shares);
        emit Traded(marketId, msg.sender, outcome, false, shares, proceeds, fee, newExp);
        collateral.safeTransfer(msg.sender, payout);
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

    /// @notice What selling `shares` of `outcome` would pay now.
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

    // ------------------------------------------------------------------ resolve

    /// @notice Resolves the market from its verified evaluation job; anyone may call between the
    /// close time and the resolution deadline. Every slot of the job must be settled (paid,
    /// refunded or slashed), at least one paid, and each paid slot must have committed
    /// `(keccak256(abi.encode(scores)), traceRoot)`. The best score per the metric direction wins;
    /// tied best scores all win and split the payout.
    /// @param marketId The market.
    /// @param scores One score per outcome, as the evaluation committed them.
    /// @param traceRoot The evaluation trace root the job committed.
    function resolve(uint256 marketId, int256[] calldata scores, bytes32 traceRoot) external nonReentrant {
        Market storage m = _existing(marketId);
        if (m.resolved) revert AlreadyResolved(marketId);
        if (block.timestamp < m.closeTime) revert MarketNotClosed(marketId, m.closeTime);
        if (block.timestamp >= m.deadline) revert MarketExpired(marketId, m.deadline);
        uint256 n = m.outcomeCount;
        if (scores.length != n) revert WrongScoreCount(marketId, scores.length, n);
        bytes32 jobId = m.evalJobId;
        _checkEvaluation(marketId, jobId, m.minEvalStake, jobMarket.commitmentOf(keccak256(abi.encode(scores)), traceRoot));

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

    /// @notice Redeems the caller's whole balance of `outcome` once the market resolved (winning
    /// outcomes only: `1 / k` collateral unit per share for `k` winners, rounded down) or expired
    /// (every outcome at its final price `e_i / S`, rounded down).
    /// @param marketId The market.
    /// @param outcome Outcome index.
    /// @return payout Collateral sent to the caller.
    function redeem(uint256 marketId, uint256 outcome) external nonReentrant returns (uint256 payout) {
        Market storage m = _existing(marketId);
        if (outcome >= m.outcomeCount) revert UnknownOutcome(marketId, outcome, m.outcomeCount);
        uint256 id = _tokenId(marketId, outcome);
        uint256 shares = balanceOf(msg.sender, id);
        if (m.resolved) {
            if (m.winners & (1 << outcome) == 0) revert NotWinningOutcome(marketId, outcome);
            payout = shares / m.winnerCount;
        } else if (block.timestamp >= m.deadline) {
            payout = shares * _outcomes[id].expWad / m.sumExp;
        } else {
            revert NotSettled(marketId, m.deadline);
        }
        if (shares == 0) revert NothingToRedeem(marketId, outcome);
        // Cannot underflow: the pool covers every outstanding claim (see `withdrawLiquidity`).
        m.pool = uint64(m.pool - payout);
        unchecked {
            _outcomes[id].supply -= uint128(shares);
        }
        _burn(msg.sender, id, shares);
        emit Redeemed(marketId, msg.sender, outcome, shares, payout);
        collateral.safeTransfer(msg.sender, payout);
    }

    /// @notice Pays the creator what the pool holds beyond the outstanding claims of a resolved or
    /// expired market; anyone may call, and again after more holders redeemed (rounding dust).
    /// @param marketId The market.
    /// @return amount Collateral sent to the creator.
    function withdrawLiquidity(uint256 marketId) external nonReentrant returns (uint256 amount) {
        Market storage m = _existing(marketId);
        if (!m.resolved && block.timestamp < m.deadline) revert NotSettled(marketId, m.deadline);
        uint256 owed = _liability(m, marketId);
        uint256 pool = m.pool;
        if (pool <= owed) revert NothingToReclaim(marketId);
        amount = pool - owed;
        m.pool = uint64(owed);
        address creator = m.creator;
        emit LiquidityWithdrawn(marketId, creator, amount);
        collateral.safeTransfer(creator, amount);
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

    // ------------------------------------------------------------------ views

    /// @notice A market's stored state.
    /// @param marketId The market.
    /// @return The market.
    function getMarket(uint256 marketId) external view returns (Market memory) {
        return _existing(marketId);
    }

    /// @notice Where a market is in its life.
    /// @param marketId The market.
    /// @return The phase.
    function phaseOf(uint256 marketId) external view returns (Phase) {
        Market storage m = _existing(marketId);
        if (m.resolved) return Phase.Resolved;
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

    /// @notice What the market owes holders now: for a resolved or expired market its outstanding
    /// claims; while open, the most any resolution could demand, `max_i q_i`.
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

    /// @dev Checks a trade's inputs; returns the liquidity parameter and the outcome's token id.
    function _tradable(Market storage m, uint256 marketId, uint256 outcome, uint256 shares)
        private
        view
        returns (uint256 b, uint256 id)
    {
        b = m.b;
        uint256 closeTime = m.closeTime;
        if (b == 0) revert UnknownMarket(marketId);
        if (block.timestamp >= closeTime || m.resolved) revert MarketClosed(marketId, closeTime);
        if (outcome >= m.outcomeCount) revert UnknownOutcome(marketId, outcome, m.outcomeCount);
        if (shares == 0) revert ZeroShares();
        id = _tokenId(marketId, outcome);
    }

    /// @dev The fee on `amount`, rounded up: against the trader.
    function _feeOf(uint256 amount) private pure returns (uint256) {
        return (amount * FEE_BPS + BPS - 1) / BPS;
    }

    /// @dev Resolved: sum over winners of floor(q_i / k). Expired: sum of floor(q_i * e_i / S).
    /// Open: max_i q_i. Each holder's payout is floor(balance * rate) and floor is superadditive,
    /// so the sum over holders never exceeds these.
    function _liability(Market storage m, uint256 marketId) private view returns (uint256 owed) {
        uint256 n = m.outcomeCount;
        bool expired = !m.resolved && block.timestamp >= m.deadline;
        for (uint256 i = 0; i < n; ++i) {
            Outcome storage o = _outcomes[_tokenId(marketId, i)];
            uint256 supply = o.supply;
            if (m.resolved) {
                if (m.winners & (1 << i) != 0) owed += supply / m.winnerCount;
            } else if (expired) {
                owed += supply * o.expWad / m.sumExp;
            } else if (supply > owed) {
                owed = supply;
            }
        }
    }

    /// @dev Checks that evaluation job `jobId` is settled with at least one paid slot and that each
    /// paid slot committed `commitment`.
    function _checkEvaluation(uint256 marketId, bytes32 jobId, uint256 minStake, bytes32 commitment) private view {
        JobMarket.Job memory job;
        try jobMarket.getJob(jobId) returns (JobMarket.Job memory j) {
            job = j;
        } catch {
            revert EvaluationMissing(marketId, jobId);
        }
        if (job.requiredStake < minStake) revert EvaluationStakeTooLow(marketId, job.requiredStake, minStake);
        bool paid = false;
        for (uint256 i = 0; i < job.replicas; ++i) {
            JobMarket.Slot memory s = jobMarket.getSlot(jobId, i);
            if (s.status == JobMarket.SlotStatus.Paid) {
                if (s.commitment != commitment) revert ScoresMismatch(marketId, jobId, i);
                paid = true;
            } else if (s.status != JobMarket.SlotStatus.Refunded && s.status != JobMarket.SlotStatus.Slashed) {
                revert EvaluationNotFinal(marketId, jobId, i, uint8(s.status));
            }
        }
        if (!paid) revert EvaluationNotFinal(marketId, jobId, job.replicas, uint8(JobMarket.SlotStatus.Refunded));
    }
}
