"""Settler job, decision part (formerly the redeemer): whether to `strike()` and which claims to
send for users.

The vault settles ERC-7540 requests at NAV strikes that anyone may call. `RWAVault.strikeTrigger()`
returns `(true, abi.encodeCall(strike, ()))` when a strike would settle something, else `(false,
bytes(reason))` ("no request", "no request window past a published price"). `decode_strike_trigger`
checks the call data is exactly `strike()`; `plan_strike` turns a true trigger into a `StrikeCall`
carrying that call data (the shell sends it as is; the contract re-checks everything, so a settler
that read a stale trigger loses a race, it does no harm) — except when the strike could change
nothing anyone holds: no deposit pending and no liquidity at all (`liquidity()` = 0, say every
sleeve frozen). The trigger stays true while filled-in-part redemptions wait in the queue, so
without this rule a settler would pay for an empty strike on every block of an issuer freeze; the
first block with liquidity or a deposit strikes again. Likewise a strike for redemptions only
waits while the liquidity it could pay is below what the strike's gas costs (`strike_gas` at the
gas market, in asset units) and below what the queued redemptions are worth: the trigger is true
for a single wei of liquidity, so anyone sending the vault a wei of the asset (about 34,000 gas)
made the settler pay for a strike (about 210,000 gas) that paid out that wei, block after block.

Claims are a service, without custody: ERC-7540 claims may only be sent by the controller or
its operator, and an operator may do everything the controller can. So depositors make the
vault's `ClaimRelay` their operator, never a keeper's key: its one action, `claim(controller)`,
takes the whole of the controller's settled deposits and filled redemptions and pays them to the
controller, for anyone who calls it. Any settler can serve every such controller. `plan_claims`
takes what each may claim now (`maxDeposit`, `maxRedeem`) and plans one `ClaimCall` a controller
with something to claim:

- a controller whose `isOperator(controller, relay)` is false is skipped (revoked);
- a controller whose claim was refused (the vault's reason — off the allowlist with only
  settled shares, blacklisted by the stablecoin — or the keeper's own, a fee cap, a node's
  rejection) waits before it is tried again, 1 hour after a first refusal, doubling to at most a
  day (`RefusedClaim`, `next_refusal`), or until what it may claim changes: it never holds a
  `max_claims` slot on every pass, and a cause that clears is noticed within a day;
- nothing claimable: no call, no skip;
- at most `max_claims` calls per pass (gas bound); the rest wait for the next pass;
- a base fee above `max_base_fee_wei` postpones claims (never the strike: exits must not wait on
  the settler's fee policy longer than on anyone else calling `strike()`).

A strike settles nothing on a price nobody has confirmed: while a sleeve's price is beyond
`oracle.maxDeviationBps` of the router's reference, the sleeve reports itself not fresh and the
windows wait (IRWAVault). `plan_confirmations` lets them settle: while requests wait, it pokes the
router for every sleeve feed beyond the band, to record the move (its `oracle.confirmDelay` clock
starts) and, once the delay has passed, to confirm it. The sentinel confirms a move only after it
tripped on it; exits must not wait on the sentinel's judgement, and the delay gave it the time to
see the move.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from eth_utils import keccak

from keepers.jobs.sentinel import OracleState, PokePlan, confirmation_pokes, move_stages

NO_REQUEST: Final = "no request"  # strikeTrigger's reason when nothing waits
STRIKE_SELECTOR: Final = keccak(text="strike()")[:4]
# IRWAVault.StrikeNotReady(blocker, at, cutoff, staleReadyAt): what a strike now would wait on
STRIKE_NOT_READY: Final = keccak(text="StrikeNotReady(address,uint256,uint256,uint256)")[:4]


@dataclass(frozen=True)
class StrikeTrigger:
    """`strikeTrigger()` decoded: `data` (the `strike()` call data) when `ok`, else `reason`."""

    ok: bool
    data: bytes = b""
    reason: str = ""


def decode_strike_trigger(ok: bool, data: bytes) -> StrikeTrigger:
    """Decode the trigger's `(bool, bytes)`; call data other than `strike()` raises ValueError."""
    data = bytes(data)
    if not ok:
        return StrikeTrigger(False, b"", data.decode("utf-8", errors="replace"))
    if data != STRIKE_SELECTOR:
        raise ValueError(f"not a strike() call: 0x{data.hex()}")
    return StrikeTrigger(True, data)


