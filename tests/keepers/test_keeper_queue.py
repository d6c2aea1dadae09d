"""The key's queue of its own transactions (`keepers.inflight.drain`, `keepers.nonces`): a nonce
the node's pool lost below a pending transaction is filled; a stuck flight is bumped at most
once a pass and at most `max_replacements` times in all, its superseded attempts recorded
`replaced`; the sentinel's pause takes the nonce of a stuck approval instead of waiting behind
it; a held-up queue counts as a failed action even in a pass that plans nothing.

Anvil with automine off stands for a node that includes nothing. Every outcome is classified
from chain facts: the store's records, the node's pool (`txpool_content`), receipts and the
contracts' state; the settings' seconds only bound each wait.
"""

from __future__ import annotations

import pytest
from eth_utils import keccak

from keepers.config import load_settings
from keepers.outcomes import Stuck
from keepers.settings import TxSettings
from keepers.shell.reports import FAILED_OUTCOMES
from keepers.store import Store
from keepers.tx import TxSender, bumped
from tests.keeper_support import (
    SLOW_TX,
    keeper,
    manual_mining,
    pending_from,
    protocol_of,
    request,
    supplied_book,
)
from tests.vault_support import DAY, isolated


@pytest.fixture(scope="module")
def system(project, accounts, chain):
    return supplied_book(project, accounts)


@pytest.fixture
def fresh(system, chain):
    with isolated(chain):
        yield system


def pooled_nonces(chain, who: str) -> dict[str, list[int]]:
    """`who`'s nonces in the node's pool, executable (`pending`) and waiting on a gap."""
    pool = request(chain, "txpool_content")
    return {
        kind: sorted(
            int(t["nonce"], 16)
            for s, txs in pool[kind].items()
            if s.lower() == who.lower()
            for t in txs.values()
        )  # fmt: skip
        for kind in ("pending", "queued")
    }


def by_age(store: Store, action_id: str) -> list:
    return sorted(store.transactions(action_id), key=lambda t: t.sent_at)


def test_a_nonce_the_pool_lost_below_a_pending_transaction_is_filled(
    fresh, accounts, chain, tmp_path
):
    """Nonces N and N+1 of the key in flight; the pool loses N and keeps N+1 waiting on the
    gap. N is settled dropped; the pass fills N with a transfer to the key itself, so N+1 can
    run: once a block is mined both are, and the key is no longer held up."""
    lending = fresh
    who, a, b = accounts[7], accounts[3], accounts[8]
    asset = lending.asset
    k = keeper(protocol_of(lending), who, tmp_path, settings=load_settings(tx=SLOW_TX))
    sender = TxSender(who, settings=TxSettings(**SLOW_TX), store=k.store, job="liquidator")
    n = who.nonce
    with manual_mining(chain):
        first = sender.send(asset, "approve", a, 5, action_id="approve:x:a:1")
        second = sender.send(asset, "approve", b, 6, action_id="approve:x:b:1")
        assert isinstance(first, Stuck) and isinstance(second, Stuck)
        # the pool loses N only: N+1 back as the node would hold it (its bytes re-announced)
        raw = request(chain, "eth_getRawTransactionByHash", [second.tx_hashes[-1]])
        request(chain, "anvil_dropAllTransactions")
        request(chain, "eth_sendRawTransaction", [raw])
        assert pooled_nonces(chain, who.address) == {"pending": [], "queued": [n + 1]}
        report = k.run("evaluator")
        (fill,) = k.store.transactions(f"nonce-fill:{n}")
        assert (fill.nonce, fill.status) == (n, "sent")
        assert pooled_nonces(chain, who.address) == {"pending": [n, n + 1], "queued": []}
        tx = chain.provider.web3.eth.get_transaction(fill.tx_hash)
        assert (tx["to"], tx["value"], tx["input"]) == (who.address, 0, b"")
        assert [t.status for t in k.store.transactions("approve:x:a:1")] == ["dropped"]
        assert any(f"nonce-fill:{n}" in note for note in report.notes)
        request(chain, "evm_mine")
    k.run("evaluator")
    assert k.blocked is None
    assert [t.status for t in k.store.transactions(f"nonce-fill:{n}")] == ["mined"]
    assert [t.status for t in k.store.transactions("approve:x:b:1")] == ["mined"]
    assert who.nonce == n + 2 and asset.allowance(who, b) == 6


