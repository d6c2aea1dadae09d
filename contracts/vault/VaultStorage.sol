// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IRWAVault} from "interfaces/IRWAVault.sol";
import {ISleeve} from "interfaces/ISleeve.sol";

/// @title VaultStorage
/// @notice RWAVault's own state in one ERC-7201 namespace, shared with the modules the vault
///         runs by DELEGATECALL (RebalanceModule). The namespace keeps the layout independent of
///         the vault's inheritance (ERC20, AccessControl), so vault and modules always agree.
/// @custom:storage-location erc7201:ballast.storage.RWAVault
library VaultStorage {
    struct Flags {
        bool automationPaused;
        bool shutdown;
        bool allowlistEnabled;
        uint64 lastRebalance;
    }

    /// @dev Sleeve and cap key per index; names live apart (copying strings costs code size).
    struct SleeveSlot {
        ISleeve sleeve;
        bytes32 capKey;
    }

    /// @dev A decision as stored: 4 + n slots for n sleeves (IRWAVault.Decision is its unpacked
    ///      view, built by RWAVault.decision). Weights are packed 16 bits per sleeve, sleeve i in
    ///      bits [16i, 16i + 16) (MAX_SLEEVES = 10 fits in 160 bits); NAVs fit 128 bits (SafeCast
    ///      refuses more); the sleeves behind the indices are a shared set, stored again only
    ///      when the vault's sleeves changed since the set the last decision used.
    struct DecisionSlot {
        address agent;
        uint64 timestamp;
        uint32 sleeveSet; // index into Layout.sleeveSets
        uint128 navBefore;
        uint128 navAfter;
        uint256 oldBps;
        uint256 newBps;
        uint256[10] startIndex; // each sleeve's returnIndex() at the decision; n written
    }

    struct Layout {
        Flags flags;
        SleeveSlot[] sleeves;
        uint8[] withdrawQueue;
        mapping(address sleeve => uint256) indexPlusOne;
        mapping(address sleeve => string) names;
        mapping(address account => bool) allowed;
        mapping(uint256 requestId => IRWAVault.RedeemRequest) requests;
        uint128 head;
        uint128 tail;
        uint256 queuedShares;
        DecisionSlot[] decisions;
        address agents; // the AgentRegistry
        uint256 highWaterMark; // share price (assets per share × 1e36) the performance fee starts above
        uint256 donated; // assets donated since the last rebalance (never charged the fee)
        ISleeve[][] sleeveSets; // the vault's sleeve lists that decisions were taken over
    }

    /// @dev keccak256(abi.encode(uint256(keccak256("ballast.storage.RWAVault")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 internal constant SLOT = 0x892c696af5d1469cf7a85e56e253be8704884d4041e5b9fffbb101cbb55c3700;

    function layout() internal pure returns (Layout storage $) {
        assembly {
            $.slot := SLOT
        }
    }
}
