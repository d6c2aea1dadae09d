// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IAgentRegistry
/// @notice Strategy agents bond the vault's base asset to earn the right to steer its capital;
///         every decision they make is evaluated on chain, underperformance is slashed back to
///         the depositors, and a share of the performance fee rewards the decisions that added
///         value.
/// @dev Rules (Keep3r's bond/unbond cycle, EigenLayer's slashable withdrawals and veto window,
///      Chainlink staking's objective evidence and capped slashes):
///
///      Bonds
///      - An agent `register`s once with a metadata URI (who operates it, its strategy), then
///        `stake`s the vault's asset (a stable bond: a slash can go straight back to depositors
///        and is worth the same the day it lands).
///      - Activation: the clock starts when the agent's stake first reaches `agent.minStake`
///        (`bondedSince`); the agent is active from `bondedSince + agent.activationDelay` for as
///        long as its stake stays at or above `agent.minStake` (both read when asked, so a
///        governance change applies at once). Dropping below the minimum resets the clock.
///        What its pending slashes would take counts as gone: an agent is active only while
///        `stake >= agent.minStake + slashPending` (found in an agent review: a bond at the
///        minimum with a capped slash pending, 10 % of it, still steered the vault with only
///        9,000 of 10,000 left to answer for the next decision, and a string of bad decisions
///        could open slashes past its whole stake). Staking more, a veto or the slash's
///        execution ends the pause; only an execution that leaves the stake below the minimum
///        resets the clock.
///      - Suspension: the vault's guardian (or governance) may `setSuspended(agent, true)`: a
///        suspended agent is not active, whatever its bond, until the guardian or governance
///        lifts it (`setSuspended(agent, false)`; active again at once, its activation clock
///        kept). Nothing else changes: its decisions are evaluated and its slashes opened,
///        vetoed and executed as before, and it may unbond. It answers an agent that acts
///        inside the bounds against the depositors (found in a review: one cooldown serves the
///        whole vault, so an agent making a no-op decision as each cooldown ends kept the
///        others' risk-off sales out for a week at no risk to its stake), without pausing every
///        agent with `pauseAutomation`. The guardian can stop no more than it could before.
///      - Unbonding: `requestUnbond(amount)` moves stake to `unbonding` and (re)starts a wait of
///        `agent.unbondingPeriod` for everything unbonding; `withdrawUnbonded()` pays it out
///        after the wait, and only while the agent has no decision awaiting evaluation and no
///        slash pending (so no bad decision can escape its slash by unbonding). Unbonding stake
///        counts for nothing (not for activation) but stays slashable.
///
///      Evaluation (`evaluate(decisionId)`, anyone, once, from `timestamp + agent.evalWindow`,
///      the window read when the vault reports the decision)
///      - For each sleeve i of the decision, the move `m_i = newBps_i - oldBps_i` and the
///        return from the decision's recorded `start_i` (the sleeve's `returnIndex()` at the
///        decision) to a later reading x: `R_i(x) = x · 1e18 / start_i - 1e18` (WAD, the
///        division rounded down; the sleeve adds nothing when `start_i` is 0 or `m_i` is 0).
///        Idle earns 0.
///      - The window ends early for what is reversed (M-6, "round-tripping agents farm
///        rewards"): every later decision j by the same agent recorded strictly before the
///        decision's `dueAt` (in id order) that moves sleeve i the other way
///        (`sign(m^j_i) = -sign(m_i)`) ends `c_j = min(|m^j_i| - a_j, what of m_i is still in
///        place)` of the move there (`a_j`: the part of it that undoes later moves the same
///        way, below); that part is credited the return up to j only, read from j's
///        recorded `startIndex` (`R_i(startIndex^j_i)`: deterministic, nobody picks the moment).
///        What is still in place after the last such j, `k_i = m_i - sign(m_i) · Σ_j c_j`, is
///        credited up to now: `R_i(end_i)`, `end_i` the sleeve's `returnIndex()` at evaluation.
///        Later moves the same way as `m_i` (by the agents counted) neither lengthen nor shorten
///        it (they are their own decisions'), but they stand in front of it: a reversal undoes
///        the newest moves first, `a_j = min(|m^j_i|, what those moves added and no reversal
///        has undone yet)`, so one sale never ends two buys in full (found in an agent review:
///        two 1,000 bps buys and one 1,000 bps sale left the 1,000 bps still held judged by no
///        decision). A sleeve is matched by address (indices shift when a sleeve is removed).
///        The evaluation reads at most every decision made inside its window (about
///        `agent.evalWindow / vault.rebalanceCooldown` of them).
///      - `excess = Σ_i [ k_i · R_i(end_i) + sign(m_i) · Σ_j c_j · R_i(startIndex^j_i) ]`
///        (bps × WAD; Solidity's signed arithmetic, exact: no rounding): what the weights the
///        agent chose earned while they stood, minus what the weights they replaced would have
///        earned. With no reversal it is `Σ_i m_i · R_i(end_i)`.
///      - Trading cost (found in an agent review: round trips behind an issuer's redemption fee
///        took 297 bps of the NAV and every evaluation was 0): a decision is charged what its own
///        trades cost the vault. `navBefore` and `navAfter` are measured in its transaction at
///        the same prices, so their difference is exactly that cost (an issuer's fee or spread,
///        rounding). When `navAfter < navBefore`,
///        `cost = ceil((navBefore - navAfter) · 1e4 · 1e18 / navBefore)` (bps × WAD; rounded up:
///        the agent is never under-charged) is subtracted from `excess` (so from the slash and
///        the reputation) and from `stood` (the value, below), whatever later decisions reverse:
///        the trade that paid the cost is charged, the reversal pays its own. A `navAfter` above
///        `navBefore` is no credit: a gain inside one transaction is no skill of the decision's,
///        and one an agent could arrange there would buy back real losses. An honest risk-off
///        sale pays its issuer's fee too: the fee is a cost the decision chose, and the tolerance
///        absorbs small ones. Below, `excess` is the charged one. `excessBps = excess / 1e18`,
///        rounded toward zero, is what `Evaluated` reports.
///      - The return index of every sleeve whose weight the decision changed must rest on fresh
///        prices (`ISleeve.returnIndexStatus()`; a sleeve the decision sold out included, and one
///        whose move was reversed in full), or the evaluation waits (`StaleReturnIndex`): no
///        slash and no reward on stale data. A priced sleeve's index is not fresh while the
///        router's band is open (a move beyond `oracle.maxDeviationBps` not yet confirmed nor
///        dropped): nobody is judged on a round the oracle has not confirmed. Anyone's poke (the
///        evaluator keeper's) closes the band once the move has held `oracle.confirmDelay`
///        (twice that when it deepened meanwhile: IOracleRouter rule 4), or at once when the
///        price is back within the band; only a feed that keeps moving keeps it open.
///      - Slash: when `excess < -agent.toleranceBps · 1e18`, the shortfall beyond the tolerance,
///        valued on the NAV the decision moved, `(-excess - toleranceBps · 1e18) · navBefore /
///        (1e4 · 1e18)` (rounded down), capped at `(stake + unbonding) · agent.maxSlashBps / 1e4`
///        (rounded down), opens a pending slash (nothing when it rounds to 0). Both parameters
///        are the values when the decision was made (`DecisionRecord`): a rule the DAO votes
///        later never judges a decision made before it, which an agent could not leave first
///        (its bond stays locked until its decisions are evaluated).
///        `toleranceBps` is the decision's share of `agent.toleranceBps`: the tolerance is a
///        budget per `agent.evalWindow` of time, and a decision gets the part for the part of
///        its window that the same agent's earlier decisions' windows do not still cover,
///        `floor(agent.toleranceBps · (window - open) / window)`, `open = lastDueAt - now`
///        what is left of them (`Agent.lastDueAt`, the latest `dueAt` recorded; `window` as
///        recorded, `dueAt - now`); all of it once they have ended (an agent's first decision),
///        none while they cover the whole new one. With the window unchanged `open = window - elapsed`: a decision gets
///        what the time since the previous one earned. Found in an agent review: a 2,000 bps
///        buy split into four daily 500 bps decisions had each loss inside its own whole
///        tolerance, and no slash opened where the single buy was slashed; now the parts after
///        the first share one budget. The previous window is read as it was recorded (found in
///        a later review: measured on the elapsed time and today's window, a window shortened
///        from 14 to 7 days gave a decision a week after the previous one the whole tolerance
///        while that one's window still covered all of it, and one lengthened from 7 to 14 days
///        cut a decision 8 days later to 28 of 50 bps though nothing overlapped).
///      - Reputation, after every evaluation: `rep ← rep + (excess - rep) · 2000 / 10_000`
///        (an EWMA with weight 20% on the newest decision, bps × WAD, rounded toward zero).
///      - Value added (signed, asset units): `stood · navBefore / (1e4 · 1e18)`, rounded down
///        when positive and away from zero when negative (against the agent), where `stood` is
///        `excess` (its trading cost charged) with the reversals of every agent, not only the
///        same one's: the value of each part of the move for as long as it really stood, less
///        what its trades cost (so a decision that earned nothing owes at least every unit its
///        trades took). (Judging counts the author's own
///        reversals only, so another agent undoing a risky move never spares its author the
///        slash; paying counts anyone's, so two agents taking turns to undo each other's moves
///        are not paid for windows their moves did not hold.) It is netted into the agent's
///        rewards (below), slashed or not: a slash makes depositors whole beyond the
///        tolerance, it is not value the agent added.
///
///      Slashes
///      - `vetoSlash(id)`: the vault's guardian, strictly before `openedAt + agent.vetoWindow`
///        (the window read when the slash opens). `executeSlash(id)`: anyone, from then on; it
///        takes the amount from the agent's stake, then from its unbonding stake (never more than
///        both), and donates it to the vault (`IRWAVault.donate`): the share price rises by
///        exactly the amount and no performance fee is charged on it.
///
///      Rewards: net value added (M-6: churning earns nothing)
///      - An agent is paid for its net value added, never for gross gains: each evaluation's
///        signed value (above) is netted into the agent's account. A gain first repays the
///        agent's `rewardDebt` (value its decisions lost that nothing has made up yet); the rest
///        becomes reward points in the open round. A loss first withdraws the agent's points in
///        the open round (`roundPointsOf`), the rest adds to its debt. Within a round an agent's
///        points are therefore `max(0, Σ value)` of its evaluations there plus the debt it
///        brought, and its debt is what is left negative; the points of a closed round are
///        final. `ValueNetted(agent, decisionId, value, pointsAdded, pointsWithdrawn, debt)`
///        reports every nonzero value. The debt never expires and is never paid in assets or
///        shares: it only stands between the agent and future points (a residual: see below).
///      - Why both rules: a round trip (a move and its reversal the next day) credits the move
///        only for the day it stood (the early window end), and the reversal, judged from then
///        on against the weights it undid, is a loss of about the same size when the trend
///        continues: made by one agent, the round trip nets to ~0 points. Another agent's move
///        never ends a window for judging: an agent is judged on its whole move even when another
///        undid it (a risky bet an honest agent cut back is still evaluated, and slashed, as
///        made). For paying it does (`stood`): a decision is paid only while its move stood, so
///        two agents undoing each other's moves earn no window they did not hold. The residuals,
///        stated (docs/security.md, known limits): a rival that sells an honest agent's new
///        position and buys it back ends the honest credit and is paid for the rest of the
///        window; and a loss only becomes debt, so a pair of identities taking opposite sides
///        is paid on one side while the other's debt is left behind.
///        Points are value in the vault's asset (bps of the NAV
///        the decision moved), so agents are split by the money each added, whatever the NAV
///        was when each decided.
///      - The vault mints its performance fee to this registry in shares (`onFee`):
///        `agent.rewardShareBps` of them (rounded down) fund the agents, the rest goes to the
///        treasury at once. Each fee closes a reward round that has points: its pot, the agents'
///        share of the fee plus whatever earlier rounds did not pay out (`undistributedRewards`),
///        pays the round `paid = min(pot, vault.convertToShares(roundPoints))` (rounded down, at
///        the share price after the strike's mint and burn: a round never pays more than the
///        value its points stand for) and carries the rest, `pot - paid`, to the next round; a
///        round with no points carries its whole pot. (Found in an agent review: a pot carried
///        through days without points went to whatever points closed it, so a sniper with 7 of
///        value added took 101 of a 121 pot from an honest agent's 7,102.) `paid` is split among
///        the round's points pro rata (each agent's amount `paid · points / roundPoints`, rounded
///        down; the rounding dust, under one share unit per agent, stays in the registry
///        uncounted). `convertToShares` never reverts there: the strike has just valued every
///        sleeve (`strikeValuation`, which reads the prices `valuation` reads), and a stale one
///        is valued at its last price. `claimRewards()` pays an agent its vault shares. The vault
///        may call `onFee` as often as it takes a fee (at every NAV strike): a round is then
///        short, and a loss evaluated after the round its gain was paid in is carried as debt
///        against the next gains.
///      - After the vault's `shutdown` anyone may `closeRound()`: the open round, when it has
///        points, is closed as a fee would close it, with the carried pot alone (the same
///        `paid = min(pot, convertToShares(roundPoints))`, at the vault's price then). (Found in
///        an agent review: a shut vault's capital goes back to idle and its price stops rising,
///        so no fee closes a round again, while the decisions made before the shutdown are
///        evaluated over the next `agent.evalWindow`: an honest agent's 5,050 of value added
///        after the last fee was paid nothing and the 100.6 shares carried for it stayed in the
///        registry, nobody's, for good.) A fee after the shutdown still closes rounds as before.
///
///      Accounting: the registry holds exactly Σ(stake + unbonding) of the asset that agents
///      brought, plus whatever was sent to it otherwise (never counted); slashed stake leaves it
///      for the vault. It holds at least Σ claimable rewards in vault shares.
interface IAgentRegistry {
    struct Agent {
        bool registered;
        uint64 bondedSince; // 0 while stake < agent.minStake
        uint64 unbondReadyAt; // when `unbonding` may be withdrawn
        uint32 openDecisions; // decisions reported by the vault, not yet evaluated
        uint32 pendingSlashes; // slashes opened, neither vetoed nor executed
        uint48 lastDueAt; // the latest dueAt of its decisions: when its last window ends (0: none)
        bool suspended; // by the guardian or governance (see "Suspension"); in the first slot
        int256 reputation; // EWMA of excess, bps × WAD
        uint256 stake;
        uint256 unbonding;
        uint256 slashed; // taken from this agent and donated to the vault, in total
        uint256 slashPending; // the amounts of its pending slashes, in total
        string metadataURI;
    }

