"""Keeper fault drills an outside checker runs, beyond `test_keeper_faults.py` (the RPC proxy's
transport faults), `test_keeper_inflight.py` (stuck, re-priced, reorged flights) and
`test_keeper_restart.py` (SIGKILL, node restart):

- a lagging node (a load-balanced endpoint whose read backend is blocks behind) under a keeper
  whose transaction already mined;
- the settler's strike landing while the node disappears, the keeper restarted before its
  claims;
- the settler's strike overtaken in one block by a rival's strike (mined reverted);
- the key's pending nonce consumed by another process holding the same key;
- a replacement racing its original: the original mined just before the replacement's
  broadcast;
- a user claiming part of its settled deposit between the settler's read and its claim;
- the settler's claims mined, then its endpoint's read backend stuck below the later one;
- the key running out of gas money in the middle of a batch of claims;
- one job failing on every block (an exception storm) beside a job that keeps acting, under the
  bot's task runner;
- the state file damaged at start-up;
- a broadcast (and a fee bump) the node took but the endpoint answered with a JSON-RPC error;
- a provider's rate limit (-32005) answering the gas estimate of a user's claim.

Each drill asks: no value-moving action sent twice, no user's claim lost, the other jobs alive,
recovery on its own, and one clear line about what happened. Outcomes are classified from chain
facts (events, receipts, nonces, the vault's views) and the store, never from timing.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections import Counter
from unittest import mock

import pytest
from eth_abi import encode
from eth_utils import keccak

from keepers.config import load_settings
from keepers.runtime import StartupError, open_store
from keepers.shell import JobReport, Keeper
from keepers.store import Store
from keepers.tx_rules import with_margin
from tests.keeper_support import (
    SLOW_TX,
    keeper,
    manual_mining,
    overtaken,
    pending_from,
    relayed_book,
    request,
)
from tests.keepers.test_keeper_faults import attempt, post, receipt, routed
from tests.rpc_fault_proxy import FaultProxy
from tests.vault_support import USDC, isolated

NAMES = ("tbill", "gold", "invoices")


# ------------------------------------------------------------------ the system


@pytest.fixture(scope="module")
def system(project, accounts, chain):
    """1M supplied (decision 0), one borrower, the vault's claim relay."""
    return relayed_book(project, accounts)


@pytest.fixture
def fresh(system, chain):
    with isolated(chain):
        yield system


@pytest.fixture
def due(fresh, chain):
    """Decision 0 (the supply) due, with fresh prices."""
    lending, protocol = fresh
    agents = lending.vs.agents
    chain.pending_timestamp = agents.decisionRecord(0).dueAt + 60
    for name in NAMES:
        feed = lending.feed(name)
        feed.setAnswer(feed.latestAnswer(), sender=lending.vs.governance)
    assert list(agents.decisionsDue(10)) == [0]
    return lending, protocol


@pytest.fixture
def proxy(chain):
    with FaultProxy(chain.provider.uri, seed=3, stall_seconds=2.5) as running:
        yield running


def nonce(who) -> int:
    return who.provider.get_nonce(who.address)


def evaluations(agents, since: int) -> list[int]:
    head = agents.provider.get_block("latest").number
    return [log.decisionId for log in agents.Evaluated.range(since, head + 1)]


def request_redeem(lending, owner, assets: int) -> int:
    shares = lending.vault.convertToShares(assets)
    lending.vault.requestRedeem(shares, owner, owner, sender=owner)
    return shares


def request_deposit(lending, owner, assets: int) -> None:
    lending.vs.fund(owner, assets)
    lending.vault.requestDeposit(assets, owner, owner, sender=owner)


def strikes(vault, since: int) -> list[int]:
    head = vault.provider.get_block("latest").number
    return [log.strikeId for log in vault.StrikeSettled.range(since, head + 1)]


def paid_to(vault, since: int) -> tuple[Counter, Counter]:
    """(shares redeemed, assets deposited) per owner through claims since `since`."""
    head = vault.provider.get_block("latest").number
    redeemed: Counter = Counter()
    deposited: Counter = Counter()
    for log in vault.Withdraw.range(since, head + 1):
        redeemed[log.owner] += log.shares
    for log in vault.Deposit.range(since, head + 1):
        deposited[log.owner] += log.assets
    return redeemed, deposited


def hashes(raws: list[str]) -> set[str]:
    return {"0x" + keccak(bytes.fromhex(r.removeprefix("0x"))).hex() for r in raws}


def action_kinds(store: Store) -> Counter:
    """Mined transactions per action key (the action id without its block stamp)."""
    from keepers.actions import action_key

    return Counter(action_key(t.action_id) for t in store.transactions() if t.status == "mined")


# ------------------------------------------------------------------ a lagging node


