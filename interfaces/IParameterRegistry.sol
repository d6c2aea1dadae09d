// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IParameterRegistry
/// @notice Every risk knob of Ballast, changeable only inside hard bounds, by bounded steps,
///         after cooldowns.
/// @dev Assumptions and rules, relied on by the vault, the lending sleeve, the agent registry,
///      the keepers and the `params` script:
///      - A parameter is addressed by `key = keccak256(bytes(name))`; names such as
///        "vault.idleBufferBps" are the public API. A parameter is defined once and never removed.
///      - Invariant: `min <= value <= max` at all times. `defineParameter` refuses anything that
///        would break it; `setBounds` moves a value outside the new range to the nearest new bound
///        (a `ParameterSet` before `BoundsSet`). `max` is below
///        type(uint256).max (`InvalidBounds` otherwise), so `get` reads one storage slot.
///      - Step rule: an update from `old` to `new` is allowed when
///        `|new - old| * 10_000 <= stepBps * ref`, where `ref = old` if `old != 0`, else
///        `ref = max` (so a parameter at 0 can leave 0 by at most `stepBps` of its maximum).
///        `stepBps == 0` means "no step limit" for governance (any value within bounds).
///        `old` depends on who updates: for the steward it is the live `value`; for governance it
///        is `governanceValue`, the value of governance's own last update (or of the definition),
///        brought into `[min, max]` when new bounds left it outside.
///      - Cooldown rule: the steward may update when `block.timestamp >= lastUpdate +
///        stewardCooldown`, where `lastUpdate` is the time of the last update by anyone
///        (governance's included: the steward never moves right after governance). Governance
///        may update when `block.timestamp >= lastGovernanceUpdate + cooldown`, counting only its
///        own updates. Defining counts as the first update of both.
///      - Governance's `set` is never blocked by the steward's timing: whether it passes depends
///        only on the bounds, `governanceValue`, `lastGovernanceUpdate`, the freeze and the
///        time, none of which the steward can change. So a `set` that `check` accepts (or whose
///        only refusal is a cooldown that ends before it executes) when a proposal is queued
///        still passes when the proposal executes, whatever the steward did meanwhile, unless
///        governance itself updated or re-bounded the parameter, or the guardian froze it. The
///        price: one governance update undoing steward moves can move the live value by more than
///        `maxStepBps` of it (by at most `maxStepBps` of `governanceValue` plus the steward's drift
///        since governance's last update), and a steward drift beyond governance's step is
///        confirmed by governance in several steps. Both are visible: the target value is public
///        for the whole vote and timelock delay.
///      - Governance (`set`) uses `maxStepBps`/`cooldown`; the steward (`stewardSet`) uses
///        `stewardStepBps`/`stewardCooldown`, which are never looser: `stewardStepBps` is
///        non-zero (0 disables the steward for that parameter), at most 10_000 and at most
///        `maxStepBps` when that is non-zero, and `stewardCooldown > cooldown` strictly.
///      - Freeze: the guardian freezes a parameter for exactly `registry.maxFreezePeriod` seconds
///        (the registry's own parameter, key `MAX_FREEZE_PERIOD_KEY`, read when `freeze` is
///        called; `freeze` reverts `UnknownParameter(MAX_FREEZE_PERIOD_KEY)` while it is
///        undefined; its upper bound, set by `defineParameter` or `setBounds`, may not exceed 60
///        days, `FreezePeriodTooLong`, so a freeze ends within the timelock's grace period).
///        A frozen parameter accepts no `set` or `stewardSet` while
///        `block.timestamp < frozenUntil`; from `frozenUntil` on it is updatable again without
///        any unfreeze. Governance may lift a freeze early (`unfreeze`: the freeze ends then);
///        `unfreeze` of a parameter that is not frozen changes nothing and does not revert (a
///        proposal prepared during a freeze still executes after it ran out). A freeze cannot be
///        extended or renewed at once: a key may be frozen again only from `freezableAt =
///        frozenUntil + registry.maxFreezePeriod` (the period in force at that moment), so every
///        freeze is followed by a window at least as long as the freeze in which governance's
///        queued updates execute (`FreezeTooSoon(key, freezableAt)` before). Together with
///        `GuardianVeto` (the guardian's only way to cancel in the timelock, once per action)
///        this bounds what the guardian can delay: cancelling an unfreeze proposal keeps a key
///        frozen for one period at most, and the same unfreeze passed again cannot be
///        cancelled. Bounds may still be
///        changed by governance while frozen.
///      - Links: governance declares constraints between parameters (`addLink`: LESS_THAN,
///        PRODUCT_WITH_BONUS_AT_MOST, SUM_AT_LEAST, RATIO_AT_MOST, see `LinkRule`), which must
///        hold when declared. Every `set`, `stewardSet`, `setBatch` and `stewardSetBatch` (so every
///        proposal's execution) is refused with `LinkViolated(a, b, rule)` when the values after
///        it would break a link naming one of its keys; value rules are checked first. Invariant:
///        every live link holds at all times. A batch checks each entry's value rules against
///        the state before the batch and the links on the values after it, so linked parameters
///        move together where one alone could not. Links read live values, which the steward may
///        have moved: the one exception to "governance is never blocked by the steward" is a
///        `set` whose target the steward's move of a linked parameter made inconsistent (it
///        reverts rather than leave the pair inconsistent; `checkBatch` shows it).
///      - `check` evaluates the value rules (existence, freeze, bounds, step, cooldown), then the
///        links, at the current block for the steward's or governance's rules, not the caller's
///        role; `reason` is the selector of the custom error the update would revert with, or
///        `bytes4(0)` when it would pass. It shares its code with the updates, so the two never
///        disagree. `checkBatch` does the same for a batch.
interface IParameterRegistry {
    /// @notice How a link relates the values of its keys (all read as stored, in their units).
    ///         NONE marks a removed link.
    enum LinkRule {
        NONE,
        /// keys[0] < keys[1] (e.g. a collateral's LTV below its liquidation threshold).
        LESS_THAN,
        /// keys[0] * (10_000 + keys[1]) <= bound * 10_000 (with bound 10_000: threshold x
        /// (1 + bonus) <= 100 %, so a liquidation near health 1 raises health).
        PRODUCT_WITH_BONUS_AT_MOST,
        /// keys[0] + keys[1] + ... >= bound (e.g. idle buffer + every sleeve cap >= 100 %: the
        /// vault can place all its assets within its caps).
        SUM_AT_LEAST,
        /// keys[0] <= bound * keys[1] (e.g. an evaluation window at most 120 rebalance
        /// cooldowns: an evaluation walks the decisions inside its window, a bounded number).
        RATIO_AT_MOST
    }

