"""The strategy agent and the backtest harness on markets the project never generated
(`tests/market_support.py`: its own shapes and seeds, not benchmarks/backtest/generate.py's).

Through the keeper's own entry point (`keepers.jobs.plan_rebalance`: strategy, bounds check,
receipt, replay), for the statistical and the learned strategy: an answer is a call inside every
DAO bound (caps, idle buffer, turnover; integer targets, idle the rest of 10,000 bps), a skip
with a known code, or a one-line `ProposalRefused` the pass reports; never another exception,
never a non-finite number, and a receipt that replays to the same targets. The simulator runs
the same paths with every policy: no exception, finite series, every breach reported (none
expected), and the backtest CLI reads such a path from a scenario file and exits 0.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.backtest.__main__ import main as backtest_main
from benchmarks.backtest.__main__ import strategy_config
from benchmarks.backtest.baselines import BASELINES
from benchmarks.backtest.keeper import KeeperStrategy
from benchmarks.backtest.metrics import path_metrics
from benchmarks.backtest.scenario import Scenarios, save
from benchmarks.backtest.simulate import Refused, default_gas, local_vault, simulate
from keepers.job_config import RebalancerConfig
from keepers.jobs import (
    RebalanceCall,
    RebalancerSnapshot,
    RebalanceSkip,
    SleeveSnapshot,
    plan_rebalance,
    strategy_inputs,
)
from keepers.math import BPS, WAD
from keepers.multicall import Batch, CallResult
from keepers.protocol import Protocol
from keepers.reads import read_allocation
from keepers.store import Store
from keepers.strategy import Bounds, min_turnover_bps, turnover_bps, violations, weights_bps
from keepers.strategy.kit import BUILTIN, ProposalRefused
from keepers.strategy.rationale import decode, is_canonical
from keepers.strategy.replay import replay
from tests.market_support import (
    DAY,
    T0,
    _walk,
    path_scenarios,
    snapshot_scenarios,
    wad,
)

KEEPER = RebalancerConfig().strategy_params()
LEARNED = "keepers.strategy.learned:decide"
STRATEGIES = {"statistical": BUILTIN, "learned": LEARNED}
CODES = {"empty", "infeasible", "no-change", "base-fee", "min-change", "gas"}
SEED = 20_261_206
SNAPSHOTS = {s.name: s.snapshot for s in snapshot_scenarios(SEED)}
PATHS = {s.name: s for s in path_scenarios(SEED)}
# Generous: a decision here takes well under a second of CPU (the strategy runs in a thread of
# this process, so the process's CPU time counts it, and a busy machine's waits do not); the
# keeper's limit for an operator's strategy is 60 s (rebalancer.strategy_time_limit_seconds).
SECONDS = 20.0


def _reals(value) -> list[str]:
    """Every fixed-point string in a decoded document."""
    if isinstance(value, dict):
        return [r for v in value.values() for r in _reals(v)]
    if isinstance(value, list):
        return [r for v in value for r in _reals(v)]
    return (
        [value]
        if isinstance(value, str) and value.replace("-", "").replace(".", "").isdigit()
        else []
    )


def check_decision(snap: RebalancerSnapshot, entry: str) -> str:
    """Run the keeper's entry point on `snap` and assert every property in the module
    docstring; returns the outcome in a word (for the report)."""
    started = time.process_time()
    try:
        result = plan_rebalance(snap, KEEPER, strategy=entry, time_limit=60.0)
    except ProposalRefused as err:  # the pass reports it and sends nothing
        assert "\n" not in str(err) and str(err), err
        return "refused"
    assert time.process_time() - started < SECONDS
    inputs = strategy_inputs(snap)
    bounds = Bounds(inputs.caps_bps, inputs.idle_buffer_bps, inputs.max_turnover_bps)
    if isinstance(result, RebalanceSkip):
        assert result.code in CODES, result
        outcome = f"skip:{result.code}"
    else:
        assert isinstance(result, RebalanceCall)
        target = result.target_bps
        assert all(type(t) is int and t >= 0 for t in target), target
        assert violations(target, inputs.current_bps, bounds) == (), target
        assert sum(target) <= BPS - inputs.idle_buffer_bps
        # the limit, or what meeting the caps and the buffer needs (RebalanceModule._checkBounds)
        need = min_turnover_bps(inputs.current_bps, bounds)
        assert turnover_bps(inputs.current_bps, target) <= max(inputs.max_turnover_bps, need)
        assert math.isfinite(result.decision.expected_gain)
        outcome = "call"
    if result.rationale is not None:
        assert is_canonical(result.rationale)
        doc = decode(result.rationale)
        assert all(math.isfinite(float(r)) for r in _reals(doc))
        again = replay(result.rationale)
        assert again.ok, again.differences
        if isinstance(result, RebalanceCall):
            assert again.replayed_target == result.target_bps
    return outcome


@pytest.mark.parametrize("entry", sorted(STRATEGIES), ids=str)
@pytest.mark.parametrize("name", sorted(SNAPSHOTS))
def test_an_unseen_market_gets_a_bounded_replayable_answer(name, entry):
    check_decision(SNAPSHOTS[name], STRATEGIES[entry])


@settings(max_examples=12, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(0, len(SNAPSHOTS) - 1),
    st.sampled_from(sorted(STRATEGIES)),
)
def test_the_same_shapes_from_other_seeds(seed, which, entry):
    check_decision(snapshot_scenarios(seed)[which].snapshot, STRATEGIES[entry])


def test_only_one_allocation_legal_is_that_allocation_or_nothing():
    """Turnover limit 0: the only legal target is the current weights (staying put is no
    action); every cap 0 with the turnover exactly the cut: the only legal target is all idle."""
    for entry in STRATEGIES.values():
        snap = SNAPSHOTS["only one allocation legal: turnover limit 0"]
        assert isinstance(plan_rebalance(snap, KEEPER, strategy=entry), RebalanceSkip)
        snap = SNAPSHOTS["only one allocation legal: caps 0, turnover exactly the cut"]
        call = plan_rebalance(snap, KEEPER, strategy=entry)
        assert isinstance(call, RebalanceCall) and call.target_bps == (0, 0)


def test_duplicate_readings_in_the_keepers_store_reach_the_strategy_once(tmp_path):
    """Passes at the same block timestamp, or a reading repeated with another value (a reorg),
    are stored once per timestamp: the history the strategy gets is strictly increasing."""
    levels = _walk(np.random.default_rng(5), 60, 0.05, 0.05)
    with Store(tmp_path / "k.sqlite") as store:
        for d, v in enumerate(wad(levels)):
            for repeat in range(3 if d % 7 == 0 else 1):
                store.add_index_sample("u0", T0 + d * DAY, v + repeat, 100 + d)
                store.add_index_sample("u1", T0 + d * DAY, wad(np.ones(1))[0], 100 + d)
        history = {n: store.index_history(n, 2_000) for n in ("u0", "u1")}
    assert len(history["u0"]) == 61
    nav = 10**13
    sleeves = tuple(
        SleeveSnapshot(n, nav * 4000 // BPS, 6000, tuple(t for t, _ in h), tuple(v for _, v in h))
        for n, h in history.items()
    )
    snap = RebalancerSnapshot(
        T0 + 60 * DAY, nav, 6, sleeves, 300, 1500, SNAPSHOTS["one sleeve only"].gas
    )
    for entry in STRATEGIES.values():
        check_decision(snap, entry)


class _Node:
    """A vault at one block as `read_allocation` sees it, answering each call by its label."""

    def __init__(self, values: dict[str, object]) -> None:
        self.values = values

    def read(self, calls, block="latest") -> Batch:
        results = tuple(CallResult(c, True, self.values[c.label]) for c in calls)
        return Batch(7, T0, results)


class _Contract:
    def __init__(self, address: str) -> None:
        self.address = address

    def __getattr__(self, name: str) -> object:
        return name  # a method handle: Call only keeps it (every call here has a label)


def _locked_vault(idle: int, held: tuple[int, int], locked: int) -> tuple[_Node, Protocol]:
    """Two sleeves holding `held`, `idle` cash, `locked` of a donation still locking."""
    names = ("u0", "u1")
    addresses = [f"0x{i + 1:040x}" for i in range(2)]
    sleeves = {n: SimpleNamespace(address=a, **{m: m for m in ("totalAssets", "returnIndexStatus")})
               for n, a in zip(names, addresses, strict=True)}  # fmt: skip
    values: dict[str, object] = {
        "totalAssets()": idle + sum(held) - locked,  # RWAVault.totalAssets: locked left out
        "vault.idleBufferBps": 300,
        "vault.maxTurnoverBps": 1_500,
        "nextRebalanceAt()": 0,
        "automationPaused()": False,
        "isShutdown()": False,
        "totalSupply()": 10**24,
        "sleeveCount()": 2,
        "idle()": idle,
    }
    for i, n in enumerate(names):
        values[f"{n}.totalAssets()"] = held[i]
        values[f"vault.maxSleeveBps.{n}"] = 6_000
        values[f"{n}.returnIndexStatus()"] = (WAD, True)
        values[f"sleeveAt({i})"] = SimpleNamespace(sleeve=addresses[i])
    protocol = SimpleNamespace(vault=_Contract("0x" + "aa" * 20),
                               registry=_Contract("0x" + "bb" * 20), sleeves=sleeves)  # fmt: skip
    return _Node(values), protocol


def test_the_keepers_weights_are_the_vaults_while_a_donation_is_locked():
    """`totalAssets()` is idle + Σ sleeves less the donations still locked; the vault weighs a
    rebalance over idle + Σ sleeves (`RebalanceModule.rebalance`: `_freshHoldings`, `weights`).
    A slash or any donation (`donate` is open to anyone) locks for `vault.unlockPeriod` (7 days);
    once the rebalancer invests idle, idle can be below what is locked. The keeper used to
    divide by `totalAssets()`: weights above the vault's, summing above 10,000 bps, and every
    pass raised ValueError (not a one-line refusal) until the lock ran out; risk-off included."""
    idle, held, locked = 20_000 * 10**6, (480_000 * 10**6, 480_000 * 10**6), 60_000 * 10**6
    node, protocol = _locked_vault(idle, held, locked)
    alloc = read_allocation(node, protocol)
    vaults = tuple(h * BPS // (idle + sum(held)) for h in held)  # RebalanceModule.weights
    assert weights_bps([s.held for s in alloc.sleeves], alloc.rebalance_nav) == vaults
    assert alloc.nav == idle + sum(held) - locked  # the share price still reads totalAssets()
    assert sum(weights_bps([s.held for s in alloc.sleeves], alloc.nav)) > BPS  # what it read
    stamps = tuple(T0 + d * DAY for d in range(91))
    levels = wad(_walk(np.random.default_rng(3), 90, 0.05, 0.01))
    snap = RebalancerSnapshot(
        alloc.timestamp, alloc.rebalance_nav, 6,
        tuple(SleeveSnapshot(s.name, s.held, s.cap_bps, stamps, levels) for s in alloc.sleeves),
        alloc.idle_buffer_bps, alloc.max_turnover_bps, SNAPSHOTS["one sleeve only"].gas,
    )  # fmt: skip
    assert strategy_inputs(snap).current_bps == vaults
    for entry in STRATEGIES.values():
        check_decision(snap, entry)


# ---------------------------------------------------------------------------- the simulator


class Recorder:
    """A policy passed through, every proposal kept with the day's weights and time, so that
    the breaches can be counted again independently of the simulator."""

    def __init__(self, inner) -> None:
        self.inner, self.name, self.seen = inner, inner.name, []

    def target(self, view):
        target = self.inner.target(view)
        self.seen.append((view.current_bps, view.timestamp, target))
        return target


def recount(seen, vault) -> tuple[int, int]:
    """(rebalances, breaches) by the contract's rules (`_checkBounds`, the cooldown)."""
    rebalances = breaches = 0
    last = None
    for current, when, target in seen:
        if isinstance(target, Refused):  # the kit refused it: a breach, as the simulator counts
            breaches += 1
            continue
        if target is None or turnover_bps(current, target) == 0:
            continue
        early = last is not None and when < last + vault.cooldown_seconds
        if early or violations(tuple(target), current, vault.bounds):
            breaches += 1
        else:
            rebalances, last = rebalances + 1, when
    return rebalances, breaches


