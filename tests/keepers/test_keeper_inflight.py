"""A key's own transactions in flight across passes (`keepers.inflight`): a transaction that
gets no receipt (anvil with automine off stands for a node that never includes it: a gas spike,
a stalled pool) is resumed on its nonce — re-priced, waited on — never written off as a race
lost to someone else, never sent a second time, and nothing is queued behind it; one a reorg
undid is sent again.

Every outcome is classified from chain facts: the store's records, the node's pool
(`txpool_content`), receipts and the contracts' state. `receipt_timeout` only bounds each wait.
"""

from __future__ import annotations

import pytest

from keepers.config import load_settings
from keepers.math import WAD
from keepers.outcomes import AlreadyDone, Refused, Stuck
from keepers.settings import TxSettings
from keepers.store import Store
from keepers.tx import TxSender
from tests.keeper_support import (
    SLOW_TX,
    keeper,
    manual_mining,
    open_many_positions,
    pending_from,
    protocol_of,
    request,
)
from tests.lending_support import deploy_lending_system
from tests.vault_support import USDC, faucet, isolated

NAMES = ("tbill", "gold", "invoices")
BORROWERS = 3


@pytest.fixture(scope="module")
def system(project, accounts, chain):
    lending = deploy_lending_system(project, accounts[0], accounts[1], accounts[5])
    lending.supply(accounts[6], 2_000_000 * USDC)
    borrowers = open_many_positions(lending, BORROWERS, accounts[0])
    faucet(lending.asset, accounts[7], 2_000_000 * USDC)
    executor = accounts[0].deploy(project.LiquidationExecutor, lending.book)
    return lending, borrowers, executor


@pytest.fixture
def fresh(system, chain):
    with isolated(chain):
        yield system


@pytest.fixture
def due(fresh, chain):
    """Decision 0 (the supply) due, with fresh prices."""
    lending, _, _ = fresh
    agents = lending.vs.agents
    chain.pending_timestamp = agents.decisionRecord(0).dueAt + 60
    for name in NAMES:
        feed = lending.feed(name)
        feed.setAnswer(feed.latestAnswer(), sender=lending.vs.governance)
    assert list(agents.decisionsDue(10)) == [0]
    return lending


def statuses(store: Store, action_id: str) -> list[str]:
    return sorted(t.status for t in store.transactions(action_id))


def test_a_stuck_evaluation_is_resumed_not_written_off_and_sent_again_once_dropped(
    due, accounts, chain, tmp_path
):
    agents = due.vs.agents
    who = accounts[7]
    k = keeper(protocol_of(due), who, tmp_path, settings=load_settings(tx=SLOW_TX))
    with manual_mining(chain):
        first = k.run("evaluator")
        assert [(a.action_id, a.outcome) for a in first.actions] == [("evaluate:0", "stuck")]
        (flight,) = k.store.in_flight(who.address)
        # pass 2, the transaction still unmined: its flight is resumed (the same nonce, the
        # same hash in the pool), not simulated against itself and written off as a lost race
        second = k.run("evaluator")
        assert [(a.action_id, a.outcome) for a in second.actions] == [("evaluate:0", "stuck")]
        assert [t["hash"] for t in pending_from(chain, who.address)] == [flight.tx_hash]
        assert statuses(k.store, "evaluate:0") == ["sent"]
        assert not k.store.already_done("evaluate:0")
        request(chain, "anvil_dropAllTransactions")  # the pool evicts it
        request(chain, "evm_mine")
    third = k.run("evaluator")  # settled as dropped, then planned and sent again
    assert [(a.action_id, a.outcome) for a in third.actions] == [("evaluate:0", "mined")]
    assert agents.decisionRecord(0).evaluated
    assert "lost-race" not in statuses(k.store, "evaluate:0")


