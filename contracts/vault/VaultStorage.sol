// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ISleeve} from "interfaces/ISleeve.sol";

/// @title VaultStorage
/// @notice RWAVault's own state in one ERC-7201 namespace, shared with the modules the vault
///         runs by DELEGATECALL (RebalanceModule). The namespace keeps the layout independent of
///         the vault's inheritance (ERC20, AccessControl), so vault and modules always agree.
/// @custom:storage-location erc7201:ballast.storage.RWAVault
library VaultStorage {
    /// @dev Requests are grouped by request window (`block.timestamp / WINDOW`): a window settles at
    ///      the first strike whose every price was published at or after the window's end (its
    ///      cut-off), whatever is requested later.
    uint256 internal constant WINDOW = 1 hours;
    /// @dev Most request windows holding requests one strike settles per queue (empty hours cost
    ///      nothing, a window whose requests were all cancelled a read): a later strike goes on.
    uint256 internal constant MAX_WINDOWS = 256;

    struct Flags {
        bool automationPaused;
        bool shutdown;
        bool allowlistEnabled;
        uint64 lastRebalance;
        uint128 lastNav; // totalAssets after the last strike (the deposit cap's measure)
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

    /// @dev A controller's deposit request: assets pending in request window `window`. `claims`:
    ///      its claims bucket (`depositClaims`) may hold something; false means it is empty, so a
    ///      claim or a request never reads or writes that cold slot. Once settled and claimed the
    ///      slot is cleared (window too), or left holding only `claims` while the bucket is not empty.
    struct DepositRequest {
        uint128 pending;
        uint64 window;
        bool claims;
    }

    /// @dev Settled and not yet claimed: the assets paid in and the shares they bought (deposits),
    ///      or the assets owed and the shares burned for them (redemptions).
    struct Claimable {
        uint128 assets;
        uint128 shares;
    }

    /// @dev A controller's redeem request: `shares` escrowed in request window `window`. `claims`:
    ///      `redeemClaims` may hold something, `folded`: `redeemFolded` may; false means that slot
    ///      is empty and is neither read nor written (a slot holding only these flags stays while a
    ///      bucket does).
    struct RedeemRequest {
        uint128 shares;
        uint64 window;
        bool claims;
        bool folded;
    }

    /// @dev A request window's deposits, the strike that settled them (id + 1; 0: not yet) and the
    ///      next window with a deposit request (see Queue).
    struct DepositWindow {
        uint128 assets;
        uint64 strikePlusOne;
        uint64 next;
    }

    /// @dev A request window's redemptions: shares requested, filled so far, assets owed for them,
    ///      and the next window with a redeem request (see Queue). `next` shares the slot of
    ///      `requested` (nonzero while the window holds requests), so linking the next window
    ///      rewrites a used slot, filled or not; a fill writes `filled` and `assets` in one slot.
    struct RedeemWindow {
        uint128 requested;
        uint64 next;
        uint128 filled;
        uint128 assets;
    }

    /// @dev A strike's deposit price: `shares` for `assets` (the NAV term + 1 and the supply).
    struct Price {
        uint128 assets;
        uint128 shares;
    }

    /// @dev Donations unlocking linearly from `start` to `end`: `amount` was locked at `start`.
    struct Lock {
        uint128 amount;
        uint64 start;
        uint64 end;
    }

    /// @dev The windows that had requests, linked oldest to newest through each window's `next`
    ///      (requests only ever land in the open window, so appending keeps the order): strikes walk
    ///      these, never the empty hours between. `head` is the oldest not yet settled (deposits)
    ///      or filled (redemptions), `tail` the newest appended; the list is empty when
    ///      head > tail. Every window below `head` is settled. `pending`: assets of deposit
    ///      requests not yet settled, or escrowed shares not yet filled.
    struct Queue {
        uint64 head;
        uint64 tail;
        uint128 pending;
    }

    /// @dev Each queue's window linked just before its tail (meaningful while head < tail): a
    ///      tail whose requests were all cancelled is replaced by the next window with a request
    ///      (linked after this one), so cancelled windows never pile up in a queue.
    struct BeforeTail {
        uint64 deposits;
        uint64 redemptions;
    }

    /// @dev The share price (assets per share × 1e36, as `highWaterMark`) a strike saw, and when:
    ///      the performance fee is charged only on the part of a gain seen at two strikes at least
    ///      `RebalanceModule.FEE_HOLD` apart (IRWAVault.setAgentRegistry). Zero before the first.
    struct FeeSample {
        uint256 price;
        uint64 at;
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
        mapping(uint256 window => DepositWindow) depositWindows;
        mapping(uint256 window => RedeemWindow) redeemWindows;
        mapping(uint256 strikeId => Price) depositPrices;
        Queue depositQueue;
        Queue redeemQueue;
        BeforeTail beforeTail;
        uint256 reservedAssets; // assets of filled redemptions not yet claimed
        uint256 strikes; // strikes so far
        Lock lock; // donations unlocking into the share price
        FeeSample feeSample; // the price the performance fee is charged up to (appended)
    }

    /// @dev keccak256(abi.encode(uint256(keccak256("ballast.storage.RWAVault")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 internal constant SLOT = 0x892c696af5d1469cf7a85e56e253be8704884d4041e5b9fffbb101cbb55c3700;

    function layout() internal pure returns (Layout storage $) {
        assembly {
            $.slot := SLOT
        }
    }
}
