// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ISleeve} from "interfaces/ISleeve.sol";

/// @title ILendingSleeve
/// @notice The vault's lending book: borrowers post tokenized RWAs as collateral and borrow the
///         vault's stablecoin; the vault is the only lender and earns all the interest.
/// @dev Units: amounts in token units; prices, indices and rates in WAD; weights in bps.
///
///      Accounting (all exact integer rules, mirrored by `keepers/math.py`):
///      - Debt is kept in scaled units: `debt = ceil(scaled * borrowIndex / WAD)` for a borrower
///        (rounded up: the borrower owes the protocol the rounding), and the book counts
///        `totalDebt = floor(totalScaled * borrowIndex / WAD)` (rounded down: the vault never
///        counts a wei nobody owes). Σ borrowers' scaled == totalScaled, always.
///      - Borrowing `x` adds `ceil(x * WAD / borrowIndex)` scaled units; repaying `y` below the
///        debt removes `floor(y * WAD / borrowIndex)`; repaying the whole debt removes all.
///      - Interest accrues lazily at the stored rate, linear between two accruals:
///        `borrowIndex += ceil(borrowIndex * rate * dt / (WAD * 365 days))`. The rate is the
///        InterestRateModel's answer for the book's utilization right after the last action
///        that changed cash or debt (Aave's and Compound's rule). A change of `lend.rate.*`
///        therefore takes effect at the next such action or `accrueInterest()` call.
///      - `totalAssets() = cash + totalDebt` (with interest accrued to now). `cash` counts only
///        stablecoin that came in through `deposit`, `repay` and `liquidate`: donations are not
///        assets. `returnIndex()` is the supply index: it grows by `interest / (cash + debt)` at
///        each accrual and falls by `loss / (cash + debt)` at each bad-debt write-off.
///      - As a sleeve, the book is only as good as a price it can liquidate at: while listed
///        tokens with no fresh price back more than 1 bps of its value (what the positions'
///        shares of them owe now: each position's scaled debt is split over its tokens as its
///        principal is, so that debt carries its own interest and no other position's borrow
///        or repayment moves it), `strikeValuation` and `returnIndexStatus` report it not
///        fresh (strikes, evaluations and decisions moving the book wait; the stale clock is
///        those tokens' newest round), and `strikeValuation`'s `low` leaves that debt out for
///        leavers, grossed up by `vault.staleHaircutBps` so the strike's haircut charges the
///        doubt once: leavers bear that debt, never the haircut on the rest of the book (so
///        `low` exceeds `high` while that debt is under the haircut's share of the book; the
///        vault's fee counts a sleeve at the lower of the two). `valuation()` stays nominal and
///        fresh.
///      - Collateral value: `value = floor(amount * price * assetUnit / (WAD * tokenUnit))` with
///        the OracleRouter's WAD price. Health factor, WAD:
///        `health = floor(Σ value_t * threshold_t * WAD / (debt * 10_000))`, max uint for no
///        debt. Borrow power: `floor(Σ value_t * min(ltv_t, threshold_t) / 10_000)`.
///
///      Rules:
///      - `borrow` and `withdrawCollateral` use fresh prices only, each the low end of the
///        router's `priceBand` (the live price, or the lower of it and the reference while a move
///        beyond `oracle.maxDeviationBps` is unconfirmed; reverting `StalePrice` as `price`
///        does), and no more than the reference while it is younger than `oracle.confirmDelay`
///        (two rounds within the band are not one move beyond it), and must leave debt <=
///        borrow power (LTV, below the liquidation
///        threshold, so a position the borrower opens is never liquidatable at once). A borrow
///        must leave debt >= `lend.minDebt`; a repay must leave 0 or >= `lend.minDebt` (unless
///        the debt was below it already): positions too small to liquidate economically are
///        never created.
///      - `lend.borrowCap.<token>` caps the principal (interest excluded, as Aave's isolation
///        debt ceiling) that rests on `<token>`. A position's principal is attributed to its
///        tokens pro rata to what each adds to its borrow power, `w_t = value_t * min(ltv_t,
///        threshold_t)` at the router's best price (`tryPrice`): token k of the position (listing
///        order) gets `floor(P * W_k / W) - floor(P * W_(k-1) / W)`, `W_k` the weights up to k,
///        so the shares add up to the principal exactly (equal weights if all are 0).
///        `capUsageOf(borrower, token)` is that share, `capUsage(token)` their sum. The shares
///        are re-attributed at every borrow, collateral withdrawal, deposit behind debt and
///        liquidation (at its prices) and scaled down pro rata by a repayment (same cumulative
///        rounding: none rises); a deposit without debt attributes nothing. A borrow or
///        withdrawal is refused (`BorrowCapExceeded`) only if a token whose share it raises ends
///        above its cap, a deposit behind debt only if the token posted does (it rests part of
///        the debt on that token, so the book counts that part exposed when the token's price
///        stops; another token's share rises there only as prices moved since the last
///        attribution, recorded unchecked as a liquidation's: a top-up is never refused for a
///        cap the borrower did not post into): a position's debt weighs on a cap only as far as that token
///        backs it, so a wei of a token (a dust holding: weight ~0) neither counts against its cap
///        nor lets anyone block other holders' borrows (L-1); a token at its cap still takes no
///        more debt, so the caps bound the exposure resting on each token at the last
///        re-attribution. Moving debt onto a capped token by withdrawing the others is a borrow
///        against it, and so is posting a token behind debt taken elsewhere. Adding collateral
///        without debt, repaying and liquidating are never blocked by a cap; 0 stops new
///        borrowing against the token.
///        Repayments pay interest first, then principal.
///      - Loans have no term while the vault runs. Once it is shut down anyone may call them
///        (`callLoans`, once): they fall due `lend.callNoticePeriod` later (`loansDueAt`, fixed at
///        the call). Until then nothing changes for a borrower (who may not borrow more since the
///        shutdown); from then on every position with debt is liquidatable as if its health
///        were 0: the health check is skipped and the whole debt may be repaid at once (no close
///        factor: the loan is due whole, and the vault's leavers wait on all of it), with the
///        usual bonus, dust and fresh-price rules. So the lent cash comes back without the
///        borrowers' cooperation: a borrower who has not repaid by then pays the bonus.
///      - `liquidate` works only when health < 1 (0 once the loans are due) and the seized token's
///        price is fresh. Its health, seizure and dust rule value every token of the position at
///        the router's `liquidationPrice` (the live price, never below the lower edge of
///        `oracle.maxDeviationBps` around the reference, the edge rounded down), so one faulty low
///        round of any token moves a liquidation no more than a round at the band's edge could; a
///        real fall counts at once up to that edge, in full once the router confirmed it
///        (`oracle.confirmDelay` after it was first poked); a rise counts at once (never above the
///        live price: a position with health >= 1 is never liquidated). A token without one (no
///        fresh price) counts at the best price available (`tryPrice`), so no lapsed feed of
///        another token shields a position. Below, `price` is the seized token's liquidation price.
///        It repays at most
///        `lend.closeFactorBps` of the debt, or all of it when health < `lend.fullCloseHealthBps`
///        or when the close factor would leave less than `lend.minDebt` (or round to 0). It seizes
///        `floor(repay * (1 + bonus) / price)` of the chosen collateral, where the bonus is
///        `lend.liqBonusBps.<token>` capped so that threshold * (1 + bonus) <= 100%; when that is
///        at least what the borrower holds, it seizes all of it and the repay falls to
///        `ceil(held * price / (1 + bonus))`. A liquidation that neither clears the debt nor
///        takes all of that collateral must leave debt >= `lend.minDebt` (Aave 3.3's dust rule),
///        unless it is a dust write-off (below), so `liquidate(b, t, type(uint256).max)` succeeds
///        on any unhealthy position, unless the
///        largest repay allowed buys less than one unit of `t` (`ZeroAmount`: a wei-sized debt, or
///        a token whose unit is worth more than that repay; listing refuses tokens with fewer
///        than 6 decimals for that reason).
///      - A partial liquidation raises health whenever health > threshold * (1 + bonus) of the
///        seized token, up to wei-scale rounding (scaled units leave rounded down, values round
///        down). Below that it lowers health: with one collateral token that means the position
///        is insolvent (its collateral no longer covers debt plus bonus) and it is closed by
///        seizing collateral until none is left; with several, seizing the token of the highest
///        threshold * (1 + bonus) can lower the health of a position that still covers its debt.
///      - Dust write-off. When a liquidation leaves debt (`remaining = debt - repay > 0`) behind
///        collateral that is dust, that debt is bad debt: it is written off in that same
///        liquidation (`BadDebtRealized`), the book's `totalAssets()` and so the vault's fall by
///        exactly the amount reported, and the supply index falls with them. The book never
///        counts debt nobody can be made to pay (Morpho Blue's rule). The amount is 0 when what was
///        left was a rounding wei the book never counted. Dust: the collateral the borrower would
///        keep, `rest` = Σ value of its tokens at the liquidation's prices (each token's
///        liquidation price, else its best available, as for its health), is below
///        `max(lend.minDebt, 1)` and below `remaining`. Below lend.minDebt no liquidation of it
///        could repay the size under which liquidating is uneconomic (the keeper would never pay
///        gas for it, and the debt would sit as a phantom asset behind a wei: M-4); below the
///        debt left the borrower owns nothing in it. That collateral, every token of it, is
///        swept to the liquidator with the seizure (`CollateralSwept`; worth < lend.minDebt: the
///        one case where a liquidator gets more than its bonus, as the fee for closing the
///        position; the book cannot hold RWA tokens, it counts cash and debt only). Only a
///        liquidation that took all it could may leave dust: all of the seized token, or the
///        largest repay this position allows; a smaller repay that would leave dust is refused
///        `DustDebt` (chosen so, it would buy up to lend.minDebt of dust for nothing and write
///        off that much more debt). For the same reason a smaller repay may not leave less than
///        lend.minDebt of the seized token behind other collateral (`DustCollateral`): a later
///        liquidation taking the other tokens would sweep it as dust, the same dust made to
///        order in two steps. Taking the last collateral is the case rest == 0. A position can reach dust only through a
///        liquidation or a price fall: `withdrawCollateral` must leave debt <= borrow power <=
///        Σ value, so the collateral it leaves is never worth less than the debt. Dust whose price
///        merely fell is written off by its next liquidation (which takes it all: rest == 0).
///      - DESIGN invariant 6 ("a liquidation never lowers the health of a position with health
///        < 1, except by a bad-debt write-off") holds for every liquidation that clears the debt,
///        writes it off, or seizes a token whose threshold * (1 + bonus) is at most the health. A
///        partial liquidation of a position under that break-even lowers its health (see above);
///        the dust rule writes off such a position once what it leaves is dust, not before.
///
///      - The interest rate model is fixed at construction (Morpho Blue's rule): a new model
///        means a new book, which governance adds as a sleeve while the vault drains the old one.
///
///      Assumptions: collateral tokens are plain ERC-20s (no fee on transfer, no rebasing) with
///      a feed on the OracleRouter; the stablecoin is the vault's asset. Keepers are untrusted:
///      every state-changing call re-checks everything.
interface ILendingSleeve is ISleeve {
    struct Position {
        uint256 debt;
        uint256 principal;
        address[] tokens;
        uint256[] amounts;
    }

