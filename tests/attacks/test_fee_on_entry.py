"""A deposit never pays the performance fee on a gain made before it (found in a second read of
the fee sample, after fix-fee).

With the fee charged only up to the price that stood (the fee sample), a gain stays above the
high-water mark for a day or more after it is made, and deposits settle meanwhile at the price
with the gain in it. The mark was a per-share price that deposits did not move, so once the gain
stood every share paid the fee on it, the new ones included: the fee exceeded the gain's by the
deposits' ratio to the vault. At the first strike this was the whole deposit: the mark stays the
empty vault's price (`1 / 10^offset` a share) while 1 wei sent to the vault beforehand doubles
the price the first deposits pay, so the next fee charged half of them as gain (PoC: 1,000,000
deposited, a 50,000 fee, the depositor left with 950,000). A vault emptied by its holders (the
dust they leave behind) is the same.

The defence (IRWAVault.setAgentRegistry): a deposit lifts the mark by what it pays above the
mark for its shares (never lowering it), as the fee's own shares do, so the gain made before it
stays chargeable only to the shares that held it: the fee is the gain's, never more (minted,
as every fee, pro rata to the shares when it is charged).
"""

from __future__ import annotations

import pytest

from tests.vault_support import USDC, deploy_vault_system, isolated, stand_fee_sample

FEE_BPS = 1_000
MILLION = 1_000_000 * USDC


@pytest.fixture(autouse=True)
def _isolate(chain):
    with isolated(chain):
        yield


def fees(tx, vault) -> int:
    return sum(e.feeAssets for e in tx.events.filter(vault.PerformanceFeeTaken))


def _charge(system) -> int:
    """Two strikes a day apart: any gain now above the mark has stood and is charged."""
    return sum(fees(stand_fee_sample(system), system.vault) for _ in range(2))


def test_a_wei_sent_before_the_first_strike_is_never_charged_on_the_first_deposits(
    project, accounts
):
    s = deploy_vault_system(project, accounts[0], accounts[1], accounts[5])
    s.set_param("vault.performanceFeeBps", FEE_BPS)
    whale, anyone = accounts[6], accounts[8]
    s.fund(anyone, 1)
    s.asset.transfer(s.vault, 1, sender=anyone)  # 1 wei: the empty vault's price doubles
    s.deposit(whale, MILLION)  # the first strike
    taken = _charge(s)
    value = s.vault.convertToAssets(s.vault.balanceOf(whale))
    # Before: a 50,000 fee (10 % of half the deposit, counted as gain), the whale left 950,000.
    assert taken <= 1
    assert value >= MILLION - 2


def test_a_deposit_never_pays_the_fee_on_a_gain_made_before_it(project, accounts):
    s = deploy_vault_system(project, accounts[0], accounts[1], accounts[5])
    s.set_param("vault.performanceFeeBps", FEE_BPS)
    seed, whale, anyone = accounts[6], accounts[7], accounts[8]
    s.deposit(seed, 10_000 * USDC)
    stand_fee_sample(s)  # a sample a day old: the next strike charges what stood
    s.fund(anyone, 1_000 * USDC)
    s.asset.transfer(s.vault, 1_000 * USDC, sender=anyone)  # a gain (not `donate`): +10 %
    s.deposit(whale, MILLION)  # settles at the price with the gain in it, before it stands
    taken = _charge(s)
    whale_value = s.vault.convertToAssets(s.vault.balanceOf(whale))
    seed_value = s.vault.convertToAssets(s.vault.balanceOf(seed))
    # The fee is the gain's, 100 (10 % of 1,000), minted pro rata as ever. Before: 9,190, the
    # whale left 990,909 (9,090 paid on a gain it never had).
    assert 100 * USDC - 10 <= taken <= 100 * USDC
    assert whale_value >= MILLION - 100 * USDC
    assert seed_value >= 10_900 * USDC - 10