def test_a_lagging_node_does_not_unrecord_a_mined_transaction_or_send_it_again(
    due, proxy, accounts, chain, tmp_path
):
    """The keeper's `evaluate(0)` mined at block B; then its endpoint answers from a backend
    stuck below B (no receipt, no transaction, the old nonce). A node that has not reached B
    cannot say a transaction of B is gone: the record stays `mined`, nothing is signed again,
    the pass says the node is behind, and once the node catches up the action is done, once."""
    lending, protocol = due
    agents, who = lending.vs.agents, accounts[7]
    k = keeper(protocol, who, tmp_path)
    start = chain.blocks.head.number + 1
    with routed(proxy):
        first = k.run("evaluator")
    assert [(a.action_id, a.outcome) for a in first.actions] == [("evaluate:0", "mined")]
    (done,) = k.store.transactions("evaluate:0")
    assert done.status == "mined" and done.block is not None
    sent_before = len(proxy.raw_transactions)

    proxy.lag(done.block - 1)  # the read backend has not seen the evaluation's block
    with routed(proxy):
        lagging = attempt(k, "evaluator")
    assert proxy.raw_transactions[sent_before:] == [], "a transaction was signed on stale reads"
    assert k.store.transaction(done.tx_hash).status == "mined", k.store.transactions()
    report_text = " ".join(lagging.notes) if not isinstance(lagging, Exception) else str(lagging)
    assert "behind" in report_text, report_text  # one line says why the pass saw old state
    if not isinstance(lagging, Exception):
        assert [a.outcome for a in lagging.actions] in ([], ["already-done"]), lagging.summary()

    proxy.catch_up()
    with routed(proxy):
        after = k.run("evaluator")
    assert after.actions == [], after.summary()
    assert evaluations(agents, start) == [0]  # evaluated once
    assert k.store.transaction(done.tx_hash).status == "mined"
    assert k.store.in_flight() == []
    assert agents.decisionRecord(0).evaluated


def test_a_transaction_in_flight_is_not_written_off_by_a_lagging_node(
    due, proxy, accounts, chain, tmp_path
):
    """The keeper's `evaluate(0)` mined at block B; its approval's broadcast then lands unanswered
    (mined at B + 1, recorded `sent`). The next pass reads from a backend stuck at B - 1, which
    knows neither: the approval is not written off as dropped (the node is behind a block the
    key's own transaction is in), and once the node catches up it is settled `mined`."""
    lending, protocol = due
    who, asset, book = accounts[7], lending.asset, lending.book
    k = keeper(protocol, who, tmp_path)
    with routed(proxy):
        k.run("evaluator")
        (done,) = k.store.transactions("evaluate:0")
        proxy.inject("drop-after", "eth_sendRawTransaction", times=1)
        with pytest.raises(Exception):  # noqa: B017, PT011 - the dropped connection, whatever web3 makes of it
            k.ensure_allowance(JobReport("liquidator", 0, 0, False), str(asset.address),
                               str(book.address), 2**255)  # fmt: skip
    (approval,) = k.store.in_flight()
    assert approval.action_id.startswith("approve:")
    # The broadcast reached the node (the answer was dropped on the way back); under load it may
    # still be on its way in: wait for its receipt, a chain fact.
    mined = chain.provider.web3.eth.wait_for_transaction_receipt(approval.tx_hash, timeout=60)
    assert mined["status"] == 1 and mined["blockNumber"] > done.block

    proxy.lag(done.block - 1)
    with routed(proxy):
        lagging = attempt(k, "evaluator")
    assert k.store.transaction(approval.tx_hash).status == "sent", k.store.transactions()
    assert not isinstance(lagging, Exception) and any("behind" in n for n in lagging.notes)
    proxy.catch_up()
    with routed(proxy):
        k.run("evaluator")
    assert k.store.transaction(approval.tx_hash).status == "mined"
    assert k.store.in_flight() == [] and int(asset.allowance(who, book)) > 0


# ------------------------------------------------------------------ strike, node gone, restart


def test_a_strike_landing_while_the_node_disappears_is_claimed_for_after_a_restart(
    fresh, proxy, accounts, chain, tmp_path
):
    """The settler's strike reaches the node, the connection drops before the answer and the
    node goes away (the strike mines meanwhile); the keeper process restarts (the same state
    file) while the node is still gone (the pass fails in one exception), then the node is back:
    the strike is reconciled by its hash, never sent again, and every controller is claimed for
    once — the leaver's shares paid, the joiner's deposit minted."""
    lending, protocol = fresh
    vault, relay = lending.vault, protocol.claim_relay
    who, leaver, joiner = accounts[7], accounts[6], accounts[2]
    for holder in (leaver, joiner):
        vault.setOperator(relay, True, sender=holder)
    shares = request_redeem(lending, leaver, 20_000 * USDC)
    request_deposit(lending, joiner, 30_000 * USDC)
    lending.vs.publish_prices()
    start, sent_before = chain.blocks.head.number + 1, nonce(who)

    first = keeper(protocol, who, tmp_path)
    proxy.inject("drop-after", "eth_sendRawTransaction", times=1)
    with routed(proxy):
        failed = attempt(first, "settler")
        proxy.down()  # the node disappears
        still_down = attempt(first, "settler")
    assert isinstance(failed, Exception) and isinstance(still_down, Exception)
    (strike,) = first.store.in_flight()  # the strike: recorded, its receipt never seen
    assert strike.action_id.startswith("strike:")
    # It mined meanwhile: the broadcast reached the node (the answer was dropped on the way
    # back); under load it may still be on its way in (a whole run once read no receipt yet):
    # wait for its receipt, a chain fact.
    mined = chain.provider.web3.eth.wait_for_transaction_receipt(strike.tx_hash, timeout=60)
    assert mined["status"] == 1
    first.store.close()  # the process stops

    proxy.up()
    store = Store(tmp_path / f"{who.address}.sqlite")  # the restarted process, the same file
    with routed(proxy):
        again = Keeper(protocol, store, who, load_settings())
        report = again.run("settler")
    assert store.transaction(strike.tx_hash).status == "mined"  # reconciled, not re-sent
    assert sorted((a.call, a.outcome) for a in report.actions) == sorted(
        (f"claim({c.address})", "mined") for c in (leaver, joiner)
    ), report.summary()
    assert len(strikes(vault, start)) == 1
    redeemed, deposited = paid_to(vault, start)
    assert redeemed == Counter({leaver.address: shares})  # paid once, in full
    assert deposited == Counter({joiner.address: 30_000 * USDC})
    assert vault.maxRedeem(leaver) == 0 and vault.maxDeposit(joiner) == 0
    landed = {h for h in hashes(proxy.raw_transactions) if receipt(chain.provider.web3, h)}
    assert len(landed) == nonce(who) - sent_before == 3  # strike, two claims: nothing doubled
    assert max(action_kinds(store).values()) == 1
    assert store.in_flight() == []