@dataclass(frozen=True)
class SettlerSettings:
    """`strike`: send strikes; `claim`: claim for controllers that made the relay their operator;
    `max_claims`: most claims per pass; `max_base_fee_wei`: above it claims wait (None: no
    ceiling); `strike_gas`: the gas a strike is expected to use (a redemptions-only strike
    waits for liquidity worth at least that gas, `plan_strike`)."""

    strike: bool = True
    claim: bool = True
    max_claims: int = 20
    max_base_fee_wei: int | None = None
    strike_gas: int = 250_000

    def __post_init__(self) -> None:
        if self.max_claims < 1:
            raise ValueError("max_claims must be >= 1")
        if self.strike_gas < 0:
            raise ValueError("strike_gas must be >= 0")


@dataclass(frozen=True)
class StrikeCall:
    """Send `data` (exactly the trigger's `strike()` call data) to the vault."""

    data: bytes


@dataclass(frozen=True)
class SettleSkip:
    reason: str


def plan_strike(
    trigger: StrikeTrigger,
    settings: SettlerSettings | None = None,
    *,
    liquidity: int | None = None,
    pending_deposits: int | None = None,
    gas_cost: int | None = None,
    queued: int | None = None,
) -> StrikeCall | SettleSkip:
    """The strike to send this block, or why not (`liquidity`: the vault's view;
    `pending_deposits`: the deposits of a closed window waiting, `VaultSnapshot.closed_deposits`
    — one in the open window settles at no strike yet, so it never makes a strike worth its gas;
    `gas_cost`: the strike's gas in asset units; `queued`: what the redemptions waiting are
    worth, in asset units; None when a read failed, which never stops a strike). With no such
    deposit pending, a strike waits while the liquidity is below `gas_cost` and does not cover
    `queued` (module docstring): it would pay out less than it costs."""
    settings = settings or SettlerSettings()
    if not settings.strike:
        return SettleSkip("strikes disabled")
    if not trigger.ok:
        return SettleSkip(trigger.reason or "trigger false")
    if liquidity == 0 and pending_deposits == 0:
        return SettleSkip("no liquidity and no deposit pending: queued redemptions wait")
    if (
        pending_deposits == 0
        and liquidity is not None
        and gas_cost is not None
        and liquidity < gas_cost
        and (queued is None or liquidity < queued)
    ):
        return SettleSkip(
            f"liquidity {liquidity} below the strike's gas ({gas_cost}) and no deposit "
            "pending: queued redemptions wait"
        )
    return StrikeCall(trigger.data)


def futile_strike(
    block: int,
    before: tuple[int | None, int | None],
    after: tuple[int, int] | None,
) -> str | None:
    """Why a strike at `block` is not sent: run there (an `eth_call` of `strike()` followed, in
    the same call, by the vault's `pendingRedemptions()` and `pendingDeposits()`: `after`), it
    left both as they were read at that block (`before`): it settles no deposit and fills none
    of the queued redemptions. A sleeve whose issuer pays nothing while its `maxRedeem` says it
    can keeps the vault's `liquidity()` and `strikeTrigger()` true for the redemptions queued
    behind it, and each such strike cost gas for nothing. None: strike — when `after` is
    unknown (the simulated strike reverted or a read failed: the sender's own simulation then
    says why), when either changed, or when a read of `before` failed. The caller never
    simulates while a deposit of a closed window waits: a strike settles it."""
    if after is None or None in before or after != before:
        return None
    return (
        f"run at block {block} (eth_call), a strike would fill none of the {before[0]} shares "
        "queued for redemption and settle no deposit (a sleeve's issuer pays nothing though "
        "liquidity() counts it): nothing sent until one would; anyone may still strike"
    )


