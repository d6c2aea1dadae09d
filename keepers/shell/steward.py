"""Steward pass: reads the risk inputs at one block, decides (`keepers.jobs.steward`), stores the
rationale document under its keccak256, sends one `stewardSetBatch(keys, values, rationaleHash,
rationaleURI)` for the moves within the steward's bounds and writes a recommendation file for
the moves beyond them (`ape run params propose --from-recommendation FILE` drafts the proposal).

Reads (`read_steward_inputs`, also used to cross-check a receipt at its block): `getParam` of
every managed parameter; each collateral's last `rounds` oracle rounds (`getRoundData` of its
feed), its sleeve's issuer's daily redemption limit and gate (`dailyRedeemLimit()`, `frozen()`;
tokens × price = the day's exit value; never what is left of today's limit, which anyone holding
the token can use up before a pass: `_daily_exit`),
the book's positions (debt, collateral, health; the shared `keepers.reads.read_book` over the
liquidator's borrower scan) and the bad debt written off so far (`BadDebtRealized` logs).

Each collateral's `collateral_value` is what liquidations could seize of it: per position at
most its debt × (1 + the token's effective bonus) (`seizable_exposure`), never the collateral
parked above that, which the book never sells (anyone could otherwise post collateral behind a
minimum loan and lengthen the exit the steward prices: a threshold cut under other borrowers)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

from eth_abi import decode as abi_decode
from eth_utils import keccak, to_checksum_address

from keepers.jobs.steward import StewardInputs, decide_steward
from keepers.math import WAD, adjusted_collateral, collateral_value, health_factor
from keepers.math.liquidation import effective_bonus_bps
from keepers.math.steward import (
    BONUS,
    BORROW_CAP,
    KINK,
    LTV,
    SLEEVE_CAP,
    SLOPE1,
    THRESHOLD,
    BookRisk,
    CollateralRisk,
    ParamState,
)
from keepers.math.steward_liquidity import seizable_exposure
from keepers.multicall import Call
from keepers.reads import feed_at, read_book, token_at
from keepers.reads.scans import (
    chain_changed,
    cursor_mark,
    fold_block_sums,
    log_chunks,
    read_logs,
    scan_start,
)
from keepers.shell.liquidator import discover_borrowers
from keepers.shell.reports import JobReport, KeeperError

if TYPE_CHECKING:
    from keepers.shell.keeper import Keeper

__all__ = ["StewardMove", "chain_differences", "find_steward_update", "find_steward_updates",
           "managed_names", "read_steward_inputs", "receipt_timing", "run_steward",
           "steward_moves"]  # fmt: skip

STEWARD_ROLE = keccak(text="STEWARD_ROLE")
UNLIMITED_EXIT = 10**30  # asset units: an issuer without a daily limit
BAD_DEBT_TOPIC = "0x" + keccak(text="BadDebtRealized(address,uint256)").hex()
JOB = "steward"


def managed_names(keeper: Keeper) -> list[str]:
    """Every parameter the steward reads: per collateral its LTV, threshold, bonus (read only),
    borrow cap and the sleeve cap of the sleeve of that name; the rate's slope1 and kink."""
    names = [SLOPE1, KINK]
    for c in keeper.protocol.deployment.collateral:
        names += [LTV + c.name, THRESHOLD + c.name, BONUS + c.name, BORROW_CAP + c.name]
        if c.name in keeper.protocol.sleeves:
            names.append(SLEEVE_CAP + c.name)
    return names


def _links(keeper: Keeper, block: int) -> tuple[tuple[int, tuple[str, ...], int], ...]:
    """The registry's live links as (rule, names, bound); none on a registry without links."""
    registry = keeper.protocol.registry
    if not hasattr(registry, "linkCount"):
        return ()
    count = keeper.multicall.read([Call(registry.linkCount)], block).results[0]
    if not count.success:
        return ()
    batch = keeper.multicall.read(
        [Call(registry.getLink, i, label=f"getLink({i})") for i in range(int(count.value))], block
    )
    declared = [r.value for r in batch.results if r.success and int(r.value.rule) != 0]
    keys = sorted({bytes(k) for link in declared for k in link.keys})
    names_r = keeper.multicall.read([Call(registry.nameOf, k) for k in keys], block).results
    name_of = {k: str(r.value) for k, r in zip(keys, names_r, strict=True) if r.success}
    return tuple(
        (int(link.rule), tuple(name_of[bytes(k)] for k in link.keys), int(link.bound))
        for link in declared
        if all(bytes(k) in name_of for k in link.keys)
    )


