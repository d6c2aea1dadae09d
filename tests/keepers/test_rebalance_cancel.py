"""The rebalancer keeper's own pending rebalance, once what it was planned on no longer holds.

`rebalance` takes one target per sleeve INDEX. A DAO batch that removes a sleeve and adds another
keeps the count, so a vector planned over the old set lands on the new one; the vault restarts
its cooldown on a sleeve change (`tests/attacks/test_sleeve_swap.py`), which stops such a
rebalance only while the change is recent. One still pending after the cooldown (priced at the
keeper's fee cap while base fees are high) landed on the new set. The keeper that sent it now
cancels it at its next pass: a same-nonce 0-value transfer to itself, recorded in its store.

Pending on purpose: automine off while the keeper sends (its sender gives up after a second); the
signed transaction is taken out of the pool while the DAO's batch and the cooldown run (blocks
must be mined for them) and put back as it was, unchanged, before the keeper's next pass: what a
transaction pending all along looks like to the node and the keeper."""

from __future__ import annotations

from dataclasses import replace

import pytest
from eth_utils import to_checksum_address

from keepers.strategy.kit import Proposal
from keepers.tx_node import KeyNode
from tests.keeper_support import SLOW_TX, keeper, pending_from, request, vault_protocol
from tests.vault_support import USDC, SleeveSpec, add_sleeve, deploy_vault_system, isolated

NAV = 1_000_000 * USDC


def more_tbill(inputs):
    """An operator's strategy: 500 bps more of the NAV in the first sleeve (tbill)."""
    target = [s.current_bps for s in inputs.sleeves]
    target[0] += 500
    return Proposal(tuple(target), "half a tenth more in tbill")


def more_invoices(inputs):
    """An operator's strategy: 1,000 bps more of the NAV in the third sleeve (invoices, when
    planned over [tbill, gold, invoices])."""
    target = [s.current_bps for s in inputs.sleeves]
    target[2] += 1_000
    return Proposal(tuple(target), "one more tenth in invoices")


def stay_put(inputs):
    """An operator's strategy: the current weights (no move: a skip, not a rebalance)."""
    return Proposal(tuple(s.current_bps for s in inputs.sleeves), "hold what the vault holds")


@pytest.fixture(scope="module")
def cancel_deployed(project, accounts):
    return deploy_vault_system(project, accounts[0], accounts[1], accounts[5])


@pytest.fixture
def swappable(cancel_deployed, chain):
    with isolated(chain):
        yield replace(cancel_deployed, sleeves=list(cancel_deployed.sleeves))


def nonce(chain, who) -> int:
    return int(request(chain, "eth_getTransactionCount", [who.address, "latest"]), 16)


def planned(system, chain, tmp_path, strategy: str = "more_invoices", capped: bool = False):
    """After the cooldown, a keeper of the allocator with `strategy` (a gas margin roomy enough
    for either sleeve set: the old set's estimate would not pay for the new set's move into a
    sleeve it never held, and an out-of-gas revert would hide the landing). `capped`: its fee
    cap 1 wei above the base fee, below base fee × 2 + tip: its next send is priced at the cap."""
    vault = system.vault
    system.rebalance([3_000, 0, 1_000])  # tbill 300,000, invoices 100,000
    chain.pending_timestamp = vault.nextRebalanceAt()
    system.publish_prices()
    settings = SLOW_TX | {"gas_margin_bps": 10_000}
    if capped:
        base = int(chain.provider.web3.eth.get_block("latest")["baseFeePerGas"])
        settings |= {"max_fee_cap": base + 1}
    entry = f"{__name__}:{strategy}"
    return keeper(
        vault_protocol(system),
        system.allocator,
        tmp_path,
        tx=settings,
        rebalancer={"strategy": entry},
    )


def left_pending(chain, k):
    """One pass of `k` with automine off: its rebalance stays pending (its sender gives up after
    a second). The signed transaction is then held out of the pool (automine back on would mine
    it) until `put_back`. Returns the pass's report, the flight's record and its signed bytes."""
    request(chain, "anvil_setAutomine", [False])
    try:
        sent = k.run("rebalancer")
    finally:
        flights = k.store.in_flight(k.address)
        raws = [request(chain, "eth_getRawTransactionByHash", [f.tx_hash]) for f in flights]
        request(chain, "anvil_dropAllTransactions")
        request(chain, "anvil_setAutomine", [True])
    assert [a.outcome for a in sent.actions] == ["stuck"], sent.summary()
    (stale,), (raw,) = flights, raws
    assert stale.action_id.startswith("rebalance:") and stale.nonce == nonce(chain, k.account)
    return sent, stale, raw


