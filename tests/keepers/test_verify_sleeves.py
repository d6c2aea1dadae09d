"""`keepers.verify.sleeves_at`: the replay of a decision reads the vault's sleeves at the
receipt's block; a sleeve there that it cannot read is named, not reported as a block the node
did not serve."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from keepers.verify import UnknownSleeve, sleeves_at


def test_a_sleeve_neither_tokenized_nor_the_manifests_book_is_named(project, accounts, chain):
    """At the receipt's block the vault held a sleeve the manifest does not list and that has
    no `rwaToken()` (a second lending book, say): the replay said "block N not served" (the
    revert of `rwaToken()` read as a node refusal); it names the sleeve and why."""
    odd = accounts[0].deploy(project.MockStablecoin, "Not a sleeve", "NAS")
    block = chain.blocks.head.number
    config = SimpleNamespace(sleeve=odd.address, name="book2")

    class Vault:
        @staticmethod
        def sleeveCount(block_id):  # noqa: N802 - the contract's name
            assert block_id == block
            return 1

        @staticmethod
        def sleeveAt(i, block_id):  # noqa: N802 - the contract's name
            assert (i, block_id) == (0, block)
            return config

    protocol = SimpleNamespace(vault=Vault, lending=None, deployment=SimpleNamespace(sleeves=[]))
    with pytest.raises(UnknownSleeve) as err:
        sleeves_at(protocol, block)
    assert str(err.value) == (
        f"sleeve 'book2' ({odd.address}) at block {block} is neither a tokenized RWA sleeve "
        "nor the manifest's lending book: its inputs cannot be read"
    )
