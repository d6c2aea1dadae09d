"""RWAVault against the clauses of ERC-7540 (async deposit + async redeem), ERC-4626, ERC-7575 and
ERC-165 that tests/vault/test_requests.py and tests/vault/test_erc4626_properties.py do not
already assert, each test named after its clause (an outside reviewer's reading of the public
suites: a16z's erc4626-tests adapted to a fully asynchronous vault, and the specs' MUSTs).

Already asserted elsewhere (not repeated here): previews revert, convertTo* round down, max* are
what is claimable and a claim beyond them is `ClaimExceeded`, requests of 0 revert, `requestRedeem`
spends a finite ERC-20 allowance, the owner's operator rule on `requestDeposit`, the escrow of
shares, `share()`/`vault(asset)`/`VaultUpdate`, the ERC-165 ids answering true.

The module state: two holders in, the book rebalanced, a stablecoin gift that makes the share
price an odd ratio, then one strike that settled alice's odd deposit and filled bob's odd
redemption, neither claimed (carol is the operator of both; dave only receives).

Speed: expected reverts are raw `eth_call`s (`assert_reverts`), never Ape's traced reverts.
"""

from __future__ import annotations

import ape
import pytest
from eth_abi import decode, encode
from eth_utils import keccak
from hexbytes import HexBytes
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.vault_support import USDC, assert_reverts, deploy_vault_system, isolated, settled

MAX = 2**256 - 1
GIFT = 12_345 * USDC + 678_901  # sent straight to the vault: an odd share price
DEPOSIT = 77_777 * USDC + 123_457  # alice's settled deposit request
REDEEM = 33_333 * 10**18 + 987_654_321  # bob's filled redemption (shares)
EXAMPLES = settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def people(accounts):
    """alice and bob hold shares and have a claim each; carol operates for both (and is a
    stranger to everyone else); dave only receives; keeper strikes."""
    return accounts[6], accounts[7], accounts[8], accounts[9], accounts[3]


@pytest.fixture(scope="module")
def system(project, accounts, people):
    alice, bob, carol, _, keeper = people
    s = deploy_vault_system(project, accounts[0], accounts[1], accounts[5])
    s.deposit(alice, 600_000 * USDC)
    s.deposit(bob, 400_000 * USDC)
    s.rebalance([5_000, 3_000, 1_500])
    s.fund(accounts[2], GIFT)
    s.asset.transfer(s.vault, GIFT, sender=accounts[2])
    for who in (alice, bob):
        s.vault.setOperator(carol, True, sender=who)
    s.fund(alice, DEPOSIT)
    s.vault.requestDeposit(DEPOSIT, alice, alice, sender=alice)
    s.vault.requestRedeem(REDEEM, bob, bob, sender=bob)
    k = settled(s.strike(sender=keeper), s.vault)
    assert (k["depositAssets"], k["redeemShares"]) == (DEPOSIT, REDEEM)
    return s


@pytest.fixture(autouse=True)
def _isolate(chain):
    with isolated(chain):
        yield


def call_as(contract, method: str, *args, caller: str):
    """`method(*args)` (a view, not overloaded) as an `eth_call` from `caller`: (True, decoded
    outputs) or (False, revert data)."""
    (abi,) = [m for m in contract.contract_type.methods if m.name == method]
    types = [i.canonical_type for i in abi.inputs]
    data = keccak(text=abi.selector)[:4] + encode(types, list(args))
    call = {"from": caller, "to": contract.address, "data": HexBytes(data).to_0x_hex()}
    response = ape.chain.provider.web3.provider.make_request("eth_call", [call, "latest"])
    if "error" in response:
        return False, response["error"].get("data")
    out = decode([o.canonical_type for o in abi.outputs], HexBytes(response["result"]))
    return True, out


def selector(signature: str) -> int:
    return int.from_bytes(keccak(text=signature)[:4], "big")


# ------------------------------------------------------------------ ERC-165 / ERC-7575


