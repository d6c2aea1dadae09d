"""Sentinel job, decision part: alerts on oracles, the vault and the lending book, and a
hysteretic decision to call `pauseAutomation()`.

Checks, each giving typed `Alert`s:

- oracle staleness: `now - updated_at > staleness_bound` → "oracle-stale" (critical when older
  than `stale_critical_factor` × the bound, warning otherwise);
- oracle answer unusable: the feed publishes (its round is not stale) but answers zero or less,
  which the router refuses → "oracle-invalid" (critical): `tryPrice` then falls back on the
  reference, so neither the staleness nor the deviation check would ever see it, while strikes,
  borrowing and liquidations against that token wait;
- oracle clock: the feed's latest round is stamped after the block it is read in →
  "oracle-future" (critical): the router's staleness check (`now > updatedAt + maxStaleness`)
  can then never fire, so a feed that stops (a pusher writing milliseconds, a clock bug) stays
  "fresh" for good and strikes settle at its last price;
- oracle deviation: `|new - last| / last` (bps) above `max_deviation_bps` → "oracle-deviation"
  (critical). `last` is the router's reference, which no poke can reset: a move beyond the band
  becomes the reference only after it held for `oracle.confirmDelay` (the alert says since when
  the router has it pending), so an outsider's poke cannot hide a shock from this check;
- NAV per share drop against the previous reading above `nav_drop_warn_bps` /
  `nav_drop_critical_bps` → "nav-drop", the share price read with each sleeve's unconfirmed
  rise beyond the band valued at the router's reference (`watched_share_price`: a bad upward
  print that falls back is no drop);
- the share of lending debt held by unhealthy borrowers (health < 1 WAD) above
  `unhealthy_warn_bps` / `unhealthy_critical_bps` → "unhealthy-debt".

Hysteresis (`SentinelState`, carried from pass to pass by the caller): a pass with a critical
alert counts toward `trip_after` consecutive critical passes, which trip the sentinel — except a
NAV drop of at least `nav_drop_trip_bps` (default: twice `nav_drop_critical_bps`), which trips on
that single pass: a drop is measured against the previous pass, so it shows on one pass only and
could otherwise never trip; a tripped
sentinel clears only after `clear_after` consecutive passes without critical alerts. So one
blip does not pause, and a flapping signal does not pause/clear/pause. `pause` is true only on
the pass that trips, when the keeper holds the guardian key and automation is not already
paused; without the key it raises a "pause-recommended" critical alert instead. The sentinel
never unpauses (a human guardian does); clearing only re-arms it, and so does its own pause not
holding while automation is unpaused (`rearm_if_pause_undone`: dropped by the pool, undone by a
reorg), so the next critical pass trips and pauses again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from keepers.math import BPS, WAD

Severity = Literal["info", "warning", "critical"]


@dataclass(frozen=True)
class OracleState:
    """One price feed as read: `name`, `updated_at`, `staleness_bound` (seconds),
    `last_price` (the router's reference: the last accepted price, WAD), `new_price` (the current
    reading, WAD), `max_deviation_bps` (0: no deviation check), and the router's pending move
    beyond the band: `pending_price` (0: none), first seen at `pending_since`, confirmable
    `confirm_delay` seconds later; `answer_valid` false when the feed's latest answer is zero or
    less (the router refuses it, `new_price` is then the router's fallback)."""

    name: str
    updated_at: int
    staleness_bound: int
    last_price: int
    new_price: int
    max_deviation_bps: int = 0
    pending_price: int = 0
    pending_since: int = 0
    confirm_delay: int = 0
    accepted_at: int = 0  # when the reference was accepted (0: never)
    answer_valid: bool = True  # the feed's latest answer is positive

    def deviating(self) -> bool:
        """The current reading is beyond `max_deviation_bps` of the reference, judged as the
        router judges it (`OracleRouter._deviationBps` rounds the deviation up): exactly when the
        router's `priceBand` is open and a strike waits on the move."""
        if not self.max_deviation_bps or self.last_price <= 0:
            return False
        diff = abs(self.new_price - self.last_price) * BPS
        return -(-diff // self.last_price) > self.max_deviation_bps

    def pending_on_same_side(self) -> bool:
        """The router already holds a pending move on the current reading's side of the
        reference (so a poke only confirms it, once `confirm_delay` has passed)."""
        if self.pending_price <= 0 or self.last_price <= 0:
            return False
        return (self.pending_price < self.last_price) == (self.new_price < self.last_price)

    def confirmable(self, now: int) -> bool:
        """A pending move on this side that a poke at `now` would confirm: as far as it held,
        the less extreme of the pending and the current price becomes the reference."""
        return self.pending_on_same_side() and now >= self.pending_since + self.confirm_delay

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
    nav_drop_trip_bps: int | None = None  # None: 2 × nav_drop_critical_bps

    def __post_init__(self) -> None:
        if self.trip_after < 1 or self.clear_after < 1 or self.stale_critical_factor < 1:
            raise ValueError("trip_after, clear_after and the stale factor must be >= 1")
        trip = self.nav_drop_trip_bps
        if trip is not None and trip <= self.nav_drop_critical_bps:
            raise ValueError("nav_drop_trip_bps must be above nav_drop_critical_bps")

    @property
    def nav_trip_bps(self) -> int:
        """The NAV drop (bps against the previous pass) that trips on a single pass."""
        if self.nav_drop_trip_bps is None:
            return 2 * self.nav_drop_critical_bps
        return self.nav_drop_trip_bps


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
    if age < 0:
        out.append(
            Alert(
                "oracle-future",
                "critical",
                o.name,
                f"{o.name} round stamped {-age}s after the block: the router can never call it "
                "stale",
            )
        )
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
    if not o.answer_valid:
        out.append(
            Alert(
                "oracle-invalid",
                "critical",
                o.name,
                f"{o.name} answers zero or less: the router refuses it (strikes, borrowing and "
                "liquidations against it wait)",
            )
        )
    dev = o.deviation_bps()
    if o.deviating():
        if o.pending_on_same_side():
            ready = o.pending_since + o.confirm_delay
            pending = f"; pending at the router since {o.pending_since}, confirmable at {ready}"
        else:
            pending = ""
        out.append(
            Alert(
                "oracle-deviation",
                "critical",
                o.name,
                f"{o.name} moved {dev} bps from the router's reference "
                f"(max {o.max_deviation_bps}){pending}",
            )
        )
    return out


def watched_share_price(
    share_price: int, nav: int, held: Mapping[str, int], oracles: Iterable[OracleState]
) -> int:
    """The share price the NAV-drop check watches: `share_price` (NAV per share, every sleeve at
    its live price) with each priced sleeve's rise beyond the band that the router has not
    accepted taken out, that sleeve valued at the router's reference (`held`: each sleeve's
    value at the live price, by its feed's name; `nav`: the NAV `share_price` is of): the price
    a leaver is paid, the band's low. Nobody is paid at such a rise (a strike waits on it), so a
    bad upward print falling back to the reference is no fall (valued at the band's edge
    instead, its fall back would be a critical drop on the pass after the print's own critical
    one: two in a row, a pause); a fall counts at once (the live price is the band's low), and
    a rise the router accepted falls as any price does."""
    if nav <= 0:
        return share_price
    excess = 0
    for o in oracles:
        value = held.get(o.name, 0)
        if value > 0 and o.new_price > o.last_price and o.deviating():
            excess += value * (o.new_price - o.last_price) // o.new_price
    return share_price * (nav - min(excess, nav)) // nav


def nav_drop_bps(v: VaultHealth) -> int:
    """The share price's fall since the previous pass, bps (0 when unknown or up)."""
    prev = v.previous_share_price
    if prev <= 0 or v.share_price >= prev:
        return 0
    return (prev - v.share_price) * BPS // prev


def _vault_alerts(v: VaultHealth, settings: SentinelSettings) -> list[Alert]:
    out: list[Alert] = []
    drop = nav_drop_bps(v)
    if drop > settings.nav_drop_warn_bps:
        sev: Severity = "critical" if drop > settings.nav_drop_critical_bps else "warning"
        at_once = sev == "critical" and drop >= settings.nav_trip_bps
        note = f" (>= {settings.nav_trip_bps}: trips at once)" if at_once else ""
        out.append(Alert("nav-drop", sev, "vault", f"share price fell {drop} bps{note}"))
    bad = v.unhealthy_debt_bps()
    if bad > settings.unhealthy_warn_bps:
        sev = "critical" if bad > settings.unhealthy_critical_bps else "warning"
        out.append(Alert("unhealthy-debt", sev, "lending", f"{bad} bps of debt is below health 1"))
    return out


@dataclass(frozen=True)
class PokePlan:
    """A `poke(token)` the sentinel sends for feed `name`, and why."""

    name: str
    reason: str


def plan_pokes(oracles: Iterable[OracleState], now: int, tripped: bool) -> tuple[PokePlan, ...]:
    """The pokes that keep the router's reference meaningful, for feeds read fresh at `now`
    (the router refuses a stale or invalid price), in name order:

    - a deviating feed with no pending move on its side: poke, so the router records it and its
      `oracle.confirmDelay` clock starts (the reference stays: this pass already saw the move);
    - a deviating feed whose pending move is confirmable: poke only once tripped (the move was
      reported, and paused on with the key), so the sentinel never accepts a shock it has not
      alarmed on;
    - a feed back within the band with a move pending: poke, so the router drops it (a move is
      confirmed only if it holds);
    - a feed within the band whose reference is older than both its staleness bound and the
      confirmation delay: a heartbeat, so a deviation means a recent move, not slow drift.
    """
    out: list[PokePlan] = []
    for o in sorted(oracles, key=lambda o: o.name):
        if o.new_price <= 0 or not o.answer_valid or now - o.updated_at > o.staleness_bound:
            continue
        if o.deviating():
            if not o.pending_on_same_side():
                out.append(PokePlan(o.name, "record the move"))
            elif tripped and o.confirmable(now):
                out.append(PokePlan(o.name, "confirm the reported move"))
        elif o.pending_price > 0:
            out.append(PokePlan(o.name, "drop the move that did not hold"))
        else:
            age = now - o.accepted_at
            if age > o.staleness_bound and age >= o.confirm_delay:
                out.append(PokePlan(o.name, "heartbeat"))
    return tuple(out)


def move_stages(sleeve_oracles: Iterable[OracleState], now: int) -> list[tuple[OracleState, str]]:
    """Each feed read fresh at `now` whose price is beyond the band (its `priceBand` open: a
    strike and an evaluation wait on it), in name order, with its stage: "unrecorded" (no pending
    move on its side), "confirmable" or "pending". A feed read stale or invalid is left out (the
    router refuses to poke it; the stale rule applies)."""
    out: list[tuple[OracleState, str]] = []
    for o in sorted(sleeve_oracles, key=lambda o: o.name):
        if o.new_price <= 0 or now - o.updated_at > o.staleness_bound or not o.deviating():
            continue
        if not o.pending_on_same_side():
            out.append((o, "unrecorded"))
        else:
            out.append((o, "confirmable" if o.confirmable(now) else "pending"))
    return out


def confirmation_pokes(
    sleeve_oracles: Iterable[OracleState], now: int, waiting: str
) -> tuple[PokePlan, ...]:
    """The `poke`s that close the open bands `waiting` (a strike, an evaluation) waits on, in name
    order: record an unrecorded move (its `oracle.confirmDelay` clock starts), confirm a
    confirmable one; a move still pending needs nothing until its delay has passed."""
    verbs = {"unrecorded": "record", "confirmable": "confirm"}
    return tuple(
        PokePlan(o.name, f"{verbs[stage]} the move {waiting} waits on")
        for o, stage in move_stages(sleeve_oracles, now)
        if stage in verbs
    )


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
    # A drop shows on the one pass that sees it (the next compares with the fallen price).
    drop = nav_drop_bps(vault)
    nav_shock = drop > settings.nav_drop_critical_bps and drop >= settings.nav_trip_bps

    if critical:
        streak = state.critical_streak + 1
        trips = not state.tripped and (streak >= settings.trip_after or nav_shock)
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
                    f"{new.critical_streak} critical passes"
                    f"{' (a critical NAV drop)' if nav_shock else ''}: "
                    "a guardian should pause automation",
                )
            )
    return SentinelVerdict(tuple(alerts), new, pause)