    /// @notice A decision the vault reported, as the registry tracks it.
    struct DecisionRecord {
        address agent;
        uint40 dueAt; // evaluable from then on
        bool evaluated;
        uint16 toleranceBps; // the decision's share of agent.toleranceBps then (see "Slash")
        uint16 maxSlashBps; // agent.maxSlashBps then (at most 10,000: the whole bond)
    }

    enum SlashStatus {
        None,
        Pending,
        Vetoed,
        Executed
    }

    struct Slash {
        address agent;
        uint64 vetoEndsAt; // the guardian may veto strictly before; anyone executes from then on
        SlashStatus status;
        uint256 decisionId;
        uint256 amount; // opened for; executing takes at most what the agent still has
    }

    event AgentRegistered(address indexed agent, string metadataURI);
    event MetadataUpdated(address indexed agent, string metadataURI);
    event Staked(address indexed agent, uint256 amount, uint256 stake);
    event UnbondRequested(address indexed agent, uint256 amount, uint256 unbonding, uint256 readyAt);
    event UnbondedWithdrawn(address indexed agent, uint256 amount);
    /// @notice `by` (the guardian or governance) suspended `agent` (`suspended`) or lifted it.
    event AgentSuspended(address indexed agent, bool suspended, address indexed by);
    event DecisionReported(uint256 indexed decisionId, address indexed agent, uint256 dueAt);
    event Evaluated(uint256 indexed decisionId, int256 excessBps, uint256 slashAmount);
    event ReputationUpdated(address indexed agent, int256 excess, int256 reputation, uint256 rewardPoints);
    event SlashOpened(uint256 indexed slashId, address indexed agent, uint256 indexed decisionId, uint256 amount, uint256 vetoEndsAt);
    event SlashVetoed(uint256 indexed slashId, address indexed by);
    event SlashExecuted(uint256 indexed slashId, address indexed agent, uint256 amount);
    event FeeReceived(uint256 shares, uint256 toAgents, uint256 toTreasury, uint256 indexed round);
    event RewardsClaimed(address indexed agent, uint256 shares);
    /// @notice `closeRound` closed reward round `round` of `points`, paying it `paid` shares of the
    ///         carried pot (the rest still carried).
    event RoundClosed(uint256 indexed round, uint256 paid, uint256 points);
    /// @notice An evaluation's signed `value` (asset units) netted into `agent`'s rewards:
    ///         `pointsAdded` to the open round, `pointsWithdrawn` from it, and the agent's
    ///         `debt` after.
    event ValueNetted(
        address indexed agent,
        uint256 indexed decisionId,
        int256 value,
        uint256 pointsAdded,
        uint256 pointsWithdrawn,
        uint256 debt
    );

