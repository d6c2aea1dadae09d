"""Issue 20 item 1 on anvil: the liquidator batches its liquidations through a
`LiquidationExecutor`, so the block after a shock holds as many as its gas allows.

Every outcome is read from chain facts: the blocks' gas and the `Liquidated` events of each
block, the batch receipts' `ItemLiquidated` / `ItemFailed` events, the decoded revert of an item
that lost a race. For the packing test the tbill is marked down 40 % (almost every position
unhealthy) and the block gas limit lowered to 5,000,000, so that the book needs several blocks."""

from __future__ import annotations

import math
import os
import sqlite3
import subprocess
import sys
import time

import pytest
from eth_abi import decode
from eth_utils import keccak, to_checksum_address

from keepers.config import load_settings
from keepers.store import Store
from tests.keeper_support import (
    block_gas_limit,
    bound_state,
    keeper,
    open_many_positions,
    overtaken,
    pending_from,
    protocol_of,
    race,
    still_unhealthy,
    unhealthy_in,
)
from tests.lending_support import deploy_lending_system
from tests.vault_support import USDC, faucet

BORROWERS = 200
MAX_UINT = 2**256 - 1
SMALL_BLOCK = 5_000_000
BATCH = "liquidateBatch((address,address,uint256)[],uint256)"


@pytest.fixture(scope="module")
def book(project, accounts, chain):
    """A lending system with 200 tbill-backed borrowers (health 1.22 to 1.70), an executor on
    its book and two keepers' inventories."""
    lending = deploy_lending_system(project, accounts[0], accounts[1], accounts[5])
    lending.supply(accounts[6], 2_000_000 * USDC)
    borrowers = open_many_positions(lending, BORROWERS, accounts[0])
    executor = accounts[0].deploy(project.LiquidationExecutor, lending.book)
    for who in (accounts[7], accounts[8]):
        faucet(lending.asset, who, 2_000_000 * USDC)
    return lending, borrowers, executor


@pytest.fixture
def shocked(book, chain):
    """tbill marked down 25 %: the most indebted third of the book is unhealthy."""
    lending, borrowers, executor = book
    with chain.isolate():
        lending.set_nav("tbill", 75_000_000)
        assert lending.confirm("tbill")  # a liquidation counts the fall once confirmed
        yield lending, borrowers, executor


@pytest.fixture
def crashed(book, chain):
    """tbill marked down 40 %: almost every position is unhealthy."""
    lending, borrowers, executor = book
    with chain.isolate():
        lending.set_nav("tbill", 60_000_000)
        assert lending.confirm("tbill")  # a liquidation counts the fall once confirmed
        yield lending, borrowers, executor


@pytest.fixture
def small_blocks(chain):
    """Blocks of SMALL_BLOCK gas from the next one on (anvil's default limit restored after)."""
    with block_gas_limit(chain, SMALL_BLOCK):
        yield SMALL_BLOCK


def batch_keeper(lending, executor, account, state, **tx):
    settings = load_settings(liquidator={"executor": str(executor.address)})
    if tx:
        settings = settings.model_copy(update={"tx": settings.tx.model_copy(update=tx)})
    return keeper(protocol_of(lending), account, state, settings=settings)


def liquidations_by_block(lending, start: int) -> dict[int, list[str]]:
    head = lending.book.provider.get_block("latest").number
    out: dict[int, list[str]] = {}
    for log in lending.book.Liquidated.range(start, head + 1):
        out.setdefault(int(log.block_number), []).append(log.borrower)
    return out


def test_after_a_shock_batches_fill_each_block_and_clear_the_book_in_the_fewest_blocks(
    crashed, small_blocks, accounts, chain, tmp_path
):
    lending, borrowers, executor = crashed
    book, asset, tbill = lending.book, lending.asset, lending.token("tbill")
    ours = accounts[7]
    asset.approve(executor, MAX_UINT, sender=ours)  # the operator's one-time approval
    unhealthy = unhealthy_in(book, borrowers)
    assert len(unhealthy) > BORROWERS * 3 // 4
    start = chain.blocks.head.number + 1
    k = batch_keeper(lending, executor, ours, tmp_path)

    report = k.run("liquidator")

    actions = [a for a in report.actions if a.action_id.startswith("liquidate:")]
    assert {a.outcome for a in actions} == {"mined"}, report.summary()
    by_block = liquidations_by_block(lending, start)
    liquidated = [b for block in sorted(by_block) for b in by_block[block]]
    assert sorted(liquidated) == sorted(unhealthy)  # each exactly once, no healthy one
    assert min(by_block) == start  # the first block after the shock holds liquidations...
    web3 = chain.provider.web3
    blocks = [web3.eth.get_block(n) for n in sorted(by_block)]
    for block in blocks:
        assert len(block["transactions"]) == 1 and block["gasUsed"] <= SMALL_BLOCK
    batches = [web3.eth.get_transaction(b["transactions"][0]) for b in blocks]
    # A batch declares the gas its execution needs (the node's estimate + 3 %); the block's
    # gasUsed is less by the storage refunds (a cleared position refunds up to 1/5 of it), so
    # the fill is measured on the declared gas: short of the block by less than two items.
    per_item = max(tx["gas"] / len(by_block[tx["blockNumber"]]) for tx in batches)
    assert all(tx["gas"] <= SMALL_BLOCK for tx in batches)
    assert batches[0]["gas"] > SMALL_BLOCK - 2 * per_item, (batches[0]["gas"], per_item)
    assert len(by_block[start]) >= SMALL_BLOCK // per_item - 1
    used = sum(b["gasUsed"] for b in blocks)
    declared = sum(tx["gas"] for tx in batches)
    assert len(by_block) <= math.ceil(used / SMALL_BLOCK) + 1
    assert len(by_block) <= math.ceil(declared / SMALL_BLOCK) + 1
    assert max(by_block) - start + 1 == len(by_block)  # consecutive blocks
    assert not still_unhealthy(book, unhealthy)
    # the executor kept nothing: the seized collateral and the unspent budget are the keeper's
    assert asset.balanceOf(executor) == 0 and tbill.balanceOf(executor) == 0
    assert tbill.balanceOf(ours) > 0
    assert asset.allowance(executor, book) == 0
    assert k.run("liquidator").actions == []


