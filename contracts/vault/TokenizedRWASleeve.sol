// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {AggregatorV3Interface} from "interfaces/AggregatorV3Interface.sol";
import {IOracleRouter} from "interfaces/IOracleRouter.sol";
import {IRWAIssuer} from "interfaces/IRWAIssuer.sol";
import {IRWAVault} from "interfaces/IRWAVault.sol";
import {ISleeve} from "interfaces/ISleeve.sol";

/// @title TokenizedRWASleeve
/// @notice Holds one tokenized real-world asset for the vault: buys it from its issuer with the
///         vault's stablecoin, values it at the OracleRouter's price, redeems it back within the
///         issuer's limits.
/// @dev Accounting: the sleeve counts only the RWA units it bought (`units`), never its token
///      balance, so tokens sent to it (donations) change nothing. Valuation rounds down; a
///      withdrawal burns units rounded up, so the vault never receives less than it asked for
///      out of available liquidity (ISleeve's guarantee) and no rounding leaks value out of the
///      vault. `returnIndex()` is the NAV price: the return of one unit held since inception.
///      What the issuer mints and takes is measured on the token balance, never taken from its
///      return value, so an issuer filling part of a request leaves nothing uncounted.
contract TokenizedRWASleeve is ISleeve {
    using SafeERC20 for IERC20;
    using Math for uint256;

    uint256 internal constant WAD = 1e18;

    address public immutable override vault;
    address public immutable override asset;
    address public immutable rwaToken;
    IRWAIssuer public immutable issuer;
    IOracleRouter public immutable router;
    /// @dev value(units) = units * price * _assetUnit / (WAD * _tokenUnit).
    uint256 internal immutable _assetUnit;
    uint256 internal immutable _tokenUnit;

    /// @notice RWA token units held for the vault (bought through `deposit`, not yet redeemed).
    uint256 public units;

    event Invested(uint256 assets, uint256 units);
    event Divested(uint256 requested, uint256 units, uint256 assets);

    error OnlyVault(address caller);
    error IssuerMismatch(address issuerAsset, address vaultAsset);
    error MissingAssets(uint256 expected, uint256 held);
    /// @dev Same signature as IRWAVault.StaleValuation, so it decodes with the vault's ABI too.
    error StaleValuation(address sleeve);

    constructor(address vault_, IRWAIssuer issuer_, IOracleRouter router_) {
        address asset_ = IERC4626Asset(vault_).asset();
        if (issuer_.asset() != asset_) revert IssuerMismatch(issuer_.asset(), asset_);
        vault = vault_;
        asset = asset_;
        issuer = issuer_;
        router = router_;
        rwaToken = issuer_.rwaToken();
        _assetUnit = 10 ** IERC20Metadata(asset_).decimals();
        _tokenUnit = 10 ** IERC20Metadata(rwaToken).decimals();
        // The issuer is the sleeve's fixed counterparty: approve it once.
        IERC20(asset_).forceApprove(address(issuer_), type(uint256).max);
    }

    modifier onlyVault() {
        if (msg.sender != vault) revert OnlyVault(msg.sender);
        _;
    }

    /// @inheritdoc ISleeve
    function totalAssets() external view override returns (uint256 assets) {
        (assets,) = valuation();
    }

    /// @inheritdoc ISleeve
    function valuation() public view override returns (uint256, bool) {
        uint256 held = units;
        if (held == 0) return (0, true);
        (uint256 p, bool fresh) = router.tryPrice(rwaToken);
        return (_value(held, p), fresh);
    }

    /// @inheritdoc ISleeve
    /// @dev 0 while the price is stale: the issuer would redeem at a price nobody can verify,
    ///      and the vault must never promise what a withdrawal then fails to deliver. 0 too, after
    ///      a shutdown, at a fall the router has not confirmed (`_unconfirmedFall`).
    function availableLiquidity() external view override returns (uint256) {
        uint256 held = units;
        if (held == 0) return 0;
        uint256 redeemable = Math.min(held, issuer.maxRedeem());
        if (redeemable == 0) return 0;
        (uint256 p, bool fresh) = router.tryPrice(rwaToken);
        return fresh && !_unconfirmedFall(p) ? _value(redeemable, p) : 0;
    }

    /// @inheritdoc ISleeve
    /// @dev The band is the router's `priceBand`; the publication time is the feed's `updatedAt`.
    ///      `priceBand` quotes exactly when `tryPrice` would call the price fresh (a positive,
    ///      usable answer within `oracle.maxStaleness`) and reverts otherwise, so a fresh price
    ///      costs one router read; a price it refuses is read again by `tryPrice` (stale), and a
    ///      fresh price the band still refused makes the band revert as it always did. A caller
    ///      starving the band of gas gains nothing: the 1/64 left never pays for a second read.
    function strikeValuation() external view override returns (uint256, uint256, uint256, bool) {
        uint256 held = units;
        if (held == 0) return (0, 0, block.timestamp, true);
        uint256 publishedAt;
        bool usable = false; // a positive answer: a stale one is still the feed's newest information
        try AggregatorV3Interface(router.feedOf(rwaToken)).latestRoundData() returns (
            uint80, int256 answer, uint256, uint256 updatedAt, uint80
        ) {
            // A round stamped after the block is unusable, as the router reads it (its clock
            // would never run: exits must not wait on it).
            (publishedAt, usable) = (updatedAt, answer > 0 && updatedAt <= block.timestamp);
        } catch {}
        // An open band (a move beyond the deviation bound not yet confirmed) is not fresh. Its
        // stale clock runs from the poke that first recorded the move still pending
        // (`bandOpenSince`, anyone may poke; its newest round until one did): a move waiting for its
        // confirmation is waited for, but a trend that keeps the band open at every round does
        // not hold exits past `vault.strikeMaxWait` (they are paid the band's low less the stale
        // haircut); a pending record left from an earlier move is no clock.
        try router.priceBand(rwaToken) returns (uint256 lo, uint256 hi) {
            if (lo != hi) {
                try router.bandOpenSince(rwaToken) returns (uint256 since) {
                    if (since != 0 && since < publishedAt) publishedAt = since;
                } catch {}
            }
            return (_value(held, lo), _value(held, hi), publishedAt, lo == hi);
        } catch {}
        (uint256 p, bool fresh) = router.tryPrice(rwaToken);
        if (!fresh) {
            // Leavers take the lower of the last answer and the router's reference (an answer
            // nobody confirmed is no more than the reference); the stale clock runs from the
            // last round, and for an unusable answer or an unreadable feed from the last usable
            // price the router knows (`lastUsableAt`): one faulty round is waited for, never a
            // haircut at once on a window queued for liquidity; a feed dead for good still lets
            // exits leave `vault.strikeMaxWait` after it.
            (uint256 ref,) = router.lastPrice(rwaToken);
            uint256 low = ref != 0 && ref < p ? ref : p;
            if (!usable) publishedAt = router.lastUsableAt(rwaToken);
            return (_value(held, low), _value(held, p), publishedAt, false);
        }
        (uint256 low, uint256 high) = router.priceBand(rwaToken); // fresh, yet no band: its own revert
        return (_value(held, low), _value(held, high), publishedAt, low == high);
    }

    /// @inheritdoc ISleeve
    function returnIndex() external view override returns (uint256 index) {
        (index,) = router.tryPrice(rwaToken);
    }

    /// @inheritdoc ISleeve
    /// @dev Fresh only on a fresh price whose band is closed: a move beyond
    ///      `oracle.maxDeviationBps` not yet confirmed (or dropped) is no evidence to judge an
    ///      agent on, so its evaluation waits, as a strike does. `priceBand` quotes only a fresh
    ///      price (one router read when the band is closed); otherwise `tryPrice` gives the index
    ///      (the live price) and the flag stays false, so a caller starving the band of gas only
    ///      makes its own evaluation wait.
    function returnIndexStatus() external view override returns (uint256 index, bool fresh) {
        try router.priceBand(rwaToken) returns (uint256 low, uint256 high) {
            if (low == high) return (low, true);
        } catch {}
        (index,) = router.tryPrice(rwaToken);
    }

    /// @inheritdoc ISleeve
    /// @dev Assets the issuer does not take are sent back to the vault in the same call.
    function deposit(uint256 assets) external override onlyVault {
        uint256 held = IERC20(asset).balanceOf(address(this));
        if (held < assets) revert MissingAssets(assets, held);
        (, bool fresh) = router.tryPrice(rwaToken);
        if (!fresh) revert StaleValuation(address(this)); // never buy at an unverifiable price
        // Units are never held without a reference price: a feed set while stale has none until a
        // poke, and were it then to die, nothing would value the units (`tryPrice` reverts) and
        // every exit would wait on the feed. The fresh price becomes it (the router's first rule).
        (uint256 ref,) = router.lastPrice(rwaToken);
        if (ref == 0) router.poke(rwaToken);
        // Measured, not taken from the issuer's word: an issuer may fill part of a subscription
        // (a short window) without reverting. The tokens it minted are counted; the assets it
        // did not take go back to the vault's idle, never left here counted by nobody.
        uint256 tokens = IERC20(rwaToken).balanceOf(address(this));
        issuer.subscribe(assets);
        uint256 bought = IERC20(rwaToken).balanceOf(address(this)) - tokens;
        uint256 left = IERC20(asset).balanceOf(address(this));
        uint256 spent = held > left ? held - left : 0;
        if (spent < assets) IERC20(asset).safeTransfer(vault, assets - spent);
        units += bought;
        emit Invested(Math.min(spent, assets), bought);
    }

    /// @inheritdoc ISleeve
    function withdraw(uint256 assets) external override onlyVault returns (uint256 withdrawn) {
        uint256 held = units;
        if (assets == 0 || held == 0) return 0;
        uint256 redeemable = Math.min(held, issuer.maxRedeem());
        if (redeemable == 0) return 0;
        (uint256 p, bool fresh) = router.tryPrice(rwaToken);
        // As availableLiquidity: no redemption at an unverifiable price, nor at a fall not confirmed
        if (!fresh || _unconfirmedFall(p)) return 0;
        // Units to redeem for `assets`, rounded up so the issuer pays at least `assets`; all that
        // is redeemable when `assets` is worth more (also keeps the conversion from overflowing).
        uint256 redeem = redeemable;
        if (assets < _value(redeemable, p)) {
            redeem = assets.mulDiv(WAD * _tokenUnit, p * _assetUnit, Math.Rounding.Ceil);
        }
        if (redeem == 0) return 0;
        units = held - redeem;
        uint256 tokens = IERC20(rwaToken).balanceOf(address(this));
        uint256 before = IERC20(asset).balanceOf(address(this));
        issuer.redeem(redeem);
        withdrawn = IERC20(asset).balanceOf(address(this)) - before;
        // An issuer may fill part of a redemption (a short reserve) without reverting: the units
        // it did not take are still held and still counted, never written off for nothing. One
        // may take more than asked (whole lots), paying for them: all it took is written off,
        // never counted twice, as the cash paid and as units no longer held (a second read);
        // had some been donated tokens, the count is only lower than what is held, never above.
        uint256 taken = tokens - IERC20(rwaToken).balanceOf(address(this));
        if (taken != redeem) (units, redeem) = (held - Math.min(taken, held), taken);
        IERC20(asset).safeTransfer(vault, withdrawn);
        emit Divested(assets, redeem, withdrawn);
    }

    /// @dev After a shutdown anyone may `unwind` a sleeve, and nothing else guards the price it
    ///      sells at: a live price below the router's reference by more than
    ///      `oracle.maxDeviationBps`, not yet confirmed (`priceBand` open), may be one faulty round,
    ///      and selling at it would lose the difference for every holder. Those units wait for the
    ///      move to be confirmed (`oracle.confirmDelay`; strikes wait for it anyway) or dropped.
    ///      Before a shutdown the vault's own paths already wait for an open band (strikes) or
    ///      refuse to move its sleeve (rebalances, `StaleValuation`), so nothing changes there.
    function _unconfirmedFall(uint256 p) internal view returns (bool) {
        if (!IRWAVault(vault).isShutdown()) return false;
        try router.priceBand(rwaToken) returns (uint256 low, uint256 high) {
            return low == p && p < high; // the live price is the band's low end, the band open
        } catch {
            return false; // only for a price `tryPrice` already called unusable
        }
    }

    function _value(uint256 amount, uint256 p) internal view returns (uint256) {
        // Rounds down: the vault never counts value the units do not have.
        return amount.mulDiv(p * _assetUnit, WAD * _tokenUnit);
    }
}

interface IERC4626Asset {
    function asset() external view returns (address);
}
