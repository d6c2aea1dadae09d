"""The performance fee and the agents' reward rounds in pure Python, to the wei.

Mirrors `IRWAVault.setAgentRegistry` (the fee, taken at strikes above the high-water mark on
the gains that stood: up to the lower of the price now and the price sampled at a strike at
least `FEE_HOLD` before) and `IAgentRegistry`'s reward rounds (`onFee`, `_due`), as
`RebalanceModule` (`_performanceFee`) and `AgentRegistry` implement them, rounding the same
way. Units and rounding conventions: `keepers.math.evaluation`'s docstring.
"""

from __future__ import annotations

from dataclasses import dataclass

from keepers.math.evaluation import PRICE_SCALE, Netting
from keepers.math.lending import BPS, WAD, mul_div_down, mul_div_up

# ---------------------------------------------------------------------------------- fee


FEE_HOLD = 86_400
"""`RebalanceModule.FEE_HOLD` (1 day): how long a sampled share price must stand before the fee
is charged up to it."""


@dataclass(frozen=True)
class VaultSnapshot:
    """The vault when a strike takes the performance fee: `nav` (its NAV then, `totalAssets()`),
    `total_supply` (shares, without the virtual ones), `decimals_offset` (`18 - asset
    decimals`), the stored `high_water_mark` (assets per share × 1e36) and the assets `donated`
    in one donation since the last strike (`RWAVault.donate` lifts the mark by each donation on
    its own, rounded up: fold earlier ones into `high_water_mark` with `lifted_mark`)."""

    nav: int
    total_supply: int
    decimals_offset: int
    high_water_mark: int
    donated: int = 0

    @property
    def virtual_supply(self) -> int:
        """`totalSupply + 10^offset` (OpenZeppelin's virtual shares)."""
        return self.total_supply + 10**self.decimals_offset

    @property
    def share_price(self) -> int:
        """`share_price(nav, virtual_supply)`."""
        return share_price(self.nav, self.virtual_supply)


@dataclass(frozen=True)
class FeeSample:
    """The stored fee sample (`VaultStorage.FeeSample`): the share `price` (assets per share ×
    1e36) a strike saw, after its fee's mint, and the time `at` it was taken; `FeeSample()`
    (zeros) before the first strike."""

    price: int = 0
    at: int = 0

    def stood(self, now: int) -> bool:
        """Whether a strike at `now` charges up to it: `now >= at + FEE_HOLD`."""
        return now >= self.at + FEE_HOLD


@dataclass(frozen=True)
class FeeAccrual:
    """A strike's performance fee: the share `price` it saw, the `gain` charged (assets above
    the mark, which donations lift, up to the price that stood), the `fee` (assets), the
    `fee_shares` minted, the `high_water_mark` stored after and the `sample` stored after. Only
    when `fee_shares != 0` (`taken`) does the strike emit `PerformanceFeeTaken(gain, fee,
    fee_shares, mark)`, mint the shares to the AgentRegistry and call its `onFee`
    (`split_fee`); the mark, the sample and the donations are updated in every case."""

    price: int
    gain: int
    fee: int
    fee_shares: int
    high_water_mark: int
    sample: FeeSample = FeeSample()

    @property
    def taken(self) -> bool:
        return self.fee_shares != 0


def initial_high_water_mark(decimals_offset: int) -> int:
    """The mark a new vault starts from, the price of the empty vault: `1e36 / 10^offset`."""
    return PRICE_SCALE // 10**decimals_offset


def share_price(nav: int, virtual_supply: int) -> int:
    """`floor((nav + 1) · 1e36 / (totalSupply + 10^offset))` (never overstates the gain)."""
    return mul_div_down(nav + 1, PRICE_SCALE, virtual_supply)


def convert_to_shares(
    assets: int, total_supply: int, total_assets: int, decimals_offset: int
) -> int:
    """`vault.convertToShares(assets)` (OpenZeppelin's ERC-4626 with virtual shares): `floor(assets
    · (totalSupply + 10^offset) / (totalAssets + 1))`."""
    return mul_div_down(assets, total_supply + 10**decimals_offset, total_assets + 1)


