"""RWAVault through its standard interface only, as a public property suite would run it (a16z's
erc4626-tests adapted to a fully asynchronous vault, and an ERC-7540 / ERC-7575 / ERC-165
conformance suite), for what tests/vault/test_erc4626_properties.py,
tests/vault/test_erc7540_conformance.py, tests/vault/test_erc7540_spec.py and
tests/vault/test_requests.py leave out:

- claims in many small pieces (up to a dozen, every claim method mixed) by an operator to a
  third-party receiver, over claims a strike left in every shape (a settled request alone, a
  bucket of an earlier strike beside it, a redemption filled in part by frozen issuers): each
  piece rounds for the vault exactly as ERC-4626 §rounding says, its event names the controller,
  the receiver and the operator, only the receiver's balance moves, the rest falls short of the
  exact difference by no more than IRWAVault documents, claiming exactly each max* passes and one
  unit more names ClaimExceeded at every step, and the pieces never add up to more than the
  whole;
- the views ERC-4626 and ERC-7540 say MUST NOT revert, in the states a suite sets up: an empty
  vault (zero supply), shutdown, paused automation, stale and unconfirmed prices, frozen issuers,
  donations still locked, with inputs from 0 to far beyond any supply; convertTo* exact;
- a16z's round-trip properties on the conversions; `requestRedeem` through an ERC-20 allowance
  (ERC-6909's rules: exact deduction, none for an infinite allowance or an operator); ERC-165
  for ids nobody registered.

Speed: expected reverts and the claims-at-max are raw `eth_call`s on the pending block.
"""

from __future__ import annotations

import math
from fractions import Fraction

import ape
import pytest
from eth_abi import decode
from eth_utils import keccak
from hexbytes import HexBytes
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from tests.vault_support import (
    DAY,
    USDC,
    assert_reverts,
    deploy_vault_system,
    isolated,
)

