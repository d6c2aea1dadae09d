"""RWAVault under an outside conformance reading of ERC-7540 / ERC-4626 (the a16z erc4626-tests
properties adapted to a fully asynchronous vault), for what tests/vault/test_erc7540_spec.py,
tests/vault/test_erc4626_properties.py and tests/vault/test_requests.py check in one state only:

- over random sequences of requests (an operator's, some for another consenting controller),
  cancels, strikes that fill redemptions in part (frozen issuers), partial claims by an
  operator between strikes, pauses, a shutdown and gifts, every `max*` is what a claim of
  exactly that amount takes (an `eth_call` by the controller's operator: it passes and returns
  the other side's `max*`), never more than the vault holds aside; the pending views add up to
  the queues; and no claim ever raises what was taken plus what is still claimable (the parts
  never add up to more than the whole, whichever bucket, fold or in-place path it takes);
- the same with an 18-decimal asset (no decimals offset: a share unit may be worth more than an
  asset unit), where a partial fill can owe a controller assets for no whole share.

Speed: expected reverts and the claims-at-max are raw `eth_call`s on the pending block.
"""

from __future__ import annotations

import pytest
from eth_abi import decode
from hexbytes import HexBytes
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.invariants.agent_machine_support import Raw, Read, Reads
from tests.vault_support import USDC, assert_reverts, deploy_vault_system, isolated, revert_of

