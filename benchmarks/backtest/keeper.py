"""The keeper's strategy as a backtest policy: the rebalancer's own code path.

`KeeperStrategy` runs `keepers.jobs.plan_rebalance` (hence `keepers.strategy.decide`, with its
bounds repair and gas gate, or an agent operator's entry point through `keepers.strategy.kit`)
on a `RebalancerSnapshot` built the way `keepers.shell.rebalancer.run_rebalancer` builds it,
with the keeper's settings (`keepers.config.RebalancerConfig`) mapped by the same
`StrategyParams` construction, and the shell's futile-repeat rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Final

from benchmarks.backtest.generate import DAY_SECONDS, LENDING, RATE_MODEL, SLEEVES, MarketPath
from benchmarks.backtest.simulate import T0, LastRebalance, Refused, Vault, View
from keepers.config import RebalancerConfig
from keepers.jobs import (
    LendingSnapshot,
    RebalanceCall,
    RebalancerSnapshot,
    SleeveSnapshot,
    futile_repeat,
    plan_rebalance,
)
from keepers.math import BPS, WAD
from keepers.strategy import StrategyParams
from keepers.strategy.kit import ProposalRefused

# Borrowers of the lending book as the strategy sees them: five equal debts at the path's
# median health times these factors, with the value-weighted liquidation threshold of a
# tbill/gold/invoices mix (8,500 / 7,500 / 7,000 bps in local.yaml, weighted 1/3 each).
HEALTH_SPREAD: Final = (0.85, 0.95, 1.0, 1.15, 1.4)
BOOK_THRESHOLD_BPS: Final = 7_667


# ------------------------------------------------------------------ the keeper's strategy


def rebalancer_params(cfg: RebalancerConfig, gas: int | None = None) -> StrategyParams:
    """`StrategyParams` from the keeper's `rebalancer` settings, built by the same
    `RebalancerConfig.strategy_params` the keeper uses (`gas` overrides the gate's
    `rebalancer.rebalance_gas`)."""
    if gas is not None:
        cfg = cfg.model_copy(update={"rebalance_gas": gas})
    return cfg.strategy_params()


def strategy_costs(params: StrategyParams, cfg: RebalancerConfig, vault: Vault) -> StrategyParams:
    """`params` pricing the sleeves at the simulator's own trading costs (`vault`, from
    benchmarks/backtest/costs.py or `--trading-cost-bps`), so that what the strategy assumes and
    what the simulator charges cannot drift apart; unchanged when the strategy prices no sleeve
    (the flat cost) or `rebalancer.trading_cost_bps` was set explicitly (`--set`)."""
    if not params.optimiser.sleeve_cost_bps or "trading_cost_bps" in cfg.model_fields_set:
        return params
    charged = vault.trading_cost_bps or (0.0,) * len(vault.sleeves)  # (): the vault charges 0
    costs = tuple(sorted(zip(vault.sleeves, map(float, charged), strict=True)))
    return replace(params, optimiser=replace(params.optimiser, sleeve_cost_bps=costs))


def oracle_deviation_bps(path: MarketPath, sleeve: str, k: int) -> int:
    """A priced sleeve's move against the last accepted price (yesterday's), in bps."""
    nav = path.nav[sleeve]
    return round(abs(nav[k] / nav[k - 1] - 1) * BPS)


@dataclass
class KeeperStrategy:
    """The rebalancer's decision path on the simulated vault (see the module docstring)."""

    path: MarketPath
    vault: Vault
    config: RebalancerConfig = field(default_factory=RebalancerConfig)
    name: str = "strategy"
    override: StrategyParams | None = None  # select.py: replaces the settings' parameters
    skipped: dict[str, int] = field(default_factory=dict)  # NoAction codes, and "futile"
    acted: dict[str, int] = field(default_factory=dict)  # "benefit", "forced", "risk-off"

    def __post_init__(self) -> None:
        self.params = strategy_costs(
            self.override or rebalancer_params(self.config), self.config, self.vault
        )
        # returnIndex readings as the chain holds them (WAD integers, at least 1 wei), one per day.
        self._index = {n: tuple(max(round(v * WAD), 1) for v in self.path.nav[n]) for n in SLEEVES}
        self._stamps = tuple(T0 + d * DAY_SECONDS for d in range(self.path.length))

    def snapshot(self, view: View) -> RebalancerSnapshot:
        k, path = view.k, self.path
        first = max(0, k + 1 - self.config.history)
        stamps = self._stamps[first : k + 1]
        collateral = max(oracle_deviation_bps(path, s, k) for s in ("tbill", "gold", "invoices"))
        sleeves = []
        for i, name in enumerate(self.vault.sleeves):
            values = self._index[name][first : k + 1]
            book = None
            if name == LENDING:
                book = self._book(view, view.held[i])
            sleeves.append(
                SleeveSnapshot(
                    name=name,
                    held=view.held[i],
                    cap_bps=self.vault.caps_bps[i],
                    index_timestamps=stamps,
                    index_values=values,
                    oracle_deviation_bps=(
                        collateral if name == LENDING else oracle_deviation_bps(path, name, k)
                    ),
                    lending=book,
                )
            )
        return RebalancerSnapshot(
            timestamp=view.timestamp,
            nav=view.nav,
            asset_decimals=self.vault.asset_decimals,
            sleeves=tuple(sleeves),
            idle_buffer_bps=self.vault.idle_buffer_bps,
            max_turnover_bps=self.vault.max_turnover_bps,
            gas=view.gas,
        )

    def _book(self, view: View, held: int) -> LendingSnapshot:
        """The book: the vault is its only lender, so it holds `held`; with nothing lent yet,
        the book other lenders would show (1 % of NAV) gives the rate and utilization."""
        size = max(held, view.nav // 100, 1)
        u = self.path.utilization[view.k]
        debt = round(size * u)
        health = self.path.health[view.k]
        share = debt // len(HEALTH_SPREAD)
        borrowers = tuple(
            (share, round(health * f * WAD), BOOK_THRESHOLD_BPS) for f in HEALTH_SPREAD
        )
        return LendingSnapshot(size - debt, debt, RATE_MODEL, borrowers if share else ())

    @staticmethod
    def _futile(k: int, target: Sequence[int], last: LastRebalance | None) -> bool:
        """The shell's rule (`keepers.jobs.futile_repeat`) on the last rebalance, days apart."""
        if last is None:
            return False
        moved = sum(abs(n - o) for n, o in zip(last.new_bps, last.old_bps, strict=True))
        decided_at, now = last.day * DAY_SECONDS, k * DAY_SECONDS
        return futile_repeat(last.target_bps, target, decided_at, now, moved)

    def target(self, view: View) -> tuple[int, ...] | Refused | None:
        try:
            call = plan_rebalance(self.snapshot(view), self.params, strategy=self.config.strategy)
        except ProposalRefused as err:  # the keeper would refuse it: a breach, not a hold
            self.skipped["refused"] = self.skipped.get("refused", 0) + 1
            return Refused(str(err))
        if not isinstance(call, RebalanceCall):
            self.skipped[call.code] = self.skipped.get(call.code, 0) + 1
            return None
        if self._futile(view.k, call.target_bps, view.last):
            self.skipped["futile"] = self.skipped.get("futile", 0) + 1
            return None
        kind = "risk-off" if call.decision.risk_off else "benefit"
        if kind == "benefit" and "forced move" in call.decision.reason:
            kind = "forced"  # current weights break a bound (e.g. a sleeve drifted over its cap)
        self.acted[kind] = self.acted.get(kind, 0) + 1
        return call.target_bps
