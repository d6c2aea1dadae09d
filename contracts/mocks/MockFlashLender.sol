// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IERC3156FlashBorrower} from "@openzeppelin/contracts/interfaces/IERC3156FlashBorrower.sol";
import {IERC3156FlashLender} from "@openzeppelin/contracts/interfaces/IERC3156FlashLender.sol";

/// @title MockFlashLender
/// @notice Test-only ERC-3156 lender of any token it holds, fee-free: the borrower gets the
///         tokens for the length of one call and must hand them back before it ends (the pool a
///         flash-loan governance attack borrows from).
contract MockFlashLender is IERC3156FlashLender {
    using SafeERC20 for IERC20;

    bytes32 internal constant CALLBACK_SUCCESS = keccak256("ERC3156FlashBorrower.onFlashLoan");

    error CallbackFailed(address receiver);
    error NotRepaid(uint256 expected, uint256 held);

    /// @inheritdoc IERC3156FlashLender
    function maxFlashLoan(address token) external view returns (uint256) {
        return IERC20(token).balanceOf(address(this));
    }

    /// @inheritdoc IERC3156FlashLender
    function flashFee(address, uint256) external pure returns (uint256) {
        return 0;
    }

    /// @inheritdoc IERC3156FlashLender
    function flashLoan(IERC3156FlashBorrower receiver, address token, uint256 amount, bytes calldata data)
        external
        returns (bool)
    {
        uint256 before = IERC20(token).balanceOf(address(this));
        IERC20(token).safeTransfer(address(receiver), amount);
        if (receiver.onFlashLoan(msg.sender, token, amount, 0, data) != CALLBACK_SUCCESS) {
            revert CallbackFailed(address(receiver));
        }
        IERC20(token).safeTransferFrom(address(receiver), address(this), amount);
        uint256 held = IERC20(token).balanceOf(address(this));
        if (held < before) revert NotRepaid(before, held);
        return true;
    }
}
