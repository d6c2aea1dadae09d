"""Chain reads that build the jobs' inputs: Multicall3 batches pinned to one block, turned into
the pure planners' dataclasses (`keepers.math.Position`, `keepers.jobs.OracleState`, ...).

Each reader makes a first batch at `block` (default: latest) and pins every later batch to the
block the first one read, so one job pass sees one state. Values whose read failed are reported
in `failures` (label -> reason) and left out; nothing here raises for a single failed call.

- `read_book`: the lending book — liquidation rules, rate model, every borrower's `Position`
  (collateral in listing order, priced by `tryPrice`, with the router's `liquidationPrice`, what
  a liquidation values it at, weighted by `lend.*.<name>`); with
  `unhealthy_only` (the liquidator) only the positions below health 1 are returned (every
  position with debt once the book's called loans are due; positions read in raw Multicall3
  batches, `keepers.rawcalls`);
- `priced_tokens`: name -> token of every priced asset (the sleeves', then lending collateral);
- `read_oracles`: each priced token's feed age, reference (last accepted), pending move and
  current price, and the registry's staleness, deviation and confirmation bounds (the
  sentinel's `OracleState`s);
- `read_allocation`: the rebalancer's view — NAV, each sleeve's assets, cap and `returnIndex`,
  the idle buffer, the turnover limit and the rebalance cooldown;
- `read_moved_sleeves`: the sleeves the vault's decisions moved (`decision(id)`, one batch for
  every id: the evaluator's waiting decisions); `read_vault_sleeves`: the sleeves the vault
  holds, kept as a `SleeveSet` until a sleeve log says it changed (`sleeve_set_changed`);
- `read_chain_binding`, `read_funding`: the chain and deployment a keeper is bound to, and what
  its key holds;
- `token_at`, `feed_at`: an ERC-20 token's or a Chainlink feed's contract at an address.

One module per subject (`book`, `oracles`, `allocation`, `sleeves`, `identity`; what they share in
`batches`), imported from here.
"""

from keepers.reads.allocation import AllocationRead, SleeveRead, read_allocation
from keepers.reads.batches import feed_at, param_key, token_at
from keepers.reads.book import BookRead, read_book
from keepers.reads.identity import read_chain_binding, read_funding
from keepers.reads.oracles import OracleRead, priced_tokens, read_oracles
from keepers.reads.sleeves import (
    SLEEVE_ADDED_TOPIC,
    SLEEVE_REMOVED_TOPIC,
    MovedSleeves,
    SleeveSet,
    read_moved_sleeves,
    read_vault_sleeves,
    sleeve_change_blocks,
    sleeve_set_changed,
)

__all__ = [
    "SLEEVE_ADDED_TOPIC",
    "SLEEVE_REMOVED_TOPIC",
    "AllocationRead",
    "BookRead",
    "MovedSleeves",
    "OracleRead",
    "SleeveRead",
    "SleeveSet",
    "feed_at",
    "param_key",
    "priced_tokens",
    "read_allocation",
    "read_book",
    "read_chain_binding",
    "read_funding",
    "read_moved_sleeves",
    "read_vault_sleeves",
    "sleeve_change_blocks",
    "sleeve_set_changed",
    "read_oracles",
    "token_at",
]