def lifted_mark(high_water_mark: int, donated: int, virtual_supply: int) -> int:
    """The mark after the donations since the last strike: `h + ceil(donated · 1e36 / S)`, as
    much as they lifted the price (rounded up: a donation never counts as performance, neither
    as gain nor as recovery of a loss)."""
    if donated == 0:
        return high_water_mark
    return high_water_mark + mul_div_up(donated, PRICE_SCALE, virtual_supply)


def entered_mark(high_water_mark: int, deposited: int, minted: int, supply_after: int) -> int:
    """The mark after a strike's deposits (`RebalanceModule._priceDeposits`, sleeves valued at
    one price, so their premium over the low NAV, which the contract lifts the mark by at least,
    is 0): what they pay above the mark for their `minted` shares, `deposited - ceil(minted
    · h / 1e36)` when positive, lifts it over the `supply_after` (virtual) shares, rounded up, as
    a donation does; so a gain not yet charged is never charged to the shares that entered after
    it (IRWAVault.setAgentRegistry). `high_water_mark` is the mark after the strike's fee."""
    paid = deposited - mul_div_up(minted, high_water_mark, PRICE_SCALE)
    if paid <= 0:
        return high_water_mark
    return high_water_mark + mul_div_up(paid, PRICE_SCALE, supply_after)


def performance_fee(vault: VaultSnapshot, fee_bps: int, sample: FeeSample, now: int) -> FeeAccrual:
    """`RebalanceModule._performanceFee` (IRWAVault.setAgentRegistry) at a strike at time `now`
    with the stored `sample`, `S` the virtual supply:

    - the donations first lift the mark: `h = lifted_mark(...)` (stored, donations cleared);
    - before the sample has stood `FEE_HOLD` (`now < sample.at + FEE_HOLD`) nothing is taken
      and the mark and the sample stay;
    - else `p = share_price`, `c = min(p, sample.price)` (the price that stood; 0 at the first
      strike); at or below `h` nothing is taken, the mark stays `h` (a gain not yet charged
      stays chargeable) and the sample becomes `(p, now)`;
    - above: `gain = floor((c - h) · S / 1e36)`, `fee = floor(gain · performanceFeeBps / 1e4)`;
    - `shares = floor(fee · S / (nav + 1 - fee))` (worth `fee` after the mint, Morpho);
    - `post = floor((nav + 1) · 1e36 / (S + shares))`, the price after the mint (`p` without
      a fee); the mark becomes `max(h, post - floor((p - c) · S / (S + shares)))`: the price
      after the mint less the part not charged spread over the shares with the fee's (so the
      fee's shares never pay the fee on a gain made before them; `c` without a fee, `post`
      when `c == p`; rounded so that the part not charged is charged at most once, and the
      gain charged never again; the `max` only guards the rounding); the sample becomes
      `(post, now)`.
    """
    supply = vault.virtual_supply
    price = share_price(vault.nav, supply)
    mark = lifted_mark(vault.high_water_mark, vault.donated, supply)
    if not sample.stood(now):
        return FeeAccrual(price, 0, 0, 0, mark, sample)
    charged = min(price, sample.price)
    if charged <= mark:
        return FeeAccrual(price, 0, 0, 0, mark, FeeSample(price, now))
    gain = mul_div_down(charged - mark, supply, PRICE_SCALE)
    fee = mul_div_down(gain, fee_bps, BPS)
    shares = mul_div_down(fee, supply, vault.nav + 1 - fee) if fee != 0 else 0
    post = share_price(vault.nav, supply + shares) if fee != 0 else price
    mark = max(mark, post - mul_div_down(price - charged, supply, supply + shares))
    return FeeAccrual(price, gain, fee, shares, mark, FeeSample(post, now))


# ---------------------------------------------------------------------------------- rewards


@dataclass(frozen=True)
class RewardRounds:
    """The registry's reward bookkeeping: the open `round` (`rewardRound`), the points earned in
    it (`roundPoints`) and the agents' shares no round has paid yet (`undistributedRewards`)."""

    round: int = 0
    round_points: int = 0
    undistributed: int = 0

    def earned(self, points: int) -> RewardRounds:
        """The rounds after evaluations add `points` (net of withdrawals) to the open round."""
        return RewardRounds(self.round, self.round_points + points, self.undistributed)

    def netted(self, netting: Netting) -> RewardRounds:
        """The rounds after one evaluation's netting (`_net`)."""
        return self.earned(netting.points_added - netting.points_withdrawn)


