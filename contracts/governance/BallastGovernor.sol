// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Governor} from "@openzeppelin/contracts/governance/Governor.sol";
import {GovernorSettings} from "@openzeppelin/contracts/governance/extensions/GovernorSettings.sol";
import {GovernorCountingSimple} from "@openzeppelin/contracts/governance/extensions/GovernorCountingSimple.sol";
import {GovernorVotes} from "@openzeppelin/contracts/governance/extensions/GovernorVotes.sol";
import {GovernorVotesQuorumFraction} from
    "@openzeppelin/contracts/governance/extensions/GovernorVotesQuorumFraction.sol";
import {GovernorTimelockControl} from "@openzeppelin/contracts/governance/extensions/GovernorTimelockControl.sol";
import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
import {IVotes} from "@openzeppelin/contracts/governance/utils/IVotes.sol";
import {TIMELOCK_GRACE_PERIOD} from "./BallastTimelock.sol";

/// @title BallastGovernor
/// @notice The DAO: BallastToken holders propose and vote; passed proposals are queued in and
///         executed by the timelock, which holds GOVERNANCE on the ParameterRegistry.
/// @dev Pure OpenZeppelin composition (Settings, CountingSimple, Votes, QuorumFraction,
///      TimelockControl). Delays and periods are in seconds because the token's clock is the
///      block timestamp. Quorum is read at each proposal's snapshot (OZ checkpoints the fraction),
///      so lowering it cannot revive a defeated proposal.
contract BallastGovernor is
    Governor,
    GovernorSettings,
    GovernorCountingSimple,
    GovernorVotes,
    GovernorVotesQuorumFraction,
    GovernorTimelockControl
{
    /// @param token The votes token (BallastToken).
    /// @param timelock The timelock that executes passed proposals.
    /// @param votingDelay_ Seconds between proposal and vote start (the snapshot).
    /// @param votingPeriod_ Seconds the vote stays open.
    /// @param proposalThreshold_ Votes needed to propose.
    /// @param quorumPercent Share of the total supply (at the snapshot) that must vote for/abstain.
    constructor(
        IVotes token,
        TimelockController timelock,
        uint48 votingDelay_,
        uint32 votingPeriod_,
        uint256 proposalThreshold_,
        uint256 quorumPercent
    )
        Governor("BallastGovernor")
        GovernorSettings(votingDelay_, votingPeriod_, proposalThreshold_)
        GovernorVotes(token)
        GovernorVotesQuorumFraction(quorumPercent)
        GovernorTimelockControl(timelock)
    {}

    // The overrides below resolve Solidity's multiple inheritance; behaviour is OZ's, but for `state`.

    function votingDelay() public view override(Governor, GovernorSettings) returns (uint256) {
        return super.votingDelay();
    }

    function votingPeriod() public view override(Governor, GovernorSettings) returns (uint256) {
        return super.votingPeriod();
    }

    function quorum(uint256 timepoint)
        public
        view
        override(Governor, GovernorVotesQuorumFraction)
        returns (uint256)
    {
        return super.quorum(timepoint);
    }

    /// @notice How long after its vote ends a passed proposal may still be queued (seconds): the
    ///         timelock's grace period. Later it is `Expired` and `queue` refuses it.
    /// @dev OZ keeps a passed proposal that nobody queued `Succeeded` for good, and `queue` is
    ///      anyone's: without this a copy the DAO passed and then left aside (it settled on
    ///      another value) stayed an option a stranger could queue and execute months later, over
    ///      the DAO's later decisions, past a guardian whose one veto of that action was spent.
    uint256 public constant QUEUE_PERIOD = TIMELOCK_GRACE_PERIOD;

    /// @notice OZ's state, with a queued proposal whose operation is past the timelock's grace
    ///         period (`BallastTimelock.GRACE_PERIOD` after its eta) reported `Expired`: it can no
    ///         longer execute (a constant here, so the state never depends on the timelock's code);
    ///         and a passed proposal not queued within `QUEUE_PERIOD` of its deadline reported
    ///         `Expired`: it can no longer be queued.
    function state(uint256 proposalId)
        public
        view
        override(Governor, GovernorTimelockControl)
        returns (ProposalState)
    {
        ProposalState current = super.state(proposalId);
        if (
            current == ProposalState.Queued
                && block.timestamp > proposalEta(proposalId) + TIMELOCK_GRACE_PERIOD
        ) return ProposalState.Expired;
        if (
            current == ProposalState.Succeeded
                && block.timestamp > proposalDeadline(proposalId) + QUEUE_PERIOD
        ) return ProposalState.Expired;
        return current;
    }

    function proposalNeedsQueuing(uint256 proposalId)
        public
        view
        override(Governor, GovernorTimelockControl)
        returns (bool)
    {
        return super.proposalNeedsQueuing(proposalId);
    }

    function proposalThreshold() public view override(Governor, GovernorSettings) returns (uint256) {
        return super.proposalThreshold();
    }

    function _queueOperations(
        uint256 proposalId,
        address[] memory targets,
        uint256[] memory values,
        bytes[] memory calldatas,
        bytes32 descriptionHash
    ) internal override(Governor, GovernorTimelockControl) returns (uint48) {
        return super._queueOperations(proposalId, targets, values, calldatas, descriptionHash);
    }

    function _executeOperations(
        uint256 proposalId,
        address[] memory targets,
        uint256[] memory values,
        bytes[] memory calldatas,
        bytes32 descriptionHash
    ) internal override(Governor, GovernorTimelockControl) {
        super._executeOperations(proposalId, targets, values, calldatas, descriptionHash);
    }

    function _cancel(
        address[] memory targets,
        uint256[] memory values,
        bytes[] memory calldatas,
        bytes32 descriptionHash
    ) internal override(Governor, GovernorTimelockControl) returns (uint256) {
        return super._cancel(targets, values, calldatas, descriptionHash);
    }

    function _executor() internal view override(Governor, GovernorTimelockControl) returns (address) {
        return super._executor();
    }
}