def pending_plan(system, chain, accounts, tmp_path, **planned_kw):
    """The vault funded, a keeper `planned` (its keyword arguments), its rebalance `left_pending`:
    the keeper, the flight's record and its signed bytes."""
    system.deposit(accounts[6], NAV)
    k = planned(system, chain, tmp_path, **planned_kw)
    _, stale, raw = left_pending(chain, k)
    return k, stale, raw


def put_back(chain, stale, raw) -> None:
    """Automine off, and `stale`'s signed bytes in the pool again: pending as before."""
    request(chain, "anvil_setAutomine", [False])
    assert request(chain, "eth_sendRawTransaction", [raw]) == stale.tx_hash


def restarted_pass(system, chain, tmp_path, k, stale, raw, strategy: str):
    """`k`'s key and store restarted with another operator `strategy` of this module; its first
    pass runs with `stale` pending (`put_back`) and a block is mined after it. The keeper and
    the pass's report."""
    k2 = keeper(
        k.protocol,
        system.allocator,
        tmp_path,
        tx=SLOW_TX | {"gas_margin_bps": 10_000},
        rebalancer={"strategy": f"{__name__}:{strategy}"},
    )
    try:
        put_back(chain, stale, raw)
        report = k2.run("rebalancer")
        request(chain, "evm_mine", [])
    finally:
        request(chain, "anvil_setAutomine", [True])
    return k2, report


def swap_sleeves(project, system, chain, cooldown_over: bool = True) -> None:
    """The DAO's batch: gold out, realestate in (same count), and (`cooldown_over`) the cooldown
    it restarts runs out (while the keeper's rebalance is held out of the pool: blocks must be
    mined)."""
    vault, gov = system.vault, system.governance
    vault.removeSleeve(system.sleeve("gold").sleeve, sender=gov)
    swap = add_sleeve(project, system, SleeveSpec("realestate", cap_bps=3_000))
    assert vault.sleeveAt(2).sleeve == swap.sleeve.address
    if cooldown_over:
        chain.pending_timestamp = vault.nextRebalanceAt()
    system.publish_prices()


def decisions_since(vault, chain, start: int) -> list[tuple[list[str], list[int]]]:
    """(sleeves, new weights) of every decision opened from block `start` on."""
    found = []
    for e in vault.Rebalanced.range(start, chain.blocks.head.number + 1):
        d = vault.decision(e.decisionId)
        found.append((list(d.sleeves), list(d.newBps)))
    return found


def test_a_pending_rebalance_planned_before_a_sleeve_swap_is_cancelled_not_landed(
    project, swappable, chain, accounts, tmp_path, caplog
):
    system = swappable
    vault, allocator = system.vault, system.allocator
    # pending: [3000, 0, 2000] over [tbill, gold, invoices]
    k, stale, raw = pending_plan(system, chain, accounts, tmp_path)
    count, start = vault.decisionCount(), chain.blocks.head.number + 1
    swap_sleeves(project, system, chain)
    try:
        put_back(chain, stale, raw)
        caplog.set_level("WARNING", logger="keepers")
        after = k.run("rebalancer")  # the keeper's next pass, its rebalance still pending
        request(chain, "evm_mine", [])
    finally:
        request(chain, "anvil_setAutomine", [True])
    k.reconcile()

    # Chain facts: no decision with the old targets, the nonce went to a 0-value self-transfer.
    landed = decisions_since(vault, chain, start)
    assert landed == [], after.summary()  # was [(the new set, [3000, 0, 2000])]
    assert vault.decisionCount() == count
    assert nonce(chain, allocator) == stale.nonce + 1
    digest = stale.action_id.split(":", 1)[1]
    (cancel,) = k.store.transactions(f"rebalance-cancel:{digest}")
    tx = chain.provider.web3.eth.get_transaction(cancel.tx_hash)
    receipt = chain.provider.web3.eth.get_transaction_receipt(cancel.tx_hash)
    assert receipt["status"] == 1 and tx["nonce"] == stale.nonce
    assert to_checksum_address(tx["to"]) == allocator.address == tx["from"] and tx["value"] == 0
    assert tx["maxFeePerGas"] >= stale.max_fee * 1.125  # a valid replacement of the pending one

    # The store: the stale flight ended replaced by our own cancel, the cancel mined.
    assert cancel.status == "mined" and cancel.nonce == stale.nonce
    record = k.store.transaction(stale.tx_hash)
    assert record.status == "replaced", record
    assert record.error.startswith(f"cancelled by rebalance-cancel:{digest}: "), record.error
    assert "sleeve set changed" in record.error
    (line,) = [n for n in after.notes if n.startswith("cancelled ")]
    assert "\n" not in line and stale.action_id in line and "sleeve set changed" in line
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("cancelled")]
    assert logged == [line]