def test_a_later_blocks_send_of_the_same_action_resumes_the_pending_one(
    fresh, accounts, chain, tmp_path
):
    """`approve:<token>:<spender>:<block>` planned again at a later block while the first is
    pending: no second approval is signed; once the first mines, the action is done."""
    lending, _, _ = fresh
    who, spender = accounts[7], accounts[3]
    asset = lending.asset
    store = Store(tmp_path / "k.sqlite")
    stem = f"approve:{asset.address.lower()}:{spender.address.lower()}"
    slow = TxSender(who, settings=TxSettings(**SLOW_TX), store=store, job="liquidator")
    nonce = who.nonce
    with manual_mining(chain):
        first = slow.send(asset, "approve", spender, 5, action_id=f"{stem}:100")
        assert isinstance(first, Stuck) and first.nonce == nonce
        again = TxSender(who, settings=TxSettings(**SLOW_TX), store=store, job="liquidator")
        later = again.send(asset, "approve", spender, 5, action_id=f"{stem}:105")
        assert isinstance(later, Stuck) and later.nonce == nonce
        assert later.tx_hashes == first.tx_hashes
        assert len(pending_from(chain, who.address)) == 1
        assert store.transactions(f"{stem}:105") == []
        request(chain, "evm_mine")  # the first approval mines
        done = again.send(asset, "approve", spender, 5, action_id=f"{stem}:106")
    assert done == AlreadyDone(f"{stem}:106")
    assert who.nonce == nonce + 1 and asset.allowance(who, spender) == 5
    assert statuses(store, f"{stem}:100") == ["mined"]


def test_a_call_refused_only_at_the_pending_block_behind_own_transactions_is_no_lost_race(
    due, accounts, chain, tmp_path
):
    """The key's own pending `evaluate(0)` (sent outside this store: another process, a lost
    state file) makes the pending-block simulation revert `AlreadyEvaluated`; at the latest
    block the call passes: not recorded as a race lost to someone else."""
    agents = due.vs.agents
    who = accounts[7]
    with manual_mining(chain):
        stray = TxSender(who, settings=TxSettings(**SLOW_TX))  # no store
        assert isinstance(stray.send(agents, "evaluate", 0, action_id="evaluate:0"), Stuck)
        store = Store(tmp_path / "k.sqlite")
        sender = TxSender(who, settings=TxSettings(**SLOW_TX), store=store, job="evaluator")
        outcome = sender.send(agents, "evaluate", 0, action_id="evaluate:0")
        assert isinstance(outcome, Refused) and outcome.error_name == "AlreadyEvaluated"
        assert len(pending_from(chain, who.address)) == 1
    assert not store.already_done("evaluate:0") and store.transactions() == []


def test_a_pending_transaction_is_repriced_at_current_fees_before_the_next_pass(
    due, accounts, chain, tmp_path
):
    """The operator raises the tip after a stuck pass (anvil evicts a transaction a base-fee
    spike leaves under water, so the spike is the keeper's own price here): the next pass
    replaces the pending transaction on its nonce at the current price before planning."""
    agents = due.vs.agents
    who = accounts[7]
    k = keeper(protocol_of(due), who, tmp_path, settings=load_settings(tx=SLOW_TX))
    with manual_mining(chain):
        assert [a.outcome for a in k.run("evaluator").actions] == ["stuck"]
        (flight,) = k.store.in_flight(who.address)
        dearer = load_settings(tx={**SLOW_TX, "priority_fee": 4 * flight.priority_fee})
        k = keeper(protocol_of(due), who, tmp_path, settings=dearer)  # same state file
        second = k.run("evaluator")
        assert [a.outcome for a in second.actions] == ["stuck"]
        first, repriced = sorted(k.store.transactions("evaluate:0"), key=lambda t: t.max_fee)
        assert first.tx_hash == flight.tx_hash and repriced.nonce == flight.nonce
        assert repriced.priority_fee == dearer.tx.priority_fee
        assert repriced.max_fee >= dearer.tx.priority_fee
        (pooled,) = pending_from(chain, who.address)  # the replacement, nothing else
        assert pooled["hash"] == repriced.tx_hash
        request(chain, "evm_mine")
    third = k.run("evaluator")  # the replacement's receipt settles both
    assert agents.decisionRecord(0).evaluated and third.actions == []
    assert {t.tx_hash: t.status for t in k.store.transactions("evaluate:0")} == {
        first.tx_hash: "replaced",
        repriced.tx_hash: "mined",
    }