    /// @notice A constraint between parameters, declared by governance and enforced on every
    ///         update.
    struct Link {
        LinkRule rule;
        bytes32[] keys;
        uint256 bound; // the rule's constant; LESS_THAN ignores it (deploy gives 0)
    }

    /// @notice A parameter and its rules.
    struct Param {
        uint256 value;
        uint256 min;
        uint256 max;
        uint256 governanceValue; // value of governance's last update (or the definition): its step reference
        uint16 maxStepBps; // governance step limit, bps of the reference value; 0 = unlimited
        uint32 cooldown; // governance: seconds from its own last update
        uint64 lastUpdate; // timestamp of the last update by anyone (or of the definition)
        uint64 lastGovernanceUpdate; // timestamp of governance's last update (or of the definition)
        uint16 stewardStepBps; // steward step limit; 0 = the steward may not change it
        uint32 stewardCooldown; // steward: seconds from the last update by anyone
        uint64 frozenUntil; // frozen while block.timestamp < frozenUntil; 0 = never frozen
        bool exists;
    }

    event ParameterDefined(
        bytes32 indexed key, string name, uint256 value, uint256 min, uint256 max, uint16 maxStepBps, uint32 cooldown
    );
    event ParameterSet(bytes32 indexed key, uint256 oldValue, uint256 newValue, address indexed by);
    event BoundsSet(bytes32 indexed key, uint256 min, uint256 max, uint16 maxStepBps, uint32 cooldown);
    event StewardLimitsSet(bytes32 indexed key, uint16 stewardStepBps, uint32 stewardCooldown);
    /// @notice The guardian froze `key` until `frozenUntil` (exclusive: updatable from then on).
    event Frozen(bytes32 indexed key, uint64 frozenUntil);
    /// @notice Governance lifted the freeze of `key` before it expired.
    event Unfrozen(bytes32 indexed key);

    /// @notice The steward applied `keys[i] := values[i]` (one `ParameterSet` each) in one
    ///         `stewardSetBatch`, explained by the document at `rationaleURI` whose keccak256 is
    ///         `rationaleHash`.
    event StewardUpdate(bytes32 indexed rationaleHash, string rationaleURI, bytes32[] keys, uint256[] values);