# ------------------------------------------------------------------ a rival strikes first


def test_a_strike_a_rival_struck_first_in_the_same_block_is_a_lost_race_and_claims_follow(
    fresh, accounts, chain, tmp_path
):
    """The settler's `strike()` waits in the pool; a rival's strike with ten times the tip is
    mined ahead of it in the same block, so the settler's strike reverts on chain. That is a
    race lost (no failure, never re-sent), and the requests the rival's strike settled are
    claimed for in the same pass."""
    lending, protocol = fresh
    vault, relay = lending.vault, protocol.claim_relay
    who, leaver, rival = accounts[7], accounts[6], accounts[8]
    vault.setOperator(relay, True, sender=leaver)
    shares = request_redeem(lending, leaver, 20_000 * USDC)
    lending.vs.publish_prices()
    start, count = chain.blocks.head.number + 1, vault.strikeCount()
    k = keeper(protocol, who, tmp_path)

    race = overtaken(chain, k, "settler", rival.address, str(vault.address),
                     lambda first: bytes.fromhex(first["input"][2:]))  # fmt: skip
    assert strikes(vault, start) == [count]  # struck once, by the rival
    ours = chain.provider.web3.eth.get_transaction_receipt(race.first["hash"])
    theirs = chain.provider.web3.eth.get_transaction_receipt(race.rival_hash)
    assert (theirs["status"], ours["status"]) == (1, 0)
    assert theirs["blockNumber"] == ours["blockNumber"]
    outcomes = [(a.action_id.split(":")[0], a.outcome) for a in race.report.actions]
    assert outcomes[0] == ("strike", "lost-race"), race.report.summary()
    assert outcomes[1:] == [("claim", "mined")], race.report.summary()
    assert vault.maxRedeem(leaver) == 0
    redeemed, _ = paid_to(vault, start)
    assert redeemed == Counter({leaver.address: shares})


# ------------------------------------------------------------------ the same key elsewhere


def test_a_nonce_taken_by_another_process_with_the_same_key_is_replaced_then_done_once(
    due, accounts, chain, tmp_path
):
    """The keeper's `evaluate(0)` waits in the pool at nonce N; another process holding the same
    key (which read N before the keeper's broadcast) sends a transaction of its own at N with a
    higher fee, and it mines. The keeper records its own as replaced (the nonce used elsewhere),
    plans the evaluation again and it is evaluated once."""
    lending, protocol = due
    agents, who = lending.vs.agents, accounts[7]
    k = keeper(protocol, who, tmp_path, settings=load_settings(tx=SLOW_TX))
    start, n = chain.blocks.head.number + 1, nonce(who)
    with manual_mining(chain):
        first = k.run("evaluator")
        assert [(a.action_id, a.outcome) for a in first.actions] == [("evaluate:0", "stuck")]
        (ours,) = pending_from(chain, who.address)
        assert int(ours["nonce"], 16) == n
        fee = 10 * int(ours["maxFeePerGas"], 16)
        other = request(chain, "eth_sendTransaction", [{
            "from": who.address, "to": who.address, "value": "0x0", "nonce": hex(n),
            "gas": hex(21_000), "maxFeePerGas": hex(fee), "maxPriorityFeePerGas": hex(fee),
        }])  # fmt: skip
        assert [t["hash"] for t in pending_from(chain, who.address)] == [other]
        request(chain, "evm_mine")
    assert nonce(who) == n + 1 and not agents.decisionRecord(0).evaluated

    again = k.run("evaluator")
    assert [(a.action_id, a.outcome) for a in again.actions] == [("evaluate:0", "mined")]
    records = {t.tx_hash: t.status for t in k.store.transactions("evaluate:0")}
    assert records[ours["hash"]] == "replaced"
    assert sorted(records.values()) == ["mined", "replaced"]
    assert evaluations(agents, start) == [0]
    assert nonce(who) == n + 2
    assert k.store.in_flight() == []


def test_a_nonce_taken_between_the_keepers_read_and_its_broadcast_is_read_again_once(
    due, proxy, accounts, chain, tmp_path
):
    """Another process with the same key sends a transaction of its own just before the
    keeper's `evaluate(0)` broadcast reaches the node, on the nonce the keeper signed with. The
    node says "nonce too low": the keeper records its signed transaction as never sent, reads
    the nonce again and sends the evaluation once, on the next nonce."""
    lending, protocol = due
    agents, who = lending.vs.agents, accounts[7]
    k = keeper(protocol, who, tmp_path)
    start, n = chain.blocks.head.number + 1, nonce(who)
    other: list[str] = []

    def same_key_elsewhere() -> None:
        status, answer = post(chain.provider.uri, "eth_sendTransaction", [{
            "from": who.address, "to": who.address, "value": "0x0", "nonce": hex(n),
            "gas": hex(21_000)}])  # fmt: skip
        assert status == 200 and "result" in answer, answer
        other.append(answer["result"])
        # Mined before the keeper's broadcast goes on: on a loaded machine anvil's automine can
        # still hold it in the pool, where the keeper's copy would meet a pending transaction
        # (replaced or underpriced) instead of a used nonce, another drill than this one.
        chain.provider.web3.eth.wait_for_transaction_receipt(answer["result"], timeout=120)

    proxy.before("eth_sendRawTransaction", same_key_elsewhere)
    with routed(proxy):
        report = k.run("evaluator")
    assert [(a.action_id, a.outcome) for a in report.actions] == [("evaluate:0", "mined")]
    assert receipt(chain.provider.web3, other[0])["status"] == 1
    # Each signed copy that met the other's transaction is recorded as never sent ("nonce too
    # low", or "replacement underpriced" while it still waits in the pool on a loaded machine);
    # exactly one is mined.
    records = k.store.transactions("evaluate:0")
    statuses = [t.status for t in records]
    assert statuses.count("mined") == 1 and set(statuses) == {"dropped", "mined"}, records
    assert nonce(who) == n + 2 and evaluations(agents, start) == [0]
    assert k.store.in_flight() == []


