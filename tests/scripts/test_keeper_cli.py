"""`ballast-keeper` as an operator runs it, against this test run's anvil and a deployed system:
its click command in-process (tests/scripts/inprocess.py), and the installed console script in a
subprocess for the JSON logs and the keystore unlock."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from eth_account import Account

from ballast.deployment import Deployment
from keepers.state_lock import hold, release
from keepers.store import Store
from tests.cli_forkserver import forked
from tests.keeper_support import bound_state, deployed_manifest, observe_days

KEEPER = Path(sys.executable).with_name("ballast-keeper")


@pytest.fixture(scope="module")
def keeper_manifest(repo_root, accounts, tmp_path_factory):
    return deployed_manifest(repo_root, accounts[0], tmp_path_factory.mktemp("deployments"))


@pytest.fixture
def keeper_cli(keeper_main, tmp_path):
    """`ballast-keeper ARGS` in-process (tests/scripts/inprocess.py: the console script's click
    command) against this run's anvil, with the test's state folder; returns the command's end."""

    def run(*args: str, env: dict[str, str] | None = None):
        return keeper_main(["--state-dir", str(tmp_path / "state"), *args], env=env)

    return run


@pytest.fixture
def keeper_real(chain, repo_root, tmp_path):
    """Runs the installed `ballast-keeper ARGS` in a subprocess; returns the CompletedProcess."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 180):
        full_env = {**os.environ, "APE_FOUNDRY_HOST": chain.provider.uri, "NO_COLOR": "1",
                    "COLUMNS": "200", **(env or {})}  # fmt: skip
        command, full_env = forked(
            [str(KEEPER), "--state-dir", str(tmp_path / "state"), *args], full_env
        )
        return subprocess.run(
            command,
            cwd=repo_root, env=full_env, capture_output=True, text=True, timeout=timeout,
            check=False,
        )  # fmt: skip

    return run


def one_line_error(result) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def test_the_console_script_is_installed():
    assert KEEPER.is_file(), "ballast-keeper missing: `make install` installs it in the venv"


def test_once_runs_each_job_and_resumes_from_its_cursor(keeper_cli, keeper_manifest, chain):
    jobs = ["--job", "sentinel", "--job", "settler", "--job", "evaluator"]
    result = keeper_cli("--manifest", str(keeper_manifest), "--account", "TEST::7", "once", *jobs)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "sentinel @ block" in out and "feeds" in out
    assert "settler @ block" in out and "skip: strike: no request" in out
    assert "evaluator @ block" in out and "0 open decisions" in out
    chain.mine(3)
    again = keeper_cli("--manifest", str(keeper_manifest), "--account", "TEST::7", "once",
                       "--job", "sentinel", "--job", "redeemer")  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert f"sentinel @ block {chain.blocks.head.number}" in again.stdout
    # the settler's former name still runs it, with a warning
    assert "warning: job 'redeemer' is deprecated; running 'settler'" in again.stderr
    assert f"settler @ block {chain.blocks.head.number}" in again.stdout


def test_a_second_sending_process_of_one_key_is_refused_and_views_still_read(
    keeper_cli, keeper_manifest, accounts, tmp_path
):
    """A bot or a cron `once` of TEST::7 holds this state (keepers.state_lock): another sending
    `once` of the key stops in one line before it reads or writes the state; a dry run and
    `status` (send nothing) still work beside it; once released, `once` runs, and one `once`
    after another in one process (the first released its lock when it ended)."""
    state, _ = bound_state(tmp_path / "state", keeper_manifest, accounts[7].address)
    common = ("--manifest", str(keeper_manifest), "--account", "TEST::7")
    held = hold(state)
    try:
        error = one_line_error(keeper_cli(*common, "once", "--job", "settler"))
        assert "is in use by another keeper process" in error and f"pid {os.getpid()}" in error
        assert not state.exists()  # refused before the state file was opened
        dry = keeper_cli(*common, "--dry-run", "once", "--job", "settler")
        assert dry.returncode == 0, dry.stdout + dry.stderr
        view = keeper_cli(*common, "status", "--json")
        assert view.returncode == 0, view.stdout + view.stderr
    finally:
        release(held)
    for _ in range(2):
        ran = keeper_cli(*common, "once", "--job", "settler")
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert "settler @ block" in ran.stdout


def test_a_job_given_twice_runs_once(keeper_cli, keeper_manifest, chain):
    # twice by name, and the settler by its name and its deprecated alias: one pass of each
    result = keeper_cli("--manifest", str(keeper_manifest), "--account", "TEST::7", "once",
                        "--job", "sentinel", "--job", "settler", "--job", "sentinel",
                        "--job", "redeemer")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("sentinel @ block") == 1, result.stdout
    assert result.stdout.count("settler @ block") == 1, result.stdout
    assert "redeemer" not in result.stderr  # the alias came after the name: never run


def test_json_logs_are_one_object_per_line(keeper_real, keeper_manifest):
    """The installed console script (subprocess): its log lines on the process's stderr."""
    result = keeper_real(
        "--manifest", str(keeper_manifest), "--log-json", "once", "--job", "sentinel"
    )
    assert result.returncode == 0, result.stderr
    docs = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert any(d.get("job") == "sentinel" and "block" in d["msg"] for d in docs), result.stderr


