"""Trading costs: what moving money into or out of a sleeve costs, charged to every policy.

A move of `x` asset units out of sleeve `i` (a rebalance's sale or a depositor's forced sale)
yields `x · (1 − c_i)` idle cash; a move of `x` from idle into sleeve `i` buys holdings worth
`x · (1 − c_i)`. `c_i = TRADING_COST_BPS[sleeve] / 1e4`: a fraction of the value moved through
the sleeve (idle is cash, free). The cost stays in the vault's NAV (it is a worse price, not a
bill), so a policy that never trades pays nothing and the cost is linear in what it moves.

Default per sleeve kind (README: "Trading costs"), for tokenized RWAs:

- `tbill` 2 bps: tokenized T-bill funds (BUIDL, BENJI, USTB, OUSG) subscribe and redeem at NAV
  without an issuer fee; 2 bps stand for the stablecoin leg and the NAV strike's slippage.
- `gold` 20 bps: PAXG / XAUT carry creation–redemption fees of ~0.02–1 % (tiered) / 0.25 %,
  and their DEX or exchange spread is ~0.1–0.3 %; 20 bps a side is a mid estimate.
- `invoices` 10 bps: invoice/credit pools issue and redeem at NAV per epoch, often without a
  fee, but secondary exits and some pools' fees cost more than a T-bill fund; 10 bps.
- `lending` 0 bps: supplying to or withdrawing from the vault's own lending book is an
  accounting move on chain (its gas is charged separately, per rebalance).

The table is the keeper's (`keepers.strategy.optimiser.MARKET_TRADING_COST_BPS`, what the
setting `rebalancer.trading_cost_bps` prices sleeves at when turned on), imported here so that
the two cannot drift apart. The keeper's optimiser assumes by default the flat
`rebalancer.turnover_cost_bps` 5 per turn of the NAV for every sleeve; when the strategy
prices sleeves without `--set trading_cost_bps=...` (the selection's "sleeve" candidates), the
backtest's keeper adapter (`keeper.strategy_costs`) hands it the simulator's table, whatever
`--trading-cost-bps` made it. The simulator charges this table whatever the policy assumes.
`--trading-cost-bps` changes it (one value for every sleeve, or `SLEEVE=BPS`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from keepers.strategy.optimiser import MARKET_TRADING_COST_BPS, MAX_TRADING_COST_BPS

TRADING_COST_BPS: Final[Mapping[str, float]] = MARKET_TRADING_COST_BPS
MAX_COST_BPS: Final = MAX_TRADING_COST_BPS


def default_costs(sleeves: Sequence[str]) -> tuple[float, ...]:
    """The default cost of each sleeve (bps of the value moved); 0 for a sleeve not listed."""
    return tuple(float(TRADING_COST_BPS.get(s, 0.0)) for s in sleeves)


def parse_costs(items: Sequence[str], sleeves: Sequence[str]) -> tuple[float, ...]:
    """`--trading-cost-bps` values over the defaults: `BPS` sets every sleeve, `SLEEVE=BPS`
    one sleeve (later items win). ValueError (one line) on an unknown sleeve or a bad number."""
    costs = list(default_costs(sleeves))
    for item in items:
        name, _, value = item.rpartition("=")
        try:
            bps = float(value)
        except ValueError:
            raise ValueError(f"--trading-cost-bps {item}: not a number of bps") from None
        if not 0.0 <= bps < MAX_COST_BPS:
            raise ValueError(f"--trading-cost-bps {item}: must be in [0, {MAX_COST_BPS:g})")
        if not name:
            costs = [bps] * len(sleeves)
        elif name in sleeves:
            costs[list(sleeves).index(name)] = bps
        else:
            raise ValueError(
                f"--trading-cost-bps {item}: unknown sleeve (one of {', '.join(sleeves)})"
            )
    return tuple(costs)


__all__ = ["MAX_COST_BPS", "TRADING_COST_BPS", "default_costs", "parse_costs"]
