"""The sentinel's `pauseAutomation()` undone after it was sent: a reorg (or a node restarted from
an older state) drops the block it was mined in, or the pool drops it while it waits. The keeper
settles the transaction again (`dropped`), but the sentinel stayed tripped — it pauses only on
the pass that trips — so with the feeds still three days stale the vault stayed unpaused on
every later pass. A tripped sentinel whose own last pause did not hold (its record neither mined
nor in flight) and whose vault is not paused is armed again, and trips on the next critical pass
(`keepers.jobs.sentinel.rearm_if_pause_undone`). A pause that held and that a guardian lifted by
hand is left lifted (the record is mined): the sentinel never fights a human's unpause.
Chain facts only: `automationPaused()`, the node's pool, the store's records."""

from __future__ import annotations

import pytest

from keepers.config import load_settings
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
def tripping(system, chain, tmp_path):
    """A critical feed (tbill) three days stale, and the guardian's keeper."""
    with isolated(chain):
        feed = system.feed("tbill")
        feed.setRound(feed.latestAnswer(), chain.blocks.head.timestamp - 3 * DAY,
                      sender=system.vs.governance)  # fmt: skip
        settings = load_settings(tx=SLOW_TX)
        yield system, keeper(protocol_of(system), system.vs.guardian, tmp_path, settings=settings)


def pauses(k) -> list[tuple[str, str, int | None]]:
    return sorted(
        (t.status, t.action_id, t.block)
        for t in k.store.transactions()
        if t.action_id.startswith("pauseAutomation:")
    )


def paused_once_again(k, after: int) -> None:
    """One pause of the key's mined, in a block after `after` (the dropped one, when it was
    signed again rather than re-broadcast, recorded dropped): nothing in flight."""
    records = pauses(k)
    mined = [r for r in records if r[0] == "mined"]
    assert len(mined) == 1 and mined[0][2] > after, records
    assert {r[0] for r in records} <= {"mined", "dropped"}, records


def test_a_pause_a_reorg_undid_is_sent_again(tripping, chain):
    lending, k = tripping
    vault = lending.vault
    fork, fork_block = chain.snapshot(), chain.blocks.head.number  # the node's older state
    for _ in range(3):
        k.run("sentinel")
        chain.mine(1)
        if vault.automationPaused():
            break
    assert vault.automationPaused()
    (gone,) = k.store.transactions()
    chain.restore(fork)  # restarted from the older state: the pause's block is gone
    assert not vault.automationPaused()
    passes = 0
    while not vault.automationPaused() and passes < 6:
        k.run("sentinel")
        chain.mine(1)
        passes += 1
    assert vault.automationPaused(), (passes, pauses(k))
    # two passes while the node is below the pause's block (a lagging node, for all it knows),
    # the third settles the pause as dropped and sends it again
    assert chain.blocks.head.number <= gone.block + 2
    paused_once_again(k, fork_block)


def test_a_pause_the_pool_dropped_is_sent_again(tripping, chain):
    lending, k = tripping
    vault = lending.vault
    before = chain.blocks.head.number
    with manual_mining(chain):
        for _ in range(3):
            if [a for a in k.run("sentinel").actions if a.call == "pauseAutomation()"]:
                break
        (pooled,) = pending_from(chain, lending.vs.guardian.address)
        request(chain, "anvil_dropTransaction", [pooled["hash"]])
        assert pending_from(chain, lending.vs.guardian.address) == []
    k.run("sentinel")
    assert vault.automationPaused(), pauses(k)
    paused_once_again(k, before)


def test_a_pause_a_guardian_lifted_by_hand_is_not_sent_again(tripping, chain):
    lending, k = tripping
    vault = lending.vault
    for _ in range(3):
        k.run("sentinel")
        if vault.automationPaused():
            break
    assert vault.automationPaused()
    vault.unpauseAutomation(sender=lending.vs.guardian)  # a human's decision, feeds still stale
    for _ in range(3):
        k.run("sentinel")
    assert not vault.automationPaused()
    assert [r[0] for r in pauses(k)] == ["mined"]