@dataclass(frozen=True)
class ClosedRound:
    """A reward round a fee closed: the `pot` of shares it paid (`sharesPerPoint`'s pot: at most
    what its points were worth) split among the `points` earned in it (the registry keeps both;
    each agent's part is rounded down once)."""

    pot: int
    points: int

    @property
    def shares_per_point(self) -> int:
        """`sharesPerPoint(round)`: `floor(pot · 1e18 / points)` (WAD), informational only: agents
        are paid `reward_due`, not points × this rate."""
        return mul_div_down(self.pot, WAD, self.points)

    def due(self, points: int) -> int:
        """`reward_due(points, self)`."""
        return reward_due(points, self)


@dataclass(frozen=True)
class RewardSplit:
    """What `onFee(shares)` does: `to_agents` and `to_treasury` (as `FeeReceived` reports them,
    with `round`, the round open when the fee came), the `pot` (`to_agents` plus what earlier
    rounds carried), the round it `closed` with what it paid (None when the round had no points:
    the pot carries over) and the rounds after. The vault calls `onFee` only for a fee of at
    least one share (`FeeAccrual.taken`)."""

    shares: int
    to_agents: int
    to_treasury: int
    round: int
    pot: int
    closed: ClosedRound | None
    rounds: RewardRounds

    @property
    def closes_round(self) -> bool:
        return self.closed is not None

    @property
    def paid(self) -> int:
        """What the round closed pays its points (0 when none closed)."""
        return self.closed.pot if self.closed is not None else 0

    @property
    def carry(self) -> int:
        """What the next round inherits (`undistributedRewards` after): the whole pot when no
        points were earned, else what the round's points were not worth, `pot - paid` (the
        rounding dust of the agents' parts is not carried)."""
        return self.rounds.undistributed


def split_fee(
    shares: int, reward_share_bps: int, rounds: RewardRounds, points_worth: int
) -> RewardSplit:
    """`AgentRegistry.onFee`: `to_agents = floor(shares · rewardShareBps / 1e4)` (the treasury
    gets the dust), `pot = undistributed + to_agents`. With points in the open round, the round
    closes on `(paid, points)` with `paid = min(pot, points_worth)` (each agent then gets
    `reward_due`), `pot - paid` carries and the next round opens with no points; without points
    the whole pot carries to the open round. `points_worth` is `vault.convertToShares(
    roundPoints)` after the strike's mint and burn (`convert_to_shares` on the vault's supply and
    `totalAssets()` then; unused when the round has no points): a round never pays more than
    the value its points stand for."""
    if points_worth < 0:
        raise ValueError(f"points_worth {points_worth} < 0")
    to_agents = mul_div_down(shares, reward_share_bps, BPS)
    to_treasury = shares - to_agents
    pot = rounds.undistributed + to_agents
    if rounds.round_points == 0:
        after = RewardRounds(rounds.round, 0, pot)
        return RewardSplit(shares, to_agents, to_treasury, rounds.round, pot, None, after)
    paid = min(pot, points_worth)
    closed = ClosedRound(paid, rounds.round_points)
    after = RewardRounds(rounds.round + 1, 0, pot - paid)
    return RewardSplit(shares, to_agents, to_treasury, rounds.round, pot, closed, after)


def reward_due(points: int, closed: ClosedRound) -> int:
    """An agent's part of a closed round for its `points` in it (`_due`), pro rata and rounded
    down once: `floor(points · pot / roundPoints)`. The parts never sum above the pot; the
    dust (under one share per agent) stays in the registry, counted nowhere."""
    return mul_div_down(points, closed.pot, closed.points)


__all__ = [
    "FEE_HOLD",
    "ClosedRound",
    "FeeAccrual",
    "FeeSample",
    "RewardRounds",
    "RewardSplit",
    "VaultSnapshot",
    "convert_to_shares",
    "entered_mark",
    "initial_high_water_mark",
    "lifted_mark",
    "performance_fee",
    "reward_due",
    "share_price",
    "split_fee",
]
