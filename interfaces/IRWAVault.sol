// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ISleeve} from "interfaces/ISleeve.sol";

/// @title IRWAVault
/// @notice Ballast's vault: a stablecoin held idle or in RWA sleeves, steered by rebalances inside
///         governance bounds. Entries and exits are forward-priced ERC-7540 requests settled at NAV
///         strikes (ERC-7575 `share()` is the vault itself; ERC-165 reports 7540 and 7575). The
///         ERC-4626 functions are OpenZeppelin's IERC4626, with ERC-7540's meaning.
/// @dev Where the vault departs from ERC-7540 / ERC-4626, deliberately (each checked in
///      tests/vault/test_erc7540_spec.py or the request tests; every other MUST holds):
///      - a request for a `controller` other than `owner` also needs the controller's consent
///        (caller: the controller or its operator, else `NotOperator(controller, caller)`);
///        ERC-7540 lets the owner (or its operator) name any controller. Why: below.
///      - `maxDeposit`/`maxMint(controller)` report the controller's claim even when the
///        allowlist no longer admits the controller as a receiver (ERC-4626's maxDeposit factors
///        in user-specific limits): the claim goes to an allowed receiver (`setAllowed`).
///      - the request views answer the controller's aggregated request for any `requestId`
///        (every id the vault returns is 0).
///      - cancels are the vault's own (`cancelDepositRequest`/`cancelRedeemRequest`, not
///        ERC-7887): they return the request to its controller, before the window's cut-off.
///      - `totalAssets()` leaves out pending deposits, redemptions filled but not claimed and
///        donations still locked; claims never move it. Claims burn nothing (strikes burned the
///        shares) and deposit claims take no assets (the request did).
///      - a partial `mint` whose assets, rounded up, are all that was left leaves under one asset
///        unit's worth of shares with `maxDeposit` 0 (only `mint` takes them; likewise assets
///        after a `withdraw` charged the last share, with `maxRedeem` 0): dust, never more than
///        the whole claim.
///      The request lifecycle, stated once (Centrifuge's): pending → claimable → claimed.
///      - `requestDeposit(assets, controller, owner)` takes `assets` from `owner` into the vault,
///        held apart: pending deposits never count in `totalAssets()`. `requestRedeem(shares,
///        controller, owner)` escrows `owner`'s shares in the vault (they stay in `totalSupply`
///        until their strike burns them). The caller must be `owner` or an operator of `owner`
///        (`setOperator`); a redeem request also accepts an ERC-20 allowance over the shares.
///        A request for a controller other than `owner` needs that controller's consent too: the
///        caller is the controller or its operator (`NotOperator(controller, caller)`), since a
///        controller holds one request window at a time (below) and a request it never asked
///        for, left unsettled in a closed window, would hold up its own next one (1 wei of
///        shares gifted into a queued window would keep it out of the redemption queue).
///        Requests are aggregated per controller (`requestId` is always 0; the request views
///        take the id for ERC-7540's signature and report the controller's request whatever id
///        is asked: sum over controllers, never over ids).
///      - Requests are grouped in hourly request windows (`block.timestamp / 1 hours`). A window
///        settles at the first `strike()` whose every sleeve price was published at or after the
///        window's end, its cut-off: every price it uses is newer than every request it settles
///        (forward pricing, as funds must under SEC rule 22c-1), and a later request never delays
///        an earlier window. `strike()` — anyone, the depositor too, so exits never depend on
///        keepers or agents — values every sleeve once and settles every window it may. Windows
///        that had requests form a queue (oldest first): a strike walks those, never the empty
///        hours between, at most 256 windows a call (a later strike goes on). Deposits settle in full; redemptions are paid from idle (deposits of the
///        same strike included), then from sleeves in `withdrawQueue()` order up to their
///        liquidity, first in first out by window, pro rata within a window; what liquidity
///        cannot pay stays queued for the next strikes and is filled there at their prices.
///        What a strike's pull from the sleeves loses (an issuer's rounding or redemption fee)
///        is charged to the windows it fills, pro rata to what each is paid (never to those
///        who stay).
///      - Claims move what a strike settled to the controller's receiver: shares through
///        `deposit(assets, receiver, controller)` / `mint(shares, receiver, controller)`, assets
///        through `redeem(shares, receiver, controller)` / `withdraw(assets, receiver,
///        controller)` (caller: the controller or its operator). `previewDeposit`, `previewMint`,
///        `previewWithdraw` and `previewRedeem` revert (ERC-7540); `max*` report what is
///        claimable now.
///      - `cancelDepositRequest` / `cancelRedeemRequest` return a request to its controller until
///        its window's cut-off (`RequestWindowClosed` after): from then on a published price may
///        be the one that settles it, and an order withdrawn after seeing its price would be a
///        free option against those who stay. A deposit no strike can settle comes back anyway:
///        after `shutdown`, or from `vault.strikeMaxWait` after its cut-off while a strike could
///        not settle it now (a stale price or an unconfirmed move in the way; when one could,
///        strike).
///      - A controller holds one request of each kind at a time: adding to it is possible within
///        its window; a request of an earlier window must settle (`DepositRequestPending`) or be
///        fully filled (`RedeemRequestQueued`) before the next.
///      Prices at a strike (`S` = supply + 10^offset virtual shares, OZ's):
///      - each sleeve reports `strikeValuation()`: a low and a high value that differ only while
///        an oracle move beyond `oracle.maxDeviationBps` is unconfirmed. Redemptions are filled
///        first, at the low NAV less the donations still locked (and a stale sleeve's haircut),
///        `p_r = (idle + Σ low − locked + 1) / S` per share; deposits then pay the high NAV of
///        what the leavers left, `(idle + Σ high + 1 − B·p_r) / (S − B)` for `B` shares burned
///        (`B·p_r` rounded down). What leavers forfeit (their part of the locked donations and
///        of `Σ high + haircut − Σ low`: the haircut and a stale sleeve's spread, or the exposed
///        debt where the lending book grossed its low up) stays with those who held before them: a deposit settled in the same
///        strike buys it at that price and earns none of it, nor of any donation.
///      - A move beyond `oracle.maxDeviationBps` settles nothing until it is confirmed: the
///        sleeve reports itself not fresh while its band is open, so the strike waits (as for a
///        stale price) until `oracle.poke(token)` confirms the move, `oracle.confirmDelay` after
///        it was first recorded (anyone may poke; the settler keeper does), or the price comes
///        back. Nobody can pick a strike inside the band to make requesters pay its wrong edge.
///        While the feed publishes, the move is confirmed, never valued stale (a leaver may
///        confirm it itself: two pokes `oracle.confirmDelay` apart); once the feed has published
///        nothing for `vault.strikeMaxWait`, or the move first recorded by a poke has kept the
///        band open that long (a trend faster than the band per `oracle.confirmDelay`:
///        `IOracleRouter.bandOpenSince`), redemptions settle anyway, the sleeve valued as stale
///        at the band's low end less the haircut.
///      - Rounding favours the vault: shares minted and assets paid round down; a claim of part
///        of a settled request rounds against the claimer; the last claim takes the rest. A part
///        taken from a request whose claim buckets are empty is taken in place (no new storage
///        slot): the request keeps what is left and its claimable amount is priced again at the
///        same strike, rounded down, so what is left may fall against the exact difference: by
///        one share after a `deposit` claim, and after a `mint` claim (its assets rounded up) by
///        up to one unit of the asset's worth of shares plus one; on the redemption side by one
///        unit of the asset, and after a `withdraw` claim by up to one share's worth of assets
///        plus one — the parts never add up to more than the whole.
///      - A sleeve whose price is stale or older than a window's cut-off: that window's deposits
///        wait for it; its redemptions wait too, until `vault.strikeMaxWait` after the cut-off
///        and after the sleeve's stale clock (`ISleeve.strikeValuation`: its newest round, or
///        the poke that first recorded the move keeping its band open),
///        after which the strike values the sleeve at the lower of its last price and the
///        oracle's reference less `vault.staleHaircutBps` (the leavers bear the doubt, never
///        those who stay), so a dead feed never freezes exits, and a move waiting for its
///        confirmation or a heartbeat a moment late never haircuts a window that waited for
///        liquidity. A sleeve holding nothing needs no price.
///      - The performance fee is taken at strikes, before anything settles, on the gains that
///        stood (`setAgentRegistry`), so every leaver pays its share of the fee on its gains
///        that stood; a peak only one strike saw is never charged.
///      - Donations (`donate`, executed slashes) unlock linearly over `vault.unlockPeriod`; they
///        lift the high-water mark when made, so the fee never counts them.
///      - Deposit requests stop at `vault.depositCap` (the last strike's NAV plus pending
///        deposits), after `shutdown`, and for an owner or controller off the allowlist when it is
///        on. Pausing automation never stops requests, strikes or claims.
///      Rebalances:
///      - `totalAssets() = idle + Σ sleeve.totalAssets() − locked donations`, where idle is the
///        vault's base-asset balance less pending deposits and redemptions settled but not yet
///        claimed. Those two are never invested, and no transaction can inflate the NAV a
///        rebalance measures (entering needs a strike after the next price round).
///      - `rebalance` enforces, on the target weights: `targetBps[i] <= vault.maxSleeveBps.<name>`,
///        idle `>= vault.idleBufferBps`, turnover `½ Σ|target - current|` over sleeves and idle
///        `<= vault.maxTurnoverBps`, and `vault.rebalanceCooldown` since the last rebalance. When
///        the weights now are further from the caps and the buffer than one turnover (prices
///        drifted, exits were paid from idle, the DAO tightened them), the turnover limit yields
///        to the least turnover meeting them, `Σ current - min(Σ min(current_i, cap_i), 1e4 -
///        buffer)`, and to no more: a decision can always bring the vault back within them. It
///        pulls from over-weight sleeves (up to their liquidity) before funding under-weight ones,
///        never below the target idle, then re-checks the weights reached: a sleeve it raised is
///        within its cap, and idle, if it lowered it, within the buffer (`ReachedOutsideBounds`).
///        `Rebalanced.newBps` are the weights actually reached, except that a sleeve whose target
///        is its weight before is not traded and is recorded at that weight (`newBps == oldBps`):
///        another move's rounding or issuer fee may tick its weight, which is no decision on it
///        (it is not judged on the tick, and an open price band on it does not hold the
///        decision up; a sleeve a decision moves must have a confirmed price, `StaleValuation`).
///        A rebalance whose weights reached all equal the weights before (targets at the weights
///        now, or sleeves that could not take or pay) is refused `NothingMoved`: no decision is
///        recorded and `vault.rebalanceCooldown` does not restart.
///      - The guardian can pause automation and shut down; it cannot move funds anywhere but back
///        to idle (`unwind`, anyone, after shutdown).
///      - Only agents the AgentRegistry reports active may rebalance; each decision is recorded
///        for the registry's evaluation.
interface IRWAVault {
    /// @notice A sleeve as the vault sees it.
    struct SleeveConfig {
        ISleeve sleeve;
        string name; // "tbill": its cap is the registry parameter vault.maxSleeveBps.tbill
        bytes32 capKey; // keccak256("vault.maxSleeveBps." ++ name)
    }