def test_a_keystore_account_is_unlocked_from_apes_variable(
    keeper_real, keeper_manifest, accounts, tmp_path
):
    """A subprocess (the installed console script): Ape reads APE_DATA_FOLDER and the
    passphrase variable when it starts, so only a fresh process sees this keystore."""
    data = tmp_path / "ape-data"
    (data / "accounts").mkdir(parents=True)
    keyfile = Account.encrypt(accounts[8].private_key, "correct horse")
    (data / "accounts" / "ops.json").write_text(json.dumps(keyfile))
    base = ["--manifest", str(keeper_manifest), "--account", "ops", "once", "--job", "sentinel"]
    env = {"APE_DATA_FOLDER": str(data)}

    locked = keeper_real(*base, env=env)
    assert one_line_error(locked) == (
        "Error: account 'ops' is locked: set APE_ACCOUNTS_ops_PASSPHRASE to its passphrase"
    )
    wrong = keeper_real(*base, env={**env, "APE_ACCOUNTS_ops_PASSPHRASE": "wrong"})
    assert one_line_error(wrong).startswith("Error: cannot unlock account 'ops'")
    ok = keeper_real(*base, env={**env, "APE_ACCOUNTS_ops_PASSPHRASE": "correct horse"})
    assert ok.returncode == 0, ok.stderr
    state = list((tmp_path / "state").glob("*.sqlite"))
    expected, _ = bound_state(tmp_path / "state", keeper_manifest, accounts[8].address)
    assert [p.name for p in state] == [expected.name]  # this chain, deployment and key
    assert expected.name.startswith(f"31337-{accounts[8].address.lower()}-")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--network", "ethereum:nowhere", "once", "--job", "sentinel"],
         "Error: cannot connect to ethereum:nowhere"),
        (["--manifest", "/nonexistent/m.json", "once", "--job", "sentinel"],
         "Error: no deployment manifest at /nonexistent/m.json"),
        (["--account", "nobody", "once", "--job", "sentinel"], "Error: no Ape account 'nobody'"),
        (["--metrics-port", "70000", "once", "--job", "sentinel"],
         "Error: metrics_port: Input should be less than or equal to 65535"),
        (["verify-decision", "9"], "Error: decision 9 has no Rebalanced event on this chain"),
        (["once", "--job", "rebalancer"], "Error: rebalancer: the rebalancer acts as an agent"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_1(keeper_cli, keeper_manifest, args, message):
    if "--manifest" not in args:
        args = ["--manifest", str(keeper_manifest), *args]
    assert one_line_error(keeper_cli(*args)).startswith(message)


def test_a_bad_config_file_is_one_line(keeper_cli, tmp_path):
    config = tmp_path / "keeper.yaml"
    config.write_text("settler: {max_claims: 0}\n")
    error = one_line_error(keeper_cli("--config", str(config), "once", "--job", "settler"))
    assert error.startswith("Error: settler.max_claims: Input should be greater than or equal")


@pytest.mark.parametrize(
    ("entry_point", "message"),
    [
        ("nowhere.agent:decide",
         "Error: strategy 'nowhere.agent:decide' does not import: No module"),
        ("keepers.strategy:no_such", "Error: strategy 'keepers.strategy:no_such': keepers.strategy"
                                     " has no no_such"),
        ("keepers.strategy.rationale:VERSION",
         "Error: strategy 'keepers.strategy.rationale:VERSION' is not callable"),
        ("not an entry point", "Error: rebalancer.strategy: String should match pattern"),
    ],
    ids=["no-module", "no-function", "not-callable", "malformed"],
)  # fmt: skip
def test_a_strategy_that_does_not_load_is_refused_at_start_up(keeper_cli, keeper_manifest,
                                                              entry_point, message):  # fmt: skip
    """An operator's own strategy (`rebalancer.strategy`) is imported when the keeper starts:
    one line and exit 1 when it cannot be used, before anything is read or sent."""
    env = {"BALLAST_KEEPER_REBALANCER__STRATEGY": entry_point}
    result = keeper_cli("--manifest", str(keeper_manifest), "status", env=env)
    assert one_line_error(result).startswith(message)


GREEDY = """
from keepers.strategy.kit import Proposal


def everything_in_the_first_sleeve(inputs):
    rest = [0] * (len(inputs.sleeves) - 1)
    return Proposal(target_bps=(10_000, *rest), reason="all in")
"""


def funded_agent(project, chain, accounts, keeper_manifest):
    """TEST::7 bonded as an agent, 1,000,000 deposited through a strike, every sleeve's price
    fresh: a rebalancer pass would plan and send. The agent's account."""
    from tests.scripts.test_agent_cli import Market

    market = Market(project, chain, Deployment.load(keeper_manifest), accounts)
    agent = accounts[7]
    market.bond(agent, 10_000 * 10**6)
    deposit_through_a_strike(market, accounts[4], 1_000_000 * 10**6)
    market.quote()
    return agent


def test_a_strategy_proposing_outside_the_bounds_stops_the_keeper_at_start_up(
    keeper_cli, keeper_manifest, project, chain, accounts, tmp_path, monkeypatch
):
    """An operator's strategy is tried on the vault as it is when the keeper starts: one that
    proposes what the vault's bounds refuse (every asset in one sleeve, past its cap and the
    idle buffer) stops `once --job rebalancer` with one line and exit 1, before any pass: the
    agent sends nothing. (Before, it started and skipped every pass, exit 0.)"""
    (tmp_path / "greedy_agent.py").write_text(GREEDY)
    monkeypatch.syspath_prepend(str(tmp_path))
    agent = funded_agent(project, chain, accounts, keeper_manifest)
    sent = agent.nonce

    env = {"BALLAST_KEEPER_REBALANCER__STRATEGY": "greedy_agent:everything_in_the_first_sleeve"}
    result = keeper_cli("--manifest", str(keeper_manifest), "--account", "TEST::7", "once",
                        "--job", "rebalancer", env=env)  # fmt: skip
    error = one_line_error(result)
    assert error.startswith(
        "Error: rebalancer: strategy 'greedy_agent:everything_in_the_first_sleeve' proposed "
        "[10000, 0, 0, 0]: sleeve 0: target 10000 above ceiling 6000"
    ), error
    assert agent.nonce == sent


CANCELLING = """
import asyncio


def decide(inputs):
    raise asyncio.CancelledError("the model's event loop was shut down")
"""

SCRIPT = """
import argparse

parser = argparse.ArgumentParser(description="my agent's backtest")
parser.add_argument("--paths", type=int, required=True)
ARGS = parser.parse_args()


def decide(inputs):
    raise AssertionError("never called")
"""


def test_a_strategy_raising_cancelled_error_stops_the_keeper_at_start_up(
    keeper_cli, keeper_manifest, project, chain, accounts, tmp_path, monkeypatch
):
    """Found by fuzzing the kit (fuzz8): a strategy raising `asyncio.CancelledError` (a
    `BaseException`: what a model run on an event loop raises when the loop shuts down) escaped
    the kit's guard and the start-up trial's `except Exception`: a traceback, exit 1. Now it is
    refused like any strategy that raises: one line, nothing sent."""
    (tmp_path / "cancelling_agent.py").write_text(CANCELLING)
    monkeypatch.syspath_prepend(str(tmp_path))
    agent = funded_agent(project, chain, accounts, keeper_manifest)
    sent = agent.nonce

    env = {"BALLAST_KEEPER_REBALANCER__STRATEGY": "cancelling_agent:decide"}
    result = keeper_cli("--manifest", str(keeper_manifest), "--account", "TEST::7", "once",
                        "--job", "rebalancer", env=env)  # fmt: skip
    assert one_line_error(result) == (
        "Error: rebalancer: strategy 'cancelling_agent:decide' raised CancelledError: the "
        "model's event loop was shut down"
    )
    assert agent.nonce == sent


def test_a_strategy_module_that_exits_while_it_imports_is_one_error_line(
    keeper_cli, keeper_manifest, tmp_path, monkeypatch
):
    """Found by fuzzing the kit (fuzz8): a strategy file that is also its operator's script
    (argparse at module level) parsed the keeper's own command line when the keeper imported it
    and exited 2 with argparse's usage, whatever the command (`status` here): now the keeper
    refuses it, exit 1, with one `Error:` line after what the module printed itself."""
    (tmp_path / "script_agent.py").write_text(SCRIPT)
    monkeypatch.syspath_prepend(str(tmp_path))
    env = {"BALLAST_KEEPER_REBALANCER__STRATEGY": "script_agent:decide"}
    result = keeper_cli("--manifest", str(keeper_manifest), "status", env=env)
    assert one_line_error(result) == (
        "Error: strategy 'script_agent:decide' does not import: SystemExit: 2"
    )


def test_a_per_sleeve_setting_naming_no_sleeve_stops_the_rebalancer_at_start_up(
    keeper_cli, keeper_manifest
):
    """`rebalancer.trading_cost_bps` keyed "Gold" where the manifest's sleeve is "gold": one line
    and exit 1 before any pass (the setting was ignored without a word: gold got the flat
    cost). A keeper that does not run the rebalancer is not stopped by it."""
    env = {"BALLAST_KEEPER_REBALANCER__TRADING_COST_BPS": '{"Gold": 20}'}
    result = keeper_cli("--manifest", str(keeper_manifest), "--account", "TEST::7", "once",
                        "--job", "rebalancer", env=env)  # fmt: skip
    assert one_line_error(result) == (
        "Error: rebalancer.trading_cost_bps: no sleeve 'Gold' in the manifest "
        "(its sleeves: tbill, gold, invoices, lending)"
    )
    other = keeper_cli("--manifest", str(keeper_manifest), "--account", "TEST::7", "once",
                       "--job", "sentinel", env=env)  # fmt: skip
    assert other.returncode == 0, other.stdout + other.stderr


def deposit_through_a_strike(market, account, amount: int) -> None:
    """Request, a fresh round on every feed, strike, claim: `account` holds the shares."""
    market.fund(account, amount)
    market.asset.approve(market.vault, amount, sender=account)
    market.vault.requestDeposit(amount, account, account, sender=account)
    market.strike()  # a fresh round past the request window's cut-off, then the strike
    market.vault.deposit(amount, account, sender=account)


def test_the_rebalancer_decides_and_verify_decision_checks_its_rationale(
    keeper_cli, keeper_manifest, project, chain, accounts, tmp_path
):
    """The keeper as a bonded agent: a month of tbill history (+5 %/year) read from the chain in
    its store, an idle vault; one pass rebalances, and `verify-decision` re-hashes the stored
    rationale against the on-chain hash — and catches a tampered document."""
    from tests.scripts.test_agent_cli import Market

    market = Market(project, chain, Deployment.load(keeper_manifest), accounts)
    agent = accounts[7]
    market.bond(agent, 10_000 * 10**6)
    deposit_through_a_strike(market, accounts[4], 1_000_000 * 10**6)
    # A month of the chain as the keeper read it (tbill +5 %/year): `--replay` checks every
    # reading against the node, so the history must be the chain's, not made up.
    readings = observe_days(market, Deployment.load(keeper_manifest), 30)
    market.quote()  # fresh prices for every sleeve
    state_file, binding = bound_state(tmp_path / "state", keeper_manifest, agent.address)
    with Store(state_file, binding) as store:
        for name, timestamp, index, block in readings:
            store.add_index_sample(name, timestamp, index, block)

    result = keeper_cli("--manifest", str(keeper_manifest), "--account", "TEST::7", "once",
                        "--job", "rebalancer")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "decision 0 opened" in result.stdout, result.stdout
    vault = project.RWAVault.at(Deployment.load(keeper_manifest).contracts["RWAVault"])
    assert vault.decisionCount() == 1
    assert vault.decision(0).agent == agent.address
    assert list(vault.currentBps())[0] > 0  # idle went to T-bills

    verified = keeper_cli("--manifest", str(keeper_manifest), "--account", "TEST::7",
                          "verify-decision", "0")  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "verified: the store" in verified.stdout
    # The document is a replay receipt: the strategy re-run on it writes the same bytes, and the
    # node, read at the receipt's block, agrees with every chain input it records.
    replayed = keeper_cli("--manifest", str(keeper_manifest), "--account", "TEST::7",
                          "verify-decision", "0", "--replay")  # fmt: skip
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "replay: same document, targets [" in replayed.stdout, replayed.stdout
    assert "chain inputs: the node agrees at the receipt's block" in replayed.stdout
    assert "chain decision: the transaction sent the receipt's targets" in replayed.stdout

    with Store(state_file) as store:
        digest = store.decision(0).rationale_hash
    db = sqlite3.connect(state_file)
    db.execute("UPDATE rationales SET body = ? WHERE hash = ?", (b'{"tampered":1}', digest))
    db.commit()
    db.close()
    tampered = keeper_cli("--manifest", str(keeper_manifest), "--account", "TEST::7",
                          "verify-decision", "0")  # fmt: skip
    assert tampered.returncode == 4, tampered.stdout + tampered.stderr
    assert "MISMATCH" in tampered.stdout
    not_replayed = keeper_cli("--manifest", str(keeper_manifest), "--account", "TEST::7",
                              "verify-decision", "0", "--replay")  # fmt: skip
    assert not_replayed.returncode == 4, not_replayed.stdout + not_replayed.stderr
    assert "replay: not run: MISMATCH" in not_replayed.stdout, not_replayed.stdout


def test_verify_decision_replay_refuses_a_receipt_whose_targets_the_decision_did_not_send(
    keeper_cli, keeper_manifest, project, chain, accounts, tmp_path
):
    """Found by the fault drill: `verify-decision --replay` never compared the receipt with what
    the decision sent. The keeper writes a receipt that replays (its pass, then undone); the
    agent sends other targets with that receipt's hash: exit 4, naming the targets (it was 0)."""
    from tests.scripts.test_agent_cli import Market

    market = Market(project, chain, Deployment.load(keeper_manifest), accounts)
    agent = accounts[7]
    market.bond(agent, 10_000 * 10**6)
    deposit_through_a_strike(market, accounts[4], 1_000_000 * 10**6)
    readings = observe_days(market, Deployment.load(keeper_manifest), 30)  # tbill +5 %/year
    market.quote()
    state_file, binding = bound_state(tmp_path / "state", keeper_manifest, agent.address)
    with Store(state_file, binding) as store:  # the month as the keeper read it: it moves there
        for name, timestamp, index, block in readings:
            store.add_index_sample(name, timestamp, index, block)
    before = chain.snapshot()
    result = keeper_cli("--manifest", str(keeper_manifest), "--account", "TEST::7", "once",
                        "--job", "rebalancer")  # fmt: skip
    assert "decision 0 opened" in result.stdout, result.stdout + result.stderr
    with Store(state_file) as store:
        digest, uri = store.decision(0).rationale_hash, store.decision(0).uri
        body = store.rationale(digest)
    chain.restore(before)  # the receipt stays in the keeper's store; its decision is undone
    vault = project.RWAVault.at(Deployment.load(keeper_manifest).contracts["RWAVault"])
    target = list(json.loads(body)["outcome"]["target_bps"])
    moved = next(
        i for i, (t, o) in enumerate(zip(target, vault.currentBps(), strict=True)) if t != o
    )
    sent = [*target]
    sent[moved] -= 1  # one bps less: within every bound, not the receipt's decision
    vault.rebalance(sent, digest, uri, sender=agent)
    replayed = keeper_cli("--manifest", str(keeper_manifest), "--account", "TEST::7",
                          "verify-decision", "0", "--replay")  # fmt: skip
    assert replayed.returncode == 4, replayed.stdout + replayed.stderr
    assert "replay: same document" in replayed.stdout, replayed.stdout
    assert (f"chain decision MISMATCH: targets: the transaction sent {sent}, the receipt's "
            f"outcome {target}") in replayed.stdout, replayed.stdout  # fmt: skip


def test_status_shows_the_dashboard(keeper_cli, keeper_manifest):
    result = keeper_cli("--manifest", str(keeper_manifest), "status")
    assert result.returncode == 0, result.stdout + result.stderr
    for section in ("tbill", "gold", "invoices", "lending", "no pending slashes"):
        assert section in result.stdout, result.stdout


def test_status_watch_ends_on_ctrl_c_with_exit_0(chain, repo_root, tmp_path, keeper_manifest):
    """`status --watch` runs until Ctrl-C, which ends it, not an error (exit 0, no traceback).
    Importing Ape replaces Python's SIGINT handler with one that exits 130, so the loop's
    `except KeyboardInterrupt` never ran and a watched dashboard always ended in exit 130."""
    env = {**os.environ, "APE_FOUNDRY_HOST": chain.provider.uri, "NO_COLOR": "1",
           "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}  # fmt: skip
    watch = subprocess.Popen(
        [str(KEEPER), "--state-dir", str(tmp_path / "state"), "--manifest", str(keeper_manifest),
         "status", "--watch", "1", "--json"],
        cwd=repo_root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert watch.stdout is not None
        for line in watch.stdout:  # the first dashboard is drawn: the loop is running
            if '"version": "ballast.status/1"' in line:
                break
        watch.send_signal(signal.SIGINT)
        _, err = watch.communicate(timeout=60)
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.wait()
    assert watch.returncode == 0, err
    assert "Traceback" not in err, err


def test_status_as_json_and_watched(keeper_cli, keeper_manifest, chain):
    """--json: one document a script can read; --watch: redrawn (here twice, then it stops)."""
    result = keeper_cli("status", "--manifest", str(keeper_manifest), "--watch", "1",
                        "--times", "2", "--json")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    decoder, text, documents = json.JSONDecoder(), result.stdout.strip(), []
    while text:
        document, end = decoder.raw_decode(text)
        documents.append(document)
        text = text[end:].strip()
    assert len(documents) == 2
    first = documents[0]
    assert first["version"] == "ballast.status/1"
    assert first["block"] <= chain.blocks.head.number
    sleeves = [s["name"] for s in first["vault"]["sleeves"]]
    assert sleeves == ["tbill", "gold", "invoices", "lending"]
    assert first["asset"]["decimals"] == 6 and first["keeper"] is None  # read-only
    assert isinstance(first["vault"]["nav"], int)
