// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Multicall3 (minimal)
/// @notice Batches view calls into one eth_call for the keepers (keepers/snapshot.py). A minimal
/// subset of mds1/multicall's Multicall3 with the same ABI for `aggregate3`, `getBlockNumber` and
/// `getCurrentBlockTimestamp`, so the canonical deployment at
/// 0xcA11bde05977b3631167028862bE2a173976CA11 and this contract are interchangeable. On local
/// chains its runtime code is placed at that address (anvil_setCode); it has no constructor, no
/// storage and no immutables, so the runtime code alone is the whole contract.
contract Multicall3 {
    struct Call3 {
        address target;
        bool allowFailure;
        bytes callData;
    }

    struct Result {
        bool success;
        bytes returnData;
    }

    /// @notice Call each target in order; a failing call reverts the batch unless it allows failure.
    function aggregate3(Call3[] calldata calls) public payable returns (Result[] memory returnData) {
        uint256 length = calls.length;
        returnData = new Result[](length);
        for (uint256 i; i < length; ++i) {
            Call3 calldata call = calls[i];
            Result memory result = returnData[i];
            (result.success, result.returnData) = call.target.call(call.callData);
            if (!result.success && !call.allowFailure) revert("Multicall3: call failed");
        }
    }

    /// @notice The current block number.
    function getBlockNumber() public view returns (uint256 blockNumber) {
        blockNumber = block.number;
    }

    /// @notice The current block timestamp.
    function getCurrentBlockTimestamp() public view returns (uint256 timestamp) {
        timestamp = block.timestamp;
    }
}