def test_after_a_stuck_send_the_pass_sends_nothing_behind_it_and_the_next_waits_on_it(
    fresh, accounts, chain, tmp_path
):
    lending, borrowers, _ = fresh
    who = accounts[7]
    lending.set_nav("tbill", 50_000_000)
    lending.confirm("tbill")  # a liquidation counts the fall once confirmed
    assert all(lending.book.healthFactor(b) < WAD for b in borrowers)
    settings = load_settings(tx={**SLOW_TX, "max_replacements": 0}, liquidator={"batch": False})
    k = keeper(protocol_of(lending), who, tmp_path, settings=settings)
    with manual_mining(chain):
        first = k.run("liquidator")
        kinds = [(a.action_id.split(":")[0], a.outcome) for a in first.actions]
        assert kinds == [("approve", "stuck")] + [("liquidate", "blocked")] * BORROWERS
        assert all("nonce" in a.detail for a in first.actions[1:])
        (approval,) = pending_from(chain, who.address)  # nothing queued behind it
        second = k.run("liquidator")
        kinds = [(a.action_id.split(":")[0], a.outcome) for a in second.actions]
        assert kinds == [("approve", "stuck")] + [("liquidate", "blocked")] * BORROWERS
        assert [t["hash"] for t in pending_from(chain, who.address)] == [approval["hash"]]
        assert not any(t.status == "lost-race" for t in k.store.transactions())
        request(chain, "evm_mine")  # the approval mines at last
    third = k.run("liquidator")
    kinds = [(a.action_id.split(":")[0], a.outcome) for a in third.actions]
    assert kinds == [("liquidate", "mined")] * BORROWERS
    approvals = [t for t in k.store.transactions() if t.action_id.startswith("approve:")]
    assert [t.status for t in approvals] == ["mined"]  # one approval, never signed twice


def test_after_a_stuck_batch_no_later_batch_is_simulated_or_sent(fresh, accounts, chain, tmp_path):
    """One liquidation a batch: the first batch gets no receipt; the other items are reported
    `blocked` (nothing simulated against the key's own pending batch, nothing queued behind it),
    in that pass and the next; once it mines, the next pass liquidates the rest."""
    lending, borrowers, executor = fresh
    who = accounts[7]
    lending.asset.approve(executor, 2**256 - 1, sender=who)  # the operator's one-time approval
    lending.set_nav("tbill", 50_000_000)
    lending.confirm("tbill")  # a liquidation counts the fall once confirmed
    settings = load_settings(
        tx={**SLOW_TX, "max_replacements": 0},
        liquidator={"executor": str(executor.address), "max_batch_items": 1},
    )
    k = keeper(protocol_of(lending), who, tmp_path, settings=settings)
    with manual_mining(chain):
        first = k.run("liquidator")
        assert [a.outcome for a in first.actions] == ["stuck"] + ["blocked"] * (BORROWERS - 1)
        (batch,) = pending_from(chain, who.address)
        second = k.run("liquidator")
        assert [a.outcome for a in second.actions] == ["blocked"] * BORROWERS
        assert [t["hash"] for t in pending_from(chain, who.address)] == [batch["hash"]]
        assert not any(t.status == "lost-race" for t in k.store.transactions())
        request(chain, "evm_mine")  # the first batch mines at last
    third = k.run("liquidator")
    assert [a.outcome for a in third.actions] == ["mined"] * (BORROWERS - 1)
    assert all(lending.book.healthFactor(b) >= WAD for b in borrowers)
    batches = [t for t in k.store.transactions() if t.action_id.startswith("liquidate-batch:")]
    assert sorted(t.status for t in batches) == ["mined"] * BORROWERS


def evaluated_again(k, agents, chain):
    """The keeper's next evaluator pass sends `evaluate(0)` again, and it is mined and recorded
    at the block of its receipt. Returns the record."""
    again = k.run("evaluator")
    assert [(a.action_id, a.outcome) for a in again.actions] == [("evaluate:0", "mined")]
    assert agents.decisionRecord(0).evaluated
    receipt = chain.provider.web3.eth.get_transaction_receipt(again.actions[0].tx_hash)
    record = k.store.transaction(again.actions[0].tx_hash)
    assert (record.status, record.block) == ("mined", receipt["blockNumber"])
    return record


