"""How the agents' decisions are judged and paid, in pure Python, to the wei.

Every function mirrors an integer rule stated in the NatSpec of `IAgentRegistry` (evaluation
with its early window end for reversed moves and its charge for the decision's own trading cost,
slashing, reputation, the netting of value added,
reward rounds) and `IRWAVault.setAgentRegistry` (the performance fee), as `AgentRegistry`
(`_assess`, `_credited`, `_reverse`, `evaluate`, `_net`, `onFee`, `_due`) and `RebalanceModule`
(`_performanceFee`) implement it, rounding the same way, so that a keeper can predict what an
evaluation or a rebalance will do without a call. Nothing here reads the chain: callers pass
what they read (the recorded decision, return indices, bonds, parameters, vault state).

Units follow the contracts: amounts in asset or share units, return indices and returns in WAD
(1e18), weights in bps (1e4), excess and reputation in bps × WAD, share prices in assets per
share × 1e36. Unsigned divisions round down (`mul_div_down`, OpenZeppelin `Math.mulDiv`);
signed ones truncate toward zero like Solidity's `/` on `int256` (`div_toward_zero`), which is
not Python's `//` (that floors toward −∞: `-7 // 2 == -4`, Solidity's `-7 / 2 == -3`).
The contracts' overflow checks (values beyond `int256`/`uint256`) are not mirrored: the inputs
are assumed to be ones the contracts accept.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from keepers.math.lending import BPS, WAD, mul_div_down, mul_div_up

REPUTATION_WEIGHT_BPS: Final = 2_000  # AgentRegistry.REPUTATION_WEIGHT_BPS
PRICE_SCALE: Final = 10**36  # RebalanceModule.PRICE_SCALE: share prices are assets/share × 1e36


# ---------------------------------------------------------------------------------- rounding


def div_toward_zero(numerator: int, denominator: int) -> int:
    """Solidity's signed `numerator / denominator`: the quotient truncated toward zero.

    Differs from Python's `//` (floor) exactly when the signs differ and the division is
    inexact: `div_toward_zero(-7, 2) == -3` where `-7 // 2 == -4`. Raises ZeroDivisionError on
    a zero denominator (Solidity panics).
    """
    if denominator == 0:
        raise ZeroDivisionError("division by zero")
    quotient = abs(numerator) // abs(denominator)
    return quotient if (numerator < 0) == (denominator < 0) else -quotient


# ---------------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class LaterMove:
    """What a later decision of the vault, recorded inside this decision's window (strictly
    before its `dueAt`), did to the same sleeve: its move (`newBps - oldBps`, 0 when the sleeve
    was not among its sleeves), the sleeve's `startIndex` it recorded, and whether it was the
    same agent's (`own`: only those end the window the decision is judged on; any ends the
    window it is rewarded on)."""

    moved_bps: int
    start_index: int
    own: bool = True


@dataclass(frozen=True)
class SleeveMove:
    """One sleeve of a decision: its weight before and reached (`oldBps`, `newBps`), its
    `returnIndex()` recorded at the decision (`startIndex`) and its `returnIndex()` now, and
    `later`: the later decisions inside the window, in id order (`LaterMove`)."""

    old_bps: int
    new_bps: int
    start_index: int
    end_index: int
    later: tuple[LaterMove, ...] = ()

    @property
    def moved_bps(self) -> int:
        """`newBps - oldBps` (signed): how much weight the decision gave the sleeve."""
        return self.new_bps - self.old_bps

    @property
    def sleeve_return(self) -> int:
        """`sleeve_return(start_index, end_index)`: the sleeve's return over the window (WAD)."""
        return sleeve_return(self.start_index, self.end_index)

    @property
    def kept_bps(self) -> int:
        """What of the move is still in place at the end (signed like the move): the move less
        every later opposite move of the same agent, each counted up to what was in place once
        the later moves the same way were undone."""
        return _reversed(self)[0]

    @property
    def credited(self) -> int:
        """`credited_excess(self)`."""
        return credited_excess(self)


