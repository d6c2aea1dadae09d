"""Outside review of the settlement service (branch `settler`): the `ClaimRelay`, the vault's
ERC-7540 request, strike and claim paths it uses, and the settler keeper, as an attacker and as
a keeper operator would run them.

Each test mounts the attack on a private anvil with the deployed system and the settler keeper
(`keepers.shell.settler`), and classifies what happened from chain facts (events, the vault's
views) and the keeper's report.
"""

from __future__ import annotations

import pytest
from eth_utils import to_checksum_address

from tests.impersonated import impersonate, send_all, stop_impersonating
from tests.keeper_support import keeper, relayed_book, struck_with_a_queued_leaver
from tests.vault_support import USDC, isolated


@pytest.fixture(scope="module")
def system(project, accounts, chain):
    """1M supplied (decision 0), one borrower, the vault's claim relay."""
    return relayed_book(project, accounts)


@pytest.fixture
def fresh(system, chain):
    with isolated(chain):
        yield system


def approve_from_many(vault, relay, count: int) -> list[str]:
    """`count` fresh addresses each make the relay their operator (`setOperator(relay, true)`,
    about 46,000 gas each: what an attacker pays), sent from anvil-impersonated accounts in a
    few JSON-RPC batches (`tests.impersonated`), every receipt awaited and its status checked."""
    web3 = vault.provider.web3
    data = bytes(vault.setOperator.encode_input(relay.address, True))
    addresses = [to_checksum_address(f"0x{0x5B11_0000 + i:040x}") for i in range(count)]
    impersonate(web3, addresses, 10**18)
    send_all(web3, [(who, str(vault.address), data, 100_000) for who in addresses])
    stop_impersonating(web3, addresses)
    return addresses


def test_approvals_from_many_empty_addresses_do_not_stop_the_settlers_claims(
    fresh, accounts, chain, tmp_path
):
    """The settler read every controller that ever approved the relay in one Multicall3
    `eth_call` (isOperator, maxDeposit, maxRedeem: ~18,400 gas a controller). 1,700 empty
    addresses approving the relay (~78M gas for the attacker, once) put that read past the
    node's eth_call gas cap (anvil: the 30M block gas limit), so every pass raised before any
    claim: nobody was claimed for again, for good. The read is batched now; an honest leaver
    is paid in the same pass."""
    lending, protocol = fresh
    vault, relay, asset = lending.vault, protocol.claim_relay, lending.asset
    leaver = accounts[6]
    vault.setOperator(relay, True, sender=leaver)
    sybils = approve_from_many(vault, relay, 1_700)
    assert all(vault.isOperator(s, relay) for s in sybils[::500])
    shares = vault.convertToShares(20_000 * USDC)
    vault.requestRedeem(shares, leaver, leaver, sender=leaver)
    lending.vs.publish_prices()
    paid_before = asset.balanceOf(leaver)
    start = chain.blocks.head.number + 1

    k = keeper(protocol, accounts[7], tmp_path)
    report = k.run("settler")
    calls = [(a.call, a.outcome) for a in report.actions]
    assert calls == [("strike()", "mined"), (f"claim({leaver.address})", "mined")], report.summary()
    head = chain.blocks.head.number
    (paid,) = vault.Withdraw.range(start, head + 1)
    assert (paid.owner, paid.receiver, paid.shares) == (leaver.address, leaver.address, shares)
    assert asset.balanceOf(leaver) - paid_before == paid.assets > 0
    assert vault.maxRedeem(leaver) == 0


def test_a_wei_sent_to_the_vault_does_not_make_the_settler_pay_for_a_strike(
    fresh, accounts, chain, tmp_path
):
    """While redemptions wait for liquidity, `strikeTrigger` is true for a single wei of it
    (what it pays rounds to a wei at most), so anyone sending the vault a wei of the stablecoin
    (34,409 gas) made the settler send a strike (209,649 gas) that paid the leaver 2 wei, every
    time the griefer did it. A redemptions-only strike now waits for liquidity worth at least
    its gas (`settler.strike_gas` at the gas market) or covering the queue; real liquidity is
    struck for at once."""
    lending, protocol = fresh
    vault, asset, book = lending.vault, lending.asset, lending.book
    leaver, griefer, borrower = accounts[6], accounts[9], accounts[4]
    k = struck_with_a_queued_leaver(lending, protocol, leaver, accounts[7], tmp_path)

    lending.fund(griefer, 1)
    gift = asset.transfer(vault, 1, sender=griefer)
    assert gift.gas_used < 40_000 and vault.strikeTrigger()[0] is True
    count = vault.strikeCount()
    griefed = k.run("settler")
    assert griefed.actions == [], griefed.summary()
    assert vault.strikeCount() == count
    (why,) = griefed.skipped
    assert why.startswith("strike: liquidity 2 below the strike's gas"), why

    # a borrower repays 50,000: that is worth a strike, and the leaver is paid it
    lending.fund(borrower, 50_000 * USDC, spender=book)
    book.repay(50_000 * USDC, borrower, sender=borrower)
    owed = vault.maxWithdraw(leaver)
    paid = k.run("settler")
    assert [(a.call, a.outcome) for a in paid.actions] == [("strike()", "mined")], paid.summary()
    assert vault.strikeCount() == count + 1
    assert vault.maxWithdraw(leaver) - owed >= 50_000 * USDC
