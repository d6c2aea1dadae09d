"""Attack: an agent rebalances outside the DAO's bounds.

A compromised or reckless agent would pour the vault into one sleeve (concentration: one
issuer's default takes everything), empty the idle buffer (depositors' exits then wait on
issuers), swing the whole book in one move (turnover: trading costs, or front-running its own
decision), churn every block, or send fewer targets than sleeves hoping one is left alone. The
defence: `rebalance` checks each bound from the ParameterRegistry before it moves anything and
reverts with the bound's custom error and the numbers: `SleeveCapExceeded(index, targetBps,
capBps)`, `IdleBufferBreached(idleBps, minIdleBps)`, `TurnoverExceeded(turnoverBps,
maxTurnoverBps)`, `RebalanceCooldown(readyAt)`, `LengthMismatch(expected, given)`.

The vault: 1,000,000 deposited, 20% in tbill after a first rebalance; caps tbill 6000, gold
4000, invoices 3000 bps; idle buffer 500 bps; turnover at most 2000 bps (the deploy config's);
cooldown one day. Each case is refused, and a target within every bound sent by the same agent
at the same moment goes through: the refusal is the bound's, not the agent's.
"""

from __future__ import annotations

import pytest
from eth_utils import keccak

from tests.vault_support import DAY, USDC, assert_reverts, deploy_vault_system, revert_of

RATIONALE = keccak(text="out of bounds")
START = [2_000, 0, 0]
WITHIN = [2_500, 1_000, 0]  # caps, buffer (6500 idle) and turnover (1500) all respected

# name -> (targets, error, inputs)
ATTACKS = {
    "all-in-one-sleeve": ([7_000, 0, 0], "SleeveCapExceeded",
                          {"index": 0, "targetBps": 7_000, "capBps": 6_000}),
    "empty-the-idle-buffer": ([5_000, 4_000, 600], "IdleBufferBreached",
                              {"idleBps": 400, "minIdleBps": 500}),
    "weights-above-100-percent": ([6_000, 4_000, 3_000], "IdleBufferBreached",
                                  {"idleBps": 0, "minIdleBps": 500}),
    "swing-the-book-at-once": ([4_000, 1_000, 0], "TurnoverExceeded",
                               {"turnoverBps": 3_000, "maxTurnoverBps": 2_000}),
    "leave-a-sleeve-out": ([2_000, 0], "LengthMismatch", {"expected": 3, "given": 2}),
}  # fmt: skip


@pytest.fixture(scope="module")
def system(project, accounts, chain):
    system = deploy_vault_system(project, accounts[0], accounts[1], accounts[5])
    system.set_param("oracle.maxStaleness", 7 * DAY)
    system.set_param("vault.maxTurnoverBps", 2_000)
    system.deposit(accounts[6], 1_000_000 * USDC)
    system.rebalance(START)
    chain.pending_timestamp = system.vault.nextRebalanceAt()
    for s in system.sleeves:  # fresh rounds at the end of the cooldown
        s.feed.setAnswer(s.feed.latestAnswer(), sender=system.governance)
    return system


@pytest.mark.parametrize("attack", ATTACKS.keys())
def test_a_rebalance_outside_a_bound_is_refused_with_its_error(system, attack):
    targets, error, inputs = ATTACKS[attack]
    vault, agent = system.vault, system.allocator
    assert list(vault.currentBps()) == START
    assert_reverts(vault, "rebalance", targets, RATIONALE, "", sender=agent, error=error, **inputs)
    assert revert_of(vault, "rebalance", WITHIN, RATIONALE, "", sender=agent) is None


def test_a_rebalance_before_the_cooldown_is_refused(system, chain):
    """Churn: a second decision right after the first, even one within every other bound."""
    vault, agent = system.vault, system.allocator
    tx = system.rebalance(WITHIN)
    ready = tx.timestamp + DAY
    assert vault.nextRebalanceAt() == ready
    assert_reverts(vault, "rebalance", START, RATIONALE, "", sender=agent,
                   error="RebalanceCooldown", readyAt=ready)  # fmt: skip
    chain.pending_timestamp = ready
    system.rebalance(START)
    assert list(vault.currentBps()) == START
