// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IInterestRateModel
/// @notice What the lending book asks its rate model: an annual borrow rate (WAD, 1e18 = 100%
///         a year) for the book's cash and debt. Must not revert for any cash and debt.
interface IInterestRateModel {
    function borrowRate(uint256 cash, uint256 debt) external view returns (uint256);
}