@dataclass(frozen=True)
class LaterDecision:
    """A later decision of the vault inside the window, its arrays aligned on the evaluated
    decision's sleeves (the caller matches sleeves by address; a sleeve it lacks is 0/0/0), and
    whether the evaluated decision's agent took it (`own`)."""

    old_bps: tuple[int, ...]
    new_bps: tuple[int, ...]
    start_index: tuple[int, ...]
    own: bool = True


@dataclass(frozen=True)
class DecisionEvidence:
    """What a decision is judged on: each sleeve's move and return (in the decision's sleeve
    order), `navBefore`, the NAV the decision moved, and `navAfter`, the NAV its trades left
    (`IRWAVault.Decision`; both measured in its transaction at the same prices)."""

    sleeves: tuple[SleeveMove, ...]
    nav_before: int
    nav_after: int

    @property
    def cost(self) -> int:
        """`trading_cost(nav_before, nav_after)`: what its own trades cost (bps × WAD)."""
        return trading_cost(self.nav_before, self.nav_after)

    @classmethod
    def of(
        cls,
        old_bps: Iterable[int],
        new_bps: Iterable[int],
        start_index: Iterable[int],
        end_index: Iterable[int],
        nav_before: int,
        later: Iterable[LaterDecision] = (),
        *,
        nav_after: int,
    ) -> DecisionEvidence:
        """From the decision's arrays (as `IRWAVault.decision` returns them), each sleeve's
        `returnIndex()` now, the later decisions inside its window (`LaterDecision`, aligned
        on its sleeves, in id order), and its `navBefore` and `navAfter`; the four arrays must
        have one entry per sleeve."""
        later = tuple(later)
        moves = tuple(
            SleeveMove(
                o,
                n,
                s,
                e,
                tuple(
                    LaterMove(d.new_bps[i] - d.old_bps[i], d.start_index[i], d.own) for d in later
                ),
            )
            for i, (o, n, s, e) in enumerate(
                zip(old_bps, new_bps, start_index, end_index, strict=True)
            )
        )
        return cls(moves, nav_before, nav_after)


def decision_tolerance_bps(tolerance_bps: int, eval_window: int, still_open: int) -> int:
    """The tolerance a decision's record keeps (`AgentRegistry.onDecision`): the part of
    `agent.toleranceBps` (at most 65,535) for the part of its `agent.evalWindow` that the same
    agent's earlier decisions' windows do not still cover, `floor(tolerance · (window -
    still_open) / window)`; `still_open` is what is left of them at this decision
    (`Agent.lastDueAt - now`, the latest `dueAt` recorded; 0 once they ended or for an agent's
    first decision: then the whole of it; 0 when they cover this whole window). With an
    unchanged window `still_open` is `window - elapsed`, so a decision gets what the time since
    the previous one earned: a move split into several decisions is tolerated no more than
    once, and a window governance changes meanwhile neither refills the budget early nor cuts
    it after the earlier windows ended. `eval_window` is the window as the record has it,
    `dueAt - now`: the parameter, unless it reaches past the uint40 `dueAt` (then
    `2^40 - 1 - now`)."""
    tolerance = min(tolerance_bps, 2**16 - 1)
    if still_open <= 0:
        return tolerance
    if still_open >= eval_window:
        return 0
    return tolerance * (eval_window - still_open) // eval_window


@dataclass(frozen=True)
class EvaluationRules:
    """The decision's tolerance (`decision_tolerance_bps`) and `agent.maxSlashBps` as its
    record keeps them: the values in force when the decision was made
    (`AgentRegistry.decisionRecord`)."""

    tolerance_bps: int
    max_slash_bps: int


@dataclass(frozen=True)
class Bond:
    """An agent's `stake` and `unbonding` when evaluated: both are slashable."""

    stake: int
    unbonding: int = 0

    @property
    def slashable(self) -> int:
        return self.stake + self.unbonding


@dataclass(frozen=True)
class Evaluation:
    """A decision's evaluation (`previewEvaluation`): its excess return (bps × WAD), the slash it
    opens (0: none), the reward points it adds to the open round (its value beyond the agent's
    debt) and its signed `value` added (asset units, `value_added`)."""

    excess: int
    slash_amount: int
    reward_points: int
    value: int

    @property
    def excess_bps(self) -> int:
        """What `Evaluated` and `evaluate` report: `excess_bps(excess)`, toward zero."""
        return excess_bps(self.excess)

    @property
    def opens_slash(self) -> bool:
        """Whether `evaluate` opens a slash (`SlashOpened`): only for a nonzero amount."""
        return self.slash_amount != 0


