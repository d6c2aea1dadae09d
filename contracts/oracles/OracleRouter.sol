// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {AggregatorV3Interface} from "interfaces/AggregatorV3Interface.sol";
import {IOracleRouter} from "interfaces/IOracleRouter.sol";
import {IParameterRegistry} from "interfaces/IParameterRegistry.sol";

/// @title OracleRouter
/// @notice One Chainlink-style feed per token, read as a WAD price with staleness and sign
///         checks, and a deviation reference that only time and the feed move (see IOracleRouter
///         for the rules).
/// @dev DEFAULT_ADMIN_ROLE (the timelock after deployment) sets feeds. Staleness, deviation and
///      confirmation limits are the registry's `oracle.maxStaleness`, `oracle.maxDeviationBps`
///      and `oracle.confirmDelay`.
contract OracleRouter is AccessControl, IOracleRouter {
    uint256 internal constant BPS = 10_000;
    bytes32 internal constant MAX_STALENESS = keccak256("oracle.maxStaleness");
    bytes32 internal constant MAX_DEVIATION_BPS = keccak256("oracle.maxDeviationBps");
    bytes32 internal constant CONFIRM_DELAY = keccak256("oracle.confirmDelay");

    struct Feed {
        AggregatorV3Interface aggregator;
        uint8 decimals;
    }

    struct Accepted {
        uint192 price;
        uint64 acceptedAt;
    }

    /// @dev A fresh price beyond `oracle.maxDeviationBps` of the reference, first seen `since`.
    struct Pending {
        uint192 price;
        uint64 since;
    }

    IParameterRegistry public immutable registry;
    mapping(address token => Feed) internal _feeds;
    mapping(address token => Accepted) internal _accepted;
    mapping(address token => Pending) internal _pending;
    /// @dev When a poke first recorded the move beyond the band still pending (`bandOpenSince`).
    mapping(address token => uint256) internal _openSince;

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
        // first `poke` sets it. A move seen on the old feed says nothing about the new one.
        _drop(token, 0);
        delete _openSince[token];
        (uint256 p, bool ok) = _read(token);
        if (!ok) return;
        // Governance (timelocked) vouches for the new feed: its price is the reference at once,
        // and a jump from the old reference is still reported.
        uint256 last = _accepted[token].price;
        uint256 deviation = 0;
        if (last != 0) {
            deviation = _deviationBps(last, p);
            if (deviation <= registry.get(MAX_DEVIATION_BPS)) deviation = 0;
        }
        _accept(token, p, deviation);
    }

    /// @inheritdoc IOracleRouter
    function price(address token) public view returns (uint256) {
        Feed memory f = _feed(token);
        (, int256 answer,, uint256 updatedAt,) = f.aggregator.latestRoundData();
        if (answer <= 0) revert InvalidPrice(token, answer);
        if (updatedAt > block.timestamp) revert FutureRound(token, updatedAt);
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
        uint256 watched = _pending[token].since + 2 * registry.get(CONFIRM_DELAY);
        p = _poke(token);
        // The band's clock: from the poke that first recorded a move beyond it, kept while every
        // later poke leaves one pending (a confirmation with the rest pending again, a move
        // across the reference), cleared by the first that leaves none. A record this poke finds
        // a confirmDelay past its due time went unwatched (the price may have come back since,
        // nobody poking: a clock planted by whoever recorded one bad round): the clock restarts.
        bool open = _pending[token].price != 0;
        uint256 since = _openSince[token];
        if (open && (since == 0 || block.timestamp >= watched)) _openSince[token] = block.timestamp;
        else if (!open && since != 0) delete _openSince[token];
    }

    /// @inheritdoc IOracleRouter
    function bandOpenSince(address token) external view returns (uint256) {
        uint256 since = _openSince[token];
        if (since == 0) return 0;
        (uint256 p, bool ok) = _read(token);
        uint256 ref = _accepted[token].price;
        if (!ok || _deviationBps(ref, p) <= registry.get(MAX_DEVIATION_BPS)) return 0; // closed
        // The pending move is this one: on the live price's side of the reference, and not yet
        // due (a record whose confirmation fell due with nobody poking may be left from a move the
        // price came back from; a poke, anyone's, confirms it now, so it is waited for: no clock).
        Pending memory q = _pending[token];
        if (block.timestamp >= q.since + registry.get(CONFIRM_DELAY)) return 0;
        return _sameSide(ref, q.price, p) ? since : 0;
    }

    /// @dev `poke` but the band's clock.
    function _poke(address token) internal returns (uint256 p) {
        p = price(token);
        uint256 last = _accepted[token].price;
        if (last == 0) {
            _accept(token, p, 0);
            return p;
        }
        uint256 deviation = _deviationBps(last, p);
        uint256 delay = registry.get(CONFIRM_DELAY);
        uint256 band = registry.get(MAX_DEVIATION_BPS);
        uint256 candidate = _pending[token].price; // 0: no pending move (a price is never 0)
        if (deviation <= band) {
            // Back within the band: a pending move did not hold. The reference follows at most
            // once per confirmDelay, so pokes cannot walk it across a crash round by round.
            if (candidate != 0) _drop(token, p);
            if (block.timestamp >= _accepted[token].acceptedAt + delay) _accept(token, p, 0);
            return p;
        }
        if (candidate != 0 && _sameSide(last, candidate, p)) {
            if (block.timestamp >= _pending[token].since + delay) {
                // Held beyond the band on the same side for confirmDelay: confirmed as far as it
                // held, the less extreme of `p` and the pending price. An answer further out than
                // the pending price has not held (a spike behind an aged, moderate move): the
                // pending price is accepted, and the rest of the move waits its own confirmDelay.
                delete _pending[token];
                uint256 held = _deviationBps(last, candidate);
                if (held >= deviation) {
                    _accept(token, p, deviation);
                } else {
                    _accept(token, candidate, held > band ? held : 0);
                    _pend(token, candidate, p, band, delay);
                }
            }
            return p;
        }
        if (candidate != 0) _drop(token, p); // the move reversed across the reference: restart
        _pend(token, last, p, band, delay);
    }

    /// @inheritdoc IOracleRouter
    function priceBand(address token) external view returns (uint256 low, uint256 high) {
        uint256 p = price(token);
        uint256 ref = _accepted[token].price;
        if (ref == 0 || _deviationBps(ref, p) <= registry.get(MAX_DEVIATION_BPS)) return (p, p);
        return p < ref ? (p, ref) : (ref, p);
    }

    /// @inheritdoc IOracleRouter
    function liquidationPrice(address token) external view returns (uint256 p) {
        p = price(token);
        uint256 ref = _accepted[token].price;
        if (ref == 0) return p;
        uint256 edge = ref * (BPS - registry.get(MAX_DEVIATION_BPS)) / BPS; // rounded down
        if (p < edge) return edge;
    }

    /// @inheritdoc IOracleRouter
    function deviationTrigger(address token) external view returns (bool, bytes memory) {
        if (address(_feeds[token].aggregator) == address(0)) return (false, bytes("no feed"));
        (uint256 p, bool ok) = _read(token);
        if (!ok) return (false, bytes("price stale or invalid"));
        uint256 last = _accepted[token].price;
        if (last == 0) return (true, abi.encodeCall(this.poke, (token)));
        uint256 candidate = _pending[token].price; // 0: no pending move
        if (_deviationBps(last, p) <= registry.get(MAX_DEVIATION_BPS)) {
            // A pending move the price came back from: a poke drops it.
            if (candidate != 0) return (true, abi.encodeCall(this.poke, (token)));
            return (false, bytes("within deviation"));
        }
        if (candidate == 0 || !_sameSide(last, candidate, p)) return (true, abi.encodeCall(this.poke, (token)));
        if (block.timestamp >= _pending[token].since + registry.get(CONFIRM_DELAY)) {
            return (true, abi.encodeCall(this.poke, (token)));
        }
        return (false, bytes("move pending confirmation"));
    }

    /// @inheritdoc IOracleRouter
    function feedOf(address token) external view returns (address) {
        return address(_feeds[token].aggregator);
    }

    /// @inheritdoc IOracleRouter
    function lastUsableAt(address token) external view returns (uint256 at) {
        AggregatorV3Interface feed = _feed(token).aggregator;
        at = _accepted[token].acceptedAt; // a price accepted was usable then
        try feed.latestRoundData() returns (uint80 id, int256 answer, uint256, uint256 updatedAt, uint80) {
            if (answer > 0 && updatedAt <= block.timestamp) return updatedAt;
            if (id == 0) return at;
            try feed.getRoundData(id - 1) returns (uint80, int256 last, uint256, uint256 lastAt, uint80) {
                if (last > 0 && lastAt <= block.timestamp && lastAt > at) at = lastAt;
            } catch {}
        } catch {}
    }

    /// @inheritdoc IOracleRouter
    function lastPrice(address token) external view returns (uint256, uint256) {
        Accepted memory a = _accepted[token];
        return (a.price, a.acceptedAt);
    }

    /// @inheritdoc IOracleRouter
    function pendingPrice(address token) external view returns (uint256, uint256) {
        return (_pending[token].price, _pending[token].since);
    }

    /// @dev Records `p` as the pending move from the reference `ref`, first seen now, when it is
    ///      beyond `band` of it.
    function _pend(address token, uint256 ref, uint256 p, uint256 band, uint256 delay) internal {
        uint256 deviation = _deviationBps(ref, p);
        if (deviation <= band) return;
        _pending[token] = Pending(SafeCast.toUint192(p), uint64(block.timestamp));
        emit PriceMovePending(token, ref, p, deviation, block.timestamp + delay);
    }

    /// @dev Makes `p` the reference; `deviation` (bps from the old reference) is non-zero only
    ///      for a confirmed move beyond the band, which is reported as `PriceDeviation`.
    function _accept(address token, uint256 p, uint256 deviation) internal {
        if (deviation != 0) emit PriceDeviation(token, _accepted[token].price, p, deviation);
        _accepted[token] = Accepted(SafeCast.toUint192(p), uint64(block.timestamp));
        emit PriceAccepted(token, p);
    }

    /// @dev Forgets the pending move of `token`, if any (`live`: the price that ended it; 0 when
    ///      the feed was replaced).
    function _drop(address token, uint256 live) internal {
        uint256 candidate = _pending[token].price;
        if (candidate != 0) {
            delete _pending[token];
            emit PriceMoveDropped(token, candidate, live);
        }
    }

    /// @dev Whether `a` and `b` are both below or both above `ref`.
    function _sameSide(uint256 ref, uint256 a, uint256 b) internal pure returns (bool) {
        return (a < ref && b < ref) || (a > ref && b > ref);
    }

    /// @dev `(price, true)` when fresh and valid; `(stale price, false)` when the answer is valid
    ///      but stale; `(0, false)` when the answer is unusable or the feed reverts.
    function _read(address token) internal view returns (uint256, bool) {
        Feed memory f = _feed(token);
        try f.aggregator.latestRoundData() returns (uint80, int256 answer, uint256, uint256 updatedAt, uint80) {
            if (answer <= 0 || updatedAt > block.timestamp) return (0, false); // unusable
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
