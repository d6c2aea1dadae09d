"""`keepers.reads.priced_tokens`: the feeds the keepers watch and poke, by name."""

from __future__ import annotations

from types import SimpleNamespace

from eth_utils import to_checksum_address

from keepers.reads import priced_tokens

GOLD = to_checksum_address("0x" + "11" * 20)
TBILL = to_checksum_address("0x" + "22" * 20)
OTHER_GOLD = to_checksum_address("0x" + "33" * 20)
WETH = to_checksum_address("0x" + "44" * 20)


def protocol(collateral: dict[str, str]):
    sleeves = [
        SimpleNamespace(name="tbill", token=TBILL),
        SimpleNamespace(name="gold", token=GOLD),
        SimpleNamespace(name="lending", token=None),
    ]
    book = SimpleNamespace(
        collateralTokens=lambda: list(collateral.values()),
        collateralName=lambda token: next(n for n, t in collateral.items() if t == token),
    )
    return SimpleNamespace(deployment=SimpleNamespace(sleeves=sleeves), lending=book)


def test_a_collateral_the_book_names_as_a_sleeve_does_not_replace_the_sleeves_feed():
    """The DAO listed, as lending collateral, a token the book names "gold" that is not the gold
    sleeve's token (the chain keeps the two sets of names apart nowhere): under one name the
    collateral's token replaced the sleeve's, so the sentinel watched and the settler poked the
    collateral's feed where the vault's sleeve waited on its own."""
    priced = priced_tokens(protocol({"gold": OTHER_GOLD, "weth": WETH, "tbill": TBILL}))
    assert priced == {
        "tbill": TBILL,
        "gold": GOLD,
        f"gold (collateral {OTHER_GOLD})": OTHER_GOLD,
        "weth": WETH,
    }
    assert priced_tokens(protocol({"gold": OTHER_GOLD}), collateral=False) == {
        "tbill": TBILL,
        "gold": GOLD,
    }
