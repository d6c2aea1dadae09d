// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IOracleRouter
/// @notice WAD prices (base asset per whole token) from one Chainlink-style feed per token.
/// @dev Rules, relied on by the sleeves, the lending book and the sentinel keeper:
///      - `price(token)` reverts `StalePrice` when `block.timestamp - updatedAt` exceeds the
///        registry's `oracle.maxStaleness`, `InvalidPrice` for an answer <= 0, `FutureRound` for
///        a round stamped after the block (a publisher writing milliseconds: such a round would
///        never go stale), `FeedNotSet` for an unknown token. Feed decimals are normalised to 18.
///      - `tryPrice` never reverts once a price was accepted: it returns the fresh price; or,
///        with `fresh = false`, the stale feed's last positive answer (the newest information
///        there is, and what an issuer settles at), or — for a zero/negative answer, a round
///        stamped in the future or a reverting feed — the last accepted price (set with the
///        feed, then by `poke`).
///        Valuations use it so that one bad feed never freezes withdrawals; sleeves report no
///        liquidity and the vault takes no deposits while a price is not fresh.
///      - A normalised price of 0 (a positive answer below 1e-18) is invalid.
///      - The reference (`lastPrice`, the last accepted price) is what deviation is judged
///        against, by the sentinel keeper, the strategy's risk-off rule and `priceBand`. No
///        caller can reset it: `poke` (anyone) only ever applies these rules to the feed's own
///        fresh answer `p`, with `r` the reference, `D = oracle.confirmDelay` and the band
///        `oracle.maxDeviationBps` (deviation `|p - r| / r` in bps, rounded up):
///        1. no reference yet: `p` is accepted.
///        2. `p` within the band: a pending move is dropped (`PriceMoveDropped`), and `p` is
///           accepted if `r` is at least `D` old. So the reference moves at most once per `D`
///           and pokes cannot walk it across a crash that the feed publishes round by round.
///        3. `p` beyond the band, no pending move (or one on the other side of `r`, which is
///           dropped): `p` becomes the pending move, first seen now (`PriceMovePending`); the
///           reference stays.
///        4. `p` beyond the band on the same side as the pending move `c`, first seen at least
///           `D` ago: the move is confirmed as far as it held. The less extreme of `p` and `c`
///           is accepted, reported as `PriceDeviation` then `PriceAccepted`; when that is `c`
///           (`p` went further: an answer that has not held, e.g. a spike behind an aged
///           moderate move) and `p` is beyond the band of `c`, `p` becomes the pending move,
///           first seen now. Earlier, nothing changes.
///        A move is judged only at pokes: the sentinel pokes every deviating feed on each pass,
///        so a move that does not hold (the price back in the band) is dropped. Assumption: the
///        sentinel passes `trip_after` times within `D` (once `D` is over anyone may confirm).
///        `setFeed` (governance) makes the new feed's price the reference at once (reporting a
///        jump beyond the band as `PriceDeviation`) and drops any pending move.
///      - Moves are reported: `price` and `tryPrice` return the live price. A liquidation values
///        collateral at `liquidationPrice(token)`, the live price never below the band's lower
///        edge around the reference: an unconfirmed answer downwards counts at once up to that
///        edge (no more than an answer within the band already could), the rest once confirmed
///        (a real crash is liquidated at the edge at once, in full `D` after it was first
///        poked); one upwards counts at once (a liquidation never values collateral above its
///        live price).
///        A consumer that lets value out against a price (a
///        borrow, a collateral withdrawal) uses `priceBand(token).low`, so an unconfirmed extreme answer upwards
///        lends nothing more, and one downwards is used at once; and no more than the reference
///        while the reference is younger than `D` (rule 2 accepts a price within the band at
///        once, so two rounds each within the band of the last are not one move beyond it).
interface IOracleRouter {
    event FeedSet(address indexed token, address indexed feed, uint8 decimals);
    /// @notice A move beyond `oracle.maxDeviationBps` became the reference: confirmed after
    ///         `oracle.confirmDelay`, or set by governance with a new feed.
    event PriceDeviation(address indexed token, uint256 lastPrice, uint256 newPrice, uint256 deviationBps);
    event PriceAccepted(address indexed token, uint256 price);
    /// @notice `candidatePrice` is beyond `oracle.maxDeviationBps` of `referencePrice`; from
    ///         `confirmableAt`, a poke that still sees the live price beyond on the same side
    ///         accepts the less extreme of the two (rule 4 above).
    event PriceMovePending(
        address indexed token,
        uint256 referencePrice,
        uint256 candidatePrice,
        uint256 deviationBps,
        uint256 confirmableAt
    );
    /// @notice The pending move did not hold: `livePrice` was back within the band or beyond
    ///         it on the other side (0: the feed was replaced).
    event PriceMoveDropped(address indexed token, uint256 candidatePrice, uint256 livePrice);