# Each interface id of ERC-7540 §ERC-165 and ERC-7575, and the functions whose selectors XOR to it.
INTERFACES = {
    "0xe3bc4e65": ["setOperator(address,bool)", "isOperator(address,address)"],
    "0xce3bbe50": [
        "requestDeposit(uint256,address,address)",
        "pendingDepositRequest(uint256,address)",
        "claimableDepositRequest(uint256,address)",
        "deposit(uint256,address,address)",
        "mint(uint256,address,address)",
    ],
    "0x620ee8e4": [
        "requestRedeem(uint256,address,address)",
        "pendingRedeemRequest(uint256,address)",
        "claimableRedeemRequest(uint256,address)",
    ],
    "0x2f0a18c5": [
        "asset()",
        "share()",
        "convertToShares(uint256)",
        "convertToAssets(uint256)",
        "totalAssets()",
        "maxDeposit(address)",
        "previewDeposit(uint256)",
        "deposit(uint256,address)",
        "maxMint(address)",
        "previewMint(uint256)",
        "mint(uint256,address)",
        "maxWithdraw(address)",
        "previewWithdraw(uint256)",
        "withdraw(uint256,address,address)",
        "maxRedeem(address)",
        "previewRedeem(uint256)",
        "redeem(uint256,address,address)",
    ],  # fmt: skip
    "0xf815c03d": ["vault(address)"],
    "0x01ffc9a7": ["supportsInterface(bytes4)"],
}


def test_erc165_every_interface_reported_is_implemented_in_full(system):
    """ERC-7540 §ERC-165 and ERC-7575 §ERC-165: the vault answers true for the operator
    (0xe3bc4e65), async deposit (0xce3bbe50), async redeem (0x620ee8e4) and ERC-7575
    (0x2f0a18c5) ids, the share's vault lookup (0xf815c03d) and ERC-165; each id is the XOR of
    functions the vault's ABI has, every one of them (an id reported for a function missing
    would mislead an integrator)."""
    vault = system.vault
    have = {m.selector for m in vault.contract_type.methods}
    for interface, functions in INTERFACES.items():
        xor = 0
        for f in functions:
            assert f in have, f"{interface}: {f} missing"
            xor ^= selector(f)
        assert f"0x{xor:08x}" == interface
        assert vault.supportsInterface(interface) is True, interface


def test_erc165_supports_interface_fits_in_30000_gas(system):
    """ERC-165: `supportsInterface` MUST use at most 30,000 gas (callers detect it with a
    STATICCALL of that much): the whole call, the 21,000 of a transaction and its calldata
    included, is estimated below 51,000 for every id, one answered false too (0xffffffff, and an
    id the super chain has to walk to the end)."""
    vault = system.vault
    web3 = ape.chain.provider.web3
    for interface in (*INTERFACES, "0xffffffff", "0x12345678"):
        data = vault.supportsInterface.encode_input(interface)
        gas = web3.eth.estimate_gas({"to": vault.address, "data": HexBytes(data).to_0x_hex()})
        assert gas < 21_000 + 30_000, (interface, gas)


# ------------------------------------------------------------------ events and request ids


def test_erc7540_request_events_name_controller_owner_request_id_and_sender(system, people):
    """ERC-7540 §Events DepositRequest/RedeemRequest (controller, owner, requestId indexed;
    sender, amount), `sender` the caller (an operator, or an ERC-20 spender of the shares), not
    the owner; §Request Ids: a vault returning 0 MUST return 0 for all requests (the first, one
    added to the same window, one beside a settled claim)."""
    alice, bob, carol, dave, _ = people
    vault = system.vault
    vault.setOperator(carol, True, sender=dave)  # dave consents to carol's requests for it
    system.fund(alice, 3 * USDC)
    tx = vault.requestDeposit(USDC, dave, alice, sender=carol)
    assert tx.return_value == 0
    assert tx.events.filter(vault.DepositRequest) == [
        vault.DepositRequest(controller=dave, owner=alice, requestId=0, sender=carol, assets=USDC)
    ]
    assert vault.requestDeposit(2 * USDC, dave, alice, sender=carol).return_value == 0  # added
    # alice's own request beside her settled, unclaimed deposit
    system.fund(alice, USDC)
    assert vault.requestDeposit(USDC, alice, alice, sender=alice).return_value == 0
    # a redeem request sent by an ERC-20 spender of the shares that is not an operator
    vault.approve(dave, 5 * 10**18, sender=alice)
    tx = vault.requestRedeem(5 * 10**18, dave, alice, sender=dave)
    assert tx.return_value == 0
    assert tx.events.filter(vault.RedeemRequest) == [
        vault.RedeemRequest(
            controller=dave, owner=alice, requestId=0, sender=dave, shares=5 * 10**18
        )
    ]


