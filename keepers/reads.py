"""Chain reads that build the jobs' inputs: Multicall3 batches pinned to one block, turned into
the pure planners' dataclasses (`keepers.math.Position`, `keepers.jobs.OracleState`, ...).

Each reader makes a first batch at `block` (default: latest) and pins every later batch to the
block the first one read, so one job pass sees one state. Values whose read failed are reported
in `failures` (label -> reason) and left out; nothing here raises for a single failed call.

- `read_book`: the lending book — liquidation rules, rate model, every borrower's `Position`
  (collateral in listing order, priced by `tryPrice`, weighted by `lend.*.<name>`); with
  `unhealthy_only` (the liquidator) only the positions below health 1 are returned (positions
  read in raw Multicall3 batches, `keepers.rawcalls`);
- `priced_tokens`: name -> token of every priced asset (the sleeves', then lending collateral);
- `read_oracles`: each priced token's feed age, reference (last accepted), pending move and
  current price, and the registry's staleness, deviation and confirmation bounds (the
  sentinel's `OracleState`s);
- `read_allocation`: the rebalancer's view — NAV, each sleeve's assets, cap and `returnIndex`,
  the idle buffer, the turnover limit and the rebalance cooldown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from types import MappingProxyType
from typing import Any

from ape import project
from eth_utils import to_checksum_address

from ballast.parameters import key_of as param_key
from keepers.binding import ChainBinding
from keepers.funding import Funding
from keepers.jobs.liquidator import Borrower
from keepers.jobs.sentinel import OracleState
from keepers.math import WAD, Holding, LiquidationRules, Position, RateModel, health_factor
from keepers.protocol import Protocol
from keepers.rawcalls import RawMulticall, checksum, decode_position, selector, word_address
from keepers.snapshot import Batch, Call, CallResult, Multicall, describe_revert

__all__ = [
    "AllocationRead",
    "BookRead",
    "OracleRead",
    "SleeveRead",
    "param_key",
    "priced_tokens",
    "read_allocation",
    "read_book",
    "read_chain_binding",
    "read_funding",
    "read_oracles",
]

CHUNK = 400  # calls per eth_call: keeps each batch well under a node's eth_call gas cap


@cache
def _erc20(address: str) -> Any:
    return project.MockStablecoin.at(address)  # any ERC-20 ABI serves for decimals()


@cache
def _feed(address: str) -> Any:
    return project.MockAggregator.at(address)  # Chainlink's AggregatorV3 ABI


def _read_chunked(multicall: Multicall, calls: Sequence[Call], block: int | str) -> Batch:
    """Several `aggregate3` at one block when there are many calls; results in call order."""
    if len(calls) <= CHUNK:
        return multicall.read(calls, block)
    first = multicall.read(calls[:CHUNK], block)
    results = list(first.results)
    for start in range(CHUNK, len(calls), CHUNK):
        results += multicall.read(calls[start : start + CHUNK], first.block).results
    return Batch(first.block, first.timestamp, tuple(results))


def _failures(*batches: Batch) -> Mapping[str, str]:
    return MappingProxyType(
        {r.call.label: r.error or "" for b in batches for r in b.results if not r.success}
    )


def _value(result: CallResult, default: Any = None) -> Any:
    return result.value if result.success else default


def _param(registry: Any, name: str) -> Call:
    return Call(registry.get, param_key(name), label=name)


# ------------------------------------------------------------------ the lending book


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


_BOOK_PARAMS = (
    "lend.closeFactorBps",
    "lend.fullCloseHealthBps",
    "lend.minDebt",
    "lend.rate.baseBps",
    "lend.rate.slope1Bps",
    "lend.rate.slope2Bps",
    "lend.rate.kinkBps",
)


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
    leaves them alone: it judges with the same function).
    """
    book, registry = protocol.lending, protocol.registry
    first = multicall.read(
        [
            Call(book.collateralTokens, label="collateralTokens()"),
            Call(book.cash, label="cash()"),
            Call(book.totalDebt, label="totalDebt()"),
            Call(_erc20(asset).decimals, label="asset.decimals()"),
            *(_param(registry, name) for name in _BOOK_PARAMS),
        ],
        block,
    )
    tokens_r, cash_r, debt_r, dec_r, *param_r = first.results
    tokens = [to_checksum_address(t) for t in tokens_r.unwrap()]
    asset_decimals = int(dec_r.unwrap())
    params = dict(zip(_BOOK_PARAMS, (int(r.unwrap()) for r in param_r), strict=True))

    calls = []
    for t in tokens:
        calls += [
            Call(book.collateralName, t, label=f"collateralName({t})"),
            Call(protocol.router.tryPrice, t, label=f"tryPrice({t})"),
            Call(_erc20(t).decimals, label=f"decimals({t})"),
        ]
    second = _read_chunked(multicall, calls, first.block)
    per_token = second.results[: 3 * len(tokens)]
    names = [str(per_token[3 * i].unwrap()) for i in range(len(tokens))]
    prices = [
        per_token[3 * i + 1].value if per_token[3 * i + 1].success else (0, False)
        for i in range(len(tokens))
    ]
    decimals = [int(per_token[3 * i + 2].unwrap()) for i in range(len(tokens))]

    weights = ("lend.ltvBps", "lend.liqThresholdBps", "lend.liqBonusBps")
    third = multicall.read(
        [_param(registry, f"{w}.{n}") for n in names for w in weights], first.block
    )
    weight_values = [int(_value(r, 0)) for r in third.results]

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
        )
        for i, t in enumerate(tokens)
    ]
    failures = dict(_failures(first, second, third))
    views, healthy = _positions(
        RawMulticall(multicall.address),
        book,
        borrowers,
        holdings,
        asset_decimals,
        first.block,
        failures,
        unhealthy_only,
    )

    return BookRead(
        block=first.block,
        timestamp=first.timestamp,
        rules=LiquidationRules(
            params["lend.closeFactorBps"], params["lend.fullCloseHealthBps"], params["lend.minDebt"]
        ),
        rate_model=RateModel(
            base_bps=params["lend.rate.baseBps"],
            slope1_bps=params["lend.rate.slope1Bps"],
            slope2_bps=params["lend.rate.slope2Bps"],
            kink_bps=params["lend.rate.kinkBps"],
        ),
        asset_decimals=asset_decimals,
        cash=int(_value(cash_r, 0)),
        debt=int(_value(debt_r, 0)),
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
        (h.decimals, h.price, h.ltv_bps, h.threshold_bps, h.bonus_bps, h.fresh) for h in holdings
    ]
    views: list[Borrower] = []
    healthy: list[str] = []
    for k, (b, returned) in enumerate(zip(borrowers, batch.returns, strict=True)):
        try:
            if returned is None:
                raise ValueError(_revert_reason(batch.reverts.get(k, b""), book))
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


