"""Outside audit of the permissionless surface (branch `perm2`): an agent's decision made wrong by
a borrow anyone with collateral may take and repay.

The rebalancer's strategy forecast the lending book's yield at the supply rate of the block it
read (`borrowRate(cash, debt) × utilization`). `LendingSleeve.borrow` and `repay` are anyone's:
a borrower holding the book's cash across that one block (repaid the next) showed a 58 % yield
on a book that pays 2.4 %, and the keeper put the 1,495 bps of a 10M vault it meant for gold and
T-bills into the book instead, held there at the book's real rate (about 0.5 % once that cash sits
in it) until a later decision moves it: the forgone yield is the depositors', the decision's
evaluation the agent's. The borrower pays a block's interest.

The keeper's decision is pure (`keepers.strategy.decide` on what it read at one block), so the
test gives it the book as read in the attacker's block and in the block before, with the keeper's
own settings (`RebalancerConfig().strategy_params()`). No chain: what a borrow does to `cash` and
`debt` at a block is the contract's plain accounting (`tests/lending/test_book.py`). The risk
steward's one-block read of the same utilization is recorded last, as a known limit.
"""

from __future__ import annotations

import math

import numpy as np

from keepers.job_config import RebalancerConfig
from keepers.math import WAD
from keepers.strategy import (
    BorrowerExposure,
    Decision,
    LendingBookState,
    ReturnHistory,
    SleeveState,
    StrategyInputs,
    decide,
)
from tests.unit.test_strategy import DAY, GAS, MODEL, NAV, T0, USDC  # the strategy tests' market

CASH, DEBT = 400_000 * USDC, 600_000 * USDC  # 60 % utilization: borrow 4 %, supply 2.4 %
SPIKE = 380_000 * USDC  # the attacker's borrow: 98 % utilization for one block


def index(rates: list[float], vol: float = 0.0, seed: int = 0) -> ReturnHistory:
    """Daily `returnIndex` readings growing at `rates[d]` (annual) on day `d`."""
    rng = np.random.default_rng(seed)
    steps = np.array(rates) / 365 + rng.normal(0.0, vol / math.sqrt(365), len(rates))
    level = np.exp(np.concatenate([[0.0], np.cumsum(steps)]))
    return ReturnHistory(
        tuple(T0 + i * DAY for i in range(len(rates) + 1)), tuple(int(WAD * x) for x in level)
    )


def inputs(borrowed: int, book_paid: list[float]) -> StrategyInputs:
    """The vault as the keeper reads it: T-bills 30 %, gold 20 %, the book 20 % of the NAV; the
    book with `borrowed` more lent out at that block; its supply index grew at `book_paid`."""
    borrowers = (
        BorrowerExposure(300_000 * USDC, 2 * WAD, 8_000),
        BorrowerExposure(300_000 * USDC, 2 * WAD, 8_000),
    )
    if borrowed:
        borrowers += (BorrowerExposure(borrowed, 2 * WAD, 8_000),)
    book = LendingBookState(CASH - borrowed, DEBT + borrowed, MODEL, borrowers)
    sleeves = (
        SleeveState("tbill", 3_000, 6_000, index([0.05] * 60, 0.002, seed=1)),
        SleeveState("gold", 2_000, 3_000, index([0.08] * 60, 0.01, seed=2)),
        SleeveState("lending", 2_000, 4_000, index(book_paid, 0.0005, seed=3), book),
    )
    return StrategyInputs(T0 + 60 * DAY, NAV, 6, sleeves, 500, 1_500, GAS)


def lending_target(borrowed: int, book_paid: list[float]) -> int:
    made = decide(inputs(borrowed, book_paid), RebalancerConfig().strategy_params())
    assert isinstance(made, Decision), made
    return made.target_bps[2]


def test_a_borrow_held_across_the_keepers_read_does_not_move_the_vault_into_the_book():
    """Found in the permissionless audit (branch `perm2`; Low-Medium: an agent's decision made
    wrong for a block's interest). Before: without the borrow the keeper moves gold 2,000 ->
    3,000 bps and T-bills 3,000 -> 3,495, the book left at 2,000; with it, gold and T-bills stay
    and the book goes to 3,495 bps, where it pays about 0.5 % once the borrow is repaid. Now the
    book's yield is taken at most at what its supply index paid over the short half-life: the
    same decision either way."""
    paid = [0.024] * 60
    honest = lending_target(0, paid)
    assert lending_target(SPIKE, paid) <= honest


def test_a_rate_the_book_really_pays_is_followed():
    """The cap is what the book paid, not a refusal: a book whose supply index has paid the
    high rate for the last days (the utilization held, interest paid to the vault) draws the
    vault in as the spot rate did."""
    assert lending_target(SPIKE, [0.024] * 54 + [0.58] * 6) > lending_target(0, [0.024] * 60)


def test_a_repay_held_across_the_stewards_read_skips_one_slope1_step():
    """A known limit recorded, not fixed (same audit): the risk steward also reads the book's
    utilization at one block (`keepers.math.steward.recommend`). At 90 % (above the 80 % kink)
    it raises `lend.rate.slope1Bps` 400 -> 450; a borrower repaying 600,000 for that block (30 %)
    skips the step, and a borrow held across it would take one. Bounded: one step of
    `stewardStepBps` per `stewardCooldown`, the keeper's settings never lower slope1
    (`kink_band_bps` 10,000), and the slope above the kink, the governed part, applies to every
    block the borrower does not hold down."""
    from keepers.job_config import StewardConfig
    from keepers.math.steward import BookRisk, plan
    from tests.unit.test_steward_math import CALM, NOW, _book_params, _gold

    settings = StewardConfig().model()
    assert settings.kink_band_bps == 10_000  # slope1 is only ever raised by the keeper

    def slope1(book: BookRisk) -> int | None:
        made = plan(_book_params(), [_gold(0.01)], book, settings, NOW)
        return dict(made.batch).get("lend.rate.slope1Bps")

    hot = BookRisk(cash=10**11, debt=9 * 10**11, bad_debt=0, health=CALM.health)
    held_down = BookRisk(cash=7 * 10**11, debt=3 * 10**11, bad_debt=0, health=CALM.health)
    assert slope1(hot) == 450
    assert slope1(held_down) is None  # the step is skipped for this pass, never reversed