def test_a_mined_transaction_whose_receipt_the_node_serves_late_is_not_recorded_replaced(
    due, proxy, accounts, chain, tmp_path
):
    """The keeper's `evaluate(0)` was left pending by a pass and mined while no pass ran. The
    next pass's endpoint already counts the nonce it used but does not serve its receipt yet
    (an index behind the state: the sender's own wait gives such a node `receipt_grace`). The
    record must not be written off as replaced by "another transaction" — it is the keeper's own,
    mined — but settled from its receipt once the node serves it: recorded `mined`, done once."""
    lending, protocol = due
    agents, who = lending.vs.agents, accounts[7]
    k = keeper(protocol, who, tmp_path, settings=load_settings(tx=SLOW_TX))
    start, n = chain.blocks.head.number + 1, nonce(who)
    with manual_mining(chain):
        first = k.run("evaluator")
        assert [(a.action_id, a.outcome) for a in first.actions] == [("evaluate:0", "stuck")]
        (ours,) = pending_from(chain, who.address)
        request(chain, "evm_mine")
    assert nonce(who) == n + 1 and receipt(chain.provider.web3, ours["hash"])["status"] == 1

    proxy.inject("null", "eth_getTransactionReceipt", times=1)  # the pass's first look
    with routed(proxy):
        k.run("evaluator")
    assert k.store.transaction(ours["hash"]).status != "replaced", k.store.transactions()
    with routed(proxy):
        k.run("evaluator")
    (record,) = k.store.transactions("evaluate:0")
    assert (record.tx_hash, record.status) == (ours["hash"], "mined")
    assert k.store.already_done("evaluate:0") and k.store.in_flight() == []
    assert evaluations(agents, start) == [0] and nonce(who) == n + 1


def test_a_receipt_served_after_the_grace_does_not_write_off_the_keepers_own_mined_flight(
    due, proxy, accounts, chain, tmp_path
):
    """The keeper's `evaluate(0)` mines at once, but its endpoint serves no receipt for it
    (an index behind the state) for longer than `receipt_grace`, while the nonce it used already
    shows used. The sender's own wait asks the node for the transaction itself, as `settle`
    does: the node holds it in a block, so it is the keeper's own, mined — not written off as
    replaced by "another transaction" (which would plan the action again). The pass leaves it
    stuck (recorded `sent`); the next pass, the receipt served, settles it `mined`: done once."""
    lending, protocol = due
    agents, who = lending.vs.agents, accounts[7]
    k = keeper(protocol, who, tmp_path, settings=load_settings(tx=SLOW_TX))  # grace 0.2 s of 1 s
    start, n = chain.blocks.head.number + 1, nonce(who)
    proxy.inject("null", "eth_getTransactionReceipt")  # every look of the first pass
    with routed(proxy):
        first = k.run("evaluator")
    (record,) = k.store.transactions("evaluate:0")
    assert nonce(who) == n + 1 and receipt(chain.provider.web3, record.tx_hash)["status"] == 1
    assert record.status == "sent", k.store.transactions()  # not "replaced": ours, in a block
    assert [(a.action_id, a.outcome) for a in first.actions] == [("evaluate:0", "stuck")]
    assert proxy.received["eth_getTransactionByHash"] > 0

    proxy.clear()
    with routed(proxy):
        second = k.run("evaluator")
    assert [a.outcome for a in second.actions] in ([], ["already-done"]), second.summary()
    (record,) = k.store.transactions("evaluate:0")
    assert record.status == "mined" and k.store.in_flight() == []
    assert evaluations(agents, start) == [0] and nonce(who) == n + 1
    assert len(proxy.raw_transactions) == 1  # signed once


# ------------------------------------------------------------------ a replacement racing


def test_a_replacement_whose_original_mines_first_settles_as_the_original_once(
    due, proxy, accounts, chain, tmp_path
):
    """The keeper's `evaluate(0)` waits in the pool and is due a fee bump; just before the
    bump's broadcast reaches the node, a block mines the original. The node refuses the bump
    (its nonce is used): the keeper settles the flight on the original's receipt — mined, once —
    records the bump as never having reached the node, and signs nothing else."""
    lending, protocol = due
    agents, who = lending.vs.agents, accounts[7]
    tx = {**SLOW_TX, "replace_after": 0.2, "max_replacements": 1, "receipt_timeout": 10.0}
    k = keeper(protocol, who, tmp_path, settings=load_settings(tx=tx))
    start, n = chain.blocks.head.number + 1, nonce(who)

    def mine_the_original() -> None:  # at the bump's broadcast only (the second one)
        if len(proxy.raw_transactions) == 1:
            post(chain.provider.uri, "evm_mine")

    proxy.before("eth_sendRawTransaction", mine_the_original, times=2)
    with manual_mining(chain), routed(proxy):
        report = k.run("evaluator")
    original, bump = (
        "0x" + keccak(bytes.fromhex(r.removeprefix("0x"))).hex() for r in proxy.raw_transactions
    )
    assert [(a.action_id, a.outcome, a.tx_hash) for a in report.actions] == [
        ("evaluate:0", "mined", original)
    ], report.summary()
    assert receipt(chain.provider.web3, original)["status"] == 1
    assert receipt(chain.provider.web3, bump) is None
    statuses = {t.tx_hash: t.status for t in k.store.transactions("evaluate:0")}
    assert statuses[original] == "mined" and statuses[bump] in ("dropped", "replaced"), statuses
    assert nonce(who) == n + 1 and evaluations(agents, start) == [0]
    assert k.store.in_flight() == []