    error ZeroAmount();
    error ZeroAddress();
    error AlreadyRegistered(address agent);
    /// @notice An agent's metadata URI (its agent card) must not be blank.
    error EmptyMetadataURI();
    error NotRegistered(address agent);
    error InsufficientStake(uint256 requested, uint256 stake);
    error NothingToWithdraw(address agent);
    error UnbondingNotReady(uint256 readyAt);
    error WithdrawalLocked(uint256 openDecisions, uint256 pendingSlashes);
    error NotVault(address caller);
    error NotGuardian(address caller);
    /// @notice `setSuspended` would leave `agent`'s suspension as it is (`suspended`).
    error SuspensionUnchanged(address agent, bool suspended);
    error UnknownDecision(uint256 decisionId);
    error AlreadyEvaluated(uint256 decisionId);
    error EvaluationNotDue(uint256 decisionId, uint256 dueAt);
    error UnknownSlash(uint256 slashId);
    error SlashNotPending(uint256 slashId, SlashStatus status);
    error VetoWindowOver(uint256 slashId, uint256 vetoEndsAt);
    error VetoWindowOpen(uint256 slashId, uint256 vetoEndsAt);
    error NoRewards(address agent);
    error StaleReturnIndex(uint256 decisionId, address sleeve);
    /// @notice `closeRound` before the vault's shutdown: a fee closes the rounds then.
    error NotShutdown();
    /// @notice `closeRound` with no reward points in the open round: nothing to pay.
    error NoRoundPoints();

