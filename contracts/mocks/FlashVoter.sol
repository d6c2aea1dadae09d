// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IGovernor} from "@openzeppelin/contracts/governance/IGovernor.sol";
import {IVotes} from "@openzeppelin/contracts/governance/utils/IVotes.sol";
import {IERC3156FlashBorrower} from "@openzeppelin/contracts/interfaces/IERC3156FlashBorrower.sol";
import {IERC3156FlashLender} from "@openzeppelin/contracts/interfaces/IERC3156FlashLender.sol";

/// @title FlashVoter
/// @notice Test-only attacker: borrows governance tokens in a flash loan, delegates them to
///         itself and, within the same transaction, either votes on a live proposal or submits a
///         proposal, then repays. Records what it saw so a test can show the borrowed weight
///         never counted.
/// @dev Failures of the governor call are caught and recorded (`lastError`), so the loan is
///      repaid and the attempt is visible on chain.
contract FlashVoter is IERC3156FlashBorrower {
    bytes32 internal constant CALLBACK_SUCCESS = keccak256("ERC3156FlashBorrower.onFlashLoan");

    enum Mode {
        Vote,
        Propose
    }

    IGovernor public immutable governor;
    IERC3156FlashLender public immutable lender;
    address public immutable token;
    address public immutable owner;

    /// @notice Live votes this contract held during the loan, after delegating to itself.
    uint256 public votesDuringLoan;
    /// @notice Weight the governor counted for the last vote cast during a loan.
    uint256 public lastWeight;
    /// @notice The proposal created during the last loan (0 if none).
    uint256 public lastProposalId;
    /// @notice Revert data of the last governor call that failed (empty when it succeeded).
    bytes public lastError;

    error NotOwner(address caller);
    error UntrustedLoan(address lender, address initiator);

    constructor(IGovernor governor_, IERC3156FlashLender lender_, address token_) {
        governor = governor_;
        lender = lender_;
        token = token_;
        owner = msg.sender;
    }

    /// @notice Flash-borrows `amount` and votes `support` on `proposalId` with it.
    function flashVote(uint256 proposalId, uint8 support, uint256 amount) external {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        lender.flashLoan(this, token, amount, abi.encode(Mode.Vote, abi.encode(proposalId, support)));
    }

    /// @notice Flash-borrows `amount` and submits a proposal with it.
    function flashPropose(
        address[] calldata targets,
        uint256[] calldata values,
        bytes[] calldata calldatas,
        string calldata description,
        uint256 amount
    ) external {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        bytes memory call = abi.encode(targets, values, calldatas, description);
        lender.flashLoan(this, token, amount, abi.encode(Mode.Propose, call));
    }

    /// @inheritdoc IERC3156FlashBorrower
    function onFlashLoan(address initiator, address token_, uint256 amount, uint256 fee, bytes calldata data)
        external
        returns (bytes32)
    {
        if (msg.sender != address(lender) || initiator != address(this) || token_ != token) {
            revert UntrustedLoan(msg.sender, initiator);
        }
        IVotes(token).delegate(address(this));
        votesDuringLoan = IVotes(token).getVotes(address(this));
        (Mode mode, bytes memory call) = abi.decode(data, (Mode, bytes));
        delete lastError;
        if (mode == Mode.Vote) {
            (uint256 proposalId, uint8 support) = abi.decode(call, (uint256, uint8));
            try governor.castVote(proposalId, support) returns (uint256 weight) {
                lastWeight = weight;
            } catch (bytes memory e) {
                lastError = e;
            }
        } else {
            (address[] memory targets, uint256[] memory values, bytes[] memory calldatas, string memory description) =
                abi.decode(call, (address[], uint256[], bytes[], string));
            lastProposalId = 0;
            try governor.propose(targets, values, calldatas, description) returns (uint256 id) {
                lastProposalId = id;
            } catch (bytes memory e) {
                lastError = e;
            }
        }
        IERC20(token).approve(address(lender), amount + fee);
        return CALLBACK_SUCCESS;
    }
}