def _params(keeper: Keeper, names: Sequence[str], block: int) -> tuple[ParamState, ...]:
    registry = keeper.protocol.registry
    batch = keeper.multicall.read(
        [Call(registry.getParam, keccak(text=n), label=f"getParam({n})") for n in names], block
    )
    out = []
    for name, r in zip(names, batch.results, strict=True):
        if not r.success:  # not defined on this deployment: not managed
            continue
        p = r.value
        out.append(
            ParamState(
                name,
                int(p.value),
                int(p.min),
                int(p.max),
                int(p.maxStepBps),
                int(p.cooldown),
                int(p.governanceValue),
                int(p.lastGovernanceUpdate),
                int(p.stewardStepBps),
                int(p.stewardCooldown),
                int(p.lastUpdate),
                int(p.frozenUntil),
            )  # fmt: skip
        )
    return tuple(out)


def _rounds(keeper: Keeper, feed: str, block: int, count: int) -> tuple[tuple[int, int], ...]:
    aggregator = feed_at(feed)
    latest = keeper.multicall.read([Call(aggregator.latestRoundData)], block).results[0]
    if not latest.success:
        return ()
    last = int(latest.value[0])
    ids = [i for i in range(last - count + 1, last + 1) if i > 0]
    batch = keeper.multicall.read([Call(aggregator.getRoundData, i) for i in ids], block)
    rounds = [(int(r.value[3]), int(r.value[1])) for r in batch.results if r.success]
    return tuple(sorted(rounds))


def _amount(log: Any) -> int:
    return int.from_bytes(bytes(log["data"])[-32:], "big")


def _bad_debt(keeper: Keeper, block: int) -> int:
    """Bad debt written off up to `block` (`BadDebtRealized` logs), kept as a running total in
    the job's state: each pass reads only the blocks after its cursor, `liquidator.reorg_depth`
    blocks back (`keepers.reads.scans`), in `liquidator.scan_chunk` ranges. A block below the
    cursor (a receipt's, `verify-steward --replay`) is summed from the deployment, state kept.
    A mark of its last settled block is kept too (`cursor_mark`): when another block is there
    (the chain went back below the look-back and grew again on other history) the total is
    summed from the deployment again, once — it kept a write-off the new chain never made, or
    missed one it made below the cursor (`tests/keepers/test_keeper_rewound_scan.py`)."""
    cfg = keeper.settings.liquidator
    origin, web3 = keeper.protocol.block, keeper.web3
    params = {"address": keeper.protocol.lending.address, "topics": [BAD_DEBT_TOPIC]}
    state = json.loads(keeper.store.job_state(JOB) or "{}")
    kept = state.get("bad_debt")
    cursor = None if kept is None else int(kept["cursor"])
    if cursor is not None and block < cursor:
        return sum(_amount(log) for log in read_logs(web3, params, origin, block, cfg.scan_chunk))
    if cursor is not None and chain_changed(web3, kept.get("mark"), block):
        kept = cursor = None  # of another chain: summed from the deployment again
    settled = 0 if kept is None else int(kept["settled"])
    recent = {} if kept is None else {int(b): int(v) for b, v in kept["recent"].items()}
    # Blocks below `settled_below` are in `settled`: never read again, even after the look-back
    # grows (a larger `reorg_depth` would otherwise count them a second time).
    below = origin if kept is None else int(kept.get("settled_below", origin))
    start = max(scan_start(cursor, origin, cfg.reorg_depth), below)
    for first, last, logs in log_chunks(web3, params, start, block, cfg.scan_chunk):
        fresh: dict[int, int] = {}
        for log in logs:
            fresh[int(log["blockNumber"])] = fresh.get(int(log["blockNumber"]), 0) + _amount(log)
        settled, recent = fold_block_sums(settled, recent, first, last, fresh, cfg.reorg_depth)
        below = max(below, last + 1 - cfg.reorg_depth)
        kept = {
            "cursor": last,
            "mark": cursor_mark(web3, below - 1, 0, block),  # the last block settled
            "settled": settled,
            "settled_below": below,
            "recent": {str(b): v for b, v in recent.items()},
        }
        state = {**state, "bad_debt": kept}
        keeper.store.set_job_state(JOB, json.dumps(state, sort_keys=True))
    return settled + sum(recent.values())