    // ----------------------------------------------------------------- agents

    /// @notice Registers the caller as an agent. Once per address.
    function register(string calldata metadataURI) external;

    /// @notice Replaces the caller's metadata URI.
    function updateMetadata(string calldata metadataURI) external;

    /// @notice Bonds `amount` of the vault's asset from the caller (registered agents only).
    function stake(uint256 amount) external;

    /// @notice Starts unbonding `amount` of the caller's stake; restarts the wait for all of it.
    function requestUnbond(uint256 amount) external;

    /// @notice Pays the caller's unbonded stake once the wait is over and nothing is pending.
    /// @return amount What was paid.
    function withdrawUnbonded() external returns (uint256 amount);

    /// @notice Pays the caller's rewards, in vault shares.
    /// @return shares What was paid.
    function claimRewards() external returns (uint256 shares);

    /// @notice After the vault's `shutdown` (anyone): closes the open reward round as a fee
    ///         would, with the carried pot alone (`undistributedRewards`, no new fee), so the
    ///         points earned after the last fee are paid (claimable) instead of waiting for a fee
    ///         that a shut vault, its capital back in idle, may never take again.
    function closeRound() external;

    // ----------------------------------------------------------------- vault

    /// @notice Records a decision for evaluation. The vault only, at each rebalance.
    function onDecision(address agent, uint256 decisionId) external;

