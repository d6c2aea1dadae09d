"""Trading costs in the backtest (benchmarks/backtest/costs.py): every policy pays each sleeve's
cost on the value it moves through that sleeve, in the vault's NAV; a policy that never trades
pays nothing; the cost is linear in what is moved; forced sales for redeeming depositors pay it
too; the setting is parsed in one line."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.backtest import __main__ as cli
from benchmarks.backtest.baselines import BASELINES
from benchmarks.backtest.costs import TRADING_COST_BPS, default_costs, parse_costs
from benchmarks.backtest.flows import Depositors
from benchmarks.backtest.generate import SLEEVES, GeneratorParams, generate
from benchmarks.backtest.metrics import path_metrics
from benchmarks.backtest.simulate import Vault, default_gas, execute, local_vault, simulate
from tests.benchmarks.test_backtest import Fixed, calm_path

NAV = 10e12  # the local vault's 10M deposit, in asset units
bps = st.floats(0.0, 200.0, allow_nan=False)


def with_costs(*costs: float) -> Vault:
    return replace(local_vault(), trading_cost_bps=tuple(costs))


def test_the_local_vault_carries_the_documented_table() -> None:
    vault = local_vault()
    assert vault.trading_cost_bps == tuple(TRADING_COST_BPS[s] for s in SLEEVES)
    assert vault.trading_cost_bps == (2.0, 20.0, 10.0, 0.0)
    assert [vault.cost(i) for i in range(4)] == [0.0002, 0.002, 0.001, 0.0]
    assert replace(vault, trading_cost_bps=()).cost(1) == 0.0


@given(costs=st.tuples(bps, bps, bps, bps))
@settings(max_examples=25, deadline=None)
def test_a_policy_that_never_trades_pays_nothing(costs: tuple[float, ...]) -> None:
    vault = with_costs(*costs)
    run = simulate(calm_path(), vault, Fixed(), default_gas(vault))
    free = simulate(calm_path(), with_costs(0, 0, 0, 0), Fixed(), default_gas(vault))
    assert run.trading_cost == 0.0 and run.turnover == 0.0
    assert run.net_nav == free.net_nav


@given(
    target=st.tuples(*(st.integers(0, 2_000) for _ in range(2))).map(
        lambda t: (t[0], t[1] // 4, 0, 0)
    ),
    cost=bps,
    scale=st.floats(0.0, 5.0, allow_nan=False),
)
@settings(max_examples=40, deadline=None)
def test_cost_is_linear_in_the_value_moved(
    target: tuple[int, ...], cost: float, scale: float
) -> None:
    """From idle into sleeves: each sleeve pays its cost on what it was bought for and holds
    the rest; the cost scales with the rate and equals `rate × turnover × NAV` when every
    sleeve costs the same."""
    vault = with_costs(cost, cost, cost, cost)
    held, idle, paid = execute(calm_path(), vault, 10, [0.0] * 4, NAV, target)
    bought = [NAV * t / 1e4 for t in target]
    assert paid == pytest.approx(sum(bought) * cost / 1e4, rel=1e-12, abs=1e-6)
    assert held == pytest.approx([b * (1 - cost / 1e4) for b in bought], rel=1e-12)
    assert idle + sum(held) + paid == pytest.approx(NAV, rel=1e-12)
    _, _, scaled = execute(
        calm_path(), with_costs(*(cost * scale,) * 4), 10, [0.0] * 4, NAV, target
    )
    assert scaled == pytest.approx(paid * scale, rel=1e-9, abs=1e-6)
    run = simulate(calm_path(), vault, Fixed(target), default_gas(vault))
    nav_then = NAV  # idle earns nothing: the vault is worth its deposit on the first day
    assert run.trading_cost == pytest.approx(cost / 1e4 * run.turnover * nav_then, rel=1e-9)


def test_each_sleeve_pays_its_own_cost_on_sales_and_purchases() -> None:
    vault = with_costs(2, 20, 10, 0)
    # sell 1M of gold (20 bps): idle gets 0.998M; tbill (2 bps) is bought with what idle holds
    # above its 40 % target (0.998M, not the 1M asked); lending unchanged
    held = [2e12, 2e12, 0.0, 2e12]
    after, idle, paid = execute(calm_path(), vault, 10, held, 4e12, (3_000, 1_000, 0, 2_000))
    assert after[1] == pytest.approx(1e12) and after[3] == pytest.approx(2e12)
    assert after[0] == pytest.approx(2e12 + 0.998e12 * (1 - 0.0002))
    assert paid == pytest.approx(1e12 * 0.002 + 0.998e12 * 0.0002)
    assert idle == pytest.approx(4e12)


def test_turnover_counts_the_value_moved_whatever_the_cost() -> None:
    targets = ((1_000, 500, 300, 0), (500, 1_000, 300, 200), (500, 500, 300, 0))
    gas = default_gas(local_vault())
    free = simulate(calm_path(), with_costs(0, 0, 0, 0), Fixed(*targets), gas)
    dear = simulate(calm_path(), with_costs(50, 50, 50, 50), Fixed(*targets), gas)
    assert dear.rebalances == free.rebalances == 3
    assert dear.turnover == pytest.approx(free.turnover, rel=2e-3)
    assert free.trading_cost == 0.0 and dear.trading_cost > 0.0
    # the cost stays in the vault: gross NAV is lower by at least what was paid
    assert free.gross_end - dear.gross_end >= dear.trading_cost * 0.999


def test_every_policy_pays_the_same_table_the_hindsight_mix_too() -> None:
    vault = local_vault()
    gas = default_gas(vault)
    path = generate(1, 3, GeneratorParams(history_days=30, days=60)).paths[0]
    free_vault = with_costs(0, 0, 0, 0)
    for name, make in BASELINES.items():
        run = simulate(path, vault, make(path, vault), gas)
        free = simulate(path, free_vault, make(path, free_vault), gas)
        assert run.turnover > 0, name
        assert run.trading_cost > 0, name
        assert path_metrics(run).trading_cost == run.trading_cost
        assert run.net_nav[-1] < free.net_nav[-1], name


def test_forced_sales_for_redemptions_pay_the_sleeves_cost() -> None:
    vault = with_costs(0, 20, 10, 0)
    path = calm_path()
    depositors = Depositors(NAV)
    held = [0.0, 5e12, 5e12, 0.0]  # nothing idle: a redemption must sell
    idle, used = depositors.day(path, vault, 10, -0.05, held, 0.0)
    # 5 % of the shares at NAV 10M = 500k, all from gold (the first sleeve holding any),
    # grossed up by gold's 20 bps so the depositor receives the full 500k
    assert depositors.redeemed == pytest.approx(0.5e12)
    assert used[1] == pytest.approx(0.5e12 / (1 - 0.002))
    assert depositors.trading_cost == pytest.approx(used[1] * 0.002)
    assert idle == pytest.approx(0.0, abs=1e-3)
    assert depositors.pending == pytest.approx(0.0, abs=1e-9)


def test_cost_setting_parses_and_refuses_in_one_line(capsys) -> None:
    assert parse_costs([], SLEEVES) == default_costs(SLEEVES)
    assert parse_costs(["5"], SLEEVES) == (5.0, 5.0, 5.0, 5.0)
    assert parse_costs(["5", "gold=25"], SLEEVES) == (5.0, 25.0, 5.0, 5.0)
    for bad, words in (
        ("silver=3", "unknown sleeve"),
        ("gold=x", "not a number"),
        ("-1", "must be in"),
        ("10000", "must be in"),
    ):
        with pytest.raises(ValueError, match=words):
            parse_costs([bad], SLEEVES)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--paths", "1", "--no-chart", "--trading-cost-bps", "silver=3"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unknown sleeve" in err


# ------------------------------------------------- what the strategy assumes (issue 19)


def test_the_simulators_table_is_the_keepers_market_table() -> None:
    from keepers.strategy.optimiser import MARKET_TRADING_COST_BPS

    assert TRADING_COST_BPS is MARKET_TRADING_COST_BPS  # one table: they cannot drift apart


def test_the_adapter_prices_the_sleeves_at_the_simulators_costs() -> None:
    from benchmarks.backtest import select
    from benchmarks.backtest.keeper import KeeperStrategy
    from benchmarks.backtest.select import CANDIDATES

    path, vault = calm_path(), with_costs(1.0, 30.0, 7.0, 0.5)
    default = KeeperStrategy(path, vault, cli.strategy_config({}))  # the keeper's default
    assert dict(default.params.optimiser.sleeve_cost_bps) == dict(
        zip(vault.sleeves, (1.0, 30.0, 7.0, 0.5), strict=True)
    )  # priced per sleeve, at the simulator's table (not the keeper's own)
    # the committed selection's winner (benchmarks/backtest/selection-train.json)
    name = json.loads((select.HERE / "selection-train.json").read_text())["winner"]
    priced = KeeperStrategy(path, vault, override=CANDIDATES[name])
    assert dict(priced.params.optimiser.sleeve_cost_bps) == dict(
        zip(vault.sleeves, (1.0, 30.0, 7.0, 0.5), strict=True)
    )
    # the selection's winner is the keeper's default (the costs aside, which the adapter prices,
    # and the lending rate cap, a defence set on after the selection: benchmarks/backtest/README.md,
    # "The lending rate cap")
    assert default.params.forecast.lending_rate_cap
    assert not priced.params.forecast.lending_rate_cap
    uncapped = replace(default.params.forecast, lending_rate_cap=False)
    assert priced.params == replace(default.params, forecast=uncapped)
    # --set trading_cost_bps=... is taken as given (what the strategy assumes, not the table)
    config = cli.strategy_config({"trading_cost_bps": "gold=3"})
    assert KeeperStrategy(path, vault, config).params.optimiser.sleeve_cost_bps == (("gold", 3.0),)
    config = cli.strategy_config({"trading_cost_bps": ""})
    assert KeeperStrategy(path, vault, config).params.optimiser.sleeve_cost_bps == ()


def test_the_strategy_cost_setting_is_refused_in_one_line(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["--paths", "1", "--set", "trading_cost_bps=gold=-2"])
    assert exc.value.code != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "gold: -2 bps is not within [0, 10000)" in err