    /// @notice What a strike settled (`StrikeSettled`): the prices it used, scaled by 1e36 (assets
    ///         per share), and what moved.
    struct Strike {
        uint64 depositEpoch; // the newest request window whose deposits it settled (max: none)
        uint64 redeemEpoch; // the newest request window it filled redemptions of (max: none)
        uint256 depositPrice; // assets per share × 1e36 paid by deposits (after redemptions, above)
        uint256 redeemPrice; // assets per share × 1e36 paid to redemptions (low NAV less locked)
        uint256 depositAssets; // assets of the deposits settled
        uint256 depositShares; // shares minted for them (escrowed until claimed)
        uint256 redeemShares; // escrowed shares burned for the redemptions filled
        uint256 redeemAssets; // assets set aside for those redemptions (until claimed)
    }

    /// @notice What a rebalance decided, kept for evaluation.
    struct Decision {
        address agent;
        uint64 timestamp;
        uint16[] oldBps; // sleeve weights before (idle is the remainder)
        uint16[] newBps; // sleeve weights reached (a sleeve left as it was: its weight before)
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
    /// @notice ERC-7540: `owner` sent `assets` for `controller`, pending until a strike.
    event DepositRequest(
        address indexed controller, address indexed owner, uint256 indexed requestId, address sender, uint256 assets
    );
    /// @notice ERC-7540: `owner` escrowed `shares` for `controller`, pending until a strike.
    event RedeemRequest(
        address indexed controller, address indexed owner, uint256 indexed requestId, address sender, uint256 shares
    );
    /// @notice ERC-7540: `controller` approved or revoked `operator`.
    event OperatorSet(address indexed controller, address indexed operator, bool approved);
    /// @notice ERC-7575: the vault of `asset` for this share, emitted once at deployment.
    event VaultUpdate(address indexed asset, address vault);
    /// @notice A pending deposit request went back to its controller.
    event DepositRequestCancelled(address indexed controller, uint256 assets);
    /// @notice A pending redeem request's shares went back to its controller.
    event RedeemRequestCancelled(address indexed controller, uint256 shares);
    /// @notice A NAV strike settled requests (see `Strike`); `lockedDonations` is what was still
    ///         locked, `staleSleeves` a bitmap of the sleeves valued at their haircut last price.
    event StrikeSettled(uint256 indexed strikeId, Strike strike, uint256 lockedDonations, uint256 staleSleeves);
    event AutomationPaused(address indexed by);
    event AutomationUnpaused(address indexed by);
    event Shutdown(address indexed by);
    event Unwound(address indexed sleeve, uint256 requested, uint256 withdrawn);
    event AllowlistEnabled(bool enabled);
    event AllowlistUpdated(address indexed account, bool allowed);
    event AgentRegistrySet(address indexed agents);
    /// @notice A performance fee was taken at a strike: `gain` (assets) above the high-water
    ///         mark (which donations lift), up to the price that stood (`setAgentRegistry`);
    ///         `feeShares` worth `feeAssets` minted to the AgentRegistry; `highWaterMark` the mark
    ///         after the fee (assets per share × 1e36: the share price after the fee when all of
    ///         the gain stood).
    event PerformanceFeeTaken(uint256 gain, uint256 feeAssets, uint256 feeShares, uint256 highWaterMark);
    /// @notice `assets` given to the depositors (a slash, a compensation): they unlock into the
    ///         share price over `vault.unlockPeriod` (`lockedUntil`) and are never charged the fee.
    event Donated(address indexed from, uint256 assets, uint256 locked, uint256 lockedUntil);