def read_steward_inputs(keeper: Keeper, block: int | str = "latest") -> StewardInputs:
    """Everything the steward decides from, read at `block`."""
    protocol = keeper.protocol
    if protocol.lending is None:
        raise KeeperError("the steward manages the lending book: this deployment has none")
    cfg = keeper.settings.steward
    head = keeper.multicall.read([], block)
    at = head.block
    links = _links(keeper, at)
    names = managed_names(keeper)
    names += sorted({n for _, link_names, _ in links for n in link_names} - set(names))
    params = _params(keeper, names, at)
    borrowers = discover_borrowers(keeper, at)
    book = read_book(keeper.multicall, protocol, borrowers, keeper.asset, at)
    decimals = book.asset_decimals
    debt_of: dict[str, int] = {}
    health = []
    positions = []
    for b in book.borrowers:
        pos = b.position
        if pos.debt == 0:
            continue
        hf = health_factor(pos)
        health.append((pos.debt, min(hf * 10_000 // WAD, 10**9)))
        adjusted = adjusted_collateral(pos.held, decimals)
        held = [
            (h.token.lower(), h.value(decimals), effective_bonus_bps(h.bonus_bps, h.threshold_bps))
            for h in pos.held
        ]
        positions.append((pos.debt, held))
        for h in pos.held:
            t = h.token.lower()
            share = h.value(decimals) * h.threshold_bps
            debt_of[t] = debt_of.get(t, 0) + (pos.debt * share // adjusted if adjusted else 0)
    value_of = seizable_exposure(positions)  # never the collateral parked above the debt
    collaterals = []
    for c in protocol.deployment.collateral:
        token = to_checksum_address(c.token)
        rounds = _rounds(keeper, c.feed, at, cfg.rounds)
        sleeve = protocol.sleeves.get(c.name)
        exit_value = _daily_exit(keeper, c.name, token, decimals, at)
        collaterals.append(
            CollateralRisk(
                c.name,
                rounds,
                value_of.get(token.lower(), 0),
                debt_of.get(token.lower(), 0),
                exit_value,
                c.name if sleeve is not None else None,
            )  # fmt: skip
        )
    risk = BookRisk(int(book.cash), int(book.debt), _bad_debt(keeper, at), tuple(sorted(health)))
    return StewardInputs(at, head.timestamp, params, tuple(collaterals), risk, links)


def _daily_exit(keeper: Keeper, name: str, token: str, decimals: int, at: int) -> int:
    """Asset value the issuer redeems a day, at the router's price: its daily limit
    (`dailyRedeemLimit()`, `UNLIMITED_EXIT` for none), 0 while it is `frozen()`; no issuer known:
    the configured `default_daily_exit`.

    Never what is left of today's limit (`maxRedeem()`): the limit is shared by every holder, so
    anyone holding the token (on the local mock, anyone: subscribe and redeem in one transaction)
    could use it up just before a pass and have the steward price a gate or a 30-day exit (the
    LTV, the borrow cap and, with dust left, the threshold cut under open positions). An issuer
    adapter exposing neither call is read through `maxRedeem()` (0 = gated), as IRWAIssuer has
    nothing else: give such an issuer's limit as a view of its adapter."""
    entry = next((s for s in keeper.protocol.deployment.sleeves if s.name == name), None)
    if entry is None or not entry.issuer:
        return keeper.settings.steward.default_daily_exit
    from ape import project

    issuer = project.MockIssuer.at(to_checksum_address(entry.issuer))  # IRWAIssuer's ABI (+ two)
    erc20 = token_at(token)
    batch = keeper.multicall.read(
        [
            Call(issuer.maxRedeem),
            Call(erc20.decimals),
            Call(keeper.protocol.router.tryPrice, token),
            Call(issuer.frozen),
            Call(issuer.dailyRedeemLimit),
        ],  # fmt: skip
        at,
    )
    redeem, token_decimals, price, frozen, limit = (
        r.value if r.success else None for r in batch.results
    )
    if price is None or token_decimals is None:
        return 0
    if frozen is not None and limit is not None:  # the issuer's own gate and limit
        if frozen:
            return 0
        if int(limit) == 0:  # no daily limit
            return UNLIMITED_EXIT
        redeem = int(limit)
    if redeem is None:
        return 0
    if int(redeem) >= 2**128:  # no daily limit
        return UNLIMITED_EXIT
    return collateral_value(int(redeem), int(price[0]), int(token_decimals), decimals)


def chain_differences(recorded: StewardInputs, read: StewardInputs) -> list[str]:
    """Each input the receipt records that the node, read at its block, disagrees with."""
    out = []
    for f in fields(StewardInputs):
        a, b = getattr(recorded, f.name), getattr(read, f.name)
        if a == b:
            continue
        if f.name in ("params", "collaterals"):
            mine = {x.name: x for x in a}
            theirs = {x.name: x for x in b}
            for name in sorted(set(mine) | set(theirs)):
                if mine.get(name) != theirs.get(name):
                    x, y = mine.get(name), theirs.get(name)
                    keys = [k for k in asdict(x or y) if x is None or y is None
                            or getattr(x, k) != getattr(y, k)]  # fmt: skip
                    out.append(f"inputs.{f.name}.{name}: {', '.join(keys)} differ")
        else:
            out.append(f"inputs.{f.name}: the receipt has {a!r:.80}, the node {b!r:.80}")
    return out


def run_steward(keeper: Keeper) -> JobReport:
    protocol = keeper.protocol
    cfg = keeper.settings.steward
    if keeper.address is not None and not protocol.registry.hasRole(STEWARD_ROLE, keeper.address):
        raise KeeperError(
            f"{keeper.address} does not hold STEWARD_ROLE on the registry: nothing sent"
        )
    inputs = read_steward_inputs(keeper)
    known = sorted(c.name for c in inputs.collaterals)
    unknown = sorted(set(cfg.rate_reference_ltv_bps) - set(known))
    if unknown:  # an anchor on a name the book does not have would price nothing, silently
        raise KeeperError(
            f"steward.rate_reference_ltv_bps names {', '.join(unknown)}: not a collateral of "
            f"this book ({', '.join(known)}): nothing sent"
        )
    report = JobReport("steward", inputs.block, inputs.timestamp, keeper.dry_run)
    decision = decide_steward(inputs, cfg.model(), cfg.uri_base)
    digest = keeper.store.put_rationale(decision.document)
    if cfg.rationale_dir is not None:
        cfg.rationale_dir.mkdir(parents=True, exist_ok=True)
        (cfg.rationale_dir / f"{digest}.json").write_bytes(decision.document)
    for name, v in sorted(decision.plan.vol.items()):
        report.notes.append(f"{name}: volatility {v:.1%}/yr")
    report.notes += list(decision.plan.notes)
    for m in decision.plan.moves:
        if m.steward is None and m.proposal is None and m.why not in ("", "at target"):
            report.skipped.append(f"{m.name}: {m.why}")
    if decision.recommendation is not None:
        path = cfg.recommendation_dir / f"steward-{inputs.block}.json"
        if not keeper.dry_run:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(decision.recommendation, indent=2, sort_keys=True) + "\n")
        values = ", ".join(f"{n}={v}" for n, v in decision.plan.proposal)
        where = "(dry run: not written)" if keeper.dry_run else str(path)
        report.notes.append(f"beyond the steward's bounds: {values}; recommendation {where}")
    if decision.call is None:
        report.skipped.append("stewardSetBatch: nothing within the steward's bounds to move now")
        return report
    pairs = zip(decision.call.names, decision.call.values, strict=True)
    moved = ", ".join(f"{n}={v}" for n, v in pairs)
    report.notes.append(f"steward batch {moved}; rationale {digest}")
    keys, values, _, _ = decision.call.args()
    if hasattr(protocol.registry, "checkBatch"):  # the registry's own verdict, before sending
        ok, reason, key, _link = protocol.registry.checkBatch(keys, values, True)
        if not ok:
            name = next((n for n in decision.call.names if keccak(text=n) == bytes(key)), "?")
            report.skipped.append(
                f"stewardSetBatch: the registry's checkBatch refuses it ({_selector_name(reason)} "
                f"at {name}): nothing sent"
            )
            return report
    keeper.act(
        report, protocol.registry, "stewardSetBatch", *decision.call.args(),
        action_id=f"steward:{digest}",
    )  # fmt: skip
    return report


def _selector_name(selector: bytes) -> str:
    from ape import project

    for error in project.ParameterRegistry.contract_type.errors:
        if keccak(text=error.selector)[:4] == bytes(selector):
            return error.name
    return "0x" + bytes(selector).hex()


STEWARD_UPDATE_TOPIC = "0x" + keccak(text="StewardUpdate(bytes32,string,bytes32[],uint256[])").hex()


def find_steward_update(
    keeper: Keeper, digest: str
) -> tuple[int, str, str, list[bytes], list[int]] | None:
    """(block, tx hash, URI, keys, values) of the registry's first `StewardUpdate` with rationale
    hash `digest`, or None (`find_steward_updates` for all of them)."""
    found = find_steward_updates(keeper, digest)
    return found[0] if found else None


def find_steward_updates(
    keeper: Keeper, digest: str
) -> list[tuple[int, str, str, list[bytes], list[int]]]:
    """(block, tx hash, URI, keys, values) of every `StewardUpdate` of the registry with rationale
    hash `digest`, in chain order; read in `liquidator.scan_chunk`-block ranges from the
    deployment block. The registry does not refuse a hash it has seen, so a steward can send a
    second batch under a document that describes only the first: a receipt vouches for one
    batch, and `verify-steward` refuses a hash that more than one carries."""
    from eth_abi import decode

    registry = keeper.protocol.registry.address
    params = {"address": registry, "topics": [STEWARD_UPDATE_TOPIC, digest]}
    head = keeper.web3.eth.block_number
    logs = read_logs(
        keeper.web3, params, keeper.protocol.block, head, keeper.settings.liquidator.scan_chunk
    )
    out = []
    for log in logs:
        uri, keys, values = decode(["string", "bytes32[]", "uint256[]"], bytes(log["data"]))
        tx = log["transactionHash"]
        tx_hex = tx if isinstance(tx, str) else "0x" + bytes(tx).hex()
        block = int(log["blockNumber"])
        out.append((block, tx_hex, uri, [bytes(k) for k in keys], [int(v) for v in values]))
    return out


def receipt_timing(
    keeper: Keeper, recorded: StewardInputs, batch_block: int, max_age: int
) -> list[str]:
    """What makes the receipt's inputs not those the batch was decided on, though the chain held
    them at the receipt's block: read at or after the batch's block; read more than `max_age`
    seconds before it (a decision priced from a moment the steward picked, a shock long gone);
    or a managed parameter that changed between the receipt's block and the batch (the batch
    moves from other values than those the receipt decided from)."""
    if recorded.block >= batch_block:
        return [f"receipt: its inputs are read at block {recorded.block}, not before the "
                f"batch's block {batch_block}"]  # fmt: skip
    sent = keeper.web3.eth.get_block(batch_block)["timestamp"]
    out = []
    age = int(sent) - recorded.timestamp
    if age > max_age:
        out.append(f"receipt: its inputs are {age} s older than the batch (block "
                   f"{recorded.block}, batch at {batch_block}; at most {max_age} s)")  # fmt: skip
    names = [p.name for p in recorded.params]
    before = {p.name: p for p in _params(keeper, names, batch_block - 1)}
    for p in recorded.params:
        if before.get(p.name) != p:
            out.append(f"receipt: {p.name} changed between the receipt's block "
                       f"{recorded.block} and the batch's block {batch_block}")  # fmt: skip
    return out


PARAMETER_SET_TOPIC = "0x" + keccak(text="ParameterSet(bytes32,uint256,uint256,address)").hex()
GOVERNANCE_ROLE = keccak(text="GOVERNANCE_ROLE")
_HAS_ROLE = keccak(text="hasRole(bytes32,address)")[:4]


@dataclass(frozen=True)
class StewardMove:
    """One parameter move by an account without GOVERNANCE_ROLE (at its block): the steward's.
    `rationale`: the hash of the `StewardUpdate` its transaction emitted, None for none (a
    `stewardSet`, which carries no rationale)."""

    block: int
    tx: str
    name: str
    old: int
    new: int
    by: str
    rationale: str | None


def steward_moves(keeper: Keeper) -> list[StewardMove]:
    """Every steward move of the registry since the deployment block, in chain order: each
    `ParameterSet` whose sender does not hold GOVERNANCE_ROLE at its block, with the rationale
    hash of the `StewardUpdate` that carried its (key, value) in its transaction (read in
    `liquidator.scan_chunk` ranges).
    `stewardSetBatch` logs its rationale's hash; `stewardSet` logs none, so a steward key can move
    a parameter with no document to check: `ballast-keeper steward-moves` names such moves."""
    web3, registry = keeper.web3, keeper.protocol.registry
    chunk, head = keeper.settings.liquidator.scan_chunk, web3.eth.block_number
    origin = keeper.protocol.block
    address = str(registry.address)
    sets = read_logs(web3, {"address": address, "topics": [PARAMETER_SET_TOPIC]}, origin, head,
                     chunk)  # fmt: skip
    updates = read_logs(web3, {"address": address, "topics": [STEWARD_UPDATE_TOPIC]}, origin,
                        head, chunk)  # fmt: skip

    def tx_of(log: Any) -> str:
        tx = log["transactionHash"]
        return tx if isinstance(tx, str) else "0x" + bytes(tx).hex()

    # each batch's own (key, value) pairs: a move is credited with a batch's hash only if that
    # batch carried it (a stewardSet in the same transaction, from a multisig's multisend or a
    # delegated EOA's, moves a parameter no document describes)
    batches: dict[str, list[tuple[str, list[tuple[bytes, int]]]]] = {}
    for u in updates:
        _, keys, values = abi_decode(["string", "bytes32[]", "uint256[]"], bytes(u["data"]))
        pairs = [(bytes(k), int(v)) for k, v in zip(keys, values, strict=True)]
        batches.setdefault(tx_of(u), []).append(("0x" + bytes(u["topics"][1]).hex(), pairs))

    def rationale_of(tx: str, key: bytes, new: int) -> str | None:
        for digest, pairs in batches.get(tx, []):
            if (key, new) in pairs:
                pairs.remove((key, new))  # one move each
                return digest
        return None

    governs: dict[tuple[str, int], bool] = {}
    names: dict[bytes, str] = {}
    out = []
    for log in sets:
        block = int(log["blockNumber"])
        by = to_checksum_address("0x" + bytes(log["topics"][2])[-20:].hex())
        if (by, block) not in governs:
            data = _HAS_ROLE + GOVERNANCE_ROLE + bytes(12) + bytes.fromhex(by[2:])
            raw = bytes(web3.eth.call({"to": address, "data": "0x" + data.hex()}, block))
            governs[(by, block)] = int.from_bytes(raw[:32] or b"\0", "big") == 1
        if governs[(by, block)]:
            continue
        key = bytes(log["topics"][1])
        if key not in names:
            names[key] = str(registry.nameOf(key))
        data = bytes(log["data"])
        old, new = int.from_bytes(data[:32], "big"), int.from_bytes(data[32:64], "big")
        out.append(StewardMove(block, tx_of(log), names[key], old, new, by,
                               rationale_of(tx_of(log), key, new)))  # fmt: skip
    return out
