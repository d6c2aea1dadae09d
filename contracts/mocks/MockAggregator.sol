// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {AggregatorV3Interface} from "interfaces/AggregatorV3Interface.sol";

/// @title MockAggregator
/// @notice Local-network stand-in for a Chainlink price feed whose owner sets the answer.
/// @dev Deployed only on local networks and in tests. `setAnswer` starts a new round stamped
///      now; `setRound` sets any answer and timestamp (stale or invalid rounds for tests).
contract MockAggregator is AggregatorV3Interface, Ownable {
    struct Round {
        int256 answer;
        uint64 updatedAt;
    }

    uint8 public immutable override decimals;
    string public override description;
    uint80 public latestRound;
    mapping(uint80 roundId => Round) internal _rounds;

    error NoSuchRound(uint80 roundId);

    event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);

    constructor(uint8 decimals_, string memory description_, int256 initialAnswer, address owner_) Ownable(owner_) {
        decimals = decimals_;
        description = description_;
        _push(initialAnswer, block.timestamp);
    }

    /// @notice Publishes `answer` as a new round updated now.
    function setAnswer(int256 answer) external onlyOwner {
        _push(answer, block.timestamp);
    }

    /// @notice Publishes `answer` as a new round with an arbitrary `updatedAt` (tests: stale rounds).
    function setRound(int256 answer, uint256 updatedAt) external onlyOwner {
        _push(answer, updatedAt);
    }

    /// @inheritdoc AggregatorV3Interface
    function version() external pure override returns (uint256) {
        return 4;
    }

    /// @inheritdoc AggregatorV3Interface
    function getRoundData(uint80 roundId)
        external
        view
        override
        returns (uint80, int256, uint256, uint256, uint80)
    {
        if (roundId == 0 || roundId > latestRound) revert NoSuchRound(roundId);
        Round memory r = _rounds[roundId];
        return (roundId, r.answer, r.updatedAt, r.updatedAt, roundId);
    }

    /// @inheritdoc AggregatorV3Interface
    function latestRoundData() external view override returns (uint80, int256, uint256, uint256, uint80) {
        uint80 id = latestRound;
        Round memory r = _rounds[id];
        return (id, r.answer, r.updatedAt, r.updatedAt, id);
    }

    /// @notice The latest answer (Chainlink's legacy getter, handy in scripts).
    function latestAnswer() external view returns (int256) {
        return _rounds[latestRound].answer;
    }

    function _push(int256 answer, uint256 updatedAt) internal {
        uint80 id = ++latestRound;
        _rounds[id] = Round(answer, uint64(updatedAt));
        emit AnswerUpdated(answer, id, updatedAt);
    }
}
