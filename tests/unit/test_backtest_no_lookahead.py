"""The backtest cannot leak the future into a strategy (an outside review of the harness, kit2).

`benchmarks.backtest.keeper.KeeperStrategy` builds the keeper's snapshot of day `k` from the
whole `MarketPath`; a strategy plugged in through the kit (`rebalancer.strategy`) gets only the
`StrategyInputs` made from it. A "cheating" strategy here records everything it is given and
tries to read the future from it: on a path whose days after `k` are replaced by another market
(a boom where there was a crash, frozen issuers, a default wave, other gas, other flows), what it
is given on every day up to `k` is the very same, so nothing it does can depend on what comes
after. The same holds for the built-in and the learned strategies' receipts (every input they
decided on is in them). What this cannot show: a strategy runs in the simulator's process, and
Python code can reach any object there (the garbage collector holds the path); the kit does not
sandbox an operator's code — a backtest is as honest as the strategy module it runs.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from benchmarks.backtest.families import generate_family
from benchmarks.backtest.keeper import KeeperStrategy
from benchmarks.backtest.scenario import MarketPath
from benchmarks.backtest.simulate import T0, View, default_gas, local_vault, simulate
from keepers.config import RebalancerConfig
from keepers.jobs import plan_rebalance
from keepers.jobs.rebalancer import strategy_inputs
from keepers.math import BPS
from keepers.strategy.kit import Proposal

DAY = 86_400
SEEN: list = []
FUTURE: list[int] = []  # readings dated after the day the strategy was asked on


def cheat(inputs) -> Proposal:
    """Records what it is given and any reading dated after its own timestamp, and puts up to
    half the turnover limit into the sleeve whose latest reading rose most (so the vault trades
    and the weights it sees depend on its own past)."""
    SEEN.append(inputs)
    FUTURE.extend(t for s in inputs.sleeves for t in s.history.timestamps if t > inputs.timestamp)
    rises = []
    for s in inputs.sleeves:
        idx = s.history.indices
        rises.append(idx[-1] / idx[-2] if len(idx) > 1 else 1.0)
    best = max(range(len(rises)), key=lambda i: (rises[i], -i))
    target = list(inputs.current_bps)
    free = BPS - inputs.idle_buffer_bps - sum(target)
    room = min(inputs.caps_bps[best] - target[best], free, inputs.max_turnover_bps // 2)
    target[best] += max(room, 0)
    return Proposal(tuple(target), "cheat")


def another_future(path: MarketPath, k: int) -> MarketPath:
    """`path` up to day `k` as it is; after it, another market: every sleeve's index tripled or
    cut to a fifth on alternate days, other yields, utilization and health, every issuer frozen,
    a stress regime, a default and a gold crash each day, ten times the gas, a run of deposits
    and redemptions."""
    n = path.length
    after = range(k + 1, n)

    def series(values: tuple[float, ...], f) -> tuple[float, ...]:
        return tuple(values[: k + 1]) + tuple(f(j, values[j]) for j in after)

    def upto(items: tuple, extra: tuple) -> tuple:
        return tuple(x for x in items if x[0] <= k) + extra

    return replace(
        path,
        nav={s: series(v, lambda j, x: x * (3.0 if j % 2 else 0.2)) for s, v in path.nav.items()},
        apy={s: series(v, lambda j, x: x + 0.5) for s, v in path.apy.items()},
        frozen={
            s: tuple((a, min(b, k + 1)) for a, b in v if a <= k) + ((k + 1, n),)
            for s, v in path.frozen.items()
        },  # fmt: skip
        utilization=series(path.utilization, lambda j, x: 0.99),
        health=series(path.health, lambda j, x: 0.5),
        defaults=upto(path.defaults, tuple((j, 0.02) for j in after)),
        crashes=upto(path.crashes, tuple((j, 0.3) for j in after)),
        stress=tuple((a, min(b, k + 1)) for a, b in path.stress if a <= k) + ((k + 1, n),),
        base_fee_gwei=series(path.base_fee_gwei, lambda j, x: x * 10),
        flows=upto(path.flows, tuple((j, 0.5 if j % 2 else -0.5) for j in after)),
        events=upto(path.events, tuple((j, "gold", "crash", 0.3) for j in after)),
    )


FAMILIES = ("depositor_churn", "joint_freeze_run", "default_wave")


@pytest.mark.parametrize("name", FAMILIES)
def test_a_cheating_strategy_sees_the_same_days_whatever_the_future(name):
    path = generate_family(name, 1, 7, days=30).paths[0]
    k = path.history_days + 20
    other = another_future(path, k)
    assert other.nav != path.nav and other.length == path.length
    vault, gas = local_vault(), default_gas(local_vault())
    config = RebalancerConfig(strategy=f"{__name__}:cheat")
    seen = []
    for p in (path, other):
        SEEN.clear()
        FUTURE.clear()
        run = simulate(p, vault, KeeperStrategy(p, vault, config), gas)
        seen.append([i for i in SEEN if i.timestamp <= T0 + k * DAY])
        assert run.rebalances > 0  # it traded: what it saw depends on its own past too
        assert FUTURE == []
    ours, theirs = seen
    days = range(path.history_days + 1, k + 1)
    assert sorted({i.timestamp for i in ours}) == [T0 + d * DAY for d in days]  # every day
    # (twice on a day it moves: the keeper replays its own receipt before it plans a send)
    assert ours == theirs  # not one reading, weight, cap, book or gas price differs


@pytest.mark.parametrize("entry", ["keepers.strategy:decide", "keepers.strategy.learned:decide"])
@pytest.mark.parametrize("name", FAMILIES)
def test_the_shipped_strategies_decide_the_same_whatever_the_future(name, entry):
    path = generate_family(name, 1, 7, days=30).paths[0]
    vault, gas = local_vault(), default_gas(local_vault())
    config = RebalancerConfig(strategy=entry)
    held = tuple(vault.deposit * c // (2 * BPS) for c in vault.caps_bps)
    nav = vault.deposit
    for k in (path.history_days + 1, path.history_days + 15, path.history_days + 30):
        other = another_future(path, k)
        documents = []
        for p in (path, other):
            keeper = KeeperStrategy(p, vault, config)
            view = View(p, k, vault, held, nav, gas.market(p.base_fee_gwei[k]), None)
            snapshot = keeper.snapshot(view)
            assert max(strategy_inputs(snapshot).sleeves[0].history.timestamps) == view.timestamp
            call = plan_rebalance(snapshot, keeper.params, strategy=entry)
            documents.append(call.decision.rationale if hasattr(call, "decision") else call)
        assert documents[0] == documents[1], (name, entry, k)
