// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice The callbacks a `MockHookToken` makes to accounts that registered for them, shaped
///         like ERC-777's `tokensToSend` / `tokensReceived` hooks.
interface ITokenHooks {
    /// @notice Called on `from` before any balance moves.
    function tokensToSend(address operator, address from, address to, uint256 amount) external;

    /// @notice Called on `to` after the balances moved.
    function tokensReceived(address operator, address from, address to, uint256 amount) external;
}

/// @title MockHookToken
/// @notice Test-only collateral token that hands control to its holders during every transfer,
///         as ERC-777 tokens (and ERC-20s with transfer hooks) do: the sender's `tokensToSend`
///         runs before the balances move, the recipient's `tokensReceived` after. Used to show
///         that a contract moving such a token cannot be re-entered mid-call.
/// @dev Anyone may mint (`mint`): it exists only in tests. Hooks are opt-in per account
///      (`registerHook`), as with ERC-1820 registrations, so ordinary holders are not called.
contract MockHookToken is ERC20 {
    /// @notice Accounts whose hooks run on transfers from or to them.
    mapping(address account => bool) public hooked;

    event HookRegistered(address indexed account);

    constructor(string memory name_, string memory symbol_) ERC20(name_, symbol_) {}

    /// @notice Mints `amount` to `to` (test faucet, unrestricted).
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice The caller asks to be called back on every transfer from or to it.
    function registerHook() external {
        hooked[msg.sender] = true;
        emit HookRegistered(msg.sender);
    }

    /// @dev ERC-777 order: sender's hook, balances, recipient's hook. Mints and burns call only
    ///      the side that exists.
    function _update(address from, address to, uint256 value) internal override {
        if (from != address(0) && hooked[from]) ITokenHooks(from).tokensToSend(msg.sender, from, to, value);
        super._update(from, to, value);
        if (to != address(0) && hooked[to]) ITokenHooks(to).tokensReceived(msg.sender, from, to, value);
    }
}