    error ZeroAmount();
    error ZeroAddress();
    error InvalidModule(address module);
    error InvalidSleeve(address sleeve);
    error SleeveAlreadyAdded(address sleeve);
    /// @notice A sleeve already holds `name`: the name is the sleeve's cap key
    ///         (`vault.maxSleeveBps.<name>`), and one cap over two sleeves would bound each.
    error DuplicateSleeveName(string name);
    error TooManySleeves(uint256 max);
    error SleeveCapUndefined(bytes32 capKey);
    error SleeveNotEmpty(address sleeve, uint256 assets);
    error UnknownSleeve(address sleeve);
    /// @notice `decision(decisionId)` of an id no rebalance recorded (ids run from 0 to
    ///         `decisionCount() - 1`).
    error UnknownDecision(uint256 decisionId);
    error InvalidWithdrawQueue();
    error LengthMismatch(uint256 expected, uint256 given);
    error SleeveCapExceeded(uint256 index, uint256 targetBps, uint256 capBps);
    error IdleBufferBreached(uint256 idleBps, uint256 minIdleBps);
    error TurnoverExceeded(uint256 turnoverBps, uint256 maxTurnoverBps);
    error RebalanceCooldown(uint256 readyAt);
    /// @notice The weights a rebalance reached are the weights before it, sleeve by sleeve (its
    ///         targets were the weights now, or a sleeve could not take or pay): nothing is
    ///         recorded and the cooldown does not restart.
    error NothingMoved();
    error EmptyVault();
    error StaleValuation(address sleeve);
    error AutomationIsPaused();
    error VaultIsShutdown();
    error NotShutdown();
    error InsufficientLiquidity(uint256 requested, uint256 available);
    error NotAllowlisted(address account);
    /// @notice `caller` is neither `owner` (an owner of assets or shares, or a request's
    ///         controller) nor an operator it approved.
    error NotOperator(address owner, address caller);
    /// @notice `controller` has nothing pending to cancel: no request, a settled deposit, or a
    ///         wholly filled redemption (claimable, no longer pending).
    error NoPendingRequest(address controller);
    /// @notice The request's window closed at `closesAt` (its cut-off): it can no longer be cancelled.
    error RequestWindowClosed(address controller, uint256 closesAt);
    /// @notice `controller` has a deposit request in an earlier window not yet settled.
    error DepositRequestPending(address controller, uint256 window);
    /// @notice `controller`'s redeem request of an earlier window is not yet filled.
    error RedeemRequestQueued(address controller, uint256 window);
    error ClaimExceeded(address controller, uint256 requested, uint256 claimable);
    error DepositCapExceeded(uint256 assets, uint256 room);
    error NothingToStrike();
    /// @notice Nothing may settle yet: the oldest request window waiting closes (or closed) at
    ///         `cutoff`, and `sleeve`'s price cannot settle it (`sleeve` 0: the window is still
    ///         open): published at `publishedAt` (the feed's time, 0 when the feed cannot be
    ///         read), it is older than `cutoff` or stale — or, published at or after `cutoff`, it
    ///         moved beyond `oracle.maxDeviationBps` and waits for confirmation (the router's
    ///         `poke`, `oracle.confirmDelay` after the move was recorded). Its redemptions may
    ///         settle with such sleeves at a haircut from `staleReadyAt` (`vault.strikeMaxWait`
    ///         after the later of `cutoff` and every such sleeve's stale clock, if their feeds
    ///         publish nothing meanwhile); deposits wait.
    error StrikeNotReady(address sleeve, uint256 publishedAt, uint256 cutoff, uint256 staleReadyAt);
    error ReachedOutsideBounds(uint256 index, uint256 reachedBps, uint256 boundBps);
    error PreviewUnavailable();
    error NotActiveAgent(address caller);
    error InvalidAgentRegistry(address agents);

