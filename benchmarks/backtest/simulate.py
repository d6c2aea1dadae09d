"""The day-by-day simulator: one vault, one path, one policy, the contract's rules.

The vault (`Vault`) is the local deployment, read from deployments/config/local.yaml: its four
sleeves in order, their caps `vault.maxSleeveBps.<name>`, `vault.idleBufferBps`,
`vault.maxTurnoverBps`, `vault.rebalanceCooldown`, the mock issuers' `daily_redeem_limit` and
NAV, and `vault.depositCap` as the money invested (all idle at the start).

Each simulated day `k` (from `history_days + 1`):

1. The market moves: each sleeve's holding grows with its index (`nav[k] / nav[k-1]`; a gold
   crash, an invoice mark-down or a lending default is in the index). Idle earns nothing.
2. The policy reads the vault as `VaultMath.weights` computes it (`floor(held · 1e4 /
   nav)` on integer asset units) and the market up to day `k`, never later (the hindsight
   baseline is the one declared exception), and proposes integer targets or nothing.
3. A proposal the contract would refuse — inside `vault.rebalanceCooldown` of the last
   rebalance, or failing `_checkBounds` (caps, idle buffer, turnover, as `bounds.violations`)
   — is a **breach**: counted, and the rebalance reverts (nothing moves; the keeper would have
   seen the revert in its pre-send simulation, so no gas is counted). So is a proposal the
   strategy kit refuses before the contract sees it (`Refused`: targets outside the bounds, a
   strategy that raised or returned no proposal): the keeper would refuse it too.
4. An accepted rebalance moves money like `RebalanceModule._move`: over-weight sleeves are
   pulled first, each up to what it can pay today (a frozen issuer: nothing; an issuer's
   `daily_redeem_limit`; the lending book: its cash, `(1 - utilization)` of the holding), then
   under-weight sleeves are funded in sleeve order from idle, never taking idle below its
   target. Its gas is `rebalance_gas` (benchmarks/gas/snapshot.json, see `rebalance_gas`) at
   the day's base fee plus the keeper's priority fee, priced in the asset at the keeper's
   native price; it is charged to the result (the net NAV series), not to the vault. Every
   move into or out of a sleeve pays that sleeve's trading cost (`Vault.trading_cost_bps`,
   benchmarks/backtest/costs.py) in the vault: a sale yields `(1 − c)` of what it takes out,
   a purchase holds `(1 − c)` of what it pays. Every policy pays it, the hindsight mix too.

The keeper's strategy as a policy (the rebalancer's own code path) is `keeper.KeeperStrategy`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Final, Protocol

from benchmarks.backtest.costs import default_costs
from benchmarks.backtest.flows import Depositors, liquidity
from benchmarks.backtest.generate import (
    DAY_SECONDS,
    SLEEVES,
    MarketPath,
)
from keepers.config import KeeperSettings
from keepers.math import BPS, WAD
from keepers.settings import TxSettings
from keepers.strategy import (
    Bounds,
    GasMarket,
    turnover_bps,
    violations,
    weights_bps,
)

REPO: Final = Path(__file__).resolve().parents[2]
LOCAL_CONFIG: Final = REPO / "deployments/config/local.yaml"
GAS_SNAPSHOT: Final = REPO / "benchmarks/gas/snapshot.json"
T0: Final = 1_700_000_000  # timestamp of day k = 0 (any fixed origin; only differences matter)
GWEI: Final = 10**9


@dataclass(frozen=True)
class Vault:
    """The vault's rules and money (see the module docstring for where each comes from)."""

    sleeves: tuple[str, ...]
    caps_bps: tuple[int, ...]
    idle_buffer_bps: int
    max_turnover_bps: int
    cooldown_seconds: int
    asset_decimals: int
    deposit: int  # asset units, all idle at the start
    redeem_limit_assets: tuple[float | None, ...]  # per day at NAV index 1.0; None: no limit
    trading_cost_bps: tuple[float, ...] = ()  # per sleeve, bps of the value moved; (): none

    def cost(self, i: int) -> float:
        """Sleeve `i`'s trading cost as a fraction of the value moved."""
        return self.trading_cost_bps[i] / BPS if self.trading_cost_bps else 0.0

    @property
    def bounds(self) -> Bounds:
        return Bounds(self.caps_bps, self.idle_buffer_bps, self.max_turnover_bps)