    error FeedNotSet(address token);
    error InvalidFeed(address feed);
    error StalePrice(address token, uint256 updatedAt);
    error InvalidPrice(address token, int256 answer);
    error FutureRound(address token, uint256 updatedAt);

    /// @notice The fresh WAD price of `token`; reverts when stale, invalid or unknown.
    function price(address token) external view returns (uint256);

    /// @notice The fresh price, or the best stale one with `fresh = false` (see the rules above).
    ///         Reverts only for an unknown token, or when no price was ever accepted and the feed
    ///         is unusable.
    function tryPrice(address token) external view returns (uint256 price, bool fresh);

    /// @notice Applies the reference rules above to the fresh price: accepts it, records or
    ///         drops a pending move, or confirms one. Anyone; a poke that the rules give nothing
    ///         to do changes nothing. Reverts as `price(token)` does.
    /// @return The fresh price.
    function poke(address token) external returns (uint256);

    /// @notice Fresh live price `p` and the reference `r` (last accepted price): `(p, p)` when
    ///         there is no reference yet or `p` is within `oracle.maxDeviationBps` of `r`;
    ///         otherwise `(min(p, r), max(p, r))` until the move is confirmed and accepted.
    ///         Reverts exactly as `price(token)` does (FeedNotSet, InvalidPrice, StalePrice,
    ///         FutureRound).
    function priceBand(address token) external view returns (uint256 low, uint256 high);

    /// @notice What a liquidation values `token` at: the fresh live price `p`, never below the
    ///         band's lower edge around the reference `r`, `max(p, r * (1e4 - b) / 1e4)` with
    ///         `b = oracle.maxDeviationBps`, the edge rounded down (a lower collateral price never
    ///         favours the borrower: it lowers health and seizes more per repay); `p` when there
    ///         is no reference yet. Never below `p` (a position healthy at live prices is never
    ///         liquidated); `p` whenever `p` is within the band or above it. Reverts exactly as
    ///         `price(token)` does.
    function liquidationPrice(address token) external view returns (uint256);

    /// @notice Keeper trigger: `(true, poke calldata)` when a poke has something to do — no
    ///         reference yet; a fresh price beyond `oracle.maxDeviationBps` with no pending move
    ///         on its side, or with one pending for `oracle.confirmDelay`; a pending move the
    ///         price came back from. Else `(false, reason)`: "no feed", "price stale or invalid",
    ///         "within deviation", "move pending confirmation".
    function deviationTrigger(address token) external view returns (bool shouldAct, bytes memory data);

    /// @notice Sets (or replaces) the feed of `token`. Admin (the timelock) only.
    function setFeed(address token, address feed) external;

    /// @notice The feed of `token` (zero address when none).
    function feedOf(address token) external view returns (address);

    /// @notice The reference of `token` (its last accepted price) and when it was accepted.
    function lastPrice(address token) external view returns (uint256 price, uint256 acceptedAt);

    /// @notice When `token` last had a usable price: the feed's latest round when its answer is
    ///         usable (positive, not stamped after the block; stale or not: the stale clock runs
    ///         from it); otherwise the newer of the feed's previous round (when usable) and the
    ///         reference's acceptance, 0 when neither is known. A sleeve's stale clock: one
    ///         unusable round (an answer of 0) is waited for as a late heartbeat is, and a feed
    ///         that answers nothing usable for good still lets exits leave `vault.strikeMaxWait`
    ///         after its last usable price.
    function lastUsableAt(address token) external view returns (uint256);

    /// @notice The pending move of `token` (the fresh price a poke saw beyond
    ///         `oracle.maxDeviationBps`) and when it was first seen; `(0, 0)` when none.
    function pendingPrice(address token) external view returns (uint256 candidatePrice, uint256 since);

    /// @notice While `token`'s band is open (a fresh price beyond `oracle.maxDeviationBps` of the
    ///         reference) on the side of the move pending: when a poke first recorded a move
    ///         beyond the band that every later poke left pending (through confirmations that
    ///         accept part of a trend and pend the rest, and moves across the reference). 0 when
    ///         the band is closed, the price is stale or invalid, no poke recorded this move, or
    ///         the pending record's confirmation has fallen due (`oracle.confirmDelay` after it:
    ///         a poke, anyone's, confirms it now; and with nobody poking it may be left from a
    ///         move the price came back from, a clock planted by whoever poked it). A poke
    ///         that finds the record it acts on `oracle.confirmDelay` past its due time (left
    ///         unwatched) starts the clock anew at itself.
    ///         A sleeve's stale clock for an open band: a steady trend faster than the band per
    ///         `oracle.confirmDelay` keeps the band open at every round, and exits must not wait
    ///         for as long as the trend lasts.
    function bandOpenSince(address token) external view returns (uint256);
}