    event LinkAdded(uint256 indexed id, LinkRule rule, bytes32[] keys, uint256 bound);
    event LinkRemoved(uint256 indexed id);

    error UnknownParameter(bytes32 key);
    error AlreadyDefined(bytes32 key);
    error EmptyName();
    error InvalidBounds(uint256 min, uint256 max);
    error InvalidStep(uint16 stepBps);
    error OutOfBounds(bytes32 key, uint256 value, uint256 min, uint256 max);
    /// @notice `newValue` is too far from `oldValue`, the step's reference: the live value for
    ///         the steward, `governanceValue` for governance.
    error StepTooLarge(bytes32 key, uint256 oldValue, uint256 newValue, uint16 maxStepBps);
    /// @notice Too early: for governance `readyAt = lastGovernanceUpdate + cooldown`, for the
    ///         steward `readyAt = lastUpdate + stewardCooldown`.
    error Cooldown(bytes32 key, uint256 readyAt);
    /// @notice Frozen by the guardian (see `freezeStatus(key)` for when it ends).
    error ParameterFrozen(bytes32 key);
    error StewardDisabled(bytes32 key);
    error StewardLimitsTooLoose(bytes32 key, uint16 stewardStepBps, uint32 stewardCooldown);
    /// @notice The update would break link `rule` between `a` and `b` (for a sum: its first key
    ///         and the first other key of the sum the update touches, else its second key).
    error LinkViolated(bytes32 a, bytes32 b, uint8 rule);
    /// @notice A link needs a rule and two keys (LESS_THAN, PRODUCT_WITH_BONUS_AT_MOST) or two to
    ///         sixteen (SUM_AT_LEAST).
    error InvalidLink(LinkRule rule, uint256 keys);
    error UnknownLink(uint256 id);
    /// @notice A batch is empty or its arrays differ in length.
    error InvalidBatch(uint256 keys, uint256 values);
    /// @notice A batch names `key` twice.
    error DuplicateKey(bytes32 key);
    /// @notice `key` was frozen too recently (or is frozen): it may be frozen again from `freezableAt`.
    error FreezeTooSoon(bytes32 key, uint256 freezableAt);
    /// @notice Bounds for `registry.maxFreezePeriod` above `ceiling` seconds (the timelock's grace
    ///         period less 30 days), so a freeze could outlast the change queued behind it.
    error FreezePeriodTooLong(uint256 max, uint256 ceiling);

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

    /// @notice Governance update: within bounds, within `maxStepBps` of `governanceValue`, from
    ///         `lastGovernanceUpdate + cooldown`, not frozen. GOVERNANCE only. No steward move can
    ///         change the outcome (see the rules above).
    function set(bytes32 key, uint256 value) external;

    /// @notice Fast, small update by the steward: within bounds, within `stewardStepBps` of the
    ///         live value, from `lastUpdate + stewardCooldown` (after anyone's update), not frozen.
    ///         STEWARD only.
    function stewardSet(bytes32 key, uint256 value) external;

    /// @notice Governance updates several parameters at once (so that linked parameters move
    ///         together). GOVERNANCE only. Each entry follows the rules of `set`, checked against
    ///         the state before the batch (step from the pre-batch `governanceValue`, cooldown from
    ///         the pre-batch `lastGovernanceUpdate`); a key may appear once (`DuplicateKey`); the
    ///         arrays are non-empty and of one length (`InvalidBatch`). All or nothing.
    function setBatch(bytes32[] calldata batchKeys, uint256[] calldata values) external;

    /// @notice The steward's batch: each entry follows the rules of `stewardSet`, checked against
    ///         the state before the batch (step from the pre-batch live value, cooldown from the
    ///         pre-batch `lastUpdate`); a key may appear once. All or nothing. Emits one
    ///         `StewardUpdate(rationaleHash, rationaleURI, keys, values)` after the
    ///         `ParameterSet` events. STEWARD only.
    /// @param rationaleHash keccak256 of the rationale document.
    /// @param rationaleURI Where the rationale document can be read.
    function stewardSetBatch(
        bytes32[] calldata batchKeys,
        uint256[] calldata values,
        bytes32 rationaleHash,
        string calldata rationaleURI
    ) external;