    // ----------------------------------------------------------------- sleeves

    /// @notice Number of sleeves; `targetBps` of `rebalance` has one entry per sleeve.
    function sleeveCount() external view returns (uint256);

    /// @notice The sleeve at `index`, its name and its cap key.
    function sleeveAt(uint256 index) external view returns (SleeveConfig memory);

    /// @notice Sleeve indices in the order withdrawals draw on them.
    function withdrawQueue() external view returns (uint8[] memory);

    /// @notice The vault's base-asset balance less pending deposits and unclaimed redemptions
    ///         (what redemptions draw on first, and what rebalances invest).
    function idle() external view returns (uint256);

    /// @notice What a strike could pay now: idle plus each sleeve's available liquidity.
    function liquidity() external view returns (uint256);

    /// @notice Current weights of the sleeves in bps of `idle() + Σ sleeve.totalAssets()`, rounded
    ///         down (idle is the remainder): the NAV a rebalance measures, which unlike
    ///         `totalAssets()` includes donations still locked.
    function currentBps() external view returns (uint16[] memory);

    /// @notice Adds a sleeve (governance), last in the withdraw queue. Its cap parameter
    ///         (`vault.maxSleeveBps.<name>`) must be defined in the registry; a sleeve already
    ///         added reverts `SleeveAlreadyAdded`, a name another sleeve holds
    ///         `DuplicateSleeveName` (each sleeve has a cap of its own). Once the vault has taken a
    ///         decision, a change of the sleeve set starts the rebalance cooldown (targets are per
    ///         index: a vector signed over the old set would move other sleeves).
    function addSleeve(ISleeve sleeve, string calldata name) external;

