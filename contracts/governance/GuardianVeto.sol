// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";

/// @title GuardianVeto
/// @notice The guardian's only way to cancel queued governance: it holds the timelock's
///         CANCELLER role (the guardian does not) and cancels an operation for the guardian at
///         most once per action. An action is the operation's calls, `(targets, values,
///         payloads)`, whatever its salt or predecessor. One veto covers every copy of the action
///         queued when it was cast (the same calls queued twice under two descriptions are both
///         cancelled, in any order); a copy queued after it (the DAO passing the same calls
///         again, a new proposal, so a new salt) cannot be vetoed. So the guardian can delay any
///         change, its own removal included, by one proposal cycle, and never veto governance
///         forever.
/// @dev The guardian is fixed; the DAO replaces it by granting CANCELLER to a new GuardianVeto
///      and revoking this one's (a proposal this veto may cancel once, like any other).
contract GuardianVeto {
    TimelockController public immutable timelock;
    address public immutable guardian;

    /// @notice The latest ready time (the timelock's `getTimestamp`) a copy of the action with
    ///         this hash (`actionHash`) may have and still be cancelled: the first veto's time
    ///         plus the timelock's delay then, so every copy queued by then; 0: never vetoed.
    ///         A copy queued later is ready later (unless the DAO cut the delay since the veto).
    mapping(bytes32 action => uint256) public vetoCovers;

    event Vetoed(bytes32 indexed operationId, bytes32 indexed action);

    error NotGuardian(address caller);
    error AlreadyVetoed(bytes32 action);

    constructor(TimelockController timelock_, address guardian_) {
        timelock = timelock_;
        guardian = guardian_;
    }

    /// @notice Whether the guardian already vetoed the action with this hash (`actionHash`).
    function vetoed(bytes32 action) external view returns (bool) {
        return vetoCovers[action] != 0;
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
    ///         only; reverts `AlreadyVetoed` for a copy of a vetoed action queued after the veto
    ///         (ready after `vetoCovers`), and as `TimelockController.cancel` does when the
    ///         operation is not pending.
    function cancel(
        address[] calldata targets,
        uint256[] calldata values,
        bytes[] calldata payloads,
        bytes32 predecessor,
        bytes32 salt
    ) external returns (bytes32 id) {
        if (msg.sender != guardian) revert NotGuardian(msg.sender);
        bytes32 action = actionHash(targets, values, payloads);
        id = timelock.hashOperationBatch(targets, values, payloads, predecessor, salt);
        uint256 covers = vetoCovers[action];
        if (covers == 0) {
            vetoCovers[action] = block.timestamp + timelock.getMinDelay();
        } else if (timelock.getTimestamp(id) > covers) {
            revert AlreadyVetoed(action); // queued after the veto: the DAO passed it again
        }
        timelock.cancel(id); // reverts unless pending (a done or unknown id's time is 1 or 0)
        emit Vetoed(id, action);
    }
}