def _revert_reason(data: bytes, contract: Any) -> str:
    return describe_revert(data, contract) if data else "reverted (or not one word) without data"


# ------------------------------------------------------------------ oracles


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
    lending collateral that is not a sleeve token (named by the book)."""
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
                priced[str(book.collateralName(token))] = to_checksum_address(token)
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
    out: the sentinel must see a dead oracle.
    """
    router, registry = protocol.router, protocol.registry
    names = sorted(priced)
    calls = [
        _param(registry, "oracle.maxStaleness"),
        _param(registry, "oracle.maxDeviationBps"),
        _param(registry, "oracle.confirmDelay"),
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
    staleness = int(_value(first.results[0], 0))
    deviation = int(_value(first.results[1], 0))
    confirm_delay = int(_value(first.results[2], 0))
    per = 4  # calls per name
    rest = first.results[3:]
    feeds = [_value(rest[per * i]) for i in range(len(names))]
    live = [(i, f) for i, f in enumerate(feeds) if f and int(f, 16) != 0]
    second = multicall.read(
        [Call(_feed(f).latestRoundData, label=f"latestRoundData({names[i]})") for i, f in live],
        first.block,
    )
    updated = {
        i: int(r.value[3]) for (i, _), r in zip(live, second.results, strict=True) if r.success
    }
    states = []
    accepted: dict[str, int] = {}
    for i, n in enumerate(names):
        last = _value(rest[per * i + 1], (0, 0))
        accepted[n] = int(last[1])
        now = _value(rest[per * i + 2], (0, False))
        pending = _value(rest[per * i + 3], (0, 0))
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
            )
        )
    return OracleRead(
        first.block, first.timestamp, tuple(states), _failures(first, second), accepted
    )


# ------------------------------------------------------------------ allocation


@dataclass(frozen=True)
class SleeveRead:
    name: str
    address: str
    held: int
    cap_bps: int
    return_index: int | None


@dataclass(frozen=True)
class AllocationRead:
    """The vault as the rebalancer sees it at `block`."""

    block: int
    timestamp: int
    nav: int
    sleeves: tuple[SleeveRead, ...]
    idle_buffer_bps: int
    max_turnover_bps: int
    next_rebalance_at: int
    automation_paused: bool
    is_shutdown: bool
    share_price: int  # NAV per share unit, WAD (a ratio: the sentinel watches its drops)
    failures: Mapping[str, str] = field(default_factory=dict)
    vault_sleeves: tuple[str, ...] = ()  # the vault's own sleeve order (sleeveAt), checksummed

    @property
    def order_mismatch(self) -> str | None:
        """Why the manifest's sleeves are not the vault's (targets would be misordered)."""
        ours = tuple(s.address for s in self.sleeves)
        if self.vault_sleeves == ours:
            return None
        return (
            f"the manifest lists sleeves {[s.name for s in self.sleeves]} but the vault holds "
            f"{len(self.vault_sleeves)} in another order; refresh the manifest (ape run deploy)"
        )


