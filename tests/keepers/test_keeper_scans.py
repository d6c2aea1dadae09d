"""The keepers' event-log scans on anvil (`keepers.reads.scans`): a reorg or a node a few blocks
behind never loses a borrower or a controller for good, and no scan asks a provider for more
than `liquidator.scan_chunk` blocks at once.

What users rely on: a borrow that a reorg re-includes in a block the liquidator had already
scanned is found on the next pass (the scan re-reads `liquidator.reorg_depth` blocks) and the
position, once unhealthy, is liquidated; the same for a borrow a lagging node left out of its
answer, and for a depositor's `OperatorSet` approval of the claim relay; a re-scan never
resurrects an approval its controller revoked later; the steward's bad-debt total, read behind
a provider that caps `eth_getLogs` ranges, counts every write-off once, across passes and across
a reorg; `verify-steward`'s and `verify-decision`'s event lookups work behind that provider.

The reorgs are anvil's `evm_revert` to a snapshot taken before the scanned blocks, then a new
chain of the same length or longer. Every check is on chain facts (events, block numbers)."""

from __future__ import annotations

import json
from contextlib import contextmanager

import pytest
from web3.exceptions import Web3RPCError

from keepers.config import load_settings
from keepers.math import WAD
from keepers.shell.settler import discover_controllers
from keepers.shell.steward import find_steward_update, read_steward_inputs
from keepers.verify import DecisionNotFound, onchain_rationale
from tests.keeper_support import keeper, protocol_of, write_off
from tests.lending_support import deploy_lending_system
from tests.vault_support import USDC, faucet, isolated

CAP = 20  # the provider's largest eth_getLogs range, and the keeper's scan_chunk to match


@pytest.fixture(scope="module")
def system(project, accounts, chain):
    lending = deploy_lending_system(project, accounts[0], accounts[1], accounts[5])
    lending.supply(accounts[6], 1_000_000 * USDC)
    lending.open_position(accounts[4], "tbill", 400_000 * USDC, 100_000 * USDC)
    faucet(lending.asset, accounts[7], 2_000_000 * USDC)
    relay = accounts[0].deploy(project.ClaimRelay, lending.vault)
    return lending, relay


@contextmanager
def provider_rule(monkeypatch, eth, rule):
    """`eth_getLogs` answered through `rule(params, real)` for the duration."""
    real = type(eth).get_logs
    with monkeypatch.context() as m:
        m.setattr(type(eth), "get_logs", lambda self, params: rule(self, params, real))
        yield


def capped(asked: list[tuple[int, int]]):
    """A provider refusing ranges above CAP blocks; each range asked is recorded."""

    def rule(self, params, real):
        lo, hi = int(params["fromBlock"]), params["toBlock"]
        hi = self.block_number if hi == "latest" else int(hi)
        asked.append((lo, hi))
        if hi - lo + 1 > CAP:
            raise Web3RPCError(f"query exceeds max block range {CAP}")
        return real(self, params)

    return rule


def test_a_borrow_reorged_into_an_already_scanned_block_is_found_and_liquidated(
    system, accounts, chain, tmp_path
):
    lending, _ = system
    late = accounts[3]
    with isolated(chain):
        tokens = lending.buy_collateral(late, "tbill", 400_000 * USDC)
        lending.book.depositCollateral(lending.token("tbill"), tokens, sender=late)
        k = keeper(protocol_of(lending), accounts[7], tmp_path)

        fork = chain.snapshot()  # the common ancestor
        chain.mine(3)  # chain A: the borrow waits; the keeper scans these blocks
        k.run("liquidator")
        cursor = k.store.last_block("position-scan")
        assert cursor == chain.blocks.head.number

        chain.restore(fork)  # chain B includes the borrow in a block the keeper scanned
        receipt = lending.book.borrow(250_000 * USDC, sender=late)
        assert receipt.block_number <= cursor
        chain.mine(5)
        lending.set_nav("tbill", 50_000_000)
        lending.confirm("tbill")  # a liquidation counts the fall once confirmed
        assert lending.book.healthFactor(late) < WAD

        start = chain.blocks.head.number + 1
        report = k.run("liquidator")
        assert late.address.lower() in k.store.borrowers()
        mine = [a for a in report.actions if late.address.lower() in a.action_id]
        assert [a.outcome for a in mine] == ["mined"]
        liquidated = lending.book.Liquidated.range(start, chain.blocks.head.number + 1)
        assert [log.borrower for log in liquidated] == [late.address]