@cache
def local_vault(config: Path = LOCAL_CONFIG) -> Vault:
    """The vault of deployments/config/local.yaml."""
    from ballast.config import MOCK_ASSET_DECIMALS, DeployConfig

    cfg = DeployConfig.load(config)
    values = {p.name: int(p.value) for p in cfg.parameters}
    names = tuple(s.name for s in cfg.sleeves)
    if names != SLEEVES:
        raise ValueError(f"{config}: sleeves {names}, the scenarios describe {SLEEVES}")
    limits: list[float | None] = []
    for s in cfg.sleeves:
        if s.mock is None or s.mock.daily_redeem_limit == 0:
            limits.append(None)
        else:
            limits.append(float(s.mock.daily_redeem_limit * s.mock.nav) * 10**MOCK_ASSET_DECIMALS)
    return Vault(
        sleeves=names,
        caps_bps=tuple(values[f"vault.maxSleeveBps.{n}"] for n in names),
        idle_buffer_bps=values["vault.idleBufferBps"],
        max_turnover_bps=values["vault.maxTurnoverBps"],
        cooldown_seconds=values["vault.rebalanceCooldown"],
        asset_decimals=MOCK_ASSET_DECIMALS,
        deposit=values["vault.depositCap"],
        redeem_limit_assets=tuple(limits),
        trading_cost_bps=default_costs(names),
    )


@cache
def rebalance_gas(sleeves: int, snapshot: Path = GAS_SNAPSHOT) -> int:
    """Gas of one `rebalance` with `sleeves` sleeves: the gas snapshot's "RWAVault, N sleeves"
    / "rebalance" row when measured, else the least-squares line through the measured rows
    (each sleeve adds its valuation, weight and move: the cost is linear in N)."""
    data = json.loads(snapshot.read_text())
    points = []
    for n in range(1, 11):
        row = data.get(f"RWAVault, {n} sleeve{'s' if n != 1 else ''}", {})
        if "rebalance" in row:
            points.append((n, int(row["rebalance"])))
    if not points:
        raise ValueError(f"{snapshot}: no 'rebalance' rows")
    measured = dict(points)
    if sleeves in measured:
        return measured[sleeves]
    if len(points) == 1:
        return points[0][1]
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x in xs)
    return round(my + slope * (sleeves - mx))


@dataclass(frozen=True)
class GasCosts:
    """`gas` per rebalance; the keeper's `priority_fee_wei` and `native_price` (asset per ETH)."""

    gas: int
    priority_fee_wei: int
    native_price: float

    def market(self, base_fee_gwei: float) -> GasMarket:
        return GasMarket(
            base_fee_wei=round(base_fee_gwei * GWEI),
            priority_fee_wei=self.priority_fee_wei,
            native_price_wad=round(self.native_price * WAD),
        )

    def cost_assets(self, base_fee_gwei: float, asset_decimals: int) -> float:
        wei = self.gas * (base_fee_gwei * GWEI + self.priority_fee_wei)
        return wei / WAD * self.native_price * 10**asset_decimals


def default_gas(vault: Vault) -> GasCosts:
    """The measured rebalance gas for the vault's sleeve count and the keeper's defaults
    (`tx.priority_fee`, `native_price`)."""
    return GasCosts(
        gas=rebalance_gas(len(vault.sleeves)),
        priority_fee_wei=int(TxSettings.model_fields["priority_fee"].default),
        native_price=float(KeeperSettings.model_fields["native_price"].default),
    )


