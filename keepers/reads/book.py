"""The lending book: liquidation rules, rate model, cash, debt and every borrower's `Position`
(`read_book`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from eth_utils import to_checksum_address

from ballast.config_sections import LENDING_PARAMETERS
from keepers.jobs.liquidator import Borrower
from keepers.math import (
    WAD,
    Holding,
    LiquidationRules,
    Position,
    RateModel,
    health_factor,
    loans_due,
)
from keepers.multicall import Call, Multicall
from keepers.protocol import Protocol
from keepers.rawcalls import RawMulticall, checksum, decode_position, selector, word_address
from keepers.reads.batches import (
    failures_of,
    param_call,
    read_chunked,
    revert_reason,
    token_at,
    value_of,
)


@dataclass(frozen=True)
class BookRead:
    """The lending book at `block`: rules, rate model, cash, debt and every borrower read."""

    block: int
    timestamp: int
    rules: LiquidationRules
    rate_model: RateModel
    asset_decimals: int
    cash: int
    debt: int
    borrowers: tuple[Borrower, ...]
    failures: Mapping[str, str] = field(default_factory=dict)
    healthy: tuple[str, ...] = ()  # unhealthy_only reads: the borrowers not read in full


# The book's global parameters: the ones a deploy config must give a lending sleeve.
_BOOK_PARAMS = tuple(sorted(LENDING_PARAMETERS))


def read_book(
    multicall: Multicall,
    protocol: Protocol,
    borrowers: Sequence[str],
    asset: str,
    block: int | str = "latest",
    unhealthy_only: bool = False,
) -> BookRead:
    """Every `borrowers` position (debt accrued to the read block) and the book's rules.

    `asset`: the vault's base asset (its decimals scale collateral values). A borrower whose
    `positionOf` failed is left out (named in `failures`).

    The positions are read in raw Multicall3 batches (`keepers.rawcalls`: calldata built from
    bytes, `positionOf`'s return sliced by hand; Ape's codec costs about 1 ms a call).

    `unhealthy_only` (the liquidator's scan): `borrowers` holds only the positions with debt and
    `keepers.math.health_factor` below 1 WAD; the others are listed in `healthy` (the planner
    leaves them alone: it judges with the same function). Once the book's loans are due
    (`loansDueAt` reached at the read block: `rules.called`) every position with debt is kept.
    """
    book, registry = protocol.lending, protocol.registry
    first = multicall.read(
        [
            Call(book.collateralTokens, label="collateralTokens()"),
            Call(book.cash, label="cash()"),
            Call(book.totalDebt, label="totalDebt()"),
            Call(token_at(asset).decimals, label="asset.decimals()"),
            Call(book.loansDueAt, label="loansDueAt()"),
            *(param_call(registry, name) for name in _BOOK_PARAMS),
        ],
        block,
    )
    tokens_r, cash_r, debt_r, dec_r, due_r, *param_r = first.results
    tokens = [to_checksum_address(t) for t in tokens_r.unwrap()]
    asset_decimals = int(dec_r.unwrap())
    params = dict(zip(_BOOK_PARAMS, (int(r.unwrap()) for r in param_r), strict=True))
    called = loans_due(int(due_r.unwrap()), first.timestamp)

    calls = []
    for t in tokens:
        calls += [
            Call(book.collateralName, t, label=f"collateralName({t})"),
            Call(protocol.router.tryPrice, t, label=f"tryPrice({t})"),
            Call(token_at(t).decimals, label=f"decimals({t})"),
            Call(protocol.router.liquidationPrice, t, label=f"liquidationPrice({t})"),
        ]
    second = read_chunked(multicall, calls, first.block)
    per_token = second.results[: 4 * len(tokens)]
    names = [str(per_token[4 * i].unwrap()) for i in range(len(tokens))]
    prices = [
        per_token[4 * i + 1].value if per_token[4 * i + 1].success else (0, False)
        for i in range(len(tokens))
    ]
    decimals = [int(per_token[4 * i + 2].unwrap()) for i in range(len(tokens))]
    # What a liquidation values each token at (`LendingSleeve._liquidationPrice`): the router's
    # `liquidationPrice` (the live price, never below the band's lower edge); one that cannot be
    # read (the price is not fresh: it reverts as `price` does) leaves the best available price
    # (None). Its revert is expected, not a failure.
    clamps = [per_token[4 * i + 3] for i in range(len(tokens))]
    highs = [int(c.value) if c.success else None for c in clamps]

    weights = ("lend.ltvBps", "lend.liqThresholdBps", "lend.liqBonusBps")
    third = multicall.read(
        [param_call(registry, f"{w}.{n}") for n in names for w in weights], first.block
    )
    weight_values = [int(value_of(r, 0)) for r in third.results]

    holdings = [
        Holding(
            token=t,
            amount=0,
            decimals=decimals[i],
            price=int(prices[i][0]),
            ltv_bps=weight_values[3 * i],
            threshold_bps=weight_values[3 * i + 1],
            bonus_bps=weight_values[3 * i + 2],
            fresh=bool(prices[i][1]),
            high=highs[i] if prices[i][1] else None,
        )
        for i, t in enumerate(tokens)
    ]
    failures = dict(failures_of(first, second, third))
    for i, t in enumerate(tokens):
        if not prices[i][1]:  # not fresh: no liquidation price to read, as the book expects
            failures.pop(f"liquidationPrice({t})", None)
    views, healthy = _positions(
        RawMulticall(multicall.address),
        book,
        borrowers,
        holdings,
        asset_decimals,
        first.block,
        failures,
        unhealthy_only and not called,
    )

    return BookRead(
        block=first.block,
        timestamp=first.timestamp,
        rules=LiquidationRules(
            params["lend.closeFactorBps"],
            params["lend.fullCloseHealthBps"],
            params["lend.minDebt"],
            called,
        ),
        rate_model=RateModel(
            base_bps=params["lend.rate.baseBps"],
            slope1_bps=params["lend.rate.slope1Bps"],
            slope2_bps=params["lend.rate.slope2Bps"],
            kink_bps=params["lend.rate.kinkBps"],
        ),
        asset_decimals=asset_decimals,
        cash=int(value_of(cash_r, 0)),
        debt=int(value_of(debt_r, 0)),
        borrowers=tuple(views),
        failures=MappingProxyType(failures),
        healthy=healthy,
    )


_POSITION_OF = selector("positionOf(address)")


def _positions(
    raw: RawMulticall,
    book: Any,
    borrowers: Sequence[str],
    holdings: Sequence[Holding],
    asset_decimals: int,
    block: int,
    failures: dict[str, str],
    unhealthy_only: bool,
) -> tuple[list[Borrower], tuple[str, ...]]:
    """Every borrower's `positionOf` at `block` (raw batches, sliced by hand): (the positions
    kept, the healthy borrowers left out when `unhealthy_only`). `holdings`: one per listed
    token, amount 0 (each position's amounts replace it). A failed read goes to `failures`."""
    target = str(book.address)
    batch = raw.read([(target, _POSITION_OF + word_address(b)) for b in borrowers], block)
    index = {h.token.lower(): i for i, h in enumerate(holdings)}
    rest = [
        (h.decimals, h.price, h.ltv_bps, h.threshold_bps, h.bonus_bps, h.fresh, h.high)
        for h in holdings
    ]
    views: list[Borrower] = []
    healthy: list[str] = []
    for k, (b, returned) in enumerate(zip(borrowers, batch.returns, strict=True)):
        try:
            if returned is None:
                raise ValueError(revert_reason(batch.reverts.get(k, b""), book))
            debt, _, tokens, amounts = decode_position(returned)
        except ValueError as err:
            failures[f"positionOf({b})"] = str(err)
            continue
        held = list(holdings)
        for t, amount in zip(tokens, amounts, strict=True):
            i = index.get(t)
            if i is not None:  # positionOf lists only listed tokens
                held[i] = Holding(holdings[i].token, amount, *rest[i])
        position = Position(debt, tuple(held), asset_decimals)
        if unhealthy_only and (debt == 0 or health_factor(position) >= WAD):
            healthy.append(b)
            continue
        views.append(Borrower(checksum(b), position))
    return views, tuple(healthy)
