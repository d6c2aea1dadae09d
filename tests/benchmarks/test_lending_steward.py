"""The lending-steward benchmark (benchmarks/lending_steward), pure Python: its paths are
seeded and split, its breach counters catch what the registry would refuse, the steward on one
path of each family breaches nothing, and the DAO's slow path executes the steward's drafted
proposals one at a time, 19 days after drafting, refusing what the registry would refuse."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from benchmarks.lending_steward import __main__ as cli
from benchmarks.lending_steward.paths import FAMILIES, make_path, paths
from benchmarks.lending_steward.sim import (
    HOUR,
    Costs,
    SlowPath,
    _dao_refusal,
    _registry_breaches,
    local_params,
    simulate,
)
from keepers.math.steward import StewardSettings


def test_paths_are_seeded_and_train_and_test_differ():
    a, b = paths("train", "crash", 2), paths("train", "crash", 2)
    assert all(np.array_equal(x.prices, y.prices) for x, y in zip(a, b, strict=True))
    test = paths("test", "crash", 2)
    assert not {p.seed for p in a} & {p.seed for p in test}
    gate = make_path("issuer-gate", 7)
    assert (gate.daily_exit == 0).any() and (gate.daily_exit > 0).any()
    with pytest.raises(ValueError, match="unknown family"):
        make_path("meteor", 1)


def test_the_breach_counters_catch_what_the_registry_refuses():
    params = local_params()
    ltv = params["lend.ltvBps.gold"]
    assert _registry_breaches(params, [("lend.ltvBps.gold", ltv.value - 1)], 10**9) == (0, 0)
    too_far = ltv.value - ltv.value * ltv.steward_step_bps // 10_000 - 1
    assert _registry_breaches(params, [("lend.ltvBps.gold", too_far)], 10**9) == (1, 0)
    thr = params["lend.liqThresholdBps.gold"].value
    # LTV up to the threshold is within the step only if the gap is small: shrink it first
    close = {**params, "lend.ltvBps.gold": replace(ltv, value=thr - 10)}
    assert _registry_breaches(close, [("lend.ltvBps.gold", thr)], 10**9) == (0, 1)
    recent = {**params, "lend.ltvBps.gold": replace(ltv, last_update=0)}
    assert _registry_breaches(recent, [("lend.ltvBps.gold", ltv.value - 1)], 3_600) == (1, 0)


@pytest.mark.parametrize("family", FAMILIES)
def test_the_steward_breaches_nothing_and_static_never_moves(family):
    path = make_path(family, 31)
    static = simulate(path, None)
    steward = simulate(path, StewardSettings())
    assert static.updates == 0 and set(static.ltv_path) == {7_000}
    assert steward.updates > 0
    assert steward.bound_breaches == 0 and steward.link_breaches == 0
    assert steward.gas_cost > 0 and steward.net_interest < steward.interest


def test_a_jump_allowance_walks_the_book_down_within_the_steps_before_a_crash():
    """`jump_fall` 0.3: from the first pass the steward lowers gold's LTV by its full step each
    cooldown (70 bps of the value per 3 days), breaching nothing and never above governance's
    7,000; the crash then leaves less bad debt than the static book's, and the lower threshold
    liquidates positions the DAO's threshold would have left alone (counted)."""
    path = make_path("crash", 2_002)
    static = simulate(path, None)
    steward = simulate(path, StewardSettings(loosen=False, z=6.0, kink_band_bps=10_000,
                                             jump_fall=0.3, risk_rate_gain=4.0))  # fmt: skip
    assert steward.bound_breaches == 0 and steward.link_breaches == 0
    assert max(steward.ltv_path) == 7_000 and min(steward.ltv_path) < 6_600
    assert list(steward.ltv_path[:6]) == [7_000, 7_000, 6_951, 6_951, 6_951, 6_903]
    assert (np.abs(np.diff(steward.ltv_path)) <= 49).all()  # at most one step (0.7 %) a day
    assert static.bad_debt > 0 and steward.bad_debt < static.bad_debt * 0.6
    assert static.early_liquidated == 0 < steward.early_liquidated


