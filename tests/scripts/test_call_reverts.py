"""A custom error reverted by a view call reaches Ape unnamed (`custom error 0x7dc53e1c`: anvil's
words, which Ape passes on; it names a transaction's): the scripts name it from the project's
contracts and say it in words (`ballast.cli.revert_in_words`), and a revert that reaches a
command's end is one line, exit 1 (`NodeCommand`). The vault's `PreviewUnavailable` (every
ERC-4626 preview of the asynchronous vault) is the one an ERC-4626 client meets first."""

from __future__ import annotations

import click
import pytest
from ape.exceptions import ContractLogicError
from eth_utils import keccak

from ballast.cli import NodeCommand, revert_in_words
from tests.scripts.inprocess import invoke
from tests.vault_support import deploy_vault_system

SELECTOR = "0x" + keccak(text="PreviewUnavailable()")[:4].hex()
SAYS = (
    "PreviewUnavailable: the vault has no previews: it prices deposits and redemptions at a "
    "future strike (ERC-7540); request one (requestDeposit, requestRedeem), then claim what "
    "maxDeposit and maxRedeem show"
)


@pytest.fixture(scope="module")
def vault(project, accounts):
    return deploy_vault_system(project, accounts[0], accounts[1], accounts[5]).vault


@pytest.mark.parametrize("preview", ["previewDeposit", "previewMint", "previewWithdraw",
                                     "previewRedeem"])  # fmt: skip
def test_a_preview_call_is_named_in_words(vault, preview):
    with pytest.raises(ContractLogicError) as caught:
        getattr(vault, preview)(1)
    assert caught.value.message == f"custom error {SELECTOR}"  # what Ape leaves of it
    assert revert_in_words(caught.value) == SAYS


def test_a_named_custom_error_gets_its_sentence_too(vault, accounts):
    with pytest.raises(ContractLogicError) as caught:  # a transaction: Ape names it
        vault.previewRedeem.transact(1, sender=accounts[6])
    assert revert_in_words(caught.value) == SAYS


def test_a_revert_that_reaches_a_script_command_is_one_named_line(vault, session_provider, chain):
    @click.command(cls=NodeCommand)
    def preview(network) -> None:
        """Previews a redemption as an ERC-4626 client would."""
        vault.previewRedeem(10**18)

    ran = invoke(preview, ["--network", "ethereum:local:foundry"], mixed=True,
                 env={"APE_FOUNDRY_HOST": chain.provider.uri})  # fmt: skip
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "Traceback" not in ran.stderr, ran.stderr
    assert ran.stdout.splitlines() == [f"Error: a contract refused: {SAYS}"]
