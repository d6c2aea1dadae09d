"""keepers.dashboard on anvil: `collect_status` against the contracts' own views, at the status
block. A lending system with three borrowers (one unhealthy after a tbill markdown), an open
decision, a pending slash, a locked donation, and a redemption and a deposit request waiting
for a strike; then the keeper's own actions."""

from __future__ import annotations

import io
import json

import pytest
from ape.exceptions import ContractLogicError
from eth_utils import keccak
from rich.console import Console

from keepers.cli_common import one_line
from keepers.dashboard import collect_status, registered_agents, render_status
from keepers.dashboard_render import health_buckets
from keepers.math import WAD
from tests.keeper_support import keeper, protocol_of
from tests.lending_support import deploy_lending_system
from tests.vault_support import DAY, USDC, WINDOW, bond_agent, faucet, isolated

# (collateral bought, debt): health at tbill 1.00 is 8,500 / debt; the markdown to 0.90 leaves
# them at about 1.53, 1.09 and 0.97.
POSITIONS = ((10_000 * USDC, 5_000 * USDC), (10_000 * USDC, 7_000 * USDC),
             (10_000 * USDC, 7_900 * USDC))  # fmt: skip
DEPOSIT = 1_000_000 * USDC


def refresh(lending) -> None:
    """Every feed republishes its latest answer now (fresh prices after a time jump)."""
    for s in lending.vs.sleeves:
        s.feed.setAnswer(s.feed.latestAnswer(), sender=lending.vs.governance)


def warp(chain, timestamp: int) -> None:
    chain.mine(timestamp=timestamp)


@pytest.fixture(scope="module")
def system(project, accounts, chain):
    """Decision 0 (all to lending) stays open; decision 1 (30 % into tbill just before a 10 %
    markdown) is evaluated into a pending slash; three borrowers; a donation locked over a week;
    a redemption and a deposit request waiting for prices newer than them."""
    lending = deploy_lending_system(project, accounts[0], accounts[1], accounts[5])
    vs, book = lending.vs, lending.book
    bond_agent(vs, accounts[8])  # a second agent, never deciding
    lending.supply(accounts[6], DEPOSIT)  # decision 0
    borrowers = [accounts[2], accounts[3], accounts[4]]
    for who, (collateral, debt) in zip(borrowers, POSITIONS, strict=True):
        lending.open_position(who, "tbill", collateral, debt)
    warp(chain, vs.vault.nextRebalanceAt())
    refresh(lending)
    vs.rebalance([3_000, 0, 0, 6_000])  # decision 1
    lending.set_nav("tbill", 90_000_000)
    due = vs.agents.decisionRecord(1).dueAt
    warp(chain, due)
    refresh(lending)
    vs.agents.evaluate(1, sender=accounts[7])
    assert len(vs.agents.pendingSlashes()) == 1
    assert list(vs.agents.openDecisions()) == [0]
    vs.set_param("vault.unlockPeriod", 7 * DAY)
    vs.fund(accounts[9], 11_000 * USDC)
    vs.vault.donate(1_000 * USDC, sender=accounts[9])
    shares = vs.vault.convertToShares(20_000 * USDC)
    vs.vault.requestRedeem(shares, accounts[6], accounts[6], sender=accounts[6])
    vs.vault.requestDeposit(10_000 * USDC, accounts[9], accounts[9], sender=accounts[9])
    faucet(lending.asset, accounts[7], 100_000 * USDC)  # the keeper's liquidation inventory
    health = [book.healthFactor(b) for b in borrowers]
    assert health[0] >= 3 * WAD // 2 and WAD <= health[1] < 11 * WAD // 10 and health[2] < WAD
    return lending, [str(b.address) for b in borrowers]


@pytest.fixture(scope="module")
def protocol(system):
    lending, _ = system
    return protocol_of(lending)


@pytest.fixture
def status(system, protocol, tmp_path, chain):
    """The status as a read-only keeper (no account, as `keeper status` without one) sees it."""
    result = collect_status(keeper(protocol, None, tmp_path))
    assert result.block == chain.blocks.head.number  # nothing mined since: views read this block
    return result


