// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {LiquidationExecutor} from "../keepers/LiquidationExecutor.sol";
import {ITokenHooks} from "./MockHookToken.sol";

/// @title ReentrantLiquidator
/// @notice Test-only attacker: a caller of the `LiquidationExecutor` that receives a hook-calling
///         collateral token from it and, from inside that token's `tokensReceived` callback —
///         while the executor is still in its `liquidateBatch`, handing out the batch's seizures
///         — calls `liquidateBatch` again, to liquidate with the outer call's budget or take its
///         tokens a second time.
/// @dev The re-entry is attempted once, in try/catch, so the outer call completes and the
///      outcome is recorded: `reentered` (it was attempted), `lastSucceeded` and the raw revert
///      data `lastError` (decoded by the test).
contract ReentrantLiquidator is ITokenHooks {
    LiquidationExecutor public immutable executor;
    address public immutable owner;

    LiquidationExecutor.Item[] private armed;
    uint256 public armedBudget;
    bool public reentered;
    bool public lastSucceeded;
    bytes public lastError;

    constructor(LiquidationExecutor executor_) {
        executor = executor_;
        owner = msg.sender;
        IERC20(address(executor_.asset())).approve(address(executor_), type(uint256).max);
    }

    /// @notice Arms one re-entry: `liquidateBatch(items, budget)` from the next hook call.
    function arm(LiquidationExecutor.Item[] calldata items, uint256 budget) external {
        require(msg.sender == owner, "owner");
        delete armed;
        for (uint256 i; i < items.length; ++i) {
            armed.push(items[i]);
        }
        armedBudget = budget;
    }

    /// @notice Registers this contract's hooks with a hook token.
    function hook(address token) external {
        (bool ok,) = token.call(abi.encodeWithSignature("registerHook()"));
        require(ok, "registerHook");
    }

    /// @notice The outer call: an ordinary batch.
    function liquidate(LiquidationExecutor.Item[] calldata items, uint256 budget) external {
        require(msg.sender == owner, "owner");
        executor.liquidateBatch(items, budget);
    }

    function tokensToSend(address, address, address, uint256) external {}

    function tokensReceived(address, address, address, uint256) external {
        if (reentered || armed.length == 0) return;
        reentered = true;
        try executor.liquidateBatch(armed, armedBudget) {
            lastSucceeded = true;
        } catch (bytes memory reason) {
            lastError = reason;
        }
    }
}
