// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {MockStablecoin} from "./MockStablecoin.sol";

/// @title MockBlacklistStablecoin
/// @notice Test stand-in for a stablecoin with a blacklist (as USDC and USDT have): transfers to
///         or from a blocked address revert. Tests use it to show that one blocked receiver
///         cannot stall the vault's redemption queue.
contract MockBlacklistStablecoin is MockStablecoin {
    address public immutable blocker;
    mapping(address account => bool) public blocked;

    error Blocked(address account);
    error OnlyBlocker(address caller);

    constructor(string memory name_, string memory symbol_, address blocker_) MockStablecoin(name_, symbol_) {
        blocker = blocker_;
    }

    /// @notice Blocks or unblocks `account`. Blocker only.
    function setBlocked(address account, bool isBlocked) external {
        if (msg.sender != blocker) revert OnlyBlocker(msg.sender);
        blocked[account] = isBlocked;
    }

    function _update(address from, address to, uint256 value) internal override {
        if (blocked[from]) revert Blocked(from);
        if (blocked[to]) revert Blocked(to);
        super._update(from, to, value);
    }
}
