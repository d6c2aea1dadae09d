// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {AggregatorV3Interface} from "interfaces/AggregatorV3Interface.sol";
import {IOracleRouter} from "interfaces/IOracleRouter.sol";
import {IParameterRegistry} from "interfaces/IParameterRegistry.sol";

/// @title OracleRouter
/// @notice One Chainlink-style feed per token, read as a WAD price with staleness and sign
///         checks, and a deviation watch for the sentinel keeper (see IOracleRouter for the rules).
/// @dev DEFAULT_ADMIN_ROLE (the timelock after deployment) sets feeds. Staleness and deviation
///      limits are the registry's `oracle.maxStaleness` and `oracle.maxDeviationBps`.
contract OracleRouter is AccessControl, IOracleRouter {
    uint256 internal constant BPS = 10_000;
    bytes32 internal constant MAX_STALENESS = keccak256("oracle.maxStaleness");
    bytes32 internal constant MAX_DEVIATION_BPS = keccak256("oracle.maxDeviationBps");

    struct Feed {
        AggregatorV3Interface aggregator;
        uint8 decimals;
    }

    struct Accepted {
        uint192 price;
        uint64 acceptedAt;
    }

    IParameterRegistry public immutable registry;
    mapping(address token => Feed) internal _feeds;
    mapping(address token => Accepted) internal _accepted;

    constructor(IParameterRegistry registry_, address admin) {
        registry = registry_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @inheritdoc IOracleRouter
    function setFeed(address token, address feed) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (token == address(0) || feed.code.length == 0) revert InvalidFeed(feed);
        uint8 dec = AggregatorV3Interface(feed).decimals();
        if (dec > 36) revert InvalidFeed(feed);
        _feeds[token] = Feed(AggregatorV3Interface(feed), dec);
        emit FeedSet(token, feed, dec);
        // A new feed becomes the reference at once when it has a usable price; otherwise the
        // first `poke` sets it.
        (uint256 p, bool ok) = _read(token);
        if (ok) _accept(token, p);
    }

    /// @inheritdoc IOracleRouter
    function price(address token) public view returns (uint256) {
        Feed memory f = _feed(token);
        (, int256 answer,, uint256 updatedAt,) = f.aggregator.latestRoundData();
        if (answer <= 0) revert InvalidPrice(token, answer);
        if (block.timestamp > updatedAt + registry.get(MAX_STALENESS)) revert StalePrice(token, updatedAt);
        uint256 p = _normalise(uint256(answer), f.decimals);
        if (p == 0) revert InvalidPrice(token, answer); // below 1e-18: unusable as a WAD price
        return p;
    }

    /// @inheritdoc IOracleRouter
    function tryPrice(address token) external view returns (uint256, bool) {
        (uint256 p, bool ok) = _read(token);
        if (ok) return (p, true);
        // Stale: the feed's last positive answer is still the newest information (and the price
        // an issuer settles at); only an unusable answer falls back to the last accepted price.
        if (p != 0) return (p, false);
        uint256 last = _accepted[token].price;
        if (last == 0) return (price(token), true); // reverts with the feed's actual fault
        return (last, false);
    }

    /// @inheritdoc IOracleRouter
    function poke(address token) external returns (uint256 p) {
        p = price(token);
        _accept(token, p);
    }

    /// @inheritdoc IOracleRouter
    function priceBand(address token) external view returns (uint256 low, uint256 high) {
        uint256 p = price(token);
        uint256 r = _accepted[token].price;
        if (r == 0 || _deviationBps(r, p) <= registry.get(MAX_DEVIATION_BPS)) return (p, p);
        return p < r ? (p, r) : (r, p);
    }

    /// @inheritdoc IOracleRouter
    function deviationTrigger(address token) external view returns (bool, bytes memory) {
        if (address(_feeds[token].aggregator) == address(0)) return (false, bytes("no feed"));
        (uint256 p, bool ok) = _read(token);
        if (!ok) return (false, bytes("price stale or invalid"));
        uint256 last = _accepted[token].price;
        if (last == 0) return (true, abi.encodeCall(this.poke, (token)));
        if (_deviationBps(last, p) > registry.get(MAX_DEVIATION_BPS)) {
            return (true, abi.encodeCall(this.poke, (token)));
        }
        return (false, bytes("within deviation"));
    }

    /// @inheritdoc IOracleRouter
    function feedOf(address token) external view returns (address) {
        return address(_feeds[token].aggregator);
    }

    /// @inheritdoc IOracleRouter
    function lastPrice(address token) external view returns (uint256, uint256) {
        Accepted memory a = _accepted[token];
        return (a.price, a.acceptedAt);
    }

    function _accept(address token, uint256 p) internal {
        uint256 last = _accepted[token].price;
        if (last != 0) {
            uint256 deviation = _deviationBps(last, p);
            if (deviation > registry.get(MAX_DEVIATION_BPS)) emit PriceDeviation(token, last, p, deviation);
        }
        _accepted[token] = Accepted(SafeCast.toUint192(p), uint64(block.timestamp));
        emit PriceAccepted(token, p);
    }

    /// @dev `(price, true)` when fresh and valid; `(stale price, false)` when the answer is valid
    ///      but stale; `(0, false)` when the answer is unusable or the feed reverts.
    function _read(address token) internal view returns (uint256, bool) {
        Feed memory f = _feed(token);
        try f.aggregator.latestRoundData() returns (uint80, int256 answer, uint256, uint256 updatedAt, uint80) {
            if (answer <= 0) return (0, false);
            uint256 p = _normalise(uint256(answer), f.decimals);
            return (p, p != 0 && block.timestamp <= updatedAt + registry.get(MAX_STALENESS));
        } catch {
            return (0, false);
        }
    }

    function _feed(address token) internal view returns (Feed memory f) {
        f = _feeds[token];
        if (address(f.aggregator) == address(0)) revert FeedNotSet(token);
    }

    function _normalise(uint256 answer, uint8 dec) internal pure returns (uint256) {
        if (dec <= 18) return answer * 10 ** (18 - dec);
        return answer / 10 ** (dec - 18);
    }

    /// @dev |new - last| in bps of `last`, rounded up (a move is never under-reported).
    function _deviationBps(uint256 last, uint256 p) internal pure returns (uint256) {
        uint256 diff = p > last ? p - last : last - p;
        return (diff * BPS + last - 1) / last;
    }
}
