"""The liquidator keeper on anvil: 200 borrowers, a price shock, every unhealthy position cleared
and no healthy one touched; two keepers racing liquidate each position once."""

from __future__ import annotations

import pytest
from eth_utils import keccak, to_checksum_address

from keepers.config import load_settings
from keepers.math import WAD
from keepers.multicall import Multicall, ensure_multicall
from keepers.reads import read_book
from tests.keeper_support import (
    keeper,
    open_many_positions,
    overtaken,
    protocol_of,
    race,
    still_unhealthy,
    unhealthy_in,
    views,
)
from tests.lending_support import deploy_lending_system
from tests.vault_support import USDC, faucet, isolated

BORROWERS = 200
LIQUIDATE = "liquidate(address,address,uint256)"


@pytest.fixture(scope="module")
def book(project, accounts, chain):
    """A lending system with 200 tbill-backed borrowers (health 1.22 to 1.70)."""
    lending = deploy_lending_system(project, accounts[0], accounts[1], accounts[5])
    lending.supply(accounts[6], 2_000_000 * USDC)
    borrowers = open_many_positions(lending, BORROWERS, accounts[0])
    assert all(debt > 0 for debt in views(lending.book.debtOf, borrowers))
    for who in (accounts[7], accounts[8]):  # the keepers' inventory
        faucet(lending.asset, who, 2_000_000 * USDC)
    return lending, borrowers


@pytest.fixture
def shocked(book, chain):
    """tbill marked down 25 %, confirmed by the router: the most indebted third of the book is
    unhealthy."""
    lending, borrowers = book
    with chain.isolate():
        lending.set_nav("tbill", 75_000_000)
        assert lending.confirm("tbill")
        yield lending, borrowers


def states(lending, borrowers):
    """borrower -> (debt, tbill collateral), read in two batches."""
    tbill = lending.token("tbill").address
    debts = views(lending.book.debtOf, borrowers)
    held = views(lending.book.collateralOf, [(b, tbill) for b in borrowers])
    return dict(zip(borrowers, zip(debts, held, strict=True), strict=True))


def liquidated_borrowers(lending, since_block):
    head = lending.book.provider.get_block("latest").number
    logs = lending.book.Liquidated.range(since_block, head + 1)
    return [log.borrower for log in logs]


def test_the_liquidator_clears_every_unhealthy_position_and_touches_no_healthy_one(
    shocked, accounts, chain, tmp_path
):
    lending, borrowers = shocked
    book = lending.book
    unhealthy = unhealthy_in(book, borrowers)
    assert 40 < len(unhealthy) < BORROWERS - 40  # both kinds, many of each
    before = states(lending, borrowers)
    start = chain.blocks.head.number + 1

    k = keeper(protocol_of(lending), accounts[7], tmp_path)
    report = k.run("liquidator")

    liquidations = [a for a in report.actions if a.action_id.startswith("liquidate:")]
    assert len(liquidations) == len(unhealthy), report.summary()
    assert {a.outcome for a in report.actions} == {"mined"}  # the approval and the liquidations
    assert sorted(liquidated_borrowers(lending, start)) == sorted(unhealthy)
    after = states(lending, borrowers)
    assert not still_unhealthy(book, unhealthy)
    for b in borrowers:
        if b in unhealthy:
            assert after[b][0] < before[b][0] and after[b][1] < before[b][1]
        else:
            assert after[b][1] == before[b][1], f"healthy {b} lost collateral"
            assert after[b][0] >= before[b][0], f"healthy {b} was repaid by the keeper"
    # a second pass finds nothing left to do
    again = k.run("liquidator")
    assert again.actions == []
    assert k.store.last_block("liquidator") == again.block


