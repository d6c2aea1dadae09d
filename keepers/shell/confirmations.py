"""Pokes that close a price band a strike, an evaluation or a rebalance waits on, shared by the
settler, evaluator and rebalancer passes: read the sleeves' feeds at the pass's block, then `poke`
the router for each feed the job's planner names (`keepers.jobs.plan_confirmations`,
`plan_evidence_pokes`, `plan_rebalance_pokes`). The
action id carries the feed and the block read (`poke:<name>:<block>`), so two passes reading the
same block never poke twice, and a restart never repeats one."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from types import MappingProxyType
from typing import TYPE_CHECKING

from web3.exceptions import ContractLogicError, Web3RPCError

from keepers.errors import one_line
from keepers.jobs import OracleState, PokePlan
from keepers.rawcalls import checksum, selector
from keepers.reads import (
    SleeveSet,
    priced_tokens,
    read_oracles,
    read_vault_sleeves,
    sleeve_change_blocks,
    sleeve_set_changed,
)
from keepers.reads.scans import chain_changed, cursor_mark, scan_start
from keepers.shell.reports import JobReport

if TYPE_CHECKING:
    from keepers.shell.keeper import Keeper

log = logging.getLogger("keepers.confirmations")

Planner = Callable[[Sequence[OracleState], int], tuple[PokePlan, ...]]


RWA_TOKEN = selector("rwaToken()")  # TokenizedRWASleeve's priced token


def unlisted_feeds(keeper: Keeper, sleeves: Iterable[str], block: int) -> dict[str, str]:
    """sleeve address -> token of each priced sleeve of `sleeves` the manifest does not list (the
    DAO added or removed a sleeve since it was written or refreshed), read at `block`: its feed
    is poked as the manifest's are. A sleeve without `rwaToken()` (a lending book) has no feed
    of its own to poke."""
    listed = {str(s.address).lower() for s in keeper.protocol.sleeves.values()}
    found: dict[str, str] = {}
    for sleeve in sleeves:
        address = checksum(str(sleeve))
        if address.lower() in listed or address in found:
            continue
        try:
            raw = keeper.web3.eth.call({"to": address, "data": RWA_TOKEN}, block)
        except ContractLogicError:  # no such view: not a priced sleeve
            continue
        except Web3RPCError as err:  # the call failed in the EVM (out of gas): one odd sleeve,
            # not a reason to fail the pass (the settler's strike and claims, the evaluator's
            # evaluations, the sentinel's watch); its feed, if any, is not poked
            log.warning("sleeve %s: rwaToken() failed: %s", address, one_line(err))
            continue
        if len(raw) == 32:
            found[address] = checksum("0x" + bytes(raw[12:]).hex())
    return found


def vault_unlisted_feeds(keeper: Keeper, block: int) -> dict[str, str]:
    """`unlisted_feeds` of the vault's sleeves at `block`: a strike waits on, and the sentinel
    watches, every sleeve the vault holds, one the DAO added since the manifest was written
    included. The sleeves (and their feeds) are read once (`read_vault_sleeves`: one batch) and
    kept on the keeper (`Keeper.sleeve_set`); a later pass only looks for `SleeveAdded` and
    `SleeveRemoved` logs of the vault since the last block it looked at (`liquidator.reorg_depth`
    blocks back, in `liquidator.scan_chunk` ranges), and reads the sleeves again when one is after
    the block they were read at (`sleeve_set_changed`), when the pass reads an earlier block
    than they were read at (a node behind, a chain rolled back), or when another block is now
    below the look-back of the last look (`cursor_mark` of it, not below the read block;
    `chain_changed`: the chain went back under it and grew again on other history, where a
    sleeve the DAO added below the read block was never watched). A pass below the block last
    looked at reads the look-back below its own block (it read nothing, and a sleeve added on a
    rewound chain was not watched until the chain had grown back)."""
    kept, web3 = keeper.sleeve_set, keeper.web3
    if kept is not None and block >= kept.block and not chain_changed(web3, kept.mark, block):
        cfg = keeper.settings.liquidator
        # below what was looked at (a node lagging, or rewound and not grown back yet): the
        # look-back below this block, as the log scans (`keepers.reads.scans.scan_cursor`)
        start = scan_start(min(kept.scanned, block), kept.block + 1, cfg.reorg_depth)
        if start > block:
            return dict(kept.feeds)
        changes = sleeve_change_blocks(web3, keeper.protocol.vault, start, block, cfg.scan_chunk)
        if not sleeve_set_changed(kept.block, changes):
            if block > kept.scanned:
                mark = cursor_mark(web3, block, cfg.reorg_depth, block, floor=kept.block)
                kept = replace(kept, scanned=block, mark=mark)
                keeper.sleeve_set = kept
            return dict(kept.feeds)
    read_at, sleeves = read_vault_sleeves(keeper.multicall, keeper.protocol.vault, block)
    feeds = unlisted_feeds(keeper, sleeves, read_at)
    mark = cursor_mark(web3, read_at, 0, read_at)
    keeper.sleeve_set = SleeveSet(read_at, read_at, sleeves, MappingProxyType(dict(feeds)), mark)
    return feeds


def with_unlisted(priced: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """`priced` (name -> token) and the feeds of `extra` (sleeves the manifest does not list)
    on a token not already there: a sleeve the DAO added on a listed sleeve's token (a second
    mandate of the same issuer) or on a collateral's is that feed, watched and poked once under
    its listed name (two names were two alerts and two pokes of one token a pass, the second
    changing nothing)."""
    merged = dict(priced)
    seen = {t.lower() for t in priced.values()}
    for name, token in extra.items():
        if token.lower() not in seen:
            merged[name] = token
            seen.add(token.lower())
    return merged


def poke_confirmations(
    keeper: Keeper,
    report: JobReport,
    plan: Planner,
    block: int,
    collateral: bool = False,
    extra: Mapping[str, str] | None = None,
) -> bool:
    """Pokes the router as `plan(oracles, now)` says for the sleeves' feeds (with `collateral`,
    the lending collateral's too: the liquidator's; `extra`: name -> token of feeds the manifest
    does not list) read at `block`; whether a poke was mined (the caller then reads again: a
    closed band may act now)."""
    protocol = keeper.protocol
    sleeves = with_unlisted(priced_tokens(protocol, collateral=collateral), extra or {})
    if not sleeves:
        return False
    read = read_oracles(keeper.multicall, protocol, sleeves, block)
    report.notes += [f"read failed: {k}: {v}" for k, v in read.failures.items()]
    mined = False
    for p in plan(read.oracles, read.timestamp):
        log.info("poke %s: %s", p.name, p.reason, extra={"job": report.job})
        outcome = keeper.act(report, protocol.router, "poke", sleeves[p.name],
                             action_id=f"poke:{p.name}:{read.block}")  # fmt: skip
        mined |= outcome.outcome == "mined"
    return mined
