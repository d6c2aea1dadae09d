"""Attack: moving the evidence an agent's decision is judged on (slash griefing, slash dodging).

`evaluate(decisionId)` compares the return of the decision's new weights with the old ones from
each moved sleeve's `returnIndex()`, recorded at the rebalance and read again at evaluation.
Whoever could move an index could have a good agent slashed (a griefer pushing the index of the
sleeve it bought down) or a bad agent escape its slash and earn rewards (the agent pushing it
up). Without the feed's key, what anyone can do is: send the sleeve the stablecoin or the RWA
token itself, donate to the vault, and `poke` the OracleRouter.

The defence: a sleeve's return index is the oracle's NAV price (TokenizedRWASleeve) or a supply
index only interest and realised bad debt move (LendingSleeve), never a balance; donations are
not counted and a poke only records the feed's own answer. Each case shows every index and the
evaluation preview unchanged by all of that, and the evaluation then opening exactly the
previewed slash (or none); the last test does the same for a decision into the lending book.
Evaluating early or twice is refused: see tests/agents/test_evaluation.py::
test_due_exactly_at_the_end_of_the_window_anyone_evaluates_once.

Timing `evaluate` on a faulty round of the feed itself (an answer beyond
`oracle.maxDeviationBps` of the router's reference) is refused too: a return index behind an open
price band is not fresh (`TokenizedRWASleeve.returnIndexStatus`), so the evaluation waits until
the move is confirmed (it held for `oracle.confirmDelay`) or dropped (the price came back).
Nor may a decision start from such a round: a rebalance that moves a sleeve whose return index is
not fresh reverts `StaleValuation(sleeve)`, so its recorded start index is always a confirmed
price.
"""

from __future__ import annotations

import pytest
from eth_utils import keccak

from tests.agent_support import (
    EVAL_WINDOW,
    FEED_TO_WAD,
    NAMES,
    NO_SLASH,
    WAD,
    build_desk,
    events,
    only_event,
    toward_zero,
)
from tests.lending_support import deploy_lending_system
from tests.vault_support import DAY, USDC, assert_reverts, faucet, revert_of

MAX_UINT = 2**256 - 1
GIFT = 100_000 * USDC
BPS = 10_000

# name -> (targets, sleeve moved into, its NAV move in bps over the window, slash expected)
CASES = {
    "agent-dodges-its-slash": ((0, 4_000, 0), "gold", -500, True),
    "griefer-hits-a-good-agent": ((6_000, 0, 0), "tbill", 100, False),
}


@pytest.fixture(scope="module")
def desk(project, accounts, chain):
    return build_desk(project, accounts, chain)


def manipulate(desk, attacker, name: str) -> None:
    """All an attacker without the feed's key can throw at sleeve `name` and the vault: the
    stablecoin and the RWA token sent to the sleeve, a donation to the vault, and a poke of
    every token's price."""
    system, asset = desk.system, desk.system.asset
    target = system.sleeve(name)
    faucet(asset, attacker, 3 * GIFT)
    asset.transfer(target.sleeve, GIFT, sender=attacker)
    asset.approve(target.issuer, MAX_UINT, sender=attacker)
    held = target.token.balanceOf(attacker)
    target.issuer.subscribe(GIFT, sender=attacker)
    target.token.transfer(target.sleeve, target.token.balanceOf(attacker) - held, sender=attacker)
    asset.approve(desk.vault, MAX_UINT, sender=attacker)
    desk.vault.donate(GIFT, sender=attacker)
    for s in system.sleeves:
        system.router.poke(s.token, sender=attacker)


def evidence(desk, decision_id: int) -> tuple:
    sleeves = [desk.system.sleeve(n).sleeve for n in NAMES]
    return (
        [s.returnIndex() for s in sleeves],
        [tuple(s.returnIndexStatus()) for s in sleeves],
        tuple(desk.agents.previewEvaluation(decision_id)),
    )