def test_a_stuck_flight_is_bumped_once_a_pass_within_a_budget_counted_across_passes(
    fresh, accounts, chain, tmp_path
):
    """A stuck approval (one attempt), then four passes that plan nothing: each resumes it and
    bumps it once (not once every `replace_after` of a full `receipt_timeout`), until
    `max_replacements` attempts are spent in all; the attempts it superseded are `replaced`
    (not dropped), the pool holds the newest; each pass reports the held-up queue `stuck`."""
    lending = fresh
    who, spender = accounts[7], accounts[3]
    settings = load_settings(tx={**SLOW_TX, "replace_after": 0.2, "max_replacements": 2})
    k = keeper(protocol_of(lending), who, tmp_path, settings=settings)
    low = TxSender(who, settings=TxSettings(**SLOW_TX), store=k.store, job="liquidator")
    action = "approve:x:a:1"
    with manual_mining(chain):
        assert isinstance(low.send(lending.asset, "approve", spender, 5, action_id=action), Stuck)
        counts = []
        for _ in range(4):
            report = k.run("evaluator")
            counts.append(len(k.store.transactions(action)))
            assert [(a.action_id, a.outcome) for a in report.actions] == [(action, "stuck")]
            assert sum(a.outcome in FAILED_OUTCOMES for a in report.actions) == 1
        assert counts == [2, 3, 3, 3]
        records = by_age(k.store, action)
        assert [r.status for r in records] == ["replaced", "replaced", "sent"]
        assert [t["hash"] for t in pending_from(chain, who.address)] == [records[-1].tx_hash]
        assert records[0].max_fee < records[1].max_fee < records[2].max_fee


def tripping_sentinel(lending, chain, tmp_path):
    """A critical feed (tbill) three days stale, so the sentinel trips; returns the guardian's
    keeper (slow fee bumps)."""
    feed = lending.feed("tbill")
    feed.setRound(feed.latestAnswer(), chain.blocks.head.timestamp - 3 * DAY,
                  sender=lending.vs.governance)  # fmt: skip
    guardian = lending.vs.guardian
    return keeper(protocol_of(lending), guardian, tmp_path, settings=load_settings(tx=SLOW_TX))


def sentinel_pause_sent(k) -> list:
    """The sentinel's passes (at most three) until one sends `pauseAutomation()`: it is sent
    and, no block being mined, reported stuck. Returns that pass's pause actions."""
    pauses = []
    for _ in range(3):
        pauses = [a for a in k.run("sentinel").actions if a.call == "pauseAutomation()"]
        if pauses:
            break
    assert [a.outcome for a in pauses] == ["stuck"]  # sent; no block is mined
    return pauses


def test_the_sentinels_pause_takes_the_nonce_of_a_stuck_approval(fresh, accounts, chain, tmp_path):
    """A guardian key's approval is stuck when the sentinel trips: `pauseAutomation()` is sent
    on the approval's nonce at a fee at least the replacement bump above it (not reported
    `blocked` behind it); the approval is recorded replaced and is not done."""
    lending, guardian, spender = fresh, fresh.vs.guardian, accounts[3]
    k = tripping_sentinel(lending, chain, tmp_path)
    low = TxSender(guardian, settings=TxSettings(**SLOW_TX), store=k.store, job="liquidator")
    approval = "approve:x:s:1"
    n = guardian.nonce
    with manual_mining(chain):
        assert isinstance(low.send(lending.asset, "approve", spender, 5, action_id=approval), Stuck)
        (stuck,) = k.store.transactions(approval)
        pauses = sentinel_pause_sent(k)
        (pooled,) = pending_from(chain, guardian.address)
        selector = "0x" + keccak(text="pauseAutomation()")[:4].hex()
        assert int(pooled["nonce"], 16) == n and pooled["input"].startswith(selector)
        (pause,) = k.store.transactions(pauses[0].action_id)
        assert (pause.status, pause.nonce, pause.tx_hash) == ("sent", n, pooled["hash"])
        assert pause.max_fee >= bumped(stuck.max_fee, k.settings.tx.fee_bump_bps)
        assert pause.priority_fee >= bumped(stuck.priority_fee, k.settings.tx.fee_bump_bps)
        assert [t.status for t in k.store.transactions(approval)] == ["replaced"]
        request(chain, "evm_mine")
    assert lending.vault.automationPaused()
    k.run("sentinel")
    assert k.store.transaction(pause.tx_hash).status == "mined"
    assert not k.store.already_done(approval) and k.blocked is None