# ------------------------------------------------------------------ claimable moved under a claim


def joiner_with_a_settled_deposit(fresh, accounts):
    """(lending, protocol, keeper account, joiner): the joiner's 30,000 deposit, the claim relay
    its operator, settled by a strike and claimable."""
    lending, protocol = fresh
    joiner = accounts[2]
    lending.vault.setOperator(protocol.claim_relay, True, sender=joiner)
    request_deposit(lending, joiner, 30_000 * USDC)
    lending.vs.publish_prices()
    lending.vs.strike()
    return lending, protocol, accounts[7], joiner


def test_a_claim_sent_after_the_user_claimed_part_itself_pays_the_rest_once(
    fresh, proxy, accounts, chain, tmp_path
):
    """The settler reads 30k of the joiner's settled deposit as claimable; between that read
    and its broadcast the joiner claims 10k itself. The relay's claim takes what is claimable
    when it runs, so the joiner gets the other 20k: 30k claimed in all, none twice, none left."""
    lending, protocol, who, joiner = joiner_with_a_settled_deposit(fresh, accounts)
    vault = lending.vault
    start = chain.blocks.head.number + 1
    k = keeper(protocol, who, tmp_path)
    own_claim = keccak(text="deposit(uint256,address,address)")[:4] + encode(
        ["uint256", "address", "address"], [10_000 * USDC, joiner.address, joiner.address]
    )

    def joiner_claims_part() -> None:
        status, answer = post(chain.provider.uri, "eth_sendTransaction", [{
            "from": joiner.address, "to": str(vault.address), "data": "0x" + own_claim.hex(),
            "gas": hex(1_000_000)}])  # fmt: skip
        assert status == 200 and "result" in answer, answer

    proxy.before("eth_sendRawTransaction", joiner_claims_part)
    with routed(proxy):
        report = k.run("settler")
    assert [(a.call, a.outcome) for a in report.actions] == [
        (f"claim({joiner.address})", "mined")
    ], report.summary()
    head = chain.blocks.head.number
    claims = [(log.sender, log.assets) for log in vault.Deposit.range(start, head + 1)]
    assert claims == [
        (joiner.address, 10_000 * USDC),  # its own
        (joiner.address, 20_000 * USDC),  # the relay's, for the controller: the rest
    ], claims
    assert vault.maxDeposit(joiner) == 0


# ------------------------------------------------------------------ claims, then a lagging node


def test_claims_mined_then_a_lagging_node_pay_each_controller_once_and_hold_no_later_claim(
    fresh, proxy, accounts, chain, tmp_path
):
    """The settler strikes and claims for two leavers (mined in blocks C1 < C2); its endpoint
    then answers from a backend stuck at C2 - 1, where the later leaver still has its claim.
    The settler used to plan that claim again (its action id carries the block read), sign it on
    the stale nonce, have it rejected ("nonce too low") and back it off as the leaver's
    refusal, so the leaver's next claim of the same size waited an hour. Now a pass whose node
    is behind the key's own transactions sends no claim: each leaver is paid once, the records
    stay `mined`, and the later claim of the same size is claimed in the pass after its
    strike."""
    lending, protocol = fresh
    vault, relay = lending.vault, protocol.claim_relay
    who, first, second = accounts[7], accounts[6], accounts[2]
    lending.vs.fund(second, 40_000 * USDC)
    vault.requestDeposit(40_000 * USDC, second, second, sender=second)
    lending.vs.strike()
    vault.deposit(vault.maxDeposit(second), second, second, sender=second)
    for leaver in (first, second):
        vault.setOperator(relay, True, sender=leaver)
    part = vault.balanceOf(second) // 4
    for leaver in (first, second):
        vault.requestRedeem(part, leaver, leaver, sender=leaver)
    lending.vs.publish_prices()
    start = chain.blocks.head.number + 1
    k = keeper(protocol, who, tmp_path)
    with routed(proxy):
        report = k.run("settler")
    assert [a.outcome for a in report.actions] == ["mined"] * 3, report.summary()
    done = {t.action_id.split("@")[0]: t for t in k.store.transactions() if t.status == "mined"}
    (_, c1), (late, c2) = sorted(
        ((who_, done[f"claim:{who_.address.lower()}"].block) for who_ in (first, second)),
        key=lambda pair: pair[1],
    )
    assert c2 > c1

    sent_before = len(proxy.raw_transactions)
    proxy.lag(c2 - 1)  # the later claim is not there yet
    with routed(proxy):
        lagging = k.run("settler")
    proxy.catch_up()
    assert lagging.actions == [], lagging.summary()
    assert proxy.raw_transactions[sent_before:] == [], "a claim was signed on stale reads"
    assert "claims: the node is behind this key's transactions: none sent" in lagging.skipped
    redeemed, _ = paid_to(vault, start)
    assert redeemed == Counter({first.address: part, second.address: part})  # once each
    assert all(t.status == "mined" for t in done.values())
    assert k.store.in_flight() == []

    # the same size again in a later window: claimed in the pass after its strike
    vault.requestRedeem(part, late, late, sender=late)
    lending.vs.publish_prices()
    with routed(proxy):
        again = k.run("settler")
    assert [(a.call, a.outcome) for a in again.actions] == [
        ("strike()", "mined"),
        (f"claim({late.address})", "mined"),
    ], (again.summary(), again.skipped)  # before: refused, tried again an hour later
    redeemed, _ = paid_to(vault, start)
    assert redeemed[late.address] == 2 * part and vault.maxRedeem(late) == 0


