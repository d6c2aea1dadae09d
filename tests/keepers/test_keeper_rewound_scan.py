"""A node restarted from an older state (`anvil --load-state` of a dump 40 blocks old: the chain
goes back 40 blocks, deeper than `liquidator.reorg_depth`), the chain growing back on other
history past the blocks a keeper had read before its next pass. What a keeper keeps of past
blocks must then be of the new chain, not of the abandoned one:

- the borrower scan: the look-back started 12 blocks below its old cursor, so a borrower who
  borrowed on the rewound chain was never found and, once unhealthy, never liquidated; and
  while the chain had not grown back past that cursor yet it read nothing at all (it now reads
  the look-back below the node's head);
- the steward's bad-debt running total: it kept a write-off the new chain never made (every
  later decision tightened as if the book were stressed), and missed one the new chain made;
- the sleeve set the sentinel (and settler, evaluator) keeps: a sleeve the DAO added on the new
  chain below the block the set was read at was never watched (its feed three days stale,
  no alert, no pause), nor, until the chain had grown back, one added above it;
- the keeper's check of its own mined transactions (`Keeper.reconcile`): an `evaluate:0` mined
  on the abandoned chain below the floor of that check stayed done, and the decision, due on
  the new chain, was never evaluated by the keeper (`already-done` on every pass).

Each now keeps a mark, the hash of the block its look-back no longer reads, and reads from the
deployment (the sleeves: again; the transactions: every receipt since) when another block is
there (`keepers.reads.scans.chain_changed`); a reorg above the mark is the look-back's. Chain
facts: the book's debt and `Liquidated` / `BadDebtRealized` / `Evaluated` logs, the vault's
sleeves, the decision's record."""

from __future__ import annotations

import dataclasses
import sqlite3

import pytest

from keepers.math import WAD
from keepers.shell.steward import read_steward_inputs
from tests.keeper_support import keeper, protocol_of, supplied_book, write_off
from tests.vault_support import DAY, USDC, SleeveSpec, add_sleeve, faucet, isolated

GONE_BACK, GROWN = 40, 45  # blocks mined before the rewind; after it, past the old head


def grow_past(chain, block: int) -> None:
    """The rewound chain grown back a few blocks past `block` (what the keeper had read)."""
    chain.mine(block + 5 - chain.blocks.head.number)


def pass_then_rewind(chain, k, job: str):
    """`k`'s `job` pass 40 blocks past a dump, then the node restarted from that dump: the
    pass's report."""
    fork = chain.snapshot()  # the state the node is restarted from
    chain.mine(GONE_BACK)
    report = k.run(job)
    chain.restore(fork)
    return report


def stale_sleeve(project, vs, chain):
    """A sleeve the DAO adds (the keeper's manifest does not list it), its feed 3 days stale."""
    local = dataclasses.replace(vs, sleeves=list(vs.sleeves))  # the module's list intact
    extra = add_sleeve(project, local, SleeveSpec("extra", cap_bps=2_000))
    stale = chain.blocks.head.timestamp - 3 * DAY
    extra.feed.setRound(extra.feed.latestAnswer(), stale, sender=vs.governance)
    return extra


def stale_alerted(report, extra) -> bool:
    """Whether the sentinel's `report` alerts on `extra`'s stale feed, as critical."""
    alerts = {(a.code, a.severity, a.subject) for a in report.alerts}
    return ("oracle-stale", "critical", extra.sleeve.address) in alerts


def liquidated_since(lending, start: int) -> list[str]:
    return [log.borrower for log in lending.book.Liquidated.range(start, start + 50)]


@pytest.fixture(scope="module")
def rewound_book(project, accounts):
    lending = supplied_book(project, accounts)
    faucet(lending.asset, accounts[7], 2_000_000 * USDC)
    return lending


