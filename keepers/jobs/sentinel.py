"""Sentinel job, decision part: alerts on oracles, the vault and the lending book, and a
hysteretic decision to call `pauseAutomation()`.

Checks, each giving typed `Alert`s:

- oracle staleness: `now - updated_at > staleness_bound` → "oracle-stale" (critical when older
  than `stale_critical_factor` × the bound, warning otherwise);
- oracle deviation: `|new - last| / last` (bps) above `max_deviation_bps` → "oracle-deviation"
  (critical);
- NAV per share drop against the previous reading above `nav_drop_warn_bps` /
  `nav_drop_critical_bps` → "nav-drop";
- the share of lending debt held by unhealthy borrowers (health < 1 WAD) above
  `unhealthy_warn_bps` / `unhealthy_critical_bps` → "unhealthy-debt".

Hysteresis (`SentinelState`, carried from pass to pass by the caller): a pass with a critical
alert counts toward `trip_after` consecutive critical passes, which trip the sentinel; a tripped
sentinel clears only after `clear_after` consecutive passes without critical alerts. So one
blip does not pause, and a flapping signal does not pause/clear/pause. `pause` is true only on
the pass that trips, when the keeper holds the guardian key and automation is not already
paused; without the key it raises a "pause-recommended" critical alert instead. The sentinel
never unpauses (a human guardian does); clearing only re-arms it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from keepers.math import BPS, WAD

Severity = Literal["info", "warning", "critical"]


@dataclass(frozen=True)
class OracleState:
    """One price feed as read: `name`, `updated_at`, `staleness_bound` (seconds),
    `last_price` (the last accepted, WAD), `new_price` (the current reading, WAD) and
    `max_deviation_bps` (0: no deviation check)."""

    name: str
    updated_at: int
    staleness_bound: int
    last_price: int
    new_price: int
    max_deviation_bps: int = 0

    def deviation_bps(self) -> int:
        """`floor(|new - last| · 1e4 / last)`; 0 without a last price."""
        if self.last_price <= 0:
            return 0
        return abs(self.new_price - self.last_price) * BPS // self.last_price


@dataclass(frozen=True)
class VaultHealth:
    """The vault and book as read: `share_price` now and at the previous pass (WAD, assets per
    share; 0 if unknown), `automation_paused`, and the book's `(debt, health)` per borrower."""

    share_price: int
    previous_share_price: int = 0
    automation_paused: bool = False
    borrowers: tuple[tuple[int, int], ...] = ()

    def unhealthy_debt_bps(self) -> int:
        """The share of debt held by borrowers with health < 1 WAD (bps of all debt)."""
        total = sum(d for d, _ in self.borrowers)
        if total == 0:
            return 0
        bad = sum(d for d, h in self.borrowers if h < WAD)
        return bad * BPS // total


@dataclass(frozen=True)
class SentinelSettings:
    has_guardian_key: bool = False
    stale_critical_factor: int = 2
    nav_drop_warn_bps: int = 50
    nav_drop_critical_bps: int = 200
    unhealthy_warn_bps: int = 500
    unhealthy_critical_bps: int = 2_000
    trip_after: int = 2
    clear_after: int = 3

    def __post_init__(self) -> None:
        if self.trip_after < 1 or self.clear_after < 1 or self.stale_critical_factor < 1:
            raise ValueError("trip_after, clear_after and the stale factor must be >= 1")


@dataclass(frozen=True)
class SentinelState:
    """Carried between passes: consecutive critical / clear passes and whether tripped."""

    critical_streak: int = 0
    clear_streak: int = 0
    tripped: bool = False


@dataclass(frozen=True)
class Alert:
    code: str
    severity: Severity
    subject: str
    message: str


@dataclass(frozen=True)
class SentinelVerdict:
    """This pass's alerts (stable order), the state to carry, and whether to send
    `pauseAutomation()` now."""

    alerts: tuple[Alert, ...]
    state: SentinelState
    pause: bool

    @property
    def critical(self) -> bool:
        return any(a.severity == "critical" for a in self.alerts)


def _oracle_alerts(o: OracleState, now: int, settings: SentinelSettings) -> list[Alert]:
    out: list[Alert] = []
    age = now - o.updated_at
    if age > o.staleness_bound:
        critical = age > o.staleness_bound * settings.stale_critical_factor
        out.append(
            Alert(
                "oracle-stale",
                "critical" if critical else "warning",
                o.name,
                f"{o.name} updated {age}s ago, bound {o.staleness_bound}s",
            )
        )
    dev = o.deviation_bps()
    if o.max_deviation_bps and dev > o.max_deviation_bps:
        out.append(
            Alert(
                "oracle-deviation",
                "critical",
                o.name,
                f"{o.name} moved {dev} bps from the last accepted price "
                f"(max {o.max_deviation_bps})",
            )
        )
    return out


def _vault_alerts(v: VaultHealth, settings: SentinelSettings) -> list[Alert]:
    out: list[Alert] = []
    prev = v.previous_share_price
    if prev > 0 and v.share_price < prev:
        drop = (prev - v.share_price) * BPS // prev
        if drop > settings.nav_drop_warn_bps:
            sev: Severity = "critical" if drop > settings.nav_drop_critical_bps else "warning"
            out.append(Alert("nav-drop", sev, "vault", f"share price fell {drop} bps"))
    bad = v.unhealthy_debt_bps()
    if bad > settings.unhealthy_warn_bps:
        sev = "critical" if bad > settings.unhealthy_critical_bps else "warning"
        out.append(Alert("unhealthy-debt", sev, "lending", f"{bad} bps of debt is below health 1"))
    return out


def watch(
    oracles: Iterable[OracleState],
    vault: VaultHealth,
    now: int,
    state: SentinelState | None = None,
    settings: SentinelSettings | None = None,
) -> SentinelVerdict:
    """One sentinel pass at `now` (see the module docstring)."""
    state = state or SentinelState()
    settings = settings or SentinelSettings()
    alerts: list[Alert] = []
    for o in sorted(oracles, key=lambda o: o.name):
        alerts.extend(_oracle_alerts(o, now, settings))
    alerts.extend(_vault_alerts(vault, settings))
    critical = any(a.severity == "critical" for a in alerts)

    if critical:
        streak = state.critical_streak + 1
        trips = not state.tripped and streak >= settings.trip_after
        new = SentinelState(streak, 0, state.tripped or trips)
    else:
        clear = state.clear_streak + 1
        clears = state.tripped and clear >= settings.clear_after
        new = SentinelState(0, clear, state.tripped and not clears)
        if clears:
            alerts.append(
                Alert("sentinel-cleared", "info", "sentinel", f"{clear} clean passes: re-armed")
            )
        trips = False

    pause = False
    if trips and not vault.automation_paused:
        if settings.has_guardian_key:
            pause = True
        else:
            alerts.append(
                Alert(
                    "pause-recommended",
                    "critical",
                    "sentinel",
                    f"{new.critical_streak} critical passes: a guardian should pause automation",
                )
            )
    return SentinelVerdict(tuple(alerts), new, pause)


__all__ = [
    "Alert",
    "OracleState",
    "SentinelSettings",
    "SentinelState",
    "SentinelVerdict",
    "Severity",
    "VaultHealth",
    "watch",
]
