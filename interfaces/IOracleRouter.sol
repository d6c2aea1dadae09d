// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IOracleRouter
/// @notice WAD prices (base asset per whole token) from one Chainlink-style feed per token.
/// @dev Rules, relied on by the sleeves, the lending book and the sentinel keeper:
///      - `price(token)` reverts `StalePrice` when `block.timestamp - updatedAt` exceeds the
///        registry's `oracle.maxStaleness`, `InvalidPrice` for an answer <= 0, `FeedNotSet` for an
///        unknown token. Feed decimals are normalised to 18.
///      - `tryPrice` never reverts once a price was accepted: it returns the fresh price; or,
///        with `fresh = false`, the stale feed's last positive answer (the newest information
///        there is, and what an issuer settles at), or — for a zero/negative answer or a
///        reverting feed — the last accepted price (set with the feed, then by `poke`).
///        Valuations use it so that one bad feed never freezes withdrawals; sleeves report no
///        liquidity and the vault takes no deposits while a price is not fresh.
///      - A normalised price of 0 (a positive answer below 1e-18) is invalid.
///      - A move above `oracle.maxDeviationBps` between the last accepted and the current price is
///        reported, never blocked: `deviationTrigger` tells the sentinel, `poke` emits
///        `PriceDeviation` and accepts the new price. Liquidations keep working on fresh prices.
interface IOracleRouter {
    event FeedSet(address indexed token, address indexed feed, uint8 decimals);
    event PriceDeviation(address indexed token, uint256 lastPrice, uint256 newPrice, uint256 deviationBps);
    event PriceAccepted(address indexed token, uint256 price);

    error FeedNotSet(address token);
    error InvalidFeed(address feed);
    error StalePrice(address token, uint256 updatedAt);
    error InvalidPrice(address token, int256 answer);

    /// @notice The fresh WAD price of `token`; reverts when stale, invalid or unknown.
    function price(address token) external view returns (uint256);

    /// @notice The fresh price, or the best stale one with `fresh = false` (see the rules above).
    ///         Reverts only for an unknown token, or when no price was ever accepted and the feed
    ///         is unusable.
    function tryPrice(address token) external view returns (uint256 price, bool fresh);

    /// @notice Accepts the current fresh price as the reference for deviation checks, emitting
    ///         `PriceDeviation` first when it moved more than `oracle.maxDeviationBps`. Anyone.
    function poke(address token) external returns (uint256);

    /// @notice Keeper trigger: `(true, poke calldata)` when the fresh price deviates from the last
    ///         accepted one by more than `oracle.maxDeviationBps`; else `(false, reason)`.
    function deviationTrigger(address token) external view returns (bool shouldAct, bytes memory data);

    /// @notice Sets (or replaces) the feed of `token`. Admin (the timelock) only.
    function setFeed(address token, address feed) external;

    /// @notice The feed of `token` (zero address when none).
    function feedOf(address token) external view returns (address);

    /// @notice The last accepted price of `token` and when it was accepted.
    function lastPrice(address token) external view returns (uint256 price, uint256 acceptedAt);

    /// @notice Fresh live price `p` and the reference `r` (last accepted price): `(p, p)` when
    ///         there is no reference yet or `p` is within `oracle.maxDeviationBps` of `r`;
    ///         otherwise `(min(p, r), max(p, r))` until the move is confirmed and accepted.
    ///         Reverts exactly as `price(token)` does (FeedNotSet, InvalidPrice, StalePrice).
    function priceBand(address token) external view returns (uint256 low, uint256 high);
}
