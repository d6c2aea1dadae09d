// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ISleeve} from "interfaces/ISleeve.sol";

/// @title IRWAVault
/// @notice Ballast's ERC-4626 vault: a stablecoin held idle or in RWA sleeves, steered by
///         rebalances inside governance bounds, with a FIFO queue for redemptions that exceed
///         liquidity. (The ERC-4626 functions themselves are OpenZeppelin's IERC4626.)
/// @dev Assumptions and rules:
///      - `totalAssets() = idle + Σ sleeve.totalAssets()`, where idle is the vault's balance of the
///        base asset. Sleeves value themselves live (oracle prices), so share conversions never
///        use a stale book value. Shares carry a decimals offset of `18 - asset decimals` (OZ
///        virtual shares) against the first-depositor inflation attack.
///      - Rounding always favours the vault: shares minted and assets paid round down, shares
///        burned and assets pulled round up (OpenZeppelin ERC4626).
///      - Withdrawals pay from idle, then from sleeves in `withdrawQueue()` order up to each
///        sleeve's `availableLiquidity()`; a sleeve that reverts is skipped. `maxWithdraw` and
///        `maxRedeem` include only that liquidity: they never promise more than a call delivers.
///      - An exit that pulls from sleeves pays for the valuation the pull loses to the issuers'
///        rounding (at most 1 wei per sleeve): `withdraw` burns the shares of `assets + loss`,
///        `redeem` pays its shares' value less the loss, and a `processRedeemQueue` batch (priced
///        once) takes it from its first payments. Those who stay never bear it.
///        `maxWithdraw`, `previewWithdraw` and `previewRedeem` assume the worst case (1 wei per
///        sleeve in the withdraw queue) when idle does not cover the exit, and are exact when it
///        does.
///      - Deposits stop (`maxDeposit = 0`) at `vault.depositCap`, after `shutdown`, for a
///        receiver off the allowlist when it is on, and while a sleeve is valued at a stale
///        price. Pausing automation never stops deposits or withdrawals.
///      - `requestRedeem` moves shares into the vault's escrow (they stay in `totalSupply` and
///        keep sharing gains and losses); `processRedeemQueue` pays requests first in, first out
///        at the share price of the moment, partially when liquidity is short.
///      - `rebalance` enforces, on the target weights: `targetBps[i] <= vault.maxSleeveBps.<name>`,
///        idle `>= vault.idleBufferBps`, turnover `½ Σ|target - current|` over sleeves and idle
///        `<= vault.maxTurnoverBps`, and `vault.rebalanceCooldown` since the last rebalance. It
///        pulls from over-weight sleeves (up to their liquidity) before funding under-weight ones,
///        never below the target idle. `Rebalanced.newBps` are the weights actually reached.
///      - The guardian can pause automation and shut down; it cannot move funds anywhere but back
///        to idle (`unwind`, anyone, after shutdown).
///      - Only agents the AgentRegistry reports active may rebalance; each decision is recorded
///        for the registry's evaluation. The performance fee (above a high-water mark, see
///        `setAgentRegistry`) is minted in shares to the registry, which splits it.
interface IRWAVault {
    /// @notice A sleeve as the vault sees it.
    struct SleeveConfig {
        ISleeve sleeve;
        string name; // "tbill": its cap is the registry parameter vault.maxSleeveBps.tbill
        bytes32 capKey; // keccak256("vault.maxSleeveBps." ++ name)
    }

    /// @notice One redemption request waiting in the queue.
    struct RedeemRequest {
        address owner; // who escrowed the shares (and may cancel)
        uint96 shares; // shares still escrowed (0 once paid or cancelled); packs with owner
        address receiver; // who receives the assets
    }

    /// @notice What a rebalance decided, kept for evaluation.
    struct Decision {
        address agent;
        uint64 timestamp;
        uint16[] oldBps; // sleeve weights before (idle is the remainder)
        uint16[] newBps; // sleeve weights reached
        uint256[] startIndex; // each sleeve's returnIndex() at the decision
        uint256 navBefore;
        uint256 navAfter;
        ISleeve[] sleeves; // the sleeve behind each index at the decision (indices shift on removal)
    }

