// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ERC4626} from "@openzeppelin/contracts/token/ERC20/extensions/ERC4626.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Address} from "@openzeppelin/contracts/utils/Address.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IAgentRegistry} from "interfaces/IAgentRegistry.sol";
import {IParameterRegistry} from "interfaces/IParameterRegistry.sol";
import {IRWAVault} from "interfaces/IRWAVault.sol";
import {ISleeve} from "interfaces/ISleeve.sol";
import {RebalanceModule} from "./RebalanceModule.sol";
import {SleeveModule} from "./SleeveModule.sol";
import {VaultStorage} from "./VaultStorage.sol";

/// @title RWAVault
/// @notice ERC-7540 vault over a stablecoin held idle or in RWA sleeves: forward-priced requests
///         settled at NAV strikes (see IRWAVault for the rules every function keeps).
/// @dev Roles: DEFAULT_ADMIN and GOVERNANCE (the timelock) manage sleeves, the withdraw queue,
///      the allowlist switch and the AgentRegistry; GUARDIAN pauses automation and shuts down;
///      ALLOWLIST manages allowlist entries. Rebalancing is for the agents the AgentRegistry
///      reports active (checked in RebalanceModule). Strike prices use OpenZeppelin's virtual
///      shares (`supply + 10**offset`, `totalAssets + 1`).
contract RWAVault is ERC4626, AccessControl, ReentrancyGuardTransient, IRWAVault {
    using Math for uint256;
    using SafeCast for uint256;
    using SafeERC20 for IERC20;

    bytes32 public constant GOVERNANCE_ROLE = keccak256("GOVERNANCE_ROLE");
    bytes32 public constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");
    bytes32 public constant ALLOWLIST_ROLE = keccak256("ALLOWLIST_ROLE");

    /// @notice Most sleeves a vault holds (Yearn V3's withdraw queue limit).
    uint256 public constant MAX_SLEEVES = 10;

    bytes32 internal constant REBALANCE_COOLDOWN = keccak256("vault.rebalanceCooldown");
    bytes32 internal constant DEPOSIT_CAP = keccak256("vault.depositCap");
    bytes32 internal constant UNLOCK_PERIOD = keccak256("vault.unlockPeriod");
    bytes32 internal constant STRIKE_MAX_WAIT = keccak256("vault.strikeMaxWait");

    IParameterRegistry public immutable registry;
    /// @notice The contract `rebalance` delegates to (see RebalanceModule).
    address public immutable rebalanceModule;
    uint8 internal immutable _offset;

    /// @param asset_ The stablecoin depositors bring.
    /// @param registry_ The ParameterRegistry holding the vault.* parameters.
    /// @param rebalanceModule_ A RebalanceModule reading the same registry.
    /// @param admin Receives DEFAULT_ADMIN and GOVERNANCE (the deployer, who hands them to the
    ///        timelock once the sleeves are wired).
    constructor(
        IERC20Metadata asset_,
        IParameterRegistry registry_,
        RebalanceModule rebalanceModule_,
        string memory name_,
        string memory symbol_,
        address admin
    ) ERC20(name_, symbol_) ERC4626(asset_) {
        if (address(registry_) == address(0) || admin == address(0)) revert ZeroAddress();
        if (rebalanceModule_.registry() != registry_) revert InvalidModule(address(rebalanceModule_));
        registry = registry_;
        rebalanceModule = address(rebalanceModule_);
        uint8 dec = asset_.decimals();
        // Shares get 18 decimals (MetaMorpho's DECIMALS_OFFSET = 18 - asset decimals).
        _offset = dec < 18 ? 18 - dec : 0;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(GOVERNANCE_ROLE, admin);
        // The performance fee starts above the price of the empty vault: 1 / 10^offset per share.
        _s().highWaterMark = 1e36 / 10 ** _offset;
        // Request windows are counted from now (strikes never walk through the years before).
        // Both queues start empty (head > tail), every earlier window counted as settled.
        uint64 window = uint64(block.timestamp / VaultStorage.WINDOW);
        _s().depositQueue = VaultStorage.Queue(window + 1, window, 0);
        _s().redeemQueue = VaultStorage.Queue(window + 1, window, 0);
        emit VaultUpdate(address(asset_), address(this)); // ERC-7575: the share's vault
    }

    modifier onlyGuardianOrGovernance() {
        if (!hasRole(GUARDIAN_ROLE, msg.sender) && !hasRole(GOVERNANCE_ROLE, msg.sender)) {
            revert AccessControlUnauthorizedAccount(msg.sender, GUARDIAN_ROLE);
        }
        _;
    }

    // =================================================================== ERC-4626 views

    /// @notice Idle (less pending deposits and unclaimed redemptions) plus every sleeve's live
    ///         valuation, less the donations still locked.
    function totalAssets() public view override returns (uint256) {
        uint256 total = _idle();
        uint256 n = _s().sleeves.length;
        for (uint256 i; i < n; ++i) {
            (uint256 a,) = _s().sleeves[i].sleeve.valuation();
            total += a;
        }
        uint256 locked = _locked();
        return total > locked ? total - locked : 0;
    }

    /// @notice ERC-7540: the assets of `controller`'s settled deposits it may claim now.
    function maxDeposit(address controller) public view override returns (uint256) {
        return _depositClaims(controller).assets;
    }

    /// @notice ERC-7540: the shares of `controller`'s settled deposits it may claim now.
    function maxMint(address controller) public view override returns (uint256) {
        return _depositClaims(controller).shares;
    }

    /// @notice ERC-7540: the assets of `controller`'s filled redemptions it may claim now.
    function maxWithdraw(address controller) public view override returns (uint256) {
        (VaultStorage.Claimable memory c,) = _redeemClaims(controller);
        return c.assets;
    }

    /// @notice ERC-7540: the shares of `controller`'s filled redemptions it may claim now.
    function maxRedeem(address controller) public view override returns (uint256) {
        (VaultStorage.Claimable memory c,) = _redeemClaims(controller);
        return c.shares;
    }

    /// @notice Reverts: entries are priced at a future strike (ERC-7540).
    function previewDeposit(uint256) public pure override returns (uint256) {
        revert PreviewUnavailable();
    }

    /// @notice Reverts: entries are priced at a future strike (ERC-7540).
    function previewMint(uint256) public pure override returns (uint256) {
        revert PreviewUnavailable();
    }

    /// @notice Reverts: exits are priced at a future strike (ERC-7540).
    function previewWithdraw(uint256) public pure override returns (uint256) {
        revert PreviewUnavailable();
    }

    /// @notice Reverts: exits are priced at a future strike (ERC-7540).
    function previewRedeem(uint256) public pure override returns (uint256) {
        revert PreviewUnavailable();
    }

    // =================================================================== ERC-7540 claims

    /// @notice Claims the shares `assets` of the caller's settled deposits bought.
    function deposit(uint256 assets, address receiver) public override returns (uint256) {
        return deposit(assets, receiver, msg.sender);
    }

    /// @notice Claims `shares` of the caller's settled deposits.
    function mint(uint256 shares, address receiver) public override returns (uint256) {
        return mint(shares, receiver, msg.sender);
    }

    /// @notice ERC-7540 claim: sends `receiver` the shares that `assets` of `controller`'s settled
    ///         deposits bought, rounded down (all of them when `assets` is all that is claimable).
    function deposit(uint256 assets, address receiver, address controller)
        public
        nonReentrant
        returns (uint256 shares)
    {
        _checkOperator(controller);
        VaultStorage.Claimable memory c = _depositClaims(controller);
        if (assets == 0) revert ZeroAmount();
        if (assets > c.assets) revert ClaimExceeded(controller, assets, c.assets);
        shares = assets == c.assets ? c.shares : assets.mulDiv(c.shares, c.assets); // down
        if (shares == 0 && assets != c.assets) revert ZeroAmount(); // the last claim may clear dust
        _claimShares(controller, receiver, c, assets, shares);
    }

    /// @notice ERC-7540 claim: sends `receiver` `shares` of `controller`'s settled deposits,
    ///         charging the claim assets rounded up (all of them for the last share).
    function mint(uint256 shares, address receiver, address controller)
        public
        nonReentrant
        returns (uint256 assets)
    {
        _checkOperator(controller);
        VaultStorage.Claimable memory c = _depositClaims(controller);
        if (shares == 0) revert ZeroAmount();
        if (shares > c.shares) revert ClaimExceeded(controller, shares, c.shares);
        assets = shares == c.shares ? c.assets : shares.mulDiv(c.assets, c.shares, Math.Rounding.Ceil);
        _claimShares(controller, receiver, c, assets, shares);
    }

    /// @notice ERC-7540 claim: pays `receiver` `assets` of `controller`'s filled redemptions,
    ///         charging the claim shares rounded up (all of them for the last asset).
    function withdraw(uint256 assets, address receiver, address controller)
        public
        override
        nonReentrant
        returns (uint256 shares)
    {
        _checkOperator(controller);
        (VaultStorage.Claimable memory c, VaultStorage.Claimable memory fill) = _redeemClaims(controller);
        if (assets == 0) revert ZeroAmount();
        if (assets > c.assets) revert ClaimExceeded(controller, assets, c.assets);
        shares = assets == c.assets ? c.shares : assets.mulDiv(c.shares, c.assets, Math.Rounding.Ceil);
        _claimAssets(controller, receiver, c, fill, assets, shares);
    }

    /// @notice ERC-7540 claim: pays `receiver` what `shares` of `controller`'s filled redemptions
    ///         are owed, rounded down (all of it for the last share).
    function redeem(uint256 shares, address receiver, address controller)
        public
        override
        nonReentrant
        returns (uint256 assets)
    {
        _checkOperator(controller);
        (VaultStorage.Claimable memory c, VaultStorage.Claimable memory fill) = _redeemClaims(controller);
        if (shares == 0) revert ZeroAmount();
        if (shares > c.shares) revert ClaimExceeded(controller, shares, c.shares);
        assets = shares == c.shares ? c.assets : shares.mulDiv(c.assets, c.shares); // down
        if (assets == 0 && shares != c.shares) revert ZeroAmount(); // the last claim may clear dust
        _claimAssets(controller, receiver, c, fill, assets, shares);
    }

    // =================================================================== ERC-7540 requests

    /// @inheritdoc IRWAVault
    function requestDeposit(uint256 assets, address controller, address owner)
        external
        nonReentrant
        returns (uint256)
    {
        if (assets == 0) revert ZeroAmount();
        if (controller == address(0)) revert ZeroAddress();
        _checkOperator(owner);
        if (controller != owner) _checkOperator(controller); // no request for a controller unasked
        VaultStorage.Flags memory f = _s().flags;
        if (f.shutdown) revert VaultIsShutdown();
        if (f.allowlistEnabled) {
            if (!_s().allowed[owner]) revert NotAllowlisted(owner);
            if (!_s().allowed[controller]) revert NotAllowlisted(controller);
        }
        VaultStorage.Queue memory q = _s().depositQueue;
        uint256 cap = registry.get(DEPOSIT_CAP);
        uint256 used = f.lastNav + q.pending;
        uint256 room = cap > used ? cap - used : 0;
        if (assets > room) revert DepositCapExceeded(assets, room);
        uint64 window = uint64(block.timestamp / VaultStorage.WINDOW);
        VaultStorage.DepositRequest storage r = _s().deposits[controller];
        if (r.pending != 0 && r.window != window) {
            if (_s().depositWindows[r.window].strikePlusOne == 0) revert DepositRequestPending(controller, r.window);
            _s().depositClaims[controller] = _depositClaims(controller); // settled: move it to claims
            (r.pending, r.claims) = (0, true);
        }
        (r.pending, r.window) = (r.pending + assets.toUint128(), window);
        _s().depositWindows[window].assets += uint128(assets);
        _s().depositQueue = _enqueue(q, window, assets, true);
        IERC20(asset()).safeTransferFrom(owner, address(this), assets);
        emit DepositRequest(controller, owner, 0, msg.sender, assets);
        return 0;
    }

    /// @inheritdoc IRWAVault
    function requestRedeem(uint256 shares, address controller, address owner)
        external
        nonReentrant
        returns (uint256)
    {
        if (shares == 0) revert ZeroAmount();
        if (controller == address(0)) revert ZeroAddress();
        if (msg.sender != owner && !_s().operators[owner][msg.sender]) _spendAllowance(owner, msg.sender, shares);
        if (controller != owner) _checkOperator(controller); // no request for a controller unasked
        uint64 window = uint64(block.timestamp / VaultStorage.WINDOW);
        VaultStorage.RedeemRequest storage r = _s().redeems[controller];
        if (r.shares != 0 && r.window != window) {
            VaultStorage.RedeemWindow memory e = _s().redeemWindows[r.window];
            if (e.filled != e.requested) revert RedeemRequestQueued(controller, r.window);
            (_s().redeemClaims[controller],) = _redeemClaims(controller); // filled: move it to claims
            if (r.folded) delete _s().redeemFolded[controller];
            (r.shares, r.claims, r.folded) = (0, true, false);
        }
        (r.shares, r.window) = (r.shares + shares.toUint128(), window);
        _s().redeemWindows[window].requested += uint128(shares);
        _s().redeemQueue = _enqueue(_s().redeemQueue, window, shares, false);
        _transfer(owner, address(this), shares); // escrow: reverts on a short balance
        emit RedeemRequest(controller, owner, 0, msg.sender, shares);
        return 0;
    }

    /// @inheritdoc IRWAVault
    function cancelDepositRequest(address controller) external nonReentrant returns (uint256 assets) {
        _checkOperator(controller);
        VaultStorage.DepositRequest storage r = _s().deposits[controller];
        assets = r.pending;
        uint256 window = r.window;
        if (assets == 0 || _s().depositWindows[window].strikePlusOne != 0) revert NoPendingRequest(controller);
        // After the cut-off only when it can no longer settle: the vault is shut down, or no strike
        // settled it within `vault.strikeMaxWait` and none could now (a dead feed never traps a
        // deposit; a live one gives no free option between striking and cancelling at a price
        // already seen).
        uint256 closesAt = (window + 1) * VaultStorage.WINDOW;
        if (!_s().flags.shutdown) {
            if (block.timestamp < closesAt + registry.get(STRIKE_MAX_WAIT)) {
                _checkWindowOpen(controller, window);
            } else if (window < abi.decode(_moduleView(abi.encodeCall(RebalanceModule.depositEnd, ())), (uint256))) {
                revert RequestWindowClosed(controller, closesAt);
            }
        }
        r.pending = 0;
        _s().depositWindows[window].assets -= uint128(assets);
        _s().depositQueue.pending -= uint128(assets);
        IERC20(asset()).safeTransfer(controller, assets);
        emit DepositRequestCancelled(controller, assets);
    }

    /// @inheritdoc IRWAVault
    function cancelRedeemRequest(address controller) external nonReentrant returns (uint256 shares) {
        _checkOperator(controller);
        VaultStorage.RedeemRequest memory r = _s().redeems[controller];
        shares = r.shares;
        if (shares == 0) revert NoPendingRequest(controller);
        // A wholly filled request (its window's fill complete: a closed window) is claimable, not
        // pending, as a settled deposit: nothing to cancel. An open window has filled nothing.
        VaultStorage.RedeemWindow storage e = _s().redeemWindows[r.window];
        if (e.filled == e.requested) revert NoPendingRequest(controller);
        _checkWindowOpen(controller, r.window);
        (_s().redeems[controller].shares, _s().redeems[controller].window) = (0, 0); // the flags stay
        _s().redeemWindows[r.window].requested -= uint128(shares);
        _s().redeemQueue.pending -= uint128(shares);
        _transfer(address(this), controller, shares);
        emit RedeemRequestCancelled(controller, shares);
    }

    /// @inheritdoc IRWAVault
    function setOperator(address operator, bool approved) external returns (bool) {
        _s().operators[msg.sender][operator] = approved;
        emit OperatorSet(msg.sender, operator, approved);
        return true;
    }

    /// @inheritdoc IRWAVault
    function isOperator(address controller, address operator) public view returns (bool) {
        return _s().operators[controller][operator];
    }

    /// @inheritdoc IRWAVault
    function share() external view returns (address) {
        return address(this);
    }

    /// @inheritdoc IRWAVault
    function vault(address asset_) external view returns (address) {
        return asset_ == asset() ? address(this) : address(0);
    }

    /// @inheritdoc IRWAVault
    function pendingDepositRequest(uint256, address controller) external view returns (uint256) {
        VaultStorage.DepositRequest memory r = _s().deposits[controller];
        return _s().depositWindows[r.window].strikePlusOne == 0 ? r.pending : 0;
    }

    /// @inheritdoc IRWAVault
    function claimableDepositRequest(uint256, address controller) external view returns (uint256) {
        return _depositClaims(controller).assets;
    }

    /// @inheritdoc IRWAVault
    function pendingRedeemRequest(uint256, address controller) external view returns (uint256) {
        VaultStorage.RedeemRequest memory r = _s().redeems[controller];
        (uint256 filled,) = _redeemFilled(r);
        return r.shares - filled;
    }

    /// @inheritdoc IRWAVault
    function claimableRedeemRequest(uint256, address controller) external view returns (uint256) {
        (VaultStorage.Claimable memory c,) = _redeemClaims(controller);
        return c.shares;
    }

    /// @notice ERC-165, with ERC-7540 (operator, async deposit, async redeem) and ERC-7575.
    function supportsInterface(bytes4 id) public view override returns (bool) {
        return id == 0xe3bc4e65 || id == 0xce3bbe50 || id == 0x620ee8e4 || id == 0x2f0a18c5
            || id == 0xf815c03d || super.supportsInterface(id);
    }

    // =================================================================== strikes

    /// @inheritdoc IRWAVault
    /// @dev The module values the sleeves and settles (see RebalanceModule.strike); the vault
    ///      mints and burns (ERC-20 state is the vault's).
    function strike() external nonReentrant returns (uint256 strikeId) {
        uint256 feeShares;
        uint256 minted;
        uint256 burned;
        (strikeId, feeShares, minted, burned) = abi.decode(
            Address.functionDelegateCall(rebalanceModule, msg.data), (uint256, uint256, uint256, uint256)
        );
        if (burned != 0) _burn(address(this), burned);
        if (minted != 0) _mint(address(this), minted);
        if (feeShares != 0) {
            address agents = _s().agents;
            _mint(agents, feeShares);
            IAgentRegistry(agents).onFee(feeShares);
        }
    }

    /// @inheritdoc IRWAVault
    function strikeTrigger() external view returns (bool, bytes memory) {
        _returnModuleView(abi.encodeCall(RebalanceModule.strikeTrigger, ()));
    }

    /// @notice Runs one of the module's views in this vault's storage. Reachable only from the
    ///         vault's own views, through STATICCALL: it can never change state.
    function moduleView(bytes calldata data) external returns (bytes memory) {
        if (msg.sender != address(this)) revert InvalidModule(msg.sender);
        return Address.functionDelegateCall(rebalanceModule, data);
    }

    /// @inheritdoc IRWAVault
    function strikeCount() external view returns (uint256) {
        return _s().strikes;
    }

    /// @inheritdoc IRWAVault
    function pendingDeposits() external view returns (uint256) {
        return _s().depositQueue.pending;
    }

    /// @inheritdoc IRWAVault
    function pendingRedemptions() external view returns (uint256) {
        return _s().redeemQueue.pending;
    }

    /// @inheritdoc IRWAVault
    function claimableRedemptions() external view returns (uint256) {
        return _s().reservedAssets;
    }

    /// @inheritdoc IRWAVault
    function requestWindows() external view returns (uint256, uint256, uint256) {
        return (block.timestamp / VaultStorage.WINDOW, _s().depositQueue.head, _s().redeemQueue.head);
    }

    /// @inheritdoc IRWAVault
    function lockedDonations() external view returns (uint256, uint256) {
        return (_locked(), _s().lock.end);
    }

    // =================================================================== allocation

    /// @inheritdoc IRWAVault
    /// @dev The module checks the agent and every bound, moves the capital and records.
    function rebalance(uint16[] calldata, bytes32, string calldata)
        external
        nonReentrant
        returns (uint256 decisionId)
    {
        decisionId = abi.decode(Address.functionDelegateCall(rebalanceModule, msg.data), (uint256));
    }

    /// @inheritdoc IRWAVault
    function setAgentRegistry(address agents) external onlyRole(GOVERNANCE_ROLE) {
        if (agents.code.length == 0 || IAgentRegistry(agents).vault() != address(this)) revert InvalidAgentRegistry(agents);
        _s().agents = agents;
        emit AgentRegistrySet(agents);
    }

    /// @inheritdoc IRWAVault
    function agentRegistry() external view returns (address) {
        return _s().agents;
    }

    /// @inheritdoc IRWAVault
    /// @dev Lifts the high-water mark by the donation per share that exists now (rounded up), so
    ///      the fee never counts it; what is still locked and the donation unlock together, their
    ///      rates added: `still / left` (what is locked keeps its pace) plus `assets / period`
    ///      (the donation's own), so the lock ends at `locked / rate`, rounded up. That line is
    ///      never above the two unlocking apart: nobody's donation, of a wei or of more, holds
    ///      back what was locked before it (an amount-weighted average of the ends, Yearn V3's
    ///      rule, spread a lock a day from its end over days: tests/attacks/test_mev_review.py).
    ///      With a period of 0 the donation unlocks at once and the lock keeps its schedule.
    function donate(uint256 assets) external nonReentrant {
        if (assets == 0) revert ZeroAmount();
        IERC20(asset()).safeTransferFrom(msg.sender, address(this), assets);
        _s().highWaterMark += assets.mulDiv(1e36, totalSupply() + 10 ** _offset, Math.Rounding.Ceil);
        uint256 still = _locked();
        uint256 locked = still + assets;
        uint256 end = _s().lock.end; // after now whenever something is still locked
        uint256 period = registry.get(UNLOCK_PERIOD);
        if (still == 0) {
            end = block.timestamp + period;
        } else if (period == 0) {
            locked = still;
        } else {
            uint256 left = end - block.timestamp;
            end = block.timestamp + (locked * period).mulDiv(left, still * period + assets * left, Math.Rounding.Ceil);
        }
        _s().lock = VaultStorage.Lock(locked.toUint128(), uint64(block.timestamp), uint64(end));
        emit Donated(msg.sender, assets, locked, end);
    }

    /// @inheritdoc IRWAVault
    function decisionCount() external view returns (uint256) {
        return _s().decisions.length;
    }

    /// @inheritdoc IRWAVault
    /// @dev Unpacked by SleeveModule.decision (code size).
    function decision(uint256 decisionId) external view returns (Decision memory) {
        _returnModuleView(abi.encodeCall(SleeveModule.decision, (decisionId)));
    }

    /// @inheritdoc IRWAVault
    function nextRebalanceAt() external view returns (uint256) {
        uint256 last = _s().flags.lastRebalance;
        return last == 0 ? 0 : last + registry.get(REBALANCE_COOLDOWN);
    }

    /// @inheritdoc IRWAVault
    function currentBps() external view returns (uint16[] memory) {
        _returnModuleView(abi.encodeCall(SleeveModule.currentBps, ()));
    }

    // =================================================================== sleeves

    /// @inheritdoc IRWAVault
    /// @dev Run by SleeveModule.addSleeve (code size).
    function addSleeve(ISleeve, string calldata) external onlyRole(GOVERNANCE_ROLE) {
        Address.functionDelegateCall(rebalanceModule, msg.data);
    }

    /// @inheritdoc IRWAVault
    /// @dev Run by SleeveModule.removeSleeve (code size): later sleeves shift down one index
    ///      (rebalance targets follow the new order); the withdraw queue keeps its order.
    function removeSleeve(ISleeve) external onlyRole(GOVERNANCE_ROLE) {
        Address.functionDelegateCall(rebalanceModule, msg.data);
    }

    /// @inheritdoc IRWAVault
    /// @dev Run by SleeveModule.setWithdrawQueue (code size).
    function setWithdrawQueue(uint8[] calldata) external onlyRole(GOVERNANCE_ROLE) {
        Address.functionDelegateCall(rebalanceModule, msg.data);
    }

    /// @inheritdoc IRWAVault
    function sleeveCount() external view returns (uint256) {
        return _s().sleeves.length;
    }

    /// @inheritdoc IRWAVault
    function sleeveAt(uint256 index) external view returns (SleeveConfig memory) {
        VaultStorage.SleeveSlot memory slot = _s().sleeves[index];
        return SleeveConfig(slot.sleeve, _s().names[address(slot.sleeve)], slot.capKey);
    }

    /// @inheritdoc IRWAVault
    function withdrawQueue() external view returns (uint8[] memory) {
        return _s().withdrawQueue;
    }

    /// @inheritdoc IRWAVault
    function idle() public view returns (uint256) {
        return _idle();
    }

    /// @inheritdoc IRWAVault
    function liquidity() external view returns (uint256) {
        return abi.decode(_moduleView(abi.encodeCall(RebalanceModule.liquidity, ())), (uint256));
    }

    // =================================================================== guardian, shutdown, allowlist

    /// @inheritdoc IRWAVault
    function pauseAutomation() external onlyGuardianOrGovernance {
        _s().flags.automationPaused = true;
        emit AutomationPaused(msg.sender);
    }

    /// @inheritdoc IRWAVault
    function unpauseAutomation() external onlyGuardianOrGovernance {
        _s().flags.automationPaused = false;
        emit AutomationUnpaused(msg.sender);
    }

    /// @inheritdoc IRWAVault
    function shutdown() external onlyGuardianOrGovernance {
        if (_s().flags.shutdown) revert VaultIsShutdown();
        _s().flags.shutdown = true;
        emit Shutdown(msg.sender);
    }

    /// @inheritdoc IRWAVault
    function unwind(ISleeve sleeve, uint256 assets) external nonReentrant returns (uint256 withdrawn) {
        if (!_s().flags.shutdown) revert NotShutdown();
        _indexOf(sleeve);
        if (assets == 0) revert ZeroAmount();
        IERC20 token = IERC20(asset());
        uint256 before = token.balanceOf(address(this));
        sleeve.withdraw(assets);
        withdrawn = token.balanceOf(address(this)) - before;
        emit Unwound(address(sleeve), assets, withdrawn);
    }

    /// @inheritdoc IRWAVault
    function setAllowlistEnabled(bool enabled) external onlyRole(GOVERNANCE_ROLE) {
        _s().flags.allowlistEnabled = enabled;
        emit AllowlistEnabled(enabled);
    }

    /// @inheritdoc IRWAVault
    function setAllowed(address account, bool allowed) external onlyRole(ALLOWLIST_ROLE) {
        _s().allowed[account] = allowed;
        emit AllowlistUpdated(account, allowed);
    }

    /// @inheritdoc IRWAVault
    function automationPaused() external view returns (bool) {
        return _s().flags.automationPaused;
    }

    /// @inheritdoc IRWAVault
    function isShutdown() external view returns (bool) {
        return _s().flags.shutdown;
    }

    /// @inheritdoc IRWAVault
    function allowlistEnabled() external view returns (bool) {
        return _s().flags.allowlistEnabled;
    }

    /// @inheritdoc IRWAVault
    function isAllowed(address account) external view returns (bool) {
        return _s().allowed[account];
    }

    // =================================================================== internals

    function _s() internal pure returns (VaultStorage.Layout storage) {
        return VaultStorage.layout();
    }

    /// @dev With the allowlist on, shares may only go to allowlisted accounts, the vault's own
    ///      escrow and the performance fee's receivers (the AgentRegistry and its treasury: a
    ///      strike that takes a fee must never stop on the allowlist, or no exit could settle);
    ///      burning is always possible.
    function _update(address from, address to, uint256 value) internal override {
        if (to != address(0) && to != address(this) && _s().flags.allowlistEnabled && !_s().allowed[to]) {
            address agents = _s().agents; // 0 until governance sets it: then no fee is taken
            if (agents == address(0) || (to != agents && to != IAgentRegistry(agents).treasury())) {
                revert NotAllowlisted(to);
            }
        }
        super._update(from, to, value);
    }

    function _decimalsOffset() internal view override returns (uint8) {
        return _offset;
    }

    /// @dev The vault's cash less pending deposits and redemptions awaiting their claim.
    function _idle() internal view returns (uint256) {
        return IERC20(asset()).balanceOf(address(this)) - _s().depositQueue.pending - _s().reservedAssets;
    }

    /// @dev Donations still locked: linear from `lock.amount` at `start` to 0 at `end`, rounded up
    ///      (the share price never counts a wei early); nothing after a shutdown (nobody can enter
    ///      to snipe it then, and what stayed locked when the last holder left was nobody's).
    function _locked() internal view returns (uint256) {
        VaultStorage.Lock memory l = _s().lock;
        if (block.timestamp >= l.end || _s().flags.shutdown) return 0;
        return uint256(l.amount).mulDiv(l.end - block.timestamp, l.end - l.start, Math.Rounding.Ceil);
    }

    /// @dev Queue `q` with `amount` more pending in `window`, the open one: its first request
    ///      links it after the tail, or in place of a tail whose requests were all cancelled
    ///      (VaultStorage.Queue, BeforeTail).
    function _enqueue(VaultStorage.Queue memory q, uint64 window, uint256 amount, bool deposits)
        internal
        returns (VaultStorage.Queue memory)
    {
        if (q.head > q.tail) {
            (q.head, q.tail) = (window, window); // the queue was empty
        } else if (window != q.tail) {
            VaultStorage.BeforeTail storage before = _s().beforeTail;
            bool emptied = deposits
                ? _s().depositWindows[q.tail].assets == 0
                : _s().redeemWindows[q.tail].requested == 0;
            if (emptied && q.head == q.tail) {
                q.head = window; // it held only a window whose requests were all cancelled
            } else {
                uint64 link = q.tail;
                if (emptied) link = deposits ? before.deposits : before.redemptions;
                else if (deposits) before.deposits = q.tail;
                else before.redemptions = q.tail;
                if (deposits) _s().depositWindows[link].next = window;
                else _s().redeemWindows[link].next = window;
            }
            q.tail = window;
        }
        q.pending += uint128(amount);
        return q;
    }

    function _checkOperator(address owner) internal view {
        if (msg.sender != owner && !_s().operators[owner][msg.sender]) revert NotOperator(owner, msg.sender);
    }

    /// @dev Refuses a cancel once the request window has closed: from its cut-off on, a published
    ///      price may be the one that settles it, and an order withdrawn after seeing its own price
    ///      would be a free option against those who stay.
    function _checkWindowOpen(address controller, uint256 window) internal view {
        uint256 closesAt = (window + 1) * VaultStorage.WINDOW;
        if (block.timestamp >= closesAt) revert RequestWindowClosed(controller, closesAt);
    }

    /// @dev A module view run through `moduleView` (STATICCALL), its revert bubbled up.
    function _moduleView(bytes memory data) internal view returns (bytes memory) {
        (bool ok, bytes memory ret) = address(this).staticcall(abi.encodeCall(this.moduleView, (data)));
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 32), mload(ret))
            }
        }
        return abi.decode(ret, (bytes));
    }

    /// @dev Ends the call with a module view's return data as it is (the same ABI as the caller's
    ///      return type: no decoding and re-encoding here, code size).
    function _returnModuleView(bytes memory data) internal view {
        bytes memory ret = _moduleView(data);
        assembly ("memory-safe") {
            return(add(ret, 32), mload(ret))
        }
    }

    /// @dev `controller`'s claimable deposits, with a request a strike settled since its last
    ///      action.
    function _depositClaims(address controller) internal view returns (VaultStorage.Claimable memory c) {
        VaultStorage.DepositRequest memory r = _s().deposits[controller];
        if (r.claims) c = _s().depositClaims[controller];
        if (r.pending == 0) return c;
        uint256 strikePlusOne = _s().depositWindows[r.window].strikePlusOne;
        if (strikePlusOne != 0) {
            VaultStorage.Price memory p = _s().depositPrices[strikePlusOne - 1];
            c.assets += r.pending;
            c.shares += uint128(uint256(r.pending).mulDiv(p.shares, p.assets)); // down
        }
    }

    /// @dev The part of request `r` its window's strikes filled, pro rata: shares and assets.
    function _redeemFilled(VaultStorage.RedeemRequest memory r) internal view returns (uint256, uint256) {
        if (r.shares == 0) return (0, 0);
        VaultStorage.RedeemWindow memory e = _s().redeemWindows[r.window];
        if (e.filled == 0) return (0, 0);
        uint256 shares = e.filled == e.requested ? r.shares : uint256(r.shares).mulDiv(e.filled, e.requested);
        return (shares, uint256(r.shares).mulDiv(e.assets, e.requested));
    }

    /// @dev `controller`'s claimable redemptions (the bucket plus its request's fill not yet in it),
    ///      and that fill as (assets, shares).
    function _redeemClaims(address controller)
        internal
        view
        returns (VaultStorage.Claimable memory c, VaultStorage.Claimable memory fill)
    {
        VaultStorage.RedeemRequest memory r = _s().redeems[controller];
        if (r.claims) c = _s().redeemClaims[controller];
        (uint256 shares, uint256 assets) = _redeemFilled(r);
        fill = VaultStorage.Claimable(uint128(assets), uint128(shares));
        VaultStorage.Claimable memory folded =
            r.folded ? _s().redeemFolded[controller] : VaultStorage.Claimable(0, 0);
        c.shares += uint128(shares - folded.shares);
        c.assets += uint128(assets - folded.assets);
    }

    function _claimShares(
        address controller,
        address receiver,
        VaultStorage.Claimable memory c,
        uint256 assets,
        uint256 shares
    ) internal {
        // `c` counted a settled request: what is left of it is now in the claims bucket, written
        // only when it holds or held something; the request slot keeps only the flag, or clears.
        // A part of a settled request with an empty bucket is taken in place: the request keeps the
        // assets left, and their shares are counted again at the same price, rounded down, so the
        // parts never add up to more than the whole (no new slot for the bucket).
        VaultStorage.DepositRequest storage r = _s().deposits[controller];
        (c.assets, c.shares) = (c.assets - uint128(assets), c.shares - uint128(shares));
        bool any = c.assets != 0 || c.shares != 0;
        bool settled = r.pending == 0 || _s().depositWindows[r.window].strikePlusOne != 0;
        if (c.assets != 0 && settled && !r.claims) {
            r.pending -= uint128(assets);
        } else {
            if (any || r.claims) _s().depositClaims[controller] = c;
            if (settled) delete _s().deposits[controller];
            if (r.claims != any) r.claims = any;
        }
        _transfer(address(this), receiver, shares);
        emit Deposit(controller, receiver, assets, shares);
    }

    function _claimAssets(
        address controller,
        address receiver,
        VaultStorage.Claimable memory c,
        VaultStorage.Claimable memory fill,
        uint256 assets,
        uint256 shares
    ) internal {
        // `c` counted the request's fill: record it as folded (or clear a filled request). Buckets
        // are written only when they hold or held something (the request slot's flags say which).
        // A part of a wholly filled request with empty buckets is taken in place: the request keeps
        // the shares left, their assets counted again at the window's rate, rounded down, so the
        // parts never add up to more than the whole (no new slot for a bucket).
        VaultStorage.RedeemRequest storage r = _s().redeems[controller];
        VaultStorage.RedeemRequest memory m = r;
        (c.assets, c.shares) = (c.assets - uint128(assets), c.shares - uint128(shares));
        bool any = c.assets != 0 || c.shares != 0;
        bool whole = fill.shares != 0 && fill.shares == m.shares;
        if (c.shares != 0 && whole && !m.claims && !m.folded) {
            r.shares = m.shares - uint128(shares);
        } else {
            if (any || m.claims) _s().redeemClaims[controller] = c;
            if (whole) {
                if (m.folded) delete _s().redeemFolded[controller];
                delete _s().redeems[controller];
                m.claims = false; // the slot is cleared: the flag is set again below if needed
            } else if ((fill.shares | fill.assets) != 0) {
                // Assets for no whole share are a fill too (a share unit may be worth more than
                // an asset unit when the asset has 18 decimals): never claimable twice.
                _s().redeemFolded[controller] = fill;
                r.folded = true;
            }
            if (m.claims != any) r.claims = any;
        }
        _s().reservedAssets -= assets;
        IERC20(asset()).safeTransfer(receiver, assets);
        emit Withdraw(msg.sender, receiver, controller, assets, shares);
    }

    function _indexOf(ISleeve sleeve) internal view returns (uint256) {
        uint256 i = _s().indexPlusOne[address(sleeve)];
        if (i == 0) revert UnknownSleeve(address(sleeve));
        return i - 1;
    }
}
