// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";

/// @dev BallastTimelock.GRACE_PERIOD, shared with the governor (which reports expiry).
uint256 constant TIMELOCK_GRACE_PERIOD = 90 days;
/// @dev The longest freeze the registry allows (`registry.maxFreezePeriod`'s ceiling): the
///      grace period less 30 days, so a freeze started before a change became ready, or less
///      than 30 days after, only delays it.
uint256 constant MAX_FREEZE_CEILING = TIMELOCK_GRACE_PERIOD - 30 days;

/// @title BallastTimelock
/// @notice OpenZeppelin's TimelockController with one rule added: an operation executes only
///         within `GRACE_PERIOD` of becoming ready (Compound's Timelock rule, 14 days there).
///         It holds GOVERNANCE on the ParameterRegistry and the admin roles elsewhere; the
///         governor proposes, anyone executes, the guardian cancels through `GuardianVeto`
///         (once per action).
/// @dev Why the grace period: OZ's operations never expire, so one left queued because it
///      reverted when it became ready (a freeze, a link, a cooldown) stayed a standing option for
///      anyone to execute whenever it turned valid, months later, over the DAO's later decisions;
///      and once the guardian had vetoed its action, neither the veto nor the governor could
///      cancel it. Past the grace period it can no longer execute (`OperationExpired`), and the
///      governor reports its proposal `Expired`. 90 days: 30 days longer than the longest guardian
///      freeze (`registry.maxFreezePeriod`, at most `MAX_FREEZE_CEILING`, 60 days: the registry
///      refuses wider bounds and the deploy config checks it first), so a
///      freeze started before the change became ready, or less than 30 days after, only delays it.
///      A guardian freezing a batch's keys one after another can outlast it: the DAO then passes
///      the batch again with its `unfreeze` calls (`ape run params propose --unfreeze`).
///      Its minimum delay must exceed `agent.unbondingPeriod` and a depositor's exit time, so
///      nobody is trapped by a change they can see coming: the deploy config checks the delay it
///      deploys with, and passes the least delay those rules allow as `DELAY_FLOOR`, below which
///      governance can never set it (`updateDelay`): a proposal lowering the delay under a
///      depositor's exit time would otherwise let every later change arrive faster than an exit.
contract BallastTimelock is TimelockController {
    /// @notice How long after its ready time an operation may still execute.
    uint256 public constant GRACE_PERIOD = TIMELOCK_GRACE_PERIOD;
    /// @notice The least minimum delay this timelock may ever have (set at deployment).
    uint256 public immutable DELAY_FLOOR;

    /// @dev The minimum delay (OpenZeppelin's own is private: `getMinDelay` reads this instead).
    uint256 private _delay;

    /// @notice Operation `id` was ready at `readyAt` and could execute until `readyAt + GRACE_PERIOD`.
    error OperationExpired(bytes32 id, uint256 readyAt);
    /// @notice A minimum delay `delay` below `floor` (`DELAY_FLOOR`) was asked for.
    error DelayBelowFloor(uint256 delay, uint256 floor);

    constructor(
        uint256 minDelay,
        uint256 delayFloor,
        address[] memory proposers,
        address[] memory executors,
        address admin
    ) TimelockController(minDelay, proposers, executors, admin) {
        if (minDelay < delayFloor) revert DelayBelowFloor(minDelay, delayFloor);
        DELAY_FLOOR = delayFloor;
        _delay = minDelay;
    }

    /// @inheritdoc TimelockController
    function getMinDelay() public view override returns (uint256) {
        return _delay;
    }

    /// @inheritdoc TimelockController
    /// @dev As OpenZeppelin's (only the timelock itself, so only through a proposal), and never
    ///      below `DELAY_FLOOR`.
    function updateDelay(uint256 newDelay) external override {
        if (msg.sender != address(this)) revert TimelockUnauthorizedCaller(msg.sender);
        if (newDelay < DELAY_FLOOR) revert DelayBelowFloor(newDelay, DELAY_FLOOR);
        emit MinDelayChange(_delay, newDelay);
        _delay = newDelay;
    }

    /// @inheritdoc TimelockController
    function execute(address target, uint256 value, bytes calldata payload, bytes32 predecessor, bytes32 salt)
        public
        payable
        override
    {
        _checkNotExpired(hashOperation(target, value, payload, predecessor, salt));
        super.execute(target, value, payload, predecessor, salt);
    }

    /// @inheritdoc TimelockController
    function executeBatch(
        address[] calldata targets,
        uint256[] calldata values,
        bytes[] calldata payloads,
        bytes32 predecessor,
        bytes32 salt
    ) public payable override {
        _checkNotExpired(hashOperationBatch(targets, values, payloads, predecessor, salt));
        super.executeBatch(targets, values, payloads, predecessor, salt);
    }

    /// @dev Reverts for a pending operation past its grace period; anything else is left to the
    ///      TimelockController's own checks (an unknown, cancelled or done operation).
    function _checkNotExpired(bytes32 id) private view {
        uint256 readyAt = getTimestamp(id);
        if (readyAt > _DONE_TIMESTAMP && block.timestamp > readyAt + GRACE_PERIOD) {
            revert OperationExpired(id, readyAt);
        }
    }
}
