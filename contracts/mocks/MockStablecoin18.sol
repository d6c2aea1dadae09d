// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title MockStablecoin18
/// @notice Local-network stand-in for an 18-decimal USD stablecoin (DAI-like), with a faucet: the
///         vault's shares then take no decimals offset (`18 - decimals`), so a share unit may be
///         worth more than an asset unit (tests/vault/test_erc7540_conformance.py).
contract MockStablecoin18 is ERC20 {
    /// @notice Largest amount one `faucet` call mints (1,000,000 tokens).
    uint256 public constant FAUCET_LIMIT = 1_000_000e18;

    /// @notice A faucet request above `FAUCET_LIMIT`.
    error FaucetLimitExceeded(uint256 requested, uint256 limit);

    constructor(string memory name_, string memory symbol_) ERC20(name_, symbol_) {}

    /// @notice Mints `amount` tokens to `to` (18 decimals); at most `FAUCET_LIMIT`.
    function faucet(address to, uint256 amount) external {
        if (amount > FAUCET_LIMIT) revert FaucetLimitExceeded(amount, FAUCET_LIMIT);
        _mint(to, amount);
    }
}
