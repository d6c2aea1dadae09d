"""Signing accounts for the `ape run` scripts and the keeper, one way for all of them.

An account is an Ape account alias (a keystore: `ape accounts generate NAME` / `ape accounts
import NAME`) or ``TEST::<n>``, Ape's n-th test account (local networks only).

A keystore signs in one of two ways:

- **attended** (a person at a terminal): Ape asks for the passphrase and "Sign: [y/N]" for each
  transaction, as it always does;
- **unattended** (``BALLAST_UNATTENDED=1``, or always for the keeper): the keystore is unlocked
  with the passphrase in Ape's own variable ``APE_ACCOUNTS_<alias>_PASSPHRASE`` (at a terminal
  without it, Ape asks for it once) and signs every transaction the command sends without
  asking. The risk: whoever can read that process's
  environment can sign with the key, and nothing asks before a transaction leaves.

Without a terminal and without ``BALLAST_UNATTENDED=1`` a keystore cannot sign: the command
refuses in one line before sending anything (rather than end in Ape's bare "Aborted!").

Unattended signing is the operator's choice, made on purpose: Ape's own warning when auto-sign
is turned on ("Danger! This account will now sign any transaction it's given.") is not shown
for it; `ready_to_sign` says once, in one line of ours, that the account signs unattended.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from eth_utils import is_address

UNATTENDED = "BALLAST_UNATTENDED"
_ON, _OFF = {"1", "true", "yes", "on"}, {"", "0", "false", "no", "off"}


class AccountError(Exception):
    """The account cannot be loaded or cannot sign; the message is one line."""


def passphrase_variable(alias: str) -> str:
    """Ape's variable for the passphrase of keystore `alias`."""
    return f"APE_ACCOUNTS_{alias}_PASSPHRASE"


def unattended_requested() -> bool:
    """Whether the operator set ``BALLAST_UNATTENDED`` (1/true/yes/on; 0/false/no/off/unset)."""
    value = os.environ.get(UNATTENDED, "").strip().lower()
    if value in _ON:
        return True
    if value in _OFF:
        return False
    raise AccountError(f"{UNATTENDED}={os.environ[UNATTENDED]!r}: expected 1 or 0")


def load_account(alias: str) -> Any:
    """The Ape account `alias` (``TEST::<n>`` for a test account), not yet unlocked."""
    from ape import accounts
    from ape.exceptions import AccountsError

    if alias.upper().startswith("TEST::"):
        index_text = alias.split("::", 1)[1]
        if not index_text.isdigit():
            raise AccountError(f"test account {alias!r}: expected TEST::<number>")
        try:
            return accounts.test_accounts[int(index_text)]
        except (IndexError, AccountsError) as err:
            raise AccountError(f"no test account {alias}: {err}") from None
    try:
        return accounts.load(alias)
    except (IndexError, KeyError, AccountsError):
        known = ", ".join(sorted(a.alias for a in accounts if getattr(a, "alias", None))) or "none"
        if is_address(alias):  # an address signs nothing: its key's keystore alias does
            raise AccountError(
                f"--account takes an account alias, not an address ({alias}); known aliases: "
                f"{known} (`ape accounts import NAME` makes one from a key)"
            ) from None
        raise AccountError(
            f"no Ape account {alias!r} (known: {known}); create one with "
            f"`ape accounts generate {alias}` or `ape accounts import {alias}`"
        ) from None


APE_AUTOSIGN_WARNING = "Danger! This account will now sign any transaction it's given."


class _AutosignWarning(logging.Filter):
    """Drops Ape's auto-sign warning (`KeyfileAccount.set_autosign`), nothing else."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage().strip() != APE_AUTOSIGN_WARNING


@contextmanager
def _without_autosign_warning() -> Iterator[None]:
    ape_logger = logging.getLogger("ape")
    quiet = _AutosignWarning()
    ape_logger.addFilter(quiet)
    try:
        yield
    finally:
        ape_logger.removeFilter(quiet)


def _to_stdout(line: str) -> None:
    print(line, flush=True)  # where Ape's warning went: stderr keeps to one line for an error


def ready_to_sign(
    account: Any,
    *,
    unattended: bool,
    interactive: bool | None = None,
    say: Callable[[str], None] = _to_stdout,
) -> Any:
    """`account`, able to sign as the module describes: a keystore is unlocked with auto-sign
    when `unattended` (Ape's warning left out; `say` gets one line saying so instead, default:
    stdout); left to Ape's prompts when `interactive` (default: stdin is a terminal); refused
    otherwise. Other accounts (test accounts) are returned as they are."""
    if not hasattr(account, "set_autosign"):
        return account
    alias = account.alias
    variable = passphrase_variable(alias)
    at_terminal = sys.stdin.isatty() if interactive is None else interactive
    if not unattended:
        if at_terminal:
            return account
        raise AccountError(
            f"account {alias!r} needs a terminal to sign; to sign without one set {UNATTENDED}=1 "
            f"and {variable} to its passphrase"
        )
    passphrase = os.environ.get(variable)
    if not passphrase and not at_terminal:
        raise AccountError(f"account {alias!r} is locked: set {variable} to its passphrase")
    # At a terminal without the variable, Ape asks for the passphrase once, then signs unasked.
    try:
        with _without_autosign_warning():
            account.set_autosign(True, passphrase=passphrase or None)
    except Exception as err:  # noqa: BLE001 - ape's InvalidPasswordError and friends
        raise AccountError(f"cannot unlock account {alias!r}: {err}") from None
    say(f"account {alias!r} signs unattended: every transaction this process sends is signed "
        "without asking")  # fmt: skip
    return account