    /// @notice Splits `shares` of performance fee the vault has just minted to this registry.
    ///         The vault only.
    function onFee(uint256 shares) external;

    // ----------------------------------------------------------------- evaluation and slashing

    /// @notice Evaluates a decision (anyone, once, when due); may open a slash.
    /// @return excessBps The decision's excess return over its window (ended early for what a
    ///         later decision reversed) less its own trading cost, in bps (toward zero).
    /// @return slashId The slash opened, or type(uint256).max when none.
    function evaluate(uint256 decisionId) external returns (int256 excessBps, uint256 slashId);

    /// @notice Keeper trigger: `(true, evaluate calldata)` when `decisionId` can be evaluated now;
    ///         else `(false, reason)`.
    function evaluateTrigger(uint256 decisionId) external view returns (bool shouldAct, bytes memory data);

    /// @notice Up to `max` decisions that can be evaluated now (in no particular order): due, and
    ///         with a fresh price behind every sleeve whose weight they changed (as
    ///         `evaluateTrigger`).
    function decisionsDue(uint256 max) external view returns (uint256[] memory ids);

    /// @notice Every decision reported and not yet evaluated.
    function openDecisions() external view returns (uint256[] memory ids);

    /// @notice Cancels a pending slash (the vault's guardian, within the veto window).
    function vetoSlash(uint256 slashId) external;

