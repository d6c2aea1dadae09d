"""A scenario file (benchmarks/backtest/README.md, "Scenario format") is what an outside checker
hands the backtest: numbers the format takes must be numbers the simulator can run, and the rest
refused in one line, exit 1 — never a traceback."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from benchmarks.backtest.__main__ import main as backtest_main
from benchmarks.backtest.scenario import Scenarios, save
from tests.market_support import path_scenarios

SEED = 7
BASE = path_scenarios(SEED)[0].path
LONG = path_scenarios(SEED, 40, 330)[0].path  # a year of flows
LONG_N = LONG.length
MIN_INDEX, MAX_INDEX = 1e-18, (2**256 - 1) / 10**18  # a uint256 WAD returnIndex: one wei up
H, N = BASE.history_days, BASE.length


def _gold(*levels: float) -> dict:
    """Gold's index from the run's third day on: `levels`, the last repeated to the end."""
    gold = list(BASE.nav["gold"][: H + 3]) + list(levels)
    gold += [levels[-1]] * (N - len(gold))
    return {"nav": {**BASE.nav, "gold": tuple(gold)}}


BEYOND = {
    # 1e300 × WAD is infinite: `round` raised OverflowError in the keeper's index history
    "index-1e300": (_gold(1e300), "nav.gold: 1e+300 is not within [1e-18, 1.15792e+59]"),
    # 1e-300 then 1e59: the day's growth is infinite, a holding of 0 times it NaN
    "index-1e-300": (_gold(1e-300, 1e59), "nav.gold: 1e-300 is not within [1e-18, "),
    # 1e300 gwei in wei is infinite: `round` raised OverflowError in the gas market
    "base-fee-1e300": ({"base_fee_gwei": (1e300,) * N}, "base_fee_gwei: 1e+300 is not within"),
    # GasMarket refused it with a ValueError out of the simulation
    "base-fee-negative": ({"base_fee_gwei": (-1.0,) * N}, "base_fee_gwei: -1.0 is not within"),
    # a health factor of 1e300 × WAD is infinite: `round` raised OverflowError in the book
    "health-1e300": ({"health": (1e300,) * N}, "health: 1e+300 is not within [0, 1.15792e+59]"),
    # 90 % of the shares redeemed every day: 1e-330 of them left, 0 as a float, divided by
    "run-every-day": (
        {"flows": tuple((d, -0.9) for d in range(H + 1, LONG_N))},
        "flows: redemptions that leave 0 of the shares, below 1e-60",
    ),
    # ten times the NAV deposited every day: shares and NAV beyond a float
    "deposit-every-day": (
        {"flows": tuple((d, 9.99) for d in range(H + 1, LONG_N))},
        "deposits that multiply the shares by inf, above 1e60",
    ),
}


def _run(tmp_path, change: dict, capsys, base=None) -> tuple[int, str]:
    source = tmp_path / "unseen.json"
    base = base or (LONG if "flows" in change else BASE)
    save(Scenarios(SEED, {"generator": "fuzz8"}, (replace(base, id=0, **change),)), source)
    out = tmp_path / "results.json"
    argv = ["--scenarios", str(source), "--out", str(out), "--no-chart", "--jobs", "1"]
    try:
        code = backtest_main(argv)
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(BEYOND))
def test_a_scenario_beyond_what_a_chain_holds_is_refused_in_one_line(tmp_path, capsys, name):
    """Found by fuzzing the backtest with unseen scenarios (fuzz8): the format took any positive
    finite index, health and base fee; an index of 1e300, a jump from 1e-300 to 1e59, a health
    factor of 1e300 or a base fee of 1e300 gwei crashed the CLI with a traceback (OverflowError,
    ValueError: cannot convert float NaN to integer), a negative base fee too (GasMarket's
    ValueError), and so did flows compounding beyond a float: a 90 % run on the vault every day
    for a year (ZeroDivisionError), ten times the NAV deposited every day (OverflowError)."""
    change, message = BEYOND[name]
    code, err = _run(tmp_path, change, capsys)
    assert code == 1 and message in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 2, err  # usage + error


def test_a_path_whose_moves_compound_beyond_a_float_is_refused_in_one_line(capsys, tmp_path):
    """Found by fuzzing the backtest (fuzz8): every index within what a chain holds, but
    sleeves jumping between 1e-18 and 1e59 from day to day, with deposits of nine times the NAV
    on some days: the strategy's holdings multiplied past a float (OverflowError: cannot convert
    float infinity to integer, a traceback). The path, as hypothesis found it, is
    tests/unit/data/scenario-compounding-index.json."""
    source = Path(__file__).parent / "data" / "scenario-compounding-index.json"
    argv = ["--scenarios", str(source), "--out", str(tmp_path / "r.json"), "--no-chart"]
    try:
        code = backtest_main(argv)
    except SystemExit as exit_:
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 1 and "paths[0].nav: a holding moved each day into the sleeve that rises" in err
    assert "would grow by 1e1226 (shrink by 1e-1164): beyond 1e60 either way" in err, err


def test_the_extremes_a_chain_can_hold_run(tmp_path, capsys):
    """The control: gold at the largest index a uint256 WAD holds and invoices at one wei of it,
    a base fee of 1e60 gwei and the largest health factor; gold to one wei, then up 1e58 in a
    day; a year of runs on the vault that leave it 1e-59 of its shares: every policy runs on
    each, exit 0."""
    extremes = {"base_fee_gwei": (1e60,) * N, "health": (MAX_INDEX,) * N}
    levels = {"gold": (MAX_INDEX,) * N, "invoices": (MIN_INDEX,) * N}  # on every day
    code, err = _run(tmp_path, {"nav": {**BASE.nav, **levels}} | extremes, capsys)
    assert code == 0, err
    code, err = _run(tmp_path, _gold(MIN_INDEX, 1e40), capsys)  # 1e58 in a day
    assert code == 0, err
    days = range(H + 1, H + 60)
    code, err = _run(tmp_path, {"flows": tuple((d, -0.9) for d in days)}, capsys)
    assert code == 0, err


def test_a_run_that_empties_the_vault_runs_to_the_end(tmp_path, capsys):
    """Found by fuzzing the backtest (fuzz8): a redemption request for 99.99999 % of the shares
    on the run's second day, a format-valid flow, is paid from idle and then from forced sales
    whose trading costs take the last 0.00001 % of the NAV: the vault is empty, and the
    simulator divided by its NAV of 0 (ZeroDivisionError in `simulate`, then in the flows of
    the next day), a traceback. An emptied vault now holds nothing (weights 0), takes no
    deposit of a fraction of nothing and pays nothing more; every policy runs to the end, with
    finite results."""
    flows = ((H + 2, -0.9999999), (H + 4, 0.5), (H + 5, -0.5))
    code, err = _run(tmp_path, {"flows": flows}, capsys, base=BASE)
    assert code == 0, err
    text = (tmp_path / "results.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text)["summary"]["static_target"]["total_return"]["mean"] < -0.99
