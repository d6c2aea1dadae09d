// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IAgentRegistry} from "interfaces/IAgentRegistry.sol";
import {IParameterRegistry} from "interfaces/IParameterRegistry.sol";

/// @title AgentRegistry
/// @notice Strategy agents' bonds: registration, staking, activation and unbonding (see
///         IAgentRegistry for every rule).
/// @dev The bond is the vault's asset. `agent.minStake`, `agent.activationDelay` and
///      `agent.unbondingPeriod` are read from the registry when used.
contract AgentRegistry is IAgentRegistry, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    bytes32 internal constant MIN_STAKE = keccak256("agent.minStake");
    bytes32 internal constant ACTIVATION_DELAY = keccak256("agent.activationDelay");
    bytes32 internal constant UNBONDING_PERIOD = keccak256("agent.unbondingPeriod");

    /// @inheritdoc IAgentRegistry
    address public immutable override asset;
    IParameterRegistry public immutable registry;

    mapping(address agent => Agent) internal _agents;
    uint256 internal _staked;
    uint256 internal _unbonding;

    constructor(address asset_, IParameterRegistry registry_) {
        if (asset_ == address(0) || address(registry_) == address(0)) revert ZeroAddress();
        asset = asset_;
        registry = registry_;
    }

    // =================================================================== agents

    /// @inheritdoc IAgentRegistry
    function register(string calldata metadataURI) external {
        Agent storage a = _agents[msg.sender];
        if (a.registered) revert AlreadyRegistered(msg.sender);
        a.registered = true;
        a.metadataURI = metadataURI;
        emit AgentRegistered(msg.sender, metadataURI);
    }

    /// @inheritdoc IAgentRegistry
    function updateMetadata(string calldata metadataURI) external {
        _registered(msg.sender).metadataURI = metadataURI;
        emit MetadataUpdated(msg.sender, metadataURI);
    }

    /// @inheritdoc IAgentRegistry
    function stake(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        Agent storage a = _registered(msg.sender);
        uint256 bonded = a.stake + amount;
        a.stake = bonded;
        _staked += amount;
        // The activation clock starts when the bond first reaches the minimum.
        if (a.bondedSince == 0 && bonded >= registry.get(MIN_STAKE)) a.bondedSince = uint64(block.timestamp);
        IERC20(asset).safeTransferFrom(msg.sender, address(this), amount);
        emit Staked(msg.sender, amount, bonded);
    }

    /// @inheritdoc IAgentRegistry
    function requestUnbond(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        Agent storage a = _registered(msg.sender);
        uint256 bonded = a.stake;
        if (amount > bonded) revert InsufficientStake(amount, bonded);
        bonded -= amount;
        a.stake = bonded;
        a.unbonding += amount;
        _staked -= amount;
        _unbonding += amount;
        uint256 readyAt = block.timestamp + registry.get(UNBONDING_PERIOD);
        a.unbondReadyAt = uint64(readyAt);
        // Below the minimum the agent stops being active; bonding again restarts the clock.
        if (bonded < registry.get(MIN_STAKE)) a.bondedSince = 0;
        emit UnbondRequested(msg.sender, amount, a.unbonding, readyAt);
    }

    /// @inheritdoc IAgentRegistry
    function withdrawUnbonded() external nonReentrant returns (uint256 amount) {
        Agent storage a = _registered(msg.sender);
        amount = a.unbonding;
        if (amount == 0) revert NothingToWithdraw(msg.sender);
        if (block.timestamp < a.unbondReadyAt) revert UnbondingNotReady(a.unbondReadyAt);
        a.unbonding = 0;
        _unbonding -= amount;
        IERC20(asset).safeTransfer(msg.sender, amount);
        emit UnbondedWithdrawn(msg.sender, amount);
    }

    // =================================================================== views

    /// @inheritdoc IAgentRegistry
    function isActive(address agent) external view returns (bool) {
        uint256 from = activeFrom(agent);
        return from != 0 && block.timestamp >= from;
    }

    /// @inheritdoc IAgentRegistry
    function activeFrom(address agent) public view returns (uint256) {
        Agent storage a = _agents[agent];
        uint256 since = a.bondedSince;
        // The minimum is read now: a raise by governance deactivates agents below it at once.
        if (since == 0 || a.stake < registry.get(MIN_STAKE)) return 0;
        return since + registry.get(ACTIVATION_DELAY);
    }

    /// @inheritdoc IAgentRegistry
    function agentInfo(address agent) external view returns (Agent memory) {
        return _agents[agent];
    }

    /// @inheritdoc IAgentRegistry
    function totals() external view returns (uint256 staked, uint256 unbonding) {
        return (_staked, _unbonding);
    }

    // =================================================================== internals

    function _registered(address agent) internal view returns (Agent storage a) {
        a = _agents[agent];
        if (!a.registered) revert NotRegistered(agent);
    }
}
