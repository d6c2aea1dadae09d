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
        // exactly, so no rounding falls on the controller however often anyone calls this. Each
        // part on its own: one the vault refuses (shares to a controller taken off the
        // allowlist, assets to one the stablecoin blacklists) never holds up the other, and the
        // call reverts only when nothing at all was claimed (with the vault's reason when one
        // part was refused, so a caller sees why).
        uint256 deposited = vault.maxDeposit(controller);
        uint256 redeemed = vault.maxRedeem(controller);
        bytes memory refused;
        bool claimed = false;
        if (deposited != 0) {
            try vault.deposit(deposited, controller, controller) returns (uint256 s) {
                (shares, claimed) = (s, true); // s may be 0: dust deposits cleared
            } catch (bytes memory reason) {
                refused = reason;
            }
        }
        if (redeemed != 0) {
            try vault.redeem(redeemed, controller, controller) returns (uint256 a) {
                (assets, claimed) = (a, true);
            } catch (bytes memory reason) {
                if (reason.length != 0 || refused.length == 0) refused = reason; // keep a reason
            }
        }
        if (!claimed) {
            if (deposited == 0 && redeemed == 0) revert NothingToClaim(controller);
            if (refused.length == 0) revert ClaimFailed(controller); // no reason given (out of gas)
            assembly ("memory-safe") {
                revert(add(refused, 32), mload(refused))
            }
        }
        emit Claimed(controller, msg.sender, shares, assets);
    }
}