@pytest.mark.parametrize("case", CASES.keys())
def test_donations_and_pokes_do_not_move_the_evaluation(desk, accounts, case):
    """The attacker is the agent itself (to dodge a 5% loss's slash) or a griefer (to turn a
    1% gain into a slash). Either way the evidence does not move: same indices, same preview,
    and the evaluation opens exactly the slash (or pays exactly the points) the market made."""
    targets, name, move_bps, slashed = CASES[case]
    attacker = desk.allocator if slashed else accounts[9]
    tx = desk.rebalance(list(targets))
    decision_id = only_event(tx, desk.agents.DecisionReported)["decisionId"]
    due = tx.timestamp + EVAL_WINDOW
    desk.at(due - 120)
    desk.move(name, move_bps)
    before = evidence(desk, decision_id)
    excess, slash, points = before[2]
    assert (slash > 0) == slashed and (points > 0) == (not slashed)

    moved = desk.system.sleeve(name)
    manipulate(desk, attacker, name)
    assert moved.token.balanceOf(moved.sleeve) > moved.sleeve.units()  # the gift arrived ...
    assert evidence(desk, decision_id) == before  # ... and counts for nothing

    tx = desk.evaluate(decision_id, due)
    slash_id = desk.agents.slashCount() - 1 if slashed else NO_SLASH
    assert tuple(tx.return_value) == (toward_zero(excess, WAD), slash_id)
    assert only_event(tx, desk.agents.Evaluated)["slashAmount"] == slash
    opened = events(tx, desk.agents.SlashOpened)
    assert [e["amount"] for e in opened] == ([slash] if slashed else [])
    assert only_event(tx, desk.agents.ReputationUpdated)["rewardPoints"] == points


# name -> (targets, sleeve moved into, the market's move over the window (bps), the faulty
# round's answer against it (bps), whether the market's move costs the agent a slash)
FAULTY_ROUNDS = {
    "griefer-slashes-a-good-agent-on-a-crash-print": ((0, 4_000, 0), "gold", 200, -3_000, False),
    "agent-dodges-its-slash-on-a-spike-print": ((0, 4_000, 0), "gold", -500, 3_000, True),
}