def test_two_keepers_batching_at_once_liquidate_each_position_once(
    shocked, accounts, chain, tmp_path
):
    lending, borrowers, executor = shocked
    book = lending.book
    unhealthy = unhealthy_in(book, borrowers)
    for who in (accounts[7], accounts[8]):
        lending.asset.approve(executor, MAX_UINT, sender=who)
    start = chain.blocks.head.number + 1
    keepers = [batch_keeper(lending, executor, accounts[i], tmp_path / str(i)) for i in (7, 8)]

    reports = race(keepers, "liquidator")

    liquidated = [b for bs in liquidations_by_block(lending, start).values() for b in bs]
    assert sorted(liquidated) == sorted(unhealthy)  # each exactly once
    outcomes = [
        a.outcome for r in reports for a in r.actions if a.action_id.startswith("liquidate:")
    ]
    assert set(outcomes) <= {"mined", "lost-race"}, outcomes
    assert outcomes.count("mined") == len(unhealthy)
    for k, r in zip(keepers, reports, strict=True):
        lost = [a for a in r.actions if a.outcome == "lost-race"]
        assert len([t for t in k.store.transactions() if t.status == "lost-race"]) == len(lost)
        assert all(a.detail.split("(")[0] in {"HealthyPosition", "NoDebt"} for a in lost)