    /// @notice Removes an empty sleeve (governance). Later sleeves shift down one index; the
    ///         withdraw queue keeps its order for the sleeves left (emitted in `WithdrawQueueSet`).
    ///         Starts the rebalance cooldown as `addSleeve` does.
    function removeSleeve(ISleeve sleeve) external;

    /// @notice Sets the withdrawal order: a permutation of all sleeve indices (governance).
    function setWithdrawQueue(uint8[] calldata order) external;

    // ----------------------------------------------------------------- allocation

    /// @notice Moves capital to `targetBps` (one weight per sleeve, idle is the remainder); a
    ///         sleeve whose target is its weight now (`currentBps`) is not traded at all.
    ///         Only an agent the AgentRegistry reports active; not while automation is paused.
    ///         Records the decision
    ///         (weights, NAVs, sleeves and their return indices) and reports it to the registry
    ///         (`onDecision`) for evaluation. Reverts `StaleValuation(sleeve)` when a sleeve's
    ///         price is stale, and when a sleeve whose weight the move changed has a return index
    ///         that is not fresh (`ISleeve.returnIndexStatus()`: a price move beyond
    ///         `oracle.maxDeviationBps` not yet confirmed): a decision never starts from a price
    ///         round the oracle has not confirmed, as it is never judged on one.
    /// @return decisionId Index of the recorded decision.
    function rebalance(uint16[] calldata targetBps, bytes32 rationaleHash, string calldata rationaleURI)
        external
        returns (uint256 decisionId);