def test_a_newer_plan_with_other_targets_cancels_the_pending_one_then_lands(
    swappable, chain, accounts, tmp_path
):
    """No sleeve change: the keeper's [3000, 0, 2000] is pending when its next pass plans
    [3500, 0, 1000] (its operator changed strategy). Before, the newer plan was reported
    `blocked` behind it and the pending one re-priced, so the old targets landed first. Now the
    pending one is cancelled, and the pass after the cancel settles sends the newer plan."""
    system = swappable
    vault = system.vault
    k, stale, raw = pending_plan(system, chain, accounts, tmp_path)
    start = chain.blocks.head.number + 1
    k2, superseding = restarted_pass(system, chain, tmp_path, k, stale, raw, "more_tbill")
    assert decisions_since(vault, chain, start) == [], superseding.summary()
    assert any(s.endswith("superseded and cancelled; planned afresh once the cancel settles")
               for s in superseding.skipped), superseding.skipped  # fmt: skip
    assert nonce(chain, k2.account) == stale.nonce + 1

    fresh = k2.run("rebalancer")
    assert [a.outcome for a in fresh.actions] == ["mined"], fresh.summary()
    sleeves = [s.sleeve.address for s in system.sleeves]
    assert decisions_since(vault, chain, start) == [(sleeves, [3_500, 0, 1_000])]
    assert k2.store.transaction(stale.tx_hash).status == "replaced"


def test_a_newer_plan_to_stay_put_cancels_the_pending_rebalance(
    swappable, chain, accounts, tmp_path
):
    """The keeper's [3000, 0, 2000] is pending when its next pass's plan is to stay at the
    current [3000, 0, 1000]: a skip ("min-change", nothing to send). Before, a skip returned
    without looking at the pending rebalance, which then landed the targets the keeper no
    longer wanted. Now the skip's targets supersede it like a plan's: it is cancelled, and the
    next pass sends nothing."""
    system = swappable
    vault = system.vault
    k, stale, raw = pending_plan(system, chain, accounts, tmp_path)
    start = chain.blocks.head.number + 1
    k2, staying = restarted_pass(system, chain, tmp_path, k, stale, raw, "stay_put")
    k2.reconcile()
    assert decisions_since(vault, chain, start) == [], staying.summary()  # was [3000, 0, 2000]
    superseded, skip = staying.skipped
    assert superseded.endswith("superseded and cancelled; planned afresh once the cancel settles")
    assert skip.startswith("rebalance: min-change: "), skip
    assert nonce(chain, k2.account) == stale.nonce + 1
    record = k2.store.transaction(stale.tx_hash)
    assert (
        record.status == "replaced" and "superseded by a newer plan [3000, 0, 1000]" in record.error
    )

    after = k2.run("rebalancer")
    assert after.actions == [] and after.skipped == [skip], after.summary()
    assert nonce(chain, k2.account) == stale.nonce + 1
    assert decisions_since(vault, chain, start) == []


def test_a_cancel_the_fee_cap_cannot_price_is_said_and_nothing_is_sent_behind(
    project, swappable, chain, accounts, tmp_path
):
    """The pending rebalance was priced at the keeper's fee cap: a replacement needs the node's
    bump above it, over the cap. The pass says so in one line, sends nothing behind it and does
    not re-price it: the pool holds the same transaction on the key's next nonce."""
    system = swappable
    k, stale, raw = pending_plan(system, chain, accounts, tmp_path, capped=True)
    cap = k.settings.tx.max_fee_cap
    assert stale.max_fee == cap
    swap_sleeves(project, system, chain)
    try:
        put_back(chain, stale, raw)
        after = k.run("rebalancer")
        pool = pending_from(chain, k.address)
    finally:
        request(chain, "anvil_dropAllTransactions")
        request(chain, "anvil_setAutomine", [True])
    (line,) = [n for n in after.notes if n.startswith("cannot cancel ")]
    assert "\n" not in line and f"fee cap {cap}" in line and "nothing is sent behind it" in line
    assert [(p["hash"], int(p["nonce"], 16)) for p in pool] == [(stale.tx_hash, stale.nonce)]
    assert k.store.transactions(f"rebalance-cancel:{stale.action_id.split(':', 1)[1]}") == []
    assert [r.tx_hash for r in k.store.in_flight(k.address)] == [stale.tx_hash]