MAX = 2**256 - 1
OFFSET = 10**12  # virtual shares: 10 ** (18 - 6)
GIFT = 23_456 * USDC + 789_013  # sent straight to the vault: an odd share price
EXAMPLES = settings(
    max_examples=max(6, settings.default.max_examples // 6),  # "deep" profile: 333
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
METHODS = ("deposit", "mint", "withdraw", "redeem")  # in the order of `maxima`


@pytest.fixture(scope="module")
def people(accounts):
    """alice, bob and carol hold shares and request; erin operates for all three; dave only
    receives claims; accounts[2] gives."""
    return accounts[6], accounts[7], accounts[8], accounts[9], accounts[3]


@pytest.fixture(scope="module")
def system(project, accounts, people):
    """About 1,000,000 in, 95 % invested, a gift for an odd share price; each controller has cash
    for deposit requests and erin as its operator."""
    alice, bob, carol, _, erin = people
    s = deploy_vault_system(project, accounts[0], accounts[1], accounts[5])
    for who, amount in ((alice, 450_000), (bob, 350_000), (carol, 200_000)):
        s.deposit(who, amount * USDC + 345_679)
        s.fund(who, 400_000 * USDC)
        s.vault.setOperator(erin, True, sender=who)
    s.rebalance([5_000, 3_000, 1_500])
    s.fund(accounts[2], 2_000_000 * USDC)
    s.asset.transfer(s.vault, GIFT, sender=accounts[2])
    return s


@pytest.fixture(autouse=True)
def _isolate(chain):
    with isolated(chain):
        yield


def maxima(vault, who) -> tuple[int, int, int, int]:
    return (vault.maxDeposit(who), vault.maxMint(who), vault.maxWithdraw(who), vault.maxRedeem(who))


def call(vault, method: str, *args, sender) -> int | None:
    """`method(*args)` (a claim, returning one uint256) as an `eth_call` from `sender` on the
    pending block: its return value, or None when it reverts."""
    data = HexBytes(getattr(vault, method).encode_input(*args)).to_0x_hex()
    request = {"from": sender.address, "to": vault.address, "data": data}
    response = ape.chain.provider.web3.provider.make_request("eth_call", [request, "pending"])
    if "error" in response:
        return None
    return decode(["uint256"], HexBytes(response["result"]))[0]


def check_max_is_exactly_claimable(vault, controller, operator, receiver) -> None:
    """ERC-4626 §max* with ERC-7540's meaning: a claim of exactly max* by the controller's
    operator passes (returning the other side's max*), one unit more names ClaimExceeded, and max*
    moves in sync with claimable* (ERC-7540 §Request Lifecycle)."""
    m = maxima(vault, controller)
    assert m[0] == vault.claimableDepositRequest(0, controller)
    assert m[3] == vault.claimableRedeemRequest(0, controller)
    other = {0: 1, 1: 0, 2: 3, 3: 2}
    for side, method in enumerate(METHODS):
        if m[side]:
            got = call(vault, method, m[side], receiver, controller, sender=operator)
            assert got == m[other[side]], (method, controller, m)
        assert_reverts(
            vault, method, m[side] + 1, receiver, controller, sender=operator,
            error="ClaimExceeded", controller=controller, requested=m[side] + 1,
            claimable=m[side],
        )  # fmt: skip


def expected(method: str, amount: int, assets: int, shares: int) -> int:
    """What a claim of `amount` returns against a claim of (`assets`, `shares`): the received side
    rounded down, the charged side rounded up (against the claimer); the last claim takes the
    rest (IRWAVault)."""
    if method == "deposit":
        return shares if amount == assets else math.floor(Fraction(amount * shares, assets))
    if method == "mint":
        return assets if amount == shares else math.ceil(Fraction(amount * assets, shares))
    if method == "withdraw":
        return shares if amount == assets else math.ceil(Fraction(amount * shares, assets))
    return assets if amount == shares else math.floor(Fraction(amount * assets, shares))


def documented_shortfall(method: str, assets: int, shares: int) -> int:
    """How far below the exact difference IRWAVault lets the rest fall after a part is taken in
    place (repriced, rounded down): one share after `deposit`, one asset unit's worth of shares
    plus one after `mint`, one asset unit after `redeem`, one share's worth of assets plus one
    after `withdraw` (each worth rounded up here)."""
    if method == "deposit" or method == "redeem":
        return 1
    if assets == 0 or shares == 0:
        return 0  # dust left in a bucket: taken as it is, never repriced
    if method == "mint":
        return -(-(shares + 1) // assets) + 1
    return -(-(assets + 1) // shares) + 1


# ------------------------------------------------------------------ claims in many pieces

amounts = st.one_of(st.integers(1, 10**4), st.integers(1, 10**9), st.integers(1, 300_000 * USDC))
pieces = st.lists(
    st.tuples(st.sampled_from(METHODS), st.sampled_from([1, 9_999]) | st.integers(1, 10_000)),
    min_size=1,
    max_size=16,
)


PIECES = {
    "deposits": st.lists(amounts, min_size=2, max_size=2),
    "later": st.just(0) | amounts,
    "redeem_bps": st.lists(st.integers(1, 10_000), min_size=2, max_size=2),
    "frozen": st.booleans(),
    "steps": pieces,
    "again": amounts,
}


@EXAMPLES
@given(**PIECES)
def test_claims_in_many_pieces_by_an_operator_to_a_third_party_round_for_the_vault(
    system, chain, people, deposits, later, redeem_bps, frozen, steps, again
):
    """ERC-4626 §rounding, ERC-7540 §deposit/mint overloads and §async redeem overrides, over up
    to a dozen partial claims by erin (the controllers' operator) to dave: each returns exactly
    what the vault's rounding gives (received side down, charged side up, the last claim the
    rest), emits Deposit(controller, receiver, ...) or Withdraw(operator, receiver, controller,
    ...), moves only dave's balance, charges the side it is charged in exactly and leaves the
    other no more than the exact difference and no less than IRWAVault's documented shortfall;
    at every step each max* is exactly claimable; the pieces never add up to more than the
    whole. alice's claim may be a bucket of one strike beside a request of the next (`later`);
    carol's and bob's redemptions may be filled in part (frozen issuers). Half-way the issuers
    reopen, alice requests again and a strike settles it and fills what was queued (claims
    taken in place move to a bucket, folded fills complete), then the other half of the pieces."""
    with isolated(chain):  # hypothesis runs every example in one call of the test
        run_pieces(system, people, deposits, later, redeem_bps, frozen, steps, again)


@pytest.fixture(scope="module")
def dai_system(project, accounts, people):
    """The same over an 18-decimal stablecoin (no decimals offset): a gift of half the NAV makes
    a share unit worth about 1.5 asset units, so a fill may owe assets for no whole share."""
    alice, bob, carol, _, erin = people
    gov = accounts[0]
    asset = gov.deploy(project.MockStablecoin18, "Mock DAI", "mDAI")
    s = deploy_vault_system(project, gov, accounts[1], accounts[5], asset=asset)
    s.set_param("vault.depositCap", 10**12 * USDC)  # the parameter's bound: one whole DAI
    unit = 10**11
    for who, amount in ((alice, 450_000), (bob, 350_000), (carol, 200_000)):
        s.deposit(who, amount * unit + 345_679)
        s.fund(who, 400_000 * unit)
        s.vault.setOperator(erin, True, sender=who)
    s.fund(accounts[2], 1_000_000 * unit)
    s.asset.transfer(s.vault, s.vault.totalAssets() // 2 + 12_345, sender=accounts[2])
    s.rebalance([5_000, 3_000, 1_500])
    return s


@settings(EXAMPLES, max_examples=max(3, settings.default.max_examples // 12))
@given(**PIECES)
def test_claims_in_many_pieces_with_an_18_decimal_asset(
    dai_system, chain, people, deposits, later, redeem_bps, frozen, steps, again
):
    """The same pieces over an 18-decimal asset (a share unit worth more than an asset unit)."""
    with isolated(chain):
        run_pieces(dai_system, people, deposits, later, redeem_bps, frozen, steps, again)


def run_pieces(system, people, deposits, later, redeem_bps, frozen, steps, again) -> None:
    alice, bob, carol, dave, erin = people
    vault, asset = system.vault, system.asset
    controllers = (alice, bob, carol)
    for c, amount in zip((alice, bob), deposits, strict=True):
        vault.requestDeposit(amount, c, c, sender=erin)
    for c, bps in zip((bob, carol), redeem_bps, strict=True):
        vault.requestRedeem(vault.balanceOf(c) * bps // 10_000, c, c, sender=erin)
    for s in system.sleeves:
        s.issuer.setFrozen(frozen, sender=system.governance)
    system.strike()
    if later:  # a second window: alice's first claim moves to her bucket
        vault.requestDeposit(later, alice, alice, sender=erin)
        system.strike()
    event(f"a redemption filled in part: {vault.pendingRedeemRequest(0, carol) > 0}")

    whole = {c: list(maxima(vault, c)) for c in controllers}
    taken = {c: [0, 0, 0, 0] for c in controllers}  # assets in, shares out, assets out, shares in
    held, cash = vault.balanceOf(dave), asset.balanceOf(dave)
    half = len(steps) // 2
    ran = claim_pieces(system, people, steps[:half], taken)
    # The issuers reopen, alice requests again (her claim left, taken in place or not, moves to
    # her bucket) and a strike settles it and fills what was queued: claims accumulate.
    for s in system.sleeves:
        s.issuer.setFrozen(False, sender=system.governance)
    before = {c: maxima(vault, c) for c in controllers}
    vault.requestDeposit(again, alice, alice, sender=erin)
    assert {c: maxima(vault, c) for c in controllers} == before  # a request moves no claim
    system.strike()
    for c in controllers:
        for side, m in enumerate(maxima(vault, c)):
            assert m >= before[c][side]
            whole[c][side] += m - before[c][side]
    ran += claim_pieces(system, people, steps[half:], taken)
    event(f"pieces claimed: {'6 or more' if ran >= 6 else ran}")

    # The rest claims out to nothing; the pieces never add up to more than the whole.
    for c in controllers:
        for side, method in ((1, "mint"), (0, "deposit"), (3, "redeem"), (2, "withdraw")):
            m = maxima(vault, c)
            if m[side]:
                out = getattr(vault, method)(m[side], dave, c, sender=erin).return_value
                k = (0, 1) if side < 2 else (2, 3)
                done = (m[side], out) if side in (0, 2) else (out, m[side])
                taken[c][k[0]] += done[0]
                taken[c][k[1]] += done[1]
        assert maxima(vault, c) == (0, 0, 0, 0)
        assert vault.pendingRedeemRequest(0, c) == vault.pendingDepositRequest(0, c) == 0
        assert taken[c][0] == whole[c][0] and taken[c][3] == whole[c][3]  # charged: all of it
        assert taken[c][1] <= whole[c][1] and taken[c][2] <= whole[c][2]  # received: no more
    assert vault.balanceOf(dave) - held == sum(t[1] for t in taken.values())
    assert asset.balanceOf(dave) - cash == sum(t[2] for t in taken.values())


def claim_pieces(system, people, steps, taken) -> int:
    """Runs the claim `steps` ((method, bps of its max*) each, on the controllers with something
    to claim in turn) by erin to dave, checking each; adds to `taken`; returns how many ran."""
    alice, bob, carol, dave, erin = people
    vault, asset = system.vault, system.asset
    controllers = (alice, bob, carol)
    fixed = {a: (vault.balanceOf(a), asset.balanceOf(a)) for a in (*controllers, erin)}
    for c in controllers:
        check_max_is_exactly_claimable(vault, c, erin, dave)
    ran = 0
    for i, (method, bps) in enumerate(steps):
        side = METHODS.index(method)
        open_ = [c for c in controllers if maxima(vault, c)[side]]
        if not open_:
            continue
        c = open_[i % len(open_)]
        before = maxima(vault, c)
        dep, red = before[:2], before[2:]
        a_, s_ = dep if side < 2 else red
        amount = max(1, before[side] * bps // 10_000)
        want = expected(method, amount, a_, s_)
        if method in ("deposit", "redeem") and want == 0 and amount != before[side]:
            # A part that would buy nothing is refused (the last claim may clear dust).
            assert_reverts(vault, method, amount, dave, c, sender=erin, error="ZeroAmount")
            continue
        tx = getattr(vault, method)(amount, dave, c, sender=erin)
        assert tx.return_value == want, (method, amount, before)
        after = maxima(vault, c)
        if side < 2:
            assets, shares = (amount, want) if method == "deposit" else (want, amount)
            assert tx.events.filter(vault.Deposit) == [
                vault.Deposit(sender=c, owner=dave, assets=assets, shares=shares)
            ]
            assert after[0] == before[0] - assets  # charged: exact
            assert after[1] <= before[1] - shares  # received: never more
            assert after[1] >= before[1] - shares - documented_shortfall(method, *dep)
            assert after[2:] == before[2:]
            taken[c][0] += assets
            taken[c][1] += shares
        else:
            assets, shares = (amount, want) if method == "withdraw" else (want, amount)
            assert tx.events.filter(vault.Withdraw) == [
                vault.Withdraw(sender=erin, receiver=dave, owner=c, assets=assets, shares=shares)
            ]
            assert after[3] == before[3] - shares  # charged: exact
            assert after[2] <= before[2] - assets  # paid: never more
            assert after[2] >= before[2] - assets - documented_shortfall(method, *red)
            assert after[:2] == before[:2]
            taken[c][2] += assets
            taken[c][3] += shares
        ran += 1
        check_max_is_exactly_claimable(vault, c, erin, dave)
    # Only dave's balances moved: nothing for the controllers nor for their operator.
    assert {a: (vault.balanceOf(a), asset.balanceOf(a)) for a in (*controllers, erin)} == fixed
    return ran


# ------------------------------------------------------------------ views in every state


@pytest.fixture(scope="module")
def empty_vault(project, accounts):
    """A fresh vault: no deposit yet, zero supply."""
    return deploy_vault_system(project, accounts[0], accounts[1], accounts[5])


INPUTS = (0, 1, 999_999, 10**6, 123_456_789_012_345, 10**30, 10**40)
RIDS = (0, 1, MAX)


def check_views(system, controllers) -> None:
    """ERC-4626 §totalAssets, §convertTo*, §max* and ERC-7540 §pending*/claimable* MUST NOT
    revert (for any controller and request id, for inputs up to far beyond any supply);
    convertTo* are exactly OpenZeppelin's virtual-share conversions, rounded down; previews revert
    for every input (ERC-7540); asset() and share() answer."""
    vault = system.vault
    total, supply = vault.totalAssets(), vault.totalSupply() + OFFSET
    for x in INPUTS:
        assert vault.convertToShares(x) == x * supply // (total + 1)
        assert vault.convertToAssets(x) == x * (total + 1) // supply
        # a16z prop_RT: a round trip through the conversions never gains
        assert vault.convertToAssets(vault.convertToShares(x)) <= x
        assert vault.convertToShares(vault.convertToAssets(x)) <= x
    for who in controllers:
        maxima(vault, who)
        for rid in RIDS:
            vault.pendingDepositRequest(rid, who)
            vault.claimableDepositRequest(rid, who)
            vault.pendingRedeemRequest(rid, who)
            vault.claimableRedeemRequest(rid, who)
    assert (vault.asset(), vault.share()) == (system.asset.address, vault.address)
    caller = ape.accounts.test_accounts[4]
    for preview in ("previewDeposit", "previewMint", "previewWithdraw", "previewRedeem"):
        for x in (0, 1, MAX):
            assert_reverts(vault, preview, x, sender=caller, error="PreviewUnavailable")


ZERO = "0x" + "00" * 20


def test_views_never_revert_on_an_empty_vault(empty_vault, accounts):
    """Zero supply, nothing in: totalAssets 0, convertTo* at the virtual-share price (1 asset
    unit = 10**12 share units), every max* 0 (nothing to claim), for anyone."""
    vault = empty_vault.vault
    assert (vault.totalSupply(), vault.totalAssets()) == (0, 0)
    check_views(empty_vault, (accounts[6], ZERO, vault))
    assert vault.convertToShares(1) == OFFSET
    assert all(m == 0 for m in maxima(vault, accounts[6]))


STATES = ("shutdown", "paused", "stale", "unconfirmed", "unusable", "frozen", "locked")


@pytest.mark.parametrize("state", STATES)
def test_views_never_revert_in_any_state(system, chain, people, state):
    """The views of `check_views` in each state a suite sets up, with a settled deposit, a
    filled redemption and a pending request of each kind waiting (so max* and the request views
    have something to report): shut down, automation paused, every price stale (two days on),
    a move beyond the band unconfirmed, unusable answers (a negative one, a round stamped in the
    future), every issuer frozen, a donation still locking."""
    alice, bob, carol, dave, erin = people
    vault, gov = system.vault, system.governance
    vault.requestDeposit(1_234_567, alice, alice, sender=alice)
    vault.requestRedeem(vault.balanceOf(bob) // 3, bob, bob, sender=bob)
    system.strike()
    vault.requestDeposit(7_654_321, alice, alice, sender=alice)
    vault.requestRedeem(vault.balanceOf(carol) // 5, carol, carol, sender=carol)
    if state == "shutdown":
        vault.shutdown(sender=system.guardian)
    elif state == "paused":
        vault.pauseAutomation(sender=system.guardian)
    elif state == "stale":
        chain.pending_timestamp = chain.blocks.head.timestamp + 2 * DAY
        chain.mine()
    elif state == "unconfirmed":
        feed = system.sleeves[0].feed
        feed.setAnswer(feed.latestAnswer() * 3 // 2, sender=gov)
    elif state == "frozen":
        for s in system.sleeves:
            s.issuer.setFrozen(True, sender=gov)
    elif state == "locked":
        system.set_param("vault.unlockPeriod", 7 * DAY)
        system.fund(dave, 500_000 * USDC)
        vault.donate(500_000 * USDC, sender=dave)
    elif state == "unusable":
        system.sleeves[1].feed.setAnswer(-1, sender=gov)
        feed = system.sleeves[2].feed
        feed.setRound(feed.latestAnswer(), chain.blocks.head.timestamp + DAY, sender=gov)
    check_views(system, (alice, bob, carol, ZERO, vault))
    assert vault.maxDeposit(alice) > 0 and vault.maxRedeem(bob) > 0
    # ERC-4626 §max*: claims are never disabled by these states, so max* is claimable in each.
    for who in (alice, bob):
        check_max_is_exactly_claimable(vault, who, erin, dave)
    assert vault.pendingDepositRequest(0, alice) == 7_654_321


# ------------------------------------------------------------------ requestRedeem by allowance


@EXAMPLES
@given(
    allowance=st.just(MAX) | st.integers(0, 10**24),
    shares=st.integers(1, 10**24),
    controller_is_spender=st.booleans(),
)
@example(allowance=MAX, shares=10**24, controller_is_spender=False)  # more than alice holds
def test_request_redeem_through_an_erc20_allowance_follows_erc6909(
    system, chain, people, allowance, shares, controller_is_spender
):
    """ERC-7540 §requestRedeem: approval of `owner`'s shares for another caller may come from an
    ERC-20 allowance; a finite allowance MUST be deducted by exactly the shares, an infinite one
    SHOULD NOT be, an allowance short of the shares reverts and moves nothing; the event's
    `sender` is the spender. The spender may name itself or the owner as controller."""
    with isolated(chain):
        request_by_allowance(system, people, allowance, shares, controller_is_spender)


def request_by_allowance(system, people, allowance, shares, controller_is_spender) -> None:
    alice, _, _, dave, _ = people
    vault = system.vault
    vault.approve(dave, allowance, sender=alice)
    controller = dave if controller_is_spender else alice
    if shares > allowance:
        assert_reverts(
            vault, "requestRedeem", shares, controller, alice, sender=dave,
            error="ERC20InsufficientAllowance", spender=dave, allowance=allowance, needed=shares,
        )  # fmt: skip
        return
    held = vault.balanceOf(alice)
    if shares > held:  # allowed, but more than alice holds: the share's own refusal
        assert_reverts(
            vault, "requestRedeem", shares, controller, alice, sender=dave,
            error="ERC20InsufficientBalance", balance=held, needed=shares,
        )  # fmt: skip
        return
    tx = vault.requestRedeem(shares, controller, alice, sender=dave)
    assert tx.return_value == 0
    assert tx.events.filter(vault.RedeemRequest) == [
        vault.RedeemRequest(controller=controller, owner=alice, requestId=0, sender=dave,
                            shares=shares)
    ]  # fmt: skip
    assert vault.allowance(alice, dave) == (MAX if allowance == MAX else allowance - shares)
    assert vault.balanceOf(alice) == held - shares
    assert vault.pendingRedeemRequest(0, controller) == shares


# ------------------------------------------------------------------ ERC-165


KNOWN = {
    0x01FFC9A7,  # ERC-165
    0xE3BC4E65,  # ERC-7540 operator
    0xCE3BBE50,  # ERC-7540 async deposit
    0x620EE8E4,  # ERC-7540 async redeem
    0x2F0A18C5,  # ERC-7575
    0xF815C03D,  # ERC-7575 share -> vault lookup
    int.from_bytes(  # OpenZeppelin AccessControl
        bytes(
            a ^ b ^ c ^ d ^ e
            for a, b, c, d, e in zip(
                *(
                    keccak(text=f)[:4]
                    for f in (
                        "hasRole(bytes32,address)",
                        "getRoleAdmin(bytes32)",
                        "grantRole(bytes32,address)",
                        "revokeRole(bytes32,address)",
                        "renounceRole(bytes32,address)",
                    )
                ),
                strict=True,
            )
        ),
        "big",
    ),
}


@EXAMPLES
@given(ids=st.lists(st.integers(0, 2**32 - 1), min_size=8, max_size=8))
def test_erc165_answers_false_for_every_id_it_does_not_implement(system, ids):
    """ERC-165: true exactly for the interfaces implemented, false for any other id (0xffffffff
    included)."""
    vault = system.vault
    for i in [*ids, 0xFFFFFFFF, *KNOWN]:
        assert vault.supportsInterface(i.to_bytes(4, "big")) is (i in KNOWN), hex(i)


# ------------------------------------------------------------------ who may request for whom


def test_requests_by_every_sender_owner_and_controller_follow_the_documented_rule(
    system, chain, people, accounts
):
    """ERC-7540 §requestDeposit/§requestRedeem for every (sender, owner, controller) among alice,
    bob, erin (alice's operator, not bob's: bob revokes it here) and dave (no rights; an ERC-20
    spender of alice's shares for a redeem request): the owner's side as the standard says (the
    owner, its operator, or for shares an ERC-20 spender), plus the controller's consent
    IRWAVault documents (the controller or its operator sends, when it is not the owner). A
    request that passes returns 0, emits the event with `sender` the caller and raises exactly
    that controller's pending; one refused names NotOperator with the account that did not
    consent, or the allowance short."""
    alice, bob, _, dave, erin = people
    vault = system.vault
    vault.setOperator(erin, False, sender=bob)
    system.fund(bob, 10 * USDC)
    vault.approve(dave, 10**18, sender=alice)
    everyone = (alice, bob, erin, dave)
    operator_of = {alice: {erin}, bob: set(), erin: set(), dave: set()}
    passed = 0
    for kind, amount in (("requestDeposit", 1_000_003), ("requestRedeem", 10**18)):
        for sender in everyone:
            for owner in (alice, bob):
                for controller in everyone:
                    acts_for = {owner} | operator_of[owner]
                    spender = kind == "requestRedeem" and owner == alice and sender == dave
                    owner_ok = sender in acts_for or spender
                    consent = (
                        controller == owner or sender in {controller} | operator_of[controller]
                    )
                    args = (amount, controller, owner)
                    if not owner_ok:
                        if kind == "requestRedeem":
                            assert_reverts(
                                vault, kind, *args, sender=sender,
                                error="ERC20InsufficientAllowance", spender=sender,
                            )  # fmt: skip
                        else:
                            assert_reverts(
                                vault, kind, *args, sender=sender,
                                error="NotOperator", owner=owner, caller=sender,
                            )  # fmt: skip
                        continue
                    if not consent:
                        assert_reverts(
                            vault, kind, *args, sender=sender,
                            error="NotOperator", owner=controller, caller=sender,
                        )  # fmt: skip
                        continue
                    view = (
                        "pendingDepositRequest"
                        if kind == "requestDeposit"
                        else ("pendingRedeemRequest")
                    )
                    with isolated(chain):
                        before = getattr(vault, view)(0, controller)
                        tx = getattr(vault, kind)(*args, sender=sender)
                        assert tx.return_value == 0
                        log = (
                            vault.DepositRequest
                            if kind == "requestDeposit"
                            else (vault.RedeemRequest)
                        )
                        (e,) = tx.events.filter(log)
                        assert (e.controller, e.owner, e.requestId, e.sender) == (
                            controller.address,
                            owner.address,
                            0,
                            sender.address,
                        )
                        assert (e.assets if kind == "requestDeposit" else e.shares) == amount
                        assert getattr(vault, view)(0, controller) == before + amount
                        passed += 1
    assert passed == 10  # 4 deposit requests, 6 redeem requests (2 by the spender)