def _policies(path, vault):
    cfg = strategy_config({})
    yield KeeperStrategy(path, vault, cfg)
    yield KeeperStrategy(path, vault, cfg.model_copy(update={"strategy": LEARNED}), name="learned")
    for make in BASELINES.values():
        yield make(path, vault)


@pytest.mark.parametrize("name", sorted(PATHS))
def test_the_simulator_runs_every_policy_on_an_unseen_path_and_reports_breaches(name):
    scenario = PATHS[name]
    vault = scenario.vault(local_vault())
    gas = default_gas(vault)
    for inner in _policies(scenario.path, vault):
        policy = Recorder(inner)
        run = simulate(scenario.path, vault, policy, gas)
        assert (run.rebalances, run.breaches) == recount(policy.seen, vault), policy.name
        assert (run.breaches == 0) == (run.breach_reasons == ()), run.breach_reasons
        if policy.name in ("strategy", "learned"):
            assert run.breaches == 0, (policy.name, run.breach_reasons)
        assert all(math.isfinite(v) for v in run.net_nav), policy.name
        assert all(math.isfinite(w) and w >= -1e-9 for ws in run.weights for w in ws)
        metrics = path_metrics(run)
        for field in ("total_return", "annual_return", "sharpe", "max_drawdown", "turnover"):
            value = getattr(metrics, field)
            assert isinstance(value, float) and not math.isnan(value), (policy.name, field, value)