def test_vault_and_allocation_match_the_vault(status, system, protocol, chain):
    lending, _ = system
    vault, registry, at = protocol.vault, protocol.registry, status.block
    assert status.timestamp == chain.blocks[at].timestamp
    v = status.vault
    assert v.nav == vault.totalAssets(block_id=at)
    assert v.idle == vault.idle(block_id=at)
    assert v.total_supply == vault.totalSupply(block_id=at)
    assert v.share_price == vault.convertToAssets(10**18, block_id=at)
    assert v.next_rebalance_at == vault.nextRebalanceAt(block_id=at)
    assert (v.automation_paused, v.is_shutdown) == (False, False)
    assert v.idle_buffer_bps == registry.get(keccak(text="vault.idleBufferBps"))
    assert [s.name for s in v.sleeves] == ["tbill", "gold", "invoices", "lending"]
    assert [s.bps for s in v.sleeves] == list(vault.currentBps(block_id=at))
    assert [s.held for s in v.sleeves] == [
        s.totalAssets(block_id=at) for s in protocol.sleeves.values()
    ]
    caps = [registry.get(keccak(text=f"vault.maxSleeveBps.{s.name}")) for s in v.sleeves]
    assert [s.cap_bps for s in v.sleeves] == caps
    assert status.asset.decimals == lending.asset.decimals() == 6
    assert status.asset.symbol == lending.asset.symbol()
    assert (status.shares.decimals, status.shares.symbol) == (18, vault.symbol())
    assert status.failures == {}


def test_borrowers_match_the_book_and_fall_in_their_buckets(status, system):
    lending, borrowers = system
    book, at = lending.book, status.block
    lines = {b.address: b for b in status.borrowers}  # the store lists them by address
    assert sorted(lines) == sorted(borrowers) and len(status.borrowers) == len(borrowers)
    for line in status.borrowers:
        assert line.health == book.healthFactor(line.address, block_id=at)
        assert line.debt == book.debtOf(line.address, block_id=at)
        assert line.liquidatable == book.liquidationTrigger(line.address, block_id=at)[0]
    assert [lines[b].liquidatable for b in borrowers] == [False, False, True]
    counts = [(b.count, b.debt) for b in health_buckets(status.borrowers)]
    debts = [lines[b].debt for b in borrowers]
    assert counts == [(1, debts[2]), (1, debts[1]), (0, 0), (1, debts[0])]


def test_requests_and_strikes_match_the_vault(status, protocol, chain):
    vault, at = protocol.vault, status.block
    r = status.settlement
    assert r.pending_deposits == vault.pendingDeposits(block_id=at) == 10_000 * USDC
    assert r.pending_redemptions == vault.pendingRedemptions(block_id=at) > 0
    assert r.pending_redemptions_assets == vault.convertToAssets(r.pending_redemptions, block_id=at)
    assert r.claimable_redemptions == vault.claimableRedemptions(block_id=at)
    assert r.strike_count == vault.strikeCount(block_id=at) == 1  # the supply's
    (last,) = vault.StrikeSettled.range(0, at + 1)
    assert r.last_strike_block == last.block_number
    assert r.last_strike_at == chain.blocks[last.block_number].timestamp
    should_act, reason = vault.strikeTrigger(block_id=at)
    # the trigger's reason, then what the strike waits on in the settler's words (the vault's
    # StrikeNotReady: the requests' window is still open, until its cut-off)
    assert not r.strikable and not should_act
    head, wait = r.reason.split(": ", 1)
    assert head == bytes(reason).decode() == "no request window past a published price"
    assert wait.startswith("the oldest request window waiting closes at "), r.reason
    cutoff = int(wait.rsplit(" ", 1)[1])
    assert cutoff > status.timestamp and cutoff % WINDOW == 0
    locked, until = vault.lockedDonations(block_id=at)
    assert (r.locked_donations, r.locked_until) == (locked, until)
    assert 0 < locked <= 1_000 * USDC and until > status.timestamp