def test_a_borrower_on_a_chain_gone_back_past_the_scan_is_found_and_liquidated(
    rewound_book, accounts, chain, tmp_path
):
    lending = rewound_book
    with isolated(chain):
        k = keeper(protocol_of(lending), accounts[7], tmp_path)
        scanned = pass_then_rewind(chain, k, "liquidator").block  # 40 blocks past the dump
        borrower = accounts[9]
        lending.open_position(borrower, "tbill", 100_000 * USDC, 70_000 * USDC)
        opened = chain.blocks.head.number
        chain.mine(GROWN)  # grown back past the old scan before the keeper's next pass
        lending.set_nav("tbill", 65_000_000)
        lending.confirm("tbill")
        assert opened < scanned - k.settings.liquidator.reorg_depth < chain.blocks.head.number
        assert lending.book.healthFactor(borrower) < WAD
        start = chain.blocks.head.number + 1
        k.run("liquidator")
        assert borrower.address.lower() in k.store.borrowers()
        assert liquidated_since(lending, start) == [borrower.address]
        assert lending.book.debtOf(borrower) < 70_000 * USDC


def test_the_stewards_bad_debt_on_a_chain_gone_back_past_its_cursor_is_the_new_chains(
    rewound_book, accounts, chain, tmp_path
):
    lending = rewound_book
    with isolated(chain):
        steward = keeper(protocol_of(lending), None, tmp_path / "steward")
        depth = steward.settings.liquidator.reorg_depth

        def liquidator(name: str):
            return keeper(protocol_of(lending), accounts[7], tmp_path / name)

        # a write-off the new chain never made
        fork = chain.snapshot()
        lost = write_off(lending, accounts[8], liquidator("a"))
        written = chain.blocks.head.number
        chain.mine(GONE_BACK)
        assert read_steward_inputs(steward).book.bad_debt == lost > 0
        read = chain.blocks.head.number
        chain.restore(fork)
        grow_past(chain, read)
        assert written < read - depth < chain.blocks.head.number
        assert not list(lending.book.BadDebtRealized.range(written - 20, written + 1))
        assert read_steward_inputs(steward).book.bad_debt == 0  # was `lost`: abandoned chain's

        # a write-off only the new chain made, below the cursor the steward had read to
        fork = chain.snapshot()
        chain.mine(GONE_BACK)
        assert read_steward_inputs(steward).book.bad_debt == 0
        read = chain.blocks.head.number
        chain.restore(fork)
        again = write_off(lending, accounts[9], liquidator("b"))
        written = chain.blocks.head.number
        grow_past(chain, read)
        assert written < read - depth < chain.blocks.head.number
        assert read_steward_inputs(steward).book.bad_debt == again > 0  # was 0: missed


def test_a_sleeve_added_on_a_chain_gone_back_past_the_sleeve_read_is_watched(
    rewound_book, project, chain, tmp_path
):
    lending = rewound_book
    vs = lending.vs
    with isolated(chain):
        k = keeper(protocol_of(lending), None, tmp_path)
        read = pass_then_rewind(chain, k, "sentinel").block  # the sleeves read (and kept) here
        extra = stale_sleeve(project, vs, chain)
        added = chain.blocks.head.number
        chain.mine(GROWN)
        assert added < read - k.settings.liquidator.reorg_depth < chain.blocks.head.number
        last = vs.vault.sleeveAt(vs.vault.sleeveCount() - 1).sleeve
        assert last == extra.sleeve.address  # the vault holds it on the new chain
        report = k.run("sentinel")
        assert stale_alerted(report, extra), report.summary()