# ------------------------------------------------------------------ a gas price spike


def test_a_base_fee_spike_above_the_cap_refuses_the_strike_unsigned_and_it_goes_out_after(
    fresh, accounts, chain, tmp_path
):
    """The base fee jumps to ten times the keeper's `max_fee_cap` while a redemption waits for
    its strike: nothing is signed (the key's nonce does not move), the pass says why in one
    line; the spike over, the next pass strikes once and the leaver is claimed for."""
    lending, protocol = fresh
    vault, relay = lending.vault, protocol.claim_relay
    who, leaver = accounts[7], accounts[6]
    vault.setOperator(relay, True, sender=leaver)
    shares = request_redeem(lending, leaver, 20_000 * USDC)
    lending.vs.publish_prices()
    start, n = chain.blocks.head.number + 1, nonce(who)
    k = keeper(protocol, who, tmp_path)
    cap = k.settings.tx.max_fee_cap
    request(chain, "anvil_setNextBlockBaseFeePerGas", [hex(10 * cap)])
    chain.mine()
    spike = k.run("settler")
    assert [(a.call, a.outcome) for a in spike.actions] == [("strike()", "refused")]
    (line,) = [a.detail for a in spike.actions]
    assert "\n" not in line and f"at or above the cap {cap}" in line, line
    assert nonce(who) == n and strikes(vault, start) == []

    request(chain, "anvil_setNextBlockBaseFeePerGas", [hex(10**9)])
    chain.mine()
    calm = k.run("settler")
    assert [(a.call, a.outcome) for a in calm.actions] == [
        ("strike()", "mined"),
        (f"claim({leaver.address})", "mined"),
    ], calm.summary()
    assert len(strikes(vault, start)) == 1 and nonce(who) == n + 2
    redeemed, _ = paid_to(vault, start)
    assert redeemed == Counter({leaver.address: shares})


# ------------------------------------------------------------------ out of gas money mid-batch


