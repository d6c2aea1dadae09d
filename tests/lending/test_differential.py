"""keepers.math against the contracts on anvil: same inputs, same numbers, to the wei.

Three differentials, each hypothesis example in its own chain snapshot of one module-scoped
system (the book funded with 900,000 through the vault, borrowers holding collateral):

- random rate parameters and books vs `InterestRateModel.borrowRate` / `utilization`;
- random sequences of borrows, repayments, time jumps, accruals and rate changes, tracked in
  Python from the actions (the mined block's timestamp for each), vs the book's views after
  every step and its storage at the end;
- random positions, waits, price moves (beyond `oracle.maxDeviationBps` or not, confirmed by
  the router or left pending) and risk parameters vs `debtOf`, `healthFactor`, `borrowPower`,
  `previewLiquidation` (values or the custom error), `liquidationTrigger`'s calldata, and the
  outcome of the liquidation itself (events, storage, `totalAssets()`).

The initial book of an example is read from storage (`stored_book`), checked against views.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

import pytest
from eth_abi import decode
from eth_utils import function_signature_to_4byte_selector
from hypothesis import event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from keepers.math import (
    MAX_UINT256,
    Book,
    Liquidation,
    LiquidationCall,
    Loan,
    NoLiquidation,
    RateModel,
    Refusal,
    borrow,
    borrow_power,
    health_factor,
    liquidation_trigger,
    plan_liquidation,
    repay,
    settle_liquidation,
    swept,
    utilization,
)
from tests.lending_support import (
    BPS,
    COLLATERAL,
    DAY,
    FEED_UNIT,
    USDC,
    LendingSystem,
    deploy_lending_system,
    liquidation_rules,
    position_of,
    rate_model,
    stored_book,
    stored_loan,
)
from tests.vault_support import confirm_moves, isolated, revert_of

NAMES = tuple(COLLATERAL)  # listing order
# Chain examples are slow: a few per test by default (the file runs in about a minute), ten
# times as many under HYPOTHESIS_PROFILE=deep.
SCALE = 10 if os.environ.get("HYPOTHESIS_PROFILE") == "deep" else 1
NAV = {"tbill": FEED_UNIT, "gold": 2_000 * FEED_UNIT, "invoices": FEED_UNIT}
POSTED = 150_000 * USDC  # each sequence borrower posts this much of each collateral
STOCK = 100_000 * USDC  # the liquidation debtor's unposted stock of each collateral
LIQUIDATE = function_signature_to_4byte_selector("liquidate(address,address,uint256)")
RATE_PARAMS = (
    "lend.rate.baseBps",
    "lend.rate.slope1Bps",
    "lend.rate.slope2Bps",
    "lend.rate.kinkBps",
)


@dataclass
class Market:
    lending: LendingSystem
    borrowers: list
    debtor: object
    keeper: object
    stock: dict[str, int] = field(default_factory=dict)  # debtor's tokens per collateral


@pytest.fixture(scope="module")
def market(project, accounts) -> Market:
    lending = deploy_lending_system(project, accounts[0], accounts[1], accounts[5])
    lending.supply(accounts[6], 1_000_000 * USDC)
    borrowers = [accounts[7], accounts[8], accounts[3]]
    for b in borrowers:
        for name in NAMES:
            tokens = lending.buy_collateral(b, name, POSTED)
            lending.book.depositCollateral(lending.token(name), tokens, sender=b)
        lending.fund(b, 200_000 * USDC)  # interest money, approved to the book
        lending.book.borrow(100_000 * USDC, sender=b)
    debtor, keeper = accounts[9], accounts[2]
    stock = {name: lending.buy_collateral(debtor, name, STOCK) for name in NAMES}
    lending.fund(keeper, 3_000_000 * USDC)
    return Market(lending, borrowers, debtor, keeper, stock)


def label(text: str) -> None:
    """A hypothesis event (coverage statistics), when inside a hypothesis test."""
    if currently_in_test_context():
        event(text)


def head(chain):
    block = chain.blocks.head
    return block.number, block.timestamp


def refresh_feeds(lending: LendingSystem, answers: dict[str, int] | None = None) -> None:
    """Publish each collateral's answer again (fresh now), or new `answers`."""
    for name in NAMES:
        current = lending.feed(name).latestRoundData()[1]
        lending.set_nav(name, (answers or {}).get(name, current))