def test_the_liquidator_waits_for_a_crash_print_to_be_confirmed(book, accounts, chain, tmp_path):
    """tbill printed 25 % down, the move not yet confirmed: the book's `healthFactor` (live
    price) puts a third of the positions below 1, but a liquidation values tbill at the band's
    edge (-10 %: every position's health is 1.22 to 1.70 at the reference, so at least 1.09
    there), so the keeper plans nothing ("nothing to seize") and sends nothing; once the router
    confirmed the move, the same keeper liquidates them."""
    lending, borrowers = book
    with isolated(chain):
        lending.set_nav("tbill", 75_000_000)
        lending.vs.router.poke(lending.token("tbill"), sender=accounts[7])  # pending
        unhealthy = unhealthy_in(lending.book, borrowers)
        assert 40 < len(unhealthy) < BORROWERS - 40
        start = chain.blocks.head.number + 1
        k = keeper(protocol_of(lending), accounts[7], tmp_path)
        report = k.run("liquidator")
        assert [a for a in report.actions if a.action_id.startswith("liquidate:")] == []
        assert liquidated_borrowers(lending, start) == []
        assert all(not lending.book.liquidationTrigger(b)[0] for b in unhealthy)
        assert lending.confirm("tbill")
        report = k.run("liquidator")
        assert sorted(liquidated_borrowers(lending, start)) == sorted(unhealthy), report.summary()


def test_the_scan_keeps_exactly_the_unhealthy_positions_as_the_book_holds_them(
    shocked, accounts, chain
):
    """Issue 20 item 2: the liquidator's read (raw Multicall3 batches, `positionOf` sliced by
    hand) gives every position as `positionOf` holds it, a two-collateral one included, and
    with `unhealthy_only` keeps exactly those the book's `healthFactor` puts below 1."""
    lending, borrowers = shocked
    book, b = lending.book, accounts[4]
    lending.open_position(b, "gold", 100_000 * USDC, 60_000 * USDC)
    lending.buy_collateral(b, "tbill", 10 * USDC)
    book.depositCollateral(lending.token("tbill"), 5 * 10**6, sender=b)
    everyone = [borrowers[0].lower(), *borrowers[1:], b.address]  # any case in, checksummed out
    multicall = Multicall(ensure_multicall(accounts[0]))
    protocol, asset = protocol_of(lending), str(lending.asset.address)
    head = chain.blocks.head.number

    full = read_book(multicall, protocol, everyone, asset, block=head)
    scan = read_book(multicall, protocol, everyone, asset, block=head, unhealthy_only=True)

    assert not full.failures and not scan.failures
    assert len(full.borrowers) == len(everyone)
    for view in full.borrowers:
        p = book.positionOf(view.address)
        held = {h.token: h.amount for h in view.position.holdings if h.amount}
        assert (view.position.debt, held) == (p.debt, dict(zip(p.tokens, p.amounts, strict=True)))
    assert len(book.positionOf(b).tokens) == 2  # gold and tbill both held
    unhealthy = {a for a in [*borrowers, b.address] if book.healthFactor(a) < WAD}
    assert 40 < len(unhealthy) < len(everyone) - 40
    assert {v.address for v in scan.borrowers} == unhealthy
    assert len(scan.healthy) == len(everyone) - len(unhealthy)


def test_two_keepers_racing_liquidate_each_position_once(shocked, accounts, chain, tmp_path):
    lending, borrowers = shocked
    book = lending.book
    unhealthy = unhealthy_in(book, borrowers)
    start = chain.blocks.head.number + 1
    protocol = protocol_of(lending)
    keepers = [keeper(protocol, accounts[i], tmp_path / str(i)) for i in (7, 8)]
    reports = dict(enumerate(race(keepers, "liquidator")))

    liquidated = liquidated_borrowers(lending, start)
    assert sorted(liquidated) == sorted(unhealthy)  # each exactly once
    outcomes = [
        a.outcome for r in reports.values() for a in r.actions if a.action_id.startswith("liq")
    ]
    assert set(outcomes) <= {"mined", "lost-race"}
    assert outcomes.count("mined") == len(unhealthy)
    assert outcomes.count("lost-race") > 0
    for k, r in zip(keepers, (reports[0], reports[1]), strict=True):
        lost = [a for a in r.actions if a.outcome == "lost-race"]
        recorded = [t for t in k.store.transactions() if t.status == "lost-race"]
        assert len(recorded) == len(lost)
    assert not still_unhealthy(book, unhealthy)


