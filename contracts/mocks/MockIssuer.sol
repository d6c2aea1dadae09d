// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {AggregatorV3Interface} from "interfaces/AggregatorV3Interface.sol";
import {IRWAIssuer} from "interfaces/IRWAIssuer.sol";
import {MockRWAToken} from "./MockRWAToken.sol";

interface IFaucet {
    function faucet(address to, uint256 amount) external;
    function FAUCET_LIMIT() external view returns (uint256);
}

/// @title MockIssuer
/// @notice Local-network stand-in for an RWA issuer: mints and redeems its own `MockRWAToken` at
///         the NAV of a price feed, with a per-day redemption limit and a freeze switch.
/// @dev Deployed only on local networks and in tests. Redemptions are paid from the
///      subscriptions it holds; when NAV growth makes those short, it tops up from the mock
///      stablecoin's faucet (the "T-bills maturing"). Redemption limit: at most
///      `dailyRedeemLimit` tokens per UTC day (0 = unlimited).
contract MockIssuer is IRWAIssuer, Ownable {
    using SafeERC20 for IERC20;

    uint256 internal constant WAD = 1e18;

    address public immutable override asset;
    address public immutable override rwaToken;
    AggregatorV3Interface public immutable navFeed;
    /// @dev (10 ** tokenDecimals * WAD) / 10 ** assetDecimals folded into one ratio:
    ///      tokens = assets * tokenUnit * 1e18 / (nav * assetUnit).
    uint256 internal immutable _tokenUnit;
    uint256 internal immutable _assetUnit;
    uint256 internal immutable _feedScale; // 10 ** (18 - feed decimals)

    bool public frozen;
    uint256 public dailyRedeemLimit;
    uint256 public redeemDay;
    uint256 public redeemedToday;

    event Subscribed(address indexed holder, uint256 assets, uint256 tokens);
    event Redeemed(address indexed holder, uint256 tokens, uint256 assets);
    event FrozenSet(bool frozen);
    event DailyRedeemLimitSet(uint256 tokens);

    error IssuerFrozen();
    error RedeemLimitExceeded(uint256 requested, uint256 available);
    error InvalidNav(int256 answer);
    error ZeroAmount();

    constructor(
        address asset_,
        AggregatorV3Interface navFeed_,
        string memory name_,
        string memory symbol_,
        uint8 tokenDecimals,
        uint256 dailyRedeemLimit_,
        address owner_
    ) Ownable(owner_) {
        asset = asset_;
        navFeed = navFeed_;
        rwaToken = address(new MockRWAToken(name_, symbol_, tokenDecimals, address(this)));
        _tokenUnit = 10 ** tokenDecimals;
        _assetUnit = 10 ** IERC20Metadata(asset_).decimals();
        _feedScale = 10 ** (18 - navFeed_.decimals());
        dailyRedeemLimit = dailyRedeemLimit_;
    }

    /// @notice Freezes or resumes subscriptions and redemptions. Owner only.
    function setFrozen(bool frozen_) external onlyOwner {
        frozen = frozen_;
        emit FrozenSet(frozen_);
    }

    /// @notice Sets the per-day redemption limit in tokens (0 = unlimited). Owner only.
    function setDailyRedeemLimit(uint256 tokens) external onlyOwner {
        dailyRedeemLimit = tokens;
        emit DailyRedeemLimitSet(tokens);
    }

    /// @notice The NAV in WAD per whole token.
    function nav() public view returns (uint256) {
        (, int256 answer,,,) = navFeed.latestRoundData();
        if (answer <= 0) revert InvalidNav(answer);
        return uint256(answer) * _feedScale;
    }

    /// @inheritdoc IRWAIssuer
    function subscribe(uint256 assets) external override returns (uint256 tokens) {
        if (frozen) revert IssuerFrozen();
        if (assets == 0) revert ZeroAmount();
        // Rounds down: the subscriber gets no more tokens than its assets buy.
        tokens = Math.mulDiv(assets * _tokenUnit, WAD, nav() * _assetUnit);
        IERC20(asset).safeTransferFrom(msg.sender, address(this), assets);
        MockRWAToken(rwaToken).mint(msg.sender, tokens);
        emit Subscribed(msg.sender, assets, tokens);
    }

    /// @inheritdoc IRWAIssuer
    function redeem(uint256 tokens) external override returns (uint256 assets) {
        if (tokens == 0) revert ZeroAmount();
        uint256 available = maxRedeem();
        if (tokens > available) {
            if (frozen) revert IssuerFrozen();
            revert RedeemLimitExceeded(tokens, available);
        }
        uint256 day = block.timestamp / 1 days;
        if (day != redeemDay) (redeemDay, redeemedToday) = (day, 0);
        redeemedToday += tokens;
        // Rounds down: the redeemer gets no more than the tokens are worth.
        assets = Math.mulDiv(tokens, nav() * _assetUnit, WAD * _tokenUnit);
        MockRWAToken(rwaToken).burn(msg.sender, tokens);
        _ensureReserve(assets);
        IERC20(asset).safeTransfer(msg.sender, assets);
        emit Redeemed(msg.sender, tokens, assets);
    }

    /// @inheritdoc IRWAIssuer
    function maxRedeem() public view override returns (uint256) {
        if (frozen) return 0;
        uint256 limit = dailyRedeemLimit;
        if (limit == 0) return type(uint256).max;
        uint256 used = block.timestamp / 1 days == redeemDay ? redeemedToday : 0;
        return used >= limit ? 0 : limit - used;
    }

    /// @dev Mock only: mature "T-bills" into freshly minted stablecoin when reserves are short.
    function _ensureReserve(uint256 assets) internal {
        uint256 held = IERC20(asset).balanceOf(address(this));
        if (held >= assets) return;
        uint256 shortfall = assets - held;
        uint256 chunk = IFaucet(asset).FAUCET_LIMIT();
        while (shortfall > 0) {
            uint256 amount = shortfall < chunk ? shortfall : chunk;
            IFaucet(asset).faucet(address(this), amount);
            shortfall -= amount;
        }
    }
}
