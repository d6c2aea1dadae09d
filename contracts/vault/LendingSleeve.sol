// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IInterestRateModel} from "interfaces/IInterestRateModel.sol";
import {ILendingSleeve} from "interfaces/ILendingSleeve.sol";
import {IOracleRouter} from "interfaces/IOracleRouter.sol";
import {IParameterRegistry} from "interfaces/IParameterRegistry.sol";
import {ISleeve} from "interfaces/ISleeve.sol";

/// @title LendingSleeve
/// @notice The vault's lending book: borrowers post RWA collateral and borrow the vault's
///         stablecoin; keepers liquidate unhealthy positions; bad debt is written off at once.
///         Every rule and rounding direction is stated in ILendingSleeve.
/// @dev Roles: GOVERNANCE (the timelock) lists collateral. Risk knobs are
///      the registry's `lend.*` parameters, read when used. Interest state lives in three slots
///      (`_book`, `_rates`, `_supplyIndex`), loaded into a `State` in memory, accrued there and
///      written back once per call.
contract LendingSleeve is ILendingSleeve, AccessControl, ReentrancyGuardTransient {
    using Math for uint256;
    using SafeCast for uint256;
    using SafeERC20 for IERC20;

    bytes32 public constant GOVERNANCE_ROLE = keccak256("GOVERNANCE_ROLE");
    /// @notice Most collateral tokens (a position's tokens are a 16-bit mask).
    uint256 public constant MAX_COLLATERALS = 16;
    /// @notice Fewest decimals a collateral token may have (see `listCollateral`).
    uint8 public constant MIN_COLLATERAL_DECIMALS = 6;

    uint256 internal constant WAD = 1e18;
    uint256 internal constant BPS = 10_000;
    uint256 internal constant BPS_TO_WAD = 1e14;
    uint256 internal constant YEAR = 365 days;
    bytes32 internal constant CLOSE_FACTOR = keccak256("lend.closeFactorBps");
    bytes32 internal constant FULL_CLOSE_HEALTH = keccak256("lend.fullCloseHealthBps");
    bytes32 internal constant MIN_DEBT = keccak256("lend.minDebt");
    bytes32 internal constant CONFIRM_DELAY = keccak256("oracle.confirmDelay");
    bytes32 internal constant STALE_HAIRCUT_BPS = keccak256("vault.staleHaircutBps");
    bytes32 internal constant CALL_NOTICE = keccak256("lend.callNoticePeriod");

    struct Collateral {
        address token;
        uint8 decimals;
        bytes32 ltvKey;
        bytes32 thresholdKey;
        bytes32 bonusKey;
        bytes32 capKey;
        uint128 usage; // principal attributed to this token (borrow cap), Σ `_backing` shares
        uint128 scaledUsage; // the scaled debt resting on it (stale exposure), Σ scaled shares
    }

    struct PositionSlot {
        uint128 scaled;
        uint112 principal;
        uint16 mask; // bit i: holds collateral i
    }

    /// @dev The book's interest state, in memory.
    struct State {
        uint256 cash;
        uint256 totalScaled;
        uint256 borrowIndex;
        uint256 rate;
        uint256 lastAccrual;
        uint256 supplyIndex;
    }

    struct Book {
        uint128 cash;
        uint128 totalScaled;
    }

    struct Rates {
        uint128 borrowIndex;
        uint64 rate;
        uint40 lastAccrual;
    }

    /// @dev One liquidation, sized (see `_plan`). `others`: the value of the borrower's other
    ///      tokens at the liquidation's prices; `sweep`: what it leaves is dust (swept, written off).
    struct Plan {
        uint256 debt;
        uint256 repay;
        uint256 seized;
        uint256 held;
        uint256 health;
        uint256 others;
        bool sweep;
    }

    address public immutable override vault;
    address public immutable override asset;
    IParameterRegistry public immutable registry;
    IOracleRouter public immutable router;
    uint256 internal immutable _assetUnit;

    IInterestRateModel public immutable interestRateModel;
    Book internal _book;
    Rates internal _rates;
    uint256 internal _supplyIndex;

    Collateral[] internal _collaterals;
    mapping(address token => uint256) internal _indexPlusOne;
    mapping(address token => string) internal _names;
    mapping(address borrower => PositionSlot) internal _positions;
    mapping(address borrower => mapping(address token => uint256)) internal _collateral;
    /// @dev The part of a position's principal attributed to each of its tokens (borrow caps):
    ///      Σ over the position's tokens == its principal; 0 for a token it does not hold. Above
    ///      bit 128, the same split of its scaled debt (its interest with it: Σ == its scaled
    ///      units), from which what a stale token backs is read (`scaledUsage`).
    mapping(address borrower => mapping(address token => uint256)) internal _backing;
    /// @inheritdoc ILendingSleeve
    uint256 public loansDueAt;

    /// @param vault_ The RWAVault that supplies and recalls the cash.
    /// @param admin Receives DEFAULT_ADMIN and GOVERNANCE (the deployer, who hands them to the
    ///        timelock once collateral is listed).
    constructor(
        address vault_,
        IParameterRegistry registry_,
        IOracleRouter router_,
        IInterestRateModel model,
        address admin
    ) {
        if (
            vault_ == address(0) || address(registry_) == address(0) || address(router_) == address(0)
                || address(model) == address(0) || admin == address(0)
        ) revert ZeroAddress();
        address asset_ = IVaultAsset(vault_).asset();
        vault = vault_;
        asset = asset_;
        registry = registry_;
        router = router_;
        interestRateModel = model;
        _assetUnit = 10 ** IERC20Metadata(asset_).decimals();
        _rates = Rates(uint128(WAD), 0, uint40(block.timestamp));
        _supplyIndex = WAD;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(GOVERNANCE_ROLE, admin);
    }

    modifier onlyVault() {
        if (msg.sender != vault) revert OnlyVault(msg.sender);
        _;
    }

    // =================================================================== ISleeve (the vault)

    /// @inheritdoc ISleeve
    function totalAssets() external view override returns (uint256) {
        State memory s = _accrued();
        return s.cash + _totalDebt(s);
    }

    /// @inheritdoc ISleeve
    /// @dev Debt is nominal: the book's value never depends on a price, so it is always fresh
    ///      here (a decision that moves the book still waits for its collateral's prices: the
    ///      vault records a moved sleeve's `returnIndexStatus`). Losses reach it as bad debt,
    ///      when a liquidation realises them; strikes wait for that (`strikeValuation`).
    function valuation() external view override returns (uint256, bool) {
        State memory s = _accrued();
        return (s.cash + _totalDebt(s), true);
    }

    /// @inheritdoc ISleeve
    /// @dev The book's value is nominal, but it is only as good as the collateral behind the
    ///      debt, and a position can be liquidated (its loss realised) only at a usable price:
    ///      while tokens backing more than 1 bps of the book have no fresh price the book is not
    ///      fresh (deposits wait; a strike values it as stale only `vault.strikeMaxWait` after
    ///      those tokens' newest round). Then leavers are paid without the debt those tokens back
    ///      (`_collateralStatus`) and no more: `low` is grossed up by `vault.staleHaircutBps`,
    ///      which the strike takes off a stale sleeve's `low`, so the doubt is charged once.
    function strikeValuation() external view override returns (uint256, uint256, uint256, bool) {
        State memory s = _accrued();
        uint256 value = s.cash + _totalDebt(s);
        (bool fresh, uint256 at, uint256 exposed) = _collateralStatus(s, value);
        if (fresh) return (value, value, block.timestamp, true);
        uint256 rest = Math.max(value.saturatingSub(exposed), s.cash);
        uint256 haircut = registry.get(STALE_HAIRCUT_BPS);
        // Grossed up by the vault's haircut (which it takes off a stale sleeve's low): leavers
        // are paid the book less the exposed debt, never less. `low` may exceed `high` then;
        // the strike's fee counts each sleeve at the lower of the two (RebalanceModule._strike).
        if (haircut < BPS) rest = rest.mulDiv(BPS, BPS - haircut);
        return (rest, value, at, false);
    }

    /// @inheritdoc ISleeve
    function availableLiquidity() external view override returns (uint256) {
        return _book.cash;
    }

    /// @inheritdoc ISleeve
    function returnIndex() external view override returns (uint256) {
        return _accrued().supplyIndex;
    }

    /// @inheritdoc ISleeve
    /// @dev Fresh while every listed token backing debt has a fresh price: a loss the book
    ///      cannot realise yet is no evidence to judge an agent on (`strikeValuation`).
    function returnIndexStatus() external view override returns (uint256, bool) {
        State memory s = _accrued();
        (bool fresh,,) = _collateralStatus(s, s.cash + _totalDebt(s));
        return (s.supplyIndex, fresh);
    }

    /// @dev The debt backed by listed tokens without a fresh price (`exposed`: what the positions'
    ///      shares of them owe now, Σ `scaledUsage` at the borrow index, rounded up: the interest
    ///      of those very shares, which no other position's borrow or repayment moves), and the
    ///      newest of their rounds
    ///      (`at`, the stale clock: `IOracleRouter.lastUsableAt`).
    ///      `fresh` while that debt is at most 1 bps of the book's `value` (dust neither holds
    ///      the book up nor is counted). A position can be liquidated, its loss realised, only at
    ///      a fresh price; a move beyond the band is no bar (liquidations use the live price).
    function _collateralStatus(State memory s, uint256 value)
        internal
        view
        returns (bool fresh, uint256 at, uint256 exposed)
    {
        uint256 n = _collaterals.length;
        for (uint256 i; i < n; ++i) {
            Collateral storage c = _collaterals[i];
            uint256 owed = c.scaledUsage;
            if (owed == 0) continue;
            try router.tryPrice(c.token) returns (uint256, bool live) {
                if (live) continue;
            } catch {} // never priced and unreadable now: no price at all
            exposed += owed;
            // Its newest usable price (a stale round's time; for an unusable answer the last
            // usable one the router knows: one faulty round is waited for, IOracleRouter).
            try router.lastUsableAt(c.token) returns (uint256 t) {
                if (t > at) at = t;
            } catch {}
        }
        exposed = _debtOf(exposed, s.borrowIndex);
        fresh = exposed * BPS <= value;
    }

    /// @inheritdoc ISleeve
    function deposit(uint256 assets) external override onlyVault nonReentrant {
        State memory s = _accrued();
        uint256 held = IERC20(asset).balanceOf(address(this));
        if (held < s.cash + assets) revert MissingAssets(s.cash + assets, held);
        s.cash += assets;
        _commit(s);
        emit Supplied(assets);
    }

    /// @inheritdoc ISleeve
    /// @dev Sends `min(assets, cash)`: lent-out stablecoin comes back only as borrowers repay.
    function withdraw(uint256 assets) external override onlyVault nonReentrant returns (uint256 withdrawn) {
        State memory s = _accrued();
        withdrawn = Math.min(assets, s.cash);
        if (withdrawn == 0) return 0;
        s.cash -= withdrawn;
        _commit(s);
        IERC20(asset).safeTransfer(vault, withdrawn);
        emit Recalled(assets, withdrawn);
    }

    // =================================================================== borrowers

    /// @inheritdoc ILendingSleeve
    function depositCollateral(address token, uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        uint256 index = _listedIndex(token);
        // Collateral is posted only at a verifiable price: posted while its feed is stale (the
        // token may be worth nothing by now) it would count at the stale answer and shield an
        // insolvent position from liquidation. The poke (anyone may send one) reverts as `price`
        // does, and leaves the token a router reference to fall back on should its feed break.
        router.poke(token);
        PositionSlot memory pos = _positions[msg.sender];
        uint16 bit = uint16(1 << index);
        if (pos.mask & bit == 0) {
            pos.mask |= bit;
            _positions[msg.sender] = pos;
        }
        _collateral[msg.sender][token] += amount;
        // A position with debt attributes its principal again, the new collateral included
        // (`_rebase`, pro rata to borrow power): debt a token is posted behind rests on it, so
        // the book counts it exposed when that token's price stops (`strikeValuation`). As a
        // borrow against that share, it must fit the token's cap (`BorrowCapExceeded`, as an
        // over-cap supply in Aave): nobody fills a cap others borrow under by posting behind
        // debt they took elsewhere; a wei backs nothing. Without debt nothing is attributed.
        // Only the token posted is checked: another token's share rises here only as prices
        // moved since the last attribution (a top-up adds no debt), and a top-up that keeps a
        // position from liquidation is never refused for a cap someone else filled.
        if (pos.principal != 0) _rebase(msg.sender, pos, bit);
        IERC20(token).safeTransferFrom(msg.sender, address(this), amount);
        emit CollateralDeposited(msg.sender, token, amount);
    }

    /// @inheritdoc ILendingSleeve
    function withdrawCollateral(address token, uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        uint256 index = _listedIndex(token);
        uint256 held = _collateral[msg.sender][token];
        if (amount > held) revert InsufficientCollateralBalance(token, amount, held);
        uint256 left = held - amount;
        _collateral[msg.sender][token] = left;
        PositionSlot memory pos = _positions[msg.sender];
        if (left == 0) {
            pos.mask &= ~uint16(1 << index);
            _positions[msg.sender] = pos;
            _dropBacking(msg.sender, index);
        }
        if (pos.scaled != 0) {
            // Interest to now, without storing it: only cash/debt changes write the book.
            uint256 debt = _debtOf(pos.scaled, _accrued().borrowIndex);
            (uint256 power,) = _borrowPower(msg.sender, pos.mask, true);
            if (debt > power) revert InsufficientCollateral(debt, power);
        }
        // The principal now rests on what is left, pro rata: as for a borrow, a token whose share
        // rises must stay within its cap (else posting a capped token and taking others out would
        // move debt onto it past its cap).
        if (pos.principal != 0) _rebase(msg.sender, pos, pos.mask);
        IERC20(token).safeTransfer(msg.sender, amount);
        emit CollateralWithdrawn(msg.sender, token, amount);
    }

    /// @inheritdoc ILendingSleeve
    function borrow(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        // A vault winding down lends no more: its cash is on the way back to depositors.
        if (IVaultAsset(vault).isShutdown()) revert VaultIsShutdown();
        State memory s = _accrued();
        if (amount > s.cash) revert InsufficientCash(amount, s.cash);
        PositionSlot memory pos = _positions[msg.sender];
        // The borrower owes at least `amount` more: scaled units rounded up.
        uint256 added = amount.mulDiv(WAD, s.borrowIndex, Math.Rounding.Ceil);
        pos.scaled = (pos.scaled + added).toUint128();
        s.totalScaled += added;
        uint256 debt = _debtOf(pos.scaled, s.borrowIndex);
        uint256 minDebt = _param(MIN_DEBT);
        if (debt < minDebt) revert DebtBelowMinimum(debt, minDebt);
        (uint256 power,) = _borrowPower(msg.sender, pos.mask, true);
        if (debt > power) revert InsufficientCollateral(debt, power);
        pos.principal = (pos.principal + amount).toUint112();
        // The principal is attributed to the tokens pro rata to what each adds to the borrow
        // power; only a token whose share rises is checked against its cap (dust backs ~nothing).
        _rebase(msg.sender, pos, pos.mask);
        _positions[msg.sender] = pos;
        s.cash -= amount;
        _commit(s);
        IERC20(asset).safeTransfer(msg.sender, amount);
        emit Borrowed(msg.sender, amount, debt);
    }

    /// @inheritdoc ILendingSleeve
    function repay(uint256 amount, address onBehalfOf) external nonReentrant returns (uint256 repaid) {
        if (amount == 0) revert ZeroAmount();
        if (onBehalfOf == address(0)) revert ZeroAddress();
        State memory s = _accrued();
        PositionSlot memory pos = _positions[onBehalfOf];
        uint256 debt = _debtOf(pos.scaled, s.borrowIndex);
        if (debt == 0) revert NoDebt(onBehalfOf);
        repaid = Math.min(amount, debt);
        uint256 principal = pos.principal;
        uint256 left = _reduceDebt(s, pos, repaid, debt);
        _scaleBacking(onBehalfOf, pos, principal);
        if (left != 0) {
            uint256 minDebt = _param(MIN_DEBT);
            if (left < minDebt && debt >= minDebt) revert DustDebt(left, minDebt);
        }
        _positions[onBehalfOf] = pos;
        s.cash += repaid;
        _commit(s);
        IERC20(asset).safeTransferFrom(msg.sender, address(this), repaid);
        emit Repaid(onBehalfOf, msg.sender, repaid, left);
    }

    // =================================================================== keepers

    /// @inheritdoc ILendingSleeve
    function liquidate(address borrower, address token, uint256 repayAmount)
        external
        nonReentrant
        returns (uint256 seized)
    {
        State memory s = _accrued();
        Plan memory p = _plan(s, borrower, token, repayAmount);
        PositionSlot memory pos = _positions[borrower];
        uint256 bookDebt = _totalDebt(s);
        _reduceDebt(s, pos, p.repay, p.debt);
        s.cash += p.repay;

        uint256 index = _indexPlusOne[token] - 1;
        uint256 left = p.held - p.seized;
        _collateral[borrower][token] = left;
        if (left == 0) {
            pos.mask &= ~uint16(1 << index);
            _dropBacking(borrower, index);
        }
        // Dust left behind the debt (see `_size`) goes to the liquidator with the seizure: the
        // position has no collateral left. `swept`: the amounts, per collateral index.
        uint256[MAX_COLLATERALS] memory swept;
        if (p.sweep) {
            swept = _sweep(borrower, pos.mask);
            pos.mask = 0;
        }
        if (pos.mask == 0 && pos.scaled != 0) {
            // No collateral (or only dust) left behind the debt: write it off now, never count
            // it as an asset. The loss is what the book's counted debt fell by beyond the
            // repayment, so the book's totalAssets() falls by exactly `loss`.
            s.totalScaled -= pos.scaled;
            pos.scaled = 0;
            pos.principal = 0;
            uint256 loss = (bookDebt - _totalDebt(s)).saturatingSub(p.repay);
            // Over the supply before the loss: cash (repayment included) plus debt, loss included.
            if (loss != 0) {
                s.supplyIndex -= s.supplyIndex.mulDiv(loss, s.cash + _totalDebt(s) + loss, Math.Rounding.Ceil);
            }
            emit BadDebtRealized(borrower, loss);
        }
        // The principal left rests on the tokens left, at this liquidation's prices (no cap
        // check: a liquidation is never refused for a cap).
        _rebase(borrower, pos, 0);
        _positions[borrower] = pos;
        _commit(s);
        seized = p.seized;
        IERC20(asset).safeTransferFrom(msg.sender, address(this), p.repay);
        IERC20(token).safeTransfer(msg.sender, seized);
        for (uint256 i; i < MAX_COLLATERALS; ++i) {
            if (swept[i] != 0) IERC20(_collaterals[i].token).safeTransfer(msg.sender, swept[i]);
        }
        emit Liquidated(borrower, msg.sender, token, p.repay, seized);
    }

    /// @inheritdoc ILendingSleeve
    function liquidationTrigger(address borrower) external view returns (bool, bytes memory) {
        State memory s = _accrued();
        PositionSlot memory pos = _positions[borrower];
        uint256 debt = _debtOf(pos.scaled, s.borrowIndex);
        if (debt == 0) return (false, bytes("no debt"));
        (uint256 adjusted, bool stale) = _adjusted(borrower, pos.mask);
        if (!_due() && adjusted.mulDiv(WAD, debt * BPS) >= WAD) return (false, bytes("healthy"));
        // The collateral (with a fresh price) whose liquidation pays the largest bonus.
        address best;
        uint256 bestGain;
        for (uint256 i; (pos.mask >> i) != 0; ++i) {
            if ((pos.mask >> i) & 1 == 0) continue;
            Collateral storage c = _collaterals[i];
            try this.previewLiquidation(borrower, c.token, type(uint256).max) returns (uint256 repay, uint256 seized) {
                uint256 gain = _value(seized, _liquidationPrice(c.token), c.decimals).saturatingSub(repay);
                if (best == address(0) || gain > bestGain) (best, bestGain) = (c.token, gain);
            } catch {}
        }
        if (best == address(0)) return (false, bytes(stale ? "stale price" : "nothing to seize"));
        // "As much as allowed when mined": the best repay, robust to interest, repayments and
        // price moves in between (previewLiquidation says how much that is now).
        return (true, abi.encodeCall(this.liquidate, (borrower, best, type(uint256).max)));
    }

    /// @inheritdoc ILendingSleeve
    /// @dev The notice is read once, here: a later change of `lend.callNoticePeriod` does not
    ///      move a call already made.
    function callLoans() external returns (uint256 dueAt) {
        if (!IVaultAsset(vault).isShutdown()) revert NotShutdown();
        if (loansDueAt != 0) revert LoansAlreadyCalled(loansDueAt);
        dueAt = block.timestamp + _param(CALL_NOTICE);
        loansDueAt = dueAt;
        emit LoansCalled(block.timestamp, dueAt);
    }

    /// @inheritdoc ILendingSleeve
    function accrueInterest() external nonReentrant {
        _commit(_accrued());
    }

    // =================================================================== governance

    /// @inheritdoc ILendingSleeve
    function listCollateral(address token, string calldata name) external onlyRole(GOVERNANCE_ROLE) {
        if (token == address(0)) revert ZeroAddress();
        if (token == asset) revert UnsupportedCollateral(token);
        if (_indexPlusOne[token] != 0) revert CollateralAlreadyListed(token);
        uint256 index = _collaterals.length;
        if (index == MAX_COLLATERALS) revert TooManyCollaterals(MAX_COLLATERALS);
        if (router.feedOf(token) == address(0)) revert FeedNotSet(token);
        uint8 decimals = IERC20Metadata(token).decimals();
        // Fine units only: a liquidation must always be able to buy at least one unit, so one
        // unit has to be a small fraction of any position (a 0-decimal token worth a house is not).
        if (decimals < MIN_COLLATERAL_DECIMALS || decimals > 36) revert UnsupportedCollateral(token);
        _collaterals.push(
            Collateral({
                token: token,
                decimals: decimals,
                ltvKey: _requireParameter("lend.ltvBps.", name),
                thresholdKey: _requireParameter("lend.liqThresholdBps.", name),
                bonusKey: _requireParameter("lend.liqBonusBps.", name),
                capKey: _requireParameter("lend.borrowCap.", name),
                usage: 0,
                scaledUsage: 0
            })
        );
        _indexPlusOne[token] = index + 1;
        _names[token] = name;
        emit CollateralListed(token, name, index);
    }

    // =================================================================== views

    /// @inheritdoc ILendingSleeve
    function healthFactor(address borrower) external view returns (uint256) {
        PositionSlot memory pos = _positions[borrower];
        uint256 debt = _debtOf(pos.scaled, _accrued().borrowIndex);
        if (debt == 0) return type(uint256).max;
        if (_due()) return 0; // a called loan past its notice is in default, whatever it holds
        (uint256 adjusted,) = _adjusted(borrower, pos.mask);
        return adjusted.mulDiv(WAD, debt * BPS);
    }

    /// @inheritdoc ILendingSleeve
    function debtOf(address borrower) external view returns (uint256) {
        return _debtOf(_positions[borrower].scaled, _accrued().borrowIndex);
    }

    /// @inheritdoc ILendingSleeve
    function borrowPower(address borrower) external view returns (uint256) {
        (uint256 power,) = _borrowPower(borrower, _positions[borrower].mask, false);
        return power;
    }

    /// @inheritdoc ILendingSleeve
    function maxBorrow(address borrower) external view returns (uint256 room) {
        if (IVaultAsset(vault).isShutdown()) return 0;
        State memory s = _accrued();
        PositionSlot memory pos = _positions[borrower];
        uint256 debt = _debtOf(pos.scaled, s.borrowIndex);
        (uint256 power, bool stale) = _borrowPower(borrower, pos.mask, false);
        if (stale) return 0; // `borrow` would revert StalePrice
        room = Math.min(s.cash, _capRoom(borrower, pos.mask, pos.principal));
        // A borrow of x raises the debt by at most x + ceil(borrowIndex / WAD): both roundings
        // (scaled units added, debt read back) are up.
        room = Math.min(room, power.saturatingSub(debt + s.borrowIndex.ceilDiv(WAD)));
        if (debt + room < _param(MIN_DEBT)) return 0;
    }

    /// @inheritdoc ILendingSleeve
    function collateralOf(address borrower, address token) external view returns (uint256) {
        return _collateral[borrower][token];
    }

    /// @inheritdoc ILendingSleeve
    function positionOf(address borrower) external view returns (Position memory p) {
        PositionSlot memory pos = _positions[borrower];
        p.debt = _debtOf(pos.scaled, _accrued().borrowIndex);
        p.principal = pos.principal;
        uint256 n;
        for (uint256 m = pos.mask; m != 0; m &= m - 1) ++n;
        p.tokens = new address[](n);
        p.amounts = new uint256[](n);
        uint256 k;
        for (uint256 i; (pos.mask >> i) != 0; ++i) {
            if ((pos.mask >> i) & 1 == 0) continue;
            address token = _collaterals[i].token;
            (p.tokens[k], p.amounts[k]) = (token, _collateral[borrower][token]);
            ++k;
        }
    }

    /// @inheritdoc ILendingSleeve
    function collateralTokens() external view returns (address[] memory tokens) {
        uint256 n = _collaterals.length;
        tokens = new address[](n);
        for (uint256 i; i < n; ++i) {
            tokens[i] = _collaterals[i].token;
        }
    }

    /// @inheritdoc ILendingSleeve
    function collateralName(address token) external view returns (string memory) {
        _listedIndex(token);
        return _names[token];
    }

    /// @inheritdoc ILendingSleeve
    function capUsage(address token) external view returns (uint256) {
        return _collaterals[_listedIndex(token)].usage;
    }

    /// @inheritdoc ILendingSleeve
    function capUsageOf(address borrower, address token) external view returns (uint256) {
        _listedIndex(token);
        return uint128(_backing[borrower][token]);
    }

    /// @inheritdoc ILendingSleeve
    function cash() external view returns (uint256) {
        return _book.cash;
    }

    /// @inheritdoc ILendingSleeve
    function totalDebt() external view returns (uint256) {
        return _totalDebt(_accrued());
    }

    /// @inheritdoc ILendingSleeve
    function borrowIndex() external view returns (uint256) {
        return _accrued().borrowIndex;
    }

    /// @inheritdoc ILendingSleeve
    function borrowRate() external view returns (uint256) {
        return _rates.rate;
    }

    /// @inheritdoc ILendingSleeve
    function utilization() external view returns (uint256) {
        State memory s = _accrued();
        uint256 debt = _totalDebt(s);
        return debt == 0 ? 0 : debt.mulDiv(WAD, s.cash + debt);
    }

    /// @inheritdoc ILendingSleeve
    function previewLiquidation(address borrower, address token, uint256 repayAmount)
        external
        view
        returns (uint256 repaid, uint256 seized)
    {
        Plan memory p = _plan(_accrued(), borrower, token, repayAmount);
        return (p.repay, p.seized);
    }

    // =================================================================== internals

    /// @dev The most a borrow may add to `principal` within the caps, as `_rebase` will attribute
    ///      it at these prices: a token's share of a principal Q is at most floor(Q * w / W) + 1
    ///      (exactly Q when it carries all the weight), and it passes while it stays within
    ///      max(its share now, cap - the others' usage).
    function _capRoom(address borrower, uint16 mask, uint256 principal) internal view returns (uint256 room) {
        room = type(uint256).max;
        (uint256[MAX_COLLATERALS] memory w, uint256 total) = _capWeights(borrower, mask);
        if (total == 0) return 0; // no borrow power: `borrow` refuses anyway
        for (uint256 i; (mask >> i) != 0; ++i) {
            if (w[i] == 0) continue;
            Collateral storage c = _collaterals[i];
            uint256 own = uint128(_backing[borrower][c.token]);
            uint256 limit = Math.max(own, registry.get(c.capKey).saturatingSub(c.usage - own));
            uint256 most = w[i] == total ? limit : limit.saturatingSub(1).mulDiv(total, w[i]);
            room = Math.min(room, most.saturatingSub(principal));
        }
    }

    /// @dev The book's state with interest accrued to now (not stored).
    function _accrued() internal view returns (State memory s) {
        Book memory b = _book;
        Rates memory r = _rates;
        s = State(b.cash, b.totalScaled, r.borrowIndex, r.rate, r.lastAccrual, _supplyIndex);
        uint256 dt = block.timestamp - s.lastAccrual;
        s.lastAccrual = block.timestamp;
        if (dt == 0 || s.rate == 0 || s.totalScaled == 0) return s;
        uint256 debtBefore = _totalDebt(s);
        // Linear between accruals; rounded up: the borrowers owe the rounding.
        s.borrowIndex += s.borrowIndex.mulDiv(s.rate * dt, WAD * YEAR, Math.Rounding.Ceil);
        // Lenders' return: the interest over what was supplied (cash + debt), rounded down.
        // totalScaled > 0 and borrowIndex >= 1e18 make debtBefore >= 1, so the division is safe.
        uint256 interest = _totalDebt(s) - debtBefore;
        s.supplyIndex += s.supplyIndex.mulDiv(interest, s.cash + debtBefore);
    }

    /// @dev Stores `s` with the rate model's answer for its cash and debt: the rate in force
    ///      until the next action.
    function _commit(State memory s) internal {
        // Capped at what the slot holds (1,844% a year) rather than ever reverting: a model
        // answering more must not freeze repayments and liquidations.
        s.rate = Math.min(interestRateModel.borrowRate(s.cash, _totalDebt(s)), type(uint64).max);
        _book = Book(s.cash.toUint128(), s.totalScaled.toUint128());
        _rates = Rates(s.borrowIndex.toUint128(), s.rate.toUint64(), uint40(s.lastAccrual));
        _supplyIndex = s.supplyIndex;
    }

    /// @dev Lowers `pos`'s debt (now `debt`) by `amount` <= debt; returns the debt left. Scaled
    ///      units leave rounded down (the borrower is credited at most what was paid); repaying
    ///      the whole debt clears them. Interest is paid first: principal only falls to the debt.
    ///      The caller moves the cap shares (`_scaleBacking` or `_rebase`).
    function _reduceDebt(State memory s, PositionSlot memory pos, uint256 amount, uint256 debt)
        internal
        pure
        returns (uint256 left)
    {
        uint256 out = amount == debt ? pos.scaled : amount.mulDiv(WAD, s.borrowIndex);
        pos.scaled -= uint128(out);
        s.totalScaled -= out;
        left = _debtOf(pos.scaled, s.borrowIndex);
        if (left < pos.principal) pos.principal = uint112(left);
    }

    /// @dev Attributes `pos.principal` to the tokens of `pos.mask` pro rata to `_capWeights`
    ///      (cumulative rounding down: token k gets floor(P * W_k / W) - floor(P * W_(k-1) / W), W_k
    ///      the weights up to k, so the shares add up to the principal exactly); equal weights when
    ///      all are 0; `pos.scaled` alike. A token of `checked` whose share rises must end with
    ///      usage <= its cap.
    function _rebase(address borrower, PositionSlot memory pos, uint16 checked) internal {
        uint16 mask = pos.mask;
        if (mask == 0) return;
        uint256[MAX_COLLATERALS] memory w;
        uint256 total;
        // One token carries it all whatever the prices: no price to read (the common case).
        if (pos.principal != 0 && mask & (mask - 1) != 0) (w, total) = _capWeights(borrower, mask);
        if (total == 0) {
            for (uint256 i; (mask >> i) != 0; ++i) {
                if ((mask >> i) & 1 == 1) (w[i], total) = (1, total + 1);
            }
        }
        uint256 cumulative;
        uint256 given;
        uint256 scaledGiven;
        for (uint256 i; (mask >> i) != 0; ++i) {
            if ((mask >> i) & 1 == 0) continue;
            cumulative += w[i];
            uint256 upTo = uint256(pos.principal).mulDiv(cumulative, total);
            uint256 scaledUpTo = uint256(pos.scaled).mulDiv(cumulative, total);
            _setBacking(borrower, i, upTo - given, scaledUpTo - scaledGiven, (checked >> i) & 1 == 1);
            (given, scaledGiven) = (upTo, scaledUpTo);
        }
    }

    /// @dev The principal fell from `from` to `pos.principal` (a repayment): each share falls pro
    ///      rata, by the same cumulative rounding as `_rebase` (no share rises; they add up to the
    ///      principal); the scaled shares split `pos.scaled` alike (it fell even if the principal
    ///      did not: interest is paid first).
    function _scaleBacking(address borrower, PositionSlot memory pos, uint256 from) internal {
        if (from == 0) return; // no principal: nothing attributed (a position with debt has some)
        uint16 mask = pos.mask;
        uint256 cumulative;
        uint256 given;
        uint256 scaledGiven;
        for (uint256 i; (mask >> i) != 0; ++i) {
            if ((mask >> i) & 1 == 0) continue;
            cumulative += uint128(_backing[borrower][_collaterals[i].token]);
            uint256 upTo = cumulative.mulDiv(pos.principal, from);
            uint256 scaledUpTo = cumulative.mulDiv(pos.scaled, from);
            _setBacking(borrower, i, upTo - given, scaledUpTo - scaledGiven, false);
            (given, scaledGiven) = (upTo, scaledUpTo);
        }
    }

    /// @dev Sets the borrower's share of collateral `index`, and the token's usage with it; with
    ///      `check`, a rise must leave usage within the cap (`BorrowCapExceeded`); and its share of
    ///      the position's scaled debt (`scaledShare`), and the token's `scaledUsage` with it.
    function _setBacking(address borrower, uint256 index, uint256 share, uint256 scaledShare, bool check)
        internal
    {
        Collateral storage c = _collaterals[index];
        uint256 packed = _backing[borrower][c.token];
        uint256 next = share | scaledShare << 128; // share <= uint112, scaledShare <= uint128
        if (packed == next) return;
        _backing[borrower][c.token] = next;
        uint256 old = uint128(packed);
        uint256 usage = c.usage - old + share;
        (c.usage, c.scaledUsage) = (uint128(usage), uint128(c.scaledUsage - (packed >> 128) + scaledShare));
        if (check && share > old) {
            uint256 cap = registry.get(c.capKey);
            if (usage > cap) revert BorrowCapExceeded(c.token, usage, cap);
        }
    }

    /// @dev Collateral `index` leaves the position: its share of the principal leaves its usage.
    function _dropBacking(address borrower, uint256 index) internal {
        _setBacking(borrower, index, 0, 0, false);
    }

    /// @dev Empties the borrower's collateral of `mask` (a dust write-off), for the liquidator.
    function _sweep(address borrower, uint16 mask) internal returns (uint256[MAX_COLLATERALS] memory swept) {
        for (uint256 i; (mask >> i) != 0; ++i) {
            if ((mask >> i) & 1 == 0) continue;
            address t = _collaterals[i].token;
            swept[i] = _collateral[borrower][t];
            _collateral[borrower][t] = 0;
            _dropBacking(borrower, i);
            emit CollateralSwept(borrower, msg.sender, t, swept[i]);
        }
    }

    /// @dev Each token's weight in the cap attribution, `value * min(ltv, threshold)` at the best
    ///      price available (what it adds to the borrow power, x 1e4), and their sum.
    function _capWeights(address borrower, uint16 mask)
        internal
        view
        returns (uint256[MAX_COLLATERALS] memory w, uint256 total)
    {
        for (uint256 i; (mask >> i) != 0; ++i) {
            if ((mask >> i) & 1 == 0) continue;
            Collateral storage c = _collaterals[i];
            (uint256 price,) = router.tryPrice(c.token);
            uint256 ltv = Math.min(registry.get(c.ltvKey), registry.get(c.thresholdKey));
            w[i] = _value(_collateral[borrower][c.token], price, c.decimals) * ltv;
            total += w[i];
        }
    }

    /// @dev Sizes a liquidation (ILendingSleeve's rules) with fresh prices, or reverts why not.
    function _plan(State memory s, address borrower, address token, uint256 repayAmount)
        internal
        view
        returns (Plan memory p)
    {
        if (repayAmount == 0) revert ZeroAmount();
        uint256 index = _listedIndex(token);
        PositionSlot memory pos = _positions[borrower];
        p.debt = _debtOf(pos.scaled, s.borrowIndex);
        if (p.debt == 0) revert NoDebt(borrower);
        p.held = _collateral[borrower][token];
        if (p.held == 0) revert NoCollateral(borrower, token);

        (uint256 price, uint256 threshold) = _freshHealth(p, borrower, pos.mask, index);
        // A called loan is due whole (`callLoans`): liquidatable as if at health 0, so its
        // whole debt may go at once (no close factor); otherwise only below health 1.
        if (_due()) p.health = 0;
        else if (p.health >= WAD) revert HealthyPosition(borrower, p.health);
        _size(p, index, price, threshold, repayAmount);
    }

    /// @dev Sets `p.health` and `p.others` (the other tokens' value at the same prices); returns
    ///      the price and threshold of collateral `index`. Every token counts at its router
    ///      `liquidationPrice` (the live price, never below the band's lower edge around the
    ///      reference): an unconfirmed fall counts at once to the band's edge, in full once
    ///      confirmed; a rise counts at once (never above the live price, so health >= 1 at live
    ///      prices is never liquidated). The price of `index` must be fresh (`StalePrice`: nothing is
    ///      seized at a price nobody can verify); another token without a band counts at the best
    ///      available (`tryPrice`), so that a lapsed feed of some other token, even one wei of it
    ///      posted on purpose, never shields a position from liquidation.
    function _freshHealth(Plan memory p, address borrower, uint16 mask, uint256 index)
        internal
        view
        returns (uint256 price, uint256 threshold)
    {
        uint256 adjusted;
        for (uint256 i; (mask >> i) != 0; ++i) {
            if ((mask >> i) & 1 == 0) continue;
            Collateral storage c = _collaterals[i];
            uint256 pr;
            if (i == index) pr = router.liquidationPrice(c.token);
            else pr = _liquidationPrice(c.token);
            uint256 lt = registry.get(c.thresholdKey);
            uint256 value = _value(_collateral[borrower][c.token], pr, c.decimals);
            adjusted += value * lt;
            if (i == index) (price, threshold) = (pr, lt);
            else p.others += value;
        }
        p.health = adjusted.mulDiv(WAD, p.debt * BPS);
    }

    /// @dev `registry.get(key)`, one copy of the call for the paths outside liquidations.
    function _param(bytes32 key) internal view returns (uint256) {
        return registry.get(key);
    }

    /// @dev The loans are called (`callLoans`) and the notice is over.
    function _due() internal view returns (bool) {
        // 0 (not called) wraps to the largest time: never due.
        unchecked {
            return loansDueAt - 1 < block.timestamp;
        }
    }

    /// @dev `token`'s router `liquidationPrice`, or, when it has none (not fresh), the best price
    ///      available (`tryPrice`): what a liquidation values it at.
    function _liquidationPrice(address token) internal view returns (uint256 price) {
        try router.liquidationPrice(token) returns (uint256 p) {
            return p;
        } catch {}
        (price,) = router.tryPrice(token);
    }

    /// @dev The repay and seizure of an unhealthy position (`p.debt`, `p.held`, `p.health` set).
    function _size(Plan memory p, uint256 index, uint256 price, uint256 threshold, uint256 repayAmount)
        internal
        view
    {
        // lend.minDebt is read only where it matters (a full close with collateral to spare,
        // the common deep liquidation, never needs it); type(uint256).max means "not read yet".
        uint256 minDebt = type(uint256).max;
        uint256 maxRepay = p.debt;
        if (p.health >= registry.get(FULL_CLOSE_HEALTH) * BPS_TO_WAD) {
            // At most the whole debt, whatever bounds governance gave the factor.
            uint256 part = p.debt.mulDiv(Math.min(registry.get(CLOSE_FACTOR), BPS), BPS);
            minDebt = registry.get(MIN_DEBT);
            // A close factor that would leave dust (or round to nothing) lets the whole debt go.
            if (part != 0 && p.debt - part >= minDebt) maxRepay = part;
        }
        p.repay = Math.min(repayAmount, maxRepay);

        Collateral storage col = _collaterals[index];
        uint256 bonus = registry.get(col.bonusKey);
        // threshold * (1 + bonus) <= 100%: a liquidation near health 1 always raises health.
        if (threshold != 0) bonus = Math.min(bonus, (BPS * BPS / threshold).saturatingSub(BPS));
        uint256 tokenUnit = 10 ** col.decimals;
        // Seized collateral rounds down: the liquidator never gets a wei more than the bonus.
        p.seized = p.repay.mulDiv((BPS + bonus) * WAD * tokenUnit, BPS * price * _assetUnit);
        if (p.seized >= p.held) {
            p.seized = p.held;
            // The repay that buys all of it, rounded up: the liquidator pays the rounding.
            uint256 all = p.held.mulDiv(price * _assetUnit * BPS, WAD * tokenUnit * (BPS + bonus), Math.Rounding.Ceil);
            p.repay = Math.min(p.repay, all);
        }
        if (p.seized == 0) revert ZeroAmount(); // a repay too small to buy one unit
        uint256 remaining = p.debt - p.repay;
        if (remaining == 0) return;
        if (minDebt == type(uint256).max) minDebt = registry.get(MIN_DEBT);
        // Dust: what the borrower would keep is worth less than lend.minDebt (or nothing) and
        // less than the debt left. No liquidation of it could repay lend.minDebt, the size below
        // which one is uneconomic, and the borrower owns nothing in it: it is swept to this
        // liquidator and the debt left is written off (`liquidate`), never kept as an asset.
        // Only a liquidation that took all it could (all of `token`, or the most this position
        // lets go) may leave dust: a smaller repay chosen to leave it would buy the dust for
        // nothing and write off more debt, out of depositors' pockets.
        uint256 left = _value(p.held - p.seized, price, col.decimals);
        uint256 rest = p.others + left;
        if (rest < Math.max(minDebt, 1) && rest < remaining) {
            if (p.seized != p.held && p.repay != maxRepay) revert DustDebt(remaining, minDebt);
            p.sweep = true;
            return;
        }
        if (p.seized != p.held && remaining < minDebt) revert DustDebt(remaining, minDebt);
        // Nor may it leave dust of `token` behind the other tokens: a later liquidation taking
        // those would sweep it for nothing (the same dust, made to order in two steps).
        if (p.seized != p.held && p.repay != maxRepay && left < minDebt) {
            revert DustCollateral(col.token, left, minDebt);
        }
    }

    /// @dev Σ value * min(ltv, threshold) / 1e4: with fresh prices (reverting `StalePrice`), or
    ///      with the best available and whether one of them was stale. A fresh price is the low
    ///      end of the router's `priceBand`: value leaves against a move beyond
    ///      `oracle.maxDeviationBps` only once the move is confirmed.
    function _borrowPower(address borrower, uint16 mask, bool fresh)
        internal
        view
        returns (uint256 weighted, bool stale)
    {
        for (uint256 i; (mask >> i) != 0; ++i) {
            if ((mask >> i) & 1 == 0) continue;
            Collateral storage c = _collaterals[i];
            uint256 price;
            if (fresh) {
                price = _lendablePrice(c.token);
            } else {
                bool ok;
                (price, ok) = router.tryPrice(c.token);
                if (ok) price = _lendablePrice(c.token);
                stale = stale || !ok;
            }
            uint256 ltv = Math.min(registry.get(c.ltvKey), registry.get(c.thresholdKey));
            weighted += _value(_collateral[borrower][c.token], price, c.decimals) * ltv;
        }
        weighted /= BPS;
    }

    /// @dev The price value may leave against: the low end of the router's `priceBand`, and no
    ///      more than its reference while that reference is younger than `oracle.confirmDelay`.
    ///      A reference follows the feed within the band at once (IOracleRouter rule 2), so two
    ///      rounds each within the band of the last, poked in between, would otherwise lend
    ///      against twice the band that no confirmation ever checked.
    function _lendablePrice(address token) internal view returns (uint256 price) {
        (price,) = router.priceBand(token);
        (uint256 ref, uint256 acceptedAt) = router.lastPrice(token);
        if (ref != 0 && ref < price && block.timestamp < acceptedAt + registry.get(CONFIRM_DELAY)) price = ref;
    }

    /// @dev Σ value * threshold (not yet divided by 1e4) at the best prices available, and
    ///      whether one of them was stale: the health views' numerator (and the trigger's
    ///      "healthy": no token's liquidation price is below its best price, so a position
    ///      healthy here is healthy for a liquidation too).
    function _adjusted(address borrower, uint16 mask) internal view returns (uint256 adjusted, bool stale) {
        for (uint256 i; (mask >> i) != 0; ++i) {
            if ((mask >> i) & 1 == 0) continue;
            Collateral storage c = _collaterals[i];
            (uint256 price, bool fresh) = router.tryPrice(c.token);
            stale = stale || !fresh;
            adjusted += _value(_collateral[borrower][c.token], price, c.decimals) * registry.get(c.thresholdKey);
        }
    }

    function _requireParameter(string memory prefix, string calldata name) internal view returns (bytes32 key) {
        key = keccak256(abi.encodePacked(prefix, name));
        // `get` reverts UnknownParameter for an undefined key: report it in the book's terms.
        try registry.get(key) returns (uint256) {}
        catch {
            revert CollateralParameterUndefined(key);
        }
    }

    function _listedIndex(address token) internal view returns (uint256) {
        uint256 i = _indexPlusOne[token];
        if (i == 0) revert UnsupportedCollateral(token);
        return i - 1;
    }

    /// @dev A borrower's debt, rounded up.
    function _debtOf(uint256 scaled, uint256 index) internal pure returns (uint256) {
        return scaled.mulDiv(index, WAD, Math.Rounding.Ceil);
    }

    /// @dev The book's debt, rounded down.
    function _totalDebt(State memory s) internal pure returns (uint256) {
        return s.totalScaled.mulDiv(s.borrowIndex, WAD);
    }

    /// @dev Base-asset value of `amount` collateral at WAD `price`, rounded down.
    function _value(uint256 amount, uint256 price, uint8 decimals) internal view returns (uint256) {
        return amount.mulDiv(price * _assetUnit, WAD * 10 ** decimals);
    }
}

interface IVaultAsset {
    function asset() external view returns (address);
    function isShutdown() external view returns (bool);
}