    /// @notice Executes a pending slash once its veto window is over (anyone).
    /// @return amount What was taken from the agent and donated to the vault.
    function executeSlash(uint256 slashId) external returns (uint256 amount);

    /// @notice Ids of the slashes neither vetoed nor executed.
    function pendingSlashes() external view returns (uint256[] memory ids);

    /// @notice Suspends `agent` (`suspended` true: not active whatever its bond) or lifts its
    ///         suspension (the vault's guardian or governance; see "Suspension").
    function setSuspended(address agent, bool suspended) external;

    // ----------------------------------------------------------------- views

    /// @notice The vault the registry serves (whose asset is bonded and whose guardian vetoes).
    function vault() external view returns (address);

    /// @notice The asset agents bond (the vault's).
    function asset() external view returns (address);

    /// @notice Where the part of the performance fee that does not reward agents goes.
    function treasury() external view returns (address);

    /// @notice Whether `agent` may act now (registered, bonded at the minimum, activation over,
    ///         not suspended).
    function isActive(address agent) external view returns (bool);

    /// @notice When `agent` becomes (or became) active; 0 while its stake, less its pending
    ///         slashes, is below the minimum, or while it is suspended.
    function activeFrom(address agent) external view returns (uint256);

    /// @notice Whether the guardian (or governance) suspended `agent` (see "Suspension").
    function isSuspended(address agent) external view returns (bool);

    function agentInfo(address agent) external view returns (Agent memory);

    /// @notice `agent`'s reputation: the EWMA of its decisions' excess return, bps × WAD.
    function reputation(address agent) external view returns (int256);

    /// @notice Vault shares `agent` may claim now (including its points in closed rounds).
    function claimableRewards(address agent) external view returns (uint256);

    /// @notice `agent`'s reward points in the open round (a later loss may still withdraw them).
    function roundPointsOf(address agent) external view returns (uint256);

    /// @notice Value `agent`'s decisions lost that its later gains have not made up yet (asset
    ///         units): it earns points again only beyond it.
    function rewardDebt(address agent) external view returns (uint256);

    function decisionRecord(uint256 decisionId) external view returns (DecisionRecord memory);

    function slashInfo(uint256 slashId) external view returns (Slash memory);

    /// @notice Number of slashes ever opened (ids are 0 .. slashCount - 1).
    function slashCount() external view returns (uint256);

    /// @notice Σ bonded stake and Σ unbonding stake of all agents.
    function totals() external view returns (uint256 staked, uint256 unbonding);

    /// @notice Σ stake ever slashed and donated to the vault.
    function totalSlashed() external view returns (uint256);

    /// @notice The evaluation of `decisionId` as it would be now: excess (bps × WAD, its trading
    ///         cost charged), the slash it would open and the reward points it would add to the
    ///         open round (its positive value beyond the agent's `rewardDebt` now; 0 for a loss).
    ///         Reverts like `evaluate` for an unknown decision; checks neither that it is due nor
    ///         that the prices behind it are fresh (`evaluateTrigger` does both).
    function previewEvaluation(uint256 decisionId)
        external
        view
        returns (int256 excess, uint256 slashAmount, uint256 rewardPoints);
}
