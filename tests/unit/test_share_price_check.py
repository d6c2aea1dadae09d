"""The system machine's share-price check (tests/invariants/share_price.py): a step that leaves
a small vault is allowed its rounding in wei of that small vault, never a real loss to those
who stay. The case from CI: everyone but the fee recipient left a 2.2M USDC vault, leaving
0.43 USDC; 0.35 wei of rounding there read as 1.8M wei of the first vault and failed the old
check (`drop <= fee + 16`)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tests.invariants.share_price import allowed_drop, share_price_drop

OFFSET = 10**12  # 6-decimal assets, 18-decimal shares
ROUNDING = 16


def test_the_ci_case_is_rounding_in_the_vault_left():
    before = (2_200_069_321_807, 2_200_000 * 10**18)
    after = (428_522, 428_508_847_926_658_564)
    drop = share_price_drop(before, after, OFFSET)
    assert drop == 1_798_129
    assert drop > 428_521 + ROUNDING  # the old allowance
    assert drop <= allowed_drop(before, after, OFFSET, 428_521, ROUNDING)
    # In wei of the vault left, the drop is under one wei.
    assert drop * (after[1] + OFFSET) < before[1] + OFFSET


def test_a_real_loss_to_those_who_stay_is_still_caught():
    """The same exit, but the 0.43 USDC left is 17 wei short of its price: more than the
    rounding allowed, in wei of the vault left."""
    before = (2_200_069_321_807, 2_200_000 * 10**18)
    s1 = 428_508_847_926_658_564
    fair = (before[0] + 1) * (s1 + OFFSET) // (before[1] + OFFSET) - 1

    def passes(after: tuple[int, int]) -> bool:
        return share_price_drop(before, after, OFFSET) <= allowed_drop(
            before, after, OFFSET, 0, ROUNDING
        )

    assert not passes((fair - ROUNDING - 1, s1))
    assert passes((fair - ROUNDING + 1, s1))


@given(
    assets=st.integers(1, 10**15),
    supply=st.integers(10**12, 10**27),
    left=st.integers(1, 10**27),
    shortfall=st.integers(0, 64),
)
def test_exits_at_the_floor_price_pass_and_a_shortfall_beyond_rounding_fails(
    assets, supply, left, shortfall
):
    """Exits paid at the price rounded down leave the stayers' `left` shares at least their
    worth (drop 0); taking `shortfall` wei more from the vault left is allowed exactly when it
    is within `ROUNDING` wei of that vault (one more wei of the first vault for rounding up)."""
    left = min(left, supply)
    before = (assets, supply)
    worth = (assets + 1) * (left + OFFSET) // (supply + OFFSET) - 1  # what `left` is worth, down
    if worth - shortfall < 0:
        return
    after = (worth - shortfall, left)
    drop = share_price_drop(before, after, OFFSET)
    allowed = allowed_drop(before, after, OFFSET, 0, ROUNDING)
    if shortfall == 0:
        assert drop <= allowed
    if shortfall > ROUNDING + 1:
        assert drop > allowed
