// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ERC4626} from "@openzeppelin/contracts/token/ERC20/extensions/ERC4626.sol";

/// @title BareERC4626
/// @notice Benchmark reference only: OpenZeppelin's ERC4626 with nothing added but the same
///         decimals offset as RWAVault. `benchmarks/gas` deploys it next to the vault to report
///         gas as a ratio. Never deployed by `ape run deploy`.
contract BareERC4626 is ERC4626 {
    uint8 internal immutable _offset;

    constructor(IERC20 asset_, uint8 offset_) ERC20("Bare OZ ERC4626", "bare") ERC4626(asset_) {
        _offset = offset_;
    }

    function _decimalsOffset() internal view override returns (uint8) {
        return _offset;
    }
}
