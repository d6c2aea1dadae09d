// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {ILendingSleeve} from "interfaces/ILendingSleeve.sol";
import {ISleeve} from "interfaces/ISleeve.sol";

/// @title LiquidationExecutor
/// @notice A keeper-side batch of `liquidate` calls on one lending book, so one transaction (and
///         one block) can hold as many liquidations as the block's gas allows. Anyone may use it,
///         with their own money only:
///         - it pulls `budget` of the book's asset from the caller (never from anyone else), and
///           at the end pays back to the caller what the batch did not spend;
///         - each item is `book.liquidate(borrower, token, repayAmount)` in a try/catch: a failing
///           item (e.g. a position another keeper already cleared) is reported — an event and its
///           `Result` with the revert data — and does not revert the batch;
///         - every collateral token the batch received (seizures, and the dust a write-off sweeps)
///           goes to the caller in the same transaction.
///         It holds nothing between transactions and pays out only what the current call
///         produced (balance differences), so tokens sent to it by mistake stay where they are and
///         no caller can take another's. Its only approval is the book's, for the call's budget
///         and only during the call. `nonReentrant`: a token's hook cannot re-enter it.
contract LiquidationExecutor is ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice One liquidation: `book.liquidate(borrower, token, repayAmount)`.
    struct Item {
        address borrower;
        address token;
        uint256 repayAmount;
    }

    /// @notice What one item did: `ok` with the asset it `repaid` and the `token` it `seized`,
    ///         or not `ok` with the book's revert data in `reason`.
    struct Result {
        bool ok;
        uint256 repaid;
        uint256 seized;
        bytes reason;
    }

    /// @notice The lending book every batch liquidates on.
    ILendingSleeve public immutable book;
    /// @notice The book's asset (what liquidations repay with).
    IERC20 public immutable asset;

    /// @notice Item `index` of `caller`'s batch liquidated `borrower`.
    event ItemLiquidated(
        address indexed caller,
        address indexed borrower,
        uint256 index,
        address token,
        uint256 repaid,
        uint256 seized
    );
    /// @notice Item `index` of `caller`'s batch failed; `reason` is the book's revert data.
    event ItemFailed(address indexed caller, address indexed borrower, uint256 index, bytes reason);
    /// @notice `caller`'s batch ended: `liquidated` items done, `failed` not, `spent` of the asset.
    event BatchSettled(address indexed caller, uint256 liquidated, uint256 failed, uint256 spent);

    error ZeroAddress();
    error EmptyBatch();

    constructor(ILendingSleeve book_) {
        if (address(book_) == address(0)) revert ZeroAddress();
        book = book_;
        asset = IERC20(ISleeve(address(book_)).asset());
    }

    /// @notice Liquidates `items` in order with at most `budget` of the caller's asset (pulled
    ///         first; the caller must have approved this contract for it). Returns one `Result`
    ///         per item; the unspent budget and every collateral received go back to the caller.
    function liquidateBatch(Item[] calldata items, uint256 budget)
        external
        nonReentrant
        returns (Result[] memory results)
    {
        uint256 n = items.length;
        if (n == 0) revert EmptyBatch();
        address[] memory tokens = book.collateralTokens();
        uint256[] memory held = new uint256[](tokens.length);
        for (uint256 t; t < tokens.length; ++t) {
            held[t] = IERC20(tokens[t]).balanceOf(address(this));
        }
        uint256 start = asset.balanceOf(address(this));
        if (budget != 0) asset.safeTransferFrom(msg.sender, address(this), budget);
        // The book may pull at most the budget (never an asset balance this call did not bring).
        asset.forceApprove(address(book), budget);

        results = new Result[](n);
        uint256 cash = start + budget;
        uint256 done = 0;
        for (uint256 i; i < n; ++i) {
            Item calldata item = items[i];
            try book.liquidate(item.borrower, item.token, item.repayAmount) returns (uint256 seized) {
                uint256 left = asset.balanceOf(address(this));
                Result memory r = results[i];
                (r.ok, r.repaid, r.seized) = (true, cash - left, seized);
                cash = left;
                ++done;
                emit ItemLiquidated(msg.sender, item.borrower, i, item.token, r.repaid, seized);
            } catch (bytes memory reason) {
                results[i].reason = reason;
                emit ItemFailed(msg.sender, item.borrower, i, reason);
            }
        }

        asset.forceApprove(address(book), 0);
        uint256 spent = start + budget - cash;
        if (cash > start) asset.safeTransfer(msg.sender, cash - start);
        for (uint256 t; t < tokens.length; ++t) {
            IERC20 token = IERC20(tokens[t]);
            uint256 gained = token.balanceOf(address(this)) - held[t];
            if (gained != 0) token.safeTransfer(msg.sender, gained);
        }
        emit BatchSettled(msg.sender, done, n - done, spent);
    }
}
