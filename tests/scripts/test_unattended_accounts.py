"""Keystore accounts in the `ape run` scripts with no terminal: BALLAST_UNATTENDED=1 and Ape's
passphrase variable sign without a prompt; anything less is one line and exit 1, before anything
is sent. The keystore lives in a temporary Ape data folder (APE_DATA_FOLDER), never ~/.ape.

The keystore cases run in subprocesses (`ape run`, a fresh interpreter for the keeper's helper):
Ape reads APE_DATA_FOLDER and the passphrase variables when a process starts, and these cases
are about a process with no terminal. The two test-account cases run in-process
(tests/scripts/inprocess.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from eth_account import Account

from ballast.deployment import Deployment
from tests.cli_forkserver import forked
from tests.conftest import REPO_ROOT

PASSPHRASE = "correct horse battery staple"
NETWORK = ["--network", "ethereum:local:foundry"]


@pytest.fixture(scope="module")
def ape_data(tmp_path_factory, accounts):
    """An Ape data folder holding the keystore `ops`: the key of the deployer (test account 0,
    which holds the local config's governance tokens)."""
    data = tmp_path_factory.mktemp("ape-data")
    (data / "accounts").mkdir()
    keyfile = Account.encrypt(accounts[0].private_key, PASSPHRASE)
    (data / "accounts" / "ops.json").write_text(json.dumps(keyfile))
    return data


@pytest.fixture(scope="module")
def headless(chain, ape_data):
    """Runs `ape ARGS` with stdin closed (no terminal) and the keystore's data folder."""

    def run(args: list[str], **env: str) -> subprocess.CompletedProcess:
        full_env = {**os.environ, "APE_FOUNDRY_HOST": chain.provider.uri, "NO_COLOR": "1",
                    "COLUMNS": "200", "APE_DATA_FOLDER": str(ape_data)}  # fmt: skip
        for name in ("BALLAST_UNATTENDED", "APE_ACCOUNTS_ops_PASSPHRASE"):
            full_env.pop(name, None)
        full_env.update(env)
        command, full_env = forked(["ape", *args], full_env)
        return subprocess.run(
            command, cwd=REPO_ROOT, env=full_env, stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip

    return run


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "Aborted" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


UNATTENDED = {"BALLAST_UNATTENDED": "1", "APE_ACCOUNTS_ops_PASSPHRASE": PASSPHRASE}


def test_a_headless_deploy_and_proposal_from_a_keystore(headless, tmp_path, deployer):
    manifest = tmp_path / "ethereum-local.json"
    deploy = ["run", "deploy", *NETWORK, "--account", "ops", "--manifest", str(manifest)]

    deployed = headless(deploy, **UNATTENDED)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert Deployment.load(manifest).deployer == deployer.address
    assert "Sign:" not in deployed.stdout + deployed.stderr
    assert PASSPHRASE not in deployed.stdout + deployed.stderr  # never echoed, never logged
    # chosen on purpose: said once in our words, not with Ape's "Danger!" warning
    assert "Danger!" not in deployed.stdout + deployed.stderr, deployed.stderr
    assert deployed.stdout.count("account 'ops' signs unattended") == 1, deployed.stdout

    nonce = deployer.nonce
    propose = ["run", "params", "propose", *NETWORK, "--manifest", str(manifest),
               "--account", "ops", "vault.idleBufferBps", "600", "--self-delegate"]  # fmt: skip
    proposed = headless(propose, **UNATTENDED)
    assert proposed.returncode == 0, proposed.stdout + proposed.stderr
    assert PASSPHRASE not in proposed.stdout + proposed.stderr
    assert deployer.nonce == nonce + 2  # delegate, propose: signed by the keystore, unasked


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"BALLAST_UNATTENDED": "1"},
            "Error: account 'ops' is locked: set APE_ACCOUNTS_ops_PASSPHRASE to its passphrase",
        ),
        (
            {"APE_ACCOUNTS_ops_PASSPHRASE": PASSPHRASE},
            "Error: account 'ops' needs a terminal to sign; to sign without one set "
            "BALLAST_UNATTENDED=1 and APE_ACCOUNTS_ops_PASSPHRASE to its passphrase",
        ),
        ({}, "Error: account 'ops' needs a terminal to sign"),
        (
            {"BALLAST_UNATTENDED": "1", "APE_ACCOUNTS_ops_PASSPHRASE": "wrong"},
            "Error: cannot unlock account 'ops'",
        ),
        ({"BALLAST_UNATTENDED": "maybe"}, "Error: BALLAST_UNATTENDED='maybe': expected 1 or 0"),
    ],
    ids=["no passphrase", "not unattended", "neither", "wrong passphrase", "bad switch"],
)
def test_a_keystore_that_cannot_sign_is_one_line_before_sending(
    headless, tmp_path, deployer, env, message
):
    nonce = deployer.nonce
    manifest = tmp_path / "m.json"
    result = headless(
        ["run", "deploy", *NETWORK, "--account", "ops", "--manifest", str(manifest)], **env
    )
    assert one_line_error(result).startswith(message)
    assert deployer.nonce == nonce
    assert not manifest.exists()