@pytest.mark.parametrize("own_stuck", [False, True], ids=["alone", "behind-it-the-keepers-own"])
def test_the_sentinels_pause_goes_out_ahead_of_an_operators_stuck_manual_transaction(
    fresh, accounts, chain, tmp_path, own_stuck
):
    """An operator sent a transaction by hand with the guardian key (another process: the
    keeper has no record of it), and it cannot be mined now: it sits in the pool on the key's
    next nonce. (A fee spike prices it out on a real node, which keeps it pooled; anvil evicts
    a transaction under the base fee, so here its gas limit is above what blocks now hold.)
    When the sentinel trips, `pauseAutomation()` must not queue behind it (no later nonce of
    the key can mine before it, whatever its fees): it takes that nonce, as it takes the nonce
    of the keeper's own stuck transaction, and automation is paused in the next block. With
    the keeper's own approval stuck behind the operator's, the pause takes the operator's
    nonce, not the approval's (which still waits behind it), and the approval mines after."""
    lending, guardian, spender = fresh, fresh.vs.guardian, accounts[3]
    k = tripping_sentinel(lending, chain, tmp_path)
    operator = TxSender(guardian, settings=TxSettings(**SLOW_TX))  # by hand: no keeper store
    n, limit = guardian.nonce, chain.blocks.head.gas_limit
    try:
        with manual_mining(chain):
            manual = operator.send(lending.asset, "approve", spender, 5, action_id="x",
                                   gas_limit=5_000_000)  # fmt: skip
            assert isinstance(manual, Stuck)
            request(chain, "evm_setBlockGasLimit", [hex(4_000_000)])  # it cannot be mined now
            request(chain, "evm_mine")
            assert guardian.nonce == n and len(pending_from(chain, guardian.address)) == 1
            if own_stuck:
                low = TxSender(guardian, settings=TxSettings(**SLOW_TX), store=k.store,
                               job="liquidator")  # fmt: skip
                behind = low.send(lending.asset, "approve", spender, 7, action_id="approve:x:s:1")
                assert isinstance(behind, Stuck) and (behind.nonce, behind.behind) == (n + 1, n)
                assert behind.why() == (  # what holds it up is named: not the keeper's nonce
                    f"nonce {n + 1} still pending behind nonce {n}, held by a transaction "
                    "this keeper did not send"
                )  # fmt: skip
            pauses = sentinel_pause_sent(k)
            request(chain, "evm_mine")  # the next block: the operator's transaction still cannot
            assert pending_from(chain, guardian.address) == []  # the operator's was outbid
            assert guardian.nonce == n + 1 + own_stuck  # the approval mined after the pause
        assert lending.vault.automationPaused()
    finally:
        request(chain, "evm_setBlockGasLimit", [hex(limit)])
    k.run("sentinel")  # settles the pause by its receipt
    sent = {t.status: t.nonce for t in k.store.transactions(pauses[0].action_id)}
    assert sent.get("mined") == n, sent
    if own_stuck:
        assert [t.status for t in k.store.transactions("approve:x:s:1")] == ["mined"]
