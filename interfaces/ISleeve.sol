// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title ISleeve
/// @notice A place the vault invests its base asset: a tokenized RWA, the lending book.
/// @dev Assumptions the vault relies on (and every sleeve must honour):
///      - All amounts are in units of the vault's base asset (`asset()`); `returnIndex()` is WAD.
///      - `deposit` and `withdraw` may be called by the vault only. Before `deposit(assets)` the
///        vault has already transferred `assets` to the sleeve; the sleeve invests them.
///      - `withdraw(assets)` sends at most `assets` back to the vault (best effort) and returns
///        what it sent. It must not revert merely because liquidity is short: it sends what it
///        can (possibly 0). The vault measures its own balance and never trusts the return value
///        alone.
///      - `availableLiquidity() <= totalAssets()`; a `withdraw(x)` with `x <= availableLiquidity()`
///        sends at least `x` in the same block, and lowers `totalAssets()` by at most what it sent
///        plus 1 wei (rounding); the vault charges that rounding to the exit that caused it.
///      - `totalAssets()` and `valuation()` never revert because a price is stale: they value at
///        the best stale price the OracleRouter has and report `fresh = false`. The vault then
///        stops deposits (no one buys in at a price nobody can verify) but keeps paying
///        withdrawals from idle and the other sleeves; the stale sleeve itself reports no
///        `availableLiquidity()` until its price is fresh again, and refuses `deposit`.
///      - Assets the sleeve did not receive through `deposit` (donations) are not counted.
///      - `returnIndex()` is the value of one unit invested at inception (NAV price for an RWA
///        token, supply index for the lending book); the ratio of two readings is the sleeve's
///        return between them.
interface ISleeve {
    /// @notice The vault's base asset, which this sleeve takes and gives back.
    function asset() external view returns (address);

    /// @notice The only address allowed to call `deposit` and `withdraw`.
    function vault() external view returns (address);

    /// @notice Value held for the vault, in base-asset units (rounded down).
    function totalAssets() external view returns (uint256);

    /// @notice `totalAssets()` and whether every price behind it is fresh.
    function valuation() external view returns (uint256 assets, bool fresh);

    /// @notice Base-asset units the vault could withdraw now (rounded down).
    function availableLiquidity() external view returns (uint256);

    /// @notice WAD value of one unit invested at inception; never decreases except by losses.
    function returnIndex() external view returns (uint256);

    /// @notice `returnIndex()` and whether every price behind it is fresh (unlike `valuation()`,
    ///         whose flag is true for a sleeve holding nothing) and confirmed: not fresh while a
    ///         price behind it is beyond `oracle.maxDeviationBps` of the router's reference,
    ///         unconfirmed (`IOracleRouter.priceBand` open). Agents' decisions are evaluated
    ///         only on fresh indices.
    function returnIndexStatus() external view returns (uint256 index, bool fresh);

    /// @notice The sleeve's value for a NAV strike. `low` and `high` value the holdings at the
    ///         lower and the higher of the fresh price and the oracle's reference while a move
    ///         beyond `oracle.maxDeviationBps` is unconfirmed, and are equal otherwise;
    ///         `publishedAt` is when the oldest price behind them was published (`block.timestamp`
    ///         for a sleeve valued without a price feed); `fresh` is false when a price is stale
    ///         or unusable (then `high` values the best stale price and `low` the lower of it and
    ///         the oracle's reference) and while a move is unconfirmed (`low < high`): nothing is
    ///         settled on a price nobody has confirmed, so a strike waits for the router's `poke`
    ///         to confirm the move (anyone may) or for the price to come back, or values the
    ///         sleeve as stale at `low` once it has gone `vault.strikeMaxWait` without a fresh
    ///         price. When not fresh, `publishedAt` is the time that clock runs from: the newest
    ///         round (a live feed's move is confirmed, not valued stale), or for an open band the
    ///         poke that first recorded the move when older (`IOracleRouter.bandOpenSince`: a
    ///         trend that keeps the band open at every round holds exits no longer); for an unusable
    ///         answer or an unreadable feed the last usable price the router knows
    ///         (`IOracleRouter.lastUsableAt`: one faulty round is waited for). Never reverts. A sleeve not fresh may report `low`
    ///         above `high` when it grosses up for the vault's stale haircut (ILendingSleeve).
    function strikeValuation() external view returns (uint256 low, uint256 high, uint256 publishedAt, bool fresh);

    /// @notice Invests `assets` the vault has just transferred in. Vault only.
    function deposit(uint256 assets) external;

    /// @notice Sends up to `assets` back to the vault. Vault only.
    /// @return withdrawn What was sent.
    function withdraw(uint256 assets) external returns (uint256 withdrawn);
}
