// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title AggregatorV3Interface
/// @notice Chainlink's price feed interface (the subset every Chainlink data feed implements).
/// @dev Copied from Chainlink's `AggregatorV3Interface` so that no extra package is needed.
///      `answer` is the price scaled by `10 ** decimals()`; `updatedAt` is the timestamp of the
///      round's last update (0 for an incomplete round).
interface AggregatorV3Interface {
    function decimals() external view returns (uint8);

    function description() external view returns (string memory);

    function version() external view returns (uint256);

    function getRoundData(uint80 roundId)
        external
        view
        returns (uint80 roundId_, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound);

    function latestRoundData()
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound);
}
