// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ERC20Burnable} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Burnable.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IUniswapV2Router02} from "@uniswap/v2-periphery/contracts/interfaces/IUniswapV2Router02.sol";
import {IUniswapV2Factory} from "@uniswap/v2-core/contracts/interfaces/IUniswapV2Factory.sol";
import {IUniswapV2Pair} from "@uniswap/v2-core/contracts/interfaces/IUniswapV2Pair.sol";

/// @title Protocol fee routing: buy back AIGENSYN, burn most of it, fund the treasury
/// @notice Fees arrive here. AIGENSYN fees are split by `distribute`: `burnBps` (70%) is burned
/// for real (total supply falls) and the rest goes to the treasury. Fees in another token are first
/// swapped to AIGENSYN through its Uniswap V2 pair by `buyback`, with a slippage bound against the
/// pair's pre-trade mid price, then split the same way. Anyone may trigger either.
/// @dev Rounding: burn = floor(balance * burnBps / 10000); the treasury gets the remainder, so the
/// split is exact and the treasury is favoured by less than 1 wei.
contract FeeRouter is Ownable, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    uint256 private constant BPS = 10_000;
    /// @notice Highest slippage bound governance may allow: 20%.
    uint16 public constant MAX_SLIPPAGE_BPS = 2_000;

    /// @notice The protocol token.
    ERC20Burnable public immutable token;
    /// @notice The Uniswap V2 router used for buybacks.
    IUniswapV2Router02 public immutable router;
    /// @notice Receiver of the non-burned share.
    address public treasury;
    /// @notice Share of each distribution that is burned, in basis points.
    uint16 public burnBps = 7_000;
    /// @notice Largest accepted shortfall of a buyback against the pair's mid price, in basis points.
    uint16 public maxSlippageBps = 500;

    /// @notice `amount` AIGENSYN was split: `burned` burned, `toTreasury` to the treasury.
    event FeesDistributed(uint256 burned, uint256 toTreasury);
    /// @notice `amountIn` of `tokenIn` bought `amountOut` AIGENSYN.
    event BoughtBack(address indexed tokenIn, uint256 amountIn, uint256 amountOut, address indexed caller);
    /// @notice A governed value changed.
    event ParameterSet(bytes32 indexed name, uint256 value);
    /// @notice The treasury changed.
    event TreasurySet(address treasury);

    /// @notice There is nothing to distribute or buy back.
    error NothingToRoute(address token);
    /// @notice A buyback would return `amountOut`, below the bound `minAmountOut`.
    error SlippageExceeded(uint256 minAmountOut, uint256 amountOut);
    /// @notice `tokenIn` has no Uniswap V2 pair with AIGENSYN.
    error NoPool(address tokenIn);
    /// @notice AIGENSYN is distributed directly, not bought back.
    error CannotBuyBackProtocolToken();
    /// @notice A basis-point value exceeds its bound.
    error BpsTooHigh(uint256 value, uint256 max);
    /// @notice A zero address was given.
    error ZeroAddress();

    /// @param protocolToken The AIGENSYN token.
    /// @param swapRouter The Uniswap V2 router.
    /// @param treasury_ Treasury receiving the non-burned share.
    /// @param owner_ Initial owner; the deployer hands ownership to the timelock.
    constructor(ERC20Burnable protocolToken, IUniswapV2Router02 swapRouter, address treasury_, address owner_)
        Ownable(owner_)
    {
        if (treasury_ == address(0)) revert ZeroAddress();
        token = protocolToken;
        router = swapRouter;
        treasury = treasury_;
    }

    /// @notice Splits the whole AIGENSYN balance: burns `burnBps`, sends the rest to the treasury.
    /// @return burned Tokens burned.
    /// @return toTreasury Tokens sent to the treasury.
    function distribute() external nonReentrant returns (uint256 burned, uint256 toTreasury) {
        return _distribute();
    }

    /// @notice Swaps the whole balance of `tokenIn` for AIGENSYN through the Uniswap V2 pair, then
    /// distributes. Reverts when the output falls below `minAmountOut` or more than `maxSlippageBps`
    /// below the pair's mid price.
    /// @param tokenIn The fee token to sell.
    /// @param minAmountOut The caller's own floor on the AIGENSYN bought.
    /// @return amountOut AIGENSYN bought.
    function buyback(address tokenIn, uint256 minAmountOut) external nonReentrant returns (uint256 amountOut) {
        if (tokenIn == address(token)) revert CannotBuyBackProtocolToken();
        uint256 amountIn = IERC20(tokenIn).balanceOf(address(this));
        if (amountIn == 0) revert NothingToRoute(tokenIn);
        uint256 floor = _slippageFloor(tokenIn, amountIn);
        if (minAmountOut > floor) floor = minAmountOut;
        address[] memory path = new address[](2);
        path[0] = tokenIn;
        path[1] = address(token);
        uint256 quoted = router.getAmountsOut(amountIn, path)[1];
        if (quoted < floor) revert SlippageExceeded(floor, quoted);
        IERC20(tokenIn).forceApprove(address(router), amountIn);
        uint256 before = IERC20(address(token)).balanceOf(address(this));
        router.swapExactTokensForTokens(amountIn, floor, path, address(this), block.timestamp);
        amountOut = IERC20(address(token)).balanceOf(address(this)) - before;
        emit BoughtBack(tokenIn, amountIn, amountOut, msg.sender);
        _distribute();
    }

    /// @notice Sets the burned share; governance only.
    /// @param value Basis points, at most 10000.
    function setBurnBps(uint16 value) external onlyOwner {
        if (value > BPS) revert BpsTooHigh(value, BPS);
        burnBps = value;
        emit ParameterSet("burnBps", value);
    }

    /// @notice Sets the buyback slippage bound; governance only.
    /// @param value Basis points, at most `MAX_SLIPPAGE_BPS`.
    function setMaxSlippageBps(uint16 value) external onlyOwner {
        if (value > MAX_SLIPPAGE_BPS) revert BpsTooHigh(value, MAX_SLIPPAGE_BPS);
        maxSlippageBps = value;
        emit ParameterSet("maxSlippageBps", value);
    }

    /// @notice Sets the treasury; governance only.
    /// @param treasury_ The new treasury.
    function setTreasury(address treasury_) external onlyOwner {
        if (treasury_ == address(0)) revert ZeroAddress();
        treasury = treasury_;
        emit TreasurySet(treasury_);
    }

    /// @dev Lowest acceptable output: the mid-price value of `amountIn` less `maxSlippageBps`.
    /// The mid price is the pair's pre-trade reserve ratio, so this bounds price impact plus the
    /// pool fee. It does not defend against a pool moved earlier in the same block; callers pass
    /// `minAmountOut` from an off-chain quote for that.
    function _slippageFloor(address tokenIn, uint256 amountIn) private view returns (uint256) {
        address pair = IUniswapV2Factory(router.factory()).getPair(tokenIn, address(token));
        if (pair == address(0)) revert NoPool(tokenIn);
        (uint112 r0, uint112 r1,) = IUniswapV2Pair(pair).getReserves();
        (uint256 reserveIn, uint256 reserveOut) = tokenIn < address(token) ? (r0, r1) : (r1, r0);
        if (reserveIn == 0 || reserveOut == 0) revert NoPool(tokenIn);
        uint256 mid = amountIn * reserveOut / reserveIn;
        return mid * (BPS - maxSlippageBps) / BPS;
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
