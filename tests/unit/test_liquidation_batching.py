"""keepers.jobs.liquidator batch functions: packing liquidations into `liquidateBatch`
transactions that fit the block's gas (no chain)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
from eth_utils import to_checksum_address
from hypothesis import given
from hypothesis import strategies as st

from keepers.config import ConfigError, load_settings
from keepers.errors import ErrorDecoder
from keepers.jobs.liquidator import (
    BATCH_BASE_GAS,
    BatchSettings,
    LiquidationPlan,
    batch_budget,
    batch_gas_cap,
    first_batch,
    fitted_count,
    gas_limit_of,
    pack_batches,
)
from keepers.math import Liquidation
from keepers.outcomes import RpcError
from keepers.shell.liquidation_batches import _Batches
from keepers.shell.reports import JobReport


def plan(i: int, repay: int = 1_000) -> LiquidationPlan:
    liquidation = Liquidation(
        token="0x" + "11" * 20, debt=repay, held=repay, health=10**17, max_repay=repay,
        bonus_bps=500, repay=repay, seized=repay,
    )  # fmt: skip
    return LiquidationPlan(f"0x{i:040x}", liquidation.token, 2**256 - 1, liquidation,
                           10**17, 10, 1, 9)  # fmt: skip


def test_the_cap_is_the_block_gas_limit_less_the_headroom():
    assert batch_gas_cap(30_000_000, BatchSettings()) == 30_000_000
    assert batch_gas_cap(30_000_000, BatchSettings(headroom_bps=1_000)) == 27_000_000


def test_a_gas_limit_is_the_estimate_plus_the_margin_rounded_up():
    assert gas_limit_of(1_000_000, BatchSettings(gas_margin_bps=300)) == 1_030_000
    assert gas_limit_of(1, BatchSettings(gas_margin_bps=300)) == 2


@given(
    count=st.integers(0, 3_000),
    block=st.integers(100_000, 60_000_000),
    item_gas=st.integers(20_000, 1_000_000),
    max_items=st.integers(1, 1_000),
)
def test_packing_keeps_every_plan_once_in_order_and_within_the_cap(
    count, block, item_gas, max_items
):
    settings = BatchSettings(item_gas=item_gas, max_items=max_items)
    plans = [plan(i) for i in range(count)]
    batches = pack_batches(plans, block, settings)
    assert [p for b in batches for p in b] == plans
    for b in batches:
        assert 1 <= len(b) <= max_items
        # by the guess, a batch of more than one item fits the cap
        assert len(b) == 1 or BATCH_BASE_GAS + len(b) * item_gas <= block
    room = max(1, (block - BATCH_BASE_GAS) // item_gas) if block > BATCH_BASE_GAS else 1
    assert len(batches) == math.ceil(count / min(room, max_items))


@given(
    count=st.integers(1, 1_000),
    per_item=st.integers(30_000, 500_000),
    cap=st.integers(1_000_000, 60_000_000),
    available=st.integers(1, 5_000),
)
def test_a_refit_batch_fits_the_cap_when_gas_is_proportional_to_items(
    count, per_item, cap, available
):
    count = min(count, available)
    limit = count * per_item
    n = fitted_count(count, limit, cap, available, 10_000)
    assert 1 <= n <= available
    if per_item <= cap:
        assert n * per_item <= cap  # it fits...
        assert n == available or (n + 1) * per_item > cap - per_item  # ...nearly full


def test_refitting_refuses_an_empty_batch():
    with pytest.raises(ValueError):
        fitted_count(0, 1, 1, 1, 1)


def test_the_budget_is_the_planned_repayments_plus_slack_at_most_the_inventory():
    plans = [plan(0, 1_000_000), plan(1, 2_000_001)]
    settings = BatchSettings(budget_slack_bps=100)
    assert batch_budget(plans, None, settings) == math.ceil(3_000_001 * 1.01)
    assert batch_budget(plans, 3_000_000, settings) == 3_000_000


@pytest.mark.parametrize(
    "bad",
    [
        {"batch_item_gas": 0},
        {"batch_gas_headroom_bps": 10_000},
        {"max_batch_items": 0},
        {"batch_gas_margin_bps": -1},
        {"batch_size": 10},
    ],
)
def test_bad_batch_settings_are_refused_in_one_line(bad):
    with pytest.raises(ConfigError) as err:
        load_settings(liquidator=bad)
    assert "\n" not in str(err.value)


def test_the_batch_settings_reach_the_planner():
    settings = load_settings(
        liquidator={"batch_item_gas": 90_000, "batch_gas_headroom_bps": 500, "max_batch_items": 7}
    ).liquidator.batches()
    assert (settings.item_gas, settings.headroom_bps, settings.max_items) == (90_000, 500, 7)


def test_a_single_liquidation_is_never_refused_for_its_size():
    settings = BatchSettings(item_gas=400_000)
    assert first_batch(5, 100_000, settings) == 1  # the cap is below even one item
    assert first_batch(0, 30_000_000, settings) == 0
    assert first_batch(500, 30_000_000, settings) == (30_000_000 - BATCH_BASE_GAS) // 400_000


def test_an_executor_setting_that_is_not_an_address_is_refused_in_one_line():
    with pytest.raises(ConfigError) as err:
        load_settings(liquidator={"executor": "0x1234"})
    assert "\n" not in str(err.value) and "executor" in str(err.value)
    lower = "0x" + "ab" * 20
    executor = load_settings(liquidator={"executor": lower}).liquidator.executor
    assert executor == to_checksum_address(lower)  # checksummed once, at load


class _FailingSender:
    """A sender whose every call and gas estimate of the executor answers `error`."""

    def __init__(self, error: RpcError) -> None:
        self.error = error
        self.decoder = ErrorDecoder()

    def call(self, to: str, data: bytes) -> bytes:
        raise self.error

    def estimate_gas(self, to: str, data: bytes) -> int:
        raise self.error


def _batches(error: RpcError, plans: list[LiquidationPlan]) -> _Batches:
    settings = SimpleNamespace(liquidator=SimpleNamespace(batches=BatchSettings))
    keeper = SimpleNamespace(sender=lambda job: _FailingSender(error), settings=settings)
    report = JobReport(job="liquidator", block=1, timestamp=0, dry_run=False)
    return _Batches(keeper, report, "0x" + "22" * 20, plans, 1, None, lambda borrower: None)


@pytest.mark.parametrize("step", ["_simulate", "_limit"])
def test_a_node_failing_to_answer_fails_the_pass_and_refuses_no_liquidation(step):
    """A provider's rate limit (-32005) on the batch's simulation or gas estimate says nothing
    of the liquidations: it is raised (the pass fails as a node error, the next one retries)
    and no item is reported refused or dropped. A call the EVM refused still is, item by item."""
    plans = [plan(i) for i in range(3)]
    limited = _batches(RpcError("request rate limit exceeded", code=-32005), plans)
    with pytest.raises(RpcError):
        getattr(limited, step)(plans, b"")
    assert limited.report.actions == [] and limited.queue == plans

    refused = _batches(RpcError("execution reverted", data=bytes.fromhex("08c379a0")), plans)
    assert getattr(refused, step)(plans, b"") in (False, None)
    assert [a.outcome for a in refused.report.actions] == ["refused"] * 3
    assert refused.queue == []
