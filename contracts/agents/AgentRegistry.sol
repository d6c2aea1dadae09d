// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IAgentRegistry} from "interfaces/IAgentRegistry.sol";
import {IParameterRegistry} from "interfaces/IParameterRegistry.sol";
import {IRWAVault} from "interfaces/IRWAVault.sol";
import {ISleeve} from "interfaces/ISleeve.sol";

/// @title AgentRegistry
/// @notice Strategy agents' bonds, the evaluation of every decision they make, slashing with a
///         guardian veto, and their share of the performance fee (IAgentRegistry states every
///         rule and formula).
/// @dev The bond is the vault's asset; rewards are the vault's shares. Every `agent.*` parameter
///      is read from the ParameterRegistry when used, except the evaluation and veto windows,
///      which are fixed when a decision is reported and a slash opened (a later change never
///      moves a deadline someone is waiting for).
contract AgentRegistry is IAgentRegistry, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;
    using Math for uint256;

    bytes32 internal constant MIN_STAKE = keccak256("agent.minStake");
    bytes32 internal constant ACTIVATION_DELAY = keccak256("agent.activationDelay");
    bytes32 internal constant UNBONDING_PERIOD = keccak256("agent.unbondingPeriod");
    bytes32 internal constant EVAL_WINDOW = keccak256("agent.evalWindow");
    bytes32 internal constant TOLERANCE_BPS = keccak256("agent.toleranceBps");
    bytes32 internal constant MAX_SLASH_BPS = keccak256("agent.maxSlashBps");
    bytes32 internal constant VETO_WINDOW = keccak256("agent.vetoWindow");
    bytes32 internal constant REWARD_SHARE_BPS = keccak256("agent.rewardShareBps");
    /// @dev The vault's guardian role (RWAVault.GUARDIAN_ROLE): the vault's guardian vetoes.
    bytes32 internal constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");
    /// @dev The vault's governance role (RWAVault.GOVERNANCE_ROLE): it may suspend agents too.
    bytes32 internal constant GOVERNANCE_ROLE = keccak256("GOVERNANCE_ROLE");

    uint256 internal constant BPS = 10_000;
    uint256 internal constant WAD = 1e18;
    /// @notice Weight of the newest decision in the reputation EWMA, in bps.
    int256 public constant REPUTATION_WEIGHT_BPS = 2_000;
    /// @notice Returned by `evaluate` as `slashId` when no slash was opened.
    uint256 public constant NO_SLASH = type(uint256).max;

    /// @dev A decision's moves against the later decisions walked so far (`_moves`, `_reverse`):
    ///      `ahead[i]`, what later moves the same way as the decision's added on top of it and no
    ///      reversal has undone yet (a reversal undoes the newest moves first).
    struct Reversals {
        int256[] kept;
        int256[] banked;
        int256[] ahead;
        uint256 live;
    }

    /// @dev One agent's reward bookkeeping: `points` earned in round `round`, `settled` shares,
    ///      and `debt`: value its decisions lost that no later value added has made up yet
    ///      (asset units; IAgentRegistry, "Rewards: net value added").
    struct RewardAccount {
        uint64 round;
        uint256 points;
        uint256 settled;
        uint256 debt;
    }

    /// @dev A closed reward round: the shares it split (its pot, capped at what its points are
    ///      worth) and the points they were split among.
    struct RewardRound {
        uint256 pot;
        uint256 points;
    }

    /// @inheritdoc IAgentRegistry
    address public immutable override vault;
    /// @inheritdoc IAgentRegistry
    address public immutable override asset;
    /// @inheritdoc IAgentRegistry
    address public immutable override treasury;
    IParameterRegistry public immutable registry;

    mapping(address agent => Agent) internal _agents;
    uint256 internal _staked;
    uint256 internal _unbonding;
    uint256 internal _slashed;

    mapping(uint256 decisionId => DecisionRecord) internal _decisions;
    uint256[] internal _open;
    mapping(uint256 decisionId => uint256) internal _openPosPlusOne;

    Slash[] internal _slashes;
    uint256[] internal _pending;
    mapping(uint256 slashId => uint256) internal _pendingPosPlusOne;

    mapping(address agent => RewardAccount) internal _rewards;
    /// @notice The reward round fees currently accrue points for (closed by the next fee).
    uint64 public rewardRound;
    /// @notice Points earned in the current round, by all agents.
    uint256 public roundPoints;
    /// @notice Agents' fee shares no round has paid out yet (waiting for points: a round with none,
    ///         and what a round's points were not worth, carry to the next).
    uint256 public undistributedRewards;
    /// @dev The shares paid (`pot`: at most what the points are worth) and points of each closed
    ///      round: an agent's part is `pot · points / total` (rounded down once, IAgentRegistry's
    ///      pro-rata rule).
    mapping(uint256 round => RewardRound) internal _closedRounds;

    /// @param vault_ The vault whose asset is bonded, whose decisions are evaluated and whose
    ///        guardian may veto slashes.
    /// @param registry_ The ParameterRegistry holding the agent.* parameters.
    /// @param treasury_ Receives the performance fee that does not reward agents.
    constructor(address vault_, IParameterRegistry registry_, address treasury_) {
        if (vault_ == address(0) || address(registry_) == address(0) || treasury_ == address(0)) {
            revert ZeroAddress();
        }
        vault = vault_;
        asset = IERC4626(vault_).asset();
        registry = registry_;
        treasury = treasury_;
    }

    // =================================================================== agents

    /// @inheritdoc IAgentRegistry
    function register(string calldata metadataURI) external {
        if (bytes(metadataURI).length == 0) revert EmptyMetadataURI();
        Agent storage a = _agents[msg.sender];
        if (a.registered) revert AlreadyRegistered(msg.sender);
        a.registered = true;
        a.metadataURI = metadataURI;
        emit AgentRegistered(msg.sender, metadataURI);
    }

    /// @inheritdoc IAgentRegistry
    function updateMetadata(string calldata metadataURI) external {
        if (bytes(metadataURI).length == 0) revert EmptyMetadataURI();
        _registered(msg.sender).metadataURI = metadataURI;
        emit MetadataUpdated(msg.sender, metadataURI);
    }

    /// @inheritdoc IAgentRegistry
    function stake(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        Agent storage a = _registered(msg.sender);
        uint256 bonded = a.stake + amount;
        a.stake = bonded;
        _staked += amount;
        // The activation clock starts when the bond first reaches the minimum.
        if (a.bondedSince == 0 && bonded >= registry.get(MIN_STAKE)) a.bondedSince = uint64(block.timestamp);
        IERC20(asset).safeTransferFrom(msg.sender, address(this), amount);
        emit Staked(msg.sender, amount, bonded);
    }

    /// @inheritdoc IAgentRegistry
    function requestUnbond(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        Agent storage a = _registered(msg.sender);
        uint256 bonded = a.stake;
        if (amount > bonded) revert InsufficientStake(amount, bonded);
        bonded -= amount;
        a.stake = bonded;
        a.unbonding += amount;
        _staked -= amount;
        _unbonding += amount;
        uint256 readyAt = block.timestamp + registry.get(UNBONDING_PERIOD);
        a.unbondReadyAt = uint64(readyAt);
        // Below the minimum the agent stops being active; bonding again restarts the clock.
        if (bonded < registry.get(MIN_STAKE)) a.bondedSince = 0;
        emit UnbondRequested(msg.sender, amount, a.unbonding, readyAt);
    }

    /// @inheritdoc IAgentRegistry
    function withdrawUnbonded() external nonReentrant returns (uint256 amount) {
        Agent storage a = _registered(msg.sender);
        amount = a.unbonding;
        if (amount == 0) revert NothingToWithdraw(msg.sender);
        if (block.timestamp < a.unbondReadyAt) revert UnbondingNotReady(a.unbondReadyAt);
        // A decision still to evaluate, or a slash still pending, keeps the bond in place.
        if (a.openDecisions != 0 || a.pendingSlashes != 0) revert WithdrawalLocked(a.openDecisions, a.pendingSlashes);
        a.unbonding = 0;
        _unbonding -= amount;
        IERC20(asset).safeTransfer(msg.sender, amount);
        emit UnbondedWithdrawn(msg.sender, amount);
    }

    /// @inheritdoc IAgentRegistry
    function claimRewards() external nonReentrant returns (uint256 shares) {
        RewardAccount storage r = _settle(msg.sender);
        shares = r.settled;
        if (shares == 0) revert NoRewards(msg.sender);
        r.settled = 0;
        IERC20(vault).safeTransfer(msg.sender, shares);
        emit RewardsClaimed(msg.sender, shares);
    }

    // =================================================================== vault

    /// @inheritdoc IAgentRegistry
    function onDecision(address agent, uint256 decisionId) external {
        if (msg.sender != vault) revert NotVault(msg.sender);
        // Saturated, never reverted: a parameter the DAO set past a field's range (a tolerance
        // meaning "never slash", a window meaning "never due") must not stop rebalances.
        // (The window is capped before the sum: a window near 2^256 overflowed it.)
        uint256 dueAt = block.timestamp + Math.min(registry.get(EVAL_WINDOW), type(uint40).max);
        dueAt = Math.min(dueAt, type(uint40).max);
        uint256 window = dueAt - block.timestamp; // the window as recorded
        Agent storage a = _agents[agent];
        // The tolerance is a budget per window of time, not per decision: a decision has the
        // part of it for the part of its window that the agent's earlier decisions' windows
        // do not still cover (all of it once they have ended), rounded down, so a move
        // split into several decisions is tolerated no more than once (found in an agent
        // review: each part fell inside its own tolerance). The windows as they were
        // recorded: a window governance shortens or lengthens meanwhile neither refills the
        // budget early nor cuts it after they ended (found in an agent review).
        uint256 tolerance = Math.min(registry.get(TOLERANCE_BPS), type(uint16).max);
        uint256 lastDueAt = a.lastDueAt;
        if (lastDueAt > block.timestamp) {
            uint256 open = lastDueAt - block.timestamp;
            tolerance = open < window ? tolerance * (window - open) / window : 0;
        }
        _decisions[decisionId] = DecisionRecord(
            agent, uint40(dueAt), false, uint16(tolerance), uint16(Math.min(registry.get(MAX_SLASH_BPS), BPS))
        );
        _open.push(decisionId);
        _openPosPlusOne[decisionId] = _open.length;
        // The latest end of its windows (a shortened window may end before an earlier one).
        (a.openDecisions, a.lastDueAt) = (a.openDecisions + 1, uint48(Math.max(dueAt, lastDueAt)));
        emit DecisionReported(decisionId, agent, dueAt);
    }

    /// @inheritdoc IAgentRegistry
    function onFee(uint256 shares) external nonReentrant {
        if (msg.sender != vault) revert NotVault(msg.sender);
        // At most the whole fee, whatever bounds governance gave the share (a share above it
        // would make every strike that charges a fee revert: exits held while the price is up).
        uint256 toAgents = shares.mulDiv(Math.min(registry.get(REWARD_SHARE_BPS), BPS), BPS); // down: treasury gets the dust
        uint256 toTreasury = shares - toAgents;
        uint256 pot = undistributedRewards + toAgents;
        uint256 round = rewardRound;
        uint256 points = roundPoints;
        if (points == 0) {
            undistributedRewards = pot; // nobody earned this round: the next one gets it
        } else {
            // `convertToShares` cannot revert here: it reads what the strike just valued
            // (IAgentRegistry, "Rewards").
            _closeRound(round, pot, points);
        }
        if (toTreasury != 0) IERC20(vault).safeTransfer(treasury, toTreasury);
        emit FeeReceived(shares, toAgents, toTreasury, round);
    }

    /// @inheritdoc IAgentRegistry
    function closeRound() external nonReentrant {
        if (!IRWAVault(vault).isShutdown()) revert NotShutdown();
        uint256 points = roundPoints;
        if (points == 0) revert NoRoundPoints();
        uint256 round = rewardRound;
        uint256 paid = _closeRound(round, undistributedRewards, points);
        emit RoundClosed(round, paid, points);
    }

    // =================================================================== evaluation and slashing

    /// @inheritdoc IAgentRegistry
    function evaluate(uint256 decisionId) external nonReentrant returns (int256 excessBps, uint256 slashId) {
        DecisionRecord storage rec = _decisions[decisionId];
        address agent = rec.agent;
        if (agent == address(0)) revert UnknownDecision(decisionId);
        if (rec.evaluated) revert AlreadyEvaluated(decisionId);
        if (block.timestamp < rec.dueAt) revert EvaluationNotDue(decisionId, rec.dueAt);
        rec.evaluated = true;
        _removeOpen(decisionId);
        Agent storage a = _agents[agent];
        a.openDecisions -= 1;

        (int256 excess, uint256 slashAmount, int256 value) = _assess(decisionId, rec, a, true);
        int256 rep = a.reputation;
        rep += (excess - rep) * REPUTATION_WEIGHT_BPS / int256(BPS);
        a.reputation = rep;
        uint256 points = _net(agent, decisionId, value);
        emit ReputationUpdated(agent, excess, rep, points);

        slashId = NO_SLASH;
        if (slashAmount != 0) slashId = _openSlash(agent, decisionId, slashAmount);
        excessBps = excess / int256(WAD);
        emit Evaluated(decisionId, excessBps, slashAmount);
    }

    /// @inheritdoc IAgentRegistry
    function evaluateTrigger(uint256 decisionId) external view returns (bool, bytes memory) {
        DecisionRecord memory rec = _decisions[decisionId];
        if (rec.agent == address(0)) return (false, bytes("unknown decision"));
        if (rec.evaluated) return (false, bytes("already evaluated"));
        if (block.timestamp < rec.dueAt) return (false, bytes("not due"));
        (bool fresh,) = _freshEvidence(decisionId);
        if (!fresh) return (false, bytes("stale return index"));
        return (true, abi.encodeCall(this.evaluate, (decisionId)));
    }

    /// @inheritdoc IAgentRegistry
    function decisionsDue(uint256 max) external view returns (uint256[] memory ids) {
        uint256 n = _open.length;
        ids = new uint256[](Math.min(n, max));
        uint256 found;
        for (uint256 i; i < n && found < ids.length; ++i) {
            uint256 id = _open[i];
            if (block.timestamp < _decisions[id].dueAt) continue;
            // As `evaluateTrigger`: a decision whose evidence is stale cannot be evaluated now.
            (bool fresh,) = _freshEvidence(id);
            if (fresh) ids[found++] = id;
        }
        assembly ("memory-safe") {
            mstore(ids, found)
        }
    }

    /// @inheritdoc IAgentRegistry
    function openDecisions() external view returns (uint256[] memory) {
        return _open;
    }

    /// @inheritdoc IAgentRegistry
    function vetoSlash(uint256 slashId) external {
        if (!IAccessControl(vault).hasRole(GUARDIAN_ROLE, msg.sender)) revert NotGuardian(msg.sender);
        Slash storage s = _pendingSlash(slashId);
        if (block.timestamp >= s.vetoEndsAt) revert VetoWindowOver(slashId, s.vetoEndsAt);
        _closeSlash(slashId, s, SlashStatus.Vetoed);
        emit SlashVetoed(slashId, msg.sender);
    }

    /// @inheritdoc IAgentRegistry
    function setSuspended(address agent, bool suspended) external {
        IAccessControl v = IAccessControl(vault);
        if (!v.hasRole(GUARDIAN_ROLE, msg.sender) && !v.hasRole(GOVERNANCE_ROLE, msg.sender)) {
            revert NotGuardian(msg.sender);
        }
        Agent storage a = _registered(agent);
        if (a.suspended == suspended) revert SuspensionUnchanged(agent, suspended);
        a.suspended = suspended;
        emit AgentSuspended(agent, suspended, msg.sender);
    }

    /// @inheritdoc IAgentRegistry
    function executeSlash(uint256 slashId) external nonReentrant returns (uint256 amount) {
        Slash storage s = _pendingSlash(slashId);
        if (block.timestamp < s.vetoEndsAt) revert VetoWindowOpen(slashId, s.vetoEndsAt);
        _closeSlash(slashId, s, SlashStatus.Executed);
        address agent = s.agent;
        Agent storage a = _agents[agent];
        uint256 bonded = a.stake;
        uint256 unbonding = a.unbonding;
        amount = Math.min(s.amount, bonded + unbonding);
        // Bonded stake first, then what is unbonding.
        uint256 fromStake = Math.min(amount, bonded);
        uint256 fromUnbonding = amount - fromStake;
        a.stake = bonded - fromStake;
        a.unbonding = unbonding - fromUnbonding;
        a.slashed += amount;
        _staked -= fromStake;
        _unbonding -= fromUnbonding;
        _slashed += amount;
        if (a.stake < registry.get(MIN_STAKE)) a.bondedSince = 0;
        emit SlashExecuted(slashId, agent, amount);
        if (amount != 0) {
            IERC20(asset).forceApprove(vault, amount);
            IRWAVault(vault).donate(amount);
        }
    }

    /// @inheritdoc IAgentRegistry
    function pendingSlashes() external view returns (uint256[] memory) {
        return _pending;
    }

    // =================================================================== views

    /// @inheritdoc IAgentRegistry
    function isActive(address agent) external view returns (bool) {
        uint256 from = activeFrom(agent);
        return from != 0 && block.timestamp >= from;
    }

    /// @inheritdoc IAgentRegistry
    function activeFrom(address agent) public view returns (uint256) {
        Agent storage a = _agents[agent];
        uint256 since = a.bondedSince;
        // The minimum is read now: a raise by governance deactivates agents below it at once.
        // What pending slashes would take counts as gone (IAgentRegistry, "Activation"); by
        // subtraction, so that no minimum the DAO sets overflows the sum (a view that reverts).
        uint256 min = registry.get(MIN_STAKE);
        uint256 bonded = a.stake;
        if (since == 0 || a.suspended || bonded < min || bonded - min < a.slashPending) return 0;
        return since + registry.get(ACTIVATION_DELAY);
    }

    /// @inheritdoc IAgentRegistry
    function isSuspended(address agent) external view returns (bool) {
        return _agents[agent].suspended;
    }

    /// @inheritdoc IAgentRegistry
    function agentInfo(address agent) external view returns (Agent memory) {
        return _agents[agent];
    }

    /// @inheritdoc IAgentRegistry
    function reputation(address agent) external view returns (int256) {
        return _agents[agent].reputation;
    }

    /// @inheritdoc IAgentRegistry
    function claimableRewards(address agent) external view returns (uint256) {
        RewardAccount memory r = _rewards[agent];
        return r.settled + _due(r);
    }

    /// @inheritdoc IAgentRegistry
    function roundPointsOf(address agent) external view returns (uint256) {
        RewardAccount memory r = _rewards[agent];
        return r.round == rewardRound ? r.points : 0;
    }

    /// @inheritdoc IAgentRegistry
    function rewardDebt(address agent) external view returns (uint256) {
        return _rewards[agent].debt;
    }

    /// @notice Vault shares per reward point (WAD, rounded down) of a closed round; 0 for a round
    ///         not closed. Informational: agents are paid `pot · points / roundPoints` exactly
    ///         (`pot`: what the round paid, at most what its points were worth).
    function sharesPerPoint(uint256 round) external view returns (uint256) {
        RewardRound memory c = _closedRounds[round];
        return c.points == 0 ? 0 : c.pot.mulDiv(WAD, c.points);
    }

    /// @inheritdoc IAgentRegistry
    function decisionRecord(uint256 decisionId) external view returns (DecisionRecord memory) {
        return _decisions[decisionId];
    }

    /// @inheritdoc IAgentRegistry
    function slashInfo(uint256 slashId) external view returns (Slash memory) {
        if (slashId >= _slashes.length) revert UnknownSlash(slashId);
        return _slashes[slashId];
    }

    /// @inheritdoc IAgentRegistry
    function slashCount() external view returns (uint256) {
        return _slashes.length;
    }

    /// @inheritdoc IAgentRegistry
    function totals() external view returns (uint256 staked, uint256 unbonding) {
        return (_staked, _unbonding);
    }

    /// @inheritdoc IAgentRegistry
    function totalSlashed() external view returns (uint256) {
        return _slashed;
    }

    /// @inheritdoc IAgentRegistry
    function previewEvaluation(uint256 decisionId)
        external
        view
        returns (int256 excess, uint256 slashAmount, uint256 rewardPoints)
    {
        DecisionRecord memory rec = _decisions[decisionId];
        if (rec.agent == address(0)) revert UnknownDecision(decisionId);
        int256 value;
        (excess, slashAmount, value) = _assess(decisionId, rec, _agents[rec.agent], false);
        // What `_net` would add to the open round: the value beyond the agent's debt.
        uint256 debt = _rewards[rec.agent].debt;
        if (value > 0 && uint256(value) > debt) rewardPoints = uint256(value) - debt;
    }

    // =================================================================== internals

    function _registered(address agent) internal view returns (Agent storage a) {
        a = _agents[agent];
        if (!a.registered) revert NotRegistered(agent);
    }

    /// @dev Excess, slash and signed value added of a decision now (formulas: IAgentRegistry).
    ///      With `strict`, a stale price behind a sleeve whose weight changed reverts.
    function _assess(uint256 decisionId, DecisionRecord memory rec, Agent storage a, bool strict)
        internal
        view
        returns (int256 excess, uint256 slashAmount, int256 value)
    {
        IRWAVault.Decision memory d = IRWAVault(vault).decision(decisionId);
        int256[] memory returns_ = new int256[](d.sleeves.length);
        for (uint256 i; i < d.sleeves.length; ++i) {
            if (d.newBps[i] == d.oldBps[i] || d.startIndex[i] == 0) continue;
            (uint256 end, bool fresh) = d.sleeves[i].returnIndexStatus();
            if (strict && !fresh) revert StaleReturnIndex(decisionId, address(d.sleeves[i]));
            returns_[i] = _indexReturn(end, d.startIndex[i]);
        }
        // Judged (slash, reputation) over the agent's own window: only its own later move ends
        // part of it, so another agent undoing a risky move never spares its author. Rewarded
        // (`stood`) over the time the move really stood: any agent's later opposite move ends it,
        // so two agents taking turns to reverse each other earn no window they did not hold.
        int256 stood;
        (excess, stood) = _credited(decisionId, d, rec.dueAt, returns_);
        uint256 nav = d.navBefore;
        // The decision's own trading cost (an issuer's fee, rounding): both NAVs were measured
        // in its transaction at the same prices, so what it lost between them is what its moves
        // cost. Charged to judging and to rewards alike, rounded up (the agent is never
        // under-charged). A NAV that rose inside the transaction is no credit: it is no skill of
        // the decision's, and a gain an agent could arrange there would buy back real losses.
        if (d.navAfter < nav) {
            int256 cost = (nav - d.navAfter).mulDiv(BPS * WAD, nav, Math.Rounding.Ceil).toInt256();
            excess -= cost;
            stood -= cost;
        }
        int256 tolerance = int256(uint256(rec.toleranceBps)) * int256(WAD); // the rules of its day
        if (excess < -tolerance) {
            uint256 shortfall = uint256(-excess - tolerance).mulDiv(nav, BPS * WAD);
            uint256 cap = (a.stake + a.unbonding).mulDiv(rec.maxSlashBps, BPS);
            slashAmount = Math.min(shortfall, cap);
        }
        if (stood > 0) {
            value = uint256(stood).mulDiv(nav, BPS * WAD).toInt256();
        } else if (stood < 0) {
            value = -uint256(-stood).mulDiv(nav, BPS * WAD, Math.Rounding.Ceil).toInt256();
        }
    }

    /// @dev The excess a decision's moves earned (bps × WAD): each part of a move credited the
    ///      sleeve's return while it stood (`returns_`: each moved sleeve's return to now), up to
    ///      a reversal by the same agent (`own`) or by any agent (`stood`). One walk of the later
    ///      decisions serves both (`_reverse`).
    function _credited(uint256 decisionId, IRWAVault.Decision memory d, uint256 dueAt, int256[] memory returns_)
        internal
        view
        returns (int256 own, int256 stood)
    {
        Reversals memory mine = _moves(d);
        Reversals memory anyone = _moves(d);
        uint256 count = IRWAVault(vault).decisionCount();
        for (uint256 j = decisionId + 1; j < count && (mine.live != 0 || anyone.live != 0); ++j) {
            IRWAVault.Decision memory later = IRWAVault(vault).decision(j);
            if (later.timestamp >= dueAt) break;
            _reverse(anyone, d, later);
            if (later.agent == d.agent) _reverse(mine, d, later);
        }
        for (uint256 i; i < d.sleeves.length; ++i) {
            if (d.newBps[i] == d.oldBps[i] || d.startIndex[i] == 0) continue;
            own += mine.banked[i] + mine.kept[i] * returns_[i];
            stood += anyone.banked[i] + anyone.kept[i] * returns_[i];
        }
    }

    /// @dev `r = index · 1e18 / start - 1e18` (WAD, the division rounded down).
    function _indexReturn(uint256 index, uint256 start) internal pure returns (int256) {
        return index.mulDiv(WAD, start).toInt256() - int256(WAD);
    }

    /// @dev A decision's moves as the later decisions inside its window (recorded strictly before
    ///      its `dueAt`) leave them: per sleeve i, `kept[i]` is the part of the move still in place
    ///      (signed like the move) and `banked[i]` the excess (bps × WAD) the reversed parts earned
    ///      up to their reversal, read from the reversing decision's recorded `startIndex`; `live`
    ///      counts the sleeves with a part in place.
    function _moves(IRWAVault.Decision memory d) internal pure returns (Reversals memory w) {
        uint256 n = d.sleeves.length;
        (w.kept, w.banked, w.ahead) = (new int256[](n), new int256[](n), new int256[](n));
        for (uint256 i; i < n; ++i) {
            if (d.startIndex[i] == 0) continue;
            w.kept[i] = int256(uint256(d.newBps[i])) - int256(uint256(d.oldBps[i]));
            if (w.kept[i] != 0) ++w.live;
        }
    }

    /// @dev Ends in `w` the parts of `d`'s moves that `later` moved the other way, once the later
    ///      moves the same way (`ahead`) are undone; a move the same way joins `ahead`.
    function _reverse(Reversals memory w, IRWAVault.Decision memory d, IRWAVault.Decision memory later)
        internal
        pure
    {
        for (uint256 i; i < d.sleeves.length && w.live != 0; ++i) {
            int256 kept = w.kept[i];
            if (kept == 0) continue;
            uint256 k = _position(later.sleeves, d.sleeves[i], i);
            if (k == type(uint256).max) continue;
            int256 back = int256(uint256(later.newBps[k])) - int256(uint256(later.oldBps[k]));
            if (back == 0) continue;
            if ((back > 0) == (kept > 0)) {
                w.ahead[i] += back; // a later move the same way stands in front of this one
                continue;
            }
            // A reversal undoes the newest moves first (LIFO): what later moves added on top,
            // then this move, so one reversal never ends more than its own size in all.
            int256 ahead = w.ahead[i];
            int256 used = kept > 0 ? Math.min(uint256(-back), uint256(ahead)).toInt256()
                : -Math.min(uint256(back), uint256(-ahead)).toInt256();
            w.ahead[i] = ahead - used;
            back += used;
            if (back == 0) continue;
            // The part of the move reversed here, at most what is still in place.
            int256 cut = kept > 0 ? -Math.min(uint256(-back), uint256(kept)).toInt256()
                : Math.min(uint256(back), uint256(-kept)).toInt256();
            // `cut` has the reversal's sign: the reversed part is `-cut`, in place until now.
            w.banked[i] -= cut * _indexReturn(later.startIndex[k], d.startIndex[i]);
            w.kept[i] = kept + cut;
            if (kept + cut == 0) --w.live;
        }
    }

    /// @dev Index of `sleeve` in `sleeves` (tried at `hint` first); type(uint256).max if absent.
    function _position(ISleeve[] memory sleeves, ISleeve sleeve, uint256 hint) internal pure returns (uint256) {
        if (hint < sleeves.length && sleeves[hint] == sleeve) return hint;
        for (uint256 k; k < sleeves.length; ++k) {
            if (sleeves[k] == sleeve) return k;
        }
        return type(uint256).max;
    }

    /// @dev Whether the return index of every sleeve whose weight the decision changed rests on
    ///      fresh prices (a sleeve sold out reports a fresh `valuation()` of 0 whatever its price).
    function _freshEvidence(uint256 decisionId) internal view returns (bool, address) {
        IRWAVault.Decision memory d = IRWAVault(vault).decision(decisionId);
        for (uint256 i; i < d.sleeves.length; ++i) {
            if (d.newBps[i] == d.oldBps[i] || d.startIndex[i] == 0) continue;
            (, bool fresh) = d.sleeves[i].returnIndexStatus();
            if (!fresh) return (false, address(d.sleeves[i]));
        }
        return (true, address(0));
    }

    function _openSlash(address agent, uint256 decisionId, uint256 amount) internal returns (uint256 slashId) {
        slashId = _slashes.length;
        // Saturated at the field's range: a veto window past 2^64 truncated to a short one.
        uint256 vetoEndsAt = block.timestamp + Math.min(registry.get(VETO_WINDOW), type(uint64).max);
        vetoEndsAt = Math.min(vetoEndsAt, type(uint64).max);
        _slashes.push(Slash(agent, uint64(vetoEndsAt), SlashStatus.Pending, decisionId, amount));
        _pending.push(slashId);
        _pendingPosPlusOne[slashId] = _pending.length;
        Agent storage a = _agents[agent];
        (a.pendingSlashes, a.slashPending) = (a.pendingSlashes + 1, a.slashPending + amount);
        emit SlashOpened(slashId, agent, decisionId, amount, vetoEndsAt);
    }

    function _pendingSlash(uint256 slashId) internal view returns (Slash storage s) {
        if (slashId >= _slashes.length) revert UnknownSlash(slashId);
        s = _slashes[slashId];
        if (s.status != SlashStatus.Pending) revert SlashNotPending(slashId, s.status);
    }

    function _closeSlash(uint256 slashId, Slash storage s, SlashStatus status) internal {
        s.status = status;
        Agent storage a = _agents[s.agent];
        (a.pendingSlashes, a.slashPending) = (a.pendingSlashes - 1, a.slashPending - s.amount);
        uint256 pos = _pendingPosPlusOne[slashId] - 1;
        uint256 last = _pending[_pending.length - 1];
        _pending[pos] = last;
        _pendingPosPlusOne[last] = pos + 1;
        _pending.pop();
        delete _pendingPosPlusOne[slashId];
    }

    function _removeOpen(uint256 decisionId) internal {
        uint256 pos = _openPosPlusOne[decisionId] - 1;
        uint256 last = _open[_open.length - 1];
        _open[pos] = last;
        _openPosPlusOne[last] = pos + 1;
        _open.pop();
        delete _openPosPlusOne[decisionId];
    }

    /// @dev Nets a decision's signed `value` into `agent`'s rewards (IAgentRegistry, "net value
    ///      added"): a gain repays the debt first, the rest becomes points in the open round; a
    ///      loss withdraws the agent's points of the open round first, the rest becomes debt.
    ///      Returns the points added.
    function _net(address agent, uint256 decisionId, int256 value) internal returns (uint256 points) {
        if (value == 0) return 0;
        RewardAccount storage r = _settle(agent);
        uint256 debt = r.debt;
        uint256 withdrawn;
        if (value > 0) {
            uint256 gain = uint256(value);
            uint256 repaid = Math.min(gain, debt);
            debt -= repaid;
            points = gain - repaid;
            if (points != 0) {
                r.round = rewardRound;
                r.points += points;
                roundPoints += points;
            }
        } else {
            uint256 loss = uint256(-value);
            // After `_settle`, any points left are the open round's.
            withdrawn = Math.min(loss, r.points);
            if (withdrawn != 0) {
                r.points -= withdrawn;
                roundPoints -= withdrawn;
            }
            debt += loss - withdrawn;
        }
        r.debt = debt;
        emit ValueNetted(agent, decisionId, value, points, withdrawn, debt);
    }

    /// @dev Closes the open `round` of `points` with `pot`: it pays at most the value its points
    ///      stand for (points are assets), their shares at the vault's price now (rounded down);
    ///      the rest of the pot waits for the next round. Each agent's part is rounded down once
    ///      (`_due`), so the round never promises more than it kept.
    function _closeRound(uint256 round, uint256 pot, uint256 points) internal returns (uint256 paid) {
        paid = Math.min(pot, IERC4626(vault).convertToShares(points));
        _closedRounds[round] = RewardRound(paid, points);
        undistributedRewards = pot - paid;
        rewardRound = uint64(round + 1);
        roundPoints = 0;
    }

    /// @dev Moves what `agent` earned in a closed round into `settled`.
    function _settle(address agent) internal returns (RewardAccount storage r) {
        r = _rewards[agent];
        if (r.points != 0 && r.round < rewardRound) {
            r.settled += _due(r);
            r.points = 0;
        }
    }

    /// @dev Shares an account's points in a closed round are worth: its pro-rata part of the
    ///      round's pot, rounded down.
    function _due(RewardAccount memory r) internal view returns (uint256) {
        if (r.points == 0 || r.round >= rewardRound) return 0;
        RewardRound memory c = _closedRounds[r.round];
        return r.points.mulDiv(c.pot, c.points);
    }
}
