"""What a demo run records, day by day: the data the report and the charts are drawn from.

Pure data (frozen dataclasses of plain numbers and strings, amounts in whole asset units as
floats): the scenario runner fills a `DemoRecord`; `report` and `charts` only read it, so they
are tested without a chain.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Day:
    """The system at the end of simulated day `day` (0 = after seeding)."""

    day: int
    timestamp: int
    block: int
    share_price: float  # assets per vault share (whole units)
    static_share_price: float  # the benchmark: day 0's allocation held unchanged, idle earns 0
    nav: float  # vault totalAssets, whole asset units
    weights: dict[str, float]  # sleeve name -> fraction of NAV, plus "idle"
    prices: dict[str, float]  # RWA token -> price in asset units (the feeds)
    pending_deposits: float  # assets of deposit requests no strike has settled yet
    pending_redemptions: float  # escrowed shares of redeem requests not yet filled (the queue)
    claimable_redemptions: float  # assets set aside for filled redemptions not yet claimed
    strikes: int  # strikes so far
    automation_paused: bool


@dataclass(frozen=True)
class Event:
    """Something that happened on `day`: `kind` is one of KINDS; `text` says it in words."""

    day: int
    kind: str
    text: str


KINDS = (
    "market",  # a price move, an issuer pause or resume
    "deposit",  # a deposit request
    "redeem-request",
    "strike",  # a NAV strike settled requests
    "claim",  # settled shares or filled redemptions claimed (by the settler or a depositor)
    "keeper",  # a keeper down or back (the settler's outage)
    "liquidation",
    "bad-debt",
    "decision",
    "evaluation",
    "slash",
    "governance",
    "steward",  # the risk steward's bounded moves of an LTV or liquidation threshold
    "steward-other",  # its moves of borrow caps, sleeve caps and rates only
    "guardian",
    "alert",
)


@dataclass(frozen=True)
class Liquidation:
    day: int
    borrower: str
    keeper: str  # the keeper's name
    collateral: str  # collateral name
    repaid: float  # asset units
    seized: float  # collateral tokens
    tx_hash: str


@dataclass(frozen=True)
class Request:
    """An ERC-7540 request as the chain logged it (DepositRequest / RedeemRequest)."""

    day: int
    timestamp: int  # its block's
    kind: str  # "deposit" or "redeem"
    controller: str
    amount: float  # assets (deposit) or shares (redeem), whole units


@dataclass(frozen=True)
class Strike:
    """A NAV strike (StrikeSettled): what it settled, at which prices, and the oldest of the
    sleeve prices it used (`prices_from`: each sleeve's `strikeValuation().publishedAt` read just
    before it, so every request it settled must be older)."""

    strike_id: int
    day: int
    timestamp: int
    by: str  # who sent it: "settler" (the keeper) or "depositor <i>" (anyone may strike)
    deposit_assets: float
    deposit_shares: float
    redeem_shares: float
    redeem_assets: float
    deposit_price: float  # assets per share paid by deposits (whole units)
    redeem_price: float  # assets per share paid to redemptions
    settled_deposits: bool  # it closed a deposit epoch
    stale_sleeves: int  # bitmap of sleeves valued at their haircut last price
    prices_from: int  # the oldest sleeve price it used (unix time)


@dataclass(frozen=True)
class Claim:
    """An ERC-7540 claim as the chain logged it: `kind` "deposit" (ERC-4626 `Deposit`: settled
    shares to the controller) or "redeem" (`Withdraw`: filled assets); `by` who sent it (the
    settler keeper through the claim relay, or the depositor itself)."""

    day: int
    by: str
    kind: str
    controller: str  # the depositor's name ("depositor <i>") or its address
    assets: float  # whole asset units
    shares: float  # whole share units


@dataclass(frozen=True)
class Decision:
    """A rebalance and, once evaluated, its verdict."""

    decision_id: int
    agent: str  # the agent's name
    day: int
    old_weights: dict[str, float]
    new_weights: dict[str, float]
    rationale_hash: str
    excess_bps: int | None = None  # the evaluation's excess vs the replaced allocation
    evaluated_day: int | None = None
    slash_id: int | None = None
    slash_amount: float | None = None  # asset units
    slash_executed_day: int | None = None


@dataclass
class DemoRecord:
    """A whole run. `health_before` / `health_after`: every indebted borrower's health factor just
    before the crash and at the end of the crash day (after the keepers' liquidations; a position
    closed by them is no longer indebted); `health_liquidated`: the health before the crash of
    each borrower liquidated on the crash day."""

    seed: int
    weeks: int
    asset_symbol: str
    sleeves: tuple[str, ...]
    days: list[Day] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    liquidations: list[Liquidation] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    strikes: list[Strike] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    bad_debt: float = 0.0
    keeper_gas: dict[str, int] = field(default_factory=dict)  # keeper name -> gas used
    keeper_actions: dict[str, dict[str, int]] = field(default_factory=dict)  # name -> outcome -> n
    health_before: list[float] = field(default_factory=list)
    health_after: list[float] = field(default_factory=list)
    health_liquidated: list[float] = field(default_factory=list)
    crash_day: int | None = None
    wall_seconds: float = 0.0