def timestamp_of(chain, tx) -> int:
    return chain.blocks[tx.block_number].timestamp


# ---------------------------------------------------------------------------------- rate model


pairs = st.one_of(
    st.tuples(st.integers(0, 2**128), st.integers(0, 2**128)),
    st.tuples(st.integers(0, 10**12), st.integers(0, 10**12)),
)


@settings(max_examples=20 * SCALE)
@given(
    base=st.integers(0, BPS),
    slope1=st.integers(0, BPS),
    slope2=st.integers(0, 100_000),
    kink=st.integers(0, BPS),
    books=st.lists(pairs, min_size=1, max_size=6),
    at_kink=st.integers(1, 10**20),
)
def test_rate_model_matches(market, chain, base, slope1, slope2, kink, books, at_kink):
    lending = market.lending
    model = RateModel(base, slope1, slope2, kink)
    # Exactly at the kink (u == kink) and just past it.
    books = [
        *books,
        (at_kink * (BPS - kink), at_kink * kink),
        (at_kink * (BPS - kink) - 1, at_kink * kink + 1),
    ]
    with isolated(chain):
        for name, value in zip(RATE_PARAMS, (base, slope1, slope2, kink), strict=True):
            lending.set_param(name, value)
        assert rate_model(lending) == model
        for cash, debt in books:
            if cash < 0:
                continue
            assert lending.irm.utilization(cash, debt) == utilization(cash, debt)
            assert lending.irm.borrowRate(cash, debt) == model.borrow_rate(cash, debt), (
                cash,
                debt,
            )


# ---------------------------------------------------------------------------------- book


@dataclass
class Tracker:
    """The book as Python predicts it from the actions: state, rate model, loans."""

    book: Book
    model: RateModel
    loans: dict[str, Loan]


steps = st.lists(
    st.one_of(
        st.tuples(st.just("borrow"), st.integers(0, 2), st.integers(1, BPS)),
        st.tuples(
            st.just("repay"), st.integers(0, 2), st.one_of(st.just(BPS), st.integers(0, BPS))
        ),  # BPS: MAX
        st.tuples(st.just("wait"), st.integers(1, 90 * DAY)),
        st.tuples(st.just("accrue")),
        st.tuples(st.just("rate"), st.sampled_from(RATE_PARAMS), st.integers(0, BPS)),
    ),
    min_size=2,
    max_size=8,
)


def check_views(market: Market, chain, t: Tracker) -> None:
    """Every view of the book at the head block equals the Python state accrued to it."""
    book = market.lending.book
    number, now = head(chain)
    s = t.book.accrued(now)
    at = {"block_id": number}
    assert book.borrowIndex(**at) == s.borrow_index
    assert book.totalDebt(**at) == s.total_debt
    assert book.totalAssets(**at) == s.total_assets
    assert book.valuation(**at)[0] == s.total_assets
    assert book.returnIndex(**at) == s.supply_index
    assert book.borrowRate(**at) == s.rate
    assert book.cash(**at) == s.cash
    assert book.utilization(**at) == s.utilization
    for b in market.borrowers:
        assert book.debtOf(b, **at) == t.loans[b.address].debt(s)
    # What the next action will store: the model's rate for the accrued book.
    assert market.lending.irm.borrowRate(s.cash, s.total_debt) == t.model.borrow_rate(
        s.cash, s.total_debt
    )


