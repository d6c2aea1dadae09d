// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IERC3156FlashBorrower} from "@openzeppelin/contracts/interfaces/IERC3156FlashBorrower.sol";
import {IERC3156FlashLender} from "@openzeppelin/contracts/interfaces/IERC3156FlashLender.sol";
import {Address} from "@openzeppelin/contracts/utils/Address.sol";

/// @title FlashSearcher
/// @notice Test-only attacker: runs any list of calls as itself, either plainly or inside an
///         ERC-3156 flash loan (borrow, calls, repay in one transaction). A failing call reverts
///         the whole transaction with the callee's own error, so a test sees which defence held.
///         It can register and bond in the AgentRegistry like any agent operator's contract.
contract FlashSearcher is IERC3156FlashBorrower {
    using SafeERC20 for IERC20;

    struct Call {
        address target;
        bytes data;
    }

    bytes32 internal constant CALLBACK_SUCCESS = keccak256("ERC3156FlashBorrower.onFlashLoan");

    address public immutable owner;

    error NotOwner(address caller);
    error UntrustedLoan(address lender, address initiator);

    constructor() {
        owner = msg.sender;
    }

    /// @notice Runs `calls` in order (owner only).
    function execute(Call[] calldata calls) external {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _run(calls);
    }

    /// @notice Borrows `amount` of `token` from `lender`, runs `calls`, repays (owner only).
    function flash(IERC3156FlashLender lender, address token, uint256 amount, Call[] calldata calls) external {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        lender.flashLoan(this, token, amount, abi.encode(calls));
    }

    /// @inheritdoc IERC3156FlashBorrower
    function onFlashLoan(address initiator, address token, uint256 amount, uint256 fee, bytes calldata data)
        external
        returns (bytes32)
    {
        if (initiator != address(this)) revert UntrustedLoan(msg.sender, initiator);
        _run(abi.decode(data, (Call[])));
        IERC20(token).forceApprove(msg.sender, amount + fee);
        return CALLBACK_SUCCESS;
    }

    function _run(Call[] memory calls) internal {
        for (uint256 i; i < calls.length; ++i) {
            Address.functionCall(calls[i].target, calls[i].data);
        }
    }
}