    /// @notice Declares a link between defined, distinct parameters, enforced from now on by
    ///         every update (`LinkViolated`). The current values must satisfy it. GOVERNANCE only.
    /// @param bound The rule's constant (see `LinkRule`); LESS_THAN ignores it.
    /// @return id The link's id (0, 1, ... in declaration order).
    function addLink(LinkRule rule, bytes32[] calldata linkKeys, uint256 bound) external returns (uint256 id);

    /// @notice Stops enforcing link `id` (its id stays taken; `getLink` shows rule NONE).
    ///         GOVERNANCE only.
    function removeLink(uint256 id) external;

    /// @notice Changes a parameter's bounds and governance limits. GOVERNANCE only. Reverts
    ///         `StewardLimitsTooLoose` if the steward's limits would become looser than the new
    ///         ones. A current value outside `[min, max]` (a steward step during the proposal's
    ///         timelock, say) is moved to the nearest new bound instead of stranded, so a value
    ///         moved within the old bounds is no reason for a queued change of bounds to revert.
    ///         That move is an update: refused `ParameterFrozen` while the key is frozen and
    ///         `LinkViolated` when it would break a link (a steward move of a linked parameter
    ///         can still cause that: name both in the proposal, the other one set first); it
    ///         restarts the steward's cooldown and leaves governance's cooldown and last value as
    ///         they were (a `set` of the key in the same proposal is judged as without it; its
    ///         step counts from that value brought into the new bounds).
    function setBounds(bytes32 key, uint256 min, uint256 max, uint16 maxStepBps, uint32 cooldown) external;

    /// @notice Sets the steward's step and cooldown for a parameter. GOVERNANCE only.
    /// @param stewardStepBps 0 disables the steward; otherwise at most 10_000 (else `InvalidStep`)
    ///        and at most `maxStepBps` when that is non-zero.
    /// @param stewardCooldown Strictly longer than the governance `cooldown`.
    function setStewardLimits(bytes32 key, uint16 stewardStepBps, uint32 stewardCooldown) external;

    /// @notice Blocks every update of a parameter for `registry.maxFreezePeriod` seconds. GUARDIAN
    ///         only. Reverts `FreezeTooSoon(key, freezableAt)` while the key is frozen or less than
    ///         one period has passed since its last freeze ended, and
    ///         `UnknownParameter(MAX_FREEZE_PERIOD_KEY)` while that parameter is undefined.
    function freeze(bytes32 key) external;

    /// @notice Lifts a freeze now (the gap before the next freeze starts now). GOVERNANCE only.
    ///         A parameter that is not frozen is left as it is (no event, no revert).
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

    /// @notice Would a batch (`setBatch` for governance, `stewardSetBatch` for the steward) pass
    ///         now? Same checks and order as the batch itself.
    /// @return ok True when it would pass.
    /// @return reason The selector of the error it would revert with, or bytes4(0).
    /// @return key The entry that breaks a value rule (or is a duplicate); for `LinkViolated`
    ///         the broken link's first key; 0 when ok or the batch is malformed.
    /// @return link The broken link's id for `LinkViolated`, else type(uint256).max.
    function checkBatch(bytes32[] calldata batchKeys, uint256[] calldata values, bool steward)
        external
        view
        returns (bool ok, bytes4 reason, bytes32 key, uint256 link);

    /// @notice How many links were ever declared (removed ones included).
    function linkCount() external view returns (uint256);

    /// @notice Link `id`; reverts `UnknownLink` past the last one.
    function getLink(uint256 id) external view returns (Link memory);

    /// @notice The ids of the links naming `key` (removed ones included).
    function linksOf(bytes32 key) external view returns (uint256[] memory);

    /// @notice The freeze of `key`, as the guardian and the CLI read it; reverts `UnknownParameter`
    ///         for an undefined key.
    /// @return frozen True while updates are refused (`block.timestamp < frozenUntil`).
    /// @return frozenUntil When the current or last freeze ends or ended; 0 if never frozen.
    /// @return freezableAt From when `freeze(key)` passes: 0 if never frozen, else
    ///         `frozenUntil + registry.maxFreezePeriod` (the period in force now).
    function freezeStatus(bytes32 key)
        external
        view
        returns (bool frozen, uint64 frozenUntil, uint256 freezableAt);

    /// @notice All defined keys, in definition order.
    function keys() external view returns (bytes32[] memory);

    /// @notice The name a key was defined with; reverts `UnknownParameter` for an undefined key.
    function nameOf(bytes32 key) external view returns (string memory);
}
