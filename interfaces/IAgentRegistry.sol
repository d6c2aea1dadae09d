// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IAgentRegistry
/// @notice Strategy agents bond the vault's base asset to earn the right to steer its capital.
/// @dev Rules (Keep3r's bond/unbond cycle, EigenLayer's slashable withdrawals):
///      - An agent `register`s once with a metadata URI (who operates it, its strategy), then
///        `stake`s the vault's asset (a stable bond: a slash can go straight back to depositors
///        and is worth the same the day it lands).
///      - Activation: the clock starts when the agent's stake first reaches `agent.minStake`
///        (`bondedSince`); the agent is active from `bondedSince + agent.activationDelay` for as
///        long as its stake stays at or above `agent.minStake` (both read when asked, so a
///        governance change applies at once). Dropping below the minimum resets the clock.
///      - Unbonding: `requestUnbond(amount)` moves stake to `unbonding` and (re)starts a wait of
///        `agent.unbondingPeriod` for everything unbonding; `withdrawUnbonded()` pays it out
///        after the wait. Unbonding stake counts for nothing (not for activation) but stays in
///        the registry until withdrawn, slashable like bonded stake.
///      - Accounting: the registry holds exactly Σ(stake + unbonding) of the asset that agents
///        brought, plus whatever was sent to it otherwise (never counted).
interface IAgentRegistry {
    struct Agent {
        bool registered;
        uint64 bondedSince; // 0 while stake < agent.minStake
        uint64 unbondReadyAt; // when `unbonding` may be withdrawn
        uint256 stake;
        uint256 unbonding;
        string metadataURI;
    }

    event AgentRegistered(address indexed agent, string metadataURI);
    event MetadataUpdated(address indexed agent, string metadataURI);
    event Staked(address indexed agent, uint256 amount, uint256 stake);
    event UnbondRequested(address indexed agent, uint256 amount, uint256 unbonding, uint256 readyAt);
    event UnbondedWithdrawn(address indexed agent, uint256 amount);

    error ZeroAmount();
    error ZeroAddress();
    error AlreadyRegistered(address agent);
    error NotRegistered(address agent);
    error InsufficientStake(uint256 requested, uint256 stake);
    error NothingToWithdraw(address agent);
    error UnbondingNotReady(uint256 readyAt);

    /// @notice Registers the caller as an agent. Once per address.
    function register(string calldata metadataURI) external;

    /// @notice Replaces the caller's metadata URI.
    function updateMetadata(string calldata metadataURI) external;

    /// @notice Bonds `amount` of the vault's asset from the caller (registered agents only).
    function stake(uint256 amount) external;

    /// @notice Starts unbonding `amount` of the caller's stake; restarts the wait for all of it.
    function requestUnbond(uint256 amount) external;

    /// @notice Pays the caller's unbonded stake once the wait is over.
    /// @return amount What was paid.
    function withdrawUnbonded() external returns (uint256 amount);

    /// @notice The asset agents bond (the vault's).
    function asset() external view returns (address);

    /// @notice Whether `agent` may act now (registered, bonded at the minimum, activation over).
    function isActive(address agent) external view returns (bool);

    /// @notice When `agent` becomes (or became) active; 0 while its stake is below the minimum.
    function activeFrom(address agent) external view returns (uint256);

    function agentInfo(address agent) external view returns (Agent memory);

    /// @notice Σ bonded stake and Σ unbonding stake of all agents.
    function totals() external view returns (uint256 staked, uint256 unbonding);
}
