"""Attacks on how the vault prices entries and exits (issue 18: H-1, M-1, M-2, M-3, L-2, the fee
dodge), each mounted step by step against the forward-priced ERC-7540 vault.

The old vault priced deposits and withdrawals synchronously at the live NAV, so whoever could
move or foresee the NAV within one transaction or across one price round could take value from
the depositors who stayed. The defences shown here:
- entries and exits are requests settled at a strike whose every price was published after
  them (no one trades at a price they already know; nothing enters the NAV inside one
  transaction: a pending deposit is held apart);
- donations and executed slashes unlock over `vault.unlockPeriod`, deposits pay the NAV with
  locked donations counted, exits get it without them: a newcomer buys none of a donation;
- the performance fee is taken at strikes on the gains that stood, so each leaver pays it on
  its gains that stood;
- redemptions are aggregated per strike epoch: dust requests cost the strike nothing per request;
- a request for another controller needs its consent: nobody's gift holds up a holder's exit.

The attacker is `FlashSearcher` (contracts/mocks): a contract that runs a list of calls, inside an
ERC-3156 flash loan from `MockFlashLender` or plainly, and can bond as an agent.
"""

from __future__ import annotations

import ape
import pytest
from eth_utils import keccak

from tests.agent_support import EVAL_WINDOW, VETO_WINDOW, build_desk
from tests.lending_support import FEED_UNIT
from tests.vault_support import (
    DAY,
    USDC,
    WINDOW,
    define,
    faucet,
    isolated,
    next_window,
    settled,
    stand_fee_sample,
)

MILLION = 1_000_000 * USDC
OFFSET = 10**12


@pytest.fixture(scope="module")
def desk(project, accounts, chain):
    """1M from the depositor (accounts[6]), the allocator bonded, prices valid for a week."""
    return build_desk(project, accounts, chain)


@pytest.fixture(scope="module")
def attacker(accounts):
    return accounts[9]


@pytest.fixture(scope="module")
def lender(project, desk, attacker):
    """A fee-free flash lender holding 20M of the stablecoin."""
    lender = attacker.deploy(project.MockFlashLender)
    faucet(desk.system.asset, attacker, 20 * MILLION)
    desk.system.asset.transfer(lender, 20 * MILLION, sender=attacker)
    return lender


@pytest.fixture(scope="module")
def searcher(project, attacker):
    return attacker.deploy(project.FlashSearcher)


@pytest.fixture(autouse=True)
def _isolate(chain):
    with isolated(chain):
        yield


def call(contract, method: str, *args) -> tuple[str, bytes]:
    """One FlashSearcher.Call: `contract.method(*args)` encoded."""
    return (contract.address, bytes(getattr(contract, method).as_transaction(*args).data))


def claim_all(vault, account) -> int:
    """Claim every settled share and every filled redemption of `account`; return the assets."""
    if vault.maxMint(account):
        vault.mint(vault.maxMint(account), account, account, sender=account)
    paid = 0
    if vault.maxRedeem(account):
        paid = vault.redeem(vault.maxRedeem(account), account, account, sender=account).return_value
    return paid


def enter(desk, account, assets: int) -> None:
    """Request, strike, claim: `account` holds the shares `assets` bought."""
    desk.system.fund(account, assets)
    desk.vault.requestDeposit(assets, account, account, sender=account)
    desk.system.strike()
    claim_all(desk.vault, account)


def leave(desk, account) -> int:
    """Request redemption of every share, strike, claim; return the assets received."""
    desk.vault.requestRedeem(desk.vault.balanceOf(account), account, account, sender=account)
    desk.system.strike()
    return claim_all(desk.vault, account)


# --------------------------------------------------------------------------------- H-1


def test_a_flash_deposit_cannot_inflate_the_nav_a_rebalance_is_bounded_on(
    desk, searcher, lender, attacker
):
    """H-1: a bonded agent contract flash-borrows 4M, requests a deposit, rebalances "20%" into
    gold and takes the loan back out, all in one transaction. The pending 4M is held apart: the
    rebalance is measured on the real 1M, moves 200,000 (not 1M) and reaches exactly the
    weights it records; idle keeps its buffer."""
    system, vault, asset = desk.system, desk.vault, desk.system.asset
    stake = system.registry.get(keccak(text="agent.minStake"))
    faucet(asset, attacker, stake)
    asset.transfer(searcher, stake, sender=attacker)
    searcher.execute(
        [
            call(asset, "approve", system.agents, stake),
            call(system.agents, "register", "ipfs://searcher"),
            call(system.agents, "stake", stake),
        ],
        sender=attacker,
    )
    assert system.agents.isActive(searcher)
    loan = 4 * MILLION
    tx = searcher.flash(
        lender,
        asset,
        loan,
        [
            call(asset, "approve", vault, loan),
            call(vault, "requestDeposit", loan, searcher, searcher),
            call(vault, "rebalance", [0, 2_000, 0], b"\x22" * 32, "ipfs://h1"),
            call(vault, "cancelDepositRequest", searcher),
        ],
        sender=attacker,
    )
    decision = tx.events.filter(vault.Rebalanced)[0]
    assert decision.navBefore == MILLION  # the loan never counted
    assert list(decision.newBps) == [0, 2_000, 0]
    assert list(vault.currentBps()) == [0, 2_000, 0]  # reached == recorded
    assert system.sleeve("gold").sleeve.totalAssets() == pytest.approx(200_000 * USDC, abs=2)
    assert vault.idle() == pytest.approx(800_000 * USDC, abs=2)
    assert vault.pendingDeposits() == 0
    assert asset.balanceOf(lender) == 20 * MILLION  # repaid: the attacker kept nothing


