// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";

/// @title GuardianVeto
/// @notice The guardian's only way to cancel queued governance: it holds the timelock's
///         CANCELLER role (the guardian does not) and cancels an operation for the guardian at
///         most once per action. An action is the operation's calls, `(targets, values,
///         payloads)`, whatever its salt or predecessor: the DAO that passes the same calls again
///         (a new proposal, so a new salt) cannot be vetoed a second time. So the guardian can
///         delay any change, its own removal included, by one proposal cycle, and never veto
///         governance forever.
/// @dev The guardian is fixed; the DAO replaces it by granting CANCELLER to a new GuardianVeto
///      and revoking this one's (a proposal this veto may cancel once, like any other).
contract GuardianVeto {
    TimelockController public immutable timelock;
    address public immutable guardian;

    /// @notice Whether the guardian already vetoed the action with this hash (`actionHash`).
    mapping(bytes32 => bool) public vetoed;

    event Vetoed(bytes32 indexed operationId, bytes32 indexed action);

    error NotGuardian(address caller);
    error AlreadyVetoed(bytes32 action);

    constructor(TimelockController timelock_, address guardian_) {
        timelock = timelock_;
        guardian = guardian_;
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

    /// @notice Cancels the pending timelock operation `(targets, values, payloads, predecessor,
    ///         salt)` (a queued proposal's, as GovernorTimelockControl scheduled it). Guardian
    ///         only; reverts `AlreadyVetoed` for an action vetoed before, and as
    ///         `TimelockController.cancel` does when the operation is not pending.
    function cancel(
        address[] calldata targets,
        uint256[] calldata values,
        bytes[] calldata payloads,
        bytes32 predecessor,
        bytes32 salt
    ) external returns (bytes32 id) {
        if (msg.sender != guardian) revert NotGuardian(msg.sender);
        bytes32 action = actionHash(targets, values, payloads);
        if (vetoed[action]) revert AlreadyVetoed(action);
        vetoed[action] = true;
        id = timelock.hashOperationBatch(targets, values, payloads, predecessor, salt);
        timelock.cancel(id);
        emit Vetoed(id, action);
    }
}
