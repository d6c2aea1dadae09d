"""What a decision's own trades cost the vault is charged to the decision (found in an agent
review, branch `agents`; fixed on branch `tradecost`).

The vault records each decision's NAV before and after its trades (`navBefore`, `navAfter`),
both in its own transaction at the same prices: `navBefore - navAfter` is exactly what the
decision's moves cost (an issuer's redemption fee, rounding). The evaluation judged the weights
against the sleeves' return indices only, so an agent that bought a sleeve and sold it back the
next day, three times, behind an issuer keeping 2 % of a redemption, took 29,701 from a
1,000,000 vault (297 bps of its NAV, about six times `agent.toleranceBps`) with every evaluation
at 0: no slash, no value netted, the bond whole.

The defence (IAgentRegistry, "Evaluation": trading cost): each decision is charged
`ceil((navBefore - navAfter) · 1e4 · 1e18 / navBefore)` against both its judged excess (slash,
reputation) and its rewarded one (value netted). Each sale here costs 100 bps: 93 bps beyond
its tolerance (a day's share of 50 bps) are slashed on its NAV, and its full cost is netted
into the agent's rewards.
"""

from __future__ import annotations

from tests.agent_support import events
from tests.vault_support import USDC, WAD, deploy_partial_fill_system


def test_an_agents_round_trips_through_an_issuer_fee_are_judged_on_what_they_cost(
    project, accounts, chain
):
    system = deploy_partial_fill_system(project, accounts)
    vault, agents, gov, keeper = system.vault, system.agents, system.governance, accounts[7]
    entry = system.sleeve("partial")
    entry.issuer.setRedeemFee(200, sender=gov)  # the issuer keeps 2 % of a redemption
    nav = vault.totalAssets()
    stake = agents.agentInfo(system.allocator).stake
    ids, costs = [], []
    for k in range(6):  # buy 5,000 bps, sell it the next day; three times
        chain.pending_timestamp = max(vault.nextRebalanceAt(), chain.pending_timestamp)
        system.publish_prices()
        tx = system.rebalance([5_000 if k % 2 == 0 else 0])
        (log,) = tx.events.filter(vault.Rebalanced)
        ids.append(log.decisionId)
        costs.append(log.navBefore - log.navAfter)  # recorded by the vault itself
    lost = nav - vault.totalAssets()
    # 2 % of each sale of half the NAV: 10,000, then 9,900, then 9,801
    assert lost == sum(costs) == 29_701 * USDC
    # Each decision a day after the last has a day's share of the 50 bps tolerance (a budget
    # per 7-day window: IAgentRegistry, "Slash").
    tolerances = [agents.decisionRecord(i).toleranceBps for i in ids]
    assert lost * 10_000 // nav == 297 > 6 * 50 // 7
    assert tolerances[1:] == [50 // 7] * 5

    chain.pending_timestamp = agents.decisionRecord(ids[-1]).dueAt
    system.publish_prices()
    navs = [vault.decision(i).navBefore for i in ids]
    cap = stake * agents.decisionRecord(ids[-1]).maxSlashBps // 10_000
    slashes, values, judged = [], [], []
    for i in ids:
        tx = agents.evaluate(i, sender=keeper)
        (evaluated,) = events(tx, agents.Evaluated)
        judged.append(evaluated["excessBps"])
        slashes.append(sum(e["amount"] for e in events(tx, agents.SlashOpened)))
        values.append(sum(e["value"] for e in events(tx, agents.ValueNetted)))
    # A flat price: each decision's excess is its own cost, rounded up against the agent
    # (-ceil(cost · 1e4 · 1e18 / navBefore)); here every sale's cost is exactly 100 bps of the
    # NAV it moved (2 % of half of it) and a buy costs nothing.
    charged = [-((c * 10_000 * WAD + n - 1) // n) for c, n in zip(costs, navs, strict=True)]
    assert charged == [0, -100 * WAD] * 3
    assert judged == [x // WAD if x >= 0 else -(-x // WAD) for x in charged] == [0, -100] * 3
    # Slashed: the shortfall beyond each sale's tolerance valued on its NAV (rounded down):
    # 93 bps of 1,000,000, of 990,000 and of 980,100, each capped at maxSlashBps (10 %) of the
    # agent's 10,000 bond.
    shortfalls = [
        (-x - t * WAD) * n // (10_000 * WAD) if x < -t * WAD else 0
        for x, n, t in zip(charged, navs, tolerances, strict=True)
    ]
    assert shortfalls == [0, 9_300 * USDC, 0, 9_207 * USDC, 0, 9_114_930_000]
    assert cap == 1_000 * USDC
    assert slashes == [min(x, cap) for x in shortfalls] == [0, cap] * 3
    # Netted: each sale's whole cost, so the agent owes every unit its trades took.
    assert values == [0, -10_000 * USDC, 0, -9_900 * USDC, 0, -9_801 * USDC]
    assert -sum(values) == lost == 29_701 * USDC
    assert agents.rewardDebt(system.allocator) == lost
    assert agents.agentInfo(system.allocator).stake == stake  # (before any slash executes)
