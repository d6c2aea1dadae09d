// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";

/// @title BallastTimelock
/// @notice OpenZeppelin's TimelockController, unchanged; named so that Ape compiles and deploys it
///         from this project. It holds GOVERNANCE on the ParameterRegistry and the admin roles
///         elsewhere; the governor proposes, anyone executes, the guardian cancels through
///         `GuardianVeto` (once per action).
/// @dev Its minimum delay must exceed `agent.unbondingPeriod` and a depositor's exit time, so
///      nobody is trapped by a change they can see coming (the deploy config enforces this).
contract BallastTimelock is TimelockController {
    constructor(uint256 minDelay, address[] memory proposers, address[] memory executors, address admin)
        TimelockController(minDelay, proposers, executors, admin)
    {}
}
