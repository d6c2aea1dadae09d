// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

/// @title MockStablecoin
/// @notice Local-network stand-in for a 6-decimal USD stablecoin (USDC-like), with a faucet.
/// @dev Deployed only on local networks and in tests; the deploy config decides. Anyone may
///      mint up to `FAUCET_LIMIT` per call so that demos and tests can fund accounts.
contract MockStablecoin is ERC20, ERC20Permit {
    /// @notice Largest amount one `faucet` call mints (1,000,000 tokens).
    uint256 public constant FAUCET_LIMIT = 1_000_000e6;

    /// @notice A faucet request above `FAUCET_LIMIT`.
    error FaucetLimitExceeded(uint256 requested, uint256 limit);

    constructor(string memory name_, string memory symbol_) ERC20(name_, symbol_) ERC20Permit(name_) {}

    /// @inheritdoc ERC20
    function decimals() public pure override returns (uint8) {
        return 6;
    }

    /// @notice Mints `amount` tokens to `to`.
    /// @param to Recipient of the new tokens.
    /// @param amount Amount in token units (6 decimals); at most `FAUCET_LIMIT`.
    function faucet(address to, uint256 amount) external {
        if (amount > FAUCET_LIMIT) revert FaucetLimitExceeded(amount, FAUCET_LIMIT);
        _mint(to, amount);
    }
}