def test_a_borrow_a_lagging_node_left_out_is_found_on_the_next_pass(
    system, accounts, chain, tmp_path, monkeypatch
):
    lending, _ = system
    late, lag = accounts[3], 3
    with isolated(chain):
        lending.open_position(late, "tbill", 400_000 * USDC, 250_000 * USDC)
        borrowed = chain.blocks.head.number
        chain.mine(1)
        k = keeper(protocol_of(lending), None, tmp_path)  # read only: discovery is the subject
        eth = k.web3.eth

        def behind(self, params, real):  # a node `lag` blocks behind answers for less
            return [log for log in real(self, params)
                    if int(log["blockNumber"]) <= int(params["toBlock"]) - lag]  # fmt: skip

        with provider_rule(monkeypatch, eth, behind):
            k.run("liquidator")
        assert k.store.last_block("position-scan") >= borrowed  # the keeper believes it read it
        assert late.address.lower() not in k.store.borrowers()

        chain.mine(1)
        k.run("liquidator")  # the node has caught up: the look-back reads the block again
        assert late.address.lower() in k.store.borrowers()
        assert k.store.borrowers().count(late.address.lower()) == 1


def test_an_approval_reorged_into_a_scanned_block_is_found_and_a_dropped_revocation_forgotten(
    system, accounts, chain, tmp_path
):
    lending, relay = system
    vault, depositor = lending.vault, accounts[2]
    with isolated(chain):
        k = keeper(protocol_of(lending, relay=relay), accounts[7], tmp_path)
        relay_at = str(relay.address)

        fork = chain.snapshot()
        chain.mine(3)
        assert discover_controllers(k, relay_at, chain.blocks.head.number) == []
        cursor = k.store.last_block("relay-operator-scan")
        chain.restore(fork)
        approval = vault.setOperator(relay, True, sender=depositor)
        assert approval.block_number <= cursor
        chain.mine(5)
        assert discover_controllers(k, relay_at, chain.blocks.head.number) == [depositor.address]

        fork = chain.snapshot()  # a revocation the keeper reads, then a reorg drops
        vault.setOperator(relay, False, sender=depositor)
        assert discover_controllers(k, relay_at, chain.blocks.head.number) == []
        chain.restore(fork)
        chain.mine(3)
        assert vault.isOperator(depositor, relay)
        assert discover_controllers(k, relay_at, chain.blocks.head.number) == [depositor.address]


def test_a_rescan_never_puts_an_older_approval_over_a_newer_revocation(
    system, accounts, chain, tmp_path
):
    lending, relay = system
    vault, depositor = lending.vault, accounts[2]
    with isolated(chain):
        k = keeper(protocol_of(lending, relay=relay), accounts[7], tmp_path)
        relay_at = str(relay.address)
        vault.setOperator(relay, True, sender=depositor)
        assert discover_controllers(k, relay_at, chain.blocks.head.number) == [depositor.address]
        revoked = vault.setOperator(relay, False, sender=depositor)
        for _ in range(3):  # the look-back reads both logs again each time
            assert discover_controllers(k, relay_at, chain.blocks.head.number) == []
            chain.mine(1)
        state = json.loads(k.store.job_state("settler"))["relay_operators"]
        assert state[depositor.address] == [False, revoked.block_number]
        assert not vault.isOperator(depositor, relay)


