"""A strike sent with just too little gas (an attack on the sleeves' try/catch fallbacks).

`TokenizedRWASleeve.strikeValuation` reads its feed's publication time and its price band inside
`try`: a feed that reverts leaves the time at 0 (the sleeve counts as stale) and a refused band
falls back to the last price, marked stale. A caller choosing the transaction's gas could try to
make those inner calls fail by running out of gas on purpose — the EIP-150 rule leaves the caller
1/64 of its gas after a failed call — so that the strike goes on with a sleeve read as stale: its
redemptions priced at the stale haircut, the deposit windows left unsettled.

The defence is arithmetic, and this test checks it on the real contracts: an inner call can only
run out of gas when it was given less than it needs (a few thousand gas), and then the 1/64 left
cannot pay for the rest of the strike (the other reads, every window's settlement, the mint), so
the whole transaction reverts. Sweeping every gas limit from the intrinsic cost to the full strike
in small steps, each attempt either reverts with nothing changed or settles exactly what the
strike with ample gas settles — never a third outcome.
"""

from __future__ import annotations

import pytest
from eth_utils import keccak

from tests.vault_support import USDC, deploy_vault_system, isolated, settled

MILLION = 1_000_000 * USDC
STEP = 1_499  # gas between attempts: finer than any inner call's need (a feed read is ~7,000)


@pytest.fixture(scope="module")
def waiting_strike(project, accounts, chain):
    """1M deposited and spread over the three sleeves; a second depositor's deposit request and
    a redemption of a quarter of the first one's shares wait for the next strike, every price
    published after them. (Named apart from every other module's fixtures: Ape's isolation
    tracks fixtures by name, and a module-scoped `invested` here once kept a function-scoped
    `invested` elsewhere from being reverted between tests.)"""
    system = deploy_vault_system(project, accounts[0], accounts[1], accounts[5])
    holder, newcomer = accounts[6], accounts[7]
    system.deposit(holder, MILLION)
    system.rebalance([3_000, 3_000, 2_000])
    system.fund(newcomer, 200_000 * USDC)
    system.vault.requestDeposit(200_000 * USDC, newcomer, newcomer, sender=newcomer)
    shares = system.vault.balanceOf(holder) // 4
    system.vault.requestRedeem(shares, holder, holder, sender=holder)
    system.publish_prices()
    return system


def _send_strike(web3, vault, sender, gas: int) -> dict:
    tx = {"from": sender.address, "to": vault.address, "gas": gas, "data": STRIKE_SELECTOR}
    return web3.eth.wait_for_transaction_receipt(web3.eth.send_transaction(tx))


STRIKE_SELECTOR = "0x" + keccak(text="strike()")[:4].hex()


def _settlement(receipt, vault) -> tuple:
    """The StrikeSettled log's data (the strike's prices and amounts, locked donations and stale
    sleeves), or None when the transaction settled nothing."""
    topic = keccak(text=vault.StrikeSettled.abi.selector)
    logs = [log for log in receipt["logs"] if log["topics"][0] == topic]
    assert len(logs) <= 1
    return (bytes(logs[0]["data"]), tuple(bytes(t) for t in logs[0]["topics"])) if logs else None


def test_a_gas_starved_strike_reverts_whole_or_settles_exactly_as_a_full_one(
    waiting_strike, chain, accounts
):
    vault, attacker = waiting_strike.vault, accounts[9]
    web3 = chain.provider.web3
    with isolated(chain):  # with ample gas: every sleeve fresh, both sides settle
        k = settled(vault.strike(sender=attacker), vault)
        assert k["staleSleeves"] == 0 and k["depositShares"] > 0 and k["redeemShares"] > 0
    with isolated(chain):
        full = _send_strike(web3, vault, attacker, 3_000_000)
        assert full["status"] == 1
        expected = _settlement(full, vault)
        assert expected is not None
        used = full["gasUsed"]
        strikes = vault.strikeCount()
    pending = vault.pendingDeposits()
    assert vault.strikeCount() == strikes - 1  # the isolated strike was undone

    reverted = settled_same = 0
    for gas in range(22_000, used + 3 * STEP, STEP):
        with isolated(chain):
            receipt = _send_strike(web3, vault, attacker, gas)
            got = _settlement(receipt, vault)
            if receipt["status"] == 0:
                assert got is None
                assert vault.strikeCount() == strikes - 1  # nothing settled, nothing counted
                assert vault.pendingDeposits() == pending  # the requests still wait
                reverted += 1
            else:
                # Enough gas: the same valuation, the same windows, no sleeve read as stale.
                assert got == expected, f"a strike with {gas} gas settled differently"
                settled_same += 1
    assert reverted > 0 and settled_same > 0  # both sides of the boundary were tried