    event CollateralListed(address indexed token, string name, uint256 index);
    event CollateralDeposited(address indexed borrower, address indexed token, uint256 amount);
    event CollateralWithdrawn(address indexed borrower, address indexed token, uint256 amount);
    event Borrowed(address indexed borrower, uint256 amount, uint256 debt);
    event Repaid(address indexed borrower, address indexed payer, uint256 amount, uint256 debt);
    event Liquidated(
        address indexed borrower, address indexed liquidator, address indexed token, uint256 repaid, uint256 seized
    );
    event BadDebtRealized(address indexed borrower, uint256 amount);
    /// @notice A dust write-off sent `amount` of the borrower's `token` to the liquidator.
    event CollateralSwept(
        address indexed borrower, address indexed liquidator, address indexed token, uint256 amount
    );
    event Supplied(uint256 assets);
    event Recalled(uint256 requested, uint256 assets);
    event LoansCalled(uint256 calledAt, uint256 dueAt);

    error OnlyVault(address caller);
    error ZeroAmount();
    error ZeroAddress();
    error MissingAssets(uint256 expected, uint256 held);
    error UnsupportedCollateral(address token);
    error CollateralAlreadyListed(address token);
    error TooManyCollaterals(uint256 max);
    error CollateralParameterUndefined(bytes32 key);
    error FeedNotSet(address token);
    error InsufficientCollateralBalance(address token, uint256 requested, uint256 held);
    error InsufficientCollateral(uint256 debt, uint256 borrowPower);
    error InsufficientCash(uint256 requested, uint256 cash);
    error BorrowCapExceeded(address token, uint256 principal, uint256 cap);
    error DebtBelowMinimum(uint256 debt, uint256 minDebt);
    error NoDebt(address borrower);
    /// @dev Same signature as IRWAVault.VaultIsShutdown.
    error VaultIsShutdown();
    error NotShutdown();
    error LoansAlreadyCalled(uint256 dueAt);
    error HealthyPosition(address borrower, uint256 health);
    error NoCollateral(address borrower, address token);
    error DustDebt(uint256 remaining, uint256 minDebt);
    /// @dev A liquidation that chose a repay smaller than it could would leave `left` (asset
    ///      units, below `minDebt`) of `token` behind the borrower's other collateral.
    error DustCollateral(address token, uint256 left, uint256 minDebt);
    /// @dev The OracleRouter's errors, bubbled up unchanged; declared so they decode here too.
    error StalePrice(address token, uint256 updatedAt);
    error InvalidPrice(address token, int256 answer);

