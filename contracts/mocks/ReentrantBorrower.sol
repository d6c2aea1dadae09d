// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ILendingSleeve} from "interfaces/ILendingSleeve.sol";
import {ITokenHooks, MockHookToken} from "./MockHookToken.sol";

/// @title ReentrantBorrower
/// @notice Test-only attacker: a LendingSleeve borrower (and liquidator) holding a hook-calling
///         collateral token, which tries to re-enter the book from inside the token's callbacks,
///         when the book's state is half-updated: borrow against collateral not yet received,
///         withdraw collateral twice, liquidate the same position twice.
/// @dev The owner arms one re-entry (which hook, which call, how much, whose position), then
///      makes an ordinary call to the book. The re-entry is attempted once, inside try/catch, so
///      the outer call completes and the outcome is recorded: `lastSucceeded` and the raw revert
///      data `lastError` (a custom error, decoded by the test).
contract ReentrantBorrower is ITokenHooks {
    enum Hook {
        ToSend,
        Received
    }

    enum Action {
        None,
        Borrow,
        WithdrawCollateral,
        DepositCollateral,
        Liquidate
    }

    ILendingSleeve public immutable book;
    IERC20 public immutable collateral;
    IERC20 public immutable asset;
    address public immutable owner;

    Hook public armedHook;
    Action public armedAction;
    uint256 public armedAmount;
    address public armedBorrower;

    /// @notice Callbacks received from the collateral token, armed or not.
    uint256 public hookCalls;
    /// @notice Re-entries attempted.
    uint256 public attempts;
    /// @notice Whether the last attempted re-entry went through.
    bool public lastSucceeded;
    /// @notice Revert data of the last attempted re-entry (empty when it went through).
    bytes public lastError;

    error NotOwner(address caller);
    error NotCollateral(address caller);

    constructor(ILendingSleeve book_, MockHookToken collateral_) {
        book = book_;
        collateral = IERC20(address(collateral_));
        asset = IERC20(book_.asset());
        owner = msg.sender;
        collateral.approve(address(book_), type(uint256).max);
        asset.approve(address(book_), type(uint256).max);
        collateral_.registerHook();
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _;
    }

    /// @notice Arms one re-entry: `action` with `amount` (and `borrower`, for a liquidation) at
    ///         the next `hook` callback.
    function arm(Hook hook, Action action, uint256 amount, address borrower) external onlyOwner {
        (armedHook, armedAction, armedAmount, armedBorrower) = (hook, action, amount, borrower);
    }

    /// @notice Posts `amount` of the hook token.
    function depositCollateral(uint256 amount) external onlyOwner {
        book.depositCollateral(address(collateral), amount);
    }

    /// @notice Takes `amount` of the hook token back.
    function withdrawCollateral(uint256 amount) external onlyOwner {
        book.withdrawCollateral(address(collateral), amount);
    }

    /// @notice Borrows `amount` of the stablecoin (kept here).
    function borrow(uint256 amount) external onlyOwner {
        book.borrow(amount);
    }

    /// @notice Liquidates `borrower`'s hook-token collateral, repaying up to `amount` from here.
    function liquidate(address borrower, uint256 amount) external onlyOwner {
        book.liquidate(borrower, address(collateral), amount);
    }

    /// @inheritdoc ITokenHooks
    function tokensToSend(address, address, address, uint256) external {
        _onHook(Hook.ToSend);
    }

    /// @inheritdoc ITokenHooks
    function tokensReceived(address, address, address, uint256) external {
        _onHook(Hook.Received);
    }

    function _onHook(Hook hook) internal {
        if (msg.sender != address(collateral)) revert NotCollateral(msg.sender);
        ++hookCalls;
        Action action = armedAction;
        if (action == Action.None || hook != armedHook) return;
        armedAction = Action.None; // once: the re-entry's own transfers must not re-arm it
        ++attempts;
        uint256 amount = armedAmount;
        bool ok;
        bytes memory err;
        if (action == Action.Borrow) {
            try book.borrow(amount) {
                ok = true;
            } catch (bytes memory e) {
                err = e;
            }
        } else if (action == Action.WithdrawCollateral) {
            try book.withdrawCollateral(address(collateral), amount) {
                ok = true;
            } catch (bytes memory e) {
                err = e;
            }
        } else if (action == Action.DepositCollateral) {
            try book.depositCollateral(address(collateral), amount) {
                ok = true;
            } catch (bytes memory e) {
                err = e;
            }
        } else {
            try book.liquidate(armedBorrower, address(collateral), amount) returns (uint256) {
                ok = true;
            } catch (bytes memory e) {
                err = e;
            }
        }
        (lastSucceeded, lastError) = (ok, err);
    }
}