def sleeve_return(start_index: int, end_index: int) -> int:
    """`r = floor(end · 1e18 / start) - 1e18` (WAD, may be negative); 0 when `start` is 0."""
    if start_index == 0:
        return 0
    return mul_div_down(end_index, WAD, start_index) - WAD


def _reversed(move: SleeveMove, everyone: bool = False) -> tuple[int, int]:
    """`AgentRegistry._reverse` over the later decisions, for one sleeve: `(kept, banked)`, the
    part of the move still in place at the end and the excess (bps × WAD) its reversed parts
    earned up to their reversal (from the reversing decision's recorded start index); moves by
    the same agent only, or by any agent with `everyone`. A later move the same way stands in
    front of the move (`ahead`); a later opposite move undoes that first (the newest moves
    first), and only what is left of it ends part of the move."""
    kept = move.moved_bps
    if kept == 0 or move.start_index == 0:
        return 0, 0
    banked = ahead = 0
    for later in move.later:
        if not (everyone or later.own):
            continue
        back = later.moved_bps
        if kept == 0 or back == 0:
            continue
        if (back > 0) == (kept > 0):
            ahead += abs(back)
            continue
        used = min(abs(back), ahead)
        ahead -= used
        sign = 1 if kept > 0 else -1
        part = min(abs(back) - used, abs(kept))
        banked += sign * part * sleeve_return(move.start_index, later.start_index)
        kept -= sign * part
    return kept, banked


def credited_excess(move: SleeveMove, everyone: bool = False) -> int:
    """One sleeve's part of the excess (bps × WAD, exact): `kept · r(end) + Σ_j sign · c_j ·
    r(startIndex_j)`, each part of the move credited the return while it stood (up to the same
    agent's reversal, or any agent's with `everyone`); with no reversal `moved · r(end)`. 0 for
    an unmoved sleeve or a start index of 0."""
    kept, banked = _reversed(move, everyone)
    if move.moved_bps == 0 or move.start_index == 0:
        return 0
    return banked + kept * move.sleeve_return


def excess_return(evidence: DecisionEvidence, everyone: bool = False) -> int:
    """`excess = Σ_i credited_excess(sleeve_i)` (bps × WAD, exact): what the chosen weights
    earned while they stood minus what the replaced ones would have. Sleeves whose weight did
    not move, or whose start index is 0, add nothing (the contract skips them). The decision is
    judged (slash, reputation) on its own window; `everyone=True` gives the excess it is
    rewarded on (`value`), up to any agent's reversal."""
    return sum(credited_excess(s, everyone) for s in evidence.sleeves)


def trading_cost(nav_before: int, nav_after: int) -> int:
    """What a decision's own trades cost the vault (bps × WAD): `ceil((navBefore - navAfter) ·
    1e4 · 1e18 / navBefore)` when the NAV fell inside its transaction (an issuer's fee,
    rounding), rounded up so the agent is never under-charged; 0 when it did not fall (a rise
    inside one transaction is no skill of the decision's, and is never credited)."""
    if nav_after >= nav_before:
        return 0
    return mul_div_up(nav_before - nav_after, BPS * WAD, nav_before)


def charged_excess(evidence: DecisionEvidence, everyone: bool = False) -> int:
    """`excess_return(evidence, everyone) - evidence.cost` (bps × WAD): the excess the decision
    is judged on (slash, reputation; `everyone=True`: the one it is rewarded on), its own
    trading cost charged to both (`AgentRegistry._assess`)."""
    return excess_return(evidence, everyone) - evidence.cost


def excess_bps(excess: int) -> int:
    """`excess / 1e18` in Solidity's signed arithmetic: bps, truncated toward zero."""
    return div_toward_zero(excess, WAD)


def slash_cap(bond: Bond, max_slash_bps: int) -> int:
    """The most one evaluation may slash: `floor((stake + unbonding) · maxSlashBps / 1e4)`."""
    return mul_div_down(bond.slashable, max_slash_bps, BPS)