def read_allocation(
    multicall: Multicall, protocol: Protocol, block: int | str = "latest"
) -> AllocationRead:
    vault, registry = protocol.vault, protocol.registry
    names = list(protocol.sleeves)
    calls = [
        Call(vault.totalAssets, label="totalAssets()"),
        _param(registry, "vault.idleBufferBps"),
        _param(registry, "vault.maxTurnoverBps"),
        Call(vault.nextRebalanceAt, label="nextRebalanceAt()"),
        Call(vault.automationPaused, label="automationPaused()"),
        Call(vault.isShutdown, label="isShutdown()"),
        Call(vault.totalSupply, label="totalSupply()"),
        Call(vault.sleeveCount, label="sleeveCount()"),
    ]
    for n in names:
        s = protocol.sleeves[n]
        calls += [
            Call(s.totalAssets, label=f"{n}.totalAssets()"),
            _param(registry, f"vault.maxSleeveBps.{n}"),
            Call(s.returnIndex, label=f"{n}.returnIndex()"),
        ]
    calls += [Call(vault.sleeveAt, i, label=f"sleeveAt({i})") for i in range(len(names))]
    batch = multicall.read(calls, block)
    head, rest = batch.results[:8], batch.results[8 : 8 + 3 * len(names)]
    count = int(_value(head[7], 0))
    configs = batch.results[8 + 3 * len(names) :]
    vault_sleeves = tuple(to_checksum_address(r.value.sleeve) for r in configs[:count] if r.success)
    if count > len(names):  # more sleeves on chain than the manifest knows
        vault_sleeves += ("?",) * (count - len(names))
    nav = int(head[0].unwrap())
    supply = int(_value(head[6], 0))
    # NAV per share in WAD; an empty vault is priced at one asset unit per share unit.
    share_price = nav * 10**18 // supply if supply else 10**18
    sleeves = tuple(
        SleeveRead(
            name=n,
            address=to_checksum_address(str(protocol.sleeves[n].address)),
            held=int(_value(rest[3 * i], 0)),
            cap_bps=int(_value(rest[3 * i + 1], 0)),
            return_index=_value(rest[3 * i + 2]),
        )
        for i, n in enumerate(names)
    )
    return AllocationRead(
        block=batch.block,
        timestamp=batch.timestamp,
        nav=nav,
        sleeves=sleeves,
        idle_buffer_bps=int(_value(head[1], 0)),
        max_turnover_bps=int(_value(head[2], 0)),
        next_rebalance_at=int(_value(head[3], 0)),
        automation_paused=bool(_value(head[4], False)),
        is_shutdown=bool(_value(head[5], False)),
        share_price=share_price,
        failures=_failures(batch),
        vault_sleeves=vault_sleeves,
    )


# ---------------------------------------------------------------------- identity and funds


def read_chain_binding(web3: Any, protocol: Protocol) -> ChainBinding:
    """The chain and deployment `protocol` is on: block 0's hash, the manifest's block and its
    hash, and every address the manifest names (contracts, sleeves, collateral, tokens)."""
    deployment = protocol.deployment
    named = [(f"contract:{k}", v) for k, v in deployment.contracts.items()]
    named += [(f"sleeve:{s.name}", s.address) for s in deployment.sleeves]
    named += [(f"collateral:{c.name}", c.token) for c in deployment.collateral]
    named += [(f"token:{k}", v) for k, v in deployment.tokens.items()]
    genesis = web3.eth.get_block(0)
    deployed = web3.eth.get_block(deployment.block)
    return ChainBinding.of(
        int(web3.eth.chain_id), bytes(genesis["hash"]), deployment.block,
        bytes(deployed["hash"]), named,
    )  # fmt: skip


def read_funding(
    web3: Any, token: Any, address: str, symbol: str, decimals: int, block: int | None = None
) -> Funding:
    """`address`'s gas coin (wei) and `token` balance (its units), at `block` (default: the
    latest)."""
    at: int | str = "latest" if block is None else block
    native = int(web3.eth.get_balance(address, at))
    inventory = int(token.balanceOf(address, block_id=at))
    return Funding(native, inventory, symbol, decimals)
