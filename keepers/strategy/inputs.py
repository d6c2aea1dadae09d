"""What the strategy decides from (`StrategyInputs`, read from the chain by the caller) and how
(`StrategyParams`, the agent operator's choices). Plain frozen data; no chain I/O here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from keepers.math import BPS
from keepers.strategy.forecast import ForecastParams, LendingBookState, ReturnHistory
from keepers.strategy.gate import GasMarket, GateParams
from keepers.strategy.optimiser import OptimiserParams
from keepers.strategy.rationale import OMIT_AT_DEFAULT
from keepers.strategy.risk import RiskOffParams

DAY: Final = 86_400


@dataclass(frozen=True)
class SleeveState:
    """One sleeve, in the vault's sleeve order.

    `current_bps`: its weight as `VaultMath.weights` computes it (`bounds.weights_bps`);
    `cap_bps`: `vault.maxSleeveBps.<name>`; `history`: its `returnIndex()` readings;
    `lending`: the book, for the lending sleeve only; `oracle_deviation_bps`: the largest move,
    against the last accepted price, of a price the sleeve is valued with (0 when none).
    """

    name: str
    current_bps: int
    cap_bps: int
    history: ReturnHistory
    lending: LendingBookState | None = None
    oracle_deviation_bps: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.current_bps <= BPS or not 0 <= self.cap_bps <= BPS:
            raise ValueError(f"sleeve {self.name}: weights must be within [0, 10000] bps")


@dataclass(frozen=True)
class StrategyInputs:
    """The vault as the keeper read it at `timestamp` (block `block`; 0 off chain): `nav`
    (`totalAssets()`, asset units), the asset's decimals, the sleeves, `vault.idleBufferBps`,
    `vault.maxTurnoverBps` and gas; `agent`, the address the keeper decides for (checksummed;
    "" off chain and in receipts written before it: left out of the document then), so a
    receipt vouches for its own agent's decision only (`verify-decision --replay`)."""

    timestamp: int
    nav: int
    asset_decimals: int
    sleeves: tuple[SleeveState, ...]
    idle_buffer_bps: int
    max_turnover_bps: int
    gas: GasMarket
    block: int = 0
    agent: str = field(default="", metadata={OMIT_AT_DEFAULT: True})

    def __post_init__(self) -> None:
        if sum(s.current_bps for s in self.sleeves) > BPS:
            raise ValueError("current sleeve weights sum above 10000 bps")
        names = [s.name for s in self.sleeves]
        if len(set(names)) != len(names):
            raise ValueError("sleeve names must be unique")
        if self.nav < 0 or not 0 <= self.asset_decimals <= 255:  # ERC-20 decimals: a uint8
            raise ValueError("nav must be non-negative and decimals within [0, 255]")

    @property
    def current_bps(self) -> tuple[int, ...]:
        return tuple(s.current_bps for s in self.sleeves)

    @property
    def caps_bps(self) -> tuple[int, ...]:
        return tuple(s.cap_bps for s in self.sleeves)


@dataclass(frozen=True)
class StrategyParams:
    """The agent's choices: `horizon_seconds` (the gain and risk horizon; align it with
    `agent.evalWindow`, over which the decision is judged), `turnover_headroom_bps` (kept below
    `vault.maxTurnoverBps`, so that weights drifting a few bps before the transaction lands do not
    make it revert), `drift_tolerance_bps` (current weights past a cap or the idle buffer by at
    most this much, as prices drift, do not force a move past the gas gate; further, they do),
    `exit_rebalances` (settlement awareness, `pipeline.settlement_bounds`: a sleeve showing
    credit losses is held to what `exit_rebalances` rebalances at the turnover limit could take
    out before its issuer gates; 0: off), `holding_seconds` (how long a position is expected to
    be held: the trading cost of a move is paid once, its gain accrues for that long, so the
    optimiser and the gate charge the cost's share `min(1, horizon / holding)` against the
    horizon's gain, `one_off_share`; equal to the horizon: the whole cost), and each stage's
    parameters."""

    horizon_seconds: int = 7 * DAY
    turnover_headroom_bps: int = 5
    drift_tolerance_bps: int = 100
    exit_rebalances: int = 0
    # 90 days: chosen on the train families (benchmarks/backtest/select.py, selection-train.json)
    holding_seconds: int = 90 * DAY
    forecast: ForecastParams = field(default_factory=ForecastParams)
    risk: RiskOffParams = field(default_factory=RiskOffParams)
    optimiser: OptimiserParams = field(default_factory=OptimiserParams)
    gate: GateParams = field(default_factory=GateParams)

    def __post_init__(self) -> None:
        if self.horizon_seconds <= 0 or self.turnover_headroom_bps < 0:
            raise ValueError("horizon must be positive and headroom non-negative")
        if self.holding_seconds <= 0:
            raise ValueError("the holding period must be positive")
        if self.exit_rebalances < 0:
            raise ValueError("exit rebalances must be non-negative")
        if self.drift_tolerance_bps < 0:
            raise ValueError("the drift tolerance must be non-negative")


def one_off_share(params: StrategyParams) -> float:
    """The share of a move's one-off trading cost charged against the gain of one decision
    horizon: `min(1, horizon / holding)` (the cost is paid once; the move's gain accrues over
    the holding period, horizon after horizon)."""
    return min(1.0, params.horizon_seconds / params.holding_seconds)