@dataclass(frozen=True)
class LastRebalance:
    """The policy's previous accepted rebalance: day, its targets, the weights before and the
    weights it reached."""

    day: int
    target_bps: tuple[int, ...]
    old_bps: tuple[int, ...]
    new_bps: tuple[int, ...]


@dataclass(frozen=True)
class View:
    """What a policy sees on day `k` (it must not read the path after `k`, hindsight aside)."""

    path: MarketPath
    k: int
    vault: Vault
    held: tuple[int, ...]
    nav: int
    gas: GasMarket
    last: LastRebalance | None

    @property
    def timestamp(self) -> int:
        return T0 + self.k * DAY_SECONDS

    @property
    def current_bps(self) -> tuple[int, ...]:
        return weights_bps(self.held, self.nav)


@dataclass(frozen=True)
class Refused:
    """A proposal refused before it could be sent (the strategy kit's one-line reason): a breach."""

    reason: str


class Policy(Protocol):
    """A rebalancing policy: `name`, and `target(view)` (integer bps per sleeve, None to hold,
    or `Refused`)."""

    name: str

    def target(self, view: View) -> tuple[int, ...] | Refused | None: ...


PolicyFactory = Callable[[MarketPath, Vault], Policy]


# ------------------------------------------------------------------ the simulation


@dataclass(frozen=True)
class PathRun:
    """One policy on one path: the net NAV per simulated day (index 0: the start, gas
    deducted), the vault's gross NAV at the end, and the counts."""

    policy: str
    path_id: int
    net_nav: tuple[float, ...]
    gross_end: float
    rebalances: int
    proposals: int
    breaches: int
    breach_reasons: tuple[str, ...]
    turnover: float  # Σ executed turnover, fractions of NAV
    gas_units: int
    gas_cost: float  # asset units
    weights: tuple[tuple[float, ...], ...]  # sleeve weights at each day's end (fractions)
    deposited: float = 0.0  # depositor flows (asset units): entries
    redeemed: float = 0.0  # paid to redeeming depositors
    forced_sales: float = 0.0  # of that, pulled from sleeves (not idle)
    pending_end: float = 0.0  # redemption requests still unpaid at the end (asset units)
    trading_cost: float = 0.0  # asset units paid in trading costs (rebalances and forced sales)


def execute(
    path: MarketPath,
    vault: Vault,
    k: int,
    held: list[float],
    idle: float,
    target: Sequence[int],
    used: Sequence[float] | None = None,
) -> tuple[list[float], float, float]:
    """`RebalanceModule._move` on day `k`: the holdings and idle after moving to `target`
    (`used`: what each sleeve already paid that day, to redeeming depositors), and the trading
    cost paid (each sleeve's `vault.cost(i)` of the value moved through it)."""
    nav = idle + sum(held)
    want = [nav * t / BPS for t in target]
    held = list(held)
    idle_target = nav - sum(want)
    paid_cost = 0.0
    for i, h in enumerate(held):
        if h > want[i]:
            paid = used[i] if used else 0.0
            out = min(h - want[i], liquidity(path, vault, i, k, h, paid))
            held[i] -= out
            idle += out * (1.0 - vault.cost(i))
            paid_cost += out * vault.cost(i)
    for i, h in enumerate(held):
        if idle <= idle_target:
            break
        if h < want[i]:
            amount = min(want[i] - h, idle - idle_target)
            held[i] += amount * (1.0 - vault.cost(i))
            idle -= amount
            paid_cost += amount * vault.cost(i)
    return held, idle, paid_cost