def test_erc7540_set_operator_sets_the_status_logs_operator_set_and_returns_true(system, people):
    """ERC-7540 §setOperator: MUST set the status to `approved`, MUST log OperatorSet(controller
    = msg.sender, operator, approved), MUST return true — granting and revoking alike."""
    _, _, carol, dave, _ = people
    vault = system.vault
    for approved in (True, False, False):  # the same status again: logged too (MAY)
        tx = vault.setOperator(carol, approved, sender=dave)
        assert tx.return_value is True
        assert tx.events.filter(vault.OperatorSet) == [
            vault.OperatorSet(controller=dave, operator=carol, approved=approved)
        ]
        assert vault.isOperator(dave, carol) is approved
        assert vault.isOperator(carol, dave) is False  # per controller, never symmetric


def test_erc7540_request_views_aggregate_per_controller_whatever_the_request_id(system, people):
    """ERC-7540 §Request Ids: with requestId 0 the vault MUST discriminate by controller alone.
    The views take the id for the standard's signature and answer the controller's request for
    any id (documented in IRWAVault)."""
    alice, bob, _, _, _ = people
    vault = system.vault
    for rid in (1, 7, MAX):
        for view in ("pendingDepositRequest", "claimableDepositRequest",
                     "pendingRedeemRequest", "claimableRedeemRequest"):  # fmt: skip
            for who in (alice, bob):
                assert getattr(vault, view)(rid, who) == getattr(vault, view)(0, who), view
    assert vault.claimableDepositRequest(MAX, alice) == DEPOSIT
    assert vault.claimableRedeemRequest(MAX, bob) == REDEEM


# ------------------------------------------------------------------ lifecycle


def test_erc7540_requests_never_skip_claimable_and_nothing_is_pushed(system, people):
    """ERC-7540 §Request Lifecycle: a Request MUST NOT skip the Claimable state and the vault MUST
    NOT push tokens: after the strike alice's shares and bob's assets wait in the vault until
    claimed (balances untouched); only the claim moves them."""
    alice, bob, _, _, _ = people
    vault, asset = system.vault, system.asset
    shares = vault.maxMint(alice)
    assert shares > 0 and vault.maxWithdraw(bob) > 0
    held_alice, cash_bob = vault.balanceOf(alice), asset.balanceOf(bob)
    # another strike settles nothing new and pushes nothing either
    system.fund(alice, USDC)
    vault.requestDeposit(USDC, alice, alice, sender=alice)
    system.strike()
    assert vault.balanceOf(alice) == held_alice
    assert asset.balanceOf(bob) == cash_bob
    assert vault.balanceOf(vault) >= vault.maxMint(alice) >= shares
    assert asset.balanceOf(vault) >= vault.claimableRedemptions() >= vault.maxWithdraw(bob)