    // ------------------------------------------------------------------ borrowers

    /// @notice Posts `amount` of a listed collateral `token` for the caller, at a fresh price
    ///         only (`StalePrice` / `InvalidPrice` otherwise: collateral posted against a stale
    ///         feed would count at an answer nobody can verify and could shield an insolvent
    ///         position). It pokes the router for the token (as anyone may), so a held token
    ///         always has a reference price to fall back on.
    function depositCollateral(address token, uint256 amount) external;

    /// @notice Takes back `amount` of `token`; the position must stay within its LTV (fresh
    ///         prices).
    function withdrawCollateral(address token, uint256 amount) external;

    /// @notice Borrows `amount` of the stablecoin to the caller, within LTV, borrow caps and the
    ///         book's cash; the debt must reach at least `lend.minDebt`. Refused once the vault
    ///         is shut down (repaying, liquidating and the vault's recalls go on).
    function borrow(uint256 amount) external;

    /// @notice Repays up to `amount` of `onBehalfOf`'s debt from the caller;
    ///         `type(uint256).max` repays it all.
    /// @return repaid What was taken from the caller.
    function repay(uint256 amount, address onBehalfOf) external returns (uint256 repaid);

    // ------------------------------------------------------------------ keepers

    /// @notice Repays up to `repayAmount` of an unhealthy `borrower`'s debt (any borrower's, all
    ///         of it if asked, once the loans are due: `callLoans`) and seizes the
    ///         matching `token` collateral plus the bonus (see the rules above). Anyone.
    ///         `type(uint256).max` repays as much as allowed. When it leaves only dust behind the
    ///         debt, the dust goes to the caller too (`CollateralSwept`) and the debt left is
    ///         written off (`BadDebtRealized`).
    /// @return seized Collateral of `token` sent to the caller for the repay (sweeps excluded).
    function liquidate(address borrower, address token, uint256 repayAmount) external returns (uint256 seized);