    /// @notice Number of recorded decisions.
    function decisionCount() external view returns (uint256);

    /// @notice A recorded decision; `UnknownDecision` for an id not recorded.
    function decision(uint256 decisionId) external view returns (Decision memory);

    /// @notice Earliest timestamp the next rebalance may happen: `vault.rebalanceCooldown` after
    ///         the last rebalance or, once there was one, the last change of the sleeve set.
    function nextRebalanceAt() external view returns (uint256);

    /// @notice Sets the AgentRegistry (governance): it decides who may rebalance, receives each
    ///         decision, and receives the performance fee in shares. Its `vault()` must be this
    ///         vault. Until it is set nobody can rebalance, and no fee is taken (the mark follows
    ///         the price that stood up: strikes never fail for want of a fee recipient).
    /// @dev Performance fee, taken at strikes on the share price `p = (totalAssets + 1) ·
    ///      1e36 / S` with `S = totalSupply + 10^offset`, against the high-water mark `h`
    ///      (initially the price of the empty vault), where `totalAssets` here counts locked
    ///      donations and values each sleeve at the lower of its `low` and `high` (a sleeve may
    ///      gross its low up for the stale haircut: the lending book's `low` may exceed its `high`
    ///      then, which is no gain; the haircut itself is no loss). A donation lifts the mark when
    ///      it is made, as much as it lifts that price: `h += donated · 1e36 / S` (rounded up),
    ///      and so does what a redemption leaves behind (`B · (Σ high + haircut − Σ low + locked)
    ///      / S` for `B` shares burned, rounded up: the locked donations and what the leavers were not paid of the
    ///      high NAV); so donations and forfeits never count as performance, neither as gain nor
    ///      as recovery of a loss. The fee is charged only on gains that stood: the
    ///      vault keeps a fee sample `(q, t)`, the price a strike saw (after its fee's mint) and
    ///      when. A strike less than FEE_HOLD = 1 day after `t` (RWA NAVs publish daily: a peak
    ///      that has not stood a day of publications is not charged) takes no fee and moves
    ///      neither `h` nor the sample. Otherwise it charges up to `c = min(p, q)` (the first
    ///      strike ever, with no sample, charges nothing) and the sample becomes `(p', now)`,
    ///      `p'` the price after the fee's mint. Above the mark: `gain = (c - h) · S / 1e36`
    ///      (assets), `fee = gain · vault.performanceFeeBps / 10_000`, minted as
    ///      `fee · S / (totalAssets + 1 - fee)` shares (so they are worth `fee` after the mint,
    ///      Morpho's formula); every division rounds down (against the fee taker); then `h`
    ///      becomes `p' - (p - c) · S / S'` (`S'` the supply after the mint, the product rounded
    ///      down): the price after the mint less the part not yet charged, which stays
    ///      chargeable, spread over the fee's shares too (they never pay the fee on a gain made
    ///      before them); `p'` when all of the gain stood. At or below `h` no fee is taken and
    ///      `h` stays: losses are recovered before any fee. So a leaver pays the fee on the gains
    ///      that stood up to the sample; the gains above it (those of the last day, when strikes
    ///      come daily) escape it. A deposit lifts `h` by what it pays above it for its shares,
    ///      `deposited - ceil(minted · h / 1e36)` when positive, and at least by its premium over
    ///      the low NAV (`deposited · (high - low) / (idle + high + 1)`, rounded up), over the
    ///      supply after the strike (rounded up, never lowering it): a gain not yet charged stays
    ///      the gain of the shares that held it, so the fee on it is never more than its own
    ///      (minted pro rata, as every fee). Donations and what leavers forfeit still lift `h`
    ///      as above.
    function setAgentRegistry(address agents) external;

