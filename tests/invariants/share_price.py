"""The system machine's share-price check (invariant 3), apart from the chain so that it can be
tested on its own (tests/unit/test_share_price_check.py).

Prices are OZ ERC-4626's, with the virtual share and asset: `(totalAssets + 1) / (totalSupply +
offset)`. A drop is measured in asset wei of the `before` vault: how much of its total the
holders who stay would have lost had the vault kept its `before` size. A fee of `fee` assets
charged on that vault lowers the price by about `fee` of those wei.

Rounding is a few wei of the vault *where it happens*. When a step empties most of the vault
(everyone exits but the fee recipient), one wei of the small vault left is worth
`before supply / after supply` wei of the `before` vault: 0.35 wei of a 0.43 USDC vault left of
2.2M USDC reads as 1.8M wei of the `before` one (the CI failure this module answers). So the
rounding allowance is scaled to the smaller of the two supplies: it allows `rounding` wei of
loss to whoever stays, never more.
"""

from __future__ import annotations


def share_price_drop(before: tuple[int, int], after: tuple[int, int], offset: int) -> int:
    """By how much, in asset wei of the vault's `before` total, the share price fell from
    `before` to `after` (each (totalAssets, totalSupply)): 0 when it did not fall. Rounded up."""
    (ta0, s0), (ta1, s1) = before, after
    lhs, rhs = (ta1 + 1) * (s0 + offset), (ta0 + 1) * (s1 + offset)
    return 0 if lhs >= rhs else -(-(rhs - lhs) // (s1 + offset))


def allowed_drop(
    before: tuple[int, int], after: tuple[int, int], offset: int, fee: int, rounding: int
) -> int:
    """The largest drop (`share_price_drop`'s units) a step without a realised loss may show:
    the fee it charged on the `before` vault plus `rounding` wei of the smaller of the two
    vaults, in wei of the `before` one (rounded up: one more wei of it at most)."""
    s0, s1 = before[1] + offset, after[1] + offset
    return fee + -(-rounding * max(s0, s1) // s1)
