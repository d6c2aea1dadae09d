// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {IParameterRegistry} from "interfaces/IParameterRegistry.sol";
import {MAX_FREEZE_CEILING} from "./BallastTimelock.sol";

/// @title ParameterRegistry
/// @notice Governance-bounded risk parameters (see IParameterRegistry for every rule).
/// @dev Roles: GOVERNANCE (the timelock) defines, sets and re-bounds; STEWARD makes small fast
///      moves; GUARDIAN freezes, for at most `registry.maxFreezePeriod` and never twice in a row
///      on one key. DEFAULT_ADMIN_ROLE administers the roles and belongs to the timelock after
///      deployment.
contract ParameterRegistry is AccessControl, IParameterRegistry {
    bytes32 public constant GOVERNANCE_ROLE = keccak256("GOVERNANCE_ROLE");
    bytes32 public constant STEWARD_ROLE = keccak256("STEWARD_ROLE");
    bytes32 public constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");

    /// @notice The registry's own parameter bounding every freeze (seconds): a freeze lasts
    ///         exactly this long unless governance lifts it first, and the same key may be frozen
    ///         again only this long after its freeze ended.
    bytes32 public constant MAX_FREEZE_PERIOD_KEY = keccak256("registry.maxFreezePeriod");

    uint256 internal constant BPS = 10_000;
    /// @dev The most keys a SUM_AT_LEAST link may name (an idle buffer and ten sleeve caps fit).
    uint256 internal constant MAX_LINK_KEYS = 16;
    uint256 internal constant NO_LINK = type(uint256).max;

    mapping(bytes32 key => Param) internal _params;
    /// @dev `value + 1` of every defined parameter (0: undefined), kept in step with
    ///      `_params[key].value` by `defineParameter` and `_update`, the only writers of values.
    ///      `get` is the protocol's hot path (a liquidation reads ten parameters): one cold slot
    ///      per read instead of two. Hence values stay below type(uint256).max (see
    ///      `_validateBounds`).
    mapping(bytes32 key => uint256) internal _livePlusOne;
    mapping(bytes32 key => string) internal _names;
    bytes32[] internal _keys;
    /// @dev Every link governance declared (removed ones keep their slot with rule NONE, so ids
    ///      are stable), and per key the ids of the links naming it.
    Link[] internal _links;
    mapping(bytes32 key => uint256[]) internal _linksOf;

    /// @param admin Receives DEFAULT_ADMIN_ROLE and GOVERNANCE_ROLE (the deployer, who hands
    ///        both to the timelock once the initial parameters are defined).
    constructor(address admin) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(GOVERNANCE_ROLE, admin);
    }

    // ------------------------------------------------------------------ governance

    /// @inheritdoc IParameterRegistry
    function defineParameter(string calldata name, uint256 value, uint256 min, uint256 max, uint16 maxStepBps, uint32 cooldown)
        external
        onlyRole(GOVERNANCE_ROLE)
        returns (bytes32 key)
    {
        if (bytes(name).length == 0) revert EmptyName();
        key = keccak256(bytes(name));
        if (_params[key].exists) revert AlreadyDefined(key);
        _validateBounds(key, min, max, maxStepBps);
        if (value < min || value > max) revert OutOfBounds(key, value, min, max);

        _params[key] = Param({
            value: value,
            min: min,
            max: max,
            governanceValue: value,
            maxStepBps: maxStepBps,
            cooldown: cooldown,
            lastUpdate: uint64(block.timestamp),
            lastGovernanceUpdate: uint64(block.timestamp),
            stewardStepBps: 0,
            stewardCooldown: 0,
            exists: true,
            frozenUntil: 0
        });
        _livePlusOne[key] = value + 1;
        _names[key] = name;
        _keys.push(key);
        emit ParameterDefined(key, name, value, min, max, maxStepBps, cooldown);
    }

    /// @inheritdoc IParameterRegistry
    function addLink(LinkRule rule, bytes32[] calldata linkKeys, uint256 bound)
        external
        onlyRole(GOVERNANCE_ROLE)
        returns (uint256 id)
    {
        uint256 n = linkKeys.length;
        bool pair = rule != LinkRule.SUM_AT_LEAST;
        if (rule == LinkRule.NONE || (pair ? n != 2 : (n < 2 || n > MAX_LINK_KEYS))) revert InvalidLink(rule, n);
        for (uint256 i; i < n; ++i) {
            _existing(linkKeys[i]);
            for (uint256 j; j < i; ++j) {
                if (linkKeys[j] == linkKeys[i]) revert DuplicateKey(linkKeys[i]);
            }
        }
        Link memory link = Link({rule: rule, keys: linkKeys, bound: bound});
        // A link is declared on values that satisfy it: from then on no update may break it.
        if (!_holds(link, new bytes32[](0), new uint256[](0))) _revertLink(link, new bytes32[](0));
        id = _links.length;
        _links.push(link);
        for (uint256 i; i < n; ++i) {
            _linksOf[linkKeys[i]].push(id);
        }
        emit LinkAdded(id, rule, linkKeys, bound);
    }

    /// @inheritdoc IParameterRegistry
    function removeLink(uint256 id) external onlyRole(GOVERNANCE_ROLE) {
        if (id >= _links.length || _links[id].rule == LinkRule.NONE) revert UnknownLink(id);
        _links[id].rule = LinkRule.NONE;
        emit LinkRemoved(id);
    }

    /// @inheritdoc IParameterRegistry
    function set(bytes32 key, uint256 value) external onlyRole(GOVERNANCE_ROLE) {
        _update(key, value, false);
    }

    /// @inheritdoc IParameterRegistry
    function setBatch(bytes32[] calldata batchKeys, uint256[] calldata values) external onlyRole(GOVERNANCE_ROLE) {
        _updateBatch(batchKeys, values, false);
    }

    /// @inheritdoc IParameterRegistry
    function setBounds(bytes32 key, uint256 min, uint256 max, uint16 maxStepBps, uint32 cooldown)
        external
        onlyRole(GOVERNANCE_ROLE)
    {
        Param storage p = _existing(key);
        _validateBounds(key, min, max, maxStepBps);
        _validateStewardLimits(key, p.stewardStepBps, p.stewardCooldown, maxStepBps, cooldown);
        uint256 value = p.value;
        if (value < min || value > max) {
            // The new range wins: a value outside it (say, a steward step taken during the
            // proposal's timelock) moves to the nearest new bound, never stranded, and a move
            // inside the old range cannot make the queued change revert. It is an update like
            // any other for the freeze and the links; governance's own history (its last value,
            // its cooldown) is left as it was, so a `set` in the same proposal holds (its step
            // counts from that value brought into the new bounds: `_stepFrom`).
            uint256 clamped = value < min ? min : max;
            if (block.timestamp < p.frozenUntil) revert ParameterFrozen(key);
            _requireLinks(_one(key), _one(clamped));
            _write(key, p, clamped, true);
        }
        (p.min, p.max, p.maxStepBps, p.cooldown) = (min, max, maxStepBps, cooldown);
        emit BoundsSet(key, min, max, maxStepBps, cooldown);
    }

    /// @inheritdoc IParameterRegistry
    function setStewardLimits(bytes32 key, uint16 stewardStepBps, uint32 stewardCooldown)
        external
        onlyRole(GOVERNANCE_ROLE)
    {
        Param storage p = _existing(key);
        _validateStewardLimits(key, stewardStepBps, stewardCooldown, p.maxStepBps, p.cooldown);
        (p.stewardStepBps, p.stewardCooldown) = (stewardStepBps, stewardCooldown);
        emit StewardLimitsSet(key, stewardStepBps, stewardCooldown);
    }

    /// @inheritdoc IParameterRegistry
    function unfreeze(bytes32 key) external onlyRole(GOVERNANCE_ROLE) {
        Param storage p = _existing(key);
        // Not frozen (never, or the freeze expired): nothing to lift, and no revert, so that a
        // proposal prepared during a freeze still executes after the freeze has run out.
        if (block.timestamp >= p.frozenUntil) return;
        p.frozenUntil = uint64(block.timestamp); // the freeze ends now: the gap starts now
        emit Unfrozen(key);
    }

    // ------------------------------------------------------------------ steward, guardian

    /// @inheritdoc IParameterRegistry
    function stewardSet(bytes32 key, uint256 value) external onlyRole(STEWARD_ROLE) {
        _update(key, value, true);
    }

    /// @inheritdoc IParameterRegistry
    function stewardSetBatch(
        bytes32[] calldata batchKeys,
        uint256[] calldata values,
        bytes32 rationaleHash,
        string calldata rationaleURI
    ) external onlyRole(STEWARD_ROLE) {
        _updateBatch(batchKeys, values, true);
        emit StewardUpdate(rationaleHash, rationaleURI, batchKeys, values);
    }

    /// @inheritdoc IParameterRegistry
    function freeze(bytes32 key) external onlyRole(GUARDIAN_ROLE) {
        Param storage p = _existing(key);
        uint256 period = _maxFreezePeriod();
        uint256 freezableAt = _freezableAt(p, period);
        if (block.timestamp < freezableAt) revert FreezeTooSoon(key, freezableAt);
        // period <= MAX_FREEZE_CEILING (its bounds, `_validateBounds`): no overflow.
        uint64 until = uint64(block.timestamp + period);
        p.frozenUntil = until;
        emit Frozen(key, until);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IParameterRegistry
    function get(bytes32 key) external view returns (uint256) {
        uint256 v = _livePlusOne[key];
        if (v == 0) revert UnknownParameter(key);
        return v - 1;
    }

    /// @inheritdoc IParameterRegistry
    function getParam(bytes32 key) external view returns (Param memory) {
        return _existing(key);
    }

    /// @inheritdoc IParameterRegistry
    function check(bytes32 key, uint256 value, bool steward) external view returns (bool ok, bytes4 reason) {
        reason = _violation(_params[key], value, steward);
        if (reason == bytes4(0) && _brokenLink(_one(key), _one(value)) != NO_LINK) {
            reason = LinkViolated.selector;
        }
        ok = reason == bytes4(0);
    }

    /// @inheritdoc IParameterRegistry
    function checkBatch(bytes32[] calldata batchKeys, uint256[] calldata values, bool steward)
        external
        view
        returns (bool ok, bytes4 reason, bytes32 key, uint256 link)
    {
        link = NO_LINK;
        uint256 n = batchKeys.length;
        if (n == 0 || n != values.length) return (false, InvalidBatch.selector, bytes32(0), link);
        for (uint256 i; i < n; ++i) {
            key = batchKeys[i];
            for (uint256 j; j < i; ++j) {
                if (batchKeys[j] == key) return (false, DuplicateKey.selector, key, link);
            }
            reason = _violation(_params[key], values[i], steward);
            if (reason != bytes4(0)) return (false, reason, key, link);
        }
        link = _brokenLink(batchKeys, values);
        if (link != NO_LINK) return (false, LinkViolated.selector, _links[link].keys[0], link);
        return (true, bytes4(0), bytes32(0), link);
    }

    /// @inheritdoc IParameterRegistry
    function linkCount() external view returns (uint256) {
        return _links.length;
    }

    /// @inheritdoc IParameterRegistry
    function getLink(uint256 id) external view returns (Link memory) {
        if (id >= _links.length) revert UnknownLink(id);
        return _links[id];
    }

    /// @inheritdoc IParameterRegistry
    function linksOf(bytes32 key) external view returns (uint256[] memory) {
        return _linksOf[key];
    }

    /// @inheritdoc IParameterRegistry
    function freezeStatus(bytes32 key)
        external
        view
        returns (bool frozen, uint64 frozenUntil, uint256 freezableAt)
    {
        Param storage p = _existing(key);
        frozenUntil = p.frozenUntil;
        frozen = block.timestamp < frozenUntil;
        // Never frozen: freezable now (0), whether or not the period is defined yet.
        freezableAt = frozenUntil == 0 ? 0 : _freezableAt(p, _maxFreezePeriod());
    }

    /// @inheritdoc IParameterRegistry
    function keys() external view returns (bytes32[] memory) {
        return _keys;
    }

    /// @inheritdoc IParameterRegistry
    function nameOf(bytes32 key) external view returns (string memory) {
        _existing(key);
        return _names[key];
    }

    // ------------------------------------------------------------------ internals

    function _update(bytes32 key, uint256 value, bool steward) internal {
        Param storage p = _params[key];
        bytes4 reason = _violation(p, value, steward);
        if (reason != bytes4(0)) _revertWith(reason, key, p, value, steward);
        _requireLinks(_one(key), _one(value));
        _write(key, p, value, steward);
    }

    /// @dev Every entry is checked against the state before the batch (its step measured from the
    ///      pre-batch reference, its cooldown from the pre-batch timestamps) before any is written,
    ///      and a key may appear once: several steps in one batch cannot walk a parameter past
    ///      its step limit.
    function _updateBatch(bytes32[] calldata batchKeys, uint256[] calldata values, bool steward) internal {
        uint256 n = batchKeys.length;
        if (n == 0 || n != values.length) revert InvalidBatch(n, values.length);
        for (uint256 i; i < n; ++i) {
            bytes32 key = batchKeys[i];
            for (uint256 j; j < i; ++j) {
                if (batchKeys[j] == key) revert DuplicateKey(key);
            }
            Param storage p = _params[key];
            bytes4 reason = _violation(p, values[i], steward);
            if (reason != bytes4(0)) _revertWith(reason, key, p, values[i], steward);
        }
        // The links, on the values after the batch.
        _requireLinks(batchKeys, values);
        for (uint256 i; i < n; ++i) {
            _write(batchKeys[i], _params[batchKeys[i]], values[i], steward);
        }
    }

    /// @dev Reverts `LinkViolated` when setting `ks[i] := vs[i]` (all at once) would break a link.
    function _requireLinks(bytes32[] memory ks, uint256[] memory vs) internal view {
        uint256 id = _brokenLink(ks, vs);
        if (id != NO_LINK) _revertLink(_links[id], ks);
    }

    /// @dev The first live link naming one of `ks` that the values after `ks[i] := vs[i]` break,
    ///      or NO_LINK. Shared by `check`, `checkBatch` and the updates.
    function _brokenLink(bytes32[] memory ks, uint256[] memory vs) internal view returns (uint256) {
        for (uint256 i; i < ks.length; ++i) {
            uint256[] storage ids = _linksOf[ks[i]];
            for (uint256 j; j < ids.length; ++j) {
                Link storage link = _links[ids[j]];
                if (link.rule != LinkRule.NONE && !_holds(link, ks, vs)) return ids[j];
            }
        }
        return NO_LINK;
    }

    /// @dev Does `link` hold on the live values overridden by `ks[i] := vs[i]`?
    function _holds(Link memory link, bytes32[] memory ks, uint256[] memory vs) internal view returns (bool) {
        bytes32[] memory lk = link.keys;
        if (link.rule == LinkRule.LESS_THAN) return _valueOf(lk[0], ks, vs) < _valueOf(lk[1], ks, vs);
        if (link.rule == LinkRule.PRODUCT_WITH_BONUS_AT_MOST) {
            // a * (10_000 + b) <= bound * 10_000  <=>  a <= bound and a * b <= (bound - a) * 10_000,
            // the products compared in 512 bits: exact, no overflow for any values.
            uint256 a = _valueOf(lk[0], ks, vs);
            if (a > link.bound) return false;
            (uint256 hi, uint256 lo) = Math.mul512(a, _valueOf(lk[1], ks, vs));
            (uint256 roomHi, uint256 roomLo) = Math.mul512(link.bound - a, BPS);
            return hi < roomHi || (hi == roomHi && lo <= roomLo);
        }
        if (link.rule == LinkRule.RATIO_AT_MOST) {
            // a <= bound * b, the product in 512 bits: exact, no overflow for any values.
            (uint256 hi, uint256 lo) = Math.mul512(link.bound, _valueOf(lk[1], ks, vs));
            return hi != 0 || _valueOf(lk[0], ks, vs) <= lo;
        }
        // SUM_AT_LEAST: sum >= bound, summed without overflow (stops once the bound is reached).
        uint256 sum = 0;
        for (uint256 i; i < lk.length; ++i) {
            uint256 v = _valueOf(lk[i], ks, vs);
            if (v >= link.bound - sum) return true;
            sum += v;
        }
        return sum >= link.bound;
    }

    function _valueOf(bytes32 key, bytes32[] memory ks, uint256[] memory vs) internal view returns (uint256) {
        for (uint256 i; i < ks.length; ++i) {
            if (ks[i] == key) return vs[i];
        }
        return _livePlusOne[key] - 1;
    }

    /// @dev `LinkViolated(a, b, rule)`: a pair's two keys; for a sum its first key and the first
    ///      other key of the sum that the update touches (its second key when none does).
    function _revertLink(Link memory link, bytes32[] memory ks) internal pure {
        bytes32 a = link.keys[0];
        bytes32 b = link.keys[1];
        if (link.rule == LinkRule.SUM_AT_LEAST) {
            for (uint256 i = 1; i < link.keys.length; ++i) {
                if (_contains(ks, link.keys[i])) {
                    b = link.keys[i];
                    break;
                }
            }
        }
        revert LinkViolated(a, b, uint8(link.rule));
    }

    function _contains(bytes32[] memory ks, bytes32 key) internal pure returns (bool) {
        for (uint256 i; i < ks.length; ++i) {
            if (ks[i] == key) return true;
        }
        return false;
    }

    function _one(bytes32 key) internal pure returns (bytes32[] memory ks) {
        ks = new bytes32[](1);
        ks[0] = key;
    }

    function _one(uint256 value) internal pure returns (uint256[] memory vs) {
        vs = new uint256[](1);
        vs[0] = value;
    }

    function _write(bytes32 key, Param storage p, uint256 value, bool steward) internal {
        uint256 oldValue = p.value;
        p.value = value;
        _livePlusOne[key] = value + 1;
        p.lastUpdate = uint64(block.timestamp);
        if (!steward) {
            // Governance's own history: its step reference and its cooldown's start. A steward
            // move never touches these, so it can never make a governance update fail.
            p.governanceValue = value;
            p.lastGovernanceUpdate = uint64(block.timestamp);
        }
        emit ParameterSet(key, oldValue, value, msg.sender);
    }

    /// @dev The first rule an update of `p` to `value` breaks, as an error selector (0 if none).
    ///      Shared by `check` and the updates so that the two can never disagree. Governance's
    ///      rules read only governance's own history (`governanceValue`, `lastGovernanceUpdate`),
    ///      the bounds and the freeze: nothing the steward can change.
    function _violation(Param storage p, uint256 value, bool steward) internal view returns (bytes4) {
        if (!p.exists) return UnknownParameter.selector;
        if (block.timestamp < p.frozenUntil) return ParameterFrozen.selector;
        if (steward && p.stewardStepBps == 0) return StewardDisabled.selector;
        if (value < p.min || value > p.max) return OutOfBounds.selector;
        uint16 stepBps = steward ? p.stewardStepBps : p.maxStepBps;
        if (stepBps != 0 && !_withinStep(_stepFrom(p, steward), value, p.max, stepBps)) {
            return StepTooLarge.selector;
        }
        if (block.timestamp < _readyAt(p, steward)) return Cooldown.selector;
        return bytes4(0);
    }

    function _revertWith(bytes4 reason, bytes32 key, Param storage p, uint256 value, bool steward) internal view {
        if (reason == UnknownParameter.selector) revert UnknownParameter(key);
        if (reason == ParameterFrozen.selector) revert ParameterFrozen(key);
        if (reason == StewardDisabled.selector) revert StewardDisabled(key);
        if (reason == OutOfBounds.selector) revert OutOfBounds(key, value, p.min, p.max);
        if (reason == StepTooLarge.selector) {
            uint16 stepBps = steward ? p.stewardStepBps : p.maxStepBps;
            revert StepTooLarge(key, _stepFrom(p, steward), value, stepBps);
        }
        revert Cooldown(key, _readyAt(p, steward));
    }

    /// @dev |new - old| * 10_000 <= stepBps * ref, with ref = old, or max when old is 0.
    ///      Evaluated as delta <= floor(ref * stepBps / 10_000) in full width (Math.mulDiv): for an
    ///      integer delta the floor changes nothing, so the comparison is exact and cannot overflow.
    function _withinStep(uint256 oldValue, uint256 newValue, uint256 max, uint16 stepBps)
        internal
        pure
        returns (bool)
    {
        uint256 delta = newValue > oldValue ? newValue - oldValue : oldValue - newValue;
        uint256 ref = oldValue == 0 ? max : oldValue;
        return delta <= Math.mulDiv(ref, stepBps, BPS);
    }

    /// @dev The value a step is measured from: the live value for the steward, the value of
    ///      governance's last update (or the definition) for governance.
    function _stepFrom(Param storage p, bool steward) internal view returns (uint256) {
        if (steward) return p.value;
        // Governance's own last value, brought into the bounds: new bounds that left it outside
        // (`setBounds`) never leave governance unable to step into them.
        uint256 g = p.governanceValue;
        return g < p.min ? p.min : g > p.max ? p.max : g;
    }

    /// @dev The steward waits its cooldown after any update (governance's included);
    ///      governance waits its own after its own last update only.
    function _readyAt(Param storage p, bool steward) internal view returns (uint256) {
        return steward
            ? uint256(p.lastUpdate) + p.stewardCooldown
            : uint256(p.lastGovernanceUpdate) + p.cooldown;
    }

    /// @dev `registry.maxFreezePeriod`, at most MAX_FREEZE_CEILING (its bounds, so timestamps plus
    ///      the period cannot overflow). Reverts `UnknownParameter(MAX_FREEZE_PERIOD_KEY)` while it is
    ///      undefined: no freeze without a governed end.
    function _maxFreezePeriod() internal view returns (uint256) {
        uint256 plusOne = _livePlusOne[MAX_FREEZE_PERIOD_KEY];
        if (plusOne == 0) revert UnknownParameter(MAX_FREEZE_PERIOD_KEY);
        return plusOne - 1;
    }

    /// @dev When `p` may be frozen again: at once if never frozen, else `period` seconds after
    ///      its last freeze ended (at `frozenUntil`, the expiry or governance's unfreeze). While
    ///      frozen this lies in the future, so a freeze can never be extended or renewed at once.
    function _freezableAt(Param storage p, uint256 period) internal view returns (uint256) {
        return p.frozenUntil == 0 ? 0 : uint256(p.frozenUntil) + period;
    }

    function _existing(bytes32 key) internal view returns (Param storage p) {
        p = _params[key];
        if (!p.exists) revert UnknownParameter(key);
    }

    function _validateBounds(bytes32 key, uint256 min, uint256 max, uint16 maxStepBps) internal pure {
        // max < 2^256 - 1: every value fits `_livePlusOne`.
        if (min > max || max == type(uint256).max) revert InvalidBounds(min, max);
        if (maxStepBps > BPS) revert InvalidStep(maxStepBps);
        // A freeze must end while the change queued behind it can still execute (the timelock's
        // grace period less a margin): no bounds let governance, or a captured vote, make the
        // guardian's freeze outlast it.
        if (key == MAX_FREEZE_PERIOD_KEY && max > MAX_FREEZE_CEILING) {
            revert FreezePeriodTooLong(max, MAX_FREEZE_CEILING);
        }
    }

    function _validateStewardLimits(
        bytes32 key,
        uint16 stewardStepBps,
        uint32 stewardCooldown,
        uint16 maxStepBps,
        uint32 cooldown
    ) internal pure {
        if (stewardStepBps == 0) return; // steward disabled: nothing to compare
        if (stewardStepBps > BPS) revert InvalidStep(stewardStepBps);
        // Tighter than governance: no larger step and a strictly longer cooldown. (A steward move
        // no longer restarts governance's cooldown, see `_readyAt`; the steward is still the
        // slower of the two, and waits its cooldown after any update, governance's included.)
        if ((maxStepBps != 0 && stewardStepBps > maxStepBps) || stewardCooldown <= cooldown) {
            revert StewardLimitsTooLoose(key, stewardStepBps, stewardCooldown);
        }
    }
}