def test_the_steward_reads_bad_debt_behind_a_capped_provider_once_per_block(
    system, accounts, chain, tmp_path, monkeypatch
):
    lending, _ = system
    with isolated(chain):

        def liquidator(name: str):  # behind the same provider
            chunked = {"scan_chunk": CAP}
            return keeper(protocol_of(lending), accounts[7], tmp_path / name, liquidator=chunked)

        steward = keeper(protocol_of(lending), None, tmp_path / "s", liquidator={"scan_chunk": CAP})
        assert chain.blocks.head.number - steward.protocol.block > CAP
        asked: list[tuple[int, int]] = []
        with provider_rule(monkeypatch, steward.web3.eth, capped(asked)):
            first = read_steward_inputs(steward)
            assert first.book.bad_debt == 0
            assert max(hi - lo + 1 for lo, hi in asked) <= CAP

            lost = write_off(lending, accounts[8], liquidator("a"))
            assert lost > 0
            asked.clear()
            second = read_steward_inputs(steward)
            assert second.book.bad_debt == lost
            depth = steward.settings.liquidator.reorg_depth
            assert min(lo for lo, _ in asked) >= first.block + 1 - depth  # new blocks only
            chain.mine(2)
            assert read_steward_inputs(steward).book.bad_debt == lost  # counted once

            fork = chain.snapshot()  # a reorg: the next write-off re-included in another block
            chain.mine(1)
            before = chain.blocks.head.number
            lost_again = write_off(lending, accounts[9], liquidator("b"))
            assert read_steward_inputs(steward).book.bad_debt == lost + lost_again
            chain.restore(fork)
            chain.mine(3)
            assert chain.blocks.head.number >= before
            assert read_steward_inputs(steward).book.bad_debt == lost  # that write-off is gone
            again = write_off(lending, accounts[9], liquidator("c"))
            assert read_steward_inputs(steward).book.bad_debt == lost + again
            chain.mine(1)
            assert read_steward_inputs(steward).book.bad_debt == lost + again
            report = steward.run("steward")
            assert report.block == chain.blocks.head.number
            assert max(hi - lo + 1 for lo, hi in asked) <= CAP


def test_the_verify_commands_find_their_events_behind_a_capped_provider(
    system, chain, tmp_path, monkeypatch
):
    lending, _ = system
    k = keeper(protocol_of(lending), None, tmp_path, liquidator={"scan_chunk": CAP})
    assert chain.blocks.head.number - k.protocol.block > CAP
    asked: list[tuple[int, int]] = []
    with provider_rule(monkeypatch, k.web3.eth, capped(asked)):
        assert find_steward_update(k, "0x" + "00" * 32) is None
        with pytest.raises(DecisionNotFound):
            onchain_rationale(k.protocol, 2**200, CAP)
    assert asked and max(hi - lo + 1 for lo, hi in asked) <= CAP


def test_a_liquidation_settled_after_a_long_wait_reads_its_race_behind_a_capped_provider(
    system, accounts, chain, tmp_path, monkeypatch
):
    """A liquidation recorded `sent` (its action id names the block its plan read) and mined
    reverted more than `scan_chunk` blocks later (it waited in the pool through a fee spike):
    the restarted keeper's `reconcile` reads its race check, the borrower's `Liquidated` logs
    since that block, in `scan_chunk` ranges. It asked the node for the whole span at once, which
    a provider capping ranges refuses: `reconcile` raised before every pass of the key (each
    job's, the sentinel's pause included), the record never settled."""
    lending, _ = system
    book, ours, borrower = lending.book, accounts[7], accounts[4].address
    with isolated(chain):
        settings = load_settings(liquidator={"scan_chunk": CAP})
        tx = settings.tx.model_copy(update={"lost_race_errors": frozenset()})  # every revert
        settings = settings.model_copy(update={"tx": tx})  # is checked against the chain
        k = keeper(protocol_of(lending), ours, tmp_path, settings=settings)
        read = chain.blocks.head.number
        chain.mine(2 * CAP)  # the flight waited
        token = lending.token("tbill")
        data = book.liquidate.encode_input(borrower, token, 1_000 * USDC)
        call = {"from": ours.address, "to": book.address, "data": "0x" + bytes(data).hex(),
                "gas": hex(1_000_000)}  # fmt: skip
        nonce = ours.nonce
        sent = chain.provider.make_request("eth_sendTransaction", [call])
        k.store.record_sent(
            job="liquidator", action_id=f"liquidate:{borrower.lower()}:{read}",
            sender=ours.address, nonce=nonce, tx_hash=sent,
        )  # fmt: skip
        receipt = k.web3.eth.wait_for_transaction_receipt(sent, timeout=60)  # mined: a chain fact
        assert receipt.status == 0 and receipt.blockNumber - read > CAP  # a healthy borrower
        asked: list[tuple[int, int]] = []
        with provider_rule(monkeypatch, k.web3.eth, capped(asked)):
            assert k.reconcile() == []
        record = k.store.transaction(sent)
        assert (record.status, record.block) == ("reverted", receipt.blockNumber), record
        assert asked and max(hi - lo + 1 for lo, hi in asked) <= CAP
        assert min(lo for lo, _ in asked) == read + 1
        assert max(hi for _, hi in asked) == receipt.blockNumber
