// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {IParameterRegistry} from "interfaces/IParameterRegistry.sol";
import {IRWAVault} from "interfaces/IRWAVault.sol";
import {ISleeve} from "interfaces/ISleeve.sol";
import {VaultStorage} from "./VaultStorage.sol";

/// @title RebalanceModule
/// @notice The body of `RWAVault.rebalance`, run by the vault through DELEGATECALL so that the
///         vault stays under the 24 KiB code-size limit (the pattern of Aave's logic libraries).
/// @dev Runs only in the vault's context: it reads and writes the vault's ERC-7201 namespace
///      (`VaultStorage`), holds no state of its own and refuses direct calls. The vault checks the
///      caller's role and the reentrancy lock before delegating; everything else — every bound
///      of IRWAVault — is checked here. Errors and events are IRWAVault's, so they decode with
///      the vault's ABI.
contract RebalanceModule {
    using Math for uint256;
    using SafeERC20 for IERC20;

    uint256 internal constant BPS = 10_000;
    bytes32 internal constant IDLE_BUFFER_BPS = keccak256("vault.idleBufferBps");
    bytes32 internal constant MAX_TURNOVER_BPS = keccak256("vault.maxTurnoverBps");
    bytes32 internal constant REBALANCE_COOLDOWN = keccak256("vault.rebalanceCooldown");

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
    function rebalance(uint16[] calldata targetBps, bytes32 rationaleHash, string calldata rationaleURI)
        external
        returns (uint256 decisionId)
    {
        if (address(this) == _self) revert DelegateCallOnly();
        VaultStorage.Layout storage $ = VaultStorage.layout();
        VaultStorage.Flags memory f = $.flags;
        if (f.shutdown) revert IRWAVault.VaultIsShutdown();
        if (f.automationPaused) revert IRWAVault.AutomationIsPaused();
        uint256 n = $.sleeves.length;
        if (targetBps.length != n) revert IRWAVault.LengthMismatch(n, targetBps.length);
        if (f.lastRebalance != 0) {
            uint256 readyAt = f.lastRebalance + registry.get(REBALANCE_COOLDOWN);
            if (block.timestamp < readyAt) revert IRWAVault.RebalanceCooldown(readyAt);
        }

        IERC20 token = IERC20(IERC4626(address(this)).asset());
        (uint256[] memory held, uint256 navBefore) = _freshHoldings($, token);
        if (navBefore == 0) revert IRWAVault.EmptyVault();
        uint16[] memory oldBps = weights(held, navBefore);
        _checkBounds($, targetBps, oldBps);
        _move($, token, targetBps, held, navBefore);
        decisionId = _record($, token, oldBps, navBefore);
        $.flags.lastRebalance = uint64(block.timestamp);
        _emitRebalanced($, decisionId, rationaleHash, rationaleURI);
    }

    /// @notice Sleeve weights in bps of `total`, rounded down (idle takes the remainder).
    function weights(uint256[] memory held, uint256 total) public pure returns (uint16[] memory w) {
        w = new uint16[](held.length);
        if (total == 0) return w;
        for (uint256 i; i < held.length; ++i) {
            w[i] = uint16(held[i].mulDiv(BPS, total));
        }
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

    /// @dev Stores the decision: weights before and reached, NAVs, and each sleeve's return index.
    function _record(VaultStorage.Layout storage $, IERC20 token, uint16[] memory oldBps, uint256 navBefore)
        internal
        returns (uint256 decisionId)
    {
        uint256 n = oldBps.length;
        uint256[] memory held = new uint256[](n);
        uint256[] memory index = new uint256[](n);
        uint256 navAfter = token.balanceOf(address(this));
        for (uint256 i; i < n; ++i) {
            ISleeve sleeve = $.sleeves[i].sleeve;
            held[i] = sleeve.totalAssets();
            navAfter += held[i];
            index[i] = sleeve.returnIndex();
        }
        decisionId = $.decisions.length;
        IRWAVault.Decision storage d = $.decisions.push();
        (d.agent, d.timestamp, d.navBefore, d.navAfter) = (msg.sender, uint64(block.timestamp), navBefore, navAfter);
        (d.oldBps, d.newBps, d.startIndex) = (oldBps, weights(held, navAfter), index);
    }

    function _emitRebalanced(
        VaultStorage.Layout storage $,
        uint256 decisionId,
        bytes32 rationaleHash,
        string calldata rationaleURI
    ) internal {
        IRWAVault.Decision storage d = $.decisions[decisionId];
        emit IRWAVault.Rebalanced(
            decisionId, d.agent, d.oldBps, d.newBps, d.navBefore, d.navAfter, rationaleHash, rationaleURI
        );
    }
}