def test_the_daos_static_alternative_keeps_the_gap_and_never_moves():
    """The retuned static book (what a DAO vote before anyone borrowed would set): gold's LTV
    and slope1 as given, the threshold 500 bps above; nothing moves along a path and, with the
    lower LTV, a crash leaves less bad debt than local.yaml's book."""
    params = cli.static_book(6_500, 500)
    for name, value in (("lend.ltvBps.gold", 6_500), ("lend.liqThresholdBps.gold", 7_000),
                        ("lend.rate.slope1Bps", 500)):  # fmt: skip
        assert params[name].value == params[name].governance_value == value
    path = make_path("crash", 2_002)
    tight, loose = simulate(path, None, params=params), simulate(path, None)
    assert set(tight.ltv_path) == {6_500} and tight.updates == 0
    assert tight.bad_debt < loose.bad_debt and tight.early_liquidated == 0


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["--paths", "0"], "Error: --paths and --step-scale must be positive"),
        (["--out", "/nonexistent-dir/s.json"], "Error: --out /nonexistent-dir/s.json: no folder"),
        (["--paths", "1", "--elasticity", "-1"], "Error: --elasticity must not be negative"),
    ],
)
def test_bad_arguments_are_one_line(argv, line, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(line) and err.count("\n") == 1


def test_a_gates_bad_debt_sits_with_borrowers_who_never_repay():
    """With every borrower repaying down to its target as its collateral's value falls, a gate
    leaves no bad debt: the static book's bad debt under a gate is the passive borrowers', whom
    only a liquidation (a lower threshold) de-levers — an LTV cut or a rate premium cannot."""
    path = make_path("issuer-gate", 34)
    half = simulate(path, None)
    everyone = simulate(path, None, replace(Costs(), active_share=1.0))
    assert half.bad_debt > 0 and everyone.bad_debt == 0


LTV, THR = "lend.ltvBps.gold", "lend.liqThresholdBps.gold"
CHOSEN = StewardSettings(loosen=True, z=10.0, kink_band_bps=10_000, jump_fall=0.3,
                         risk_rate_gain=8.0, gate_holds_threshold=True)  # fmt: skip


def test_the_slow_paths_delay_is_local_yamls_governance():
    slow = SlowPath()
    assert slow.delay == (1 + 3 + 15) * 86_400  # voting delay + voting period + timelock delay
    assert slow.vote == (1 + 3) * 86_400


def test_a_proposal_is_refused_at_execution_as_the_registry_refuses_it():
    """Governance's rules at execution: bounds and its step from its own last value, its
    cooldown, and the links on the values after the whole batch."""
    params = local_params()
    later = 10**9
    assert _dao_refusal(params, [(LTV, 6_000), (THR, 6_750)], later) is None
    # 25 % of 7,000 is governance's step: 5,250 is the furthest one proposal may go
    assert _dao_refusal(params, [(LTV, 5_250)], later) is None
    assert _dao_refusal(params, [(LTV, 5_249)], later) == "bound"
    assert _dao_refusal(params, [(THR, 4_999)], later) == "bound"  # below its min
    # a threshold cut the live LTV does not follow breaks LTV < threshold
    assert _dao_refusal(params, [(THR, 7_100)], later) is None
    assert _dao_refusal(params, [(THR, 6_900)], later) == "link"  # the live LTV is 7,000
    walked = {**params, LTV: replace(params[LTV], value=6_800)}  # the steward's steps
    assert _dao_refusal(walked, [(THR, 6_900)], later) is None
    recent = {**params, LTV: replace(params[LTV], last_governance_update=later - HOUR)}
    assert _dao_refusal(recent, [(LTV, 6_000)], later) == "bound"  # its 1-day cooldown


def test_the_dao_executes_the_drafted_proposals_one_at_a_time_after_19_days():
    path = make_path("crash", 2_002)
    alone = simulate(path, CHOSEN)
    slow = simulate(path, CHOSEN, slow=SlowPath())
    assert alone.proposals == 0 and alone.dao_gas_cost == 0
    assert slow.proposals >= 2 and slow.executed >= 1
    assert slow.bound_breaches == slow.link_breaches == 0
    assert slow.refused_bound == slow.refused_link == 0
    assert (
        slow.executed + slow.rejected + slow.refused_bound + slow.refused_link
        == len(slow.dao_log)
        <= slow.proposals
        <= len(slow.dao_log) + 1
    )  # at most one in flight at the end
    for (drafted, resolved, how), nxt in zip(slow.dao_log, slow.dao_log[1:] + [None],
                                             strict=True):  # fmt: skip
        assert how == "executed" and resolved - drafted == 19 * 86_400
        if nxt is not None:
            assert nxt[0] >= resolved  # the next one drafted only after this one executed
    # every adopted proposal costs propose + votes + queue + execute, the one in flight less
    gas_usd = Costs().gas_price_gwei * 1e-9 * Costs().eth_price * 1e6
    expect = slow.proposals * SlowPath().vote_gas + slow.executed * SlowPath().enact_gas
    assert slow.dao_gas_cost == pytest.approx(expect * gas_usd)
    assert slow.net_interest == pytest.approx(slow.interest - slow.gas_cost - slow.dao_gas_cost)
    # the DAO's cuts take the LTV below anything the steward's steps reach in 120 days
    assert min(slow.ltv_path) < min(alone.ltv_path)
    assert slow.bad_debt < alone.bad_debt
    # early liquidations: those below the DAO's threshold of the hour are a part of them
    assert 0 < slow.early_beyond_dao <= slow.early_liquidated


def test_a_dao_voting_down_every_other_proposal_drafts_the_next_when_the_vote_ends():
    path = make_path("crash", 2_002)
    slow = simulate(path, CHOSEN, slow=SlowPath(adopt_every=2))
    hows = [how for _, _, how in slow.dao_log]
    assert hows[:4] == ["executed", "rejected", "executed", "rejected"]
    for drafted, resolved, how in slow.dao_log:
        assert resolved - drafted == (4 if how == "rejected" else 19) * 86_400