@pytest.mark.parametrize("by", ["revert reason", "chain fact"])
def test_a_batch_item_another_keeper_cleared_first_is_a_lost_race_and_the_batch_goes_on(
    shocked, accounts, chain, tmp_path, by
):
    """Automine off: the keeper's batch waits in the pool; a rival liquidates one of its
    borrowers directly with a higher tip; one block mines both, the rival's first. The batch is
    mined and succeeds; that item's `ItemFailed` carries the book's error and the keeper reports
    it `lost-race` — by the decoded error, and with no lost-race error names configured, by the
    chain fact alone (the borrower's `Liquidated` log from another sender after the read)."""
    lending, borrowers, executor = shocked
    book, tbill = lending.book, lending.token("tbill")
    ours, rival = accounts[8], accounts[7]
    lending.asset.approve(executor, MAX_UINT, sender=ours)
    lending.asset.approve(book, MAX_UINT, sender=rival)
    tx = {"lost_race_errors": frozenset()} if by == "chain fact" else {}
    k = batch_keeper(lending, executor, ours, tmp_path, **tx)
    unhealthy = unhealthy_in(book, borrowers)
    start = chain.blocks.head.number + 1

    def items_of(tx: dict) -> list:
        calldata = bytes.fromhex(tx["input"][10:])
        return decode(["(address,address,uint256)[]", "uint256"], calldata)[0]

    def victim_of(tx: dict) -> str:
        items = items_of(tx)
        return to_checksum_address(items[len(items) // 2][0])  # one mid-batch

    passed = overtaken(
        chain, k, "liquidator", rival.address, book.address,
        lambda tx: book.liquidate.encode_input(victim_of(tx), tbill, MAX_UINT),
    )  # fmt: skip
    report, batch, rival_hash = passed.report, passed.first, passed.rival_hash
    assert batch["input"][:10] == "0x" + keccak(text=BATCH)[:4].hex()
    assert len(items_of(batch)) == len(unhealthy)  # one batch holds them all
    victim = victim_of(batch)

    web3 = chain.provider.web3
    theirs = web3.eth.get_transaction_receipt(rival_hash)
    ours_receipt = web3.eth.get_transaction_receipt(batch["hash"])
    assert (theirs.status, ours_receipt.status) == (1, 1)  # the batch was not reverted
    assert theirs.blockNumber == ours_receipt.blockNumber and theirs.transactionIndex == 0
    failed = list(executor.ItemFailed.range(start, chain.blocks.head.number + 1))
    assert [f.borrower for f in failed] == [victim]
    actions = {a.action_id: a for a in report.actions if a.action_id.startswith("liquidate:")}
    lost = actions.pop(f"liquidate:{victim.lower()}:{report.block}")
    assert (lost.outcome, lost.tx_hash) == ("lost-race", batch["hash"])
    if by == "chain fact":
        assert f"liquidated by {rival.address} in block {theirs.blockNumber}" in lost.detail
    else:
        assert lost.detail.split("(")[0] in {"HealthyPosition", "NoDebt"}, lost.detail
    (record,) = [t for t in k.store.transactions() if t.status == "lost-race"]
    assert record.action_id == f"liquidate:{victim.lower()}:{report.block}"
    assert {a.outcome for a in actions.values()} == {"mined"}
    assert len(actions) == len(unhealthy) - 1
    liquidated = [b for bs in liquidations_by_block(lending, start).values() for b in bs]
    assert sorted(liquidated) == sorted(unhealthy)  # each exactly once, the rival's included


@pytest.mark.parametrize("what", ["no code", "not an executor"])
def test_an_executor_address_that_is_not_this_books_executor_is_refused_in_one_line(
    shocked, accounts, tmp_path, what
):
    from keepers.shell import KeeperError

    lending, _, _ = shocked
    address = "0x" + "ee" * 20 if what == "no code" else lending.asset
    settings = load_settings(liquidator={"executor": str(address)})
    k = keeper(protocol_of(lending), accounts[7], tmp_path, settings=settings)
    with pytest.raises(KeeperError) as err:
        k.run("liquidator")
    assert "\n" not in str(err.value) and "LiquidationExecutor" in str(err.value)


def _keeper_process(node: str, repo_root, executor: str, *args: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "APE_FOUNDRY_HOST": node,
        "NO_COLOR": "1",
        "COLUMNS": "200",
        "BALLAST_KEEPER_LIQUIDATOR__EXECUTOR": executor,
    }
    return subprocess.Popen(  # `-m` from the checkout: this tree's keepers, not an installed one
        [sys.executable, "-m", "keepers.cli", *args], cwd=repo_root, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def _batch_records(state_file) -> list[tuple[str, str]]:
    """(tx hash, status) of the batches the keeper's state file records (none yet: [])."""
    if not state_file.exists():
        return []
    db = sqlite3.connect(state_file, timeout=5)
    try:
        rows = db.execute(
            "SELECT tx_hash, status FROM txs WHERE action_id LIKE 'liquidate-batch:%'"
        ).fetchall()
    except sqlite3.OperationalError:  # the schema is not there yet
        return []
    finally:
        db.close()
    return [("0x" + bytes(h).hex() if isinstance(h, bytes) else str(h), s) for h, s in rows]


def test_a_keeper_killed_with_its_batch_in_flight_reconciles_it_by_hash_and_acts_once(
    shocked, accounts, chain, repo_root, tmp_path
):
    """Automine off: the keeper process records its batch (write-ahead) and broadcasts it; it is
    SIGKILLed while the batch waits in the pool; the block is mined; a new process reconciles
    the batch by its hash (mined) and finds nothing left to do: every position liquidated once,
    by the one batch."""
    lending, borrowers, executor = shocked
    book, keeper_account = lending.book, accounts[7]
    lending.asset.approve(executor, MAX_UINT, sender=keeper_account)
    unhealthy = unhealthy_in(book, borrowers)
    manifest = tmp_path / "ethereum-local.json"
    protocol_of(lending).deployment.save(manifest)
    state_dir = tmp_path / "state"
    state_file, _ = bound_state(state_dir, manifest, keeper_account.address)
    args = ("--manifest", str(manifest), "--account", "TEST::7", "--state-dir", str(state_dir),
            "once", "--job", "liquidator")  # fmt: skip
    node, address = chain.provider.uri, str(executor.address)
    start = chain.blocks.head.number + 1
    request = chain.provider.make_request

    request("anvil_setAutomine", [False])
    try:
        first = _keeper_process(node, repo_root, address, *args)
        deadline = time.monotonic() + 240
        while not (pending_from(chain, keeper_account.address) and _batch_records(state_file)):
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the keeper never sent its batch"
            time.sleep(0.1)
        first.kill()  # SIGKILL, the batch in the pool and recorded as sent
        first.wait(30)
        ((tx_hash, status),) = _batch_records(state_file)
        assert status == "sent"
        (pending,) = pending_from(chain, keeper_account.address)
        assert pending["hash"] == tx_hash  # the record names the transaction broadcast
        request("evm_mine", [])
    finally:
        request("anvil_setAutomine", [True])

    second = _keeper_process(node, repo_root, address, *args)
    out, err = second.communicate(timeout=300)
    assert second.returncode == 0, out + err

    head = chain.blocks.head.number
    logs = list(book.Liquidated.range(start, head + 1))
    assert sorted(log.borrower for log in logs) == sorted(unhealthy)  # each exactly once
    assert {log.transaction_hash for log in logs} == {tx_hash}  # all by the one batch
    with Store(state_file) as store:
        assert store.in_flight() == []
        assert _batch_records(state_file) == [(tx_hash, "mined")]
