"""An action's identity across passes (pure).

A job names each call it sends with an action id (`keepers.store`). Some ids carry the block the
pass read, so that two passes reading the same block never send twice:
`liquidate:<borrower>:<block>`, `approve:<token>:<spender>:<block>`, `poke:<feed>:<block>`,
`pauseAutomation:<block>`, `liquidate-batch:<block>:<n>`, and the settler's
`strike:<count>@<block>`, `claim:<controller>@<block>`. Others are permanent:
`evaluate:<id>`, `executeSlash:<id>` (`evaluate:<registry>:<id>`, `executeSlash:<registry>:<id>`
on an AgentRegistry the manifest does not name), `rebalance:<digest>`,
`rebalance-cancel:<digest>`, `steward:<digest>`.

`action_key(action_id)` drops the block stamp: two ids with the same key are the same piece of
work planned at different blocks (the same borrower's liquidation, the same approval). While the
key has a transaction of its own in flight for one of them, the sender resumes that flight
rather than simulating or sending another (`keepers.inflight`): the pending-block simulation
would see the key's own transaction and call it a race lost to someone else.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

STAMPED_KINDS: Final = frozenset({"liquidate", "approve", "poke", "pauseAutomation"})
"""Kinds whose id ends with `:<block>` (the block the pass read)."""

BATCH_KIND: Final = "liquidate-batch"
"""`liquidate-batch:<block>:<n>`: the n-th batch of a pass; every batch of the key is one piece
of work (its borrowers are planned again from the chain once the batch settles)."""


FILL_KIND: Final = "nonce-fill"
"""`nonce-fill:<n>`: a 0-value transfer to the key itself that fills nonce n, left unused below
the key's pending transactions (`keepers.nonces.fill_gaps`)."""

CANCEL_KIND: Final = "rebalance-cancel"
"""`rebalance-cancel:<digest>`: a 0-value transfer to the key itself on the nonce of the key's
own pending `rebalance:<digest>`, as its same-nonce replacement: the rebalance no longer holds
(the vault's sleeve set changed after its plan's read, or a newer plan supersedes it:
`keepers.jobs.stale_rebalance`; `keepers.nonces.cancel_flight`)."""

PRIORITY_KINDS: Final = frozenset({"pauseAutomation"})
"""Kinds sent even while the key's queue is held up by a stuck transaction of another action:
on that transaction's nonce, as its replacement (`keepers.nonces.take_nonce`)."""


def is_priority(action_id: str) -> bool:
    """Whether `action_id` names an emergency action (`PRIORITY_KINDS`)."""
    return action_id.split(":", 1)[0] in PRIORITY_KINDS


def emergency_priced(action_id: str, nonce: int, flights: Iterable[tuple[str, int]]) -> bool:
    """Whether the key's flight of `action_id` on `nonce` is priced under the emergency cap
    (`TxSettings.emergency`): an emergency action's own (`is_priority`), and a `nonce-fill`
    below one of the key's pending emergency flights (`flights`: (action id, nonce) of each),
    which cannot mine before the fill does. Found in an outside review: the fill was sent at the
    pause's price and resumed under the everyday cap, so a base fee above that cap left it, and
    the pause above it, stuck."""
    if is_priority(action_id):
        return True
    if action_id.split(":", 1)[0] != FILL_KIND:
        return False
    return any(is_priority(other) and above > nonce for other, above in flights)


def action_key(action_id: str) -> str:
    """`action_id` without its block stamp (see the module docstring); a permanent id as is."""
    head, at, stamp = action_id.rpartition("@")
    if at and head and stamp.isdigit():
        return head
    kind = action_id.split(":", 1)[0]
    if kind == BATCH_KIND:
        return BATCH_KIND
    if kind in STAMPED_KINDS:
        head, colon, stamp = action_id.rpartition(":")
        if colon and head and stamp.isdigit():
            return head
    return action_id


def same_action(a: str, b: str) -> bool:
    """Whether two action ids name the same piece of work (equal keys)."""
    return action_key(a) == action_key(b)