def test_agents_and_slashes_match_the_registry(status, protocol, accounts, tmp_path):
    agents, at = protocol.agents, status.block
    allocator, rival = str(accounts[5].address), str(accounts[8].address)
    assert registered_agents(keeper(protocol, None, tmp_path), at) == [allocator, rival]
    assert [a.address for a in status.agents] == [allocator, rival]
    for line in status.agents:
        info = agents.agentInfo(line.address, block_id=at)
        assert (line.stake, line.unbonding, line.slashed) == (
            info.stake, info.unbonding, info.slashed
        )  # fmt: skip
        assert line.reputation == agents.reputation(line.address, block_id=at)
        assert (line.open_decisions, line.pending_slashes) == (
            info.openDecisions, info.pendingSlashes
        )  # fmt: skip
        assert line.active == agents.isActive(line.address, block_id=at)
    assert [a.reputation < 0 for a in status.agents] == [True, False]  # decision 1 lost
    # The allocator, bonded at the minimum, is paused by its pending slash (counted as gone).
    assert [a.active for a in status.agents] == [False, True]
    assert status.open_decisions == len(agents.openDecisions(block_id=at)) == 1
    assert status.due_decisions == len(agents.decisionsDue(50, block_id=at))
    (slash_id,) = agents.pendingSlashes(block_id=at)
    info = agents.slashInfo(slash_id, block_id=at)
    (line,) = status.slashes
    assert (line.slash_id, line.agent, line.decision_id) == (slash_id, allocator, 1)
    assert (line.amount, line.veto_ends_at) == (info.amount, info.vetoEndsAt)
    assert line.amount > 0 and line.veto_ends_at > status.timestamp


def test_the_keepers_last_actions_come_from_its_store(system, protocol, accounts, tmp_path, chain):
    lending, borrowers = system
    with isolated(chain):
        k = keeper(protocol, accounts[7], tmp_path)
        assert collect_status(k).actions == ()
        report = k.run("liquidator")
        assert [a.outcome for a in report.actions] == ["mined", "mined"]  # approve, liquidate
        after = collect_status(k, last_actions=5)
        assert after.actions == tuple(k.store.transactions(limit=5))
        assert [(t.job, t.status) for t in after.actions] == [("liquidator", "mined")] * 2
        assert after.actions[0].action_id.startswith(f"liquidate:{borrowers[2].lower()}:")
        assert {j.job: j.last_block for j in after.jobs}["liquidator"] == report.block
        assert not any(b.liquidatable for b in after.borrowers)
        assert health_buckets(after.borrowers)[0].count == 0


def test_the_collected_status_renders(status):
    console = Console(record=True, width=160, file=io.StringIO())
    console.print(render_status(status))
    text = console.export_text()
    assert f"block {status.block:,}" in text
    assert "keeper read-only (no account)" in text
    assert "OVER CAP" not in text and "BELOW BUFFER" not in text
    assert "Requests and strikes" in text
    assert "not now: no request window past a published price" in text
    assert f"#{status.slashes[0].slash_id}" in text and "no pending slashes" not in text
    assert "no transactions recorded" in text
    assert all(b.address in text for b in status.borrowers)


def test_a_position_with_collateral_and_no_debt_is_shown(
    system, protocol, accounts, tmp_path, chain
):
    """A borrower who posted collateral and has not borrowed (no `Borrowed` log) is a position:
    listed with no debt and infinite health, in the document and in the tables."""
    lending, borrowers = system
    holder = accounts[8]
    with isolated(chain):
        lending.open_position(holder, "tbill", 2_000 * USDC, 0)  # collateral only
        assert lending.book.debtOf(holder) == 0
        result = collect_status(keeper(protocol, None, tmp_path))
        lines = {b.address: b for b in result.borrowers}
        assert sorted(lines) == sorted([*borrowers, str(holder.address)])
        line = lines[str(holder.address)]
        assert (line.debt, line.liquidatable) == (0, False)
        assert line.health == lending.book.healthFactor(holder) >= 2**255
        console = Console(record=True, width=160, file=io.StringIO())
        console.print(render_status(result))
        text = console.export_text()
        row = next(r for r in text.splitlines() if str(holder.address) in r)
        assert "∞" in row and "no debt" in row, text
        assert [b.count for b in health_buckets(result.borrowers)] == [1, 1, 0, 1]  # debt only


