// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// @title BareRequest
/// @notice Benchmark reference only: the least an ERC-7540 deposit request and its claim can do.
///         `requestDeposit` takes the assets, adds them to the controller's pending request and
///         to the total pending (the figure any settlement needs) and emits the standard's event;
///         `settle` makes the named controllers' requests claimable one share per unit (the
///         benchmark's stand-in for a strike, not measured); the claim, ERC-7540's `deposit(assets,
///         receiver, controller)`, takes from what is claimable and mints the shares. No cap, no
///         windows, no pricing, no operators, no shutdown, no allowlist. `benchmarks/gas`
///         measures it next to RWAVault as the EVM's floor. Never deployed by `ape run deploy`.
contract BareRequest is ERC20 {
    using SafeERC20 for IERC20;

    IERC20 public immutable asset;
    mapping(address controller => uint256) public pendingAssets;
    mapping(address controller => uint256) public claimableAssets;
    uint256 public totalPending;

    event Deposit(address indexed sender, address indexed owner, uint256 assets, uint256 shares);
    event DepositRequest(
        address indexed controller, address indexed owner, uint256 indexed requestId, address sender, uint256 assets
    );

    error ZeroAmount();
    error NotOwner(address owner, address caller);
    error ClaimTooLarge(uint256 assets, uint256 claimable);

    constructor(IERC20 asset_) ERC20("Bare ERC-7540 request", "bare7540") {
        asset = asset_;
    }

    function requestDeposit(uint256 assets, address controller, address owner) external returns (uint256) {
        if (assets == 0) revert ZeroAmount();
        if (msg.sender != owner) revert NotOwner(owner, msg.sender);
        pendingAssets[controller] += assets;
        totalPending += assets;
        asset.safeTransferFrom(owner, address(this), assets);
        emit DepositRequest(controller, owner, 0, msg.sender, assets);
        return 0;
    }

    function settle(address[] calldata controllers) external {
        for (uint256 i; i < controllers.length; ++i) {
            address controller = controllers[i];
            uint256 pending = pendingAssets[controller];
            (claimableAssets[controller], pendingAssets[controller]) = (claimableAssets[controller] + pending, 0);
            totalPending -= pending;
        }
    }

    function deposit(uint256 assets, address receiver, address controller) external returns (uint256 shares) {
        if (msg.sender != controller) revert NotOwner(controller, msg.sender);
        uint256 claimable = claimableAssets[controller];
        if (assets > claimable) revert ClaimTooLarge(assets, claimable);
        claimableAssets[controller] = claimable - assets;
        shares = assets;
        _mint(receiver, shares);
        emit Deposit(controller, receiver, assets, shares);
    }
}
