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

interface IPartialFillFaucet {
    function faucet(address to, uint256 amount) external;
    function FAUCET_LIMIT() external view returns (uint256);
}

/// @title MockPartialFillIssuer
/// @notice Tests only: an issuer that fills part of what it is asked, as a real one may when its
///         subscription window or its instant-redemption reserve is short: `subscribe` takes
///         `subscribeFillBps` of the assets (and mints their tokens), `redeem` takes
///         `redeemFillBps` of the tokens (and pays their NAV less `redeemFeeBps`), neither
///         reverting for the rest. Prices at its NAV feed, as MockIssuer; no daily limit.
contract MockPartialFillIssuer is IRWAIssuer, Ownable {
    using SafeERC20 for IERC20;

    uint256 internal constant WAD = 1e18;
    uint256 internal constant BPS = 10_000;

    address public immutable override asset;
    address public immutable override rwaToken;
    AggregatorV3Interface public immutable navFeed;
    uint256 internal immutable _tokenUnit;
    uint256 internal immutable _assetUnit;
    uint256 internal immutable _feedScale;

    uint256 public subscribeFillBps = BPS;
    uint256 public redeemFillBps = BPS;
    uint256 public redeemFeeBps;

    error ZeroAmount();

    constructor(address asset_, AggregatorV3Interface navFeed_, uint8 tokenDecimals, address owner_)
        Ownable(owner_)
    {
        asset = asset_;
        navFeed = navFeed_;
        rwaToken = address(new MockRWAToken("Partial RWA", "pRWA", tokenDecimals, address(this)));
        _tokenUnit = 10 ** tokenDecimals;
        _assetUnit = 10 ** IERC20Metadata(asset_).decimals();
        _feedScale = 10 ** (18 - navFeed_.decimals());
    }

    /// @notice The share of each subscription and redemption filled, in bps. Owner only.
    function setFills(uint256 subscribeBps, uint256 redeemBps) external onlyOwner {
        (subscribeFillBps, redeemFillBps) = (subscribeBps, redeemBps);
    }

    /// @notice The fee kept on each redemption, in bps of its NAV. Owner only.
    function setRedeemFee(uint256 bps) external onlyOwner {
        redeemFeeBps = bps;
    }

    function nav() public view returns (uint256) {
        (, int256 answer,,,) = navFeed.latestRoundData();
        return uint256(answer) * _feedScale;
    }

    /// @inheritdoc IRWAIssuer
    function subscribe(uint256 assets) external override returns (uint256 tokens) {
        if (assets == 0) revert ZeroAmount();
        uint256 taken = assets * subscribeFillBps / BPS;
        tokens = Math.mulDiv(taken * _tokenUnit, WAD, nav() * _assetUnit);
        IERC20(asset).safeTransferFrom(msg.sender, address(this), taken);
        MockRWAToken(rwaToken).mint(msg.sender, tokens);
    }

    /// @inheritdoc IRWAIssuer
    function redeem(uint256 tokens) external override returns (uint256 assets) {
        if (tokens == 0) revert ZeroAmount();
        uint256 taken = tokens * redeemFillBps / BPS;
        assets = Math.mulDiv(taken, nav() * _assetUnit, WAD * _tokenUnit);
        assets -= assets * redeemFeeBps / BPS;
        MockRWAToken(rwaToken).burn(msg.sender, taken);
        uint256 held = IERC20(asset).balanceOf(address(this));
        if (held < assets) {
            uint256 chunk = IPartialFillFaucet(asset).FAUCET_LIMIT();
            for (uint256 short = assets - held; short > 0;) {
                uint256 amount = short < chunk ? short : chunk;
                IPartialFillFaucet(asset).faucet(address(this), amount);
                short -= amount;
            }
        }
        IERC20(asset).safeTransfer(msg.sender, assets);
    }

    /// @inheritdoc IRWAIssuer
    function maxRedeem() external pure override returns (uint256) {
        return type(uint256).max;
    }
}
