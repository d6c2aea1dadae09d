"""A keeper knows its funds (issue 20, item 5): a key without gas coin, or a liquidator without
stablecoin inventory, makes `ballast-keeper once` warn once and exit 6 (`UNFUNDED_EXIT`) — not
"Insufficient funds" three times a block and exit 0, nor a silent skip; `status` and the metrics
show both balances."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from keepers.config import load_settings
from keepers.funding import NATIVE, UNFUNDED_EXIT, whole
from keepers.math import WAD
from keepers.metrics import Metrics
from tests.cli_forkserver import forked
from tests.keeper_support import keeper, open_many_positions, protocol_of
from tests.lending_support import deploy_lending_system
from tests.vault_support import USDC, faucet, isolated

KEEPER = Path(sys.executable).with_name("ballast-keeper")
BROKE = 9  # the test account whose balances each test sets


@pytest.fixture(scope="module")
def book(project, accounts, chain, tmp_path_factory):
    """A lending system with 4 borrowers and its manifest."""
    first_block = chain.blocks.head.number + 1
    lending = deploy_lending_system(project, accounts[0], accounts[1], accounts[5])
    lending.supply(accounts[6], 1_000_000 * USDC)
    borrowers = open_many_positions(lending, 4, accounts[0])
    manifest = tmp_path_factory.mktemp("funding") / "ethereum-local.json"
    protocol_of(lending, first_block).deployment.save(manifest)
    return lending, borrowers, manifest


@pytest.fixture
def shocked(book, chain):
    """tbill marked down 50 %: every position unhealthy."""
    lending, borrowers, manifest = book
    with chain.isolate():
        lending.set_nav("tbill", 50_000_000)
        lending.confirm("tbill")  # a liquidation counts the fall once confirmed
        assert all(lending.book.healthFactor(b) < WAD for b in borrowers)
        yield lending, borrowers, manifest


def set_eth(chain, account, wei: int) -> None:
    chain.provider.web3.provider.make_request("anvil_setBalance", [account.address, hex(wei)])


def run_keeper(chain, repo_root: Path, state: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "APE_FOUNDRY_HOST": chain.provider.uri, "NO_COLOR": "1",
           "COLUMNS": "200"}  # fmt: skip
    command, env = forked([str(KEEPER), "--state-dir", str(state), *args], env)
    return subprocess.run(
        command, cwd=repo_root, env=env,
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def funding_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "lack of funds" in line]


def test_a_key_without_gas_warns_once_and_exits_unfunded(
    shocked, accounts, chain, repo_root, tmp_path
):
    lending, borrowers, manifest = shocked
    broke = accounts[BROKE]
    faucet(lending.asset, broke, 1_000_000 * USDC)  # inventory, but no gas coin
    set_eth(chain, broke, 0)
    nonce, start = broke.nonce, chain.blocks.head.number + 1

    result = run_keeper(chain, repo_root, tmp_path / "state", "--manifest", str(manifest),
                        "--account", f"TEST::{BROKE}", "once", "--job", "liquidator")  # fmt: skip

    assert result.returncode == UNFUNDED_EXIT == 6, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    (warning,) = funding_lines(result.stderr)
    assert "liquidator could not act" in warning and f"0 {NATIVE}" in warning, warning
    assert "insufficient funds" not in result.stderr.lower()  # the node's refusal is not relayed
    assert broke.nonce == nonce  # nothing was sent
    assert list(lending.book.Liquidated.range(start, chain.blocks.head.number + 1)) == []
    assert "unfunded" in result.stdout  # the actions table says why


def test_a_liquidator_without_inventory_names_it_and_exits_unfunded(
    shocked, accounts, chain, repo_root, tmp_path
):
    lending, borrowers, manifest = shocked
    broke = accounts[BROKE]
    set_eth(chain, broke, 10**20)  # gas coin, but no stablecoin
    assert lending.asset.balanceOf(broke) == 0
    symbol = lending.asset.symbol()

    result = run_keeper(chain, repo_root, tmp_path / "state", "--manifest", str(manifest),
                        "--account", f"TEST::{BROKE}", "once", "--job", "liquidator")  # fmt: skip

    assert result.returncode == UNFUNDED_EXIT, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    (warning,) = funding_lines(result.stderr)
    assert f"holds 0 {symbol}" in warning and "inventory" in warning, warning
    assert f"to repay {len(borrowers)} liquidation(s)" in warning, warning
    assert all(lending.book.healthFactor(b) < WAD for b in borrowers)  # none liquidated


def test_status_shows_the_keys_gas_and_inventory(book, accounts, chain, repo_root, tmp_path):
    lending, _, manifest = book
    who = accounts[BROKE]
    with isolated(chain):
        faucet(lending.asset, who, 250 * USDC)  # sent by `who`: gas paid, so the ETH after
        set_eth(chain, who, 3 * 10**18 // 2)
        inventory = lending.asset.balanceOf(who)
        result = run_keeper(chain, repo_root, tmp_path / "state", "--manifest", str(manifest),
                            "--account", f"TEST::{BROKE}", "status")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    symbol, decimals = lending.asset.symbol(), lending.asset.decimals()
    expected = f"funds: 1.5 {NATIVE} for gas, {whole(inventory, decimals)} {symbol} inventory"
    assert expected in result.stdout, result.stdout


def test_metrics_export_the_keys_balances(book, accounts, chain, tmp_path):
    lending, _, _ = book
    who = accounts[BROKE]
    with isolated(chain):
        faucet(lending.asset, who, 1_234 * USDC)
        set_eth(chain, who, 2 * 10**18)
        metrics = Metrics()
        k = keeper(protocol_of(lending), who, tmp_path, load_settings(dry_run=True))
        metrics.observe(k.run("liquidator"))  # as the CLI and the bots do after each pass
        symbol = lending.asset.symbol()
        get = metrics.registry.get_sample_value
        assert get("ballast_keeper_balance", {"asset": NATIVE}) == 2.0
        assert get("ballast_keeper_balance", {"asset": symbol}) == (
            lending.asset.balanceOf(who) / 10 ** lending.asset.decimals()
        )


@pytest.mark.parametrize(
    ("args", "says"),
    [([], f"{UNFUNDED_EXIT} (once) a job could not act for lack of funds"),
     (["once"], f"{UNFUNDED_EXIT} when a job could not act for lack of funds")],
)  # fmt: skip
def test_the_exit_codes_are_in_the_cli_help(repo_root, args, says):
    shown = subprocess.run(
        [str(KEEPER), *args, "--help"], cwd=repo_root, capture_output=True, text=True,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "100"}, timeout=120, check=True,
    )  # fmt: skip
    assert says in " ".join(shown.stdout.split()), shown.stdout