def test_the_backtest_cli_runs_an_unseen_scenario_file(tmp_path):
    """A scenario file with a price gone to 1e-9 and back, and every sleeve wiped out: the
    documented CLI reads it, runs every policy and writes its results (exit 0, no breach of the
    strategy's)."""
    paths = [PATHS["gold to 1e-9 and back"].path, PATHS["all four to 1e-9"].path]
    paths = tuple(replace(p, id=i) for i, p in enumerate(paths))
    source = tmp_path / "unseen.json"
    save(Scenarios(SEED, {"generator": "tests/market_support.py"}, paths), source)
    out = tmp_path / "results.json"
    code = backtest_main(
        ["--scenarios", str(source), "--out", str(out), "--no-chart", "--jobs", "1"]
    )
    assert code == 0
    doc = json.loads(out.read_text())
    assert doc["summary"]["strategy"]["breaches"]["mean"] == 0


class _Reckless:
    """Proposes every other day: 9,000 bps in gold (over its cap), then a legal 100 bps move."""

    name = "reckless"

    def target(self, view):
        current = view.current_bps
        if view.k % 2:
            return (0, 9_000, 0, 0)
        return (current[0] + 100, *current[1:]) if sum(current) <= 9_000 else None


def test_the_simulator_counts_a_breach_as_the_contract_would_refuse_it():
    """The recount above can disagree: a policy over a cap, or inside the cooldown, is a breach
    in both, and its rebalance does not happen."""
    scenario = PATHS["all four falling together"]
    vault = local_vault()
    policy = Recorder(_Reckless())
    run = simulate(scenario.path, vault, policy, default_gas(vault))
    rebalances, breaches = recount(policy.seen, vault)
    assert breaches >= scenario.path.days // 2 and rebalances >= 1
    assert (run.rebalances, run.breaches) == (rebalances, breaches)
    assert any("above ceiling" in r for r in run.breach_reasons)
