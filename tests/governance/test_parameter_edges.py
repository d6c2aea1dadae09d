"""Every parameter the registry holds at either end of its bounds locks no funds.

The promise: agents act only inside the DAO's bounds, and no value the DAO may set (any value
within a parameter's bounds) locks a user's funds: exits are never blocked. For every parameter
of deployments/config/local.yaml (the registry holds exactly these), governance (the timelock,
as a proposal executes) moves it to its min and to its max (to the nearest value its links allow
when the link forbids the bound itself, moving the linked parameters out of the way first, as a
DAO proposal naming both would), then: alice asks to redeem half her shares, carol to deposit,
bob repays and takes his gold back, anyone strikes, alice and carol claim, and the agent
rebalances within the bounds now in force. Each must work, or be refused with a custom error of
the contract's ABI that the value explains (a deposit over a cap of 0), never a panic, a bare
revert, or funds left behind. The system: tests/parameter_edges_support.py. Nothing was found
(tests/attacks/README.md, governance review 3).
"""

from __future__ import annotations

import pytest

from ballast.parameters import key_of
from tests.parameter_edges_support import BPS, NAMES, USDC, build_edge
from tests.vault_support import isolated, settled


@pytest.fixture(scope="module")
def edge(project, accounts, chain):
    return build_edge(project, accounts, chain)


@pytest.fixture(autouse=True)
def _isolate(chain):
    with isolated(chain):
        yield


def test_the_table_covers_every_registered_parameter(edge):
    registered = {edge.registry.nameOf(k) for k in edge.registry.keys()}
    assert registered == set(NAMES)


def feasible_target(edge) -> list[int]:
    """A target within every bound now in force from the vault's weights: each sleeve at most
    its cap, idle at least the buffer, then up to 1 % more into T-bills if the caps, the buffer
    and the turnover allow."""
    reg, vault = edge.registry, edge.vault
    now = list(vault.currentBps())
    names = ("tbill", "gold", "invoices", "lending")
    caps = [reg.get(key_of(f"vault.maxSleeveBps.{n}")) for n in names]
    buffer = reg.get(key_of("vault.idleBufferBps"))
    turnover = reg.get(key_of("vault.maxTurnoverBps"))
    target = [min(w, c) for w, c in zip(now, caps, strict=True)]
    for i in range(len(target)):  # down to the buffer, from the first sleeve on
        over = sum(target) - (BPS - buffer)
        if over > 0:
            target[i] -= min(over, target[i])
    spent = (sum(abs(t - w) for t, w in zip(target, now, strict=True))
             + abs(sum(target) - sum(now)) + 1) // 2  # fmt: skip
    room = min(100, caps[0] - target[0], BPS - buffer - sum(target), turnover - spent)
    if room > 0:
        target[0] += room
    return target


@pytest.mark.parametrize("end", ["min", "max"])
@pytest.mark.parametrize("name", NAMES)
def test_every_parameter_at_either_end_of_its_bounds_locks_no_funds(edge, chain, name, end):
    reg, vault, book, asset = edge.registry, edge.vault, edge.book, edge.asset
    p = reg.getParam(key_of(name))
    edge.govern(name, p.min if end == "min" else p.max)
    alice, bob, carol, agent = edge.alice, edge.bob, edge.carol, edge.agent

    # requests: an exit always; an entry unless the cap leaves no room
    shares = vault.balanceOf(alice) // 2
    edge.act(vault, "requestRedeem", shares, alice, alice, sender=alice)
    deposit = 100_000 * USDC
    entered = edge.act(vault, "requestDeposit", deposit, carol, carol, sender=carol,
                       allowed=("DepositCapExceeded",))  # fmt: skip
    if entered is None:
        assert reg.get(key_of("vault.depositCap")) < vault.totalAssets() + deposit
    # the borrower's exit: repay everything, take the collateral back
    edge.act(book, "repay", 2**256 - 1, bob, sender=bob)
    gold = edge.tokens["gold"]
    held = book.collateralOf(bob, gold)
    edge.act(book, "withdrawCollateral", gold, held, sender=bob)
    assert book.debtOf(bob) == 0 and gold.balanceOf(bob) == held

    # an agent active under the values now (a raised minimum stake or delay applies at once)
    if not edge.agents.isActive(agent):
        stake = reg.get(key_of("agent.minStake"))
        bonded = edge.agents.agentInfo(agent).stake
        if bonded < stake:
            edge.agents.stake(stake - bonded, sender=agent)
        chain.pending_timestamp = max(chain.pending_timestamp, edge.agents.activeFrom(agent))
    chain.pending_timestamp = max(chain.pending_timestamp, vault.nextRebalanceAt())
    edge.publish()  # prices after the requests' cut-off

    # anyone strikes; both claim
    s = settled(vault.strike(sender=carol), vault)
    assert s["redeemShares"] == shares, s
    before = asset.balanceOf(alice)
    edge.act(vault, "redeem", shares, alice, alice, sender=alice)
    assert asset.balanceOf(alice) - before > 400_000 * USDC
    if entered is not None:
        edge.act(vault, "deposit", deposit, carol, sender=carol)
        assert vault.pendingDepositRequest(0, carol) == 0 and vault.maxDeposit(carol) == 0

    # the agent rebalances within the bounds now in force (a turnover of 0 leaves the weights
    # where they are: a decision moving nothing is refused, and nothing is locked by it)
    target = feasible_target(edge)
    still = target == list(vault.currentBps())
    edge.act(vault, "rebalance", target, b"\x02" * 32, "ipfs://edge", sender=agent,
             allowed=("NothingMoved",) if still else ())  # fmt: skip
