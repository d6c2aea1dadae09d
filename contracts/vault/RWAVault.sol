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
import {VaultStorage} from "./VaultStorage.sol";

/// @title RWAVault
/// @notice ERC-4626 vault over a stablecoin held idle or in RWA sleeves (see IRWAVault for the
///         rules every function keeps).
/// @dev Roles: DEFAULT_ADMIN and GOVERNANCE (the timelock) manage sleeves, the withdraw queue,
///      the allowlist switch and the AgentRegistry; GUARDIAN pauses automation and shuts down;
///      ALLOWLIST manages allowlist entries. Rebalancing is for the agents the AgentRegistry
///      reports active (checked in RebalanceModule). Conversions are OpenZeppelin's
///      (`supply + 10**offset`, `totalAssets + 1`), computed once per call from one valuation.
contract RWAVault is ERC4626, AccessControl, ReentrancyGuardTransient, IRWAVault {
    using Math for uint256;
    using SafeCast for uint256;
    using SafeERC20 for IERC20;

    bytes32 public constant GOVERNANCE_ROLE = keccak256("GOVERNANCE_ROLE");
    bytes32 public constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");
    bytes32 public constant ALLOWLIST_ROLE = keccak256("ALLOWLIST_ROLE");

    /// @notice Most sleeves a vault holds (Yearn V3's withdraw queue limit).
    uint256 public constant MAX_SLEEVES = 10;
    /// @notice Most requests `redeemQueueTrigger` looks at.
    uint256 public constant TRIGGER_SCAN = 100;

    uint256 internal constant BPS = 10_000;
    bytes32 internal constant REBALANCE_COOLDOWN = keccak256("vault.rebalanceCooldown");
    bytes32 internal constant DEPOSIT_CAP = keccak256("vault.depositCap");

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
    }

    modifier onlyGuardianOrGovernance() {
        if (!hasRole(GUARDIAN_ROLE, msg.sender) && !hasRole(GOVERNANCE_ROLE, msg.sender)) {
            revert AccessControlUnauthorizedAccount(msg.sender, GUARDIAN_ROLE);
        }
        _;
    }

    // =================================================================== ERC-4626

    /// @notice Idle plus every sleeve's live valuation.
    function totalAssets() public view override returns (uint256 total) {
        (total,) = _valuation();
    }

    /// @notice 0 after shutdown, for a receiver off the allowlist, while a sleeve's price is
    ///         stale, and at `vault.depositCap`; otherwise the room left under the cap.
    function maxDeposit(address receiver) public view override returns (uint256) {
        VaultStorage.Flags memory f = _s().flags;
        if (f.shutdown || (f.allowlistEnabled && !_s().allowed[receiver])) return 0;
        (uint256 total, bool fresh) = _valuation();
        if (!fresh) return 0;
        return _room(total);
    }

    /// @notice Shares `maxDeposit` buys, rounded down (so `mint(maxMint)` never exceeds the cap).
    function maxMint(address receiver) public view override returns (uint256) {
        uint256 assets = maxDeposit(receiver);
        if (assets == 0) return 0;
        return _toShares(assets, totalAssets(), totalSupply(), Math.Rounding.Floor);
    }

    /// @notice What `owner`'s shares are worth, capped by the liquidity withdrawals can reach now.
    /// @dev When idle cannot pay it all, the withdrawal also pays for the pull's rounding (up to
    ///      1 wei per sleeve, see `withdraw`): the promise keeps that margin, so
    ///      `withdraw(maxWithdraw)` always succeeds.
    function maxWithdraw(address owner) public view override returns (uint256) {
        uint256 owned = _toAssets(balanceOf(owner), totalAssets(), totalSupply(), Math.Rounding.Floor);
        if (owned <= idle()) return owned;
        return Math.min(_lessWorstPullLoss(owned), _liquidityUpTo(owned));
    }

    /// @notice `owner`'s shares, or the shares the reachable liquidity pays for, whichever is less;
    ///         0 when they would redeem for 0 assets.
    function maxRedeem(address owner) public view override returns (uint256) {
        uint256 shares = balanceOf(owner);
        uint256 total = totalAssets();
        uint256 supply = totalSupply();
        uint256 owned = _toAssets(shares, total, supply, Math.Rounding.Floor);
        if (owned == 0) return 0; // dust worth nothing: `redeem` would revert ZeroAmount
        uint256 liquid = _liquidityUpTo(owned);
        // Rounded down, so `redeem(maxRedeem)` asks for at most `liquid`.
        if (owned > liquid) shares = _toShares(liquid, total, supply, Math.Rounding.Floor);
        uint256 value = _toAssets(shares, total, supply, Math.Rounding.Floor);
        // A redemption that needs a pull pays its rounding (up to 1 wei per sleeve): shares
        // worth no more than that would pay nothing, and `redeem` would revert.
        if (value == 0 || (value > idle() && _lessWorstPullLoss(value) == 0)) return 0;
        return shares;
    }

    /// @notice Shares `withdraw(assets)` burns, rounded up. Exact when idle covers `assets`; when
    ///         sleeves must pay, it adds the pull's worst rounding (1 wei per sleeve), so it is
    ///         never below what the call burns (ERC-4626).
    function previewWithdraw(uint256 assets) public view override returns (uint256) {
        uint256 worst = assets > idle() ? _s().withdrawQueue.length : 0;
        return _toShares(assets + worst, totalAssets(), totalSupply(), Math.Rounding.Ceil);
    }

    /// @notice Assets `redeem(shares)` pays, rounded down; exact when idle covers them, else less
    ///         the pull's worst rounding, so never above what the call pays (ERC-4626).
    function previewRedeem(uint256 shares) public view override returns (uint256) {
        uint256 assets = _toAssets(shares, totalAssets(), totalSupply(), Math.Rounding.Floor);
        return assets <= idle() ? assets : _lessWorstPullLoss(assets);
    }

    /// @notice Deposits `assets`, minting shares rounded down (the vault keeps the dust).
    function deposit(uint256 assets, address receiver) public override nonReentrant returns (uint256 shares) {
        uint256 total = _checkDeposit();
        uint256 room = _room(total);
        if (assets > room) revert ERC4626ExceededMaxDeposit(receiver, assets, room);
        shares = _toShares(assets, total, totalSupply(), Math.Rounding.Floor);
        if (shares == 0) revert ZeroAmount();
        _deposit(msg.sender, receiver, assets, shares);
    }

    /// @notice Mints `shares`, charging assets rounded up (the vault never undercharges).
    function mint(uint256 shares, address receiver) public override nonReentrant returns (uint256 assets) {
        if (shares == 0) revert ZeroAmount();
        uint256 total = _checkDeposit();
        uint256 supply = totalSupply();
        assets = _toAssets(shares, total, supply, Math.Rounding.Ceil);
        uint256 room = _room(total);
        if (assets > room) {
            revert ERC4626ExceededMaxMint(receiver, shares, _toShares(room, total, supply, Math.Rounding.Floor));
        }
        _deposit(msg.sender, receiver, assets, shares);
    }

    /// @notice Withdraws exactly `assets`, burning shares rounded up; pulls from sleeves as needed.
    /// @dev A pull can lower the valuation by up to 1 wei per sleeve (the issuer's rounding):
    ///      the shares burned also cover that loss, so those who stay never bear it.
    function withdraw(uint256 assets, address receiver, address owner)
        public
        override
        nonReentrant
        returns (uint256 shares)
    {
        if (assets == 0) revert ZeroAmount();
        uint256 total = totalAssets();
        uint256 supply = totalSupply();
        uint256 held = balanceOf(owner);
        uint256 owned = _toAssets(held, total, supply, Math.Rounding.Floor);
        if (assets > owned) revert ERC4626ExceededMaxWithdraw(owner, assets, owned);
        uint256 loss = _payOut(assets, total);
        if (assets + loss > owned) revert ERC4626ExceededMaxWithdraw(owner, assets, owned - loss);
        shares = _toShares(assets + loss, total, supply, Math.Rounding.Ceil);
        _withdraw(msg.sender, receiver, owner, assets, shares);
    }

    /// @notice Redeems exactly `shares`, paying assets rounded down, less the rounding of any
    ///         pull from sleeves it needed (see `withdraw`).
    function redeem(uint256 shares, address receiver, address owner)
        public
        override
        nonReentrant
        returns (uint256 assets)
    {
        if (shares == 0) revert ZeroAmount();
        uint256 held = balanceOf(owner);
        if (shares > held) revert ERC4626ExceededMaxRedeem(owner, shares, held);
        uint256 total = totalAssets();
        assets = _toAssets(shares, total, totalSupply(), Math.Rounding.Floor);
        if (assets == 0) revert ZeroAmount();
        uint256 loss = _payOut(assets, total);
        if (assets <= loss) revert ZeroAmount();
        assets -= loss;
        _withdraw(msg.sender, receiver, owner, assets, shares);
    }

    // =================================================================== redemption queue

    /// @inheritdoc IRWAVault
    function requestRedeem(uint256 shares, address receiver) external nonReentrant returns (uint256 requestId) {
        if (shares == 0) revert ZeroAmount();
        if (receiver == address(0)) revert ZeroAddress();
        _transfer(msg.sender, address(this), shares); // escrow: reverts on a short balance
        requestId = _s().tail++;
        // One request is two storage slots; a single request above 2^96 shares reverts (SafeCast).
        _s().requests[requestId] = RedeemRequest(msg.sender, shares.toUint96(), receiver);
        _s().queuedShares += shares;
        emit RedeemRequested(requestId, msg.sender, receiver, shares);
    }

    /// @inheritdoc IRWAVault
    function cancelRedeemRequest(uint256 requestId) external nonReentrant {
        RedeemRequest storage r = _s().requests[requestId];
        uint256 shares = r.shares;
        if (shares == 0) revert UnknownRequest(requestId);
        if (r.owner != msg.sender) revert NotRequestOwner(requestId, msg.sender);
        r.shares = 0;
        _s().queuedShares -= shares;
        _transfer(address(this), msg.sender, shares);
        emit RedeemCancelled(requestId, msg.sender, shares);
    }

    /// @dev One redemption batch: its price, the liquidity pulled for it and the rounding loss
    ///      of that pull still to charge (see `withdraw`).
    struct Batch {
        uint256 total;
        uint256 supply;
        uint256 available;
        uint256 loss;
    }

    /// @inheritdoc IRWAVault
    function processRedeemQueue(uint256 maxRequests)
        external
        nonReentrant
        returns (uint256 processed, uint256 assetsPaid)
    {
        uint256 head = _s().head;
        uint256 end = Math.min(_s().tail, head + Math.min(maxRequests, type(uint128).max));
        if (head == end) return (0, 0);
        Batch memory b = Batch(totalAssets(), totalSupply(), 0, 0);
        uint256 needed;
        for (uint256 id = head; id < end; ++id) {
            needed += _toAssets(_s().requests[id].shares, b.total, b.supply, Math.Rounding.Floor);
        }
        // One price for the whole batch; the pull's rounding is taken from the first payments,
        // so those who stay never bear it.
        bool pulled;
        (b.available, pulled) = _pull(needed);
        if (pulled) b.loss = _pullLoss(b.total);

        for (; head < end; ++head) {
            (uint256 paid, bool done, bool full) = _payRequest(head, b);
            assetsPaid += paid;
            if (!done) break; // partly paid: the request keeps its place at the head
            if (full) ++processed;
        }
        // A pull whose rounding no payment covered (the batch paid too little) is charged to the
        // request that caused it, in escrowed shares, never to those who stay.
        if (b.loss != 0 && head < end) _chargeEscrow(head, b);
        _s().head = uint128(head);
    }

    function _chargeEscrow(uint256 id, Batch memory b) internal {
        RedeemRequest storage r = _s().requests[id];
        uint256 shares = Math.min(r.shares, _toShares(b.loss, b.total, b.supply, Math.Rounding.Ceil));
        if (shares == 0) return;
        r.shares -= uint96(shares);
        _s().queuedShares -= shares;
        _burn(address(this), shares);
        emit RedeemProcessed(id, r.receiver, shares, 0, r.shares);
    }

    /// @dev Pays request `id` as far as `b.available` allows; `done` when nothing of it is left
    ///      in the queue (paid in full, cancelled, or refused by the asset), `full` when paid in
    ///      full.
    function _payRequest(uint256 id, Batch memory b) internal returns (uint256 assets, bool done, bool full) {
        RedeemRequest storage r = _s().requests[id];
        uint256 shares = r.shares;
        if (shares == 0) return (0, true, false); // cancelled
        assets = _toAssets(shares, b.total, b.supply, Math.Rounding.Floor);
        if (assets > b.available) {
            shares = _toShares(b.available, b.total, b.supply, Math.Rounding.Floor);
            assets = _toAssets(shares, b.total, b.supply, Math.Rounding.Floor);
            if (assets == 0) return (0, false, false);
        }
        uint256 charge = Math.min(b.loss, assets);
        address receiver = r.receiver;
        if (!IERC20(asset()).trySafeTransfer(receiver, assets - charge)) {
            // A receiver the asset refuses (e.g. blacklisted) must not block the queue: the
            // request leaves the queue with its shares escrowed; its owner may cancel it.
            emit RedeemPaymentFailed(id, receiver, assets - charge);
            return (0, true, false);
        }
        _burn(address(this), shares);
        uint256 left = r.shares - shares;
        r.shares = uint96(left);
        _s().queuedShares -= shares;
        b.available -= assets;
        b.loss -= charge;
        assets -= charge;
        emit Withdraw(address(this), receiver, address(this), assets, shares);
        emit RedeemProcessed(id, receiver, shares, assets, left);
        done = full = left == 0;
    }

    /// @inheritdoc IRWAVault
    function redeemQueueTrigger() external view returns (bool, bytes memory) {
        uint256 head = _s().head;
        uint256 end = Math.min(_s().tail, head + TRIGGER_SCAN);
        uint256 total = totalAssets();
        uint256 supply = totalSupply();
        uint256 owed;
        uint256 last;
        for (uint256 id = head; id < end; ++id) {
            uint256 shares = _s().requests[id].shares;
            if (shares == 0) continue;
            owed += _toAssets(shares, total, supply, Math.Rounding.Floor);
            last = id + 1;
        }
        if (owed == 0) return (false, bytes("queue empty"));
        uint256 liquid = _liquidityUpTo(owed);
        // Processing pays whole shares' worth: liquidity buying shares worth 0 pays nothing.
        uint256 payable_ = _toShares(liquid, total, supply, Math.Rounding.Floor);
        if (_toAssets(payable_, total, supply, Math.Rounding.Floor) == 0) return (false, bytes("no liquidity"));
        // Include every request up to the first one liquidity cannot pay in full.
        uint256 count;
        uint256 covered;
        for (uint256 id = head; id < last; ++id) {
            uint256 shares = _s().requests[id].shares;
            ++count;
            if (shares == 0) continue;
            covered += _toAssets(shares, total, supply, Math.Rounding.Floor);
            if (covered >= liquid) break;
        }
        return (true, abi.encodeCall(this.processRedeemQueue, (count)));
    }

    /// @inheritdoc IRWAVault
    function queuedShares() external view returns (uint256) {
        return _s().queuedShares;
    }

    /// @inheritdoc IRWAVault
    function redeemRequest(uint256 requestId) external view returns (RedeemRequest memory) {
        return _s().requests[requestId];
    }

    /// @inheritdoc IRWAVault
    function redeemQueueBounds() external view returns (uint256 head, uint256 tail) {
        return (_s().head, _s().tail);
    }

    // =================================================================== allocation

    /// @inheritdoc IRWAVault
    /// @dev The module checks the agent and every bound and computes the performance fee; the
    ///      vault mints the fee (ERC-20 state is the vault's) and hands it to the registry.
    function rebalance(uint16[] calldata, bytes32, string calldata)
        external
        nonReentrant
        returns (uint256 decisionId)
    {
        uint256 feeShares;
        (decisionId, feeShares) =
            abi.decode(Address.functionDelegateCall(rebalanceModule, msg.data), (uint256, uint256));
        if (feeShares != 0) {
            address agents = _s().agents;
            _mint(agents, feeShares);
            IAgentRegistry(agents).onFee(feeShares);
        }
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
    function donate(uint256 assets) external nonReentrant {
        if (assets == 0) revert ZeroAmount();
        IERC20(asset()).safeTransferFrom(msg.sender, address(this), assets);
        _s().donated += assets;
        emit Donated(msg.sender, assets);
    }


    /// @inheritdoc IRWAVault
    function decisionCount() external view returns (uint256) {
        return _s().decisions.length;
    }

    /// @inheritdoc IRWAVault
    /// @dev Unpacks VaultStorage.DecisionSlot.
    function decision(uint256 decisionId) external view returns (Decision memory d) {
        VaultStorage.DecisionSlot storage slot = _s().decisions[decisionId];
        ISleeve[] storage set = _s().sleeveSets[slot.sleeveSet];
        uint256 n = set.length;
        (d.agent, d.timestamp) = (slot.agent, slot.timestamp);
        (d.navBefore, d.navAfter) = (slot.navBefore, slot.navAfter);
        (d.oldBps, d.newBps) = (new uint16[](n), new uint16[](n));
        (d.startIndex, d.sleeves) = (new uint256[](n), new ISleeve[](n));
        for (uint256 i; i < n; ++i) {
            d.oldBps[i] = uint16(slot.oldBps >> (16 * i));
            d.newBps[i] = uint16(slot.newBps >> (16 * i));
            (d.startIndex[i], d.sleeves[i]) = (slot.startIndex[i], set[i]);
        }
    }

    /// @inheritdoc IRWAVault
    function nextRebalanceAt() external view returns (uint256) {
        uint256 last = _s().flags.lastRebalance;
        return last == 0 ? 0 : last + registry.get(REBALANCE_COOLDOWN);
    }

    /// @inheritdoc IRWAVault
    function currentBps() external view returns (uint16[] memory) {
        uint256 n = _s().sleeves.length;
        uint256[] memory held = new uint256[](n);
        uint256 total = IERC20(asset()).balanceOf(address(this));
        for (uint256 i; i < n; ++i) {
            held[i] = _s().sleeves[i].sleeve.totalAssets();
            total += held[i];
        }
        return _weights(held, total);
    }

    // =================================================================== sleeves

    /// @inheritdoc IRWAVault
    function addSleeve(ISleeve sleeve, string calldata name) external onlyRole(GOVERNANCE_ROLE) {
        if (address(sleeve) == address(0)) revert ZeroAddress();
        if (sleeve.vault() != address(this) || sleeve.asset() != asset()) revert InvalidSleeve(address(sleeve));
        if (_s().indexPlusOne[address(sleeve)] != 0) revert SleeveAlreadyAdded(address(sleeve));
        uint256 index = _s().sleeves.length;
        if (index == MAX_SLEEVES) revert TooManySleeves(MAX_SLEEVES);
        bytes32 capKey = keccak256(abi.encodePacked("vault.maxSleeveBps.", name));
        // `get` reverts UnknownParameter for an undefined key: report it in the vault's terms.
        try registry.get(capKey) returns (uint256) {}
        catch {
            revert SleeveCapUndefined(capKey);
        }
        _s().sleeves.push(VaultStorage.SleeveSlot(sleeve, capKey));
        _s().names[address(sleeve)] = name;
        _s().indexPlusOne[address(sleeve)] = index + 1;
        _s().withdrawQueue.push(uint8(index));
        emit SleeveAdded(index, address(sleeve), name);
    }

    /// @inheritdoc IRWAVault
    /// @dev Run by RebalanceModule.removeSleeve (code size): later sleeves shift down one index
    ///      (rebalance targets follow the new order) and the withdraw queue resets to index order.
    function removeSleeve(ISleeve) external onlyRole(GOVERNANCE_ROLE) {
        Address.functionDelegateCall(rebalanceModule, msg.data);
    }

    /// @inheritdoc IRWAVault
    function setWithdrawQueue(uint8[] calldata order) external onlyRole(GOVERNANCE_ROLE) {
        uint256 n = _s().sleeves.length;
        if (order.length != n) revert InvalidWithdrawQueue();
        uint256 seen;
        for (uint256 i; i < n; ++i) {
            uint256 bit = 1 << order[i];
            if (order[i] >= n || seen & bit != 0) revert InvalidWithdrawQueue();
            seen |= bit;
        }
        _s().withdrawQueue = order;
        emit WithdrawQueueSet(order);
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
        return IERC20(asset()).balanceOf(address(this));
    }

    /// @inheritdoc IRWAVault
    function liquidity() external view returns (uint256) {
        return _liquidityUpTo(type(uint256).max);
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

    /// @dev With the allowlist on, shares may only go to allowlisted accounts (and the vault's
    ///      own escrow); burning is always possible.
    function _update(address from, address to, uint256 value) internal override {
        if (to != address(0) && to != address(this) && _s().flags.allowlistEnabled && !_s().allowed[to]) {
            revert NotAllowlisted(to);
        }
        super._update(from, to, value);
    }

    function _decimalsOffset() internal view override returns (uint8) {
        return _offset;
    }

    /// @dev Deposit preconditions with a precise error each; returns the valuation to price with.
    function _checkDeposit() internal view returns (uint256 total) {
        VaultStorage.Flags memory f = _s().flags;
        if (f.shutdown) revert VaultIsShutdown();
        if (f.allowlistEnabled && !_s().allowed[msg.sender]) revert NotAllowlisted(msg.sender);
        bool fresh;
        (total, fresh) = _valuation();
        if (!fresh) revert StaleValuation(_firstStale());
    }

    function _room(uint256 total) internal view returns (uint256) {
        uint256 cap = registry.get(DEPOSIT_CAP);
        return total >= cap ? 0 : cap - total;
    }

    function _valuation() internal view returns (uint256 total, bool fresh) {
        total = IERC20(asset()).balanceOf(address(this));
        fresh = true;
        uint256 n = _s().sleeves.length;
        for (uint256 i; i < n; ++i) {
            (uint256 a, bool f) = _s().sleeves[i].sleeve.valuation();
            total += a;
            fresh = fresh && f;
        }
    }

    function _firstStale() internal view returns (address) {
        uint256 n = _s().sleeves.length;
        for (uint256 i; i < n; ++i) {
            (, bool f) = _s().sleeves[i].sleeve.valuation();
            if (!f) return address(_s().sleeves[i].sleeve);
        }
        return address(0);
    }

    /// @dev OpenZeppelin's conversion with the valuation passed in (computed once per call).
    function _toShares(uint256 assets, uint256 total, uint256 supply, Math.Rounding rounding)
        internal
        view
        returns (uint256)
    {
        return assets.mulDiv(supply + 10 ** _offset, total + 1, rounding);
    }

    function _toAssets(uint256 shares, uint256 total, uint256 supply, Math.Rounding rounding)
        internal
        view
        returns (uint256)
    {
        return shares.mulDiv(total + 1, supply + 10 ** _offset, rounding);
    }

    /// @dev Idle plus sleeves' available liquidity in withdraw-queue order, stopping once `enough`
    ///      is reached. A sleeve whose view reverts counts as illiquid.
    function _liquidityUpTo(uint256 enough) internal view returns (uint256 liquid) {
        liquid = IERC20(asset()).balanceOf(address(this));
        uint256 n = _s().withdrawQueue.length;
        for (uint256 i; i < n && liquid < enough; ++i) {
            try _s().sleeves[_s().withdrawQueue[i]].sleeve.availableLiquidity() returns (uint256 a) {
                liquid += a;
            } catch {}
        }
    }

    /// @dev `amount` less the most a pull can cost in rounding: 1 wei per sleeve it may draw on.
    function _lessWorstPullLoss(uint256 amount) internal view returns (uint256) {
        uint256 worst = _s().withdrawQueue.length;
        return amount > worst ? amount - worst : 0;
    }

    /// @dev Valuation lost by a pull, against `totalBefore` (the valuation before it).
    function _pullLoss(uint256 totalBefore) internal view returns (uint256) {
        uint256 totalAfter = totalAssets();
        return totalBefore > totalAfter ? totalBefore - totalAfter : 0;
    }

    /// @dev Makes idle cover `assets` or reverts with what is reachable; returns the valuation
    ///      the pull lost to rounding (0 when idle sufficed).
    function _payOut(uint256 assets, uint256 totalBefore) internal returns (uint256 loss) {
        (uint256 available, bool pulled) = _pull(assets);
        if (available < assets) revert InsufficientLiquidity(assets, available);
        if (pulled) loss = _pullLoss(totalBefore);
    }

    /// @dev Pulls from sleeves in withdraw-queue order until idle covers `assets` (best effort);
    ///      returns idle and whether a sleeve was asked. A sleeve that reverts is skipped, never
    ///      allowed to block withdrawals.
    function _pull(uint256 assets) internal returns (uint256 have, bool pulled) {
        IERC20 token = IERC20(asset());
        have = token.balanceOf(address(this));
        uint256 n = _s().withdrawQueue.length;
        for (uint256 i; i < n && have < assets; ++i) {
            ISleeve sleeve = _s().sleeves[_s().withdrawQueue[i]].sleeve;
            uint256 ask = assets - have;
            try sleeve.availableLiquidity() returns (uint256 a) {
                if (a == 0) continue;
                if (a < ask) ask = a;
            } catch {
                continue;
            }
            pulled = true;
            try sleeve.withdraw(ask) {
                have = token.balanceOf(address(this));
            } catch {
                emit SleeveWithdrawFailed(address(sleeve), ask);
            }
        }
    }


    function _indexOf(ISleeve sleeve) internal view returns (uint256) {
        uint256 i = _s().indexPlusOne[address(sleeve)];
        if (i == 0) revert UnknownSleeve(address(sleeve));
        return i - 1;
    }

    /// @dev Sleeve weights in bps of `total`, rounded down (idle takes the remainder).
    function _weights(uint256[] memory held, uint256 total) internal pure returns (uint16[] memory w) {
        w = new uint16[](held.length);
        if (total == 0) return w;
        for (uint256 i; i < held.length; ++i) {
            w[i] = uint16(held[i].mulDiv(BPS, total));
        }
    }

}