def test_no_account_and_no_terminal_is_one_line(ape_script, tmp_path):
    """In-process (tests/scripts/inprocess.py): click's test input is no terminal either."""
    env = {"BALLAST_UNATTENDED": None, "APE_ACCOUNTS_ops_PASSPHRASE": None}
    result = ape_script("deploy", [*NETWORK, "--manifest", str(tmp_path / "m.json")], env=env)
    assert one_line_error(result) == "Error: give --account ALIAS (no terminal to choose one)"


def test_an_unknown_alias_is_one_line(headless, tmp_path):
    result = headless(["run", "guardian", "pause", *NETWORK, "--account", "nobody"], **UNATTENDED)
    assert one_line_error(result).startswith("Error: no Ape account 'nobody' (known: ops)")


def test_test_accounts_need_no_switch(ape_script, tmp_path):
    """In-process, with no terminal and neither variable set."""
    manifest = tmp_path / "m.json"
    env = {"BALLAST_UNATTENDED": None, "APE_ACCOUNTS_ops_PASSPHRASE": None}
    result = ape_script(
        "deploy", [*NETWORK, "--account", "TEST::0", "--manifest", str(manifest)], env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert Deployment.load(manifest).contracts  # the system was deployed and recorded


KEEPER_LOAD = (
    "import sys\n"
    "from keepers.runtime import StartupError, load_account\n"
    "try:\n"
    "    print(load_account('ops').address)\n"
    "except StartupError as err:\n"
    "    sys.exit(f'error: {err}')\n"
)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "error: account 'ops' is locked: set APE_ACCOUNTS_ops_PASSPHRASE to its passphrase"),
        ({"APE_ACCOUNTS_ops_PASSPHRASE": "wrong"}, "error: cannot unlock account 'ops'"),
        ({"APE_ACCOUNTS_ops_PASSPHRASE": PASSPHRASE}, None),
    ],
    ids=["locked", "wrong", "unlocked"],
)
def test_the_keeper_shares_the_helper_and_needs_no_switch(ape_data, deployer, env, expected):
    """The keeper is unattended by nature: the passphrase variable alone unlocks its keystore
    (this worktree's keepers.runtime, run in a fresh interpreter with the temp data folder)."""
    full_env = {**os.environ, "APE_DATA_FOLDER": str(ape_data), **env}
    full_env.pop("BALLAST_UNATTENDED", None)
    if "APE_ACCOUNTS_ops_PASSPHRASE" not in env:
        full_env.pop("APE_ACCOUNTS_ops_PASSPHRASE", None)
    result = subprocess.run(
        [sys.executable, "-c", KEEPER_LOAD], cwd=REPO_ROOT, env=full_env,
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    if expected is None:
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().splitlines()[-1] == deployer.address
        # Ape's auto-sign warning (on stdout, before the address) is left out
        assert "Danger!" not in result.stdout + result.stderr, result.stdout + result.stderr
    else:
        assert result.returncode == 1
        assert result.stderr.strip().splitlines()[-1].startswith(expected), result.stderr
