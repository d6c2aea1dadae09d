"""ballast.accounts.ready_to_sign: who signs how, decided before anything is sent (the chain-free
part; tests/scripts/test_unattended_accounts.py runs the scripts with a real keystore)."""

from __future__ import annotations

import logging

import pytest

from ballast.accounts import (
    APE_AUTOSIGN_WARNING,
    AccountError,
    ready_to_sign,
    unattended_requested,
)


class Keystore:
    """Stands in for Ape's KeyfileAccount: records how it was asked to unlock."""

    alias = "ops"

    def __init__(self, passphrase: str = "right"):
        self.passphrase = passphrase
        self.autosign: tuple[bool, str | None] | None = None

    def set_autosign(self, enabled: bool, passphrase: str | None = None) -> None:
        if passphrase is not None and passphrase != self.passphrase:
            raise ValueError("Invalid password")
        self.autosign = (enabled, passphrase)


class PlainAccount:
    alias = None  # no set_autosign: signs without a keystore


VARIABLE = "APE_ACCOUNTS_ops_PASSPHRASE"


@pytest.fixture(autouse=True)
def _clean(monkeypatch):
    monkeypatch.delenv(VARIABLE, raising=False)
    monkeypatch.delenv("BALLAST_UNATTENDED", raising=False)


def test_unattended_unlocks_with_apes_variable_and_auto_signs(monkeypatch):
    monkeypatch.setenv(VARIABLE, "right")
    account = ready_to_sign(Keystore(), unattended=True, interactive=False)
    assert account.autosign == (True, "right")


class WarningKeystore(Keystore):
    """Logs as Ape's KeyfileAccount does when auto-sign is turned on, and one other warning."""

    def set_autosign(self, enabled: bool, passphrase: str | None = None) -> None:
        super().set_autosign(enabled, passphrase)
        logging.getLogger("ape").warning(APE_AUTOSIGN_WARNING)
        logging.getLogger("ape").warning("another warning of Ape's")


def test_unattended_signing_is_said_once_in_our_words_not_with_apes_warning(monkeypatch, caplog):
    """Ape warns "Danger! ..." each time auto-sign is turned on: an operator who chose
    unattended signing got it on every start. Only that warning is left out, only here; one
    line of ours says the account signs unattended."""
    monkeypatch.setenv(VARIABLE, "right")
    said: list[str] = []
    with caplog.at_level(logging.WARNING, logger="ape"):
        ready_to_sign(WarningKeystore(), unattended=True, interactive=False, say=said.append)
        logging.getLogger("ape").warning(APE_AUTOSIGN_WARNING)  # elsewhere: Ape's, as it is
    messages = [r.getMessage() for r in caplog.records if r.name == "ape"]
    assert messages == ["another warning of Ape's", APE_AUTOSIGN_WARNING]
    assert said == [
        "account 'ops' signs unattended: every transaction this process sends is signed without "
        "asking"
    ]


def test_unattended_at_a_terminal_without_the_variable_lets_ape_ask_once():
    account = ready_to_sign(Keystore(), unattended=True, interactive=True)
    assert account.autosign == (True, None)  # Ape prompts for the passphrase, then signs


def test_unattended_without_terminal_or_variable_is_refused():
    with pytest.raises(AccountError, match=f"account 'ops' is locked: set {VARIABLE}"):
        ready_to_sign(Keystore(), unattended=True, interactive=False)


def test_a_wrong_passphrase_is_one_line(monkeypatch):
    monkeypatch.setenv(VARIABLE, "wrong")
    with pytest.raises(AccountError, match="cannot unlock account 'ops': Invalid password"):
        ready_to_sign(Keystore(), unattended=True, interactive=False)


def test_attended_at_a_terminal_is_left_to_apes_prompts(monkeypatch):
    monkeypatch.setenv(VARIABLE, "right")  # the variable alone does not switch prompts off
    assert ready_to_sign(Keystore(), unattended=False, interactive=True).autosign is None


def test_attended_without_a_terminal_is_refused():
    with pytest.raises(AccountError, match="needs a terminal to sign; to sign without one set"):
        ready_to_sign(Keystore(), unattended=False, interactive=False)


def test_test_accounts_sign_as_they_are():
    account = PlainAccount()
    assert ready_to_sign(account, unattended=False, interactive=False) is account


@pytest.mark.parametrize(
    ("value", "on"), [("1", True), ("yes", True), ("TRUE", True), ("0", False), ("", False)]
)
def test_the_switch(monkeypatch, value, on):
    monkeypatch.setenv("BALLAST_UNATTENDED", value)
    assert unattended_requested() is on


def test_an_unknown_switch_value_is_refused(monkeypatch):
    monkeypatch.setenv("BALLAST_UNATTENDED", "maybe")
    with pytest.raises(AccountError, match="BALLAST_UNATTENDED='maybe': expected 1 or 0"):
        unattended_requested()