def slash_amount(excess: int, nav_before: int, rules: EvaluationRules, bond: Bond) -> int:
    """The slash an excess opens: when `excess < -toleranceBps · 1e18`, the shortfall beyond the
    tolerance valued on `navBefore`, `floor((-excess - toleranceBps · 1e18) · navBefore /
    (1e4 · 1e18))`, capped at `slash_cap`; 0 otherwise (within tolerance, or no shortfall)."""
    tolerance = rules.tolerance_bps * WAD
    if excess >= -tolerance:
        return 0
    shortfall = mul_div_down(-excess - tolerance, nav_before, BPS * WAD)
    return min(shortfall, slash_cap(bond, rules.max_slash_bps))


def value_added(excess: int, nav_before: int) -> int:
    """A decision's signed value added (asset units): `floor(excess · navBefore / (1e4 · 1e18))`
    when `excess > 0`, `-ceil(-excess · navBefore / (1e4 · 1e18))` when below (rounded against
    the agent), 0 at 0."""
    if excess >= 0:
        return mul_div_down(excess, nav_before, BPS * WAD)
    return -mul_div_up(-excess, nav_before, BPS * WAD)


def reward_points(excess: int, nav_before: int, debt: int = 0) -> int:
    """The points an evaluation adds to the open round: its value added beyond the agent's
    `debt` (`rewardDebt`) when positive, else 0."""
    return max(value_added(excess, nav_before) - debt, 0)


def assess(
    evidence: DecisionEvidence, rules: EvaluationRules, bond: Bond, debt: int = 0
) -> Evaluation:
    """`AgentRegistry.previewEvaluation` (what `evaluate` applies): the excess less the
    decision's trading cost (`charged_excess`), then a slash (excess below the tolerance), the
    points it adds beyond the agent's `debt`, and its value."""
    excess = charged_excess(evidence)
    value = value_added(charged_excess(evidence, everyone=True), evidence.nav_before)
    slash = slash_amount(excess, evidence.nav_before, rules, bond)
    return Evaluation(excess, slash, max(value - debt, 0), value)


@dataclass(frozen=True)
class RewardAccount:
    """An agent's reward state the netting acts on: its `points` in the open round
    (`roundPointsOf`) and its `debt` (`rewardDebt`)."""

    points: int = 0
    debt: int = 0


@dataclass(frozen=True)
class Netting:
    """What `AgentRegistry._net` does with an evaluation's `value` (as `ValueNetted` reports
    it): the points added to and withdrawn from the open round, and the account after."""

    value: int
    points_added: int
    points_withdrawn: int
    account: RewardAccount


def net_value(value: int, account: RewardAccount) -> Netting:
    """A gain repays the debt first, the rest becomes points; a loss withdraws the open round's
    points first, the rest adds to the debt. Within a round `points - debt` moves by exactly
    `value`, and never are both positive."""
    if value >= 0:
        repaid = min(value, account.debt)
        added = value - repaid
        after = RewardAccount(account.points + added, account.debt - repaid)
        return Netting(value, added, 0, after)
    withdrawn = min(-value, account.points)
    after = RewardAccount(account.points - withdrawn, account.debt - value - withdrawn)
    return Netting(value, 0, withdrawn, after)


def reputation_after(reputation: int, excess: int) -> int:
    """The reputation EWMA after one more evaluation (bps × WAD):
    `rep + (excess - rep) · 2000 / 10_000`, the quotient truncated toward zero."""
    return reputation + div_toward_zero((excess - reputation) * REPUTATION_WEIGHT_BPS, BPS)


__all__ = [
    "PRICE_SCALE",
    "REPUTATION_WEIGHT_BPS",
    "Bond",
    "DecisionEvidence",
    "Evaluation",
    "LaterDecision",
    "LaterMove",
    "Netting",
    "RewardAccount",
    "EvaluationRules",
    "SleeveMove",
    "assess",
    "charged_excess",
    "credited_excess",
    "decision_tolerance_bps",
    "div_toward_zero",
    "excess_bps",
    "excess_return",
    "net_value",
    "reputation_after",
    "reward_points",
    "slash_amount",
    "slash_cap",
    "sleeve_return",
    "trading_cost",
    "value_added",
]