def test_a_pending_deposit_cannot_distort_an_honest_agents_rebalance(desk, attacker, chain):
    """H-1, the sandwich: a depositor's 4M request placed before an honest agent's risk-off cut
    changes nothing the agent moves."""
    system, vault = desk.system, desk.vault
    desk.rebalance([0, 3_000, 0])
    ready = vault.nextRebalanceAt()

    def cut() -> int:
        desk.at(ready)
        desk.refresh()
        desk.rebalance([0, 1_000, 0])
        return system.sleeve("gold").sleeve.totalAssets()

    with isolated(chain):
        alone = cut()
    system.fund(attacker, 4 * MILLION)
    vault.requestDeposit(4 * MILLION, attacker, attacker, sender=attacker)
    assert cut() == alone


# --------------------------------------------------------------------------------- M-1


def test_the_fee_is_never_charged_on_a_donation_followed_by_deposits(desk, accounts, attacker):
    """M-1: 100k donated to a 1M vault, then 9.9M deposited, then strikes with no price move.
    The donation lifted the high-water mark when it was made (per share then), deposits pay the
    NAV with the donation counted: no strike ever finds a gain, during or after the unlock."""
    system, vault = desk.system, desk.vault
    desk.set_param("vault.performanceFeeBps", 1_000)
    desk.set_param("vault.unlockPeriod", 7 * DAY)
    donor = accounts[4]
    system.fund(donor, 100_000 * USDC)
    vault.donate(100_000 * USDC, sender=donor)
    system.fund(attacker, 9_900_000 * USDC)
    vault.requestDeposit(9_900_000 * USDC, attacker, attacker, sender=attacker)
    tx = system.strike()
    assert not tx.events.filter(vault.PerformanceFeeTaken)
    # That strike came within a day of the fee's sample, so it could charge nothing whatever
    # the price (IRWAVault.setAgentRegistry): through the unlock and a day past it, a strike
    # each day once the last one's price has stood a day, which would charge any gain on it.
    for _ in range(8):
        tx = stand_fee_sample(system)
        assert not tx.events.filter(vault.PerformanceFeeTaken)
    desk.at(desk.now() + 7 * DAY)
    system.fund(donor, USDC)
    vault.requestDeposit(USDC, donor, donor, sender=donor)
    tx = system.strike()
    assert not tx.events.filter(vault.PerformanceFeeTaken)
    assert vault.balanceOf(system.agents) == 0


# --------------------------------------------------------------------------------- M-2


def _pending_slash(desk) -> int:
    """The allocator moves 40% into gold; gold falls 5% over the window; the evaluation opens a
    slash; the veto window passes. Returns the slash id (executable now)."""
    desk.rebalance([0, 4_000, 0])
    desk.at(desk.now() + EVAL_WINDOW)
    desk.move("gold", -500)
    tx = desk.evaluate(0)
    slash_id = tx.events.filter(desk.agents.SlashOpened)[0].slashId
    desk.at(desk.now() + VETO_WINDOW + 1)
    desk.refresh()
    return slash_id


def test_a_flash_loan_cannot_snipe_an_executed_slash(desk, searcher, lender, attacker):
    """M-2 in one transaction: flash 9M, request a deposit, execute the slash, leave. The
    request holds no shares when the slash pays in, so the searcher can only cancel: the whole
    slash stays with the depositors (locked, unlocking to them)."""
    vault, asset = desk.vault, desk.system.asset
    desk.set_param("vault.unlockPeriod", 7 * DAY)
    slash_id = _pending_slash(desk)
    loan = 9 * MILLION
    tx = searcher.flash(
        lender,
        asset,
        loan,
        [
            call(asset, "approve", vault, loan),
            call(vault, "requestDeposit", loan, searcher, searcher),
            call(desk.agents, "executeSlash", slash_id),
            call(vault, "cancelDepositRequest", searcher),
        ],
        sender=attacker,
    )
    donated = tx.events.filter(vault.Donated)[0].assets
    assert donated > 0
    assert vault.balanceOf(searcher) == 0
    assert asset.balanceOf(searcher) == 0
    locked, _ = vault.lockedDonations()
    assert locked == donated