    /// @notice The AgentRegistry (zero until governance sets it).
    function agentRegistry() external view returns (address);

    /// @notice Gives `assets` of the base asset from the caller to the shares that exist now:
    ///         they unlock into the share price over `vault.unlockPeriod` (with what is still
    ///         locked, their unlock rates added, to the end where that runs the lock out, rounded
    ///         up: what was locked keeps its pace, so no donation holds it back), and the
    ///         performance fee ignores them. The AgentRegistry pays executed slashes this way.
    function donate(uint256 assets) external;

    // ----------------------------------------------------------------- ERC-7540 requests and strikes

    /// @notice Takes `assets` from `owner` for `controller`, pending until the next strike whose
    ///         prices are all newer. Caller: `owner` or its operator, and `controller` or its
    ///         operator when it is not `owner`. Returns request id 0.
    function requestDeposit(uint256 assets, address controller, address owner) external returns (uint256 requestId);

    /// @notice Escrows `shares` of `owner` for `controller`, pending until the next strike whose
    ///         prices are all newer. Caller: `owner`, its operator, or an ERC-20 spender of its
    ///         shares, and `controller` or its operator when it is not `owner`. Returns request
    ///         id 0.
    function requestRedeem(uint256 shares, address controller, address owner) external returns (uint256 requestId);

    /// @notice Assets of `controller`'s deposit request no strike has settled yet.
    function pendingDepositRequest(uint256 requestId, address controller) external view returns (uint256 assets);

    /// @notice Assets of `controller`'s settled deposits not yet claimed.
    function claimableDepositRequest(uint256 requestId, address controller) external view returns (uint256 assets);

    /// @notice Shares of `controller`'s redeem request not yet filled by a strike.
    function pendingRedeemRequest(uint256 requestId, address controller) external view returns (uint256 shares);

    /// @notice Shares of `controller`'s filled redemptions not yet claimed.
    function claimableRedeemRequest(uint256 requestId, address controller) external view returns (uint256 shares);

    /// @notice Returns `controller`'s pending deposit to the controller before its window's
    ///         cut-off, after `shutdown`, or once `vault.strikeMaxWait` has passed since the
    ///         cut-off without a strike settling it, while no strike could settle it now
    ///         (`RequestWindowClosed` when one could: strike instead). Caller: the controller or
    ///         its operator.
    function cancelDepositRequest(address controller) external returns (uint256 assets);

    /// @notice Returns `controller`'s pending redeem shares to the controller before its window's
    ///         cut-off (`NoPendingRequest` once wholly filled: claim it instead). Caller: the
    ///         controller or its operator.
    function cancelRedeemRequest(address controller) external returns (uint256 shares);

