// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
import {IGovernor} from "@openzeppelin/contracts/governance/IGovernor.sol";

/// @title GuardianVeto
/// @notice The guardian's only way to cancel queued governance: it holds the timelock's
///         CANCELLER role (the guardian does not) and cancels for the guardian at most once per
///         action. An action is the operation's calls, `(targets, values, payloads)`, whatever
///         its salt or predecessor. The first veto of an action cancels one operation and
///         records its time (`vetoedAt`); after it the guardian may cancel every other queued
///         copy of the action whose proposal's vote had ended before then (the same calls voted
///         twice, under two descriptions, are both cancelled, in any order), and none whose vote
///         ended later: the DAO that passes the same calls again after seeing the veto (a new
///         proposal, so a new salt) cannot be vetoed. Such a copy is queued after its vote and
///         executes a timelock delay after that, so a veto holds the action back until at least
///         its own time plus the delay: the guardian can delay any change, its own removal
///         included, by one proposal cycle, and never veto governance forever. The rule reads
///         the governor's record of the vote, not the timelock's ready time, so a change of the
///         timelock delay neither hides a copy voted before the veto nor exposes one voted
///         after it.
/// @dev The guardian and the governor are fixed; the DAO replaces this contract by granting
///      CANCELLER to a new GuardianVeto and revoking this one's (a proposal this veto may cancel
///      once, like any other). Copies are matched to their proposal as GovernorTimelockControl
///      schedules them: salt `bytes20(governor) ^ descriptionHash`, the proposal id
///      `governor.hashProposal(targets, values, payloads, descriptionHash)`; an operation no
///      proposal of `governor` carries is never a covered copy.
contract GuardianVeto {
    TimelockController public immutable timelock;
    IGovernor public immutable governor;
    address public immutable guardian;

    /// @notice The governor's clock (ERC-6372: here a timestamp) at the first veto of the action
    ///         with this hash (`actionHash`); 0: never vetoed.
    mapping(bytes32 action => uint256) public vetoedAt;

    event Vetoed(bytes32 indexed operationId, bytes32 indexed action);

    error NotGuardian(address caller);
    error AlreadyVetoed(bytes32 action);

    constructor(TimelockController timelock_, IGovernor governor_, address guardian_) {
        timelock = timelock_;
        governor = governor_;
        guardian = guardian_;
    }

    /// @notice Whether the guardian already vetoed the action with this hash (`actionHash`).
    function vetoed(bytes32 action) external view returns (bool) {
        return vetoedAt[action] != 0;
    }

    /// @notice The action an operation carries: the hash of its calls, without salt or
    ///         predecessor.
    function actionHash(address[] calldata targets, uint256[] calldata values, bytes[] calldata payloads)
        public
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(targets, values, payloads));
    }

    /// @notice Whether the guardian may cancel the operation `(targets, values, payloads, *,
    ///         salt)` as far as the once-per-action rule goes: its action was never vetoed, or
    ///         the vote of the proposal that carries it ended before the first veto (its
    ///         deadline's second still takes votes, so a deadline equal to `vetoedAt` is not).
    function covered(address[] calldata targets, uint256[] calldata values, bytes[] calldata payloads, bytes32 salt)
        public
        view
        returns (bool)
    {
        uint256 at = vetoedAt[actionHash(targets, values, payloads)];
        if (at == 0) return true;
        bytes32 descriptionHash = salt ^ bytes32(bytes20(address(governor)));
        uint256 deadline = governor.proposalDeadline(governor.hashProposal(targets, values, payloads, descriptionHash));
        return deadline != 0 && deadline < at; // Governor counts the deadline's second as voting
    }

    /// @notice Cancels the pending timelock operation `(targets, values, payloads, predecessor,
    ///         salt)` (a queued proposal's, as GovernorTimelockControl scheduled it). Guardian
    ///         only; reverts `AlreadyVetoed` for a copy of a vetoed action voted after the veto
    ///         (`covered` false), and as `TimelockController.cancel` does when the operation is
    ///         not pending.
    function cancel(
        address[] calldata targets,
        uint256[] calldata values,
        bytes[] calldata payloads,
        bytes32 predecessor,
        bytes32 salt
    ) external returns (bytes32 id) {
        if (msg.sender != guardian) revert NotGuardian(msg.sender);
        bytes32 action = actionHash(targets, values, payloads);
        if (!covered(targets, values, payloads, salt)) revert AlreadyVetoed(action);
        if (vetoedAt[action] == 0) vetoedAt[action] = governor.clock();
        id = timelock.hashOperationBatch(targets, values, payloads, predecessor, salt);
        timelock.cancel(id); // reverts unless pending
        emit Vetoed(id, action);
    }
}
