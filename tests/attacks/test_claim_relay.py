"""A keeper that claims for depositors must not be able to take what it claims (found in the
review of the ERC-7540 request lifecycle after stop 38; Medium).

ERC-7540 lets only a controller or its operator claim, and an operator may do everything the
controller can. Depositors who let a keeper claim for them used to make the keeper's key their
operator; a PoC showed that key (leaked, or its operator turned) requesting the redemption of the
depositor's 100,000 of shares with itself as controller and spending 50,000 of the depositor's
stablecoin allowance on a deposit it controls, then claiming both to itself.

The defence: depositors approve the vault's `ClaimRelay` instead. Its whole ABI is
`claim(controller)` and `vault()`: it takes all of the controller's settled deposits and filled
redemptions and pays them to the controller, whoever calls it, so the approval grants nothing but
early payment of one's own claims, and the keeper's key is nobody's operator. Each test mounts the
PoC's steps against it.
"""

from __future__ import annotations

import pytest
from eth_utils import keccak
from hexbytes import HexBytes

from tests.vault_support import USDC, assert_reverts, deploy_vault_system, isolated

DEPOSITED = 100_000 * USDC


@pytest.fixture(scope="module")
def people(accounts):
    """`depositor` and `twin` (who claims itself) each deposit; `keeper` runs a claim service."""
    return accounts[6], accounts[7], accounts[8]


@pytest.fixture(scope="module")
def system(project, accounts, people):
    depositor, twin, _ = people
    s = deploy_vault_system(project, accounts[0], accounts[1], accounts[5])
    s.deposit(depositor, DEPOSITED)
    s.deposit(twin, DEPOSITED)
    s.rebalance([5_000, 3_000, 1_500])
    return s


@pytest.fixture(scope="module")
def relay(project, accounts, system):
    return accounts[0].deploy(project.ClaimRelay, system.vault)


@pytest.fixture(autouse=True)
def _isolate(chain):
    with isolated(chain):
        yield


def test_the_relay_can_only_claim_to_the_controller(relay):
    """Structural: nothing but `claim(controller)` and a view; no receiver a caller chooses."""
    methods = {(m.name, tuple(i.name for i in m.inputs)) for m in relay.contract_type.methods}
    assert methods == {("claim", ("controller",)), ("vault", ())}


def test_a_claim_service_key_takes_nothing_from_a_depositor_who_lets_it_claim(
    system, relay, people
):
    depositor, _, keeper = people
    vault, asset = system.vault, system.asset
    shares = vault.balanceOf(depositor)
    system.fund(depositor, 50_000 * USDC)  # a standing stablecoin allowance to the vault
    vault.setOperator(relay, True, sender=depositor)

    # The PoC's steps, by the keeper's key: redeem the depositor's shares for itself, spend its
    # allowance on a deposit the key controls. Neither passes; nothing moves.
    assert_reverts(
        vault, "requestRedeem", shares, keeper, depositor, sender=keeper,
        error="ERC20InsufficientAllowance",
    )  # fmt: skip
    assert_reverts(
        vault, "requestDeposit", 50_000 * USDC, keeper, depositor, sender=keeper,
        error="NotOperator", owner=depositor, caller=keeper,
    )  # fmt: skip

    # What the service is for: the depositor leaves, the keeper claims, the depositor is paid.
    vault.requestRedeem(shares, depositor, depositor, sender=depositor)
    system.strike()
    owed = vault.maxWithdraw(depositor)
    before = (asset.balanceOf(depositor), asset.balanceOf(keeper), vault.balanceOf(keeper))
    tx = relay.claim(depositor, sender=keeper)
    assert asset.balanceOf(depositor) - before[0] == owed > 0
    assert (asset.balanceOf(keeper), vault.balanceOf(keeper)) == before[1:]
    (event,) = tx.events.filter(relay.Claimed)
    assert (event.controller, event.caller, event.shares, event.assets) == (
        depositor.address, keeper.address, 0, owed,
    )  # fmt: skip
    assert vault.maxRedeem(depositor) == 0 and vault.balanceOf(depositor) == 0