def test_erc7540_pending_and_claimable_never_count_each_other(system, people, chain):
    """ERC-7540 §pendingDepositRequest/claimableDepositRequest: pending MUST NOT include
    Claimable assets and claimable MUST NOT include Pending ones — a controller with a settled,
    unclaimed deposit requesting again in a later window has both, apart; likewise for a redeem."""
    alice, bob, _, _, _ = people
    vault = system.vault
    system.fund(alice, 5 * USDC)
    vault.requestDeposit(5 * USDC, alice, alice, sender=alice)
    assert vault.pendingDepositRequest(0, alice) == 5 * USDC
    assert vault.claimableDepositRequest(0, alice) == vault.maxDeposit(alice) == DEPOSIT
    vault.requestRedeem(10**18, bob, bob, sender=bob)
    assert vault.pendingRedeemRequest(0, bob) == 10**18
    assert vault.claimableRedeemRequest(0, bob) == vault.maxRedeem(bob) == REDEEM
    system.strike()
    assert vault.pendingDepositRequest(0, alice) == vault.pendingRedeemRequest(0, bob) == 0
    assert vault.claimableDepositRequest(0, alice) == DEPOSIT + 5 * USDC
    assert vault.claimableRedeemRequest(0, bob) == REDEEM + 10**18


# ------------------------------------------------------------------ claims: who, events, what moves


CLAIMS = ("deposit", "mint", "withdraw", "redeem")


def test_erc7540_claims_revert_unless_the_caller_is_the_controller_or_its_operator(system, people):
    """ERC-7540 §deposit/mint overloads and §async redeem override 2: a claim MUST revert unless
    msg.sender is the controller or its operator. An ERC-20 allowance over the controller's shares
    is no operator (ERC-4626's allowance path does not apply to claims), nor is an operator of
    the receiver."""
    alice, bob, carol, dave, _ = people
    vault = system.vault
    vault.approve(dave, MAX, sender=alice)
    vault.approve(dave, MAX, sender=bob)
    vault.setOperator(dave, True, sender=carol)  # dave operates for carol, not for alice or bob
    for method, controller in zip(CLAIMS, (alice, alice, bob, bob), strict=True):
        for receiver in (dave, carol):
            assert_reverts(
                vault, method, 1, receiver, controller, sender=dave,
                error="NotOperator", owner=controller, caller=dave,
            )  # fmt: skip
    # the two-argument deposit/mint claim the caller's own request: dave has none
    for method in ("deposit", "mint"):
        assert_reverts(
            vault, method, 1, dave, sender=dave,
            error="ClaimExceeded", controller=dave, requested=1, claimable=0,
        )  # fmt: skip


def test_erc7540_claim_events_and_only_the_claimed_token_moves(system, people):
    """ERC-7540 §deposit/mint: the Deposit event's first parameter MUST be the controller and the
    second the receiver; ERC-4626 §Withdraw: (sender, receiver, owner = the controller); §async
    overrides 1: deposit/mint transfer no assets (that happened at the request) and
    redeem/withdraw no shares (escrowed at the request) — an operator claims to a third party."""
    alice, bob, carol, dave, _ = people
    vault, asset = system.vault, system.asset
    everyone = (alice, bob, carol, dave, vault)
    cash = {a: asset.balanceOf(a) for a in everyone}
    shares_of = {a: vault.balanceOf(a) for a in everyone}
    supply, total = vault.totalSupply(), vault.totalAssets()

    part = vault.maxDeposit(alice) // 3
    tx = vault.deposit(part, dave, alice, sender=carol)
    got = tx.return_value
    assert tx.events.filter(vault.Deposit) == [
        vault.Deposit(sender=alice, owner=dave, assets=part, shares=got)
    ]
    rest = vault.maxMint(alice)
    tx = vault.mint(rest, dave, alice, sender=carol)
    assert tx.events.filter(vault.Deposit) == [
        vault.Deposit(sender=alice, owner=dave, assets=tx.return_value, shares=rest)
    ]
    assert vault.balanceOf(dave) - shares_of[dave] == got + rest
    assert {a: asset.balanceOf(a) for a in everyone} == cash  # no asset moved for a deposit claim

    owed = vault.maxWithdraw(bob) // 4
    tx = vault.withdraw(owed, dave, bob, sender=carol)
    charged = tx.return_value
    assert tx.events.filter(vault.Withdraw) == [
        vault.Withdraw(sender=carol, receiver=dave, owner=bob, assets=owed, shares=charged)
    ]
    rest = vault.maxRedeem(bob)
    tx = vault.redeem(rest, dave, bob, sender=carol)
    paid = tx.return_value
    assert tx.events.filter(vault.Withdraw) == [
        vault.Withdraw(sender=carol, receiver=dave, owner=bob, assets=paid, shares=rest)
    ]
    assert asset.balanceOf(dave) - cash[dave] == owed + paid
    assert charged + rest == REDEEM
    for who in (alice, bob, carol):
        assert vault.balanceOf(who) == shares_of[who]  # no share moved for a redeem claim
    # Claims move only what strikes settled: the price the shares count never moves.
    assert (vault.totalSupply(), vault.totalAssets()) == (supply, total)