PAUSE_HELD = frozenset({"mined", "sent"})
"""Statuses of the key's own last `pauseAutomation` record under which its pause still stands
(or may: `sent` is in flight)."""


def rearm_if_pause_undone(
    state: SentinelState, automation_paused: bool, last_pause: str | None
) -> SentinelState:
    """`state`, armed again when it is tripped, the vault's automation is not paused and the
    key's own last pause did not hold (`last_pause`, its record's status: dropped by the pool,
    undone by a reorg or a node restarted from an older state, reverted, replaced; None: the key
    never sent one). The sentinel pauses only on the pass that trips, so without this a tripped
    sentinel whose pause vanished left the vault unpaused for as long as the alarm lasted; a
    pause that held and that a guardian lifted by hand (its record mined) stays lifted."""
    if (
        state.tripped
        and not automation_paused
        and last_pause is not None
        and last_pause not in PAUSE_HELD
    ):
        return SentinelState(state.critical_streak, state.clear_streak, False)
    return state


__all__ = [
    "PAUSE_HELD",
    "Alert",
    "OracleState",
    "PokePlan",
    "SentinelSettings",
    "SentinelState",
    "SentinelVerdict",
    "Severity",
    "VaultHealth",
    "nav_drop_bps",
    "confirmation_pokes",
    "move_stages",
    "plan_pokes",
    "rearm_if_pause_undone",
    "watch",
    "watched_share_price",
]
