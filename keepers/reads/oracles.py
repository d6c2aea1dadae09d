"""Each priced token's feed against the router (`read_oracles`, the sentinel's `OracleState`s)
and the priced tokens themselves (`priced_tokens`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from eth_utils import to_checksum_address

from keepers.jobs.sentinel import OracleState
from keepers.multicall import Call, Multicall
from keepers.protocol import Protocol
from keepers.reads.batches import (
    failures_of,
    feed_at,
    param_call,
    value_of,
)


@dataclass(frozen=True)
class OracleRead:
    block: int
    timestamp: int
    oracles: tuple[OracleState, ...]
    failures: Mapping[str, str] = field(default_factory=dict)
    accepted_at: Mapping[str, int] = field(default_factory=dict)  # name -> lastPrice's time

    def deviation_bps(self, name: str) -> int:
        return next((o.deviation_bps() for o in self.oracles if o.name == name), 0)


def priced_tokens(protocol: Protocol, collateral: bool = True) -> dict[str, str]:
    """name -> token of every priced asset: RWA sleeves' tokens, then (with `collateral`) the
    lending collateral that is not a sleeve token (named by the book; a collateral the book
    names as a sleeve is named after its token too, `gold (collateral 0x…)`: the chain does not
    keep the two sets of names apart, and under one name the collateral's token replaced the
    sleeve's, whose feed the keepers then neither watched nor poked)."""
    priced = {
        s.name: to_checksum_address(s.token)
        for s in protocol.deployment.sleeves
        if s.token is not None
    }
    book = protocol.lending
    if collateral and book is not None:
        known = {t.lower() for t in priced.values()}
        for token in book.collateralTokens():
            if str(token).lower() not in known:
                name, address = str(book.collateralName(token)), to_checksum_address(token)
                priced[name if name not in priced else f"{name} (collateral {address})"] = address
    return priced


def read_oracles(
    multicall: Multicall,
    protocol: Protocol,
    priced: Mapping[str, str],
    block: int | str = "latest",
) -> OracleRead:
    """The feeds behind `priced` (name -> token address): age, reference, pending move and
    current price.

    A feed that cannot be read at all is reported as `updated_at = 0` (stale) rather than left
    out: the sentinel must see a dead oracle; one that answers zero or less, as
    `answer_valid = False` (the router's `tryPrice` falls back on the reference, so `new_price`
    alone would show nothing).
    """
    router, registry = protocol.router, protocol.registry
    names = sorted(priced)
    calls = [
        param_call(registry, "oracle.maxStaleness"),
        param_call(registry, "oracle.maxDeviationBps"),
        param_call(registry, "oracle.confirmDelay"),
    ]
    for n in names:
        t = priced[n]
        calls += [
            Call(router.feedOf, t, label=f"feedOf({n})"),
            Call(router.lastPrice, t, label=f"lastPrice({n})"),
            Call(router.tryPrice, t, label=f"tryPrice({n})"),
            Call(router.pendingPrice, t, label=f"pendingPrice({n})"),
        ]
    first = multicall.read(calls, block)
    staleness = int(value_of(first.results[0], 0))
    deviation = int(value_of(first.results[1], 0))
    confirm_delay = int(value_of(first.results[2], 0))
    per = 4  # calls per name
    rest = first.results[3:]
    feeds = [value_of(rest[per * i]) for i in range(len(names))]
    live = [(i, f) for i, f in enumerate(feeds) if f and int(f, 16) != 0]
    second = multicall.read(
        [Call(feed_at(f).latestRoundData, label=f"latestRoundData({names[i]})") for i, f in live],
        first.block,
    )
    updated = {
        i: int(r.value[3]) for (i, _), r in zip(live, second.results, strict=True) if r.success
    }
    answers = {
        i: int(r.value[1]) for (i, _), r in zip(live, second.results, strict=True) if r.success
    }
    states = []
    accepted: dict[str, int] = {}
    for i, n in enumerate(names):
        last = value_of(rest[per * i + 1], (0, 0))
        accepted[n] = int(last[1])
        now = value_of(rest[per * i + 2], (0, False))
        pending = value_of(rest[per * i + 3], (0, 0))
        states.append(
            OracleState(
                name=n,
                updated_at=updated.get(i, 0),
                staleness_bound=staleness,
                last_price=int(last[0]),
                new_price=int(now[0]),
                max_deviation_bps=deviation,
                pending_price=int(pending[0]),
                pending_since=int(pending[1]),
                confirm_delay=confirm_delay,
                accepted_at=int(last[1]),
                answer_valid=answers.get(i, 1) > 0,
            )
        )
    return OracleRead(
        first.block, first.timestamp, tuple(states), failures_of(first, second), accepted
    )