def test_erc7540_zero_amount_claims_revert(system, people):
    """ERC-7540's reference requires a non-zero claim; a claim of 0 with something claimable
    names ZeroAmount (nothing to emit a Deposit or Withdraw for)."""
    alice, bob, _, _, _ = people
    vault = system.vault
    for method, controller in zip(CLAIMS, (alice, alice, bob, bob), strict=True):
        assert_reverts(
            vault, method, 0, controller, controller, sender=controller, error="ZeroAmount"
        )


def test_erc7540_request_redeem_operators_spend_no_allowance_and_infinite_ones_stay(system, people):
    """ERC-7540 §requestRedeem (ERC-6909 Approvals and Operators): spenders with operator
    permission are not subject to allowance restrictions (an operator with none may request, one
    with a finite allowance keeps it), and infinite approvals SHOULD NOT be deducted."""
    alice, _, carol, dave, _ = people
    vault = system.vault
    vault.approve(carol, 10**18, sender=alice)  # carol: alice's operator, with an allowance too
    vault.requestRedeem(3 * 10**18, alice, alice, sender=carol)
    assert vault.allowance(alice, carol) == 10**18
    vault.approve(dave, MAX, sender=alice)  # dave: an infinite spender, no operator
    vault.requestRedeem(2 * 10**18, dave, alice, sender=dave)
    assert vault.allowance(alice, dave) == MAX
    assert vault.pendingRedeemRequest(0, alice) == 3 * 10**18
    assert vault.pendingRedeemRequest(0, dave) == 2 * 10**18


# ------------------------------------------------------------------ views: no caller, no revert


addresses = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
VIEWS_BY_CONTROLLER = (
    "maxDeposit", "maxMint", "maxWithdraw", "maxRedeem",
)  # fmt: skip
REQUEST_VIEWS = (
    "pendingDepositRequest", "claimableDepositRequest", "pendingRedeemRequest",
    "claimableRedeemRequest",
)  # fmt: skip


@EXAMPLES
@given(
    callers=st.lists(addresses, min_size=2, max_size=2),
    stranger=addresses,
    rid=st.integers(0, MAX),
    amount=st.integers(0, 10**30),
)
def test_erc4626_erc7540_views_never_vary_by_caller_nor_revert(
    system, people, callers, stranger, rid, amount
):
    """ERC-4626 §convertTo*, §max*, §asset/§totalAssets and ERC-7540 §pending*/claimable*: MUST NOT
    show variations depending on the caller, MUST NOT revert (for any controller, the zero
    address too, and any request id); ERC-7540: previews MUST revert for all callers (the
    controllers with claims included); ERC-7575 §share and the share's `vault(asset)` lookup
    MUST NOT revert."""
    alice, bob, carol, _, _ = people
    vault = system.vault
    who = [*callers, alice.address, carol.address]
    controllers = (alice.address, bob.address, stranger, "0x" + "00" * 20)
    queries = [("asset",), ("share",), ("totalAssets",), ("convertToShares", amount),
               ("convertToAssets", amount)]  # fmt: skip
    queries += [(v, c) for v in VIEWS_BY_CONTROLLER for c in controllers]
    queries += [(v, rid, c) for v in REQUEST_VIEWS for c in controllers]
    queries += [("vault", a) for a in (stranger, system.asset.address)]
    for method, *args in queries:
        answers = {call_as(vault, method, *args, caller=c) for c in who}
        assert len(answers) == 1, (method, args, answers)
        ((ok, _),) = answers
        assert ok, (method, args)
    for preview in ("previewDeposit", "previewMint", "previewWithdraw", "previewRedeem"):
        for c in who:
            ok, data = call_as(vault, preview, amount, caller=c)
            assert not ok and HexBytes(data)[:4] == keccak(text="PreviewUnavailable()")[:4]