@pytest.mark.parametrize("by", ["revert reason", "chain fact"])
def test_a_liquidation_mined_behind_another_keepers_in_one_block_is_a_lost_race(
    shocked, accounts, chain, tmp_path, by
):
    """Issue 20 item 6, without timing: automine off, the keeper's first `liquidate` waits in the
    pool; a rival liquidates the same borrower with a higher tip; one block mines both, the
    rival's first, so the keeper's transaction is MINED and reverts. It is `lost-race` in the
    report and the store — by its decoded revert reason (`HealthyPosition`/`NoDebt`), and, with no
    lost-race error names configured at all, by the chain fact alone (the borrower's
    `Liquidated` log by another address since the keeper's read block)."""
    lending, borrowers = shocked
    book, tbill = lending.book, lending.token("tbill")
    ours, rival = accounts[8], accounts[7]
    max_uint = 2**256 - 1
    for who in (ours, rival):  # approvals first: the keeper's first transaction is a liquidate
        lending.asset.approve(book, max_uint, sender=who)
    settings = load_settings()
    if by == "chain fact":
        tx = settings.tx.model_copy(update={"lost_race_errors": frozenset()})
        settings = settings.model_copy(update={"tx": tx})
    k = keeper(protocol_of(lending), ours, tmp_path, settings=settings)
    unhealthy = unhealthy_in(book, borrowers)
    start = chain.blocks.head.number + 1

    def borrower_of(tx: dict) -> str:
        return to_checksum_address("0x" + tx["input"][2 + 8 + 24 : 2 + 8 + 64])

    passed = overtaken(
        chain, k, "liquidator", rival.address, book.address,
        lambda tx: book.liquidate.encode_input(borrower_of(tx), tbill, max_uint),
    )  # fmt: skip
    report, first, rival_hash = passed.report, passed.first, passed.rival_hash
    assert first["input"][:10] == "0x" + keccak(text=LIQUIDATE)[:4].hex()

    theirs = chain.provider.web3.eth.get_transaction_receipt(rival_hash)
    lost = chain.provider.web3.eth.get_transaction_receipt(first["hash"])
    assert (theirs.status, lost.status) == (1, 0)  # the keeper's transaction was mined, reverted
    assert theirs.blockNumber == lost.blockNumber and theirs.transactionIndex == 0
    (action,) = [a for a in report.actions if a.tx_hash == first["hash"]]
    assert action.outcome == "lost-race", action
    (record,) = [t for t in k.store.transactions() if t.tx_hash == first["hash"]]
    assert (record.status, record.block) == ("lost-race", lost.blockNumber)
    if by == "chain fact":
        assert f"liquidated by {rival.address} in block {lost.blockNumber}" in action.detail
    else:  # the mined transaction's own revert, decoded: the rival closed the position
        assert action.detail.split("(")[0] in {"HealthyPosition", "NoDebt"}, action.detail
    others = [a for a in report.actions if a.action_id.startswith("liq") and a is not action]
    assert {a.outcome for a in others} == {"mined"}
    liquidated = liquidated_borrowers(lending, start)
    assert sorted(liquidated) == sorted(unhealthy)  # each exactly once, the rival's included