def strike_wait(blocker: str | None, at: int, cutoff: int, stale_ready_at: int) -> str:
    """What a strike waits on, one phrase, from the vault's `StrikeNotReady(blocker, at, cutoff,
    staleReadyAt)` (`blocker`: the sleeve's name, None when no sleeve is in the way: the oldest
    window waiting is still open): the sleeve valued at a price older than the oldest waiting
    window's cut-off (a feed late or stopped) or not fresh (its own price, or for the lending
    book a collateral's, stale or moved unconfirmed), and when its redemptions settle
    without it (`vault.strikeMaxWait` after the cut-off and the sleeve's last price, valued at
    that price less `vault.staleHaircutBps`); deposits wait for a fresh price."""
    if blocker is None:
        return f"the oldest request window waiting closes at {cutoff}"
    if at >= cutoff:  # a stale price of its own or of a collateral, or a move not confirmed
        head = f"waits on {blocker}: its valuation is not fresh (a price stale or moved "
        head += f"unconfirmed; published at {at})"
    else:
        head = f"waits on {blocker}: its valuation uses a price published at {at}, before the "
        head += f"cut-off {cutoff}"
    if stale_ready_at == 0:
        return f"{head}; deposits wait for a fresh price"
    return (
        f"{head}; redemptions settle without it from {stale_ready_at} (vault.strikeMaxWait), at "
        "its last price less vault.staleHaircutBps"
    )


def waiting_reason(reason: str, wait: str | None) -> str:
    """The trigger's `reason` and, when read, what the strike waits on (`strike_wait`): one
    phrase, the settler's skipped line ("strike: <this>") and the status dashboard's strike
    trigger ("not now: <this>") alike."""
    return f"{reason}: {wait}" if wait else reason


def requests_wait(trigger: StrikeTrigger) -> bool:
    """Requests wait and no strike can settle them now (the trigger is false for a reason other
    than "no request"): a price, stale or unconfirmed, is in the way."""
    return not trigger.ok and trigger.reason != NO_REQUEST


def plan_confirmations(
    trigger: StrikeTrigger, sleeve_oracles: Sequence[OracleState], now: int
) -> tuple[PokePlan, ...]:
    """The `poke`s that let waiting requests settle (module docstring), for the sleeves' feeds as
    read at `now`, in name order; none while the trigger is true or nothing waits."""
    if not requests_wait(trigger):
        return ()
    return confirmation_pokes(sleeve_oracles, now, "a strike")


def unconfirmed_moves(sleeve_oracles: Sequence[OracleState], now: int) -> tuple[str, ...]:
    """What a waiting strike waits on among the sleeves' feeds read fresh at `now`, one phrase a
    feed beyond the band, in name order (the status dashboard shows them): the move, and whether
    a poke now records it, confirms it, or when it becomes confirmable."""
    out: list[str] = []
    for o, stage in move_stages(sleeve_oracles, now):
        moved = f"{o.name} moved {o.deviation_bps()} bps from the reference"
        if stage == "unrecorded":
            out.append(f"{moved}, not recorded: poke it")
        elif stage == "confirmable":
            out.append(f"{moved}, confirmable now: poke it")
        else:
            out.append(f"{moved}, confirmable at {o.pending_since + o.confirm_delay}")
    return tuple(out)


@dataclass(frozen=True)
class ControllerClaims:
    """What `controller` may claim now and whether the relay is still its operator."""

    controller: str
    is_operator: bool
    max_deposit: int  # assets of settled deposits (`maxDeposit(controller)`)
    max_redeem: int  # shares of filled redemptions (`maxRedeem(controller)`)


@dataclass(frozen=True)
class ClaimCall:
    """`relay.claim(controller)`: its settled deposits (`deposit_assets` → their shares) and filled
    redemptions (`redeem_shares` → their assets), as read, all paid to `controller`."""

    controller: str
    deposit_assets: int
    redeem_shares: int


@dataclass(frozen=True)
class ClaimPlan:
    calls: tuple[ClaimCall, ...]
    skipped: tuple[str, ...]


REFUSAL_WAIT: Final = 3_600  # seconds before a refused claim is tried again, doubling
REFUSAL_WAIT_CAP: Final = 86_400


@dataclass(frozen=True)
class RefusedClaim:
    """A controller's refused claim: what it could claim then, the `attempts` refused in a row
    for those amounts, and the time from which it is tried again."""

    max_deposit: int
    max_redeem: int
    retry_at: int
    attempts: int = 1