def test_a_revert_in_another_contract_is_named_from_the_projects_errors(
    system, protocol, accounts, tmp_path, chain
):
    """A call to the book that reverts in the oracle router (a feed round dated in the future:
    the router's `FutureRound`, which the book's ABI does not declare) is named from the errors
    of every contract of the project: in a job's simulation before a send, in a dry run's
    detail and in a batched read's failure — never left as a raw selector."""
    from keepers.multicall import Call
    from keepers.shell.reports import JobReport

    lending, borrowers = system
    book, tbill = lending.book, lending.token("tbill")
    selector = "0x" + keccak(text="FutureRound(address,uint256)")[:4].hex()
    with isolated(chain):
        feed = lending.feed("tbill")
        future = chain.blocks.head.timestamp + 3_600
        feed.setRound(feed.latestAnswer(), future, sender=lending.vs.governance)
        data = bytes(book.liquidate.encode_input(borrowers[2], tbill, USDC))
        k = keeper(protocol, accounts[7], tmp_path)
        name, reason = k.sender("liquidator").simulate(str(book.address), data)
        assert (name, reason.split("(")[0]) == ("FutureRound", "FutureRound"), reason
        assert f"updatedAt={future}" in reason, reason
        readonly = keeper(protocol, None, tmp_path / "readonly")
        report = JobReport("liquidator", 0, 0, True)
        action = readonly.act_data(report, book, data, call="liquidate", action_id="probe")
        assert action.outcome == "would-fail" and action.detail.startswith("FutureRound("), action
        preview = Call(book.previewLiquidation, borrowers[2], tbill, USDC, label="preview")
        (result,) = k.multicall.read([preview]).results
        assert not result.success and result.error.startswith("FutureRound("), result.error
        assert selector not in reason + action.detail + result.error
        with pytest.raises(ContractLogicError) as caught:  # a pass failing on a call: `once`
            book.previewLiquidation(borrowers[2], tbill, USDC)
        assert one_line(caught.value).startswith("ContractLogicError: FutureRound("), caught.value
    from keepers.bots import keeper as bots

    assert bots.one_line is one_line  # a bot's pass failure is logged in the same words


# ------------------------------------------------------------------ an empty system, then shut down


def typed(document: dict, path: str, kind: type | tuple[type, ...]):
    """The value at dotted `path` of a JSON `document`, asserted of `kind` (bool is no int)."""
    value = document
    for part in path.split("."):
        value = value[part]
    assert isinstance(value, kind) and not (kind is int and isinstance(value, bool)), (path, value)
    return value


def test_status_json_of_an_empty_system_then_after_shutdown_is_typed_and_true(
    project, accounts, chain, tmp_path
):
    """A vault nobody deposited in, then the guardian's shutdown: every field of the JSON
    document (docs/keeper-operator.md, keepers.dashboard_json) is there, typed as documented —
    amounts integers, `failures` an object of call → reason (it was the Python text "{}") — and
    says what the chain says: nothing held, no supply, no strike yet, shut down after."""
    from keepers.dashboard_json import status_json

    with isolated(chain):
        lending = deploy_lending_system(project, accounts[0], accounts[1], accounts[5])
        k = keeper(protocol_of(lending), accounts[7], tmp_path)
        empty = json.loads(status_json(collect_status(k)))
        lending.vault.shutdown(sender=lending.vs.guardian)
        after = json.loads(status_json(collect_status(k)))
        share_price = lending.vault.convertToAssets(10**18)
        gas_coin = accounts[7].balance
    for doc, shut in ((empty, False), (after, True)):
        assert doc["version"] == "ballast.status/1"
        assert typed(doc, "failures", dict) == {}
        assert typed(doc, "vault.is_shutdown", bool) is shut
        for path in ("vault.nav", "vault.idle", "vault.total_supply", "settlement.strike_count",
                     "settlement.pending_deposits", "settlement.pending_redemptions",
                     "funding.asset", "open_decisions", "due_decisions"):  # fmt: skip
            assert typed(doc, path, int) == 0, path
        assert typed(doc, "vault.share_price", int) == share_price
        assert typed(doc, "funding.native", int) == gas_coin
        assert doc["settlement"]["last_strike_block"] is None
        assert typed(doc, "borrowers", list) == [] and typed(doc, "actions", list) == []
        assert {j["job"]: j["last_block"] for j in typed(doc, "jobs", list)}["liquidator"] is None
        assert doc["sentinel_tripped"] is None and doc["keeper"] == accounts[7].address
    assert after["block"] == empty["block"] + 1