@pytest.mark.parametrize("race_errors", ["none configured", "the defaults"])
def test_a_liquidation_found_mined_behind_a_rival_after_a_restart_is_a_lost_race(
    shocked, accounts, chain, tmp_path, race_errors
):
    """The keeper's process died with its liquidation in the pool (recorded `sent`, as the
    sender records it before the broadcast); a rival's liquidation of the same borrower, with a
    higher tip, was mined ahead of it in one block, so ours mined and reverted. The restarted
    keeper settles it `lost-race` by the chain fact the pass that sent it would have used (the
    borrower's `Liquidated` log by another address since the read block named in the action
    id) — with no lost-race error names configured too, as for a revert such as `NoCollateral`
    (a rival took all of that token), which names no race. Was `reverted`: at a restart, only
    the revert's name was read."""
    lending, borrowers = shocked
    book = lending.book
    ours, rival = accounts[8], accounts[7]
    for who in (ours, rival):
        lending.asset.approve(book, 2**256 - 1, sender=who)
    borrower = next(b for b in borrowers if book.liquidationTrigger(b)[0])
    data = book.liquidationTrigger(borrower)[1]
    settings = load_settings()
    if race_errors == "none configured":
        tx = settings.tx.model_copy(update={"lost_race_errors": frozenset()})
        settings = settings.model_copy(update={"tx": tx})
    k = keeper(protocol_of(lending), ours, tmp_path, settings=settings)
    read = chain.blocks.head.number
    request = chain.provider.make_request

    def send(who, tip: int) -> str:
        call = {"from": who.address, "to": book.address, "data": "0x" + bytes(data).hex()}
        fees = {"maxPriorityFeePerGas": hex(tip), "maxFeePerGas": hex(tip + 100 * 10**9)}
        return request("eth_sendTransaction", [call | fees | {"gas": hex(2_000_000)}])

    request("anvil_setAutomine", [False])
    try:
        nonce = ours.nonce
        mine = send(ours, 10**9)
        k.store.record_sent(
            job="liquidator", action_id=f"liquidate:{borrower.lower()}:{read}",
            sender=ours.address, nonce=nonce, tx_hash=mine,
        )  # fmt: skip
        theirs = send(rival, 10 * 10**9)
        request("evm_mine", [])  # both in one block, the rival's first
    finally:
        request("anvil_setAutomine", [True])
    web3 = chain.provider.web3
    lost, won = web3.eth.get_transaction_receipt(mine), web3.eth.get_transaction_receipt(theirs)
    assert (won.status, lost.status) == (1, 0) and won.blockNumber == lost.blockNumber
    k.store.close()

    restarted = keeper(protocol_of(lending), ours, tmp_path, settings=settings)
    assert restarted.reconcile() == []
    record = restarted.store.transaction(mine)
    assert (record.status, record.block) == ("lost-race", lost.blockNumber), record
    if race_errors == "none configured":
        assert f"liquidated by {rival.address} in block {lost.blockNumber}" in record.error
    assert restarted.store.already_done(record.action_id)


def test_the_liquidator_writes_off_debt_left_behind_dust(book, accounts, chain, tmp_path):
    """Issue 18, M-4: gold plus 1 wei of T-bills, gold -40%. Seizing all the gold leaves 14,444
    behind the wei: the keeper plans that liquidation (bonus plus sweep, net of gas), it sweeps
    the wei and writes the rest off in the same transaction, and nothing is left to act on.
    (Run in `isolated`: inside Ape's `chain.isolate()`, which swallows exceptions, its borrow
    was refused and its checks never ran.)"""
    lending, _ = book
    b, gold, tbill = accounts[4], lending.token("gold"), lending.token("tbill")
    with isolated(chain):
        # 69,999: a borrow of the whole power (70,000) owes a wei more, refused
        lending.open_position(b, "gold", 100_000 * USDC, 69_999 * USDC)
        lending.buy_collateral(b, "tbill", 10 * USDC)
        lending.book.depositCollateral(tbill, 1, sender=b)
        lending.set_nav("gold", 1_200 * 10**8)  # 60,000 of gold behind 70,000
        assert lending.confirm("gold")
        start = chain.blocks.head.number + 1
        assets_before = lending.vault.totalAssets()

        k = keeper(protocol_of(lending), accounts[7], tmp_path)
        report = k.run("liquidator")

        assert liquidated_borrowers(lending, start) == [b.address]
        head = chain.blocks.head.number
        (bad,) = lending.book.BadDebtRealized.range(start, head + 1)
        (sweep,) = lending.book.CollateralSwept.range(start, head + 1)
        assert (bad.borrower, sweep.token, sweep.amount) == (b.address, tbill.address, 1)
        assert 14_443 * USDC < bad.amount < 14_445 * USDC
        # the vault lost the bad debt; interest on the rest of the book accrued meanwhile (the
        # anvil clock runs while the keeper passes): far less than 1 % of the loss
        after = lending.vault.totalAssets()
        assert assets_before - bad.amount <= after < assets_before - bad.amount * 99 // 100
        assert lending.book.debtOf(b) == 0 and gold.balanceOf(accounts[7]) == 50 * 10**18
        assert {a.outcome for a in report.actions} == {"mined"}
        assert k.run("liquidator").actions == []
