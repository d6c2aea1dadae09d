// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IParameterRegistry
/// @notice Every risk knob of Ballast, changeable only inside hard bounds, by bounded steps,
///         after cooldowns.
/// @dev Assumptions and rules, relied on by the vault, the lending sleeve, the agent registry,
///      the keepers and the `params` script:
///      - A parameter is addressed by `key = keccak256(bytes(name))`; names such as
///        "vault.idleBufferBps" are the public API. A parameter is defined once and never removed.
///      - Invariant: `min <= value <= max` at all times. `defineParameter` and `setBounds` refuse anything
///        that would break it (`setBounds` may not strand the current value). `max` is below
///        type(uint256).max (`InvalidBounds` otherwise), so `get` reads one storage slot.
///      - Step rule: an update from `old` to `new` is allowed when
///        `|new - old| * 10_000 <= stepBps * ref`, where `ref = old` if `old != 0`, else
///        `ref = max` (so a parameter at 0 can leave 0 by at most `stepBps` of its maximum).
///        `stepBps == 0` means "no step limit" for governance (any value within bounds).
///      - Cooldown rule: an update is allowed when `block.timestamp >= lastUpdate + cooldown`.
///        Defining counts as the first update. Every successful update (governance or steward)
///        resets `lastUpdate`.
///      - Governance (`set`) uses `maxStepBps`/`cooldown`; the steward (`stewardSet`) uses
///        `stewardStepBps`/`stewardCooldown`, which are never looser: `stewardStepBps` is
///        non-zero (0 disables the steward for that parameter), at most 10_000 and at most
///        `maxStepBps` when that is non-zero, and `stewardCooldown > cooldown` strictly. Since
///        every update restarts both cooldowns, the strict inequality guarantees governance a
///        window of `stewardCooldown - cooldown` seconds after each steward move: the steward
///        can never keep governance out by updating the moment it may.
///      - A frozen parameter accepts no `set` or `stewardSet` until governance unfreezes it; the
///        guardian freezes. Bounds may still be changed by governance while frozen.
///      - `check` evaluates the value rules (existence, freeze, bounds, step, cooldown) at the
///        current block, not the caller's role; `reason` is the selector of the custom error the
///        update would revert with, or `bytes4(0)` when it would pass.
interface IParameterRegistry {
    /// @notice A parameter and its rules.
    struct Param {
        uint256 value;
        uint256 min;
        uint256 max;
        uint16 maxStepBps; // governance step limit, bps of the reference value; 0 = unlimited
        uint32 cooldown; // governance: seconds between two updates
        uint64 lastUpdate; // timestamp of the last update (or of the definition)
        uint16 stewardStepBps; // steward step limit; 0 = the steward may not change it
        uint32 stewardCooldown; // steward: seconds between two updates
        bool frozen;
        bool exists;
    }

    event ParameterDefined(
        bytes32 indexed key, string name, uint256 value, uint256 min, uint256 max, uint16 maxStepBps, uint32 cooldown
    );
    event ParameterSet(bytes32 indexed key, uint256 oldValue, uint256 newValue, address indexed by);
    event BoundsSet(bytes32 indexed key, uint256 min, uint256 max, uint16 maxStepBps, uint32 cooldown);
    event StewardLimitsSet(bytes32 indexed key, uint16 stewardStepBps, uint32 stewardCooldown);
    event Frozen(bytes32 indexed key);
    event Unfrozen(bytes32 indexed key);

    error UnknownParameter(bytes32 key);
    error AlreadyDefined(bytes32 key);
    error EmptyName();
    error InvalidBounds(uint256 min, uint256 max);
    error InvalidStep(uint16 stepBps);
    error OutOfBounds(bytes32 key, uint256 value, uint256 min, uint256 max);
    error StepTooLarge(bytes32 key, uint256 oldValue, uint256 newValue, uint16 maxStepBps);
    error Cooldown(bytes32 key, uint256 readyAt);
    error ParameterFrozen(bytes32 key);
    error StewardDisabled(bytes32 key);
    error StewardLimitsTooLoose(bytes32 key, uint16 stewardStepBps, uint32 stewardCooldown);

    /// @notice Defines a new parameter. GOVERNANCE only.
    /// @dev DESIGN.md calls this `define`; `define` is a reserved keyword in Solidity.
    /// @param name Human-readable name; its keccak256 is the key.
    /// @param value Initial value, within `[min, max]`.
    /// @param min Lowest allowed value.
    /// @param max Highest allowed value.
    /// @param maxStepBps Largest relative change per governance update (bps; 0 = any).
    /// @param cooldown Seconds between two updates.
    /// @return key keccak256(bytes(name)).
    function defineParameter(string calldata name, uint256 value, uint256 min, uint256 max, uint16 maxStepBps, uint32 cooldown)
        external
        returns (bytes32 key);

    /// @notice Governance update: within bounds, within `maxStepBps`, after `cooldown`. GOVERNANCE only.
    function set(bytes32 key, uint256 value) external;

    /// @notice Fast, small update by the steward: within bounds, within `stewardStepBps`, after
    ///         `stewardCooldown`. STEWARD only.
    function stewardSet(bytes32 key, uint256 value) external;

    /// @notice Changes a parameter's bounds and governance limits. GOVERNANCE only. Reverts
    ///         `OutOfBounds` if the current value would fall outside `[min, max]`, and
    ///         `StewardLimitsTooLoose` if the steward's limits would become looser than the new ones.
    function setBounds(bytes32 key, uint256 min, uint256 max, uint16 maxStepBps, uint32 cooldown) external;

    /// @notice Sets the steward's step and cooldown for a parameter. GOVERNANCE only.
    /// @param stewardStepBps 0 disables the steward; otherwise at most 10_000 (else `InvalidStep`)
    ///        and at most `maxStepBps` when that is non-zero.
    /// @param stewardCooldown Strictly longer than the governance `cooldown`.
    function setStewardLimits(bytes32 key, uint16 stewardStepBps, uint32 stewardCooldown) external;

    /// @notice Blocks every update of a parameter. GUARDIAN only.
    function freeze(bytes32 key) external;

    /// @notice Lifts a freeze. GOVERNANCE only.
    function unfreeze(bytes32 key) external;

    /// @notice Current value; reverts `UnknownParameter` for an undefined key.
    function get(bytes32 key) external view returns (uint256);

    /// @notice The whole parameter record; reverts `UnknownParameter` for an undefined key.
    function getParam(bytes32 key) external view returns (Param memory);

    /// @notice Would an update of `key` to `value` pass now?
    /// @param steward True to check the steward's limits, false for governance's.
    /// @return ok True when the update would pass the value rules.
    /// @return reason The selector of the error the update would revert with, or bytes4(0).
    function check(bytes32 key, uint256 value, bool steward) external view returns (bool ok, bytes4 reason);

    /// @notice All defined keys, in definition order.
    function keys() external view returns (bytes32[] memory);

    /// @notice The name a key was defined with; reverts `UnknownParameter` for an undefined key.
    function nameOf(bytes32 key) external view returns (string memory);
}