def test_erc4626_convert_to_ignores_limits_pauses_and_claims(system, people):
    """ERC-4626 §convertToShares/convertToAssets: MUST NOT reflect slippage or other on-chain
    conditions and MUST NOT be inclusive of fees or limits — a paused, capped, allowlisted and
    then shut-down vault converts at the same price, and so does a controller holding claims."""
    vault = system.vault
    amounts = (1, 10**6, 123_456_789_012, 10**24)

    def snapshot():
        return [(vault.convertToShares(a), vault.convertToAssets(a)) for a in amounts]

    before = snapshot()
    vault.pauseAutomation(sender=system.guardian)
    system.set_param("vault.depositCap", 0)
    vault.setAllowlistEnabled(True, sender=system.governance)
    assert snapshot() == before
    vault.shutdown(sender=system.guardian)
    assert snapshot() == before


# ------------------------------------------------------------------ partial claims


steps = st.lists(st.tuples(st.booleans(), st.integers(1, 9_999)), min_size=1, max_size=4)


@EXAMPLES
@given(deposit_steps=steps, redeem_steps=steps)
def test_erc7540_partial_claims_never_favour_the_caller(
    system, chain, people, deposit_steps, redeem_steps
):
    """ERC-4626 §rounding (shares issued and assets paid round down, shares or assets charged
    round up) over any sequence of partial claims by an operator, mixing `deposit`/`mint` and
    `withdraw`/`redeem`: after each, what was taken plus what is still claimable never exceeds the
    whole claim; the side the claim is charged in adds up exactly; max* stays in sync with
    claimable* (ERC-7540 §Request Lifecycle); the last claim takes the rest."""
    alice, bob, carol, dave, _ = people
    vault, asset = system.vault, system.asset
    with isolated(chain):
        whole_assets, whole_shares = vault.maxDeposit(alice), vault.maxMint(alice)
        held = vault.balanceOf(dave)
        got = charged = 0
        for by_shares, bps in deposit_steps:
            c_assets, c_shares = vault.maxDeposit(alice), vault.maxMint(alice)
            if by_shares and c_shares * bps // 10_000 > 0:
                n = c_shares * bps // 10_000
                paid = vault.mint(n, dave, alice, sender=carol).return_value
                assert paid * c_shares >= n * c_assets  # rounded up: against the claimer
                got, charged = got + n, charged + paid
            elif not by_shares and c_assets and c_assets * bps // 10_000 * c_shares // c_assets:
                a = c_assets * bps // 10_000
                n = vault.deposit(a, dave, alice, sender=carol).return_value
                assert n * c_assets <= a * c_shares  # rounded down: against the claimer
                got, charged = got + n, charged + a
            else:
                continue
            assert got + vault.maxMint(alice) <= whole_shares
            assert charged + vault.maxDeposit(alice) == whole_assets
            assert vault.maxDeposit(alice) == vault.claimableDepositRequest(0, alice)
            assert vault.pendingDepositRequest(0, alice) == 0
        event(f"deposit parts taken: {got > 0}")
        if vault.maxMint(alice):
            vault.mint(vault.maxMint(alice), dave, alice, sender=carol)
        elif vault.maxDeposit(alice):  # assets left once a mint was charged the last of them
            vault.deposit(vault.maxDeposit(alice), dave, alice, sender=carol)
        assert vault.maxDeposit(alice) == vault.maxMint(alice) == 0
        assert vault.balanceOf(dave) - held <= whole_shares

        whole_assets, whole_shares = vault.maxWithdraw(bob), vault.maxRedeem(bob)
        cash = asset.balanceOf(dave)
        paid = burned = 0
        for by_shares, bps in redeem_steps:
            c_assets, c_shares = vault.maxWithdraw(bob), vault.maxRedeem(bob)
            if (
                by_shares
                and c_shares * bps // 10_000 > 0
                and (c_shares * bps // 10_000 * c_assets // c_shares > 0)
            ):
                n = c_shares * bps // 10_000
                a = vault.redeem(n, dave, bob, sender=carol).return_value
                assert a * c_shares <= n * c_assets  # rounded down: against the claimer
                paid, burned = paid + a, burned + n
            elif not by_shares and c_assets * bps // 10_000 > 0 and c_shares:
                a = c_assets * bps // 10_000
                n = vault.withdraw(a, dave, bob, sender=carol).return_value
                assert n * c_assets >= a * c_shares  # rounded up: against the claimer
                paid, burned = paid + a, burned + n
            else:
                continue
            assert paid + vault.maxWithdraw(bob) <= whole_assets
            assert burned + vault.maxRedeem(bob) == whole_shares
            assert vault.maxRedeem(bob) == vault.claimableRedeemRequest(0, bob)
            assert vault.pendingRedeemRequest(0, bob) == 0
        event(f"redeem parts taken: {paid > 0}")
        if vault.maxRedeem(bob):
            vault.redeem(vault.maxRedeem(bob), dave, bob, sender=carol)
        if vault.maxWithdraw(bob):  # assets left once a withdraw charged the last share
            vault.withdraw(vault.maxWithdraw(bob), dave, bob, sender=carol)
        assert vault.maxWithdraw(bob) == vault.maxRedeem(bob) == 0
        assert asset.balanceOf(dave) - cash <= whole_assets


# ------------------------------------------------------------------ documented deviations


def test_max_deposit_of_a_controller_taken_off_the_allowlist_is_claimable_to_an_allowed_receiver(
    system, people
):
    """Documented deviation (IRWAVault `setAllowed`, max*): ERC-4626 §maxDeposit says it MUST
    factor in user-specific limits; an ERC-7540 maxDeposit(controller) reports what the controller
    may claim, to any receiver. A controller taken off the allowlist after its request settled
    still sees its claim (so it can reach it); claimed to itself it names NotAllowlisted, to an
    allowed receiver it goes through."""
    alice, _, _, dave, _ = people
    vault = system.vault
    gov = system.governance
    vault.setAllowed(dave, True, sender=gov)
    vault.setAllowlistEnabled(True, sender=gov)  # alice is not on it
    assert vault.maxDeposit(alice) == DEPOSIT
    shares = vault.maxMint(alice)
    assert_reverts(
        vault, "deposit", DEPOSIT, alice, alice, sender=alice,
        error="NotAllowlisted", account=alice,
    )  # fmt: skip
    held = vault.balanceOf(dave)
    vault.deposit(DEPOSIT, dave, alice, sender=alice)
    assert vault.balanceOf(dave) - held == shares


def test_a_mint_charged_the_last_assets_leaves_dust_shares_only_mint_can_take(system, people):
    """Documented (IRWAVault, standards): a partial `mint` whose assets, rounded up, are all that
    was left leaves shares claimable with maxDeposit and claimableDepositRequest 0 (in sync, as
    ERC-7540 asks) — less than one asset unit's worth, which only `mint` takes (at no cost); a
    whole-claim relay going by maxDeposit leaves them. The parts never exceed the whole."""
    alice, _, _, dave, _ = people
    vault = system.vault
    assets, shares = vault.maxDeposit(alice), vault.maxMint(alice)
    left = shares // assets // 2  # half an asset unit's worth of shares
    part = shares - left
    assert vault.mint(part, dave, alice, sender=alice).return_value == assets
    assert vault.maxDeposit(alice) == vault.claimableDepositRequest(0, alice) == 0
    dust = vault.maxMint(alice)
    assert 0 < dust <= left
    assert vault.convertToAssets(dust) == 0
    assert vault.mint(dust, dave, alice, sender=alice).return_value == 0
    assert vault.maxMint(alice) == 0
    assert vault.balanceOf(dave) == part + dust <= shares
