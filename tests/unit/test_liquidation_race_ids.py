"""`keepers.shell.liquidator.liquidation_race_check`: the race check `Keeper.reconcile` rebuilds
from a liquidation record's action id (`liquidate:<borrower>:<read block>`, as the liquidator
writes it). It is built for every in-flight record of the job, pending ones included, before
any is settled: an id it cannot read must give no check (the record is settled by its revert's
name, as before), never an exception (`reconcile` runs before every pass of the key: one would
fail them all, every pass) nor a check asking the node for a malformed topic."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from keepers.shell.liquidator import liquidation_race_check

BORROWER = "0x" + "ab" * 20
KEEPER = SimpleNamespace(address="0x" + "11" * 20, web3=None, protocol=None, settings=None)


def test_the_liquidators_own_id_gives_its_race_check() -> None:
    assert callable(liquidation_race_check(KEEPER, f"liquidate:{BORROWER}:123"))
    assert liquidation_race_check(KEEPER, "liquidate-batch:123:0") is None


@pytest.mark.parametrize(
    "action_id",
    [
        f"liquidate:{BORROWER[2:]}:123",  # no 0x: its topic would lose two hex digits
        f"liquidate:{BORROWER}:\u00b2",  # a digit to str.isdigit, not to int()
        f"liquidate:{BORROWER}:",
        f"liquidate:{BORROWER}",
        "liquidate:nobody:123",
    ],
)
def test_an_id_it_cannot_read_gives_no_race_check(action_id: str) -> None:
    assert liquidation_race_check(KEEPER, action_id) is None