def test_an_evaluation_undone_by_a_reorg_is_sent_again(due, accounts, chain, tmp_path):
    agents = due.vs.agents
    blind = keeper(protocol_of(due), accounts[7], tmp_path, tx={"reorg_depth": 0})
    fork = chain.snapshot()
    done = blind.run("evaluator")
    assert [(a.action_id, a.outcome) for a in done.actions] == [("evaluate:0", "mined")]
    (gone,) = blind.store.transactions("evaluate:0")
    chain.restore(fork)  # the reorg: the block with the evaluation is gone
    chain.mine(3)  # the new chain is longer
    assert not agents.decisionRecord(0).evaluated
    # with the re-check off, the receipt the reorg removed is still taken for done
    late = blind.run("evaluator")
    assert [(a.action_id, a.outcome) for a in late.actions] == [("evaluate:0", "already-done")]
    k = keeper(protocol_of(due), accounts[7], tmp_path)  # the default depth, same state file
    record = evaluated_again(k, agents, chain)
    assert record.block != gone.block


def test_an_evaluation_a_reorg_undid_while_the_keeper_was_away_is_sent_again(
    due, accounts, chain, tmp_path
):
    """`reorg_depth` bounds how deep a reorg is, not how long the keeper may be away from the
    chain: a one-block reorg drops the keeper's `evaluate(0)`, and the chain grows 20 blocks
    (4 minutes of mainnet: a cron keeper's interval, a bot's restart) before its next pass. The
    re-check must reach back from the head it last checked at, not only from the head it reads
    now, else the vanished evaluation is taken for done for good and nobody's keeper sends it."""
    agents = due.vs.agents
    k = keeper(protocol_of(due), accounts[7], tmp_path)  # the default depth: 12
    fork = chain.snapshot()
    done = k.run("evaluator")
    assert [(a.action_id, a.outcome) for a in done.actions] == [("evaluate:0", "mined")]
    (gone,) = k.store.transactions("evaluate:0")
    chain.restore(fork)  # a one-block reorg: the block with the evaluation is gone
    chain.mine(20)  # and the chain grows past it by more than reorg_depth before the next pass
    assert not agents.decisionRecord(0).evaluated
    assert chain.blocks.head.number > gone.block + k.settings.tx.reorg_depth
    evaluated_again(k, agents, chain)


def test_a_race_lost_to_a_rivals_pending_transaction_that_is_dropped_is_planned_again(
    due, accounts, chain, tmp_path
):
    """The pending-block simulation sees a rival's `evaluate(0)` in the pool: a lost race with
    no transaction of ours, read at the head. It counts as done for `reorg_depth` blocks only:
    the rival's transaction is dropped, and once the window is past the decision is planned
    again from the chain and evaluated."""
    agents = due.vs.agents
    who, rival = accounts[7], accounts[8]
    k = keeper(
        protocol_of(due), who, tmp_path, settings=load_settings(tx={**SLOW_TX, "reorg_depth": 2})
    )
    with manual_mining(chain):
        stray = TxSender(rival, settings=TxSettings(**SLOW_TX))  # no store: another keeper
        assert isinstance(stray.send(agents, "evaluate", 0, action_id="evaluate:0"), Stuck)
        first = k.run("evaluator")
        assert [(a.action_id, a.outcome) for a in first.actions] == [("evaluate:0", "lost-race")]
        (row,) = k.store.transactions("evaluate:0")
        assert (row.status, row.nonce, row.block) == ("lost-race", -1, chain.blocks.head.number)
        request(chain, "anvil_dropAllTransactions")  # the rival's transaction never mines
    assert pending_from(chain, rival.address) == []
    chain.mine()  # within the window: still taken for done
    again = k.run("evaluator")
    assert [(a.action_id, a.outcome) for a in again.actions] == [("evaluate:0", "already-done")]
    chain.mine(2)  # the window is past: nobody evaluated it, so the keeper does
    later = k.run("evaluator")
    assert [(a.action_id, a.outcome) for a in later.actions] == [("evaluate:0", "mined")]
    assert agents.decisionRecord(0).evaluated