def test_a_depositor_who_enters_just_before_a_slash_earns_none_of_it_by_leaving(desk, attacker):
    """M-2 across strikes: the searcher's 9M is settled one strike before the (public) slash
    execution, and it requests its exit right after. The slash unlocks over a week: the exit,
    settled at the next request window's cut-off, carries only the unlocked part — the searcher's
    90% of what unlocked in that hour — never the 90% of the whole slash it took from the old
    vault."""
    vault = desk.vault
    period = 7 * DAY
    desk.set_param("vault.unlockPeriod", period)
    slash_id = _pending_slash(desk)
    enter(desk, attacker, 9 * MILLION)
    tx = desk.agents.executeSlash(slash_id, sender=desk.keeper)
    donated = tx.events.filter(vault.Donated)[0].assets
    executed_at = desk.now()
    got = leave(desk, attacker)
    held_for = desk.now() - executed_at
    gain = got - 9 * MILLION
    assert held_for <= WINDOW + 60
    assert gain <= donated * held_for // period  # its share (9/10) of what unlocked meanwhile
    assert gain < donated // 100


# --------------------------------------------------------------------------------- M-3


def test_a_price_round_seen_coming_cannot_be_sandwiched(desk, attacker):
    """M-3: gold is 40% of a 1M vault; a +2% round (inside oracle.maxDeviationBps) is about to
    publish (+8,000 NAV). The searcher requests 4M before it and its exit right after. Forward
    pricing settles the deposit at the first strike with prices newer than the request — after
    the round: the searcher pays the new price and takes nothing of the step."""
    system, vault = desk.system, desk.vault
    desk.rebalance([0, 4_000, 0])
    system.fund(attacker, 4 * MILLION)
    vault.requestDeposit(4 * MILLION, attacker, attacker, sender=attacker)
    # The round lands after the request window's cut-off (the searcher saw it coming), then the
    # strike.
    next_window(desk.chain)
    desk.move("gold", 200)
    desk.refresh()
    system.vault.strike(sender=desk.keeper)
    claim_all(vault, attacker)
    got = leave(desk, attacker)
    assert got <= 4 * MILLION  # the old vault paid it 7,273 of the 8,000 step
    # The step went to the depositor who held through the round.
    assert vault.convertToAssets(vault.balanceOf(desk.depositor)) >= MILLION + 7_999 * USDC