def do_borrow(market: Market, chain, t: Tracker, who, fraction: int) -> None:
    lending = market.lending
    refresh_feeds(lending)  # borrow needs fresh prices
    loan = t.loans[who.address]
    s = t.book.accrued(chain.pending_timestamp + 60)  # a minute of interest in hand
    debt = loan.debt(s)
    power = borrow_power(position_of(lending, who, debt, lendable=True))
    assert lending.book.borrowPower(who) == power
    min_debt = liquidation_rules(lending).min_debt
    room = min(power - power // 200 - debt - 2, s.cash)  # 0.5% below LTV: interest and rounding
    amount = max(room * fraction // BPS, min_debt - debt + 1)
    if room <= 0 or amount > room:
        label("borrow skipped")
        return
    tx = lending.book.borrow(amount, sender=who)
    t.book, t.loans[who.address] = borrow(t.book, t.model, loan, amount, timestamp_of(chain, tx))
    label("borrowed")
    (logged,) = tx.decode_logs(lending.book.Borrowed)
    assert (logged.amount, logged.debt) == (amount, t.loans[who.address].debt(t.book))


def do_repay(market: Market, chain, t: Tracker, who, fraction: int) -> None:
    lending = market.lending
    loan = t.loans[who.address]
    debt = loan.debt(t.book.accrued(chain.pending_timestamp))
    if debt == 0:
        label("repay skipped")
        return
    min_debt = liquidation_rules(lending).min_debt
    amount = MAX_UINT256 if fraction == BPS else debt * fraction // BPS
    left = debt - min(amount, debt)
    if amount == 0 or (0 < left < min_debt + USDC and debt >= min_debt):
        label("repay skipped")
        return  # ZeroAmount, or dust (with a margin for the seconds until it is mined)
    needed = min(amount, debt + debt // 100 + USDC) - lending.asset.balanceOf(who)
    if needed > 0:
        lending.fund(who, needed)
    tx = lending.book.repay(amount, who, sender=who)
    t.book, t.loans[who.address], paid = repay(
        t.book, t.model, loan, amount, timestamp_of(chain, tx)
    )
    label("repaid all" if t.loans[who.address].scaled == 0 else "repaid part")
    (logged,) = tx.decode_logs(lending.book.Repaid)
    assert (logged.amount, logged.debt) == (paid, t.loans[who.address].debt(t.book))


@settings(max_examples=12 * SCALE)
@given(actions=steps)
def test_book_matches_python(market, chain, actions):
    lending, book = market.lending, market.lending.book
    with isolated(chain):
        t = Tracker(
            stored_book(book),
            rate_model(lending),
            {b.address: stored_loan(book, b) for b in market.borrowers},
        )
        check_views(market, chain, t)
        for action in actions:
            kind = action[0]
            if kind == "borrow":
                do_borrow(market, chain, t, market.borrowers[action[1]], action[2])
            elif kind == "repay":
                do_repay(market, chain, t, market.borrowers[action[1]], action[2])
            elif kind == "wait":
                chain.mine(timestamp=chain.pending_timestamp + action[1])
            elif kind == "accrue":
                tx = book.accrueInterest(sender=market.keeper)
                t.book = t.book.accrued(timestamp_of(chain, tx)).committed(t.model)
            else:  # a rate parameter: in force from the next action that stores the book
                name, value = action[1], action[2] * (2 if "slope2" in action[1] else 1)
                lending.set_param(name, value)
                field_name = {
                    "baseBps": "base_bps",
                    "slope1Bps": "slope1_bps",
                    "slope2Bps": "slope2_bps",
                    "kinkBps": "kink_bps",
                }
                t.model = replace(t.model, **{field_name[name.split(".")[-1]]: value})
                assert rate_model(lending) == t.model
            check_views(market, chain, t)
        assert stored_book(book) == t.book
        for b in market.borrowers:
            assert stored_loan(book, b) == t.loans[b.address]


# ---------------------------------------------------------------------------------- liquidation


def refusal_of(market: Market, token, amount: int) -> Refusal:
    """previewLiquidation's revert at the head block, as a keepers.math Refusal."""
    outcome = revert_of(
        market.lending.book,
        "previewLiquidation",
        market.debtor,
        token,
        amount,
        sender=market.keeper,
        block="latest",
    )
    assert outcome is not None, f"previewLiquidation({token}, {amount}) passed"
    name, values = outcome
    numeric = {
        "HealthyPosition": ("health",),
        "DustDebt": ("remaining", "minDebt"),
        "DustCollateral": ("left", "minDebt"),
    }
    return Refusal(name, tuple(values[k] for k in numeric.get(name, ())))


def preview_amounts(debt: int, odd: int) -> list[int]:
    """Repay amounts worth previewing: all, half, all but a wei (dust), a wei, any, none."""
    return [MAX_UINT256, debt // 2, debt - 1, 1, odd, 0]


def check_previews(market: Market, position, rules, amounts) -> None:
    """previewLiquidation for each collateral and amount (and one borrower without debt)."""
    book = market.lending.book
    nobody = replace(position, debt=0)
    token = market.lending.token(NAMES[0])
    assert plan_liquidation(nobody, str(token.address), 1, rules) == Refusal("NoDebt")
    assert revert_of(book, "previewLiquidation", market.keeper, token, 1, sender=market.keeper,
                     block="latest")[0] == "NoDebt"  # fmt: skip
    for name in NAMES:
        token = market.lending.token(name)
        for amount in amounts:
            plan = plan_liquidation(position, str(token.address), amount, rules)
            label(f"preview {plan.error if isinstance(plan, Refusal) else 'ok'}")
            if isinstance(plan, Refusal):
                assert refusal_of(market, token, amount) == plan, (name, amount)
            else:
                got = book.previewLiquidation(market.debtor, token, amount)
                assert tuple(got) == (plan.repay, plan.seized), (name, amount)


def check_trigger(market: Market, position, rules) -> LiquidationCall | NoLiquidation:
    expected = liquidation_trigger(position, rules)
    ok, data = market.lending.book.liquidationTrigger(market.debtor)
    if isinstance(expected, NoLiquidation):
        assert (ok, bytes(data)) == (False, expected.reason.encode())
    else:
        assert ok and bytes(data[:4]) == LIQUIDATE
        borrower, token, amount = decode(["address", "address", "uint256"], bytes(data[4:]))
        assert borrower.lower() == market.debtor.address.lower()
        assert (token.lower(), amount) == (expected.token.lower(), expected.repay_amount)
    return expected


def liquidate_and_check(
    market: Market, chain, book0: Book, loan: Loan, position, rules, token: str, amount: int
) -> None:
    """Send liquidate(debtor, token, amount) and compare its outcome with settle_liquidation."""
    lending, book = market.lending, market.lending.book
    model = rate_model(lending)
    token_contract = next(lending.token(n) for n in NAMES if lending.token(n).address == token)
    got_before = token_contract.balanceOf(market.keeper)
    tx = book.liquidate(market.debtor, token, amount, sender=market.keeper)
    now = timestamp_of(chain, tx)
    s = book0.accrued(now)
    position = position.with_debt(loan.debt(s))
    plan = plan_liquidation(position, token, amount, rules)
    assert isinstance(plan, Liquidation), plan
    settled = settle_liquidation(book0, model, loan, position, plan, now)
    label(
        f"liquidated: bad debt {settled.bad_debt is not None}, closes {plan.closes}, "
        f"takes all {plan.takes_all}, dust swept {plan.sweep}"
    )

    (logged,) = tx.decode_logs(book.Liquidated)
    assert (logged.repaid, logged.seized) == (plan.repay, plan.seized)
    bad = tx.decode_logs(book.BadDebtRealized)
    if settled.bad_debt is None:
        assert not bad
    else:
        assert [e.amount for e in bad] == [settled.bad_debt]
    assert stored_book(book) == settled.book
    assert stored_loan(book, market.debtor) == settled.loan
    assert book.debtOf(market.debtor) == settled.debt_left()
    # A dust write-off sweeps every token the debtor still had to the keeper.
    sweeps = swept(plan, position)
    logged_sweeps = tx.decode_logs(book.CollateralSwept)
    assert [(e.token.lower(), e.amount) for e in logged_sweeps] == [
        (t.lower(), a) for t, a in sweeps
    ]
    assert all(e.liquidator == market.keeper.address for e in logged_sweeps)
    extra = sum(a for t, a in sweeps if t.lower() == token.lower())
    assert book.collateralOf(market.debtor, token) == plan.held - plan.seized - extra
    assert token_contract.balanceOf(market.keeper) - got_before == plan.seized + extra
    if plan.sweep:
        assert all(book.collateralOf(market.debtor, lending.token(n)) == 0 for n in NAMES)
    # The book's totalAssets() falls by exactly the bad debt (and never without it).
    after = book.totalAssets(block_id=tx.block_number)
    assert after == settled.book.total_assets
    drop = s.total_assets - after
    if settled.bad_debt is not None:
        assert drop == settled.bad_debt
    else:
        assert drop <= 0


@dataclass(frozen=True)
class Scenario:
    """One liquidation example: what the debtor posts and borrows, then how the world moves."""

    posted: tuple[int, int, int]  # bps of the debtor's stock of each collateral
    borrowed_bps: int  # of its borrow power
    wait: int
    moves: tuple[int, int, int]  # new price, bps of the original NAV
    confirmed: bool  # the moves beyond oracle.maxDeviationBps confirmed (else left pending)
    stale: int | None  # a collateral whose feed goes stale, or None
    thresholds: tuple[int, int, int]
    bonuses: tuple[int, int, int]
    close_factor: int
    full_close: int
    min_debt: int
    action: tuple  # ("trigger",) or ("manual", collateral index, bps of the debt; BPS: MAX)
    odd_amount: int


def triples(strategy):
    return st.tuples(strategy, strategy, strategy)


one_collateral = st.tuples(st.integers(0, 2), st.integers(1, BPS)).map(
    lambda c: tuple(c[1] if i == c[0] else 0 for i in range(3))
)
scenarios = st.builds(
    Scenario,
    posted=st.one_of(one_collateral, triples(st.integers(0, BPS)).filter(any)),
    borrowed_bps=st.integers(5_000, BPS),
    wait=st.integers(0, 200 * DAY),
    moves=st.one_of(triples(st.integers(1_000, 11_000)), triples(st.integers(1_000, 7_000))),
    confirmed=st.booleans(),
    stale=st.one_of(st.none(), st.none(), st.none(), st.integers(0, 2)),
    thresholds=triples(st.integers(5_000, BPS)),
    bonuses=triples(st.integers(0, 5_000)),
    close_factor=st.integers(1, BPS),
    full_close=st.integers(0, BPS),
    min_debt=st.integers(0, 2_000 * USDC),
    action=st.one_of(
        st.just(("trigger",)),
        st.tuples(st.just("manual"), st.integers(0, 2), st.integers(1, BPS)),
    ),
    odd_amount=st.integers(1, 10**12),
)


def set_up(market: Market, chain, sc: Scenario) -> bool:
    """Open the debtor's position and move the world as `sc` says; False if too small."""
    lending, book, debtor = market.lending, market.lending.book, market.debtor
    for name, fraction in zip(NAMES, sc.posted, strict=True):
        amount = market.stock[name] * fraction // BPS
        if amount:
            book.depositCollateral(lending.token(name), amount, sender=debtor)
    power = borrow_power(position_of(lending, debtor, 0, lendable=True))
    assert book.borrowPower(debtor) == power
    amount = (power - power // 1_000 - 2) * sc.borrowed_bps // BPS
    if amount < liquidation_rules(lending).min_debt:
        return False
    book.borrow(amount, sender=debtor)
    # Time, prices and risk parameters move.
    chain.mine(timestamp=chain.pending_timestamp + sc.wait)
    refresh_feeds(lending, {n: NAV[n] * m // BPS for n, m in zip(NAMES, sc.moves, strict=True)})
    if sc.confirmed:  # as the sentinel keeper does: a poke, and another confirmDelay later
        priced = [(lending.token(n), lending.feed(n)) for n in NAMES]
        confirm_moves(lending.vs.router, lending.vs.registry, priced, lending.vs.governance)
    else:  # anyone's poke records the moves as pending: the bands stay open
        for name in NAMES:
            lending.vs.router.poke(lending.token(name), sender=market.keeper)
    if sc.stale is not None:
        name = NAMES[sc.stale]
        answer = lending.feed(name).latestRoundData()[1]
        lending.feed(name).setRound(answer, chain.pending_timestamp - 2 * DAY,
                                    sender=lending.vs.governance)  # fmt: skip
    for name, lt, bonus in zip(NAMES, sc.thresholds, sc.bonuses, strict=True):
        lending.set_param(f"lend.liqThresholdBps.{name}", lt)
        lending.set_param(f"lend.liqBonusBps.{name}", bonus)
    lending.set_param("lend.closeFactorBps", sc.close_factor)
    lending.set_param("lend.fullCloseHealthBps", sc.full_close)
    lending.set_param("lend.minDebt", sc.min_debt)
    return True


@settings(max_examples=20 * SCALE)
@given(sc=scenarios)
def test_liquidation_matches_python(market, chain, sc):
    lending, book, debtor = market.lending, market.lending.book, market.debtor
    with isolated(chain):
        if not set_up(market, chain, sc):
            label("position too small")
            return
        # Views at the head block, from the stored state accrued in Python.
        book0, loan = stored_book(book), stored_loan(book, debtor)
        _, now = head(chain)
        debt = loan.debt(book0.accrued(now))
        position = position_of(lending, debtor, debt)
        rules = liquidation_rules(lending)
        assert book.debtOf(debtor) == debt
        assert book.healthFactor(debtor) == health_factor(position)
        # the book lends against the lendable price (a young reference caps a rise)
        assert book.borrowPower(debtor) == borrow_power(
            position_of(lending, debtor, debt, lendable=True)
        )
        check_previews(market, position, rules, preview_amounts(debt, sc.odd_amount))
        call = check_trigger(market, position, rules)
        label(f"trigger: {call.reason if isinstance(call, NoLiquidation) else 'act'}")

        if sc.action[0] == "trigger":
            if isinstance(call, NoLiquidation):
                return
            token, amount = call.token, call.repay_amount
        else:  # one of the posted collaterals (previews covered the others)
            held = [n for n, f in zip(NAMES, sc.posted, strict=True) if market.stock[n] * f // BPS]
            token = str(lending.token(held[sc.action[1] % len(held)]).address)
            amount = MAX_UINT256 if sc.action[2] == BPS else max(debt * sc.action[2] // BPS, 1)
            planned = plan_liquidation(position, token, amount, rules)
            if isinstance(planned, Refusal):
                label(f"manual refused {planned.error}")
                return  # its refusal was compared by check_previews
        liquidate_and_check(market, chain, book0, loan, position, rules, token, amount)


@pytest.mark.parametrize(
    ("tbill_move", "outcome"),
    [
        (9_000, "close factor"),  # health 0.956: half the debt
        (8_800, "full close"),  # health 0.935 < 0.95: all of it, MAX in the calldata
        (5_000, "bad debt"),  # collateral worth less than the debt: all of it, the rest written off
        (5_000, "dust"),  # the same with 10.00 of invoices left: dust, swept, the rest written off
        (5_000, "unconfirmed"),  # the -50 % not confirmed: at the band's edge (-10 %), health 0.956
    ],
)
def test_liquidation_paths(market, chain, tbill_move, outcome):
    """Each path of a liquidation, deterministically, on a tbill position at 80% LTV (and, for
    "dust", 10.00 of invoices beside it: less than lend.minDebt); the moves are confirmed by the
    router, but for "unconfirmed": a fall nobody confirmed counts at the band's edge (-10 %), so
    it liquidates what a -10 % print does ("close factor": half the debt), no more."""
    lending, book, debtor = market.lending, market.lending.book, market.debtor
    posted = (BPS, 0, 1 if outcome == "dust" else 0)  # 1 bps of the 100,000 stock: 10.00
    sc = Scenario(posted=posted, borrowed_bps=BPS, wait=0, moves=(tbill_move, BPS, BPS),
                  confirmed=outcome != "unconfirmed", stale=None,
                  thresholds=(8_500, 7_500, 7_000), bonuses=(500, 800, 1_000),
                  close_factor=5_000, full_close=9_500, min_debt=100 * USDC, action=("trigger",),
                  odd_amount=1)  # fmt: skip
    with isolated(chain):
        assert set_up(market, chain, sc)
        book0, loan = stored_book(book), stored_loan(book, debtor)
        _, now = head(chain)
        position = position_of(lending, debtor, loan.debt(book0.accrued(now)))
        rules = liquidation_rules(lending)
        check_previews(market, position, rules, preview_amounts(position.debt, 10**9))
        call = check_trigger(market, position, rules)
        if outcome == "unconfirmed":
            tbill = position.holdings[0]
            ref = lending.vs.router.lastPrice(tbill.token)[0]
            assert tbill.price == ref // 2 and tbill.liquidation_price == ref * 9_000 // BPS
        assert isinstance(call, LiquidationCall)
        plan = call.liquidation
        all_but_a_wei = plan_liquidation(position, call.token, position.debt - 1, rules)
        if outcome in ("close factor", "unconfirmed"):
            assert plan.repay == plan.max_repay == plan.debt // 2 and not plan.takes_all
        elif outcome == "full close":
            assert plan.closes and not plan.takes_all
            assert all_but_a_wei == Refusal("DustDebt", (1, rules.min_debt))
        else:
            assert plan.takes_all and not plan.closes and plan.sweep
            assert plan.rest == (10 * USDC if outcome == "dust" else 0)
        assert call.repay_amount == MAX_UINT256  # the most allowed when mined
        liquidate_and_check(market, chain, book0, loan, position, rules, call.token,
                            call.repay_amount)  # fmt: skip
        if outcome not in ("close factor", "unconfirmed"):  # the two leave half the debt
            assert book.debtOf(debtor) == 0