    /// @notice ERC-7540: lets `operator` request, claim and cancel for the caller.
    function setOperator(address operator, bool approved) external returns (bool);

    /// @notice ERC-7540: whether `operator` acts for `controller`.
    function isOperator(address controller, address operator) external view returns (bool);

    /// @notice ERC-7575: the share token (this vault).
    function share() external view returns (address);

    /// @notice ERC-7575 share-to-vault lookup (the share is this vault): this vault for its
    ///         asset, the zero address for any other. ERC-165 reports it (0xf815c03d).
    function vault(address asset) external view returns (address);

    /// @notice Values every sleeve once and settles every request window that may settle (see
    ///         the lifecycle above). Anyone. Reverts `NothingToStrike` with no request waiting and
    ///         `StrikeNotReady` (naming the window's cut-off and the sleeve in the way) when
    ///         nothing can settle yet.
    /// @return strikeId The strike's number (`strikeCount() - 1`).
    function strike() external returns (uint256 strikeId);

    /// @notice Keeper trigger: `(true, strike calldata)` when a strike would settle something;
    ///         else `(false, reason)`.
    function strikeTrigger() external view returns (bool shouldAct, bytes memory data);

    /// @notice Strikes so far.
    function strikeCount() external view returns (uint256);

    /// @notice Assets of deposit requests no strike has settled (held apart, never invested).
    function pendingDeposits() external view returns (uint256);

    /// @notice Escrowed shares of redeem requests not yet filled.
    function pendingRedemptions() external view returns (uint256);

    /// @notice Assets set aside for filled redemptions not yet claimed.
    function claimableRedemptions() external view returns (uint256);

    /// @notice Request windows are `block.timestamp / 1 hours`: the open one, and the head of each
    ///         queue: the oldest window not yet settled (deposits) or filled (redemptions), or, with
    ///         the queue empty, one past the newest window it held. Every window below a head is
    ///         settled.
    function requestWindows() external view returns (uint256 open, uint256 depositHead, uint256 redeemHead);

    /// @notice Donations still locked (not yet in the share price) and when the lock ends; 0
    ///         locked after a shutdown.
    function lockedDonations() external view returns (uint256 locked, uint256 until);

    // ----------------------------------------------------------------- guardian, shutdown, allowlist

    /// @notice Stops rebalances (guardian or governance). Users are not affected.
    function pauseAutomation() external;

    /// @notice Lets rebalances resume (guardian or governance).
    function unpauseAutomation() external;

    /// @notice Stops deposits and rebalances for good (guardian or governance). Donations still
    ///         locked, and any made later (an executed slash), count in the share price at once
    ///         from then on: nobody can enter to snipe them, and the holders leaving are those
    ///         they are owed to (a lock would pay them to whoever stayed last, and what was still
    ///         locked when the last share left would be nobody's).
    function shutdown() external;

    /// @notice After shutdown, moves up to `assets` from `sleeve` back to idle. Anyone.
    function unwind(ISleeve sleeve, uint256 assets) external returns (uint256 withdrawn);

    /// @notice Turns the allowlist on or off (governance).
    function setAllowlistEnabled(bool enabled) external;

    /// @notice Allows or disallows `account` to deposit and hold shares (allowlist manager).
    ///         With the allowlist on, shares go only to allowed accounts, with two exceptions
    ///         that need no entry: the AgentRegistry and its treasury, the performance fee's
    ///         receivers, so that a strike taking a fee never stops on the allowlist. A claim's
    ///         shares go to its receiver: `maxDeposit`/`maxMint(controller)` report what the
    ///         controller may claim, and a controller taken off the list claims it to an
    ///         allowed receiver (`deposit(assets, receiver, controller)`).
    function setAllowed(address account, bool allowed) external;

    function automationPaused() external view returns (bool);

    function isShutdown() external view returns (bool);

    function allowlistEnabled() external view returns (bool);

    function isAllowed(address account) external view returns (bool);
}
