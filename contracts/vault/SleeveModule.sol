// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";
import {IParameterRegistry} from "interfaces/IParameterRegistry.sol";
import {IRWAVault} from "interfaces/IRWAVault.sol";
import {ISleeve} from "interfaces/ISleeve.sol";
import {VaultMath} from "./VaultMath.sol";
import {VaultStorage} from "./VaultStorage.sol";

/// @title SleeveModule
/// @notice The vault's sleeve administration and its decision views, split from RebalanceModule
///         (EIP-170's 24 KiB limit): deployed by RebalanceModule's constructor and reached through
///         its fallback, so it runs by DELEGATECALL in the vault's ERC-7201 namespace
///         (`VaultStorage`). The vault checks the governance role before any of it; this module
///         holds no state of its own and refuses direct calls.
contract SleeveModule {
    /// @dev As RWAVault.MAX_SLEEVES (decisions pack 16-bit weights into 160 bits).
    uint256 internal constant MAX_SLEEVES = 10;

    /// @notice The registry the sleeve caps are read from (RebalanceModule's).
    IParameterRegistry public immutable registry;
    address private immutable _self;

    /// @notice The module was called directly instead of through the vault.
    error DelegateCallOnly();

    constructor(IParameterRegistry registry_) {
        registry = registry_;
        _self = address(this);
    }

    /// @dev Reverts unless run by the vault's DELEGATECALL (through RebalanceModule's fallback).
    function _delegated() internal view {
        if (address(this) == _self) revert DelegateCallOnly();
    }

    /// @notice See `IRWAVault.decision`; run by the vault's view through `moduleView`. Unpacks
    ///         VaultStorage.DecisionSlot.
    function decision(uint256 decisionId) external view returns (IRWAVault.Decision memory d) {
        VaultStorage.Layout storage $ = VaultStorage.layout();
        if (decisionId >= $.decisions.length) revert IRWAVault.UnknownDecision(decisionId);
        VaultStorage.DecisionSlot storage slot = $.decisions[decisionId];
        ISleeve[] storage set = $.sleeveSets[slot.sleeveSet];
        uint256 n = set.length;
        (d.agent, d.timestamp) = (slot.agent, slot.timestamp);
        (d.navBefore, d.navAfter) = (slot.navBefore, slot.navAfter);
        (d.oldBps, d.newBps) = (new uint16[](n), new uint16[](n));
        (d.startIndex, d.sleeves) = (new uint256[](n), new ISleeve[](n));
        for (uint256 i; i < n; ++i) {
            d.oldBps[i] = uint16(slot.oldBps >> (16 * i));
            d.newBps[i] = uint16(slot.newBps >> (16 * i));
            (d.startIndex[i], d.sleeves[i]) = (slot.startIndex[i], set[i]);
        }
    }

    /// @notice See `IRWAVault.currentBps`; run by the vault's view through `moduleView`.
    function currentBps() external view returns (uint16[] memory) {
        VaultStorage.Layout storage $ = VaultStorage.layout();
        uint256 n = $.sleeves.length;
        uint256[] memory held = new uint256[](n);
        uint256 total = VaultMath.idle($, IERC20(IERC4626(address(this)).asset()));
        for (uint256 i; i < n; ++i) {
            held[i] = $.sleeves[i].sleeve.totalAssets();
            total += held[i];
        }
        return VaultMath.weights(held, total);
    }


    /// @notice See `IRWAVault.addSleeve`; the vault checks the governance role and delegate-calls
    ///         this (the vault's code-size budget).
    function addSleeve(ISleeve sleeve, string calldata name) external {
        _delegated();
        VaultStorage.Layout storage $ = VaultStorage.layout();
        if (address(sleeve) == address(0)) revert IRWAVault.ZeroAddress();
        if (sleeve.vault() != address(this) || sleeve.asset() != IERC4626(address(this)).asset()) {
            revert IRWAVault.InvalidSleeve(address(sleeve));
        }
        if ($.indexPlusOne[address(sleeve)] != 0) revert IRWAVault.SleeveAlreadyAdded(address(sleeve));
        uint256 index = $.sleeves.length;
        if (index == MAX_SLEEVES) revert IRWAVault.TooManySleeves(MAX_SLEEVES);
        bytes32 capKey = keccak256(abi.encodePacked("vault.maxSleeveBps.", name));
        // One name, one cap key: two sleeves under it would each be bounded by one DAO cap.
        for (uint256 i; i < index; ++i) {
            if ($.sleeves[i].capKey == capKey) revert IRWAVault.DuplicateSleeveName(name);
        }
        // `get` reverts UnknownParameter for an undefined key: report it in the vault's terms.
        try registry.get(capKey) returns (uint256) {}
        catch {
            revert IRWAVault.SleeveCapUndefined(capKey);
        }
        $.sleeves.push(VaultStorage.SleeveSlot(sleeve, capKey));
        $.names[address(sleeve)] = name;
        $.indexPlusOne[address(sleeve)] = index + 1;
        $.withdrawQueue.push(uint8(index));
        _restartCooldown($);
        emit IRWAVault.SleeveAdded(index, address(sleeve), name);
    }

    /// @dev A change of the sleeve set starts the rebalance cooldown, as a decision does, once
    ///      the vault has taken one: targets are per index, so a `rebalance` signed over the old
    ///      set and mined after the change (pending, or ordered behind the timelock's `execute`
    ///      by anyone) would move other sleeves than its agent chose; a removal followed by an
    ///      addition keeps the count, so `LengthMismatch` does not catch it. For a cooldown it
    ///      reverts `RebalanceCooldown`, while the agents' keepers see the new set.
    function _restartCooldown(VaultStorage.Layout storage $) internal {
        if ($.flags.lastRebalance != 0) $.flags.lastRebalance = uint64(block.timestamp);
    }

    /// @notice See `IRWAVault.setWithdrawQueue`; the vault checks the governance role and
    ///         delegate-calls this (the vault's code-size budget).
    function setWithdrawQueue(uint8[] calldata order) external {
        _delegated();
        VaultStorage.Layout storage $ = VaultStorage.layout();
        uint256 n = $.sleeves.length;
        if (order.length != n) revert IRWAVault.InvalidWithdrawQueue();
        uint256 seen;
        for (uint256 i; i < n; ++i) {
            uint256 bit = 1 << order[i];
            if (order[i] >= n || seen & bit != 0) revert IRWAVault.InvalidWithdrawQueue();
            seen |= bit;
        }
        $.withdrawQueue = order;
        emit IRWAVault.WithdrawQueueSet(order);
    }

    /// @notice See `IRWAVault.removeSleeve`; the vault checks the governance role and
    ///         delegate-calls this (the vault's code-size budget). Later sleeves shift down one
    ///         index (rebalance targets follow the new order); the withdraw queue keeps its order
    ///         for the sleeves left (the removed index dropped, the later ones renumbered with
    ///         their sleeves). Decisions already taken keep their own sleeve set.
    function removeSleeve(ISleeve sleeve) external {
        _delegated();
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
        // The queue holds each of the n indices once (addSleeve, setWithdrawQueue): compact it in
        // place, keeping the governance's order.
        uint8[] storage queue = $.withdrawQueue;
        uint256 kept;
        for (uint256 i; i < n; ++i) {
            uint8 q = queue[i];
            if (q != index) queue[kept++] = q > index ? q - 1 : q;
        }
        queue.pop();
        _restartCooldown($);
        emit IRWAVault.SleeveRemoved(address(sleeve));
        emit IRWAVault.WithdrawQueueSet($.withdrawQueue);
    }
}
