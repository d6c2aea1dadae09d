// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {VaultStorage} from "./VaultStorage.sol";

/// @title VaultMath
/// @notice The vault's weights and idle cash, shared by the modules that run in its storage
///         (RebalanceModule, SleeveModule).
library VaultMath {
    using Math for uint256;

    uint256 internal constant BPS = 10_000;

    /// @dev Sleeve weights in bps of `total`, rounded down (idle takes the remainder).
    function weights(uint256[] memory held, uint256 total) internal pure returns (uint16[] memory w) {
        w = new uint16[](held.length);
        if (total == 0) return w;
        for (uint256 i; i < held.length; ++i) {
            w[i] = uint16(held[i].mulDiv(BPS, total));
        }
    }

    /// @dev The vault's cash less pending deposits and redemptions awaiting their claim.
    function idle(VaultStorage.Layout storage $, IERC20 token) internal view returns (uint256) {
        return token.balanceOf(address(this)) - $.depositQueue.pending - $.reservedAssets;
    }
}