    /// @notice `(true, liquidate calldata)` for an unhealthy borrower: the collateral (fresh
    ///         price) whose seizure pays the liquidator the largest bonus (valued at the price
    ///         it is seized at, its liquidation price), and `type(uint256).max`
    ///         as the repay, i.e. the most allowed when the call is mined (robust to interest,
    ///         repayments and price moves in between; `previewLiquidation` says how much that is
    ///         now). Once the loans are due every position with debt qualifies.
    ///         `(false, reason)` otherwise: "no debt", "healthy" (at the best available
    ///         prices, as `healthFactor`: no liquidation price is below them), "stale price",
    ///         "nothing to seize" (also when the position is unhealthy only beyond the
    ///         band's edge of a fall the router has not confirmed).
    function liquidationTrigger(address borrower) external view returns (bool shouldAct, bytes memory data);

    /// @notice Calls every loan after the vault's shutdown: they fall due `lend.callNoticePeriod`
    ///         from now, after which any position with debt may be liquidated in full (see the
    ///         rules). Anyone, once (`NotShutdown` before the shutdown, `LoansAlreadyCalled`
    ///         after a call). Emits `LoansCalled(calledAt, dueAt)`.
    /// @return dueAt When the loans fall due (`loansDueAt`).
    function callLoans() external returns (uint256 dueAt);

