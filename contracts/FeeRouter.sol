// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ERC20Burnable} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Burnable.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {IUniswapV2Router02} from "@uniswap/v2-periphery/contracts/interfaces/IUniswapV2Router02.sol";
import {IUniswapV2Factory} from "@uniswap/v2-core/contracts/interfaces/IUniswapV2Factory.sol";
import {IUniswapV2Pair} from "@uniswap/v2-core/contracts/interfaces/IUniswapV2Pair.sol";

/// @title Protocol fee routing: buy back AIGENSYN against a TWAP, burn most of it, fund the treasury
/// @notice Fees arrive here. AIGENSYN fees are split by `distribute`: `burnBps` (70%) is burned
/// for real (total supply falls) and the rest goes to the treasury. Fees in a governed fee token
/// (the stable Delphi pays in) are swapped to AIGENSYN through its Uniswap V2 pair by `buyback`,
/// then split the same way. Anyone may trigger either; the buyback's caller earns a small reward.
///
/// A buyback is priced against the pair's time-weighted average price (TWAP), never its spot
/// reserves: one transaction can move the spot price at will (a sandwich), but it cannot move a
/// price averaged over `twapWindow` seconds of past blocks. The router keeps two observations of the
/// pair's cumulative price per fee token (Uniswap V2 whitepaper, section 2.2, "Price oracle"):
/// `observe` records one; a buyback measures the TWAP from the newest observation that is between
/// one and `TWAP_MAX_AGE_WINDOWS` windows old to now.
///
/// What a buyback guarantees: the AIGENSYN left for burn and treasury (bought less the caller's
/// reward) is worth at least `(1 - maxSlippageBps)` of what it sold at the TWAP, or it reverts.
/// What it limits: each buyback sells at most `maxSwapBps` of the pool's depth, one per token per
/// block, and `maxSwapBps` is capped at the pool's 0.3% fee, so a sandwich of a pool at its TWAP
/// pays more in pool fees than the buyback's price impact lets it earn back (see `maxBuybackIn`).
/// @dev Rounding: burn = floor(balance * burnBps / 10000); the treasury gets the remainder, so the
/// split is exact and the treasury is favoured by less than 1 wei.
contract FeeRouter is Ownable, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    uint256 private constant BPS = 10_000;
    /// @dev 2^112: Uniswap V2 prices are UQ112x112 fixed point.
    uint256 private constant Q112 = 2 ** 112;
    /// @notice The fee a Uniswap V2 pair takes on each swap: 0.3%.
    uint16 public constant POOL_FEE_BPS = 30;
    /// @notice Highest slippage bound governance may allow: 20%.
    uint16 public constant MAX_SLIPPAGE_BPS = 2_000;
    /// @notice Largest share of the pool's depth one buyback may sell: the pool fee (see `maxBuybackIn`).
    uint16 public constant MAX_SWAP_BPS = POOL_FEE_BPS;
    /// @notice Largest caller reward: 1% of the AIGENSYN bought.
    uint16 public constant MAX_CALLER_REWARD_BPS = 100;
    /// @notice Shortest TWAP window governance may set: 10 minutes.
    uint32 public constant MIN_TWAP_WINDOW = 10 minutes;
    /// @notice Longest TWAP window governance may set: 1 day.
    uint32 public constant MAX_TWAP_WINDOW = 1 days;
    /// @notice A TWAP older than this many windows is stale: it no longer says what the fees are
    /// worth now. Two, so that "observe, wait one window, buy back" always finds a fresh one.
    uint256 public constant TWAP_MAX_AGE_WINDOWS = 2;

    /// @notice Two observations of a pair's cumulative price, for one fee token, and its last buyback.
    /// @dev `pending` is promoted to `anchor` once it is a window old; until then a new observation
    /// is not recorded, so nobody can keep the pending one forever young by observing every block.
    struct Oracle {
        /// @dev Cumulative price (AIGENSYN per fee token, UQ112x112 seconds) at `anchorTime`.
        uint256 anchorCumulative;
        /// @dev Cumulative price at `pendingTime`.
        uint256 pendingCumulative;
        /// @dev Timestamp of the observation a buyback measures from; 0: none.
        uint64 anchorTime;
        /// @dev Timestamp of the newest observation, maturing into the anchor; 0: none.
        uint64 pendingTime;
        /// @dev Block of the last buyback of this token: one per block.
        uint64 lastBuybackBlock;
    }

    /// @notice The protocol token.
    ERC20Burnable public immutable token;
    /// @notice The Uniswap V2 router used for buybacks.
    IUniswapV2Router02 public immutable router;
    /// @notice The Uniswap V2 factory of `router`, where fee token pairs are looked up.
    IUniswapV2Factory public immutable factory;
    /// @notice Receiver of the non-burned share.
    address public treasury;
    /// @notice Share of each distribution that is burned, in basis points.
    uint16 public burnBps = 7_000;
    /// @notice Largest accepted shortfall of what a buyback leaves for burn and treasury against
    /// the TWAP value of what it sold, in basis points.
    uint16 public maxSlippageBps = 500;
    /// @notice Largest share of the pool's depth one buyback sells, in basis points.
    uint16 public maxSwapBps = MAX_SWAP_BPS;
    /// @notice Share of the AIGENSYN bought that the buyback's caller earns, in basis points.
    uint16 public callerRewardBps = 10;
    /// @notice Least age of the observation a buyback's TWAP is measured from, seconds.
    uint32 public twapWindow = 30 minutes;
    /// @notice Fee tokens governance accepts for buybacks; they are never rescued while accepted.
    mapping(address tokenIn => bool) public isFeeToken;
    /// @notice The price observations and last buyback block of each fee token.
    mapping(address tokenIn => Oracle) public oracles;

    /// @notice `amount` AIGENSYN was split: `burned` burned, `toTreasury` to the treasury.
    event FeesDistributed(uint256 burned, uint256 toTreasury);
    /// @notice `amountIn` of `tokenIn` bought `amountOut` AIGENSYN, worth `twapAmountOut` at the TWAP;
    /// `callerReward` of it went to `caller`.
    event BoughtBack(
        address indexed tokenIn,
        uint256 amountIn,
        uint256 amountOut,
        uint256 twapAmountOut,
        uint256 callerReward,
        address indexed caller
    );
    /// @notice The cumulative price of `tokenIn`'s pair was recorded at `timestamp`.
    event Observed(address indexed tokenIn, uint256 priceCumulative, uint256 timestamp);
    /// @notice Governance moved `amount` of a stray `token` to `to`.
    event Rescued(address indexed token, address indexed to, uint256 amount);
    /// @notice `tokenIn` is (or is no longer) accepted as a fee token.
    event FeeTokenSet(address indexed tokenIn, bool accepted);
    /// @notice A governed value changed.
    event ParameterSet(bytes32 indexed name, uint256 value);
    /// @notice The treasury changed.
    event TreasurySet(address treasury);

    /// @notice There is nothing to distribute or buy back.
    error NothingToRoute(address token);
    /// @notice A buyback would return `amountOut`, below the bound `minAmountOut`.
    error SlippageExceeded(uint256 minAmountOut, uint256 amountOut);
    /// @notice `tokenIn` has no funded Uniswap V2 pair with AIGENSYN.
    error NoPool(address tokenIn);
    /// @notice AIGENSYN is distributed directly, not bought back.
    error CannotBuyBackProtocolToken();
    /// @notice `tokenIn` is not a fee token governance accepts.
    error NotFeeToken(address tokenIn);
    /// @notice No observation of `tokenIn` is between one and `TWAP_MAX_AGE_WINDOWS` windows old;
    /// observing now (a no-op while one is maturing) makes a buyback possible from `readyAt`.
    error TwapUnavailable(address tokenIn, uint256 readyAt);
    /// @notice A buyback of `amountIn` exceeds the most one buyback may sell now, `maxAmountIn`.
    error BuybackTooLarge(address tokenIn, uint256 amountIn, uint256 maxAmountIn);
    /// @notice A buyback of `amountIn` exceeds the router's `balance` of `tokenIn`.
    error AmountExceedsBalance(address tokenIn, uint256 amountIn, uint256 balance);
    /// @notice `tokenIn` was bought back in this block already.
    error BuybackThisBlock(address tokenIn);
    /// @notice `token` is AIGENSYN or an accepted fee token: it leaves only through the fee split.
    error NotRescuable(address token);
    /// @notice The slippage bound `maxSlippageBps` does not cover what a buyback at the TWAP price
    /// costs itself, `costBps` (pool fee + largest price impact + caller reward).
    error SlippageBelowCosts(uint256 maxSlippageBps, uint256 costBps);
    /// @notice A TWAP window outside [`MIN_TWAP_WINDOW`, `MAX_TWAP_WINDOW`].
    error TwapWindowOutOfRange(uint256 value, uint256 min, uint256 max);
    /// @notice A basis-point value exceeds its bound.
    error BpsTooHigh(uint256 value, uint256 max);
    /// @notice A zero amount was given.
    error ZeroAmount();
    /// @notice A zero address was given.
    error ZeroAddress();

    /// @param protocolToken The AIGENSYN token.
    /// @param swapRouter The Uniswap V2 router.
    /// @param treasury_ Treasury receiving the non-burned share.
    /// @param owner_ Initial owner; the deployer accepts fee tokens, then hands ownership to the timelock.
    constructor(ERC20Burnable protocolToken, IUniswapV2Router02 swapRouter, address treasury_, address owner_)
        Ownable(owner_)
    {
        if (treasury_ == address(0)) revert ZeroAddress();
        token = protocolToken;
        router = swapRouter;
        factory = IUniswapV2Factory(swapRouter.factory());
        treasury = treasury_;
    }

    /// @notice Splits the whole AIGENSYN balance: burns `burnBps`, sends the rest to the treasury.
    /// @return burned Tokens burned.
    /// @return toTreasury Tokens sent to the treasury.
    function distribute() external nonReentrant returns (uint256 burned, uint256 toTreasury) {
        return _distribute();
    }

    /// @notice Records the cumulative price of `tokenIn`'s pair, unless an observation is still
    /// maturing (younger than `twapWindow`); then a pending one that is a window old becomes the
    /// one buybacks measure from. Anyone may call; keepers call it so a buyback finds a TWAP.
    /// @param tokenIn An accepted fee token.
    /// @return recorded Whether a new observation was recorded.
    function observe(address tokenIn) external nonReentrant returns (bool recorded) {
        if (!isFeeToken[tokenIn]) revert NotFeeToken(tokenIn);
        (IUniswapV2Pair pair, bool inIsToken0) = _pairOf(tokenIn);
        return _observe(tokenIn, pair, inIsToken0);
    }

    /// @notice Swaps `amountIn` of `tokenIn` for AIGENSYN through the Uniswap V2 pair, pays the
    /// caller `callerRewardBps` of it, then distributes. Also records an observation.
    /// @dev Reverts unless the AIGENSYN left after the reward is worth at least
    /// `(1 - maxSlippageBps)` of `amountIn` at the TWAP (and the caller's `minAmountOut` is met),
    /// and unless `amountIn` is within `maxBuybackIn`. Use `quote` for both arguments.
    /// @param tokenIn The fee token to sell.
    /// @param amountIn How much to sell: at most the balance and `maxBuybackIn`.
    /// @param minAmountOut The caller's own floor on the AIGENSYN bought (before the reward).
    /// @return amountOut AIGENSYN bought, the caller's reward included.
    function buyback(address tokenIn, uint256 amountIn, uint256 minAmountOut)
        external
        nonReentrant
        returns (uint256 amountOut)
    {
        if (tokenIn == address(token)) revert CannotBuyBackProtocolToken();
        if (!isFeeToken[tokenIn]) revert NotFeeToken(tokenIn);
        if (amountIn == 0) revert ZeroAmount();
        uint256 balance = IERC20(tokenIn).balanceOf(address(this));
        if (balance == 0) revert NothingToRoute(tokenIn);
        if (amountIn > balance) revert AmountExceedsBalance(tokenIn, amountIn, balance);
        Oracle storage oracle = oracles[tokenIn];
        if (oracle.lastBuybackBlock == block.number) revert BuybackThisBlock(tokenIn);
        (IUniswapV2Pair pair, bool inIsToken0) = _pairOf(tokenIn);
        (uint256 maxIn, uint256 twapOut, uint256 minOut) = _bounds(tokenIn, pair, inIsToken0, amountIn);
        if (amountIn > maxIn) revert BuybackTooLarge(tokenIn, amountIn, maxIn);
        if (minAmountOut > minOut) minOut = minAmountOut;

        // Effects before the swap: the observation (from this block's pre-trade cumulative, which
        // no trade in this block can have moved) and the one-buyback-per-block mark.
        _observe(tokenIn, pair, inIsToken0);
        oracle.lastBuybackBlock = uint64(block.number);

        address[] memory path = new address[](2);
        path[0] = tokenIn;
        path[1] = address(token);
        uint256 quoted = router.getAmountsOut(amountIn, path)[1];
        if (quoted < minOut) revert SlippageExceeded(minOut, quoted);
        IERC20(tokenIn).forceApprove(address(router), amountIn);
        uint256 before = IERC20(address(token)).balanceOf(address(this));
        router.swapExactTokensForTokens(amountIn, minOut, path, address(this), block.timestamp);
        amountOut = IERC20(address(token)).balanceOf(address(this)) - before;
        if (amountOut < minOut) revert SlippageExceeded(minOut, amountOut);
        uint256 reward = amountOut * callerRewardBps / BPS;
        emit BoughtBack(tokenIn, amountIn, amountOut, twapOut, reward, msg.sender);
        if (reward > 0) IERC20(address(token)).safeTransfer(msg.sender, reward);
        _distribute();
    }

    /// @notice What a buyback of `tokenIn` would do now: how much it may sell, what that is worth
    /// at the TWAP, and the least AIGENSYN it must buy. Reverts as `buyback` would (no fee token,
    /// nothing to sell, no pool, no TWAP).
    /// @param tokenIn An accepted fee token.
    /// @return amountIn The router's balance, capped by `maxBuybackIn`.
    /// @return twapAmountOut AIGENSYN `amountIn` is worth at the TWAP.
    /// @return minAmountOut The least AIGENSYN the buyback must buy (before the caller's reward).
    function quote(address tokenIn)
        external
        view
        returns (uint256 amountIn, uint256 twapAmountOut, uint256 minAmountOut)
    {
        if (!isFeeToken[tokenIn]) revert NotFeeToken(tokenIn);
        uint256 balance = IERC20(tokenIn).balanceOf(address(this));
        if (balance == 0) revert NothingToRoute(tokenIn);
        (IUniswapV2Pair pair, bool inIsToken0) = _pairOf(tokenIn);
        (uint256 maxIn,,) = _bounds(tokenIn, pair, inIsToken0, 0);
        amountIn = Math.min(balance, maxIn);
        (, twapAmountOut, minAmountOut) = _bounds(tokenIn, pair, inIsToken0, amountIn);
    }

    /// @notice The most one buyback of `tokenIn` may sell now: `maxSwapBps` of the pool's depth,
    /// measured as the smaller of the input reserve and the output reserve valued at the TWAP.
    /// @dev Why this bound. A sandwich buys before the buyback and sells after; its two legs pay
    /// the pool fee (0.3% each) on its size, and what it earns is its size times the price move the
    /// buyback causes, about 2 * amountIn / reserve. With amountIn at most 0.3% of the reserve the
    /// fees always exceed the gain (to first order; the exact V2 formula agrees for any front-run
    /// size when spot equals the TWAP). A front-run cannot raise the bound: a swap grows one reserve
    /// only by shrinking the other (valued at a TWAP it cannot move), and the bound takes the
    /// smaller; added liquidity deepens the pool for the buyback as much as it raises the bound.
    /// @param tokenIn An accepted fee token.
    /// @return maxAmountIn Most `tokenIn` one buyback may sell.
    function maxBuybackIn(address tokenIn) external view returns (uint256 maxAmountIn) {
        if (!isFeeToken[tokenIn]) revert NotFeeToken(tokenIn);
        (IUniswapV2Pair pair, bool inIsToken0) = _pairOf(tokenIn);
        (maxAmountIn,,) = _bounds(tokenIn, pair, inIsToken0, 0);
    }

    /// @notice The TWAP of `tokenIn` a buyback would use now, and the window it spans.
    /// @param tokenIn An accepted fee token.
    /// @return priceX112 AIGENSYN per unit of `tokenIn` (smallest units), UQ112x112.
    /// @return windowSec Seconds the average spans, between `twapWindow` and `TWAP_MAX_AGE_WINDOWS` of it.
    function twap(address tokenIn) external view returns (uint256 priceX112, uint256 windowSec) {
        if (!isFeeToken[tokenIn]) revert NotFeeToken(tokenIn);
        (IUniswapV2Pair pair, bool inIsToken0) = _pairOf(tokenIn);
        return _twap(tokenIn, pair, inIsToken0);
    }

    /// @notice Moves `amount` of a stray `token_` (sent here by mistake) to `to`; governance only.
    /// @dev Never AIGENSYN (all of it is owed to the burn/treasury split and leaves through
    /// `distribute`) and never an accepted fee token (it leaves through `buyback`). To return a fee
    /// token, governance first stops accepting it (`setFeeToken`), a separate, visible act.
    /// @param token_ The token to move.
    /// @param to Receiver.
    /// @param amount Amount to move.
    function rescue(address token_, address to, uint256 amount) external onlyOwner nonReentrant {
        if (to == address(0)) revert ZeroAddress();
        if (amount == 0) revert ZeroAmount();
        if (token_ == address(token) || isFeeToken[token_]) revert NotRescuable(token_);
        emit Rescued(token_, to, amount);
        IERC20(token_).safeTransfer(to, amount);
    }

    /// @notice Accepts (or stops accepting) `tokenIn` as a fee token to buy back; governance only.
    /// @param tokenIn The token; not AIGENSYN.
    /// @param accepted Whether buybacks may sell it.
    function setFeeToken(address tokenIn, bool accepted) external onlyOwner {
        if (tokenIn == address(0)) revert ZeroAddress();
        if (tokenIn == address(token)) revert CannotBuyBackProtocolToken();
        isFeeToken[tokenIn] = accepted;
        emit FeeTokenSet(tokenIn, accepted);
    }

    /// @notice Sets the burned share; governance only.
    /// @param value Basis points, at most 10000.
    function setBurnBps(uint16 value) external onlyOwner {
        if (value > BPS) revert BpsTooHigh(value, BPS);
        burnBps = value;
        emit ParameterSet("burnBps", value);
    }

    /// @notice Sets the buyback slippage bound; governance only.
    /// @param value Basis points, at most `MAX_SLIPPAGE_BPS` and at least the pool fee plus
    /// `maxSwapBps` plus `callerRewardBps`.
    function setMaxSlippageBps(uint16 value) external onlyOwner {
        if (value > MAX_SLIPPAGE_BPS) revert BpsTooHigh(value, MAX_SLIPPAGE_BPS);
        _checkCosts(value, maxSwapBps, callerRewardBps);
        maxSlippageBps = value;
        emit ParameterSet("maxSlippageBps", value);
    }

    /// @notice Sets the share of the pool's depth one buyback may sell; governance only.
    /// @param value Basis points, 1 to `MAX_SWAP_BPS`, within the slippage bound's costs.
    function setMaxSwapBps(uint16 value) external onlyOwner {
        if (value == 0) revert ZeroAmount();
        if (value > MAX_SWAP_BPS) revert BpsTooHigh(value, MAX_SWAP_BPS);
        _checkCosts(maxSlippageBps, value, callerRewardBps);
        maxSwapBps = value;
        emit ParameterSet("maxSwapBps", value);
    }

    /// @notice Sets the buyback caller's reward; governance only.
    /// @param value Basis points of the AIGENSYN bought, at most `MAX_CALLER_REWARD_BPS`.
    function setCallerRewardBps(uint16 value) external onlyOwner {
        if (value > MAX_CALLER_REWARD_BPS) revert BpsTooHigh(value, MAX_CALLER_REWARD_BPS);
        _checkCosts(maxSlippageBps, maxSwapBps, value);
        callerRewardBps = value;
        emit ParameterSet("callerRewardBps", value);
    }

    /// @notice Sets the least TWAP window; governance only. Observations recorded under a shorter
    /// window mature later under a longer one, so buybacks may wait a window after a raise.
    /// @param value Seconds, between `MIN_TWAP_WINDOW` and `MAX_TWAP_WINDOW`.
    function setTwapWindow(uint32 value) external onlyOwner {
        if (value < MIN_TWAP_WINDOW || value > MAX_TWAP_WINDOW) {
            revert TwapWindowOutOfRange(value, MIN_TWAP_WINDOW, MAX_TWAP_WINDOW);
        }
        twapWindow = value;
        emit ParameterSet("twapWindow", value);
    }

    /// @notice Sets the treasury; governance only.
    /// @param treasury_ The new treasury.
    function setTreasury(address treasury_) external onlyOwner {
        if (treasury_ == address(0)) revert ZeroAddress();
        treasury = treasury_;
        emit TreasurySet(treasury_);
    }

    /// @dev A buyback at the TWAP price, in an undisturbed pool, loses at most the pool fee, its
    /// price impact (below `swapBps`: out/mid = 997 / (1000 + 997 * swapBps / BPS)) and the caller's
    /// reward. The slippage bound must cover that, or every buyback would revert.
    function _checkCosts(uint256 slippageBps, uint256 swapBps, uint256 rewardBps) private pure {
        uint256 cost = POOL_FEE_BPS + swapBps + rewardBps;
        if (slippageBps < cost) revert SlippageBelowCosts(slippageBps, cost);
    }

    /// @dev The pair of `tokenIn` with AIGENSYN, and whether `tokenIn` is its token0.
    function _pairOf(address tokenIn) private view returns (IUniswapV2Pair pair, bool inIsToken0) {
        pair = IUniswapV2Pair(factory.getPair(tokenIn, address(token)));
        if (address(pair) == address(0)) revert NoPool(tokenIn);
        inIsToken0 = tokenIn < address(token);
    }

    /// @dev The pair's cumulative price of `tokenIn` in AIGENSYN as of this block's timestamp.
    /// The pair updates its accumulator only on its first trade (or sync) of a block, so for the
    /// seconds since, add the price its current reserves imply, which held throughout them. Like
    /// the pair, time is taken modulo 2^32 and the accumulator may wrap: differences of two
    /// readings are exact in unchecked arithmetic.
    function _cumulativeNow(address tokenIn, IUniswapV2Pair pair, bool inIsToken0)
        private
        view
        returns (uint256 cumulative)
    {
        (uint112 reserve0, uint112 reserve1, uint32 updatedAt) = pair.getReserves();
        if (reserve0 == 0 || reserve1 == 0) revert NoPool(tokenIn);
        cumulative = inIsToken0 ? pair.price0CumulativeLast() : pair.price1CumulativeLast();
        unchecked {
            uint32 elapsed = uint32(block.timestamp) - updatedAt;
            if (elapsed > 0) {
                // price0 = reserve1 / reserve0: token1 per token0, UQ112x112; price1 the inverse.
                uint256 priceX112 =
                    inIsToken0 ? (uint256(reserve1) * Q112) / reserve0 : (uint256(reserve0) * Q112) / reserve1;
                cumulative += priceX112 * elapsed;
            }
        }
    }

    /// @dev Records an observation unless the pending one is still maturing; a pending one a
    /// window old becomes the anchor first.
    function _observe(address tokenIn, IUniswapV2Pair pair, bool inIsToken0) private returns (bool) {
        Oracle storage oracle = oracles[tokenIn];
        uint64 pendingTime = oracle.pendingTime;
        if (pendingTime != 0 && block.timestamp - pendingTime < twapWindow) return false;
        uint256 cumulative = _cumulativeNow(tokenIn, pair, inIsToken0);
        if (pendingTime != 0) {
            oracle.anchorCumulative = oracle.pendingCumulative;
            oracle.anchorTime = pendingTime;
        }
        oracle.pendingCumulative = cumulative;
        oracle.pendingTime = uint64(block.timestamp);
        emit Observed(tokenIn, cumulative, block.timestamp);
        return true;
    }

    /// @dev The TWAP from the newest observation at least a window old (the pending one if it has
    /// matured: `_observe` would promote it) to now; reverts when that is missing or stale.
    function _twap(address tokenIn, IUniswapV2Pair pair, bool inIsToken0)
        private
        view
        returns (uint256 priceX112, uint256 windowSec)
    {
        Oracle storage oracle = oracles[tokenIn];
        uint256 window = twapWindow;
        uint256 pendingTime = oracle.pendingTime;
        bool pendingMature = pendingTime != 0 && block.timestamp - pendingTime >= window;
        uint256 fromTime = pendingMature ? pendingTime : oracle.anchorTime;
        uint256 fromCumulative = pendingMature ? oracle.pendingCumulative : oracle.anchorCumulative;
        windowSec = block.timestamp - fromTime;
        if (fromTime == 0 || windowSec < window || windowSec > TWAP_MAX_AGE_WINDOWS * window) {
            // Observing now leaves a maturing observation at `pendingTime`, or records one now.
            uint256 readyFrom = pendingTime != 0 && !pendingMature ? pendingTime : block.timestamp;
            revert TwapUnavailable(tokenIn, readyFrom + window);
        }
        unchecked {
            priceX112 = (_cumulativeNow(tokenIn, pair, inIsToken0) - fromCumulative) / windowSec;
        }
        if (priceX112 == 0) revert NoPool(tokenIn);
    }

    /// @dev The buyback bounds for `amountIn`: the most one buyback may sell (see `maxBuybackIn`),
    /// its TWAP value, and the least AIGENSYN to buy so that, less the caller's reward, it is worth
    /// `(1 - maxSlippageBps)` of the TWAP value.
    function _bounds(address tokenIn, IUniswapV2Pair pair, bool inIsToken0, uint256 amountIn)
        private
        view
        returns (uint256 maxIn, uint256 twapOut, uint256 minOut)
    {
        (uint256 priceX112,) = _twap(tokenIn, pair, inIsToken0);
        (uint112 reserve0, uint112 reserve1,) = pair.getReserves();
        (uint256 reserveIn, uint256 reserveOut) = inIsToken0 ? (reserve0, reserve1) : (reserve1, reserve0);
        uint256 depthIn = Math.min(reserveIn, Math.mulDiv(reserveOut, Q112, priceX112));
        maxIn = depthIn * maxSwapBps / BPS;
        twapOut = Math.mulDiv(amountIn, priceX112, Q112);
        uint256 floor = twapOut * (BPS - maxSlippageBps) / BPS;
        // Least gross `out` with out - floor(out * rewardBps / BPS) >= floor.
        minOut = Math.ceilDiv(floor * BPS, BPS - callerRewardBps);
    }

    function _distribute() private returns (uint256 burned, uint256 toTreasury) {
        uint256 balance = IERC20(address(token)).balanceOf(address(this));
        if (balance == 0) revert NothingToRoute(address(token));
        burned = balance * burnBps / BPS;
        toTreasury = balance - burned;
        emit FeesDistributed(burned, toTreasury);
        if (burned > 0) token.burn(burned);
        if (toTreasury > 0) IERC20(address(token)).safeTransfer(treasury, toTreasury);
    }
}