def test_an_evaluation_mined_on_a_chain_gone_back_past_the_reorg_check_is_sent_again(
    rewound_book, accounts, chain, tmp_path
):
    lending = rewound_book
    agents, gov = lending.vs.agents, lending.vs.governance
    with isolated(chain):
        k = keeper(protocol_of(lending), accounts[7], tmp_path)
        chain.pending_timestamp = agents.decisionRecord(0).dueAt
        for name in ("tbill", "gold", "invoices"):  # fresh evidence at the due time
            feed = lending.feed(name)
            feed.setAnswer(feed.latestAnswer(), sender=gov)
        assert 0 in agents.decisionsDue(10)
        fork = chain.snapshot()
        first = k.run("evaluator")
        assert [(a.action_id, a.outcome) for a in first.actions] == [("evaluate:0", "mined")]
        (mined,) = k.store.transactions("evaluate:0")
        chain.mine(GONE_BACK)
        k.run("evaluator")  # its reorg check reads the head 40 blocks past the evaluation
        checked = chain.blocks.head.number
        chain.restore(fork)  # the node restarted from before the evaluation
        grow_past(chain, checked)
        assert mined.block < checked - k.settings.tx.reorg_depth < chain.blocks.head.number
        assert not agents.decisionRecord(0).evaluated
        start = chain.blocks.head.number + 1
        again = k.run("evaluator")
        assert [(a.action_id, a.outcome) for a in again.actions] == [("evaluate:0", "mined")], (
            again.summary()
        )
        head = chain.blocks.head.number
        assert [log.decisionId for log in agents.Evaluated.range(start, head + 1)] == [0]
        assert agents.decisionRecord(0).evaluated


def test_a_borrower_on_a_chain_gone_back_and_not_yet_grown_back_is_found_and_liquidated(
    rewound_book, accounts, chain, tmp_path
):
    lending = rewound_book
    with isolated(chain):
        k = keeper(protocol_of(lending), accounts[7], tmp_path)
        scanned = pass_then_rewind(chain, k, "liquidator").block
        borrower = accounts[9]
        lending.open_position(borrower, "tbill", 100_000 * USDC, 70_000 * USDC)
        lending.set_nav("tbill", 65_000_000)
        lending.confirm("tbill")
        assert chain.blocks.head.number < scanned  # the node still below what was read
        assert lending.book.healthFactor(borrower) < WAD
        start = chain.blocks.head.number + 1
        k.run("liquidator")
        assert liquidated_since(lending, start) == [borrower.address]


def test_a_sleeve_added_on_a_chain_gone_back_and_not_yet_grown_back_is_watched(
    rewound_book, project, chain, tmp_path
):
    lending = rewound_book
    vs = lending.vs
    with isolated(chain):
        k = keeper(protocol_of(lending), None, tmp_path)
        k.run("sentinel")  # the vault's sleeves read (and kept) here
        scanned = pass_then_rewind(chain, k, "sentinel").block  # their logs looked at up to here
        extra = stale_sleeve(project, vs, chain)
        assert chain.blocks.head.number < scanned  # the node still below what was looked at
        report = k.run("sentinel")
        assert stale_alerted(report, extra), report.summary()


def test_a_reorg_of_the_scanned_head_within_the_look_back_reads_the_look_back_only(
    rewound_book, accounts, chain, tmp_path, monkeypatch
):
    """The commonest reorg on a live chain replaces the head block, the one a scan's cursor read
    last: the hash check took that for a chain gone back and read the book's history again from
    the deployment block, every block since (on a long-lived deployment thousands of
    `eth_getLogs` a pass, on every such reorg). The look-back re-reads that block anyway: only
    a change below the look-back reads from the deployment (the borrower scan, and alike the
    steward's total, the sleeve set and the reorg check of the key's transactions)."""
    lending = rewound_book
    with isolated(chain):
        k = keeper(protocol_of(lending), accounts[7], tmp_path)
        depth = k.settings.liquidator.reorg_depth
        chain.mine(2 * depth)
        fork, below = chain.snapshot(), chain.blocks.head.number
        chain.mine(1)
        k.run("liquidator")
        scanned = k.store.last_block("position-scan")
        assert scanned == below + 1
        chain.restore(fork)
        accounts[0].transfer(accounts[1], 1)  # another block at the scanned height
        chain.mine(1)
        asked: list[int] = []
        real = type(k.web3.eth).get_logs

        def recorded(self, params):
            asked.append(int(params["fromBlock"]))
            return real(self, params)

        monkeypatch.setattr(type(k.web3.eth), "get_logs", recorded)
        k.run("liquidator")
        monkeypatch.undo()
        assert asked and min(asked) >= scanned + 1 - depth > k.protocol.block, asked