def test_a_key_running_out_of_gas_money_mid_batch_claims_the_rest_once_refunded(
    fresh, accounts, chain, tmp_path, caplog
):
    """Three settled deposits to claim; the key can pay for one claim. The first is mined, the
    other two are reported unfunded (one warning line, not an error per claim), nothing is
    refused or backed off; refunded, the next pass claims the two, each once."""
    lending, protocol = fresh
    vault, relay = lending.vault, protocol.claim_relay
    who = accounts[7]
    joiners = [accounts[2], accounts[3], accounts[8]]
    for j in joiners:
        vault.setOperator(relay, True, sender=j)
        request_deposit(lending, j, 10_000 * USDC)
    lending.vs.publish_prices()
    lending.vs.strike()
    start = chain.blocks.head.number + 1
    k = keeper(protocol, who, tmp_path)
    sender = k.sender("settler")
    need = (
        max(
            with_margin(
                sender.estimate_gas(str(relay.address), bytes(relay.claim.encode_input(j))),
                k.settings.tx.gas_margin_bps,
            )
            for j in joiners
        )
        * sender.fees()[0]
    )
    request(chain, "anvil_setBalance", [who.address, hex(need + need // 10)])

    with caplog.at_level(logging.WARNING, logger="keepers"):
        short = k.run("settler")
    outcomes = [a.outcome for a in short.actions]
    assert outcomes == ["mined", "unfunded", "unfunded"], short.summary()
    warnings = [r for r in caplog.records if "lack of funds" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in caplog.records]
    assert not any(a.outcome == "refused" for a in short.actions)

    request(chain, "anvil_setBalance", [who.address, hex(10 * 10**18)])
    refunded = k.run("settler")
    assert [a.outcome for a in refunded.actions] == ["mined", "mined"], refunded.summary()
    _, deposited = paid_to(vault, start)
    assert deposited == Counter({j.address: 10_000 * USDC for j in joiners})  # each once
    assert all(vault.maxDeposit(j) == 0 for j in joiners)


# ------------------------------------------------------------------ an exception storm


@pytest.fixture
def bot_tasks(monkeypatch):
    """`keepers.bots.keeper.KeeperTasks`, the bot's task runner. The module is imported with its
    Silverback bot object stubbed: building the real one enters a provider context of its own,
    which takes this test run's chain away (the bot end to end is `test_bots.py`)."""
    import silverback

    import keepers.bots

    monkeypatch.setattr(silverback, "SilverbackBot", mock.MagicMock(name="SilverbackBot"))
    saved = sys.modules.pop("keepers.bots.keeper", None)
    try:
        yield importlib.import_module("keepers.bots.keeper").KeeperTasks
    finally:
        # The stubbed module is gone from both places an import finds it: `sys.modules` and the
        # package's attribute (`from keepers.bots import keeper` reads the attribute first).
        sys.modules.pop("keepers.bots.keeper", None)
        if saved is not None:
            sys.modules["keepers.bots.keeper"] = saved
            keepers.bots.keeper = saved
        elif hasattr(keepers.bots, "keeper"):
            del keepers.bots.keeper


def test_a_job_failing_on_every_block_is_logged_once_and_the_others_keep_acting(
    due, proxy, bot_tasks, accounts, chain, tmp_path, caplog
):
    """The liquidator's borrower scan fails on every pass (HTTP 502 on every `eth_getLogs`), ten
    blocks in a row, under the bot's task runner; the evaluator beside it evaluates the due
    decision on the first block. The storm is one error line (repeats only counted in the
    metrics); once the node answers, one line says the job is back. The evaluator's own read of
    logs (the AgentRegistries the vault left) fails alike without failing its passes."""
    lending, protocol = due
    agents = lending.vs.agents
    start = chain.blocks.head.number + 1
    tasks = bot_tasks()
    tasks.keeper = keeper(protocol, accounts[7], tmp_path)
    tasks.jobs = ("liquidator", "evaluator")
    proxy.inject("http-502", "eth_getLogs")
    metrics = []
    with routed(proxy), caplog.at_level(logging.INFO, logger="keepers"):
        for _ in range(10):
            chain.mine()
            metrics.append(tasks.run(("liquidator", "evaluator"), chain.blocks.head.number))
        proxy.clear()
        chain.mine()
        metrics.append(tasks.run(("liquidator", "evaluator"), chain.blocks.head.number))
    assert [m["liquidator_errors"] for m in metrics] == [1] * 10 + [0]
    assert [m.get("evaluator_errors") for m in metrics] == [0] * 11  # alive on every block
    assert [m["evaluator_actions"] for m in metrics] == [1] + [0] * 10
    assert evaluations(agents, start) == [0]
    messages = [r.getMessage() for r in caplog.records]
    failed = [m for m in messages if m.startswith("liquidator pass failed")]
    back = [m for m in messages if m == "liquidator pass succeeded again"]
    assert len(failed) == 1 and len(back) == 1, messages
    # the evaluator's read of the vault's AgentRegistrySet logs failed too: one line, its
    # passes went on over the registries it knew, and the read was made again once answered
    unread = [m for m in messages if m.startswith("cannot read the vault's AgentRegistrySet")]
    assert len(unread) == 1, messages
    assert tasks.keeper.registry_book._named == [agents.address]
    assert "\n" not in failed[0] and "502" in failed[0], failed


# ------------------------------------------------------------------ the state file damaged


@pytest.mark.parametrize("damage", ["garbage", "torn-page"])
def test_a_damaged_state_file_stops_the_keeper_at_start_up_in_one_line_sending_nothing(
    due, accounts, chain, tmp_path, damage
):
    """The state file is not SQLite at all, or has a page torn (bytes overwritten past its
    header): the keeper does not start on it (one line naming the file and what to do), or a
    pass that hits the torn page fails before anything is signed; nothing is sent either way."""
    lending, protocol = due
    who = accounts[7]
    settings = load_settings(state_dir=tmp_path / "state")
    store = open_store(settings, protocol, who.address)  # a real file, with state in it
    k = Keeper(protocol, store, who, settings)
    k.run("sentinel")
    path = store.path
    store.close()
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    data = bytearray(path.read_bytes())
    if damage == "garbage":
        data = bytearray(b"not a database, just bytes" * 200)
    else:
        for i in range(4096 + 16, min(len(data), 3 * 4096)):
            data[i] = 0xA5
    path.write_bytes(bytes(data))
    sent = nonce(who)

    try:
        damaged = open_store(settings, protocol, who.address)
    except StartupError as err:
        line = str(err)
        assert "\n" not in line and str(path) in line and "cannot be read" in line, line
        assert nonce(who) == sent
        return
    with damaged:  # opened: the damage is met by a pass
        failed = attempt(Keeper(protocol, damaged, who, settings), "evaluator")
    assert isinstance(failed, Exception), failed
    assert "\n" not in str(failed).strip()
    assert nonce(who) == sent and not lending.vs.agents.decisionRecord(0).evaluated


# ------------------------------------------------------------------ an error after the node took it


def test_a_broadcast_the_node_took_but_answered_with_an_error_is_recorded_mined_once(
    due, proxy, accounts, chain, tmp_path
):
    """The endpoint forwards the keeper's `evaluate(0)` to the node, which takes it (automine
    mines it), and answers the broadcast with a JSON-RPC error (a gateway whose backend timed
    out after its pool took the transaction). The keeper must look the hash up before writing
    it off: its outcome is `mined`, the store records it mined (not `dropped`), and the next
    pass signs nothing."""
    lending, protocol = due
    agents, who = lending.vs.agents, accounts[7]
    k = keeper(protocol, who, tmp_path)
    start, n = chain.blocks.head.number + 1, nonce(who)
    proxy.inject("rpc-error-after", "eth_sendRawTransaction", times=1)
    with routed(proxy):
        report = k.run("evaluator")
        again = k.run("evaluator")
    assert proxy.injected[("eth_sendRawTransaction", "rpc-error-after")] == 1
    (sent,) = hashes(proxy.raw_transactions)
    assert receipt(chain.provider.web3, sent)["status"] == 1
    assert evaluations(agents, start) == [0] and nonce(who) == n + 1
    assert [(a.action_id, a.outcome, a.tx_hash) for a in report.actions] == [
        ("evaluate:0", "mined", sent)
    ], report.summary()
    assert {t.tx_hash: t.status for t in k.store.transactions("evaluate:0")} == {sent: "mined"}
    assert [a.outcome for a in again.actions] in ([], ["already-done"]), again.summary()
    assert len(proxy.raw_transactions) == 1 and k.store.in_flight() == []


def test_a_fee_bump_the_node_took_but_answered_with_an_error_is_the_one_recorded_mined(
    due, proxy, accounts, chain, tmp_path
):
    """The keeper's `evaluate(0)` waits in the pool and is bumped; the bump reaches the node
    (it replaces the original in the pool) but is answered with a JSON-RPC error. When the bump
    mines, the keeper must settle its flight on the bump's receipt — `mined`, the bump recorded
    mined and the original replaced — not call it replaced by someone else's transaction."""
    lending, protocol = due
    agents, who = lending.vs.agents, accounts[7]
    tx = {**SLOW_TX, "replace_after": 0.2, "max_replacements": 1, "receipt_timeout": 10.0}
    k = keeper(protocol, who, tmp_path, settings=load_settings(tx=tx))
    start, n = chain.blocks.head.number + 1, nonce(who)

    def error_the_bump() -> None:  # at the original's broadcast: the rule takes the next one
        proxy.inject("rpc-error-after", "eth_sendRawTransaction", times=1)

    proxy.before("eth_sendRawTransaction", error_the_bump)
    mined_once: list[int] = []

    def mine_after_the_bump() -> None:  # the first look after the bump's answer
        if len(proxy.raw_transactions) == 2 and not mined_once:
            mined_once.append(1)
            post(chain.provider.uri, "evm_mine")

    proxy.before("eth_getTransactionReceipt", mine_after_the_bump, times=1_000)
    with manual_mining(chain), routed(proxy):
        report = k.run("evaluator")
    original, bump = hashes_in_order(proxy.raw_transactions)
    assert proxy.injected[("eth_sendRawTransaction", "rpc-error-after")] == 1
    assert receipt(chain.provider.web3, bump)["status"] == 1
    assert receipt(chain.provider.web3, original) is None
    assert evaluations(agents, start) == [0] and nonce(who) == n + 1
    assert [(a.action_id, a.outcome, a.tx_hash) for a in report.actions] == [
        ("evaluate:0", "mined", bump)
    ], report.summary()
    statuses = {t.tx_hash: t.status for t in k.store.transactions("evaluate:0")}
    assert statuses == {original: "replaced", bump: "mined"}, statuses
    assert k.store.in_flight() == []


def hashes_in_order(raws: list[str]) -> list[str]:
    return ["0x" + keccak(bytes.fromhex(r.removeprefix("0x"))).hex() for r in raws]


# ------------------------------------------------------------------ a rate-limited node


RATE_LIMITED = {"code": -32005, "message": "daily request count exceeded, request rate limited"}


def test_a_rate_limited_gas_estimate_fails_the_pass_and_holds_no_users_claim(
    fresh, proxy, accounts, chain, tmp_path
):
    """The settler's claim for a controller simulates fine, then the endpoint answers its
    `eth_estimateGas` with a provider's rate-limit error (-32005). That is the node failing, not
    the chain refusing the claim: the pass fails (a node error: `once` exits 5, the next run
    resumes), the controller is not backed off as a refused claim, and the next pass, the limit
    lifted, claims its deposit — once."""
    lending, protocol, who, joiner = joiner_with_a_settled_deposit(fresh, accounts)
    vault = lending.vault
    start, n = chain.blocks.head.number + 1, nonce(who)
    k = keeper(protocol, who, tmp_path)
    claimed_once_after(k, proxy, "eth_estimateGas", RATE_LIMITED, joiner, vault, chain, start)
    assert nonce(who) == n + 1


INTERNAL_ERROR = {"code": -32603, "message": "Internal error"}  # JSON-RPC's own generic failure


@pytest.mark.parametrize(
    ("method", "error"),
    [
        ("eth_estimateGas", INTERNAL_ERROR),
        ("eth_sendRawTransaction", INTERNAL_ERROR),
        ("eth_sendRawTransaction", RATE_LIMITED),
    ],
    ids=["estimate-internal-error", "broadcast-internal-error", "broadcast-rate-limited"],
)
def test_a_node_failing_the_claims_estimate_or_broadcast_holds_no_users_claim(
    fresh, proxy, accounts, chain, tmp_path, method, error
):
    """As above, with the answer hosted providers give when their backend fails a call — the
    JSON-RPC spec's generic `-32603 "Internal error"`, no revert data, no word of the EVM's (a
    revert says "execution reverted" and carries its data; an EVM halt names itself) — or a
    broadcast the endpoint did not forward (rate-limited, or that error; the node never got
    it). Neither says anything of the claim: the controller must not be held for an hour
    (doubling to a day) as a claim the vault refused."""
    lending, protocol, who, joiner = joiner_with_a_settled_deposit(fresh, accounts)
    start, n = chain.blocks.head.number + 1, nonce(who)
    k = keeper(protocol, who, tmp_path)
    claimed_once_after(k, proxy, method, error, joiner, lending.vault, chain, start)
    assert nonce(who) == n + 1


def claimed_once_after(k, proxy, method, error, joiner, vault, chain, start):
    """A settler pass whose claim's `method` call the endpoint answers with `error`, then a
    clean pass: the joiner's deposit is claimed once, by the second, and the first did not
    record the claim refused."""
    proxy.inject("rpc-error", method, times=1, **error)
    with routed(proxy):
        failed = attempt(k, "settler")
        again = k.run("settler")
    assert proxy.injected[(method, "rpc-error")] == 1
    head = chain.blocks.head.number
    assert [(log.owner, log.assets) for log in vault.Deposit.range(start, head + 1)] == [
        (joiner.address, 30_000 * USDC)
    ], again.summary()  # held for an hour as a refused claim before the fix
    assert [(a.call, a.outcome) for a in again.actions] == [
        (f"claim({joiner.address})", "mined")
    ], again.summary()
    assert not isinstance(failed, JobReport) or [a.outcome for a in failed.actions] != [
        "refused"
    ], failed.summary()
    assert vault.maxDeposit(joiner) == 0