class Killed(BaseException):
    """The process killed (not an `Exception`: nothing of the keeper's catches it)."""


@pytest.mark.parametrize("killed", ["before its broadcast", "after its broadcast"])
def test_a_keeper_killed_mid_cancel_settles_it_on_restart(
    project, swappable, chain, accounts, tmp_path, monkeypatch, killed
):
    """The cancel is recorded as sent before its broadcast (write-ahead). Killed between the two,
    the restart finds it unknown to the node (dropped) and the stale rebalance still pending,
    and cancels it again; killed after the broadcast, the restart finds the cancel pending and
    the stale one gone from the pool (replaced by it), and waits on the cancel. Either way the
    old targets never land and the nonce goes to the keeper's self-transfer."""
    system = swappable
    vault = system.vault
    k, stale, raw = pending_plan(system, chain, accounts, tmp_path)
    start = chain.blocks.head.number + 1
    swap_sleeves(project, system, chain)
    real = KeyNode._broadcast

    def dies(self, signed: bytes) -> str:
        if killed == "after its broadcast":
            real(self, signed)
        raise Killed

    try:
        put_back(chain, stale, raw)
        with monkeypatch.context() as m:
            m.setattr(KeyNode, "_broadcast", dies)
            with pytest.raises(Killed):
                k.run("rebalancer")
        digest = stale.action_id.split(":", 1)[1]
        (cancel,) = k.store.transactions(f"rebalance-cancel:{digest}")
        assert cancel.status == "sent" and k.store.transaction(stale.tx_hash).status == "sent"
        restarted = keeper(
            k.protocol, system.allocator, tmp_path, tx=SLOW_TX | {"gas_margin_bps": 10_000}
        )  # a new process on the same store
        after = restarted.run("rebalancer")
        request(chain, "evm_mine", [])
    finally:
        request(chain, "anvil_setAutomine", [True])
    restarted.reconcile()
    assert decisions_since(vault, chain, start) == [], after.summary()
    assert nonce(chain, system.allocator) == stale.nonce + 1
    (cancel,) = k.store.transactions(f"rebalance-cancel:{digest}")
    assert cancel.status == "mined" and cancel.nonce == stale.nonce, cancel
    tx = chain.provider.web3.eth.get_transaction(cancel.tx_hash)
    assert to_checksum_address(tx["to"]) == system.allocator.address and tx["value"] == 0
    assert k.store.transaction(stale.tx_hash).status == "replaced"
    cancelled_again = [n for n in after.notes if n.startswith("cancelled ")]
    assert len(cancelled_again) == (1 if killed == "before its broadcast" else 0), after.notes


@pytest.mark.parametrize("cooldown_over", [False, True])
def test_a_rebalance_mined_before_its_cancel_is_reported_as_the_chain_has_it(
    project, swappable, chain, accounts, tmp_path, monkeypatch, cooldown_over
):
    """A block mines the stale rebalance between the pass's reconcile and its cancel (the
    cancel's broadcast finds its nonce used): the chain decides, and the pass says which in one
    line: reverted `RebalanceCooldown` inside the cooldown the swap restarted, landed after it
    (its decision recorded)."""
    system = swappable
    vault = system.vault
    k, stale, raw = pending_plan(system, chain, accounts, tmp_path)
    start = chain.blocks.head.number + 1
    swap_sleeves(project, system, chain, cooldown_over)
    real = KeyNode._sign

    def mined_first(self, to, data, *args):
        if data == b"":  # the cancel: the stale rebalance is mined just before it goes out
            request(chain, "evm_mine", [])
        return real(self, to, data, *args)

    try:
        put_back(chain, stale, raw)
        with monkeypatch.context() as m:
            m.setattr(KeyNode, "_sign", mined_first)
            after = k.run("rebalancer")
    finally:
        request(chain, "anvil_setAutomine", [True])
    record = k.store.transaction(stale.tx_hash)
    (line,) = [n for n in after.notes if " was mined before its cancel" in n]
    assert "\n" not in line and line.startswith(f"{stale.action_id} ({stale.tx_hash})")
    assert nonce(chain, system.allocator) == stale.nonce + 1
    if cooldown_over:
        sleeves = [s.sleeve.address for s in system.sleeves if s.name != "gold"]
        assert decisions_since(vault, chain, start) == [(sleeves, [3_000, 0, 2_000])]
        assert record.status == "mined" and line.endswith(
            "landed on the vault's sleeves as they are now"
        )
        (decision_id,) = [
            e.decisionId for e in vault.Rebalanced.range(start, chain.blocks.head.number + 1)
        ]
        assert k.store.decision(decision_id) is not None
    else:
        assert decisions_since(vault, chain, start) == []
        assert record.status == "reverted" and "RebalanceCooldown" in record.error, record
        assert ": reverted: RebalanceCooldown" in line, line


