"""The keeper's `status` dashboard: `collect_status(keeper)` reads the chain and the store into a
`Status`; `render_status(status)` (pure, `keepers.dashboard_render`) turns it into rich tables.

Every chain value comes from Multicall3 batches pinned to one block (the head when the read
starts): the allocation (`read_allocation`), the vault's requests, strikes and share figures,
the lending book (`BookSnapshot`), the evaluator's view (`EvaluationSnapshot`), then the
agents. Agents are those an `AgentRegistered` log names, plus any agent of an open decision or
a pending slash. The newest `StrikeSettled` log gives the last strike's block and time.
Borrowers are discovered like the liquidator does (`Borrowed` and `CollateralDeposited` logs since
the store's scan cursor, which this advances: a position with collateral and no debt is shown).
A call that fails inside a batch is named in `Status.failures` and its value shown as a default;
only the vault's own figures are required.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from eth_utils import keccak, to_checksum_address

from ballast.agent import Units
from keepers.dashboard_render import (
    AgentLine,
    BorrowerLine,
    JobCursor,
    SettlementLine,
    SlashLine,
    SleeveLine,
    Status,
    VaultLine,
    render_status,
)
from keepers.jobs.settler import (
    StrikeTrigger,
    decode_strike_trigger,
    futile_strike,
    requests_wait,
    unconfirmed_moves,
    waiting_reason,
)
from keepers.multicall import Call, CallResult, Multicall, MulticallError
from keepers.reads import AllocationRead, priced_tokens, read_allocation, read_oracles
from keepers.reads.scans import log_chunks, read_logs
from keepers.shell.keeper import Keeper
from keepers.shell.liquidator import discover_borrowers
from keepers.shell.passes import RUNNERS
from keepers.shell.settler import read_strike_wait, simulate_strike
from keepers.snapshot import BookSnapshot, EvaluationSnapshot

__all__ = ["LAST_ACTIONS", "Status", "collect_status", "registered_agents", "render_status"]

LAST_ACTIONS: Final = 10
REGISTERED_TOPIC: Final = "0x" + keccak(text="AgentRegistered(address,string)").hex()

Results = Mapping[str, CallResult]
Failures = dict[str, str]  # call label -> why it failed


def _read(multicall: Multicall, calls: Mapping[str, Call], block: int) -> Results:
    """One batch at `block`, its results by the names of `calls`."""
    batch = multicall.read(list(calls.values()), block)
    return dict(zip(calls, batch.results, strict=True))


def _failed(results: Results) -> Failures:
    return {r.call.label: r.error or "" for r in results.values() if not r.success}


def _value(result: CallResult, default: Any) -> Any:
    return result.value if result.success else default


def registered_agents(keeper: Keeper, head: int, agents: Any = None) -> list[str]:
    """Every agent an `AgentRegistered` log of `agents` (default: the manifest's AgentRegistry)
    names, from the deployment block to `head` (in `liquidator.scan_chunk`-block `eth_getLogs`
    ranges), in registration order."""
    chunk = keeper.settings.liquidator.scan_chunk
    registry = keeper.protocol.agents if agents is None else agents
    params = {"address": str(registry.address), "topics": [REGISTERED_TOPIC]}
    found: dict[str, None] = {}
    for log in read_logs(keeper.web3, params, keeper.protocol.block, head, chunk):
        found[to_checksum_address("0x" + bytes(log["topics"][1])[-20:].hex())] = None
    return list(found)


def _vault_calls(keeper: Keeper) -> dict[str, Call]:
    vault, asset = keeper.protocol.vault, keeper.erc20(keeper.asset)
    book = keeper.protocol.lending
    due = {} if book is None else {"loans_due": Call(book.loansDueAt, label="loansDueAt()")}
    return {
        **due,
        "bps": Call(vault.currentBps, label="currentBps()"),
        "idle": Call(vault.idle, label="idle()"),
        "supply": Call(vault.totalSupply, label="totalSupply()"),
        "share_decimals": Call(vault.decimals, label="decimals()"),
        "share_symbol": Call(vault.symbol, label="symbol()"),
        "decimals": Call(asset.decimals, label="asset.decimals()"),
        "symbol": Call(asset.symbol, label="asset.symbol()"),
        "pending_deposits": Call(vault.pendingDeposits, label="pendingDeposits()"),
        "pending_redemptions": Call(vault.pendingRedemptions, label="pendingRedemptions()"),
        "claimable_redemptions": Call(vault.claimableRedemptions, label="claimableRedemptions()"),
        "strikes": Call(vault.strikeCount, label="strikeCount()"),
        "trigger": Call(vault.strikeTrigger, label="strikeTrigger()"),
        "locked": Call(vault.lockedDonations, label="lockedDonations()"),
    }


def _vault_line(alloc: AllocationRead, front: Results, share_price: int) -> VaultLine:
    weights = front["bps"].unwrap()
    # The vault's weights are by index: shown under the manifest's names only when its sleeves
    # are the vault's, in order (a removal and an addition keep the count).
    if alloc.order_mismatch is not None:
        raise MulticallError(alloc.order_mismatch)
    if len(weights) != len(alloc.sleeves):
        raise MulticallError(
            f"the vault has {len(weights)} sleeves, the manifest {len(alloc.sleeves)}: "
            "is the manifest out of date?"
        )
    sleeves = tuple(
        SleeveLine(s.name, s.held, int(bps), s.cap_bps)
        for s, bps in zip(alloc.sleeves, weights, strict=True)
    )
    return VaultLine(
        nav=alloc.nav,
        idle=int(front["idle"].unwrap()),
        idle_buffer_bps=alloc.idle_buffer_bps,
        total_supply=int(front["supply"].unwrap()),
        share_price=share_price,
        automation_paused=alloc.automation_paused,
        is_shutdown=alloc.is_shutdown,
        next_rebalance_at=alloc.next_rebalance_at,
        sleeves=sleeves,
        loans_due_at=int(_value(front["loans_due"], 0)) if "loans_due" in front else 0,
    )


def last_strike(keeper: Keeper, head: int, strikes: int) -> tuple[int, int] | None:
    """(block, timestamp) of the newest `StrikeSettled` log, scanned backwards from `head` in
    `liquidator.scan_chunk`-block ranges down to the deployment block; None with no strike."""
    if strikes == 0:
        return None
    vault = keeper.protocol.vault
    topic = "0x" + keccak(text=vault.StrikeSettled.abi.selector).hex()
    chunk = keeper.settings.liquidator.scan_chunk
    params = {"address": str(vault.address), "topics": [topic]}
    chunks = log_chunks(keeper.web3, params, keeper.protocol.block, head, chunk, newest_first=True)
    for _, _, logs in chunks:
        if logs:
            block = int(logs[-1]["blockNumber"])
            return block, int(keeper.web3.eth.get_block(block)["timestamp"])
    return None


def _settlement(keeper: Keeper, front: Results, pending_assets: int, block: int) -> SettlementLine:
    try:
        ok, data = front["trigger"].unwrap()
        decoded = decode_strike_trigger(bool(ok), bytes(data))
        strikable, reason = decoded.ok, decoded.reason
    except (MulticallError, ValueError) as err:  # a failed or malformed trigger: shown as such
        strikable, reason = False, str(err)
    if requests_wait(StrikeTrigger(strikable, reason=reason)):  # what it waits on, and moves
        reason = waiting_reason(reason, read_strike_wait(keeper, block))  # the settler's words
        sleeves = priced_tokens(keeper.protocol, collateral=False)
        if sleeves:
            read = read_oracles(keeper.multicall, keeper.protocol, sleeves, block)
            reason = "; ".join((reason, *unconfirmed_moves(read.oracles, read.timestamp)))
    strikes = int(front["strikes"].unwrap())
    last = last_strike(keeper, block, strikes)
    locked, until = _value(front["locked"], (0, 0))
    deposits = int(front["pending_deposits"].unwrap())
    redemptions = int(front["pending_redemptions"].unwrap())
    futile = None
    if strikable and redemptions:  # an issuer paying nothing may hold the trigger true
        futile = futile_strike(block, (redemptions, deposits), simulate_strike(keeper, block))
    return SettlementLine(
        pending_deposits=deposits,
        pending_redemptions=redemptions,
        pending_redemptions_assets=pending_assets,
        claimable_redemptions=int(front["claimable_redemptions"].unwrap()),
        strike_count=strikes,
        last_strike_block=None if last is None else last[0],
        last_strike_at=None if last is None else last[1],
        strikable=strikable,
        reason=reason,
        locked_donations=int(locked),
        locked_until=int(until),
        futile=futile or "",
    )


def _borrowers(keeper: Keeper, block: int) -> tuple[tuple[BorrowerLine, ...] | None, Failures]:
    book = keeper.protocol.lending
    if book is None:
        return None, {}
    snap = BookSnapshot.read(keeper.multicall, book, discover_borrowers(keeper, block), block)
    lines = tuple(
        BorrowerLine(b.borrower, b.health_factor, b.debt, b.liquidatable)
        for b in snap.borrowers
        if b.health_factor is not None and b.debt is not None
    )
    return lines, dict(snap.failures)


def _slashes(evaluation: EvaluationSnapshot, registry: str | None = None) -> tuple[SlashLine, ...]:
    return tuple(
        SlashLine(
            s.slash_id,
            to_checksum_address(s.info.agent),
            int(s.info.decisionId),
            int(s.info.amount),
            int(s.info.vetoEndsAt),
            registry,
        )
        for s in evaluation.slashes
        if s.info is not None
    )


def _earlier_slashes(
    keeper: Keeper, earlier: list[Any], block: int
) -> tuple[tuple[SlashLine, ...], Failures]:
    """The pending slashes of the AgentRegistries the vault left (`Keeper.registries`): the
    evaluator still executes them and the guardian may still veto them."""
    lines: tuple[SlashLine, ...] = ()
    failures: dict[str, str] = {}
    for agents in earlier:
        address = to_checksum_address(str(agents.address))
        snap = EvaluationSnapshot.read(keeper.multicall, agents, 0, block)
        lines += _slashes(snap, address)
        failures.update({f"{address}: {k}": v for k, v in snap.failures.items()})
    return lines, failures


def _agent_line(address: str, info: Any, active: bool) -> AgentLine:
    """`info`: IAgentRegistry.Agent as decoded."""
    return AgentLine(
        address=address,
        active=active,
        suspended=bool(getattr(info, "suspended", False)),  # a registry before stop 53: none
        stake=int(info.stake),
        unbonding=int(info.unbonding),
        reputation=int(info.reputation),
        open_decisions=int(info.openDecisions),
        pending_slashes=int(info.pendingSlashes),
        slashed=int(info.slashed),
    )


def _agents(
    keeper: Keeper, agents: Any, addresses: list[str], block: int
) -> tuple[tuple[AgentLine, ...], Failures]:
    calls: dict[str, Call] = {}
    for a in addresses:
        calls[f"info:{a}"] = Call(agents.agentInfo, a, label=f"agentInfo({a})")
        calls[f"active:{a}"] = Call(agents.isActive, a, label=f"isActive({a})")
    results = _read(keeper.multicall, calls, block) if calls else {}
    lines = tuple(
        _agent_line(a, results[f"info:{a}"].value, bool(_value(results[f"active:{a}"], False)))
        for a in addresses
        if results[f"info:{a}"].success
    )
    return lines, _failed(results)


def _second(
    keeper: Keeper, agents: Any, front: Results, evaluation: EvaluationSnapshot, block: int
) -> Results:
    """The reads that need the first ones: share values and the open decisions' agents."""
    vault = keeper.protocol.vault
    share_unit = 10 ** int(front["share_decimals"].unwrap())
    pending = int(front["pending_redemptions"].unwrap())
    calls = {
        "pending_assets": Call(
            vault.convertToAssets, pending, label="convertToAssets(pendingRedemptions)"
        ),
        "share_price": Call(vault.convertToAssets, share_unit, label="convertToAssets(1 share)"),
    }
    for i in evaluation.open_decisions:
        calls[f"decision:{i}"] = Call(agents.decisionRecord, i, label=f"decisionRecord({i})")
    return _read(keeper.multicall, calls, block)


def _known_agents(
    keeper: Keeper, agents: Any, block: int, second: Results, slashes: tuple[SlashLine, ...]
) -> list[str]:
    known = dict.fromkeys(registered_agents(keeper, block, agents))
    for name, result in second.items():
        if name.startswith("decision:") and result.success:
            known[to_checksum_address(result.value.agent)] = None
    known.update(dict.fromkeys(s.agent for s in slashes))
    return list(known)


def _jobs(keeper: Keeper) -> tuple[JobCursor, ...]:
    return tuple(JobCursor(job, keeper.store.last_block(job)) for job in RUNNERS)


def _sentinel_tripped(keeper: Keeper) -> bool | None:
    raw = keeper.store.job_state("sentinel")
    return None if raw is None else bool(json.loads(raw).get("tripped", False))


def _state(keeper: Keeper) -> str:
    binding = keeper.store.binding
    bound = binding.describe() if binding is not None else "not bound to a chain"
    return f"{keeper.store.path.name}, {bound}"


def collect_status(keeper: Keeper, last_actions: int = LAST_ACTIONS) -> Status:
    """The dashboard's values: the chain at its head (one block for every read) and the
    keeper's store (the newest `last_actions` transactions, the jobs' cursors)."""
    protocol, multicall = keeper.protocol, keeper.multicall
    alloc = read_allocation(multicall, protocol, keeper.web3.eth.block_number)
    block = alloc.block
    front = _read(multicall, _vault_calls(keeper), block)
    max_due = keeper.settings.evaluator.max_due
    # the vault's now (its agents are the ones that can act), then those it left
    registry, *earlier = keeper.registries(tolerate=False, block=block)
    evaluation = EvaluationSnapshot.read(multicall, registry, max_due, block)
    second = _second(keeper, registry, front, evaluation, block)
    borrowers, book_failures = _borrowers(keeper, block)
    slashes = _slashes(evaluation)
    left, left_failures = _earlier_slashes(keeper, earlier, block)
    known = _known_agents(keeper, registry, block, second, slashes)
    agents, agent_failures = _agents(keeper, registry, known, block)
    failures = {
        **alloc.failures,
        **_failed(front),
        **evaluation.failures,
        **_failed(second),
        **book_failures,
        **agent_failures,
        **left_failures,
    }
    share_decimals = int(front["share_decimals"].unwrap())
    return Status(
        block=block,
        timestamp=alloc.timestamp,
        keeper=keeper.address,
        asset=Units(int(front["decimals"].unwrap()), str(front["symbol"].unwrap())),
        shares=Units(share_decimals, str(front["share_symbol"].unwrap())),
        vault=_vault_line(alloc, front, int(_value(second["share_price"], 0))),
        borrowers=borrowers,
        settlement=_settlement(keeper, front, int(_value(second["pending_assets"], 0)), block),
        agents=agents,
        open_decisions=len(evaluation.open_decisions),
        due_decisions=len(evaluation.due),
        slashes=slashes + left,
        actions=tuple(keeper.store.transactions(limit=last_actions)),
        jobs=_jobs(keeper),
        sentinel_tripped=_sentinel_tripped(keeper),
        failures=MappingProxyType(failures),
        funding=keeper.funding(block),
        state=_state(keeper),
    )
