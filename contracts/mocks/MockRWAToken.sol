// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title MockRWAToken
/// @notice Local-network stand-in for a tokenized real-world asset (T-bill fund shares, gold,
///         invoices). Only its issuer mints and burns, as with real permissioned RWA tokens.
/// @dev Created by `MockIssuer`, which becomes its `issuer`.
contract MockRWAToken is ERC20 {
    address public immutable issuer;
    uint8 internal immutable _decimals;

    error OnlyIssuer(address caller);

    constructor(string memory name_, string memory symbol_, uint8 decimals_, address issuer_) ERC20(name_, symbol_) {
        _decimals = decimals_;
        issuer = issuer_;
    }

    /// @inheritdoc ERC20
    function decimals() public view override returns (uint8) {
        return _decimals;
    }

    /// @notice Mints `amount` to `to`. Issuer only.
    function mint(address to, uint256 amount) external {
        if (msg.sender != issuer) revert OnlyIssuer(msg.sender);
        _mint(to, amount);
    }

    /// @notice Burns `amount` from `from` on redemption. Issuer only.
    function burn(address from, uint256 amount) external {
        if (msg.sender != issuer) revert OnlyIssuer(msg.sender);
        _burn(from, amount);
    }
}