@pytest.mark.parametrize("case", FAULTY_ROUNDS.keys())
def test_an_evaluation_timed_on_a_faulty_round_waits_for_the_market(desk, accounts, case):
    """The decision falls due just as one round of gold's feed is 30 % off (beyond the 10 %
    band): a crash print would slash a good agent, a spike print would spare a bad one its slash
    and pay it points. Whoever times `evaluate` on that round (a griefer, the agent itself) gets
    `StaleReturnIndex`, pokes or not; no keeper lists the decision as due. The next round is back
    where the market was, a poke drops the move, and the evaluation is exactly the market's."""
    targets, name, market_bps, fault_bps, slashed = FAULTY_ROUNDS[case]
    attacker = desk.allocator if slashed else accounts[9]
    agents, router = desk.agents, desk.system.router
    token = desk.system.sleeve(name).token
    tx = desk.rebalance(list(targets))
    decision_id = only_event(tx, agents.DecisionReported)["decisionId"]
    due = tx.timestamp + EVAL_WINDOW
    desk.at(due - 120)
    market = desk.move(name, market_bps)
    excess, slash, points = honest = tuple(agents.previewEvaluation(decision_id))
    assert (slash > 0) == slashed and (points > 0) == (not slashed)

    desk.at(due)
    reference = router.lastPrice(token)[0]
    desk.set_price(name, market * (BPS + fault_bps) // BPS)  # the faulty round
    _, faulty_slash, faulty_points = agents.previewEvaluation(decision_id)
    if slashed:  # what the timing would have paid the attacker
        assert faulty_slash == 0 and faulty_points > 0
    else:
        assert faulty_slash > 0 and faulty_points == 0
    for _ in range(2):  # before and after the attacker's poke (which only records the move)
        assert tuple(agents.evaluateTrigger(decision_id)) == (False, b"stale return index")
        assert decision_id not in agents.decisionsDue(10)
        assert_reverts(agents, "evaluate", decision_id, sender=attacker, error="StaleReturnIndex",
                       decisionId=decision_id, sleeve=desk.system.sleeve(name).sleeve)  # fmt: skip
        router.poke(token, sender=attacker)
    assert router.lastPrice(token)[0] == reference  # the reference never took the round

    desk.set_price(name, market)  # the next round: back where the market was
    router.poke(token, sender=attacker)  # drops the move that did not hold
    assert router.pendingPrice(token)[0] == 0
    assert tuple(agents.previewEvaluation(decision_id)) == honest
    tx = agents.evaluate(decision_id, sender=attacker)
    assert tuple(tx.return_value)[0] == toward_zero(excess, WAD)
    assert only_event(tx, agents.Evaluated)["slashAmount"] == slash
    assert [e["amount"] for e in events(tx, agents.SlashOpened)] == ([slash] if slashed else [])
    assert only_event(tx, agents.ReputationUpdated)["rewardPoints"] == points


@pytest.mark.parametrize("fault_bps", [-3_000, 3_000], ids=["crash-print", "spike-print"])
def test_a_decision_never_starts_from_a_faulty_round(desk, fault_bps):
    """Found in a review of the fix above: a rebalance during the faulty round recorded the
    round's price as the decision's start. Buying gold on a 30 % crash print was then judged,
    once the feed came back, as a 43 % gain (171,385 of reward points on a 1M vault in the
    review), and an honest agent buying on a spike print (or the strategy's own risk-off cut on
    a crash print) as a loss worth a slash. Now a rebalance moving a sleeve whose band is open
    reverts `StaleValuation(sleeve)`; one leaving that sleeve alone goes on; once the round is
    over the move goes through and starts from the market's price."""
    agents, vault, router = desk.agents, desk.vault, desk.system.router
    gold = desk.system.sleeve("gold")
    if any(vault.currentBps()):  # out of every sleeve: the next move buys gold (already out:
        desk.rebalance_after_cooldown([0, 0, 0])  # a decision moving nothing is refused)
    market = gold.feed.latestAnswer()
    desk.at(max(vault.nextRebalanceAt(), desk.now() + 1))
    desk.refresh()
    desk.set_price("gold", market * (BPS + fault_bps) // BPS)  # the faulty round
    into_gold = ([0, 4_000, 0], b"\x11" * 32, "ipfs://r")
    for _ in range(2):  # before and after a poke (which only records the move)
        assert_reverts(vault, "rebalance", *into_gold, sender=desk.allocator,
                       error="StaleValuation", sleeve=gold.sleeve)  # fmt: skip
        router.poke(gold.token, sender=desk.allocator)
    gold_untouched = ([2_000, 0, 0], b"\x11" * 32, "ipfs://r")  # no reason to wait
    assert revert_of(vault, "rebalance", *gold_untouched, sender=desk.allocator) is None

    desk.set_price("gold", market)  # the next round: back where the market was
    router.poke(gold.token, sender=desk.allocator)  # drops the move that did not hold
    tx = desk.rebalance(into_gold[0])
    decision_id = only_event(tx, agents.DecisionReported)["decisionId"]
    assert vault.decision(decision_id).startIndex[NAMES.index("gold")] == market * FEED_TO_WAD


def test_a_donation_to_the_lending_book_does_not_move_its_supply_index(project, accounts, chain):
    """The agent moved half the vault into the lending book. Stablecoin sent straight to the
    book, a donation to the vault and an `accrueInterest` leave its supply index (and with it
    the decision's preview) where interest alone put it: here, with no borrower, exactly 1."""
    lending = deploy_lending_system(project, accounts[0], accounts[1], accounts[5])
    vs, book, griefer = lending.vs, lending.book, accounts[9]
    vs.deposit(accounts[6], 1_000_000 * USDC)
    tx = vs.rebalance([0, 0, 0, 5_000])
    decision_id = only_event(tx, vs.agents.DecisionReported)["decisionId"]
    assert vs.vault.decision(decision_id).startIndex[3] == WAD

    def seen() -> tuple:
        preview = tuple(vs.agents.previewEvaluation(decision_id))
        return book.returnIndex(), book.totalAssets(), preview

    before = seen()

    faucet(vs.asset, griefer, 2 * GIFT)
    vs.asset.transfer(book, GIFT, sender=griefer)
    vs.asset.approve(vs.vault, MAX_UINT, sender=griefer)
    vs.vault.donate(GIFT, sender=griefer)
    book.accrueInterest(sender=griefer)
    assert vs.asset.balanceOf(book) == book.cash() + GIFT  # the gift arrived, uncounted
    assert seen() == before

    chain.pending_timestamp = tx.timestamp + EVAL_WINDOW
    tx = vs.agents.evaluate(decision_id, sender=griefer)
    assert tuple(tx.return_value) == (0, NO_SLASH)


def test_an_open_band_holds_up_only_the_sleeve_it_is_on(desk):
    """Found in a review of the check above: a rebalance leaving a held sleeve at its weight still
    sold the fraction of a bps it held above `nav × weight`, so its reached weight was one bps
    lower, it counted as moved, and an open band on it (a −12.34 % gold round, unconfirmed)
    reverted a cut of T-bills with `StaleValuation(gold)`: any sleeve's unconfirmed round held up
    every decision, a risk-off cut included. Now a sleeve whose target is its weight is not
    traded: the cut goes through with gold's holding and weight unchanged, and a move of gold
    itself still waits for the market."""
    vault, router = desk.vault, desk.system.router
    gold = desk.system.sleeve("gold")
    g = NAMES.index("gold")
    desk.rebalance_after_cooldown([3_000, 3_000, 0])
    desk.at(vault.nextRebalanceAt())
    desk.refresh()
    desk.set_price("gold", gold.feed.latestAnswer() * (BPS - 1_234) // BPS)
    low, high = router.priceBand(gold.token)
    assert low != high  # the round is beyond the band: unconfirmed
    weights = list(vault.currentBps())
    move_gold = ([1_000, weights[g] - 100, 0], b"\x11" * 32, "ipfs://r")
    assert_reverts(vault, "rebalance", *move_gold, sender=desk.allocator,
                   error="StaleValuation", sleeve=gold.sleeve)  # fmt: skip
    held = gold.sleeve.totalAssets()
    tx = desk.rebalance([1_000, weights[g], 0])  # the cut of T-bills alone
    moved = only_event(tx, vault.Rebalanced)
    assert moved["oldBps"][g] == moved["newBps"][g] == weights[g]
    assert moved["newBps"][0] == 1_000
    assert gold.sleeve.totalAssets() == held  # not a unit of gold sold


def test_a_rule_voted_after_a_decision_never_judges_it(desk, accounts):
    """Found in a governance review after stop 39: an agent's bond stays locked until its open
    decisions are evaluated (`agent.evalWindow`, up to 30 days, longer than a proposal's 19-day
    cycle), and the evaluation read `agent.toleranceBps` and `agent.maxSlashBps` when it ran. A
    change voted after the decision (tolerance 50 -> 0, cap 10 % -> 15 %) slashed the agent 3,000
    for a 30 bps loss inside the tolerance of its day, though it had asked to leave at once. The
    defence: the decision record keeps both values from the decision's block."""
    agents, agent = desk.agents, desk.allocator
    desk.set_param("agent.evalWindow", 30 * DAY)
    tx = desk.rebalance_after_cooldown([6_000, 0, 0])
    decision_id = tx.return_value
    record = agents.decisionRecord(decision_id)
    registry = desk.system.registry
    live = [registry.get(keccak(text=f"agent.{n}")) for n in ("toleranceBps", "maxSlashBps")]
    assert [record.toleranceBps, record.maxSlashBps] == live == [50, 1_000]
    agents.requestUnbond(agents.agentInfo(agent).stake, sender=agent)  # it wants out at once
    desk.at(tx.timestamp + 20 * DAY)  # the DAO's cycle later, before the decision is judged
    desk.set_param("agent.toleranceBps", 0)
    desk.set_param("agent.maxSlashBps", 1_500)

    desk.at(record.dueAt - 60)
    desk.set_price("tbill", 99_500_000)  # -0.5 % on 60 %: -30 bps, inside the old tolerance
    excess, preview, _ = agents.previewEvaluation(decision_id)
    assert -50 * WAD < excess <= -30 * WAD and preview == 0
    tx = desk.evaluate(decision_id)
    assert only_event(tx, agents.Evaluated)["slashAmount"] == 0
    # A decision made under the new rules is judged by them.
    desk.set_price("tbill", 100_000_000)
    assert (
        agents.decisionRecord(
            desk.rebalance_after_cooldown([5_000, 0, 0], agent=accounts[8]).return_value
        ).toleranceBps
        == 0
    )


def test_rules_past_the_records_range_never_stop_rebalances(desk):
    """Found in a second read of the record above: a tolerance set above 65,535 bps (the DAO's
    "never slash") made every rebalance revert on the record's 16-bit cast. The record keeps
    the value saturated instead (and the slash cap at most the whole bond)."""
    registry, gov = desk.system.registry, desk.system.governance
    for name, value in (("agent.toleranceBps", 70_000), ("agent.maxSlashBps", 20_000)):
        registry.setBounds(keccak(text=name), 0, 100_000, 0, 0, sender=gov)
        desk.set_param(name, value)
    tx = desk.rebalance_after_cooldown([6_000, 0, 0])
    record = desk.agents.decisionRecord(tx.return_value)
    assert (record.toleranceBps, record.maxSlashBps) == (65_535, 10_000)
