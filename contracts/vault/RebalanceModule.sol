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
import {SleeveModule} from "./SleeveModule.sol";
import {VaultMath} from "./VaultMath.sol";
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
    bytes32 internal constant STRIKE_MAX_WAIT = keccak256("vault.strikeMaxWait");
    bytes32 internal constant STALE_HAIRCUT_BPS = keccak256("vault.staleHaircutBps");
    /// @dev Share prices are assets per share scaled by 1e36 (see IRWAVault.setAgentRegistry).
    uint256 internal constant PRICE_SCALE = 1e36;
    /// @dev How long a sampled share price must stand before the fee is charged up to it: RWA
    ///      NAVs publish daily, and a peak that has not stood a day of publications is not
    ///      charged (IRWAVault.setAgentRegistry).
    uint256 internal constant FEE_HOLD = 1 days;

    /// @notice The registry the bounds are read from (the vault's, checked at vault construction).
    IParameterRegistry public immutable registry;
    /// @notice The sleeve administration and the decision views (`SleeveModule`), deployed by
    ///         this module's constructor: every call this module does not implement is
    ///         delegate-called there, in the vault's storage (the vault keeps one module address).
    SleeveModule public immutable sleeveModule;
    address private immutable _self;

    /// @notice The module was called directly instead of through the vault.
    error DelegateCallOnly();

    constructor(IParameterRegistry registry_) {
        registry = registry_;
        _self = address(this);
        sleeveModule = new SleeveModule(registry_);
    }

    /// @dev Runs the call in `sleeveModule` (still in the vault's storage), its revert bubbled up.
    fallback() external {
        _delegated();
        address target = address(sleeveModule);
        // Not memory-safe (it writes from offset 0), as OpenZeppelin's Proxy: the call ends here.
        assembly {
            calldatacopy(0, 0, calldatasize())
            let ok := delegatecall(gas(), target, 0, calldatasize(), 0, 0)
            returndatacopy(0, 0, returndatasize())
            if iszero(ok) { revert(0, returndatasize()) }
            return(0, returndatasize())
        }
    }

    /// @notice See `IRWAVault.rebalance`. Delegate-called by the vault only.
    /// @return decisionId The recorded decision.
    function rebalance(uint16[] calldata targetBps, bytes32 rationaleHash, string calldata rationaleURI)
        external
        returns (uint256 decisionId)
    {
        _delegated();
        VaultStorage.Layout storage $ = VaultStorage.layout();
        _checkCaller($, targetBps.length);
        (uint16[] memory oldBps, uint16[] memory newBps, uint256 navBefore, uint256 navAfter) =
            _rebalance($, targetBps);
        decisionId = $.decisions.length - 1;
        emit IRWAVault.Rebalanced(
            decisionId, msg.sender, oldBps, newBps, navBefore, navAfter, rationaleHash, rationaleURI
        );
        $.flags.lastRebalance = uint64(block.timestamp);
        IAgentRegistry($.agents).onDecision(msg.sender, decisionId);
    }

    /// @dev Checks the targets, moves the capital and records the decision (`_record`); refuses
    ///      one whose weights reached all equal the weights before (`NothingMoved`).
    function _rebalance(VaultStorage.Layout storage $, uint16[] calldata targetBps)
        internal
        returns (uint16[] memory oldBps, uint16[] memory newBps, uint256 navBefore, uint256 navAfter)
    {
        IERC20 token = IERC20(IERC4626(address(this)).asset());
        uint256[] memory held;
        (held, navBefore) = _freshHoldings($, token);
        if (navBefore == 0) revert IRWAVault.EmptyVault();
        oldBps = VaultMath.weights(held, navBefore);
        _checkBounds($, targetBps, oldBps);
        uint256 untouched = 0; // bit i: sleeve i's target is its weight now (left as it is)
        for (uint256 i; i < held.length; ++i) {
            if (targetBps[i] == oldBps[i]) untouched |= 1 << i;
        }
        _move($, token, targetBps, untouched, held, navBefore);
        (newBps, navAfter) = _record($, token, oldBps, navBefore, untouched);
        // A decision that moved no weight (targets at the weights now, or a sleeve that could
        // not take or pay) is no decision: it would restart the vault-wide cooldown for nothing.
        for (uint256 i; i < held.length; ++i) {
            if (newBps[i] != oldBps[i]) return (oldBps, newBps, navBefore, navAfter);
        }
        revert IRWAVault.NothingMoved();
    }

    /// @dev A strike's valuation: idle (pending deposits and unclaimed redemptions excluded),
    ///      sleeves low and high, the haircut on stale sleeves, the locked donations, the shares
    ///      (virtual ones included, after the fee).
    struct Valuation {
        uint256 idle;
        uint256 low;
        uint256 high;
        uint256 feeLow; // Σ min(low, high): the sleeves as the performance fee counts them
        uint256 haircut;
        uint256 locked;
        uint256 supply;
        uint256 stale; // bitmap of sleeves valued at their haircut last price
        uint256 deposited; // deposits this strike settles
        uint256 redeemNav; // the NAV redemptions are paid at
        uint256 forfeited; // paid in or left behind beyond the low NAV: lifts the mark
        uint256 left; // what the redemptions filled took out, at their price (deposits come after)
    }

    /// @dev What a strike may settle: deposit windows before `depositEnd` and redeem windows
    ///      before `redeemEnd` (walked along their queues, VaultStorage.Queue).
    struct Plan {
        uint256 depositEnd;
        uint256 redeemEnd;
        uint256 cutoff; // min over sleeves of the fresh prices' publication time (0: one is stale)
    }

    /// @dev No window (a walk found none).
    uint256 internal constant NONE = type(uint256).max;

    /// @notice See `IRWAVault.strike`. Delegate-called by the vault only.
    /// @return strikeId The strike's number.
    /// @return feeShares Performance-fee shares for the vault to mint to the AgentRegistry.
    /// @return minted Shares for the vault to mint to itself for the deposits settled.
    /// @return burned Escrowed shares for the vault to burn for the redemptions filled.
    function strike() external returns (uint256 strikeId, uint256 feeShares, uint256 minted, uint256 burned) {
        _delegated();
        Out memory o = _strike(VaultStorage.layout());
        return (o.strikeId, o.feeShares, o.minted, o.burned);
    }

    /// @dev Reverts unless run through the vault's `delegatecall` (one copy of the immutable's
    ///      32-byte push, not one per entry point: the module is near EIP-170's limit).
    function _delegated() internal view {
        if (address(this) == _self) revert DelegateCallOnly();
    }

    /// @dev What a strike hands the vault to mint and burn.
    struct Out {
        uint256 strikeId;
        uint256 feeShares;
        uint256 minted;
        uint256 burned;
    }

    function _strike(VaultStorage.Layout storage $) internal returns (Out memory o) {
        IERC20 token = IERC20(IERC4626(address(this)).asset());
        VaultStorage.Queue memory dq = $.depositQueue;
        VaultStorage.Queue memory rq = $.redeemQueue;
        if (dq.pending == 0 && rq.pending == 0) revert IRWAVault.NothingToStrike();
        (Valuation memory v, Plan memory p) = _plan($, token, rq);
        o.strikeId = $.strikes;
        IRWAVault.Strike memory k;
        k.redeemEpoch = type(uint64).max;
        // One walk marks the deposit windows past the cut-off settled by this strike.
        (v.deposited, k.depositEpoch) = _settleWindows($, dq, p.depositEnd, o.strikeId);
        bool redeems = _firstUnfilled($, rq, p.redeemEnd) != NONE;
        if (v.deposited == 0 && !redeems) _notReady($, dq, rq);
        $.strikes = o.strikeId + 1;

        // The fee first, on every share before anything settles (IRWAVault.setAgentRegistry).
        v.supply = IERC20(address(this)).totalSupply() + 10 ** _offset(token);
        // Each sleeve at the lower of its low and high: a sleeve may gross its low up for the
        // stale haircut (the lending book: `low` above `high`), which is no gain; the haircut
        // itself is no loss (taking it off would leave a leaver's gain that stood uncharged).
        o.feeShares = _performanceFee($, v.idle + v.feeLow, v.supply);
        v.supply += o.feeShares;

        // Redemptions get the low NAV less the haircut and what is still locked.
        v.redeemNav = v.idle + v.low;
        v.redeemNav = v.redeemNav > v.haircut + v.locked ? v.redeemNav - v.haircut - v.locked : 0;
        k.redeemPrice = (v.redeemNav + 1).mulDiv(PRICE_SCALE, v.supply);
        // The deposits settled here are the vault's cash from now on: redemptions may be paid
        // from them (their shares are priced below, after the redemptions).
        if (v.deposited != 0) $.depositQueue.pending = dq.pending - uint128(v.deposited);
        if (redeems) {
            (o.burned, k.redeemAssets, k.redeemEpoch) = _fill($, token, rq, p.redeemEnd, v.redeemNav, v.supply);
            k.redeemShares = o.burned;
            // What leavers leave behind stays with those who held before them: the locked
            // donations and the sleeves' high value less what the leavers were paid on (low less
            // the haircut): `high + haircut - low`, the haircut and a stale sleeve's spread, or
            // the exposed debt where the book grossed its low up (0 when every sleeve is fresh:
            // low == high). It lifts the mark as a donation would (never performance), and
            // deposits are priced after it, on the NAV and shares the leavers left (their
            // price's worth, `v.left`, taken out, rounded down): a deposit settled beside a
            // leaver buys its forfeit, never shares it.
            uint256 behind = (v.high + v.haircut).saturatingSub(v.low) + v.locked;
            v.forfeited += o.burned.mulDiv(behind, v.supply, Math.Rounding.Ceil);
            v.left = o.burned.mulDiv(v.redeemNav + 1, v.supply);
            v.supply -= o.burned;
        }
        // Deposits pay the high NAV, locked donations included: nobody buys a donation cheap.
        k.depositPrice = (v.idle + v.high + 1 - v.left).mulDiv(PRICE_SCALE, v.supply);
        if (v.deposited != 0) o.minted = _priceDeposits($, v, k, o.strikeId);
        if (v.forfeited != 0) {
            $.highWaterMark += v.forfeited.mulDiv(PRICE_SCALE, v.supply + o.minted, Math.Rounding.Ceil);
        }
        $.flags.lastNav = SafeCast.toUint128(v.redeemNav + k.depositAssets - k.redeemAssets);
        emit IRWAVault.StrikeSettled(o.strikeId, k, v.locked, v.stale);
    }

    /// @notice See `IRWAVault.liquidity`; run by the vault's view through `moduleView`. A sleeve
    ///         whose view reverts counts as illiquid.
    function liquidity() external view returns (uint256) {
        return _liquidity(VaultStorage.layout(), IERC20(IERC4626(address(this)).asset()));
    }

    function _liquidity(VaultStorage.Layout storage $, IERC20 token) internal view returns (uint256 liquid) {
        liquid = VaultMath.idle($, token);
        uint256 n = $.sleeves.length;
        for (uint256 i; i < n; ++i) {
            try $.sleeves[i].sleeve.availableLiquidity() returns (uint256 a) {
                liquid += a;
            } catch {}
        }
    }

    /// @notice The first request window whose deposits a strike now would not settle (`_plan`);
    ///         run by the vault's late `cancelDepositRequest` through `moduleView`.
    function depositEnd() external view returns (uint256) {
        VaultStorage.Layout storage $ = VaultStorage.layout();
        (, Plan memory p) = _plan($, IERC20(IERC4626(address(this)).asset()), $.redeemQueue);
        return p.depositEnd;
    }

    /// @notice See `IRWAVault.strikeTrigger`; run by the vault's view through `moduleView`.
    function strikeTrigger() external view returns (bool, bytes memory) {
        VaultStorage.Layout storage $ = VaultStorage.layout();
        VaultStorage.Queue memory dq = $.depositQueue;
        VaultStorage.Queue memory rq = $.redeemQueue;
        if (dq.pending == 0 && rq.pending == 0) return (false, bytes("no request"));
        IERC20 token = IERC20(IERC4626(address(this)).asset());
        (Valuation memory v, Plan memory p) = _plan($, token, rq);
        if (_oldestDeposit($, dq, p.depositEnd) != NONE) return (true, abi.encodeCall(IRWAVault.strike, ()));
        if (_firstUnfilled($, rq, p.redeemEnd) == NONE) {
            return (false, bytes("no request window past a published price"));
        }
        // Redemptions only: worth a strike when the liquidity reachable pays at least one share.
        uint256 nav = v.idle + v.low;
        nav = nav > v.haircut + v.locked ? nav - v.haircut - v.locked : 0;
        uint256 supply = IERC20(address(this)).totalSupply() + 10 ** _offset(token);
        uint256 payable_ = _liquidity($, token).mulDiv(supply, nav + 1); // shares it could fill
        if (payable_.mulDiv(nav + 1, supply) == 0) return (false, bytes("no liquidity"));
        return (true, abi.encodeCall(IRWAVault.strike, ()));
    }

    /// @dev Values every sleeve once and plans the windows: a window settles when every price was
    ///      published at or after its end (its cut-off); redemptions also from
    ///      `vault.strikeMaxWait` after the cut-off, valuing the sleeves whose price is older at
    ///      their last price less `vault.staleHaircutBps` — once each such sleeve has gone
    ///      `vault.strikeMaxWait` without a fresh price (`ISleeve.strikeValuation`'s time): a move
    ///      waiting for its confirmation hour or a heartbeat a moment late is waited for, never
    ///      charged to a window that had waited for liquidity. The open window never settles.
    function _plan(VaultStorage.Layout storage $, IERC20 token, VaultStorage.Queue memory rq)
        internal
        view
        returns (Valuation memory v, Plan memory p)
    {
        v.idle = VaultMath.idle($, token);
        uint256 n = $.sleeves.length;
        uint256[] memory lows = new uint256[](n);
        uint256[] memory times = new uint256[](n);
        uint256 unfresh = 0; // bitmap of the sleeves not fresh
        p.cutoff = type(uint256).max;
        for (uint256 i; i < n; ++i) {
            (uint256 lo, uint256 hi, uint256 at, bool fresh) = $.sleeves[i].sleeve.strikeValuation();
            (v.low, v.high, lows[i], times[i]) = (v.low + lo, v.high + hi, lo, at);
            v.feeLow += Math.min(lo, hi);
            if (!fresh) (unfresh, at) = (unfresh | 1 << i, 0);
            if (at < p.cutoff) p.cutoff = at;
        }
        uint256 open = block.timestamp / VaultStorage.WINDOW;
        uint256 freshEnd = Math.min(open, p.cutoff / VaultStorage.WINDOW);
        p.depositEnd = $.flags.shutdown ? 0 : freshEnd;
        p.redeemEnd = freshEnd;
        uint256 wait = registry.get(STRIKE_MAX_WAIT);
        if (block.timestamp >= wait) {
            uint256 staleEnd = Math.min(open, (block.timestamp - wait) / VaultStorage.WINDOW);
            // The haircut applies when a window past the fresh cut-off is to be filled: to the
            // sleeves not fresh or whose price is older than the newest such window's cut-off.
            uint256 last = _lastUnfilled($, rq, p.redeemEnd, staleEnd);
            if (last != NONE && _valueStale(v, lows, times, unfresh, (last + 1) * VaultStorage.WINDOW, wait)) {
                p.redeemEnd = last + 1;
            }
        }
        v.locked = _lockedNow($);
    }

    /// @dev Values as stale the sleeves not fresh (`unfresh`) or published before `end` (a
    ///      window's cut-off): `v.stale`, `v.haircut`. False (nothing valued) when one of them
    ///      has been without a fresh price for less than `wait`: the window waits for it.
    function _valueStale(
        Valuation memory v,
        uint256[] memory lows,
        uint256[] memory times,
        uint256 unfresh,
        uint256 end,
        uint256 wait
    ) internal view returns (bool) {
        uint256 bps = registry.get(STALE_HAIRCUT_BPS);
        for (uint256 i; i < lows.length; ++i) {
            if (unfresh >> i & 1 == 0 && times[i] >= end) continue;
            if (times[i] + wait > block.timestamp) {
                (v.stale, v.haircut) = (0, 0);
                return false;
            }
            v.stale |= 1 << i;
            v.haircut += lows[i].mulDiv(bps, BPS, Math.Rounding.Ceil);
        }
        return true;
    }

    // Queue walks (VaultStorage.Queue): from the head, window to window through `next`, stopping
    // at the first window not before `end` or after the tail, and after MAX_WINDOWS windows that
    // hold something (a window whose requests were all cancelled costs a read and counts for
    // nothing: it can never wall off the windows behind it).

    /// @dev The oldest window before `end` with deposits waiting (NONE: none).
    function _oldestDeposit(VaultStorage.Layout storage $, VaultStorage.Queue memory q, uint256 end)
        internal
        view
        returns (uint256)
    {
        uint256 w = q.head;
        while (w <= q.tail && w < end) {
            VaultStorage.DepositWindow storage x = $.depositWindows[w];
            if (x.assets != 0) return w;
            if (w == q.tail) break;
            w = x.next;
        }
        return NONE;
    }

    /// @dev The oldest window before `end` with redemptions not yet filled (NONE: none).
    function _firstUnfilled(VaultStorage.Layout storage $, VaultStorage.Queue memory q, uint256 end)
        internal
        view
        returns (uint256)
    {
        uint256 w = q.head;
        while (w <= q.tail && w < end) {
            VaultStorage.RedeemWindow storage x = $.redeemWindows[w];
            if (x.requested != x.filled) return w;
            if (w == q.tail) break;
            w = x.next;
        }
        return NONE;
    }

    /// @dev The newest window in [from, to) with redemptions not yet filled (NONE: none).
    function _lastUnfilled(VaultStorage.Layout storage $, VaultStorage.Queue memory q, uint256 from, uint256 to)
        internal
        view
        returns (uint256 last)
    {
        last = NONE;
        uint256 w = q.head;
        for (uint256 n; w <= q.tail && w < to && n < VaultStorage.MAX_WINDOWS;) {
            VaultStorage.RedeemWindow storage x = $.redeemWindows[w];
            if (x.requested != x.filled) {
                ++n;
                if (w >= from) last = w;
            }
            if (w == q.tail) break;
            w = x.next;
        }
    }

    /// @dev Marks the deposit windows before `end` settled by strike `strikeId` and moves the
    ///      queue's head past them (a window with every request cancelled is dropped on the way).
    ///      Returns their assets and the newest window settled (type(uint64).max: none).
    function _settleWindows(
        VaultStorage.Layout storage $,
        VaultStorage.Queue memory q,
        uint256 end,
        uint256 strikeId
    ) internal returns (uint256 assets, uint64 last) {
        last = type(uint64).max;
        uint64 w = q.head;
        for (uint256 n; w <= q.tail && w < end && n < VaultStorage.MAX_WINDOWS;) {
            VaultStorage.DepositWindow storage x = $.depositWindows[w];
            uint256 a = x.assets;
            if (a != 0) {
                (x.strikePlusOne, assets, last) = (uint64(strikeId + 1), assets + a, w);
                ++n;
            }
            if (w == q.tail) {
                w = q.tail + 1; // the queue is empty
                break;
            }
            w = x.next;
        }
        if (w != q.head) $.depositQueue.head = w;
    }

    /// @dev Prices the deposits `_settleWindows` settled at the high NAV; returns the shares to
    ///      mint; what they paid above the low NAV is not performance (`v.forfeited`).
    function _priceDeposits(
        VaultStorage.Layout storage $,
        Valuation memory v,
        IRWAVault.Strike memory k,
        uint256 strikeId
    ) internal returns (uint256 minted) {
        uint256 deposited = v.deposited;
        uint256 nav = v.idle + v.high + 1 - v.left;
        k.depositAssets = deposited;
        // Shares rounded down: the vault keeps the dust.
        minted = k.depositShares = deposited.mulDiv(v.supply, nav);
        $.depositPrices[strikeId] = VaultStorage.Price(SafeCast.toUint128(nav), SafeCast.toUint128(v.supply));
        // What the deposits pay above the mark for their shares, and at least what they pay above
        // the low NAV, lifts the mark (never lowering it): a gain not yet charged stays
        // chargeable only to the shares that held it, and a deposit's premium is never
        // performance, above the mark or below it (IRWAVault.setAgentRegistry). Rounded up.
        uint256 worth = minted.mulDiv($.highWaterMark, PRICE_SCALE, Math.Rounding.Ceil);
        v.forfeited += Math.max(
            deposited.mulDiv(v.high - v.low, nav, Math.Rounding.Ceil), deposited > worth ? deposited - worth : 0
        );
    }

    /// @dev Reverts `StrikeNotReady` naming the oldest window waiting and the first sleeve whose
    ///      price is older than its cut-off (none: that window is still open).
    function _notReady(VaultStorage.Layout storage $, VaultStorage.Queue memory dq, VaultStorage.Queue memory rq)
        internal
        view
    {
        uint256 open = block.timestamp / VaultStorage.WINDOW;
        uint256 w = _oldestDeposit($, dq, open);
        if (w == NONE) w = open;
        uint256 x = _firstUnfilled($, rq, Math.min(w + 1, open));
        bool redeems = x != NONE;
        if (redeems) w = x;
        else if (w == open) redeems = $.redeemWindows[open].requested != $.redeemWindows[open].filled;
        uint256 cutoff = (w + 1) * VaultStorage.WINDOW;
        address blocker;
        uint256 at;
        uint256 ready = cutoff; // the latest stale clock of the sleeves in the way (`_plan`)
        uint256 n = $.sleeves.length;
        for (uint256 i; i < n && w < open; ++i) {
            (,, uint256 t, bool fresh) = $.sleeves[i].sleeve.strikeValuation();
            if (fresh && t >= cutoff) continue;
            if (blocker == address(0)) (blocker, at) = (address($.sleeves[i].sleeve), t);
            if (t > ready) ready = t;
        }
        // Only redemptions may settle with a stale sleeve, once every sleeve in the way has gone
        // the wait without a fresh price (`_plan`); a window of deposits only waits.
        uint256 staleReadyAt = redeems ? ready + registry.get(STRIKE_MAX_WAIT) : 0;
        revert IRWAVault.StrikeNotReady(blocker, at, cutoff, staleReadyAt);
    }

    /// @dev Fills the redeem windows before `end` first in, first out at `(nav + 1) / supply` per
    ///      share, pro rata within a window, from idle and then the sleeves' liquidity; what a
    ///      pull lost (issuers' rounding, an issuer's redemption fee) is charged to the windows
    ///      filled pro rata to what each is paid of all it pays. Returns the shares filled, the
    ///      assets set aside and the newest window touched.
    function _fill(
        VaultStorage.Layout storage $,
        IERC20 token,
        VaultStorage.Queue memory q,
        uint256 end,
        uint256 nav,
        uint256 supply
    ) internal returns (uint256 burned, uint256 paid, uint64 last) {
        uint256 need;
        uint64 w = q.head;
        for (uint256 n; w <= q.tail && w < end && n < VaultStorage.MAX_WINDOWS;) {
            VaultStorage.RedeemWindow memory x = $.redeemWindows[w];
            if (x.requested != x.filled) {
                need += uint256(x.requested - x.filled).mulDiv(nav + 1, supply);
                ++n;
            }
            if (w == q.tail) break;
            w = x.next;
        }
        (uint256 budget, uint256 loss) = _pull($, token, need);
        uint256 lost = loss;
        if (budget > need) budget = need;
        need = budget; // what the walk pays in all: the loss is shared pro rata to it
        last = type(uint64).max; // none filled
        w = q.head;
        for (uint256 n; w <= q.tail && w < end && n < VaultStorage.MAX_WINDOWS;) {
            VaultStorage.RedeemWindow storage x = $.redeemWindows[w];
            uint256 shares = x.requested - x.filled;
            if (shares != 0) {
                ++n;
                uint256 assets = shares.mulDiv(nav + 1, supply); // down
                if (assets > budget) {
                    shares = budget.mulDiv(supply, nav + 1); // down
                    assets = shares.mulDiv(nav + 1, supply);
                }
                if (shares == 0) break;
                // The pull's loss, pro rata to what each window is paid of all the walk pays
                // (`need`, set to the budget: less than asked when liquidity is short, else the
                // unpaid part of the loss fell on the head window's shares, capped by what it
                // asked, and the rest on those who stay): `lost · assets / need` rounded up,
                // capped by what is left of it (the charges never exceed the loss; the first
                // windows bear the rounding) and by `assets`; a loss above what is paid is
                // charged after the walk. (A charge only where assets are paid: `need` > 0.)
                uint256 charge = Math.min(loss, assets);
                if (charge != 0) charge = Math.min(charge, lost.mulDiv(assets, need, Math.Rounding.Ceil));
                (loss, budget, last) = (loss - charge, budget - assets, w);
                x.filled += uint128(shares);
                x.assets += SafeCast.toUint128(assets - charge);
                (burned, paid) = (burned + shares, paid + assets - charge);
                if (x.filled != x.requested) break; // partly filled: it keeps its place at the head
            }
            if (w == q.tail) {
                w = q.tail + 1; // the queue is empty
                break;
            }
            w = x.next;
        }
        // A pull loss no payment covered is charged to the window that caused it, in escrowed
        // shares filled for nothing, never to those who stay.
        if (loss != 0 && w <= q.tail && w < end) {
            VaultStorage.RedeemWindow storage x = $.redeemWindows[w];
            uint256 charged = Math.min(x.requested - x.filled, loss.mulDiv(supply, nav + 1, Math.Rounding.Ceil));
            x.filled += uint128(charged);
            burned += charged;
        }
        $.redeemQueue = VaultStorage.Queue(w, q.tail, q.pending - uint128(burned));
        $.reservedAssets += paid;
    }

    /// @dev Pulls from sleeves in withdraw-queue order until idle covers `assets` (best effort; a
    ///      sleeve that reverts is skipped, never allowed to block exits). Returns idle after and
    ///      the valuation the pull lost to the issuers' rounding.
    function _pull(VaultStorage.Layout storage $, IERC20 token, uint256 assets)
        internal
        returns (uint256 have, uint256 loss)
    {
        have = VaultMath.idle($, token);
        if (have >= assets) return (have, 0);
        uint256 n = $.withdrawQueue.length;
        uint256 before = have + _sleevesValue($);
        for (uint256 i; i < n && have < assets; ++i) {
            ISleeve sleeve = $.sleeves[$.withdrawQueue[i]].sleeve;
            uint256 ask = assets - have;
            try sleeve.availableLiquidity() returns (uint256 a) {
                if (a == 0) continue;
                if (a < ask) ask = a;
            } catch {
                continue;
            }
            try sleeve.withdraw(ask) {
                have = VaultMath.idle($, token);
            } catch {
                emit IRWAVault.SleeveWithdrawFailed(address(sleeve), ask);
            }
        }
        uint256 afterPull = have + _sleevesValue($);
        loss = before > afterPull ? before - afterPull : 0;
    }

    function _sleevesValue(VaultStorage.Layout storage $) internal view returns (uint256 total) {
        uint256 n = $.sleeves.length;
        for (uint256 i; i < n; ++i) {
            total += $.sleeves[i].sleeve.totalAssets();
        }
    }

    /// @dev As RWAVault._locked: linear unlock, rounded up; nothing after a shutdown.
    function _lockedNow(VaultStorage.Layout storage $) internal view returns (uint256) {
        VaultStorage.Lock memory l = $.lock;
        if (block.timestamp >= l.end || $.flags.shutdown) return 0;
        return uint256(l.amount).mulDiv(l.end - block.timestamp, l.end - l.start, Math.Rounding.Ceil);
    }

    function _offset(IERC20 token) internal view returns (uint256) {
        return IERC20Metadata(address(this)).decimals() - IERC20Metadata(address(token)).decimals();
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

    /// @dev The performance fee on the share price at `nav` with `supply` shares (virtual ones
    ///      included; formulas: IRWAVault.setAgentRegistry): charged only up to the lower of the
    ///      price now and the price sampled at a strike at least FEE_HOLD ago. Moves the sample and
    ///      the high-water mark; returns the shares to mint.
    function _performanceFee(VaultStorage.Layout storage $, uint256 nav, uint256 supply)
        internal
        returns (uint256 feeShares)
    {
        VaultStorage.FeeSample storage sample = $.feeSample;
        // The sample ages until it has stood FEE_HOLD: nothing is charged, nothing moves.
        if (block.timestamp < sample.at + FEE_HOLD) return 0;
        uint256 price = (nav + 1).mulDiv(PRICE_SCALE, supply); // down: never overstates the gain
        uint256 post = price; // the price after the fee's mint: the next sample
        uint256 charged = Math.min(price, sample.price); // the price that stood (0 at the first strike)
        uint256 mark = $.highWaterMark;
        if (charged > mark) {
            uint256 gain = (charged - mark).mulDiv(supply, PRICE_SCALE); // down
            // No AgentRegistry yet: no fee (the mark follows the charged price), the strike goes on.
            uint256 fee = $.agents == address(0) ? 0 : gain.mulDiv(registry.get(PERFORMANCE_FEE_BPS), BPS); // down
            if (fee != 0) {
                // Shares worth `fee` once minted (Morpho's formula), rounded down: never over-minted.
                feeShares = fee.mulDiv(supply, nav + 1 - fee);
                // Rounded down, as the next strike computes its price (at this NAV it sees `post`).
                post = (nav + 1).mulDiv(PRICE_SCALE, supply + feeShares);
            }
            // The price after the mint less the part not charged, `price - charged`, spread over
            // the shares with the fee's (the fee's shares never pay the fee on a gain made before
            // them): `charged` when nothing is minted, `post` when all of the gain stood. The
            // part spread is rounded down (the mark up): at this NAV the next strike charges at
            // most the assets of the gain not charged now, never the gain charged now. The
            // `max` guards the rounding.
            mark = Math.max(mark, post - (price - charged).mulDiv(supply, supply + feeShares));
            $.highWaterMark = mark;
            if (feeShares != 0) emit IRWAVault.PerformanceFeeTaken(gain, fee, feeShares, mark);
        }
        $.feeSample = VaultStorage.FeeSample(post, uint64(block.timestamp));
    }

    /// @dev Each sleeve's valuation and the NAV; reverts when any price behind them is stale.
    function _freshHoldings(VaultStorage.Layout storage $, IERC20 token)
        internal
        view
        returns (uint256[] memory held, uint256 nav)
    {
        uint256 n = $.sleeves.length;
        held = new uint256[](n);
        nav = VaultMath.idle($, token);
        for (uint256 i; i < n; ++i) {
            ISleeve sleeve = $.sleeves[i].sleeve;
            (uint256 a, bool fresh) = sleeve.valuation();
            if (!fresh) revert IRWAVault.StaleValuation(address(sleeve));
            held[i] = a;
            nav += a;
        }
    }

    /// @dev Every rebalance bound, on the targets: caps, idle buffer, turnover. The turnover limit
    ///      yields only to the least turnover any target meeting the caps and the buffer needs
    ///      from the weights now (`need`: weights drifted, or exits paid from idle, further from
    ///      them than one turnover): a decision can always bring the vault back within the DAO's
    ///      caps and buffer, and move no more than that.
    function _checkBounds(VaultStorage.Layout storage $, uint16[] calldata targetBps, uint16[] memory oldBps)
        internal
        view
    {
        uint256 sumTarget;
        uint256 sumOld;
        uint256 moved;
        uint256 kept; // Σ min(weight now, cap): what the caps let stay invested
        for (uint256 i; i < targetBps.length; ++i) {
            uint256 t = targetBps[i];
            uint256 cap = registry.get($.sleeves[i].capKey);
            if (t > cap) revert IRWAVault.SleeveCapExceeded(i, t, cap);
            sumTarget += t;
            sumOld += oldBps[i];
            kept += Math.min(oldBps[i], cap);
            moved += t > oldBps[i] ? t - oldBps[i] : oldBps[i] - t;
        }
        uint256 minIdle = registry.get(IDLE_BUFFER_BPS);
        uint256 idleTarget = sumTarget >= BPS ? 0 : BPS - sumTarget;
        if (sumTarget > BPS || idleTarget < minIdle) revert IRWAVault.IdleBufferBreached(idleTarget, minIdle);
        uint256 idleOld = BPS - sumOld;
        moved += idleTarget > idleOld ? idleTarget - idleOld : idleOld - idleTarget;
        // Turnover ½ Σ|Δw| over sleeves and idle, rounded up (never under-counted).
        uint256 turnover = (moved + 1) / 2;
        // minIdle <= idleTarget <= BPS here; sumOld >= kept.
        uint256 need = sumOld - Math.min(kept, BPS - minIdle);
        uint256 maxTurnover = Math.max(registry.get(MAX_TURNOVER_BPS), need);
        if (turnover > maxTurnover) revert IRWAVault.TurnoverExceeded(turnover, maxTurnover);
    }

    /// @dev Pulls from over-weight sleeves first (up to their liquidity), then funds under-weight
    ///      ones from idle, never taking idle below its target. A sleeve whose target is its
    ///      weight now is left as it is (not trimmed to the bps below what it holds): a decision
    ///      moves only what it asked to, so an open price band elsewhere does not hold it up.
    ///      Those sleeves are the bits of `untouched`.
    function _move(
        VaultStorage.Layout storage $,
        IERC20 token,
        uint16[] calldata targetBps,
        uint256 untouched,
        uint256[] memory held,
        uint256 nav
    ) internal {
        uint256 n = held.length;
        uint256[] memory want = new uint256[](n);
        uint256 idleTarget = nav;
        for (uint256 i; i < n; ++i) {
            want[i] = (untouched >> i) & 1 == 1 ? held[i] : nav.mulDiv(targetBps[i], BPS);
            idleTarget -= want[i];
            if (held[i] > want[i]) $.sleeves[i].sleeve.withdraw(held[i] - want[i]);
        }
        uint256 idleNow = VaultMath.idle($, token);
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
    ///      A sleeve the decision left as it is (bit i of `untouched`) is recorded at its weight
    ///      before: its weight reached may tick by a bps when another move's rounding or issuer
    ///      fee moves the NAV, which is no decision on it (it is not judged on that tick, and its
    ///      open band, if any, does not hold the decision up: see _checkReached).
    function _record(
        VaultStorage.Layout storage $,
        IERC20 token,
        uint16[] memory oldBps,
        uint256 navBefore,
        uint256 untouched
    ) internal returns (uint16[] memory newBps, uint256 navAfter) {
        uint256 n = oldBps.length;
        uint256[] memory held = new uint256[](n);
        VaultStorage.DecisionSlot storage d = $.decisions.push();
        navAfter = VaultMath.idle($, token);
        uint256 unconfirmed = 0; // bit i: sleeve i's return index is not fresh (see _checkReached)
        for (uint256 i; i < n; ++i) {
            ISleeve sleeve = $.sleeves[i].sleeve;
            held[i] = sleeve.totalAssets();
            navAfter += held[i];
            (uint256 index, bool fresh) = sleeve.returnIndexStatus();
            d.startIndex[i] = index;
            if (!fresh) unconfirmed |= 1 << i;
        }
        newBps = VaultMath.weights(held, navAfter);
        _checkReached($, oldBps, newBps, unconfirmed & ~untouched);
        for (uint256 i; i < n; ++i) {
            if ((untouched >> i) & 1 == 1) newBps[i] = oldBps[i];
        }
        (d.agent, d.timestamp, d.sleeveSet) = (msg.sender, uint64(block.timestamp), _sleeveSet($, n));
        (d.navBefore, d.navAfter) = (SafeCast.toUint128(navBefore), SafeCast.toUint128(navAfter));
        (d.oldBps, d.newBps) = (_pack(oldBps), _pack(newBps));
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

    /// @dev The weights reached keep the bounds the targets did: a sleeve the move raised is within
    ///      its cap, and idle, if the move lowered it, within the buffer. (A sleeve whose issuer
    ///      could not pay may stay above a cap it was already above.) A sleeve whose weight moved
    ///      has a fresh return index (bit i of `unconfirmed` clear; the sleeves left untouched,
    ///      recorded unmoved, are cleared by the caller): a decision never starts from a price
    ///      round the oracle has not confirmed (a band open), as it is never judged on one.
    function _checkReached(
        VaultStorage.Layout storage $,
        uint16[] memory oldBps,
        uint16[] memory newBps,
        uint256 unconfirmed
    ) internal view {
        uint256 sumOld;
        uint256 sumNew;
        for (uint256 i; i < newBps.length; ++i) {
            (sumOld, sumNew) = (sumOld + oldBps[i], sumNew + newBps[i]);
            if (newBps[i] != oldBps[i] && (unconfirmed >> i) & 1 == 1) {
                revert IRWAVault.StaleValuation(address($.sleeves[i].sleeve));
            }
            if (newBps[i] <= oldBps[i]) continue;
            uint256 cap = registry.get($.sleeves[i].capKey);
            if (newBps[i] > cap) revert IRWAVault.ReachedOutsideBounds(i, newBps[i], cap);
        }
        // Weights round down, so idle's share (the remainder) is never understated.
        uint256 minIdle = registry.get(IDLE_BUFFER_BPS);
        if (sumNew > sumOld && BPS - sumNew < minIdle) {
            revert IRWAVault.ReachedOutsideBounds(type(uint256).max, BPS - sumNew, minIdle);
        }
    }

    /// @dev 16 bits per weight, sleeve i in bits [16i, 16i + 16).
    function _pack(uint16[] memory bps) internal pure returns (uint256 packed) {
        for (uint256 i; i < bps.length; ++i) {
            packed |= uint256(bps[i]) << (16 * i);
        }
    }
}