    event SleeveAdded(uint256 indexed index, address indexed sleeve, string name);
    event SleeveRemoved(address indexed sleeve);
    event WithdrawQueueSet(uint8[] order);
    event Rebalanced(
        uint256 indexed decisionId,
        address indexed agent,
        uint16[] oldBps,
        uint16[] newBps,
        uint256 navBefore,
        uint256 navAfter,
        bytes32 rationaleHash,
        string rationaleURI
    );
    event SleeveWithdrawFailed(address indexed sleeve, uint256 requested);
    event RedeemPaymentFailed(uint256 indexed requestId, address indexed receiver, uint256 assets);
    event RedeemRequested(uint256 indexed requestId, address indexed owner, address indexed receiver, uint256 shares);
    event RedeemProcessed(uint256 indexed requestId, address indexed receiver, uint256 shares, uint256 assets, uint256 sharesLeft);
    event RedeemCancelled(uint256 indexed requestId, address indexed owner, uint256 shares);
    event AutomationPaused(address indexed by);
    event AutomationUnpaused(address indexed by);
    event Shutdown(address indexed by);
    event Unwound(address indexed sleeve, uint256 requested, uint256 withdrawn);
    event AllowlistEnabled(bool enabled);
    event AllowlistUpdated(address indexed account, bool allowed);
    event AgentRegistrySet(address indexed agents);
    /// @notice A performance fee was taken at a rebalance: `gain` (assets) above the high-water
    ///         mark (which donations lift); `feeShares` worth `feeAssets` minted to the AgentRegistry;
    ///         `highWaterMark` the share price after the fee (assets per share × 1e36).
    event PerformanceFeeTaken(uint256 gain, uint256 feeAssets, uint256 feeShares, uint256 highWaterMark);
    /// @notice `assets` given to the depositors (a slash, a compensation): they raise the share
    ///         price and are never charged the performance fee.
    event Donated(address indexed from, uint256 assets);

    error ZeroAmount();
    error ZeroAddress();
    error InvalidModule(address module);
    error InvalidSleeve(address sleeve);
    error SleeveAlreadyAdded(address sleeve);
    error TooManySleeves(uint256 max);
    error SleeveCapUndefined(bytes32 capKey);
    error SleeveNotEmpty(address sleeve, uint256 assets);
    error UnknownSleeve(address sleeve);
    error InvalidWithdrawQueue();
    error LengthMismatch(uint256 expected, uint256 given);
    error SleeveCapExceeded(uint256 index, uint256 targetBps, uint256 capBps);
    error IdleBufferBreached(uint256 idleBps, uint256 minIdleBps);
    error TurnoverExceeded(uint256 turnoverBps, uint256 maxTurnoverBps);
    error RebalanceCooldown(uint256 readyAt);
    error EmptyVault();
    error StaleValuation(address sleeve);
    error AutomationIsPaused();
    error VaultIsShutdown();
    error NotShutdown();
    error InsufficientLiquidity(uint256 requested, uint256 available);
    error NotAllowlisted(address account);
    error UnknownRequest(uint256 requestId);
    error NotRequestOwner(uint256 requestId, address caller);
    error NotActiveAgent(address caller);
    error InvalidAgentRegistry(address agents);

    // ----------------------------------------------------------------- sleeves

    /// @notice Number of sleeves; `targetBps` of `rebalance` has one entry per sleeve.
    function sleeveCount() external view returns (uint256);

    /// @notice The sleeve at `index`, its name and its cap key.
    function sleeveAt(uint256 index) external view returns (SleeveConfig memory);

    /// @notice Sleeve indices in the order withdrawals draw on them.
    function withdrawQueue() external view returns (uint8[] memory);

    /// @notice The vault's base-asset balance (what withdrawals draw on first).
    function idle() external view returns (uint256);

    /// @notice What could be withdrawn right now: idle plus each sleeve's available liquidity.
    function liquidity() external view returns (uint256);

    /// @notice Current weights of the sleeves in bps of `totalAssets()` (idle is the remainder).
    function currentBps() external view returns (uint16[] memory);

    /// @notice Adds a sleeve (governance). Its cap parameter must be defined in the registry.
    function addSleeve(ISleeve sleeve, string calldata name) external;

    /// @notice Removes an empty sleeve (governance).
    function removeSleeve(ISleeve sleeve) external;

    /// @notice Sets the withdrawal order: a permutation of all sleeve indices (governance).
    function setWithdrawQueue(uint8[] calldata order) external;

    // ----------------------------------------------------------------- allocation

