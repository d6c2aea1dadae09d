// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IAgentRegistry} from "interfaces/IAgentRegistry.sol";
import {IParameterRegistry} from "interfaces/IParameterRegistry.sol";
import {IRWAVault} from "interfaces/IRWAVault.sol";
import {ISleeve} from "interfaces/ISleeve.sol";
import {VaultStorage} from "./VaultStorage.sol";

/// @title RebalanceModule
/// @notice The body of `RWAVault.rebalance`, run by the vault through DELEGATECALL so that the
///         vault stays under the 24 KiB code-size limit (the pattern of Aave's logic libraries).
/// @dev Runs only in the vault's context: it reads and writes the vault's ERC-7201 namespace
///      (`VaultStorage`), holds no state of its own and refuses direct calls. The vault holds the
///      reentrancy lock and mints the performance fee this module computes; everything else —
///      the agent check, every bound of IRWAVault, the decision record — is done here. Errors
///      and events are IRWAVault's, so they decode with the vault's ABI.
contract RebalanceModule {
    using Math for uint256;
    using SafeERC20 for IERC20;

    uint256 internal constant BPS = 10_000;
    bytes32 internal constant IDLE_BUFFER_BPS = keccak256("vault.idleBufferBps");
    bytes32 internal constant MAX_TURNOVER_BPS = keccak256("vault.maxTurnoverBps");
    bytes32 internal constant REBALANCE_COOLDOWN = keccak256("vault.rebalanceCooldown");
    bytes32 internal constant PERFORMANCE_FEE_BPS = keccak256("vault.performanceFeeBps");
    /// @dev Share prices are assets per share scaled by 1e36 (see IRWAVault.setAgentRegistry).
    uint256 internal constant PRICE_SCALE = 1e36;

    /// @notice The registry the bounds are read from (the vault's, checked at vault construction).
    IParameterRegistry public immutable registry;
    address private immutable _self;

    /// @notice The module was called directly instead of through the vault.
    error DelegateCallOnly();

    constructor(IParameterRegistry registry_) {
        registry = registry_;
        _self = address(this);
    }

    /// @notice See `IRWAVault.rebalance`. Delegate-called by the vault only.
    /// @return decisionId The recorded decision.
    /// @return feeShares Performance-fee shares for the vault to mint to the AgentRegistry.
    function rebalance(uint16[] calldata targetBps, bytes32 rationaleHash, string calldata rationaleURI)
        external
        returns (uint256 decisionId, uint256 feeShares)
    {
        if (address(this) == _self) revert DelegateCallOnly();
        VaultStorage.Layout storage $ = VaultStorage.layout();
        _checkCaller($, targetBps.length);
        IERC20 token = IERC20(IERC4626(address(this)).asset());
        (uint256[] memory held, uint256 navBefore) = _freshHoldings($, token);
        if (navBefore == 0) revert IRWAVault.EmptyVault();
        uint16[] memory oldBps = weights(held, navBefore);
        _checkBounds($, targetBps, oldBps);
        feeShares = _performanceFee($, token, navBefore);
        _move($, token, targetBps, held, navBefore);
        decisionId = _recordAndEmit($, token, oldBps, navBefore, rationaleHash, rationaleURI);
        $.flags.lastRebalance = uint64(block.timestamp);
        IAgentRegistry($.agents).onDecision(msg.sender, decisionId);
    }

    /// @notice See `IRWAVault.removeSleeve`; the vault checks the governance role and
    ///         delegate-calls this (the vault's code-size budget). Later sleeves shift down one
    ///         index (rebalance targets follow the new order) and the withdraw queue resets to
    ///         index order. Decisions already taken keep their own sleeve set.
    function removeSleeve(ISleeve sleeve) external {
        if (address(this) == _self) revert DelegateCallOnly();
        VaultStorage.Layout storage $ = VaultStorage.layout();
        uint256 indexPlusOne = $.indexPlusOne[address(sleeve)];
        if (indexPlusOne == 0) revert IRWAVault.UnknownSleeve(address(sleeve));
        uint256 index = indexPlusOne - 1;
        uint256 assets = sleeve.totalAssets();
        if (assets != 0) revert IRWAVault.SleeveNotEmpty(address(sleeve), assets);
        uint256 n = $.sleeves.length;
        for (uint256 i = index; i + 1 < n; ++i) {
            $.sleeves[i] = $.sleeves[i + 1];
            $.indexPlusOne[address($.sleeves[i].sleeve)] = i + 1;
        }
        $.sleeves.pop();
        delete $.indexPlusOne[address(sleeve)];
        delete $.names[address(sleeve)];
        delete $.withdrawQueue;
        for (uint256 i; i + 1 < n; ++i) {
            $.withdrawQueue.push(uint8(i));
        }
        emit IRWAVault.SleeveRemoved(address(sleeve));
        emit IRWAVault.WithdrawQueueSet($.withdrawQueue);
    }

    /// @dev Only an agent the AgentRegistry reports active, with automation running, one target
    ///      per sleeve, after the cooldown.
    function _checkCaller(VaultStorage.Layout storage $, uint256 targets) internal view {
        address agents = $.agents;
        if (agents == address(0) || !IAgentRegistry(agents).isActive(msg.sender)) {
            revert IRWAVault.NotActiveAgent(msg.sender);
        }
        VaultStorage.Flags memory f = $.flags;
        if (f.shutdown) revert IRWAVault.VaultIsShutdown();
        if (f.automationPaused) revert IRWAVault.AutomationIsPaused();
        uint256 n = $.sleeves.length;
        if (targets != n) revert IRWAVault.LengthMismatch(n, targets);
        if (f.lastRebalance != 0) {
            uint256 readyAt = f.lastRebalance + registry.get(REBALANCE_COOLDOWN);
            if (block.timestamp < readyAt) revert IRWAVault.RebalanceCooldown(readyAt);
        }
    }

    /// @notice Sleeve weights in bps of `total`, rounded down (idle takes the remainder).
    function weights(uint256[] memory held, uint256 total) public pure returns (uint16[] memory w) {
        w = new uint16[](held.length);
        if (total == 0) return w;
        for (uint256 i; i < held.length; ++i) {
            w[i] = uint16(held[i].mulDiv(BPS, total));
        }
    }

    /// @dev The performance fee on the share price at `nav` (formulas: IRWAVault.setAgentRegistry).
    ///      Moves the high-water mark and clears the donations; returns the shares to mint.
    function _performanceFee(VaultStorage.Layout storage $, IERC20 token, uint256 nav)
        internal
        returns (uint256 feeShares)
    {
        uint256 offset = IERC20Metadata(address(this)).decimals() - IERC20Metadata(address(token)).decimals();
        uint256 supply = IERC20(address(this)).totalSupply() + 10 ** offset; // with OZ's virtual shares
        uint256 price = (nav + 1).mulDiv(PRICE_SCALE, supply); // down: never overstates the gain
        uint256 mark = $.highWaterMark;
        uint256 donated = $.donated;
        if (donated != 0) {
            // Donations lift the mark as much as the price (up: never counted as performance,
            // whether they add to a gain or fill a loss).
            mark += donated.mulDiv(PRICE_SCALE, supply, Math.Rounding.Ceil);
            $.donated = 0;
            $.highWaterMark = mark;
        }
        if (price <= mark) return 0;
        uint256 gain = (price - mark).mulDiv(supply, PRICE_SCALE); // down
        uint256 fee = gain.mulDiv(registry.get(PERFORMANCE_FEE_BPS), BPS); // down
        // Shares worth `fee` once minted (Morpho's formula), rounded down: never over-minted.
        if (fee != 0) feeShares = fee.mulDiv(supply, nav + 1 - fee);
        mark = Math.max(mark, (nav + 1).mulDiv(PRICE_SCALE, supply + feeShares));
        $.highWaterMark = mark;
        if (feeShares != 0) emit IRWAVault.PerformanceFeeTaken(gain, fee, feeShares, mark);
    }

    /// @dev Each sleeve's valuation and the NAV; reverts when any price behind them is stale.
    function _freshHoldings(VaultStorage.Layout storage $, IERC20 token)
        internal
        view
        returns (uint256[] memory held, uint256 nav)
    {
        uint256 n = $.sleeves.length;
        held = new uint256[](n);
        nav = token.balanceOf(address(this));
        for (uint256 i; i < n; ++i) {
            ISleeve sleeve = $.sleeves[i].sleeve;
            (uint256 a, bool fresh) = sleeve.valuation();
            if (!fresh) revert IRWAVault.StaleValuation(address(sleeve));
            held[i] = a;
            nav += a;
        }
    }

    /// @dev Every rebalance bound, on the targets: caps, idle buffer, turnover.
    function _checkBounds(VaultStorage.Layout storage $, uint16[] calldata targetBps, uint16[] memory oldBps)
        internal
        view
    {
        uint256 sumTarget;
        uint256 sumOld;
        uint256 moved;
        for (uint256 i; i < targetBps.length; ++i) {
            uint256 t = targetBps[i];
            uint256 cap = registry.get($.sleeves[i].capKey);
            if (t > cap) revert IRWAVault.SleeveCapExceeded(i, t, cap);
            sumTarget += t;
            sumOld += oldBps[i];
            moved += t > oldBps[i] ? t - oldBps[i] : oldBps[i] - t;
        }
        uint256 minIdle = registry.get(IDLE_BUFFER_BPS);
        uint256 idleTarget = sumTarget >= BPS ? 0 : BPS - sumTarget;
        if (sumTarget > BPS || idleTarget < minIdle) revert IRWAVault.IdleBufferBreached(idleTarget, minIdle);
        uint256 idleOld = BPS - sumOld;
        moved += idleTarget > idleOld ? idleTarget - idleOld : idleOld - idleTarget;
        // Turnover ½ Σ|Δw| over sleeves and idle, rounded up (never under-counted).
        uint256 turnover = (moved + 1) / 2;
        uint256 maxTurnover = registry.get(MAX_TURNOVER_BPS);
        if (turnover > maxTurnover) revert IRWAVault.TurnoverExceeded(turnover, maxTurnover);
    }

    /// @dev Pulls from over-weight sleeves first (up to their liquidity), then funds under-weight
    ///      ones from idle, never taking idle below its target.
    function _move(
        VaultStorage.Layout storage $,
        IERC20 token,
        uint16[] calldata targetBps,
        uint256[] memory held,
        uint256 nav
    ) internal {
        uint256 n = held.length;
        uint256[] memory want = new uint256[](n);
        uint256 idleTarget = nav;
        for (uint256 i; i < n; ++i) {
            want[i] = nav.mulDiv(targetBps[i], BPS);
            idleTarget -= want[i];
            if (held[i] > want[i]) $.sleeves[i].sleeve.withdraw(held[i] - want[i]);
        }
        uint256 idleNow = token.balanceOf(address(this));
        for (uint256 i; i < n && idleNow > idleTarget; ++i) {
            if (held[i] >= want[i]) continue;
            uint256 amount = Math.min(want[i] - held[i], idleNow - idleTarget);
            ISleeve sleeve = $.sleeves[i].sleeve;
            token.safeTransfer(address(sleeve), amount);
            sleeve.deposit(amount);
            idleNow -= amount;
        }
    }

    /// @dev Stores the decision (VaultStorage.DecisionSlot): weights before and reached, NAVs,
    ///      each sleeve's return index and the sleeve set; returns the weights reached and the NAV.
    function _record(VaultStorage.Layout storage $, IERC20 token, uint16[] memory oldBps, uint256 navBefore)
        internal
        returns (uint16[] memory newBps, uint256 navAfter)
    {
        uint256 n = oldBps.length;
        uint256[] memory held = new uint256[](n);
        VaultStorage.DecisionSlot storage d = $.decisions.push();
        navAfter = token.balanceOf(address(this));
        for (uint256 i; i < n; ++i) {
            ISleeve sleeve = $.sleeves[i].sleeve;
            held[i] = sleeve.totalAssets();
            navAfter += held[i];
            d.startIndex[i] = sleeve.returnIndex();
        }
        newBps = weights(held, navAfter);
        (d.agent, d.timestamp, d.sleeveSet) = (msg.sender, uint64(block.timestamp), _sleeveSet($, n));
        (d.navBefore, d.navAfter) = (SafeCast.toUint128(navBefore), SafeCast.toUint128(navAfter));
        (d.oldBps, d.newBps) = (_pack(oldBps), _pack(newBps));
    }

    function _recordAndEmit(
        VaultStorage.Layout storage $,
        IERC20 token,
        uint16[] memory oldBps,
        uint256 navBefore,
        bytes32 rationaleHash,
        string calldata rationaleURI
    ) internal returns (uint256 decisionId) {
        decisionId = $.decisions.length;
        (uint16[] memory newBps, uint256 navAfter) = _record($, token, oldBps, navBefore);
        emit IRWAVault.Rebalanced(
            decisionId, msg.sender, oldBps, newBps, navBefore, navAfter, rationaleHash, rationaleURI
        );
    }

    /// @dev The index of the stored sleeve set equal to the vault's `n` sleeves now: the last one
    ///      when the sleeves have not changed since (the steady state: n warm reads), else a new one.
    function _sleeveSet(VaultStorage.Layout storage $, uint256 n) internal returns (uint32) {
        uint256 sets = $.sleeveSets.length;
        if (sets != 0) {
            ISleeve[] storage last = $.sleeveSets[sets - 1];
            bool same = last.length == n;
            for (uint256 i; same && i < n; ++i) {
                same = last[i] == $.sleeves[i].sleeve;
            }
            if (same) return uint32(sets - 1);
        }
        ISleeve[] storage set = $.sleeveSets.push();
        for (uint256 i; i < n; ++i) {
            set.push($.sleeves[i].sleeve);
        }
        return SafeCast.toUint32(sets);
    }

    /// @dev 16 bits per weight, sleeve i in bits [16i, 16i + 16).
    function _pack(uint16[] memory bps) internal pure returns (uint256 packed) {
        for (uint256 i; i < bps.length; ++i) {
            packed |= uint256(bps[i]) << (16 * i);
        }
    }
}
