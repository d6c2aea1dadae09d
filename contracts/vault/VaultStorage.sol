// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

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

    /// @dev A controller's deposit request: assets pending in `epoch` (settled once the open
    ///      deposit epoch has moved past it), and what earlier strikes settled for it.
    struct DepositRequest {
        uint128 pending;
        uint64 epoch;
    }

    /// @dev Settled and not yet claimed: the assets paid in and the shares they bought (deposits),
    ///      or the shares burned and the assets they are owed (redemptions).
    struct Claimable {
        uint128 assets;
        uint128 shares;
    }

    /// @dev A controller's redeem request: `shares` escrowed in redeem epoch `epoch`; `folded` is
    ///      the part of its pro-rata fill already moved to the claimable bucket.
    struct RedeemRequest {
        uint128 shares;
        uint64 epoch;
    }

    /// @dev A deposit epoch once struck: what it paid in and the shares it bought.
    struct DepositEpoch {
        uint128 assets;
        uint128 shares;
    }

    /// @dev A redeem epoch: shares requested in it, filled so far, and the assets owed for them.
    struct RedeemEpoch {
        uint128 requested;
        uint128 filled;
        uint256 assets;
    }

    /// @dev The open deposit epoch: its pending assets and newest request's time.
    struct DepositBook {
        uint128 pending;
        uint64 epoch;
        uint64 lastRequestAt;
    }

    /// @dev Redeem epochs: `open` takes new requests; `head` is the oldest not fully filled.
    struct RedeemBook {
        uint64 open;
        uint64 head;
        uint64 lastRequestAt;
    }

    /// @dev Donations unlocking linearly from `start` to `end`: `amount` was locked at `start`.
    struct Lock {
        uint128 amount;
        uint64 start;
        uint64 end;
    }

    struct Layout {
        Flags flags;
        SleeveSlot[] sleeves;
        uint8[] withdrawQueue;
        mapping(address sleeve => uint256) indexPlusOne;
        mapping(address sleeve => string) names;
        mapping(address account => bool) allowed;
        DecisionSlot[] decisions;
        address agents; // the AgentRegistry
        uint256 highWaterMark; // share price (assets per share × 1e36) the performance fee starts above
        ISleeve[][] sleeveSets; // the vault's sleeve lists that decisions were taken over
        // ERC-7540 requests and strikes
        mapping(address controller => mapping(address operator => bool)) operators;
        mapping(address controller => DepositRequest) deposits;
        mapping(address controller => Claimable) depositClaims;
        mapping(address controller => RedeemRequest) redeems;
        mapping(address controller => Claimable) redeemFolded; // part of the request moved to claims
        mapping(address controller => Claimable) redeemClaims;
        mapping(uint256 epoch => DepositEpoch) depositEpochs;
        mapping(uint256 epoch => RedeemEpoch) redeemEpochs;
        DepositBook depositBook;
        RedeemBook redeemBook;
        uint256 pendingRedeemShares; // escrowed shares not yet filled
        uint256 reservedAssets; // assets of filled redemptions not yet claimed
        uint256 lastNav; // totalAssets after the last strike (the deposit cap's measure)
        uint256 strikes; // strikes so far
        Lock lock; // donations unlocking into the share price
    }

    /// @dev keccak256(abi.encode(uint256(keccak256("ballast.storage.RWAVault")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 internal constant SLOT = 0x892c696af5d1469cf7a85e56e253be8704884d4041e5b9fffbb101cbb55c3700;

    function layout() internal pure returns (Layout storage $) {
        assembly {
            $.slot := SLOT
        }
    }
}
