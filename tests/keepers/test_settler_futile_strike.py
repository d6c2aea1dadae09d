"""The settler against an issuer that fills 0 % of its redemptions while reporting that it can
pay (`MockPartialFillIssuer`; market9's review): the vault's `liquidity()` counts the sleeve, so
its `strikeTrigger()` stays true for the redemptions queued behind it, and the settler struck
every pass for them, paying gas each time for nothing. While only queued redemptions wait, it
now runs the strike as an `eth_call` first and sends it only when it would fill some of them:
no strike that fills nothing is sent, not even the first, and the queue is struck the first
pass the issuer pays again; a deposit that a strike would settle is never held up, and anyone
may still strike.
"""

from __future__ import annotations

import pytest

from keepers.dashboard import collect_status
from tests.keeper_support import keeper, vault_protocol
from tests.vault_support import USDC, deploy_partial_fill_system, isolated


@pytest.fixture(scope="module")
def partial(project, accounts):
    """One sleeve behind `MockPartialFillIssuer`: 900,000 in it, 100,000 idle."""
    system = deploy_partial_fill_system(project, accounts)
    system.rebalance([9_000])
    return system


def strikes_sent(report) -> list[str]:
    return [a.outcome for a in report.actions if a.call == "strike()"]


def test_the_settler_sends_no_strike_for_redemptions_an_issuer_would_fill_nothing_of(
    partial, accounts, chain, tmp_path
):
    system, alice, bob = partial, accounts[6], accounts[2]
    vault, issuer, gov = system.vault, system.sleeve("partial").issuer, system.governance
    with isolated(chain):
        issuer.setFills(10_000, 0, sender=gov)  # pays nothing, reports what it could
        vault.requestRedeem(vault.balanceOf(alice) // 2, alice, alice, sender=alice)  # 500,000
        system.publish_prices()
        k = keeper(vault_protocol(system), accounts[7], tmp_path)
        first = k.run("settler")  # the 100,000 idle: progress
        assert strikes_sent(first) == ["mined"], first.summary()
        queued = vault.pendingRedemptions()
        assert 0 < queued < vault.totalSupply()
        assert vault.strikeTrigger()[0]  # the sleeve's liquidity counts: "a strike would fill"
        count = vault.strikeCount()

        for _ in range(3):  # the issuer pays nothing: one line a pass, nothing sent
            idle = k.run("settler")
            assert strikes_sent(idle) == [], idle.summary()
            assert any(
                s.startswith(f"strike: run at block {idle.block} (eth_call), a strike would fill "
                             f"none of the {queued} shares queued")
                for s in idle.skipped
            ), idle.skipped  # fmt: skip
            system.publish_prices()  # a new round: liquidity() moves, the issuer still pays 0
        assert vault.strikeCount() == count and vault.strikeTrigger()[0]
        assert vault.pendingRedemptions() == queued
        # the status dashboard says why the trigger is true and no settler strikes
        settlement = collect_status(k).settlement
        assert settlement.strikable and settlement.futile.startswith("run at block ")

        # a deposit a strike would settle is never held up (its window closed, priced after)
        system.fund(bob, 10_000 * USDC)
        vault.requestDeposit(10_000 * USDC, bob, bob, sender=bob)
        system.publish_prices()
        deposit = k.run("settler")
        assert strikes_sent(deposit) == ["mined"], deposit.summary()
        assert vault.claimableDepositRequest(0, bob) == 10_000 * USDC
        queued -= 10_000 * USDC * 10**12  # the deposit's cash paid redemptions, not the issuer
        assert vault.pendingRedemptions() == queued
        quiet = k.run("settler")
        assert strikes_sent(quiet) == [], quiet.summary()

        # anyone may still strike: the vault does not wait on the keeper's judgement
        vault.strike(sender=bob)
        assert vault.strikeCount() == count + 2 and vault.pendingRedemptions() == queued

        # the issuer pays again: the next pass strikes, no wait
        issuer.setFills(10_000, 10_000, sender=gov)
        assert collect_status(k).settlement.futile == ""  # a strike now would fill: ready
        retried = k.run("settler")
        assert strikes_sent(retried) == ["mined"], retried.summary()
        assert vault.pendingRedemptions() == 0