    /// @notice When the called loans fall due (0: not called); liquidatable in full from then.
    function loansDueAt() external view returns (uint256);

    /// @notice Accrues interest to now and re-reads the rate model. Anyone.
    function accrueInterest() external;

    // ------------------------------------------------------------------ governance

    /// @notice Lists `token` as collateral under `name`, which scopes its parameters
    ///         (`lend.ltvBps.<name>`, `lend.liqThresholdBps.<name>`, `lend.liqBonusBps.<name>`,
    ///         `lend.borrowCap.<name>`: all four must exist). Governance only.
    function listCollateral(address token, string calldata name) external;

    // ------------------------------------------------------------------ views

    /// @notice WAD health factor (best available prices); max uint without debt. A
    ///         liquidation judges health at each token's liquidation price instead (see the rules):
    ///         it may refuse a position this reads below 1 while a fall beyond the band is
    ///         unconfirmed, and never takes one this reads at 1 or above. 0 for a position with
    ///         debt once the loans are due (`callLoans`): a called loan past its notice is in
    ///         default whatever its collateral, so it is liquidatable and reads so.
    function healthFactor(address borrower) external view returns (uint256);

    /// @notice The borrower's debt now, interest included (rounded up).
    function debtOf(address borrower) external view returns (uint256);

    /// @notice Stablecoin the borrower's collateral supports at LTV (best available prices; a
    ///         fresh one counts at the low end of the router's `priceBand`, as `borrow` does).
    function borrowPower(address borrower) external view returns (uint256);

    /// @notice The most `borrow` accepts from `borrower` now: within LTV (less the rounding a
    ///         borrow adds to the debt), the book's cash and every borrow cap; 0 while a price
    ///         behind the position is stale, after the vault's shutdown, or when the result would
    ///         stay below `lend.minDebt`.
    function maxBorrow(address borrower) external view returns (uint256);

    function collateralOf(address borrower, address token) external view returns (uint256);

    function positionOf(address borrower) external view returns (Position memory);

    /// @notice Listed collateral tokens, in listing order.
    function collateralTokens() external view returns (address[] memory);

    function collateralName(address token) external view returns (string memory);

    /// @notice Principal counted against `lend.borrowCap.<name>` of `token`: Σ `capUsageOf`.
    function capUsage(address token) external view returns (uint256);

    /// @notice The part of `borrower`'s principal attributed to `token` (see the borrow cap rule).
    function capUsageOf(address borrower, address token) external view returns (uint256);

    /// @notice Stablecoin held for lending (not lent out).
    function cash() external view returns (uint256);

    /// @notice All debt, interest accrued to now (rounded down).
    function totalDebt() external view returns (uint256);

    function borrowIndex() external view returns (uint256);

    /// @notice Annual borrow rate in force (WAD), set at the last action.
    function borrowRate() external view returns (uint256);

    /// @notice debt / (cash + debt), WAD.
    function utilization() external view returns (uint256);

    /// @notice What `liquidate(borrower, token, repayAmount)` would repay and seize now, with
    ///         fresh prices; reverts as `liquidate` would.
    function previewLiquidation(address borrower, address token, uint256 repayAmount)
        external
        view
        returns (uint256 repaid, uint256 seized);
}
