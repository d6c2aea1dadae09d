"""An operator's strategy runs under the keeper's time limit (`keepers.strategy.kit._call`).

The rebalancer's pass holds the keeper's lock, and the block jobs (liquidator, sentinel, settler,
evaluator) wait on it: a strategy that never returned used to stop them all. The strategies here
block on an event the test sets, so what they do never depends on how fast the machine is: the
one that outruns its limit is still blocked when the limit ends, however loaded the cores are.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from keepers.job_config import RebalancerConfig
from keepers.jobs import RebalanceSkip, plan_rebalance
from keepers.jobs.rebalancer import RebalancerSnapshot, SleeveSnapshot
from keepers.strategy import NoAction, kit
from keepers.strategy.kit import Proposal, ProposalRefused, decide_with
from tests.unit.test_strategy import GAS, NAV, T0
from tests.unit.test_strategy_extremes import DAY, FLAT, KEEPER, vault

RELEASE = threading.Event()
CALLS: list[str] = []
GENEROUS = 600.0  # seconds: a strategy that returns at once is never near it


def stuck(inputs) -> Proposal:
    """Never returns until the test releases it."""
    CALLS.append("stuck")
    RELEASE.wait()
    return Proposal(inputs.current_bps, "late")


def stay(inputs) -> Proposal:
    CALLS.append("stay")
    return Proposal(inputs.current_bps, "stay")


def fails(inputs) -> Proposal:
    raise RuntimeError("model file missing\nsecond line")


def stuck_on_replay(inputs) -> Proposal:
    """Moves 10 % into the second sleeve at once; blocks the second time it is asked (the
    keeper's replay of its own receipt)."""
    CALLS.append("move")
    if CALLS.count("move") > 1:
        RELEASE.wait()
    target = list(inputs.current_bps)
    target[1] += 1000
    return Proposal(tuple(target), "move")


@pytest.fixture(autouse=True)
def released() -> Iterator[None]:
    """Every test starts with no call left running and leaves none behind."""
    RELEASE.clear()
    CALLS.clear()
    yield
    RELEASE.set()
    late = kit._overdue
    if late is not None:
        late.join(GENEROUS)
        assert not late.is_alive()
    kit._overdue = None


def test_a_strategy_that_does_not_return_in_time_is_refused_and_its_late_answer_never_used():
    inputs = vault(FLAT)
    with pytest.raises(ProposalRefused, match=r"did not return within 0\.05 s"):
        decide_with(f"{__name__}:stuck", inputs, KEEPER, time_limit=0.05)
    # While it runs, every proposal is refused: a strategy that hangs holds one thread at most.
    with pytest.raises(ProposalRefused, match="has not returned yet"):
        decide_with(f"{__name__}:stay", inputs, KEEPER, time_limit=GENEROUS)
    assert CALLS == ["stuck"]
    RELEASE.set()
    kit._overdue.join(GENEROUS)
    # Once it has returned, the next pass runs as before.
    outcome = decide_with(f"{__name__}:stay", inputs, KEEPER, time_limit=GENEROUS)
    assert isinstance(outcome, NoAction) and outcome.code == "min-change"
    assert CALLS == ["stuck", "stay"]


def test_a_strategy_that_raises_under_the_limit_is_refused_in_one_line():
    with pytest.raises(ProposalRefused) as refused:
        decide_with(f"{__name__}:fails", vault(FLAT), KEEPER, time_limit=GENEROUS)
    assert str(refused.value) == (
        f"strategy '{__name__}:fails' raised RuntimeError: model file missing"
    )


def test_the_replay_of_a_decision_is_under_the_limit_too():
    stamps = tuple(T0 + d * DAY for d in range(61))
    flat = tuple(10**18 + d * 10**14 for d in range(61))
    snapshot = RebalancerSnapshot(
        timestamp=stamps[-1], nav=NAV, asset_decimals=6, idle_buffer_bps=500,
        max_turnover_bps=2000, gas=GAS,
        sleeves=(SleeveSnapshot("tbill", NAV * 3 // 10, 6000, stamps, flat),
                 SleeveSnapshot("gold", NAV * 3 // 10, 6000, stamps, flat)),
    )  # fmt: skip
    # One limit for both runs: the proposal, which returns at once, must be inside it however
    # loaded the machine (0.05 s was not: a thread held off the cores for longer timed it out
    # too), and the replay, blocked, outruns it whatever its length.
    with pytest.raises(ProposalRefused, match=r"did not return within 5 s"):
        plan_rebalance(snapshot, KEEPER, strategy=f"{__name__}:stuck_on_replay", time_limit=5)
    assert CALLS == ["move", "move"]  # the proposal returned; its replay did not
    RELEASE.set()
    kit._overdue.join(GENEROUS)
    kit._overdue = None
    CALLS.clear()
    call = plan_rebalance(snapshot, KEEPER, strategy=f"{__name__}:stay", time_limit=GENEROUS)
    assert isinstance(call, RebalanceSkip) and call.code == "min-change"


def test_the_keeper_setting_is_bounded():
    assert RebalancerConfig().strategy_time_limit_seconds == 60.0
    for bad in (0, -1, 3_601):
        with pytest.raises(ValueError, match="strategy_time_limit_seconds"):
            RebalancerConfig(strategy_time_limit_seconds=bad)


def test_verify_decision_replays_an_operators_strategy_under_the_limit(monkeypatch):
    """Found in an outside review (kit2): the keeper ran an operator's strategy under
    `rebalancer.strategy_time_limit_seconds`, but `verify-decision --replay` re-ran the strategy
    a receipt names with no limit at all: a strategy (or any callable a published receipt names)
    that does not return held the verifier for ever. The replay now runs under the same limit:
    one line, the replay not run, no verification (exit 4). (The verifier trusts the strategy
    here, `--strategy`; one it does not trust is never called: test_replay_allow_list.py.)"""
    from keepers import verify
    from keepers.strategy.kit import trusted_strategies

    inputs = vault(FLAT)
    decision = decide_with(f"{__name__}:stuck_on_replay", inputs, KEEPER)
    assert CALLS == ["move"]  # the first call returned: its receipt is the decision's
    body = decision.rationale
    digest = "0x" + decision.rationale_hash.hex()
    checked = verify.Verification(0, "0x" + "11" * 20, 20, digest, "", "store", digest, True,
                                  "0x" + "ab" * 32)  # fmt: skip
    monkeypatch.setattr(verify, "verify_decision", lambda *args, **kwargs: checked)
    monkeypatch.setattr(verify, "find_document", lambda *args: (body, "store"))

    trusted = trusted_strategies(named=[f"{__name__}:stuck_on_replay"])
    check = verify.replay_decision(None, None, 0, time_limit=0.05, trusted=trusted)
    assert CALLS == ["move", "move"]  # asked again; it blocks and the verifier does not wait
    assert not check.ok and check.replay is None
    assert check.note == (
        f"cannot replay here: strategy '{__name__}:stuck_on_replay' did not return within 0.05 s "
        f"(rebalancer.strategy_time_limit_seconds)"
    )


IDENTITY_MODULE = """
from keepers.strategy.kit import Proposal
from tests.unit.test_strategy_time_limit import RELEASE


def strategy_identity_extra():
    {body}


def decide(inputs):
    target = list(inputs.current_bps)
    target[1] += 1000
    return Proposal(tuple(target), "move")
"""


@pytest.fixture
def identity_module(tmp_path, monkeypatch):
    """A strategy module `name` whose `strategy_identity_extra` runs `body`."""
    import sys

    monkeypatch.syspath_prepend(str(tmp_path))

    def write(name: str, body: str) -> str:
        (tmp_path / f"{name}.py").write_text(IDENTITY_MODULE.format(body=body))
        monkeypatch.delitem(sys.modules, name, raising=False)
        return f"{name}:decide"

    return write


def test_a_strategy_whose_identity_raises_is_refused_in_one_line(identity_module):
    """Found in an outside review (kit2): the module's `strategy_identity_extra` (the operator's
    code: a model's weights hash) ran outside the kit's guard, so when it raised (a weights file
    gone) the exception escaped `decide_with` raw: a traceback out of a backtest, a keeper
    pass failing as an error instead of a refused proposal."""
    entry = identity_module("identity_raises", 'raise RuntimeError("weights gone\\nmore")')
    for limit in (None, GENEROUS):
        with pytest.raises(ProposalRefused) as refused:
            decide_with(entry, vault(FLAT), KEEPER, time_limit=limit)
        assert str(refused.value) == (
            f"strategy {entry!r}: its identity (strategy_identity_extra) raised RuntimeError: "
            f"weights gone"
        )


def test_a_strategy_whose_identity_hangs_is_refused_under_the_limit(identity_module):
    """Found in an outside review (kit2): the identity was computed after the strategy returned,
    outside its time limit: a `strategy_identity_extra` that never returned (a weights hash
    fetched from a node that does not answer) held the keeper's pass, and the liquidator and
    the sentinel waiting on it, for ever."""
    entry = identity_module("identity_hangs", "RELEASE.wait()\n    return 'late'")
    with pytest.raises(ProposalRefused, match=r"did not return within 0\.05 s"):
        decide_with(entry, vault(FLAT), KEEPER, time_limit=0.05)
    RELEASE.set()
    kit._overdue.join(GENEROUS)
    decision = decide_with(entry, vault(FLAT), KEEPER, time_limit=GENEROUS)
    assert decision.target_bps == (3000, 4000)  # once it returns, the next pass decides


def test_the_statistical_strategys_replay_is_under_the_limit_too(monkeypatch):
    """Found in an outside review (verify9): an operator's strategy was replayed within the
    limit, the statistical one (the default, and every receipt naming it or no strategy at
    all) without any: a receipt's inputs and settings are the agent's, and the optimiser's work
    grows as the cube of the sleeves (800: 38 s and 380 MB, 2,000: ten minutes). Here it is
    held on an event, so the outcome never depends on the machine's speed; it now runs within
    the verifier's `rebalancer.strategy_time_limit_seconds`: one line, no verification."""
    from keepers import verify
    from keepers.strategy import decide, kit
    from keepers.strategy import replay as replay_module

    body = decide(vault(FLAT), KEEPER).rationale  # a receipt of the statistical strategy

    def held(inputs, params):
        CALLS.append("statistical")
        RELEASE.wait(5)  # bounded: on a verifier without the limit, the test fails, not hangs
        return decide(inputs, params)

    monkeypatch.setattr(kit, "decide", held)
    monkeypatch.setattr(replay_module, "decide", held, raising=False)  # where it was called
    with pytest.raises(replay_module.StrategyUnavailable) as refused:
        replay_module.replay(body, time_limit=0.05)
    assert str(refused.value) == (
        "strategy 'keepers.strategy:decide' did not return within 0.05 s "
        "(rebalancer.strategy_time_limit_seconds)"
    )
    RELEASE.set()
    kit._overdue.join(GENEROUS)
    kit._overdue = None
    RELEASE.clear()

    digest = "0x" + kit.rationale_hash(body).hex()
    checked = verify.Verification(0, "0x" + "11" * 20, 20, digest, "", "store", digest, True,
                                  "0x" + "ab" * 32)  # fmt: skip
    monkeypatch.setattr(verify, "verify_decision", lambda *args, **kwargs: checked)
    monkeypatch.setattr(verify, "find_document", lambda *args: (body, "store"))
    check = verify.replay_decision(None, None, 0, time_limit=0.05)
    assert not check.ok and check.replay is None
    assert check.note == (
        "cannot replay here: strategy 'keepers.strategy:decide' did not return within 0.05 s "
        "(rebalancer.strategy_time_limit_seconds)"
    )
    assert CALLS == ["statistical", "statistical"]
