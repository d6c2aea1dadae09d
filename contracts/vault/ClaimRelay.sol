// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IClaimRelay, IERC7540Claims} from "interfaces/IClaimRelay.sol";

/// @title ClaimRelay
/// @notice Claims a controller's settled requests on one vault and pays them to that controller:
///         an operator a depositor can approve without trusting anyone (see IClaimRelay).
contract ClaimRelay is IClaimRelay {
    /// @inheritdoc IClaimRelay
    IERC7540Claims public immutable vault;

    constructor(IERC7540Claims vault_) {
        if (address(vault_) == address(0)) revert ZeroAddress();
        vault = vault_;
    }

    /// @inheritdoc IClaimRelay
    function claim(address controller) external returns (uint256 shares, uint256 assets) {
        // Whole claims only (maxDeposit / maxRedeem): the vault's last claim of a bucket takes it
        // exactly, so no rounding falls on the controller however often anyone calls this.
        uint256 deposited = vault.maxDeposit(controller);
        uint256 redeemed = vault.maxRedeem(controller);
        if (deposited == 0 && redeemed == 0) revert NothingToClaim(controller);
        if (deposited != 0) shares = vault.deposit(deposited, controller, controller);
        if (redeemed != 0) assets = vault.redeem(redeemed, controller, controller);
        emit Claimed(controller, msg.sender, shares, assets);
    }
}