    /// @notice Moves capital to `targetBps` (one weight per sleeve, idle is the remainder).
    ///         Only an agent the AgentRegistry reports active; not while automation is paused.
    ///         Takes the performance fee first (see `setAgentRegistry`), records the decision
    ///         (weights, NAVs, sleeves and their `returnIndex()`) and reports it to the registry
    ///         (`onDecision`) for evaluation.
    /// @return decisionId Index of the recorded decision.
    function rebalance(uint16[] calldata targetBps, bytes32 rationaleHash, string calldata rationaleURI)
        external
        returns (uint256 decisionId);

    /// @notice Number of recorded decisions.
    function decisionCount() external view returns (uint256);

    /// @notice A recorded decision.
    function decision(uint256 decisionId) external view returns (Decision memory);

    /// @notice Earliest timestamp the next rebalance may happen.
    function nextRebalanceAt() external view returns (uint256);

    /// @notice Sets the AgentRegistry (governance): it decides who may rebalance, receives each
    ///         decision, and receives the performance fee in shares. Its `vault()` must be this
    ///         vault. Until it is set nobody can rebalance.
    /// @dev Performance fee, taken at each rebalance on the share price `p = (totalAssets + 1) ·
    ///      1e36 / S` with `S = totalSupply + 10^offset`, against the high-water mark `h`
    ///      (initially the price of the empty vault). Donations since the last rebalance first
    ///      lift the mark as much as they lifted the price: `h += donated · 1e36 / S` (rounded
    ///      up), so they never count as performance, neither as gain nor as recovery of a loss.
    ///      Then, above the mark: `gain = (p - h) · S / 1e36` (assets), `fee = gain ·
    ///      vault.performanceFeeBps / 10_000`, minted as `fee · S / (totalAssets + 1 - fee)`
    ///      shares (so they are worth `fee` after the mint, Morpho's formula); every division
    ///      rounds down (against the fee taker); then `h` becomes the price after the mint. At or
    ///      below `h` no fee is taken and `h` stays: losses are recovered before any fee.
    function setAgentRegistry(address agents) external;

    /// @notice The AgentRegistry (zero until governance sets it).
    function agentRegistry() external view returns (address);

    /// @notice Gives `assets` of the base asset from the caller to the depositors: the share
    ///         price rises by exactly that much and the performance fee ignores it. The
    ///         AgentRegistry pays executed slashes this way.
    function donate(uint256 assets) external;

    // ----------------------------------------------------------------- redemption queue

    /// @notice Escrows `shares` of the caller and queues them for redemption to `receiver`.
    function requestRedeem(uint256 shares, address receiver) external returns (uint256 requestId);

    /// @notice Returns the still-escrowed shares of a request to its owner.
    function cancelRedeemRequest(uint256 requestId) external;

    /// @notice Pays up to `maxRequests` queued requests in order, as far as liquidity allows. Anyone.
    /// @return processed Requests fully paid.
    /// @return assetsPaid Base asset paid in total.
    function processRedeemQueue(uint256 maxRequests) external returns (uint256 processed, uint256 assetsPaid);

    /// @notice Keeper trigger: `(true, processRedeemQueue calldata)` when a queued request can be
    ///         paid at least partly; else `(false, reason)`.
    function redeemQueueTrigger() external view returns (bool shouldAct, bytes memory data);

    /// @notice A request by id.
    function redeemRequest(uint256 requestId) external view returns (RedeemRequest memory);

    /// @notice Ids of the first and one-past-the-last request still in the queue.
    function redeemQueueBounds() external view returns (uint256 head, uint256 tail);

    /// @notice Shares escrowed by open requests.
    function queuedShares() external view returns (uint256);

    // ----------------------------------------------------------------- guardian, shutdown, allowlist

    /// @notice Stops rebalances (guardian or governance). Users are not affected.
    function pauseAutomation() external;

    /// @notice Lets rebalances resume (guardian or governance).
    function unpauseAutomation() external;

    /// @notice Stops deposits and rebalances for good (guardian or governance).
    function shutdown() external;

    /// @notice After shutdown, moves up to `assets` from `sleeve` back to idle. Anyone.
    function unwind(ISleeve sleeve, uint256 assets) external returns (uint256 withdrawn);

    /// @notice Turns the allowlist on or off (governance).
    function setAllowlistEnabled(bool enabled) external;

    /// @notice Allows or disallows `account` to deposit and hold shares (allowlist manager).
    function setAllowed(address account, bool allowed) external;

    function automationPaused() external view returns (bool);

    function isShutdown() external view returns (bool);

    function allowlistEnabled() external view returns (bool);

    function isAllowed(address account) external view returns (bool);
}