def test_a_share_price_read_on_a_chain_gone_back_is_no_nav_drop_on_the_new_one(
    rewound_book, accounts, chain, tmp_path
):
    """The sentinel judges the NAV drop against the share price its last pass read. Read 8 %
    higher on a chain the node then went back from (a donation there, unlocking at once), it
    made the new chain's price a critical drop that trips at once (a pause for nothing): while
    the node was still below that read, and once it had grown back past it on other history.
    Either way that price is no previous reading now; the pass after judges as before."""
    lending, donor = rewound_book, accounts[7]
    vault = lending.vault

    def abandoned_read(k) -> int:
        """A sentinel pass that reads the donated price, then the node restarted from before
        the donation: the block that pass read."""
        fork = chain.snapshot()
        lending.asset.approve(vault, 80_000 * USDC, sender=donor)
        vault.donate(80_000 * USDC, sender=donor)
        chain.mine(GONE_BACK)
        read = k.run("sentinel").block
        chain.restore(fork)
        return read

    def drops(report) -> list:
        return [a for a in report.alerts if a.code == "nav-drop"]

    with isolated(chain):
        k = keeper(protocol_of(lending), donor, tmp_path)  # keeps its state (a dry run does not)
        k.run("sentinel")
        abandoned_read(k)  # the node below the block that pass read
        report = k.run("sentinel")
        assert not drops(report), report.summary()
        assert any("no NAV drop judged this pass" in n for n in report.notes), report.notes
        grow_past(chain, abandoned_read(k))  # grown back past it on other history
        report = k.run("sentinel")
        assert not drops(report), report.summary()
        assert not drops(k.run("sentinel")), "the new chain's own readings judge as before"


def test_return_index_readings_of_a_chain_gone_back_leave_the_rebalancers_history(
    rewound_book, accounts, chain, tmp_path
):
    """The rebalancer keeps each sleeve's `returnIndex()` reading of every pass: its strategy's
    history, written into every receipt. A reading of a chain the node went back from (gold +5 %
    there, confirmed) stayed, on a block the new chain holds with another time and index: the
    forecast read a chain that is not there, and `verify-decision` found the next honest
    decision's history on no block. Every reading kept is now the node's own (its block's time,
    the sleeve's index there)."""
    lending = rewound_book
    protocol = protocol_of(lending)
    agent = accounts[7]  # not an agent: a pass observes, then skips

    def readings_off_chain(k) -> list:
        db = sqlite3.connect(k.store.path)
        rows = db.execute("SELECT sleeve, timestamp, value, block FROM index_samples").fetchall()
        db.close()
        off = []
        for name, t, value, block in rows:
            index, _ = protocol.sleeves[name].returnIndexStatus(block_id=block)
            if chain.blocks[block].timestamp != t or max(int(index), 1) != int(value):
                off.append((name, t, block))
        return off

    with isolated(chain):
        k = keeper(protocol, agent, tmp_path)
        k.run("rebalancer")
        fork = chain.snapshot()
        gold = int(lending.feed("gold").latestRoundData()[1])
        lending.set_nav("gold", gold * 105 // 100)
        lending.confirm("gold")
        chain.mine(GONE_BACK)
        read = k.run("rebalancer").block
        assert not readings_off_chain(k)
        chain.restore(fork)
        grow_past(chain, read)
        k.run("rebalancer")
        assert not readings_off_chain(k)
        assert k.store.index_history("gold")[-1][1] == max(
            int(protocol.sleeves["gold"].returnIndex()), 1
        )