def test_a_pending_rebalance_planned_on_a_chain_gone_back_past_a_sleeve_swap_is_cancelled(
    project, swappable, chain, accounts, tmp_path
):
    """A node restarted from an older state (or a reorg deeper than any look-back): the keeper's
    rebalance was planned at a block 40 past the dump, and the chain that grew back has the
    DAO's swap below that block. No `SleeveAdded`/`SleeveRemoved` log is after the plan's read
    block, so the check that cancels a rebalance planned before a swap kept it, and the next
    pass of another job (the evaluator's: every job's pass resumes the key's flights) resumed
    it: it landed [3000, 0, 2000] on [tbill, invoices, realestate]. It is cancelled now: the
    vault's sleeves are not those the plan was made over (the manifest's, which the rebalancer
    plans on only)."""
    system = swappable
    vault = system.vault
    system.deposit(accounts[6], NAV)
    k = planned(system, chain, tmp_path)
    fork = chain.snapshot()  # the state the node is restarted from
    chain.mine(40)
    sent, stale, raw = left_pending(chain, k)  # planned 40 blocks past the dump
    chain.restore(fork)
    swap_sleeves(project, system, chain)
    swapped = chain.blocks.head.number
    chain.mine(sent.block + 5 - swapped)  # grown back past the plan's read block
    assert swapped < sent.block < chain.blocks.head.number
    start = chain.blocks.head.number + 1
    try:
        put_back(chain, stale, raw)
        after = k.run("evaluator")
        request(chain, "evm_mine", [])
    finally:
        request(chain, "anvil_setAutomine", [True])
    k.reconcile()
    assert decisions_since(vault, chain, start) == [], after.summary()
    assert nonce(chain, system.allocator) == stale.nonce + 1
    digest = stale.action_id.split(":", 1)[1]
    (cancel,) = k.store.transactions(f"rebalance-cancel:{digest}")
    assert cancel.status == "mined" and cancel.nonce == stale.nonce
    record = k.store.transaction(stale.tx_hash)
    assert record.status == "replaced", record
    assert "no longer those it was planned over" in record.error, record.error


def test_a_rebalancer_whose_last_decision_the_chain_no_longer_holds_rebalances_again(
    swappable, chain, accounts, tmp_path
):
    """A node restarted from before the keeper's last rebalance (or a reorg that dropped it)
    undid the decision it opened; the store still held it as the keeper's latest, and every
    later pass asked the vault for it (`decision(id)`, to tell whether sending its targets again
    is futile) and failed on `UnknownDecision`: the rebalancer never rebalanced again. A
    decision the chain does not hold says nothing of futility: the pass plans and sends. While
    the node was still below the block the rebalance was mined in, each pass failed before
    that, on the missing receipt (`TransactionNotFound`, recovering decisions)."""
    system = swappable
    vault = system.vault
    system.deposit(accounts[6], NAV)
    k = planned(system, chain, tmp_path)
    count = vault.decisionCount()
    fork = chain.snapshot()  # the state the node is restarted from
    first = k.run("rebalancer")
    assert [a.outcome for a in first.actions] == ["mined"], first.summary()
    assert int(k.store.latest_decision().decision_id) == count
    chain.restore(fork)
    assert vault.decisionCount() == count
    # the node below the block it was mined in: the pass raised TransactionNotFound (its
    # decision's receipt), now it says the node is behind and sends nothing
    below = k.run("rebalancer")
    assert below.notes[0].startswith("the node is behind"), below.notes
    assert [a.outcome for a in below.actions] == ["already-done"], below.summary()
    chain.mine(5)  # grown back past it
    start = chain.blocks.head.number + 1
    again = k.run("rebalancer")
    assert [a.outcome for a in again.actions] == ["mined"], again.summary()
    sleeves = [s.sleeve.address for s in system.sleeves]
    assert decisions_since(vault, chain, start) == [(sleeves, [3_000, 0, 2_000])]