def test_a_request_at_the_rounds_own_second_waits_for_the_next_round(desk, attacker):
    """The boundary: a price settles the requests of the windows that closed by the time it was
    published. A request in the last second of a window settles at a round on the cut-off; a
    request landing in the same second as that round (next to it in the block order) belongs to
    the next window and waits for a later round."""
    system, vault = desk.system, desk.vault
    desk.rebalance([3_000, 3_000, 2_000])  # priced sleeves (an empty one needs no price)
    system.fund(attacker, 2 * MILLION)
    vault.setOperator(attacker, True, sender=desk.depositor)  # a second account of the attacker's
    cutoff = (desk.now() // WINDOW + 1) * WINDOW
    desk.at(cutoff - 1)
    vault.requestDeposit(MILLION, attacker, attacker, sender=attacker)  # last second of window w
    desk.refresh(at=cutoff)  # the round, at the cut-off
    desk.at(cutoff)
    vault.requestDeposit(MILLION, desk.depositor, attacker, sender=attacker)  # same second
    assert desk.now() == cutoff
    strike = settled(vault.strike(sender=desk.keeper), vault)
    assert strike["depositAssets"] == MILLION  # only the request made before the round
    assert vault.pendingDepositRequest(0, desk.depositor) == MILLION
    with ape.reverts(vault.StrikeNotReady, cutoff=cutoff + WINDOW):
        vault.strike(sender=desk.keeper)


def test_a_late_cancel_is_no_free_option_while_a_strike_could_settle(desk, attacker):
    """Found in a review after issue 18: a deposit no strike settled within vault.strikeMaxWait
    came back on request, whether or not a strike could settle it: with keepers away and prices
    fresh, the depositor could look at the published price against the market, then strike
    (cheap) or cancel (dear) at no cost. Now the late cancel is refused while a strike could
    settle the window (strike instead); with a price in the way (stale here) it comes back."""
    system, vault = desk.system, desk.vault
    desk.rebalance([3_000, 3_000, 2_000])  # priced sleeves: a stale one blocks deposits
    wait = system.registry.get(keccak(text="vault.strikeMaxWait"))
    system.fund(attacker, MILLION)
    vault.requestDeposit(MILLION, attacker, attacker, sender=attacker)
    cutoff = (desk.now() // WINDOW + 1) * WINDOW
    desk.at(cutoff + wait)
    desk.refresh()  # every price fresh and past the cut-off: a strike settles the window
    with ape.reverts(vault.RequestWindowClosed, controller=attacker.address, closesAt=cutoff):
        vault.cancelDepositRequest(attacker, sender=attacker)
    assert vault.pendingDepositRequest(0, attacker) == MILLION
    # A dead feed: no strike can settle the deposit, and it comes back to its controller.
    desk.make_stale("gold")
    with ape.reverts(vault.StrikeNotReady):
        vault.strike(sender=desk.keeper)
    held = system.asset.balanceOf(attacker)
    vault.cancelDepositRequest(attacker, sender=attacker)
    assert system.asset.balanceOf(attacker) == held + MILLION
    assert vault.pendingDeposits() == 0


def test_a_request_holding_the_deposit_caps_room_holds_it_one_window_at_most(
    desk, accounts, attacker
):
    """The deposit cap counts pending requests (as Aave's supply caps and MetaMorpho's count
    what is supplied), so an attacker may take the room left with a request and cancel it before
    its cut-off, keeping others out for free. What bounds it: cancelled, the room is back at once
    and the attacker gets exactly its assets (nothing earned: a pending deposit is held apart);
    past the cut-off the request cannot be cancelled while a strike could settle it, so holding
    the room for longer than one window means buying shares at the strike's NAV, as any
    depositor filling the cap does."""
    system, vault, asset = desk.system, desk.vault, desk.system.asset
    honest = accounts[3]
    nav = vault.totalAssets()
    system.set_param("vault.depositCap", nav + MILLION)
    system.fund(attacker, 2 * MILLION)
    system.fund(honest, MILLION)
    held = asset.balanceOf(attacker)
    vault.requestDeposit(MILLION, attacker, attacker, sender=attacker)
    assert vault.totalAssets() == nav  # held apart: it earns nothing while it waits
    with ape.reverts(vault.DepositCapExceeded, assets=10 * USDC, room=0):
        vault.requestDeposit(10 * USDC, honest, honest, sender=honest)

    vault.cancelDepositRequest(attacker, sender=attacker)
    assert asset.balanceOf(attacker) == held
    vault.requestDeposit(MILLION, honest, honest, sender=honest)  # the same window: room again
    system.strike()
    assert vault.maxDeposit(honest) == MILLION

    # Holding the room past the cut-off: settled at the strike, not cancelled.
    system.set_param("vault.depositCap", vault.totalAssets() + MILLION)
    vault.requestDeposit(MILLION, attacker, attacker, sender=attacker)
    cutoff = (desk.now() // WINDOW + 1) * WINDOW
    desk.at(cutoff)
    desk.refresh()  # every price published past the cut-off: a strike could settle the window
    with ape.reverts(vault.RequestWindowClosed, controller=attacker.address, closesAt=cutoff):
        vault.cancelDepositRequest(attacker, sender=attacker)
    supply, assets = vault.totalSupply() + OFFSET, vault.totalAssets() + 1
    strike = settled(vault.strike(sender=desk.keeper), vault)
    assert strike["depositAssets"] == MILLION
    assert vault.maxMint(attacker) == MILLION * supply // assets  # at the NAV, rounded down
    assert vault.pendingDepositRequest(0, attacker) == 0


# ------------------------------------------------------------------------------ unconfirmed moves


def test_a_strike_inside_an_unconfirmed_move_settles_nothing(desk, accounts, attacker):
    """Found in a review after issue 18: while a move beyond oracle.maxDeviationBps was
    unconfirmed, a strike priced deposits at the band's high end and redemptions at its low end.
    On a real move that is the wrong end for whoever is in flight: gold, 40% of a 1M vault, falls
    15%, and a holder strikes at once: a 1M deposit paid the pre-fall NAV, 30,000 of it to those
    who stay. Now a sleeve whose band is open is not fresh: the strike waits, nothing moves, and
    once the move is confirmed (anyone's poke, oracle.confirmDelay after the move was recorded)
    the deposit pays the NAV everybody is marked at."""
    system, vault, router = desk.system, desk.vault, desk.system.router
    victim = accounts[4]
    desk.rebalance([0, 4_000, 0])
    system.fund(victim, MILLION)
    vault.requestDeposit(MILLION, victim, victim, sender=victim)
    next_window(desk.chain)
    desk.move("gold", -1_500)  # beyond the 10% band, after the request's cut-off
    desk.refresh()
    gold = system.sleeve("gold")
    with ape.reverts(vault.StrikeNotReady, sleeve=gold.sleeve.address):
        vault.strike(sender=attacker)  # the old vault settled here, at the pre-fall NAV
    assert vault.pendingDepositRequest(0, victim) == MILLION  # nothing moved
    ok, reason = vault.strikeTrigger()
    assert not ok and reason == b"no request window past a published price"
    low, high, _, fresh = gold.sleeve.strikeValuation()
    assert low < high and not fresh  # the band is open: the sleeve is not fresh
    # Anyone confirms the move: recorded now, confirmed once it has held for the delay.
    seen = router.poke(gold.token, sender=attacker).timestamp
    with ape.reverts(vault.StrikeNotReady, sleeve=gold.sleeve.address):
        vault.strike(sender=attacker)
    desk.at(seen + system.registry.get(keccak(text="oracle.confirmDelay")))
    desk.refresh()
    router.poke(gold.token, sender=attacker)
    assert gold.sleeve.strikeValuation()[3]  # one price again
    mark = (vault.totalAssets() + 1) * 10**36 // (vault.totalSupply() + OFFSET)
    strike = settled(vault.strike(sender=attacker), vault)
    assert strike["depositAssets"] == MILLION
    assert strike["depositPrice"] == mark  # the confirmed NAV, not the pre-fall one
    claim_all(vault, victim)
    assert vault.convertToAssets(vault.balanceOf(victim)) >= MILLION - 2 * USDC // 10**6


def test_an_exit_waits_for_an_unconfirmed_move_at_most_the_strike_wait(desk):
    """Nobody confirms gold's +15% (no keeper, no poke): exits must not hang on it. While the
    feed publishes, the move waits to be confirmed (anyone may), never valued stale; once the
    feed has published nothing for vault.strikeMaxWait the redemption settles with gold valued
    as a stale sleeve at the band's low end (the reference) less vault.staleHaircutBps; a
    deposit never settles against it."""
    system, vault = desk.system, desk.vault
    desk.rebalance([0, 4_000, 0])
    holder = desk.depositor
    shares = vault.balanceOf(holder) // 10
    vault.requestRedeem(shares, holder, holder, sender=holder)
    cutoff = next_window(desk.chain)
    desk.at(cutoff + 3_600)
    desk.move("gold", 1_500)  # unconfirmed, an hour after the cut-off
    wait = system.registry.get(keccak(text="vault.strikeMaxWait"))
    desk.refresh(at=cutoff + wait)  # the feed publishes on, past the cut-off's wait
    last = desk.feed("gold").latestRoundData()[3]
    with ape.reverts(vault.StrikeNotReady, cutoff=cutoff, staleReadyAt=last + wait):
        vault.strike(sender=desk.keeper)
    desk.at(last + wait)  # then the feed stops: the wait runs from its last round
    gold = system.sleeve("gold")
    low, high, _, fresh = gold.sleeve.strikeValuation()
    assert low < high and not fresh  # still unconfirmed
    haircut = system.registry.get(keccak(text="vault.staleHaircutBps"))
    nav = vault.idle() + low - (low * haircut + 9_999) // 10_000
    supply = vault.totalSupply() + OFFSET
    strike = settled(vault.strike(sender=desk.keeper), vault)
    assert strike["staleSleeves"] == 1 << 1  # gold, the second sleeve
    assert strike["redeemShares"] == shares
    assert strike["redeemPrice"] == (nav + 1) * 10**36 // supply
    assert strike["depositAssets"] == 0


def test_a_feed_that_dies_on_an_unconfirmed_jump_pays_leavers_no_more_than_the_reference(desk):
    """Gold's feed publishes +15 % (unconfirmed) and then stops. Once the answer is stale it
    was the value leavers were paid at the stale path, less the haircut: a jump nobody
    confirmed, paid by those who stay (found while reviewing the stale clock). The sleeve now
    values leavers at the lower of the stale answer and the router's reference."""
    system, vault = desk.system, desk.vault
    desk.rebalance([0, 4_000, 0])
    desk.set_param("oracle.maxStaleness", DAY)
    holder = desk.depositor
    shares = vault.balanceOf(holder) // 10
    vault.requestRedeem(shares, holder, holder, sender=holder)
    next_window(desk.chain)
    gold = system.sleeve("gold")
    before, _, _, _ = gold.sleeve.strikeValuation()  # at the reference
    desk.move("gold", 1_500)  # the last round the feed publishes
    last = desk.feed("gold").latestRoundData()[3]
    wait = system.registry.get(keccak(text="vault.strikeMaxWait"))
    desk.mine_at(last + wait)
    low, high, at, fresh = gold.sleeve.strikeValuation()
    assert not fresh and at == last  # stale (a day), its clock the last round
    assert low == before and high > low * 114 // 100  # the reference, not the jump
    haircut = system.registry.get(keccak(text="vault.staleHaircutBps"))
    nav = vault.idle() + low - (low * haircut + 9_999) // 10_000
    supply = vault.totalSupply() + OFFSET
    strike = settled(vault.strike(sender=desk.keeper), vault)
    assert strike["staleSleeves"] == 1 << 1 and strike["redeemShares"] == shares
    assert strike["redeemPrice"] == (nav + 1) * 10**36 // supply


def queued_behind_a_gate(desk, accounts):
    """A leaver's 300,000 exit of a 1.3M vault, 130,000 of it paid from idle while the T-bill
    and gold issuers gate; the rest waits 4 days (past vault.strikeMaxWait, 3 days), then the
    gates lift with every price fresh. Returns the leaver."""
    system, vault = desk.system, desk.vault
    leaver = accounts[3]
    system.fund(leaver, 300_000 * USDC)
    vault.requestDeposit(300_000 * USDC, leaver, leaver, sender=leaver)
    system.strike()
    vault.mint(vault.maxMint(leaver), leaver, leaver, sender=leaver)
    desk.rebalance([5_000, 4_000, 0])
    vault.requestRedeem(vault.balanceOf(leaver), leaver, leaver, sender=leaver)
    for name in ("tbill", "gold"):
        system.sleeve(name).issuer.setFrozen(True, sender=desk.governance)
    first = settled(system.strike(), vault)
    assert 0 < first["redeemAssets"] < 300_000 * USDC  # part paid, the rest queued
    desk.at(desk.now() + 4 * DAY)
    system.publish_prices()
    for name in ("tbill", "gold"):
        system.sleeve(name).issuer.setFrozen(False, sender=desk.governance)
    return leaver


def test_a_move_awaiting_confirmation_never_haircuts_an_exit_queued_for_liquidity(desk, accounts):
    """An exit queued past vault.strikeMaxWait for liquidity (an issuer gate), not for a price,
    was haircut by the first strike in the hour a >10 % gold move waited for its confirmation
    (strikeTrigger even advised it; the settler strikes when it does): 5 % of gold taken from the
    leaver for a price that was live (found in a review: 3,362 of a 170,000 rest). The stale
    path now values a sleeve as stale only once it has gone vault.strikeMaxWait without a
    fresh price: the strike waits for the confirmation and pays the confirmed NAV."""
    system, vault = desk.system, desk.vault
    leaver = queued_behind_a_gate(desk, accounts)
    desk.move("gold", -1_100)  # beyond oracle.maxDeviationBps (10 %): an hour to confirm
    token = system.sleeve("gold").token
    desk.at(desk.now())  # seen in the round's second, however long that took (`since` below)
    system.router.poke(token, sender=desk.keeper)  # recorded, as the settler does
    assert vault.strikeTrigger()[0] is False
    _, since = system.router.pendingPrice(token)
    wait = system.registry.get(keccak(text="vault.strikeMaxWait"))
    with ape.reverts(vault.StrikeNotReady, staleReadyAt=since + wait):
        vault.strike(sender=desk.depositor)  # a stayer, who would gain the haircut
    strike = settled(system.strike(), vault)  # confirmed an hour later, then struck
    assert strike["staleSleeves"] == 0  # the confirmed NAV, no haircut
    assert vault.pendingRedeemRequest(0, leaver) == 0  # the rest filled


def test_a_record_left_from_an_earlier_move_is_no_stale_clock_for_a_queued_exit(
    desk, accounts, attacker
):
    """A searcher who holds shares plants the band's clock: gold prints -11 % for one round, it
    pokes (the move recorded: `bandOpenSince`), the next round is back within the band and
    nobody pokes again. Four days on, an exit queued for liquidity (an issuer gate) waits past
    vault.strikeMaxWait, and gold's next round is -11 % again, a new move a poke can confirm at
    once. The band's clock ran from the planted record (found in a review of the band clock):
    the searcher's strike in that round took the stale path and haircut gold's share of the
    leaver's rest, for a price that was live. A record whose confirmation has fallen due is no
    clock (a poke confirms it now, anyone may): the strike waits for it."""
    system, vault = desk.system, desk.vault
    token = system.sleeve("gold").token
    start = desk.feed("gold").latestAnswer()
    desk.move("gold", -1_100)  # one bad round
    planted = system.router.poke(token, sender=attacker).timestamp
    assert system.router.bandOpenSince(token) == planted
    desk.set_price("gold", start)  # back at once; nobody pokes to drop the record
    assert system.router.bandOpenSince(token) == 0
    leaver = queued_behind_a_gate(desk, accounts)
    assert system.router.pendingPrice(token)[1] == planted  # still recorded, four days on
    desk.move("gold", -1_100)  # a new move, this round
    assert vault.strikeTrigger()[0] is False
    with ape.reverts(vault.StrikeNotReady):
        vault.strike(sender=attacker)  # a stayer, who would gain the haircut
    strike = settled(system.strike(), vault)  # confirmed by a poke (at once: the old record)
    assert strike["staleSleeves"] == 0  # the confirmed NAV, no haircut
    assert vault.pendingRedeemRequest(0, leaver) == 0


@pytest.mark.parametrize("bps", [1_500, -2_500], ids=["across", "further"])
def test_a_planted_record_is_no_clock_for_the_next_move_a_keeper_records(
    desk, accounts, attacker, bps
):
    """The same planted record, and the next move is recorded by a keeper's poke: gold +15 %
    (across the reference: the old record dropped, the rise pending) or -25 % (further out: the
    old record's -11 % confirmed at once, the rest pending). The band never closed at a poke, so
    the clock ran from the planted poke four days before: the next strike paid the leaver gold
    at its band's low less the haircut (for the rise, the reference before it). A poke that finds
    the record it acts on a confirmDelay past its due time starts the clock again."""
    system, vault = desk.system, desk.vault
    token = system.sleeve("gold").token
    start = desk.feed("gold").latestAnswer()
    desk.move("gold", -1_100)  # one bad round
    system.router.poke(token, sender=attacker)
    desk.set_price("gold", start)  # back at once; nobody pokes to drop the record
    leaver = queued_behind_a_gate(desk, accounts)
    desk.move("gold", bps)
    recorded = system.router.poke(token, sender=desk.keeper).timestamp  # as the settler does
    assert system.router.bandOpenSince(token) == recorded  # a new clock
    assert vault.strikeTrigger()[0] is False
    with ape.reverts(vault.StrikeNotReady):
        vault.strike(sender=attacker)
    strike = settled(system.strike(), vault)  # confirmed, then struck
    assert strike["staleSleeves"] == 0 and vault.pendingRedeemRequest(0, leaver) == 0


def test_a_heartbeat_a_moment_late_never_haircuts_an_exit_queued_for_liquidity(desk, accounts):
    """The same queued exit while gold's heartbeat is one second past oracle.maxStaleness (1
    day, under vault.strikeMaxWait as deployed): the strike waits for the next round instead of
    valuing gold as stale (found in the same review)."""
    system, vault = desk.system, desk.vault
    leaver = queued_behind_a_gate(desk, accounts)
    desk.set_param("oracle.maxStaleness", DAY)
    feed = desk.feed("gold")
    feed.setRound(feed.latestAnswer(), desk.now() - DAY - 1, sender=desk.governance)
    assert vault.strikeTrigger()[0] is False
    with ape.reverts(vault.StrikeNotReady):
        vault.strike(sender=desk.depositor)
    strike = settled(system.strike(), vault)  # the next round, fresh
    assert strike["staleSleeves"] == 0 and vault.pendingRedeemRequest(0, leaver) == 0


def test_a_feed_silent_for_the_wait_still_lets_a_queued_exit_leave(desk, accounts):
    """The rule keeps exits free of keepers and feeds: gold's feed stops for good, and once it
    has published nothing for vault.strikeMaxWait the queued exit settles with gold at its last
    price less vault.staleHaircutBps."""
    system, vault = desk.system, desk.vault
    leaver = queued_behind_a_gate(desk, accounts)
    desk.set_param("oracle.maxStaleness", DAY)
    gold = system.sleeve("gold")
    last = gold.feed.latestRoundData()[3]
    wait = system.registry.get(keccak(text="vault.strikeMaxWait"))
    desk.at(last + wait - 100)
    for name in ("tbill", "invoices"):  # the other feeds publish on
        desk.set_price(name, desk.feed(name).latestAnswer())
    with ape.reverts(vault.StrikeNotReady, staleReadyAt=last + wait):
        vault.strike(sender=desk.keeper)
    desk.at(last + wait)
    strike = settled(vault.strike(sender=desk.keeper), vault)
    assert strike["staleSleeves"] == 1 << 1 and vault.pendingRedeemRequest(0, leaver) == 0


def test_a_feed_set_while_stale_that_dies_never_freezes_exits(desk, project, accounts):
    """Found in an ERC-7540 conformance review after stop 39: a feed set while stale gives its
    token no reference price, the vault could still invest once the feed was fresh, and when the
    feed then answered 0 `tryPrice` had no price to fall back on: `totalAssets`, the conversions
    and `strike()` reverted, so exits waited on the feed (a poke cannot help, it needs a usable
    price). The sleeve's first purchase now makes its fresh price the reference: the dead feed is
    valued like any other, at the reference less the haircut once the strike wait has passed."""
    system, vault, gov = desk.system, desk.vault, desk.system.governance
    feed = gov.deploy(project.MockAggregator, 8, "late / USD", FEED_UNIT, gov)
    issuer = gov.deploy(project.MockIssuer, system.asset, feed, "Late", "LATE", 18, 0, gov)
    token = project.MockRWAToken.at(issuer.rwaToken())
    feed.setRound(FEED_UNIT, desk.now() - 8 * DAY, sender=gov)  # stale (7 days) when it is set
    system.router.setFeed(token, feed, sender=gov)
    assert system.router.lastPrice(token)[0] == 0  # no reference
    feed.setAnswer(FEED_UNIT, sender=gov)  # the feed comes alive; nobody pokes
    sleeve = gov.deploy(project.TokenizedRWASleeve, vault, issuer, system.router)
    define(system.registry, gov, "vault.maxSleeveBps.late", 6_000, 0, 10_000)
    vault.addSleeve(sleeve, "late", sender=gov)
    desk.rebalance([0, 0, 0, 3_000])
    assert sleeve.units() > 0
    assert system.router.lastPrice(token)[0] == FEED_UNIT * 10**10  # the purchase set it

    feed.setAnswer(0, sender=gov)  # the feed dies
    nav = vault.totalAssets()  # answers: the units at their reference
    assert nav > 0 and vault.convertToAssets(10**18) > 0
    holder = desk.depositor
    vault.requestRedeem(vault.balanceOf(holder) // 10, holder, holder, sender=holder)
    wait = system.registry.get(keccak(text="vault.strikeMaxWait"))
    desk.at(desk.now() + wait + WINDOW)
    for s in system.sleeves:  # every other feed publishes on
        desk.set_price(s.name, desk.feed(s.name).latestAnswer())
    strike = settled(vault.strike(sender=desk.keeper), vault)
    assert strike["staleSleeves"] == 1 << 3 and vault.pendingRedeemRequest(0, holder) == 0


# --------------------------------------------------------------------------------- the fee dodge


def test_a_holder_cannot_leave_before_the_fee_and_come_back_after(desk):
    """Holders used to dodge the fee by leaving before a fee-taking rebalance. Now the strike
    that settles the exit takes the fee first: the leaver pays its share on its gains that
    stood (here a day: a strike saw it a day before)."""
    system, vault = desk.system, desk.vault
    desk.set_param("vault.performanceFeeBps", 1_000)
    desk.rebalance([0, 4_000, 0])
    desk.at(desk.now() + DAY)
    desk.move("gold", 500)  # +20,000 on 400,000
    stand_fee_sample(system)
    vault.requestRedeem(vault.balanceOf(desk.depositor), desk.depositor, desk.depositor,
                        sender=desk.depositor)  # fmt: skip
    tx = system.strike()
    fee = tx.events.filter(vault.PerformanceFeeTaken)[0]
    assert fee.gain == pytest.approx(20_000 * USDC, rel=1e-3)
    assert fee.feeAssets == pytest.approx(2_000 * USDC, rel=1e-3)
    paid = vault.maxWithdraw(desk.depositor)
    assert paid <= MILLION + 18_000 * USDC + 1


# --------------------------------------------------------------------------------- L-2


def test_dust_redeem_requests_neither_hide_nor_delay_a_real_one(desk, accounts, attacker, chain):
    """L-2: 100 dust requests (1 wei of shares each, under 100 controllers) used to make the
    queue trigger report an empty queue. Requests are aggregated per strike epoch: the trigger
    sees the real request, the strike fills it, and its gas does not grow with the dust."""
    vault = desk.vault
    enter(desk, attacker, 1_000 * USDC)
    real = desk.depositor
    with isolated(chain):
        vault.requestRedeem(100_000 * 10**18, real, real, sender=real)
        next_window(chain)
        desk.refresh()
        baseline = vault.strike(sender=desk.keeper).gas_used
    for sybil in accounts[:5]:  # the attacker's own controllers (a gift needs consent)
        vault.setOperator(attacker, True, sender=sybil)
    for i in range(100):
        vault.requestRedeem(1, accounts[i % 5].address, attacker, sender=attacker)
    vault.requestRedeem(100_000 * 10**18, real, real, sender=real)
    next_window(chain)
    desk.refresh()
    ok, _ = vault.strikeTrigger()
    assert ok
    tx = vault.strike(sender=desk.keeper)
    assert settled(tx, vault)["redeemShares"] >= 100_000 * 10**18
    assert vault.claimableRedeemRequest(0, real) == 100_000 * 10**18
    assert tx.gas_used <= baseline * 11 // 10


def test_a_request_gifted_to_a_holder_cannot_hold_up_its_exit(desk, attacker):
    """Found after issue 18 (Low until now): anyone could open a request for any controller. A
    controller holds one request window at a time, so 1 wei of shares gifted to a holder in the
    last second of a window kept the holder's own redemption out of the queue until the gifted
    window was filled — behind a frozen issuer, days — for the cost of a transaction. A request
    for a controller other than its owner now needs that controller's consent (the caller is the
    controller or its operator): the gift is refused, the holder's exit enters the next window,
    and a controller that approved an operator still receives what it sends."""
    vault = desk.vault
    enter(desk, attacker, 1_000 * USDC)
    desk.system.fund(attacker, 1_000 * USDC)
    holder = desk.depositor
    cutoff = (desk.now() // WINDOW + 1) * WINDOW
    desk.at(cutoff - 1)  # the last second of the window
    with ape.reverts(vault.NotOperator, owner=holder.address, caller=attacker.address):
        vault.requestRedeem(1, holder, attacker, sender=attacker)
    with ape.reverts(vault.NotOperator, owner=holder.address, caller=attacker.address):
        vault.requestDeposit(1, holder, attacker, sender=attacker)
    assert vault.pendingRedeemRequest(0, holder) == 0
    assert vault.pendingDepositRequest(0, holder) == 0
    desk.at(max(cutoff, desk.now() + 1))  # the next window: the holder leaves
    shares = vault.balanceOf(holder)
    vault.requestRedeem(shares, holder, holder, sender=holder)
    assert vault.pendingRedeemRequest(0, holder) == shares
    # With the holder's consent a third party may add to its request (ERC-7540's operator).
    vault.setOperator(attacker, True, sender=holder)
    vault.requestRedeem(1, holder, attacker, sender=attacker)
    assert vault.pendingRedeemRequest(0, holder) == shares + 1