def simulate(path: MarketPath, vault: Vault, policy: Policy, gas: GasCosts) -> PathRun:
    """Run `policy` over `path` (see the module docstring)."""
    n = len(vault.sleeves)
    held, idle = [0.0] * n, float(vault.deposit)
    gas_cost, gas_units, turnover, trading_cost = 0.0, 0, 0.0, 0.0
    rebalances = proposals = breaches = 0
    reasons: list[str] = []
    last: LastRebalance | None = None
    last_time: int | None = None
    start = path.history_days
    flows: dict[int, float] = {}
    for day, f in path.flows:
        flows[day] = flows.get(day, 0.0) + f
    depositors = Depositors(float(vault.deposit))
    used: list[float] | None = None
    net = [idle]
    weights: list[tuple[float, ...]] = [tuple(0.0 for _ in held)]
    for k in range(start + 1, start + path.days + 1):
        for i, name in enumerate(vault.sleeves):
            held[i] *= path.nav[name][k] / path.nav[name][k - 1]
        if path.flows:
            idle, used = depositors.day(path, vault, k, flows.get(k, 0.0), held, idle)
        units = tuple(math.floor(h) for h in held)
        nav_units = math.floor(idle) + sum(units)
        view = View(path, k, vault, units, nav_units, gas.market(path.base_fee_gwei[k]), last)
        target = policy.target(view) if nav_units > 0 else None
        current = view.current_bps
        if isinstance(target, Refused):
            proposals += 1
            breaches += 1
            reasons.append(f"refused: {target.reason}")
        elif target is not None and turnover_bps(current, target) > 0:
            proposals += 1
            broken = violations(tuple(target), current, vault.bounds)
            if last_time is not None and view.timestamp < last_time + vault.cooldown_seconds:
                broken = ("cooldown",) + broken
            if broken:
                breaches += 1
                reasons.extend(broken)
            else:
                nav = idle + sum(held)
                before = list(held)
                held, idle_after, trade_cost = execute(path, vault, k, held, idle, target, used)
                # value moved, before costs: what left the sleeves sold, what idle paid for
                # the sleeves bought, and idle's net change (as without costs)
                sold = sum(b - a for a, b in zip(held, before, strict=True) if a < b)
                bought = sum(
                    (a - b) / (1.0 - vault.cost(i))
                    for i, (a, b) in enumerate(zip(held, before, strict=True))
                    if a > b
                )
                moved = sold + bought + abs(sold - bought)
                turnover += 0.5 * moved / nav
                trading_cost += trade_cost
                idle = idle_after
                rebalances += 1
                gas_units += gas.gas
                cost = gas.cost_assets(path.base_fee_gwei[k], vault.asset_decimals)
                gas_cost += cost
                depositors.gas_per_share += cost / depositors.shares
                reached = weights_bps([math.floor(h) for h in held], math.floor(nav))
                last = LastRebalance(k, tuple(target), current, reached)
                last_time = view.timestamp
        total = idle + sum(held)
        if path.flows:  # the first depositor's shares: NAV per share, less gas per share
            net.append(vault.deposit * (total / depositors.shares - depositors.gas_per_share))
        else:
            net.append(total - gas_cost)
        # an emptied vault (a run paid out whatever its forced sales' costs left) holds nothing
        weights.append(tuple(h / total if total > 0 else 0.0 for h in held))
    return PathRun(
        policy=policy.name,
        path_id=path.id,
        net_nav=tuple(net),
        gross_end=idle + sum(held),
        rebalances=rebalances,
        proposals=proposals,
        breaches=breaches,
        breach_reasons=tuple(reasons),
        turnover=turnover,
        trading_cost=trading_cost + depositors.trading_cost,
        gas_units=gas_units,
        gas_cost=gas_cost,
        weights=tuple(weights),
        deposited=depositors.deposited,
        redeemed=depositors.redeemed,
        forced_sales=depositors.forced,
        pending_end=depositors.pending * (idle + sum(held)) / depositors.shares,
    )


__all__ = [
    "Depositors",
    "GasCosts",
    "LastRebalance",
    "PathRun",
    "Policy",
    "PolicyFactory",
    "Vault",
    "View",
    "default_gas",
    "execute",
    "local_vault",
    "rebalance_gas",
    "simulate",
]