EXAMPLES = settings(
    max_examples=max(8, settings.default.max_examples // 5),  # "deep" profile: 400
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
DAI = 10**18  # one whole 18-decimal stablecoin


@pytest.fixture(scope="module")
def people(accounts):
    """alice, bob and carol hold shares and request; erin operates for all three; dave only
    receives claims."""
    return accounts[6], accounts[7], accounts[8], accounts[9], accounts[3]


# The views of a step are read in one JSON-RPC batch per round of reads that depend on earlier
# ones (`Reads`, tests/invariants/agent_machine_support.py): nothing is mined in between, so each
# read sees what a call of its own would have; a few HTTP round trips a step instead of dozens.
MAX_VIEWS = ("maxDeposit", "maxMint", "maxWithdraw", "maxRedeem")  # in the order of `maxima`
_RAW: dict[str, Raw] = {}


def _raw(vault) -> Raw:
    raw = _RAW.get(vault.address)
    if raw is None:
        raw = _RAW[vault.address] = Raw(vault)
    return raw


def _claim_return(response: dict) -> int | None:
    if "error" in response:
        return None
    return decode(["uint256"], HexBytes(response["result"]))[0]


def queue_claim_call(
    reads: Reads, vault, method: str, amount: int, receiver, controller, sender
) -> Read:
    """`claim_call`, queued on `reads`."""
    data = HexBytes(getattr(vault, method).encode_input(amount, receiver, controller)).to_0x_hex()
    call = {"from": sender.address, "to": vault.address, "data": data}
    return reads.request("eth_call", [call, "pending"], _claim_return)


def claim_call(vault, method: str, amount: int, receiver, controller, sender) -> int | None:
    """`method(amount, receiver, controller)` (the 3-argument claim) as an `eth_call` from
    `sender` on the pending block: its return value, or None when it reverts."""
    reads = Reads()
    claimed = queue_claim_call(reads, vault, method, amount, receiver, controller, sender)
    reads.fetch()
    return claimed.value


def queue_maxima(reads: Reads, vault, who) -> list[Read]:
    return [reads.call(_raw(vault), view, who) for view in MAX_VIEWS]


def all_maxima(vault, controllers) -> dict:
    """`maxima` of each of `controllers`, read in one batch."""
    reads = Reads()
    queued = {c: queue_maxima(reads, vault, c) for c in controllers}
    reads.fetch()
    return {c: tuple(r.value for r in queued[c]) for c in controllers}


def maxima(vault, who) -> tuple[int, int, int, int]:
    return all_maxima(vault, [who])[who]


def check_claims_at_max(vault, controllers, operator, receiver) -> None:
    """Every max* is claimable in one call by the controller's operator, returning the other
    side's max*; Σ of what is claimable never exceeds what the vault holds aside for it."""
    raw, reads = _raw(vault), Reads()
    got = {
        c: (
            queue_maxima(reads, vault, c),
            [reads.call(raw, view, 0, c) for view in ("claimableDepositRequest",
             "claimableRedeemRequest", "pendingDepositRequest", "pendingRedeemRequest")],
        )
        for c in controllers
    }  # fmt: skip
    held = [reads.call(raw, view) for view in ("claimableRedemptions", "pendingRedemptions",
                                                 "pendingDeposits")]  # fmt: skip
    in_escrow = reads.call(raw, "balanceOf", vault)
    reads.fetch()
    claimable_redemptions, pending_redemptions, pending_deposits = (r.value for r in held)
    claims = {}
    for c in controllers:
        assets, shares, paid, burned = (r.value for r in got[c][0])
        wanted = {"mint": shares, "deposit": assets, "redeem": burned, "withdraw": paid}
        claims[c] = {
            method: queue_claim_call(reads, vault, method, amount, receiver, c, operator)
            for method, amount in wanted.items()
            if amount
        }
    reads.fetch()
    owed = owed_shares = 0
    for c in controllers:
        assets, shares, paid, burned = (r.value for r in got[c][0])
        claimable_deposit, claimable_redeem = (r.value for r in got[c][1][:2])
        assert assets == claimable_deposit
        assert burned == claimable_redeem
        claim = {method: r.value for method, r in claims[c].items()}
        if shares:
            assert claim["mint"] == assets, (c, shares)
        if assets:
            assert claim["deposit"] == shares, c
        if burned:
            assert claim["redeem"] == paid, c
        if paid:
            assert claim["withdraw"] == burned, c
        owed, owed_shares = owed + paid, owed_shares + shares
    assert owed <= claimable_redemptions
    assert owed_shares <= in_escrow.value - pending_redemptions
    # Pending is what no strike settled: deposits exactly, redemptions pro rata (each
    # controller's filled part rounded down, so the parts pending add up to the queue or more).
    assert sum(got[c][1][2].value for c in controllers) == pending_deposits
    pending = sum(got[c][1][3].value for c in controllers)
    assert pending >= pending_redemptions


# ------------------------------------------------------------------ 6-decimal asset, random runs


@pytest.fixture(scope="module", params=[6, 18], ids=["6-decimal-asset", "18-decimal-asset"])
def system(request, project, accounts, people):
    """alice, bob and carol hold about 500,000, 300,000 and 200,000 units (`system.unit`: a
    whole USDC, or 10**11 wei of an 18-decimal stablecoin, under the deposit cap's bound), 95 %
    invested. With the 18-decimal asset (no decimals offset) a gift of half the NAV makes a share
    unit worth 1.5 asset units."""
    alice, bob, carol, dave, erin = people
    gov = accounts[0]
    asset = None if request.param == 6 else gov.deploy(project.MockStablecoin18, "Mock DAI", "mDAI")
    s = deploy_vault_system(project, gov, accounts[1], accounts[5], asset=asset)
    s.unit = USDC if request.param == 6 else 10**11
    s.set_param("vault.depositCap", 10**12 * USDC)  # the parameter's bound
    for who, amount in ((alice, 500_000), (bob, 300_000), (carol, 200_000)):
        s.deposit(who, amount * s.unit + 123_457)
        s.fund(who, 500_000 * s.unit)
        s.vault.setOperator(erin, True, sender=who)
    s.fund(accounts[2], 1_000_000 * s.unit)  # donor of gifts
    if request.param == 18:
        s.asset.transfer(s.vault, s.vault.totalAssets() // 2, sender=accounts[2])
    s.rebalance([5_000, 3_000, 1_500])  # 5 % idle
    return s


@pytest.fixture(autouse=True)
def _isolate(chain):
    with isolated(chain):
        yield


who = st.integers(0, 2)
bps = st.sampled_from([10_000, 1]) | st.integers(1, 10_000)
METHODS = ("deposit", "mint", "withdraw", "redeem")  # in the order of `maxima`
# A claim: the k-th controller with something claimable, its k-th claim with a max above 0.
claims = st.tuples(st.just("claim"), st.integers(0, 5), st.tuples(st.integers(0, 3), bps))
others = st.one_of(
    st.tuples(st.just("requestRedeem"), who, bps),
    st.tuples(st.just("requestRedeemFor"), who, st.tuples(who, bps)),  # (owner, controller)
    st.tuples(st.just("requestDeposit"), who, st.integers(1, 60_000 * USDC)),  # × unit / USDC
    st.tuples(st.just("cancel"), who, st.booleans()),
    st.tuples(st.just("strike"), st.just(0), st.just(0)),
    st.tuples(st.just("strike"), st.just(0), st.just(0)),
    st.tuples(st.just("liquidity"), st.integers(0, 2), st.sampled_from(["open", "frozen"])),
    st.tuples(st.just("gift"), st.just(0), st.integers(1, 5_000 * USDC)),  # × unit / USDC
    st.tuples(st.just("pause"), st.just(0), st.booleans()),
    st.tuples(st.just("shutdown"), st.just(0), st.just(0)),
)
actions = st.one_of(claims, claims, others)  # two steps in three claim


def run_step(system, people, donor, step) -> str:
    """Runs `step` if the vault accepts it (checked by an eth_call first); returns what ran."""
    alice, bob, carol, dave, erin = people
    vault = system.vault
    kind, i, arg = step
    c = (alice, bob, carol)[i]
    if kind == "requestRedeem":
        shares = vault.balanceOf(c) * arg // 10_000
        if shares == 0 or revert_of(vault, "requestRedeem", shares, c, c, sender=erin):
            return "skip"
        vault.requestRedeem(shares, c, c, sender=erin)
    elif kind == "requestRedeemFor":  # the controller (erin's too) consents: erin sends
        controller, part = (alice, bob, carol)[arg[0]], arg[1]
        shares = vault.balanceOf(c) * part // 10_000
        if shares == 0 or revert_of(vault, "requestRedeem", shares, controller, c, sender=erin):
            return "skip"
        vault.requestRedeem(shares, controller, c, sender=erin)
    elif kind == "requestDeposit":
        arg = arg * system.unit // USDC
        if revert_of(vault, "requestDeposit", arg, c, c, sender=erin):
            return "skip"
        vault.requestDeposit(arg, c, c, sender=erin)
    elif kind == "cancel":
        method = "cancelDepositRequest" if arg else "cancelRedeemRequest"
        if revert_of(vault, method, c, sender=erin):
            return "skip"
        getattr(vault, method)(c, sender=erin)
    elif kind == "strike":
        system.publish_prices()
        system.confirm_moves()
        if revert_of(vault, "strike", sender=dave):
            return "skip"
        vault.strike(sender=dave)
    elif kind == "liquidity":
        system.sleeves[i].issuer.setFrozen(arg == "frozen", sender=system.governance)
    elif kind == "gift":
        arg = arg * system.unit // USDC
        system.asset.transfer(vault, arg, sender=donor)
    elif kind == "pause":
        method = "pauseAutomation" if arg else "unpauseAutomation"
        getattr(vault, method)(sender=system.guardian)
    elif kind == "shutdown":
        if vault.isShutdown():
            return "skip"
        vault.shutdown(sender=system.guardian)
    return kind


@EXAMPLES
@given(
    frozen=st.just([True] * 3) | st.lists(st.booleans(), min_size=3, max_size=3),
    opening=st.lists(st.integers(1, 10_000), min_size=3, max_size=3),
    deposits=st.lists(st.integers(1, 60_000 * USDC), min_size=3, max_size=3),  # × unit / USDC
    steps=st.lists(actions, min_size=6, max_size=16),
)
def test_max_is_what_a_claim_takes_and_claims_never_add_up_to_more_in_any_state(
    system, chain, accounts, people, frozen, opening, deposits, steps
):
    """ERC-4626 §max* (the most a claim accepts, never more; never reverting) and ERC-7540
    §Request Lifecycle (maxDeposit in sync with claimableDepositRequest) in every state a random
    run reaches: redemptions filled in part over several strikes, partial claims between them
    (buckets, folds, in-place parts), cancels, pauses, a shutdown. Each claim rounds against the
    claimer: the side it is charged in adds up exactly, and what it pays plus what is left
    claimable never exceeds what was claimable before it."""
    alice, bob, carol, dave, erin = people
    vault = system.vault
    controllers = (alice, bob, carol)
    with isolated(chain):
        for sleeve, f in zip(system.sleeves, frozen, strict=True):
            sleeve.issuer.setFrozen(f, sender=system.governance)
        ran, part_filled_claims = [], 0
        # Every controller opens with a redemption and a deposit, then a strike, so
        # that the random steps meet filled, part-filled and queued requests.
        opened = [("requestRedeem", i, b) for i, b in enumerate(opening)]
        opened += [("requestDeposit", i, a) for i, a in enumerate(deposits)]
        closing = [("strike", 0, 0), ("liquidity", 0, "open"), ("strike", 0, 0)]
        for step in [*opened, ("strike", 0, 0), *steps, *closing]:
            kind, i, arg = step
            if kind == "claim":
                k, part = arg
                now = all_maxima(vault, controllers)
                open_ = [c for c in controllers if any(now[c])]
                if not open_:
                    ran.append("skip")
                    continue
                c = open_[i % len(open_)]
                before = now[c]
                sides = [side for side in range(4) if before[side]]
                side = sides[k % len(sides)]
                method = METHODS[side]
                amount = max(1, before[side] * part // 10_000)
                if claim_call(vault, method, amount, dave, c, erin) is None:  # a 0 the other side
                    ran.append("skip")
                    continue
                part_filled_claims += side >= 2 and vault.pendingRedeemRequest(0, c) > 0
                out = getattr(vault, method)(amount, dave, c, sender=erin).return_value
                after = maxima(vault, c)
                if method in ("deposit", "mint"):
                    assets, shares = (amount, out) if method == "deposit" else (out, amount)
                    assert assets + after[0] == before[0]  # charged: exact
                    assert shares + after[1] <= before[1]  # received: never more
                    assert after[2:] == before[2:]
                else:
                    assets, shares = (amount, out) if method == "withdraw" else (out, amount)
                    assert shares + after[3] == before[3]  # charged: exact
                    assert assets + after[2] <= before[2]  # paid: never more
                    assert after[:2] == before[:2]
                ran.append(method)
            else:
                untouched = all_maxima(vault, controllers)
                ran.append(run_step(system, people, accounts[2], step))
                if kind != "strike":  # nothing but a strike changes what is claimable
                    assert all_maxima(vault, controllers) == untouched, step
            check_claims_at_max(vault, controllers, erin, dave)
        n = sum(r in METHODS for r in ran)
        event(f"claims run: {'3 or more' if n >= 3 else n}")
        event(f"a part-filled redemption claimed: {part_filled_claims > 0}")
        # Whatever is left claims out to nothing, and the views never revert for anyone.
        for c in controllers:
            for method in ("mint", "redeem", "deposit", "withdraw"):
                amount = maxima(vault, c)[METHODS.index(method)]
                if amount:
                    getattr(vault, method)(amount, dave, c, sender=erin)
            assert vault.claimableDepositRequest(0, c) == vault.claimableRedeemRequest(0, c) == 0


# ------------------------------------------------------------------ 18-decimal asset


@pytest.fixture(scope="module")
def dai_system(project, accounts, people):
    """An 18-decimal stablecoin (no decimals offset). alice and bob deposit 0.4 each, a gift makes
    the share price 1.5 asset units a share unit, 95 % is invested and every issuer freezes:
    idle pays a tenth of alice's exit."""
    alice, bob, carol, dave, erin = people
    gov = accounts[0]
    asset = gov.deploy(project.MockStablecoin18, "Mock DAI", "mDAI")
    s = deploy_vault_system(project, gov, accounts[1], accounts[5], asset=asset)
    assert s.vault.decimals() == 18
    s.set_param("vault.depositCap", 10**12 * USDC)  # the parameter's bound: one whole DAI
    for who in (alice, bob):
        s.deposit(who, 4 * DAI // 10)
    s.fund(accounts[2], 4 * DAI // 10)
    s.asset.transfer(s.vault, 4 * DAI // 10, sender=accounts[2])
    s.rebalance([5_000, 3_000, 1_500])
    for sleeve in s.sleeves:
        sleeve.issuer.setFrozen(True, sender=gov)
    return s


def test_a_fill_owing_assets_for_no_whole_share_is_claimed_once(
    dai_system, chain, people, accounts
):
    """ERC-4626 §maxWithdraw (never more than a withdraw accepts) and the parts of a claim never
    adding up to more than the whole: with an 18-decimal asset a share unit is worth 1.5 asset
    units here, so a partial fill owes carol's 9 share units 1 asset unit while their filled part
    rounds down to 0 shares. The claim's fill was recorded as folded only when it held a share:
    carol could withdraw that unit again and again, each time from what the strike set aside for
    the other leavers (alice's exit, the last one claimed, would then fall short)."""
    alice, bob, carol, dave, erin = people
    vault, asset = dai_system.vault, dai_system.asset

    def reopen_and_strike():
        for sleeve in dai_system.sleeves:
            sleeve.issuer.setFrozen(False, sender=dai_system.governance)
        dai_system.strike()

    vault.transfer(carol, 9, sender=bob)
    vault.requestRedeem(vault.balanceOf(alice), alice, alice, sender=alice)
    vault.requestRedeem(9, carol, carol, sender=carol)
    dai_system.strike()
    filled = vault.claimableRedeemRequest(0, alice)
    assert filled > 0 and vault.pendingRedeemRequest(0, alice) > 0  # a partial fill
    assert (vault.maxRedeem(carol), vault.maxWithdraw(carol)) == (0, 1)
    reserved = vault.claimableRedemptions()
    with isolated(chain):  # the twin: carol claims once, after the whole fill
        reopen_and_strike()
        whole = vault.maxWithdraw(carol)
        assert vault.maxRedeem(carol) == 9

    assert vault.withdraw(1, dave, carol, sender=carol).return_value == 0
    assert asset.balanceOf(dave) == 1
    # Claimed: nothing is left of that fill, and a second claim of it is refused.
    assert vault.maxWithdraw(carol) == vault.claimableRedeemRequest(0, carol) == 0
    assert_reverts(
        vault, "withdraw", 1, dave, carol, sender=carol,
        error="ClaimExceeded", controller=carol, requested=1, claimable=0,
    )  # fmt: skip
    assert vault.claimableRedemptions() == reserved - 1
    assert vault.maxWithdraw(alice) <= vault.claimableRedemptions()

    # Once the issuers reopen the rest is filled: carol's parts add up to no more than the whole.
    reopen_and_strike()
    assert vault.pendingRedeemRequest(0, carol) == 0
    vault.redeem(vault.maxRedeem(carol), dave, carol, sender=carol)
    assert whole - 1 <= asset.balanceOf(dave) <= whole
    vault.redeem(vault.maxRedeem(alice), alice, alice, sender=alice)
    assert vault.maxWithdraw(alice) == vault.maxWithdraw(carol) == 0


@pytest.fixture(scope="module")
def empty_dai_vault(project, accounts):
    """A fresh vault over an 18-decimal stablecoin: nobody has deposited yet."""
    gov = accounts[0]
    asset = gov.deploy(project.MockStablecoin18, "Mock DAI", "mDAI")
    s = deploy_vault_system(project, gov, accounts[1], accounts[5], asset=asset)
    s.set_param("vault.depositCap", 10**12 * USDC)  # the parameter's bound: one whole DAI
    return s


@pytest.mark.parametrize("seeded", [False, True], ids=["empty", "seeded"])
def test_an_empty_18_decimal_vault_lets_a_griefer_cost_the_first_depositor_a_third(
    empty_dai_vault, chain, accounts, seeded
):
    """Known limit (docs/security.md): the decimals offset against the first-depositor inflation
    attack is `18 - asset decimals`, so an 18-decimal asset gets none (one virtual share). A
    griefer who holds the whole supply (1 wei bought at the first strike) sends the stablecoin
    straight to the vault just before the strike that settles a victim's 0.5 request: the victim
    is struck 1 share, worth a third less than it paid; the griefer loses as much (never a gain).
    A vault seeded with a first deposit (0.1 here) leaves the victim its deposit less a few wei
    (3: the griefer's donation goes to the seed's holder)."""
    s, vault = empty_dai_vault, empty_dai_vault.vault
    griefer, victim, seeder = accounts[4], accounts[2], accounts[0]
    half = DAI // 2
    if seeded:
        s.deposit(seeder, DAI // 10)
    s.fund(griefer, 1 + half)
    vault.requestDeposit(1, griefer, griefer, sender=griefer)
    s.strike()
    vault.deposit(1, griefer, sender=griefer)
    s.fund(victim, half)
    vault.requestDeposit(half, victim, victim, sender=victim)
    s.publish_prices()
    s.asset.transfer(vault, half, sender=griefer)  # in the strike's block, before it
    vault.strike(sender=griefer)
    shares = vault.deposit(half, victim, sender=victim).return_value
    worth = vault.convertToAssets(shares)
    griefer_worth = vault.convertToAssets(vault.balanceOf(griefer))
    if not seeded:
        assert (shares, vault.balanceOf(griefer)) == (1, 1)
        assert worth == (2 * half + 1 + 1) // 3  # (assets + 1) / (supply + 1 virtual share)
        assert half - worth > half // 3 - 1  # a third of the deposit
        assert (1 + half) - griefer_worth >= half - worth  # the griefer loses at least as much
    else:
        assert half - 5 <= worth <= half  # a few wei of rounding