def next_refusal(previous: RefusedClaim | None, call: ClaimCall, now: int) -> RefusedClaim:
    """The back-off after `call` was refused at `now`: the wait doubles with each refusal of the
    same amounts (from REFUSAL_WAIT to at most REFUSAL_WAIT_CAP) and starts over when they
    changed."""
    same = previous is not None and (previous.max_deposit, previous.max_redeem) == (
        call.deposit_assets,
        call.redeem_shares,
    )
    attempts = previous.attempts + 1 if same and previous is not None else 1
    wait = min(REFUSAL_WAIT * 2 ** min(attempts - 1, 16), REFUSAL_WAIT_CAP)
    return RefusedClaim(call.deposit_assets, call.redeem_shares, now + wait, attempts)


def plan_claims(
    claims: Sequence[ControllerClaims],
    base_fee_wei: int,
    settings: SettlerSettings | None = None,
    refused: Mapping[str, RefusedClaim] | None = None,
    now: int = 0,
) -> ClaimPlan:
    """The claims to send through the relay at time `now` (see the module docstring);
    `refused`: the controllers whose claim was refused, and until when they wait."""
    refused = refused or {}
    settings = settings or SettlerSettings()
    if not settings.claim:
        return ClaimPlan((), ())
    skipped: list[str] = []
    wanted: list[ClaimCall] = []
    for c in claims:
        if not c.is_operator:
            if c.max_deposit or c.max_redeem:
                skipped.append(f"claims of {c.controller}: the relay is not its operator")
            continue
        r = refused.get(c.controller)
        unchanged = r is not None and (r.max_deposit, r.max_redeem) == (c.max_deposit, c.max_redeem)
        if r is not None and unchanged and now < r.retry_at:
            skipped.append(f"claims of {c.controller}: refused, tried again at {r.retry_at}")
            continue
        if c.max_deposit > 0 or c.max_redeem > 0:
            wanted.append(ClaimCall(c.controller, c.max_deposit, c.max_redeem))
    if not wanted:
        return ClaimPlan((), tuple(skipped))
    ceiling = settings.max_base_fee_wei
    if ceiling is not None and base_fee_wei > ceiling:
        skipped.append(f"{len(wanted)} claims: base fee {base_fee_wei} above {ceiling}")
        return ClaimPlan((), tuple(skipped))
    calls = tuple(wanted[: settings.max_claims])
    if len(wanted) > len(calls):
        skipped.append(f"{len(wanted) - len(calls)} claims: above max_claims, next pass")
    return ClaimPlan(calls, tuple(skipped))


OperatorLog = tuple[str, bool, int]  # an OperatorSet log: (controller, approved, block)


def merge_operator_logs(
    known: Mapping[str, tuple[bool, int]], first: int, last: int, logs: Sequence[OperatorLog]
) -> dict[str, tuple[bool, int]]:
    """`known` (controller -> (approved, block of its last `OperatorSet` log)) after a scan of
    blocks `first`..`last` read `logs` (in chain order). The scan may re-read blocks already
    merged (the look-back for reorgs): for each controller named there, its last log in the
    range wins, so a re-read never puts an older approval over a newer revocation. A controller
    whose known log is in the range but not read again (a reorg dropped it) stays a candidate
    (approved): its `isOperator(controller, relay)`, read before any claim, decides."""
    merged = dict(known)
    for controller, (_, block) in known.items():
        if first <= block <= last:
            merged[controller] = (True, block)
    for controller, approved, block in logs:
        merged[controller] = (approved, block)
    return merged


__all__ = [
    "STRIKE_NOT_READY",
    "STRIKE_SELECTOR",
    "ClaimCall",
    "ClaimPlan",
    "ControllerClaims",
    "RefusedClaim",
    "SettleSkip",
    "SettlerSettings",
    "StrikeCall",
    "StrikeTrigger",
    "decode_strike_trigger",
    "merge_operator_logs",
    "plan_claims",
    "plan_confirmations",
    "plan_strike",
    "next_refusal",
    "requests_wait",
    "strike_wait",
    "futile_strike",
    "waiting_reason",
    "unconfirmed_moves",
]