def test_claims_through_the_relay_pay_exactly_what_claiming_oneself_pays(system, relay, people):
    """Calls by anyone, as often as they like, cost the controller nothing: the relay claims
    whole buckets only, so it gets what a twin request claimed by its own controller gets."""
    depositor, twin, keeper = people
    vault = system.vault
    vault.setOperator(relay, True, sender=depositor)
    for who in (depositor, twin):
        system.fund(who, 30_000 * USDC)
        vault.requestDeposit(30_000 * USDC, who, who, sender=who)
        vault.requestRedeem(vault.balanceOf(who) // 7, who, who, sender=who)
    system.publish_prices()
    system.strike()

    shares = [vault.balanceOf(w) for w in (depositor, twin)]
    paid = [system.asset.balanceOf(w) for w in (depositor, twin)]
    relay.claim(depositor, sender=keeper)
    assert_reverts(relay, "claim", depositor, sender=keeper, error="NothingToClaim",
                   controller=depositor)  # fmt: skip
    vault.deposit(vault.maxDeposit(twin), twin, twin, sender=twin)
    vault.redeem(vault.maxRedeem(twin), twin, twin, sender=twin)
    gained = [vault.balanceOf(w) - s for w, s in zip((depositor, twin), shares, strict=True)]
    got = [system.asset.balanceOf(w) - p for w, p in zip((depositor, twin), paid, strict=True)]
    assert gained[0] == gained[1] > 0 and got[0] == got[1] > 0


def test_the_relay_claims_for_nobody_who_did_not_approve_it_or_revoked_it(system, relay, people):
    depositor, twin, keeper = people
    vault = system.vault
    for who in (depositor, twin):
        vault.requestRedeem(vault.balanceOf(who) // 2, who, who, sender=who)
    system.strike()
    assert_reverts(relay, "claim", twin, sender=keeper, error="NotOperator",
                   decode_with=(vault,), owner=twin, caller=relay)  # fmt: skip
    vault.setOperator(relay, True, sender=depositor)
    vault.setOperator(relay, False, sender=depositor)
    assert_reverts(relay, "claim", depositor, sender=keeper, error="NotOperator",
                   decode_with=(vault,), owner=depositor, caller=relay)  # fmt: skip
    assert vault.maxRedeem(depositor) > 0 and vault.maxRedeem(twin) > 0  # left to themselves


def test_a_part_the_vault_refuses_never_holds_up_the_other(system, relay, people, accounts):
    """Found in a second read: the relay claimed both parts in one call, so a controller taken off
    the allowlist (its settled shares cannot reach it) could not be paid its filled redemption
    through the relay either, and held a settler's claim slot on every pass. Each part is now
    claimed on its own; only a call that claims nothing reverts, with the vault's reason."""
    depositor, _, keeper = people
    vault, gov = system.vault, accounts[0]
    vault.setOperator(relay, True, sender=depositor)
    vault.setAllowlistEnabled(True, sender=gov)
    vault.setAllowed(depositor, True, sender=gov)
    system.fund(depositor, 10_000 * USDC)
    vault.requestDeposit(10_000 * USDC, depositor, depositor, sender=depositor)
    vault.requestRedeem(vault.balanceOf(depositor) // 4, depositor, depositor, sender=depositor)
    system.publish_prices()
    system.strike()
    vault.setAllowed(depositor, False, sender=gov)  # off the allowlist after its strike
    owed, settled_shares = vault.maxWithdraw(depositor), vault.maxMint(depositor)
    before = system.asset.balanceOf(depositor)
    tx = relay.claim(depositor, sender=keeper)
    (event,) = tx.events.filter(relay.Claimed)
    assert (event.shares, event.assets) == (0, owed) and owed > 0
    assert system.asset.balanceOf(depositor) - before == owed
    assert vault.maxMint(depositor) == settled_shares > 0  # still its own, to claim elsewhere
    assert_reverts(relay, "claim", depositor, sender=keeper, error="NotAllowlisted",
                   decode_with=(vault,), account=depositor)  # fmt: skip


def test_a_part_that_fails_without_a_reason_is_named_not_taken_for_nothing_to_claim(
    system, relay, people
):
    """Found in a second read: a part that failed without revert data (out of gas inside the
    relay's try) read `NothingToClaim` though the controller had a claim, which a settler's
    back-off would have taken at its word. It is `ClaimFailed(controller)` now; nothing moved."""
    depositor, _, keeper = people
    vault = system.vault
    vault.setOperator(relay, True, sender=depositor)
    vault.requestRedeem(vault.balanceOf(depositor) // 2, depositor, depositor, sender=depositor)
    system.strike()
    owed = vault.maxRedeem(depositor)
    data = HexBytes(relay.claim.encode_input(depositor)).to_0x_hex()
    call = {"from": keeper.address, "to": relay.address, "data": data, "gas": hex(70_000)}
    response = relay.provider.web3.provider.make_request("eth_call", [call, "pending"])
    output = HexBytes(response["error"]["data"])
    assert output[:4] == keccak(text="ClaimFailed(address)")[:4]
    assert vault.maxRedeem(depositor) == owed > 0
