"""A catalogue of bad inputs fed to every CLI: `ape run deploy/params/agent/guardian/demo`,
`ballast-keeper`, `python -m benchmarks.backtest` and `python -m benchmarks.lending_steward`.

Every row must end in the documented exit status (1: the command refused the input; 2: a usage
error of the option parser, also one line: ballast.cli.OneLineUsage), with exactly ONE line
starting with ``Error: `` in the output, no
traceback, and no state change: the same block, chain time, sender nonces and storage roots of
the system's contracts (eth_getProof's storageHash: every registry value at once), and the same
bytes in the manifest, the deploy config and the keeper's state folder.

The bulk runs in-process (click's CliRunner on the scripts' own click commands, inside this test
session that already has a node: tests/scripts/inprocess.py; and the benchmarks' ``main(argv)``);
a representative set runs as real subprocesses (`ape run ...`, `ballast-keeper ...`,
`python -m ...`) to show the wrappers print the same single line, including keystore accounts
without a terminal. In-process, the scripts use this session's provider as it is (Ape's own
connect/disconnect, about a second per command, is exercised by the subprocess rows); their node
check runs as in a real `ape run`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from ballast.config import DeployConfig
from ballast.deploy import deploy_system
from ballast.journal import journal_path
from tests.conftest import REPO_ROOT
from tests.scripts.inprocess import env_vars, invoke, script

NETWORK = ("--network", "ethereum:local:foundry")
SCRIPTS = ("params", "agent", "guardian", "deploy", "demo")  # scripts/<name>.py, run in-process
DEAD_NODE = "http://127.0.0.1:9"  # the discard port: nothing answers JSON-RPC there
HUGE = str(2**256 + 1)
ZERO_HASH = "0x" + "00" * 32
PASSPHRASE = "correct horse battery staple"
GUARDIAN = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"  # the local config's guardian (TEST::1)
HOLDER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"  # the local config's first token holder
OTHER = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"  # TEST::3
HOLDER_ROW = f'    "{HOLDER}": 1_000_000\n'
AGENT = "TEST::6"  # registered with no stake by the module's fixture; TEST::5 is not registered
KEEPER = Path(sys.executable).with_name("ballast-keeper")
WATCHED = ("ParameterRegistry", "AgentRegistry", "RWAVault", "BallastGovernor", "BallastToken")


@dataclass(frozen=True)
class Bad:
    """One bad input: the CLI, its arguments, the words its one error line must contain, the
    exit status, and environment changes (a value None removes the variable)."""

    cli: str
    args: tuple[str, ...]
    says: str
    code: int = 1
    env: dict[str, str | None] = field(default_factory=dict)

    def id(self) -> str:
        env = " ".join(f"{k}={v or '(unset)'}" for k, v in self.env.items())
        return f"{env + ' ' if env else ''}{self.cli} {' '.join(self.args)}"[:100]


def bad(
    cli: str, *args: str, says: str, code: int = 1, env: dict[str, str | None] | None = None
) -> Bad:
    return Bad(cli, args, says, code, env or {})


# Placeholders in args: {manifest} the deployment, {nomanifest} a missing file, {garbled} a file
# that is not JSON/YAML, {otherchain} a manifest of another chain, {empty} a manifest naming no
# contract, {cfg_*} deploy configs, {kcfg_*} keeper configs, {rec_*} recommendation files.
CATALOGUE: list[Bad] = [
    # --- ape run params -----------------------------------------------------------------------
    bad("params", "show", "--manifest", "{nomanifest}", says="no deployment manifest at"),
    bad("params", "show", "--manifest", "{garbled}", says="garbled"),
    bad("params", "show", "--manifest", "{otherchain}", says="chain"),
    bad("params", "status", "--manifest", "{empty}", says="has no"),
    bad("params", "show", "--manifest", "{nocode}", says="no code at ParameterRegistry 0x"),
    bad("params", "status", "--manifest", "{nocode}", says="was the node restarted?"),
    bad(
        "params",
        "check",
        "vault.idleBufferBps",
        "600",
        "--manifest",
        "{nocode}",
        says="no code at ParameterRegistry",
    ),  # fmt: skip
    bad("params", "show", "--network", "bogus", says="No ecosystem named 'bogus'", code=2),
    bad(
        "params",
        "show",
        "--network",
        "ethereum:nowhere:foundry",
        says="No network in 'ethereum' named 'nowhere'",
        code=2,
    ),  # fmt: skip
    bad("params", "show", "--colour", says="No such option: --colour", code=2),
    bad("params", "show", env={"APE_FOUNDRY_HOST": DEAD_NODE}, says="cannot reach node at"),
    bad("params", "show", env={"APE_FOUNDRY_HOST": None}, says="no node named"),
    bad("params", "check", "vault.nope", "1", says="unknown parameter 'vault.nope'"),
    bad("params", "check", "vault.idleBufferBps", "abc", says="not a non-negative whole number"),
    bad("params", "check", "vault.idleBufferBps", "-5", says="not a non-negative whole number"),
    bad("params", "check", "vault.idleBufferBps", HUGE, says="vault.idleBufferBps"),
    bad("params", "check", "vault.idleBufferBps", "99999999", says="above its maximum"),
    bad("params", "check", "vault.depositCap", "12.5.3", says="vault.depositCap"),
    bad("params", "check", "agent.vetoWindow", "3x", says="not a duration: '3x'"),
    bad("params", "check", "agent.vetoWindow", "-1d", says="agent.vetoWindow"),
    bad("params", "check", says="Missing argument", code=2),
    bad("params", "check", "vault.idleBufferBps", says="give NAME VALUE pairs"),
    bad(
        "params",
        "propose",
        "vault.idleBufferBps",
        "600",
        "--account",
        "TEST::x",
        says="expected TEST::<number>",
    ),  # fmt: skip
    bad(
        "params",
        "propose",
        "vault.idleBufferBps",
        "600",
        "--account",
        "TEST::99",
        says="no test account TEST::99",
    ),  # fmt: skip
    bad(
        "params",
        "propose",
        "vault.idleBufferBps",
        "600",
        "--account",
        "nobody",
        says="no Ape account 'nobody'",
    ),  # fmt: skip
    bad("params", "propose", "vault.idleBufferBps", "600", says="give --account ALIAS"),
    bad(
        "params",
        "propose",
        "vault.idleBufferBps",
        HUGE,
        "--account",
        "TEST::0",
        says="vault.idleBufferBps",
    ),  # fmt: skip
    bad(
        "params",
        "propose",
        "--from-recommendation",
        "{nomanifest}",
        "--account",
        "TEST::0",
        says="No proposal was sent",
    ),  # fmt: skip
    bad(
        "params",
        "propose",
        "--from-recommendation",
        "{afolder}",
        "--account",
        "TEST::0",
        says="Is a directory. No proposal was sent.",
    ),  # fmt: skip
    bad(
        "params",
        "propose",
        "--from-recommendation",
        "{garbled}",
        "--account",
        "TEST::0",
        says="No proposal was sent",
    ),  # fmt: skip
    bad(
        "params",
        "propose",
        "--from-recommendation",
        "{rec_unknown}",
        "--account",
        "TEST::0",
        says="No proposal was sent",
    ),  # fmt: skip
    bad(
        "params",
        "propose",
        "--from-recommendation",
        "{rec_unknown}",
        "--max-age",
        "soon",
        "--account",
        "TEST::0",
        says="not a duration",
    ),  # fmt: skip
    bad(
        "params",
        "propose",
        "vault.idleBufferBps",
        "600",
        "--account",
        "TEST::0",
        env={"BALLAST_UNATTENDED": "maybe"},
        says="BALLAST_UNATTENDED='maybe'",
    ),  # fmt: skip
    bad("params", "vote", "999", "for", "--account", "TEST::0", says="no proposal 999"),
    bad("params", "vote", "abc", "for", "--account", "TEST::0", says="abc"),
    bad("params", "vote", "-1", "for", "--account", "TEST::0", says="-1"),
    bad("params", "vote", "1", "maybe", "--account", "TEST::0", says="'maybe'", code=2),
    bad("params", "queue", "12345", "--account", "TEST::0", says="no proposal 12345"),
    bad("params", "execute", HUGE, "--account", "TEST::0", says=HUGE[:12]),
    bad("params", "status", "999", says="no proposal 999"),
    bad("params", "status", "0x12zz", says="0x12zz"),
    bad("params", "advance", "1000000w", says="a year"),
    bad("params", "advance", "-1d", says="-1d"),
    bad("params", "advance", "abc", says="abc"),
    bad("params", "advance", "1e3", says="1e3"),
    bad("params", "check", "vault.depositCap", "-5", says="vault.depositCap"),
    bad(
        "params",
        "propose",
        "vault.depositCap",
        "-5",
        "--description",
        "-x",
        "--account",
        "TEST::0",
        says="vault.depositCap: the amount must be positive, not -5",
    ),  # fmt: skip
    bad("params", "check", "agent.minStake", "0.0000001", says="6 decimals"),
    bad("params", "status", HUGE, says="not a proposal ID"),
    bad("params", "advance", "0", says="a year"),
    bad("params", "advance", "9" * 90, says="a year"),
    # --- ape run agent ------------------------------------------------------------------------
    bad("agent", "register", "", "--account", "TEST::5", says="URI"),
    bad("agent", "register", "   ", "--account", "TEST::5", says="URI"),
    bad("agent", "update-metadata", "", "--account", "TEST::5", says="URI"),
    bad("agent", "register", "ipfs://again", "--account", AGENT, says="already registered"),
    bad("agent", "stake", "abc", "--account", AGENT, says="not an amount: 'abc'"),
    bad("agent", "stake", "-5", "--account", AGENT, says="must be positive, not -5"),
    bad("agent", "stake", HUGE, "--account", AGENT, says="too large"),
    bad("agent", "stake", "0", "--account", AGENT, says="more than zero"),
    bad("agent", "stake", "1.0000001", "--account", AGENT, says="6 decimals"),
    bad("agent", "stake", "1e6", "--account", AGENT, says="not an amount: '1e6'"),
    bad("agent", "unbond", HUGE, "--account", AGENT, says="too large"),
    # a mistyped option is named, never swallowed as an argument (leaving --account unset)
    bad("agent", "stake", "10", "--acount", AGENT, says="No such option: --acount", code=2),
    bad("agent", "stake", "-5", "--acount", AGENT, says="No such option: --acount", code=2),
    bad("agent", "unbond", "-5", f"--account={AGENT}", says="must be positive, not -5"),
    bad("agent", "unbond", "100", "--account", "TEST::5", says="not registered"),
    bad("agent", "withdraw", "--account", "TEST::5", says="not registered"),
    bad("agent", "status", "0x123", says="0x123"),
    bad("agent", "status", "alice", says="alice"),
    bad("agent", "status", "0x70997970c51812dc3a010c7d01b50e0d17dc79C8", says="fails its checksum"),
    bad("agent", "stake", "10", "--account", "TEST::99", says="no test account TEST::99"),
    bad("agent", "stake", "10", "--account", HOLDER, says="an account alias, not an address"),
    bad("agent", "status", "--manifest", "{garbled}", "--account", "TEST::5", says="garbled"),
    bad("agent", "status", GUARDIAN, "--manifest", "{nocode}", says="no code at AgentRegistry"),
    # --- ape run guardian ---------------------------------------------------------------------
    bad("guardian", "veto", "999", "--account", "TEST::1", says="999"),
    bad("guardian", "veto", "abc", "--account", "TEST::1", says="abc"),
    bad("guardian", "cancel", "999", "--account", "TEST::1", says="999"),
    bad("guardian", "cancel", "-3", "--account", "TEST::1", says="-3"),
    bad("guardian", "cancel", HUGE, "--account", "TEST::1", says="not a proposal ID"),
    bad("guardian", "veto", HUGE, "--account", "TEST::1", says=HUGE[:12]),
    bad("guardian", "pause", "--account", "TEST::9", says="guardian"),
    bad("guardian", "shutdown", "--account", "TEST::1", says="not confirmed"),
    bad("guardian", "status", "--manifest", "{nomanifest}", says="no deployment manifest at"),
    bad("guardian", "status", "--manifest", "{nocode}", says="no code at RWAVault"),
    bad(
        "guardian",
        "pause",
        "--account",
        "TEST::1",
        "--manifest",
        "{nocode}",
        says="no code at RWAVault",
    ),  # fmt: skip
    bad(
        "guardian",
        "pause",
        "--account",
        "TEST::1",
        env={"APE_FOUNDRY_HOST": DEAD_NODE},
        says="cannot reach node at",
    ),  # fmt: skip
    # --- ape run deploy -----------------------------------------------------------------------
    bad("deploy", "--config", "{nomanifest}", says="nomanifest"),
    bad("deploy", "--config", "{garbled}", says="garbled"),
    bad("deploy", "--config", "{cfg_huge}", says="cfg_huge"),
    bad("deploy", "--config", "{cfg_negative}", says="cfg_negative"),
    bad("deploy", "--config", "{cfg_unknown}", says="cfg_unknown"),
    bad("deploy", "--config", "{cfg_duration}", says="cfg_duration"),
    bad("deploy", "--config", "{cfg_checksum}", says="fails its checksum"),
    bad("deploy", "--config", "{cfg_dupkey}", says="duplicate key 'guardian' (also on line"),
    bad("deploy", "--config", "{cfg_dupholder}", says="is listed twice"),
    bad("deploy", "--config", "{cfg_binary}", says="not UTF-8 text"),
    bad("deploy", "--manifest", "{garbled}", says="garbled"),
    bad("deploy", "--manifest", "{otherchain}", says="describes a deployment on chain"),
    bad("deploy", "--account", "nobody", says="no Ape account 'nobody'"),
    bad("deploy", env={"APE_FOUNDRY_HOST": DEAD_NODE}, says="cannot reach node at"),
    # --- ape run demo (refused while parsing: nothing is deployed) ---------------------------
    bad("demo", "--weeks", "0", says="--weeks", code=2),
    bad("demo", "--seed", "abc", says="'abc' is not a valid integer", code=2),
    bad("demo", "--out", "{manifest}", says="is a file", code=2),
    # --- ballast-keeper -----------------------------------------------------------------------
    bad(
        "keeper",
        "--network",
        "ethereum:nowhere:foundry",
        "status",
        says="No network in 'ethereum' named 'nowhere'",
    ),  # fmt: skip
    bad("keeper", "--config", "{nomanifest}", "status", says="not found"),
    bad("keeper", "--config", "{garbled}", "status", says="garbled"),
    bad("keeper", "--config", "{kcfg_unknown}", "status", says="liquidatr"),
    bad("keeper", "--config", "{kcfg_list}", "status", says="must be a mapping"),
    bad("keeper", "--config", "{kcfg_dupkey}", "status", says="duplicate key 'dry_run'"),
    bad("keeper", "--config", "{kcfg_intkey}", "status", says="1 is not a setting name"),
    bad(
        "keeper",
        "status",
        env={"BALLAST_KEEPER_LIQUIDATR__MIN_PROFIT": "1"},
        says="BALLAST_KEEPER_LIQUIDATR__MIN_PROFIT",
    ),  # fmt: skip
    bad(
        "keeper",
        "once",
        "--job",
        "nosuch",
        says="Invalid value for '--job': unknown job 'nosuch'; jobs are liquidator",
        code=2,
    ),  # fmt: skip
    bad("keeper", "serve", says="No such command 'serve'", code=2),
    bad("keeper", "once", says="--job", code=2),
    bad("keeper", "verify-decision", "999999", says="decision 999999 has no"),
    bad("keeper", "verify-decision", "-1", says="-1 is not in the range", code=2),
    bad("keeper", "verify-decision", "abc", says="abc", code=2),
    bad("keeper", "verify-decision", HUGE, says="is not in the range 0<=x<=", code=2),
    bad("keeper", "status", "--watch", "abc", says="'abc' is not a valid float", code=2),
    bad("keeper", "--metrics-port", "abc", "status", says="'abc' is not a valid integer", code=2),
    bad("keeper", "verify-steward", "0x1234", says="is not a rationale hash"),
    bad("keeper", "verify-steward", ZERO_HASH, says="no StewardUpdate"),
    bad("keeper", "--manifest", "{nomanifest}", "status", says="nomanifest"),
    bad("keeper", "--manifest", "{otherchain}", "status", says="chain"),
    bad(
        "keeper", "--metrics-port", "99999", "once", "--job", "sentinel", says="metrics_port"
    ),  # fmt: skip
    bad("keeper", "--account", "nobody", "once", "--job", "sentinel", says="nobody"),
    bad(
        "keeper",
        "--account",
        GUARDIAN,
        "once",
        "--job",
        "sentinel",
        says="--account takes an account alias, not an address",
    ),  # fmt: skip
    bad("keeper", "status", "--watch", "0", says="--watch", code=2),
    bad("keeper", "status", env={"APE_FOUNDRY_HOST": DEAD_NODE}, says="cannot reach node at"),
    # a mistyped option is named, never read as an argument (verify-decision once read it as
    # the decision ID); a signed zero is not decision 0
    bad("keeper", "verify-decision", "--replya", "3", says="No such option: --replya", code=2),
    bad("keeper", "verify-decision", "3", "--replya", says="No such option: --replya", code=2),
    bad("keeper", "verify-decision", "-0", says="-0 is not a decision ID", code=2),
    bad("keeper", "verify-decision", "--rep", "-1", says="No such option: --rep", code=2),
    bad(
        "keeper",
        "verify-decision",
        "3",
        "--replay",
        "--max-age",
        "-1",
        says="-1 is not in the range x>=0",
        code=2,
    ),  # fmt: skip
    bad("keeper", "verify-steward", "--replya", ZERO_HASH, says="No such option", code=2),
    bad("keeper", "status", "--jsno", says="No such option: --jsno", code=2),
    bad("keeper", "once", "--jbo", "sentinel", says="No such option: --jbo", code=2),
    bad("keeper", "--manifest", "{afolder}", "status", says="Is a directory"),
    bad("keeper", "--manifest", "{garbled}", "status", says="garbled"),
    bad("keeper", "--manifest", "{empty}", "status", says="empty.json"),
    bad("keeper", "--manifest", "{nocode}", "status", says="nocode.json"),
    bad("keeper", "--state-dir", "{manifest}", "status", says="state"),
    bad("keeper", "--config", "{afolder}", "status", says="cannot be read: Is a directory"),
    bad("keeper", "once", "--job", "sentinel", "--show-skips", "-1", says="--show-skips", code=2),
    # --- python -m benchmarks.backtest / lending_steward --------------------------------------
    bad("backtest", "--paths", "0", says="--paths", code=2),
    bad("backtest", "--paths", "abc", says="abc", code=2),
    bad("backtest", "--jobs", "-2", says="--jobs", code=2),
    bad("backtest", "--scenarios", "{nomanifest}", says="nomanifest.json"),
    bad("backtest", "--scenarios", "{garbled}", says="garbled"),
    bad("backtest", "--set", "nosuch=1", says="not a strategy setting", code=2),
    bad("backtest", "--set", "margin", says="KEY=VALUE", code=2),
    bad("backtest", "--split", "nosuch", says="nosuch", code=2),
    bad("backtest", "--family", "crash", says="--family needs --split", code=2),
    bad("backtest", "--strategy", "nosuch.module:fn", says="nosuch", code=2),
    bad("backtest", "--bogus", says="--bogus", code=2),
    bad("steward", "--paths", "0", says="--paths", code=2),
    bad("steward", "--paths", "abc", says="abc", code=2),
    bad("steward", "--step-scale", "-1", says="--step-scale", code=2),
    bad("steward", "--out", "/nonexistent-dir/snapshot.json", says="no folder", code=2),
]


# ---------------------------------------------------------------------------------------------
# fixtures: a deployment, the bad files, the keeper's state folder


@pytest.fixture(scope="module")
def system(accounts, project, tmp_path_factory):
    config = DeployConfig.load(REPO_ROOT / "deployments/config/local.yaml")
    deployment = deploy_system(config, accounts[0], report=lambda _: None)
    folder = tmp_path_factory.mktemp("bad-inputs")
    manifest = folder / "ethereum-local.json"
    deployment.save(manifest)
    registry = project.AgentRegistry.at(deployment.contracts["AgentRegistry"])
    registry.register("ipfs://bad-inputs-agent", sender=accounts[6])  # AGENT: no stake yet
    return deployment, manifest, folder


@pytest.fixture(scope="module")
def files(system, chain) -> dict[str, Path]:
    deployment, manifest, folder = system
    good = (REPO_ROOT / "deployments/config/local.yaml").read_text()

    def write(name: str, text: str) -> Path:
        path = folder / name
        path.write_text(text)
        return path

    other = json.loads(manifest.read_text())
    other["chain_id"] = chain.chain_id + 1
    empty = json.loads(manifest.read_text())
    empty["contracts"] = {}
    nocode = json.loads(manifest.read_text())  # the right chain, but nothing at its addresses
    for section in ("contracts", "tokens"):
        nocode[section] = {name: to_checksum_address(keccak(text=name)[:20])
                           for name in nocode[section]}  # fmt: skip
    first_value = "value: 500,"
    assert first_value in good  # vault.idleBufferBps's row: the replacements below hit it
    assert GUARDIAN in good
    assert HOLDER_ROW in good and "  steward:" in good
    (folder / "cfg_binary.yaml").write_bytes(b"\xad\xde\xff\x00asset:")
    return {
        "cfg_binary": folder / "cfg_binary.yaml",
        "manifest": manifest,
        "nomanifest": folder / "nomanifest.json",
        "afolder": folder,
        "garbled": write("garbled.json", "{ this is: [not json\n"),
        "otherchain": write("otherchain.json", json.dumps(other)),
        "empty": write("empty.json", json.dumps(empty)),
        "nocode": write("nocode.json", json.dumps(nocode)),
        "cfg_huge": write("cfg_huge.yaml", good.replace(first_value, f"value: {HUGE},", 1)),
        "cfg_negative": write("cfg_negative.yaml", good.replace(first_value, "value: -500,", 1)),
        "cfg_unknown": write("cfg_unknown.yaml", good + "\nsurprise_key: 1\n"),
        "cfg_checksum": write(
            "cfg_checksum.yaml", good.replace(GUARDIAN, GUARDIAN.lower()[:-1] + "C")
        ),
        "cfg_duration": write("cfg_duration.yaml", good.replace("cooldown: 1d", "cooldown: 1q", 1)),
        "kcfg_unknown": write("kcfg_unknown.yaml", "liquidatr:\n  min_profit: 1\n"),
        "kcfg_dupkey": write("kcfg_dupkey.yaml", "dry_run: true\ndry_run: false\n"),
        "kcfg_intkey": write("kcfg_intkey.yaml", "1: 2\n"),
        "cfg_dupkey": write(  # a second guardian under roles: PyYAML alone keeps the last
            "cfg_dupkey.yaml", good.replace("  steward:", f'  guardian: "{OTHER}"\n  steward:', 1)
        ),
        "cfg_dupholder": write(  # one holder in two cases: one key once checksummed
            "cfg_dupholder.yaml",
            good.replace(HOLDER_ROW, f"{HOLDER_ROW}    {HOLDER.lower()!r}: 5\n", 1),
        ),
        "kcfg_list": write("kcfg_list.yaml", "- liquidator\n- settler\n"),
        "rec_unknown": write("rec_unknown.json", json.dumps({"values": {"vault.nope": 1}})),
    }


@pytest.fixture(scope="module")
def state_dir(system, files, keeper_main, tmp_path_factory) -> Path:
    """The keeper's state folder, made by one good `status` (then compared byte for byte)."""
    folder = tmp_path_factory.mktemp("keeper-state")
    result = keeper_main(
        ["--state-dir", str(folder), "--manifest", str(files["manifest"]), "status"]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return folder


@pytest.fixture(scope="module")
def scripts(project) -> dict[str, Any]:
    return {name: script(name) for name in SCRIPTS}


# ---------------------------------------------------------------------------------------------
# the chain and files before and after


def snapshot(chain, deployment, watched_files: list[Path], state_dir: Path) -> dict[str, Any]:
    provider = chain.provider
    head = chain.blocks.head
    roots = {}
    for name in WATCHED:
        proof = provider.make_request("eth_getProof", [deployment.contracts[name], [], "latest"])
        roots[name] = proof["storageHash"]
    nonces = {i: provider.make_request("eth_getTransactionCount", [a, "latest"])
              for i, a in enumerate(TEST_ADDRESSES)}  # fmt: skip

    def digest(path: Path) -> str | None:
        return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None

    state = {p.name: _dump(p) if p.suffix == ".sqlite" else digest(p)
             for p in sorted(state_dir.rglob("*"))
             if p.is_file() and not p.name.endswith(("-wal", "-shm"))}  # fmt: skip
    return {
        "block": head.number, "time": head.timestamp, "nonces": nonces, "roots": roots,
        "files": {str(p): digest(p) for p in watched_files}, "state": state,
    }  # fmt: skip


def _dump(path: Path) -> str:
    """The rows of a keeper store (SQLite in WAL mode: the bytes move when a reader checkpoints;
    the content must not)."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        return hashlib.sha256("\n".join(db.iterdump()).encode()).hexdigest()


TEST_ADDRESSES: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def _test_addresses(accounts):
    TEST_ADDRESSES[:] = [accounts[i].address for i in range(10)]


# ---------------------------------------------------------------------------------------------
# runners: (exit status, everything printed)

Runner = Callable[[Bad, list[str]], tuple[int, str]]


def _run_main(main: Callable[[list[str]], int], argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            code = main(argv)
        except SystemExit as exit_:
            code = exit_.code
    return (code if isinstance(code, int) else 1), out.getvalue()


def one_error_line(output: str) -> str:
    assert "Traceback" not in output, output
    assert "Aborted!" not in output, output
    errors = [line for line in output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, output
    lowered = [line for line in output.splitlines() if "error:" in line.lower()]
    assert lowered == errors, output  # no second voice ("error:", "backtest: error:")
    return errors[0]


def full_args(case: Bad, files: dict[str, Path], state_dir: Path) -> list[str]:
    """The row's arguments with the placeholders filled in and the defaults every run needs
    (the network, the module's manifest, the keeper's state folder)."""
    args = [a.format(**files) for a in case.args]
    manifest = str(files["manifest"])
    if case.cli in SCRIPTS:
        full = args if "--network" in args else [*args, *NETWORK]
        no_manifest = case.cli == "demo" or (case.cli == "params" and args[:1] == ["advance"])
        if "--manifest" not in args and not no_manifest:
            full += ["--manifest", manifest]
        if case.cli == "deploy" and "--account" not in args:
            full += ["--account", "TEST::0"]
        return full
    if case.cli == "keeper":
        full = ["--state-dir", str(state_dir), *args]
        return full if "--manifest" in args else [*full, "--manifest", manifest]
    return args


def check_row(case: Bad, run: Callable[[], tuple[int, str]], system, state_dir, chain) -> None:
    """Runs the row; asserts the exit status, one `Error: ` line naming the problem, and that
    nothing changed on the chain or on disk."""
    deployment, manifest, _ = system
    watched = [manifest, journal_path(manifest), REPO_ROOT / "deployments/config/local.yaml"]
    before = snapshot(chain, deployment, watched, state_dir)
    code, output = run()
    line = one_error_line(output)
    assert code == case.code, output
    assert case.says in line, output
    assert snapshot(chain, deployment, watched, state_dir) == before


@pytest.mark.parametrize("case", CATALOGUE, ids=Bad.id)
def test_bad_input_is_one_line_and_changes_nothing(
    case, scripts, system, files, state_dir, chain, session_provider
):
    args = full_args(case, files, state_dir)
    if case.cli in scripts:
        command: Any = scripts[case.cli]
    elif case.cli == "keeper":
        from keepers.cli import main as command
    elif case.cli == "backtest":
        from benchmarks.backtest.__main__ import main as backtest
    else:
        from benchmarks.lending_steward.__main__ import main as steward

    def run() -> tuple[int, str]:
        env = {"APE_FOUNDRY_HOST": chain.provider.uri, "BALLAST_UNATTENDED": None, **case.env}
        if case.cli in (*SCRIPTS, "keeper"):
            ran = invoke(command, args, env=env, mixed=True)  # everything printed, in order
            return ran.returncode, ran.stdout + ran.stderr
        with env_vars(env):
            return _run_main(backtest if case.cli == "backtest" else steward, args)

    check_row(case, run, system, state_dir, chain)


# ---------------------------------------------------------------------------------------------
# the same through the real wrappers: `ape run`, the installed `ballast-keeper`, `python -m`

LOCKED = {"BALLAST_UNATTENDED": "1", "APE_ACCOUNTS_ops_PASSPHRASE": None}
SUBPROCESS: list[Bad] = [
    bad("params", "show", "--network", "bogus", says="No ecosystem named 'bogus'", code=2),
    bad("params", "vote", "999", "for", "--account", "TEST::0", says="no proposal 999"),
    bad("params", "show", env={"APE_FOUNDRY_HOST": DEAD_NODE}, says="cannot reach node at"),
    bad("params", "show", "--manifest", "{nocode}", says="no code at ParameterRegistry"),
    bad(
        "params",
        "propose",
        "vault.idleBufferBps",
        "600",
        "--account",
        "ops",
        says="account 'ops' needs a terminal to sign",
    ),  # fmt: skip
    bad("agent", "stake", "-5", "--account", AGENT, says="must be positive, not -5"),
    bad("deploy", "--account", "ops", env=LOCKED, says="account 'ops' is locked"),
    bad("keeper", "status", env={"APE_FOUNDRY_HOST": DEAD_NODE}, says="cannot reach node at"),
    bad(
        "keeper", "--account", "ops", "once", "--job", "sentinel", env=LOCKED, says="ops"
    ),  # fmt: skip
    bad("keeper", "verify-decision", "-1", says="-1 is not in the range", code=2),
    bad("keeper", "once", "--job", "nojob", says="unknown job 'nojob'; jobs are", code=2),
    bad("backtest", "--paths", "abc", says="invalid int value: 'abc'", code=2),
    bad("steward", "--paths", "0", says="--paths and --step-scale must be positive", code=2),
]


@pytest.fixture(scope="module")
def ape_data(tmp_path_factory, accounts) -> Path:
    """An Ape data folder holding the keystore `ops` (test account 0's key), never ~/.ape."""
    data = tmp_path_factory.mktemp("ape-data")
    (data / "accounts").mkdir()
    keyfile = Account.encrypt(accounts[0].private_key, PASSPHRASE)
    (data / "accounts" / "ops.json").write_text(json.dumps(keyfile))
    return data


@pytest.mark.parametrize("case", SUBPROCESS, ids=Bad.id)
def test_the_wrappers_print_the_same_one_line(case, system, files, state_dir, chain, ape_data):
    args = full_args(case, files, state_dir)
    if case.cli in SCRIPTS:
        argv = ["ape", "run", case.cli, *args]
    elif case.cli == "keeper":
        argv = [str(KEEPER), *args]
    else:
        module = "backtest" if case.cli == "backtest" else "lending_steward"
        argv = [sys.executable, "-m", f"benchmarks.{module}", *args]
    env = {**os.environ, "APE_FOUNDRY_HOST": chain.provider.uri, "NO_COLOR": "1",
           "COLUMNS": "200", "APE_DATA_FOLDER": str(ape_data)}  # fmt: skip
    # this checkout's code (the venv may hold an editable install of another checkout)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    for name in ("BALLAST_UNATTENDED", "APE_ACCOUNTS_ops_PASSPHRASE"):
        env.pop(name, None)
    for name, value in case.env.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value

    def run() -> tuple[int, str]:
        done = subprocess.run(
            argv, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, capture_output=True,
            text=True, timeout=300, check=False,
        )  # fmt: skip
        output = done.stdout + done.stderr
        # a usage error is its one line too: no "Usage:" and "Try ... --help" above it
        assert len([line for line in output.splitlines() if line.strip()]) == 1, output
        return done.returncode, output

    check_row(case, run, system, state_dir, chain)


def test_the_catalogue_covers_every_cli():
    assert len(CATALOGUE) >= 60
    assert {case.cli for case in CATALOGUE} == {*SCRIPTS, "keeper", "backtest", "steward"}
    assert {case.cli for case in SUBPROCESS} >= {"params", "agent", "deploy", "keeper"}
    assert len({case.id() for case in CATALOGUE}) == len(CATALOGUE)  # no row twice


def test_a_damaged_state_file_is_named_in_one_line(system, files, state_dir, keeper_main, tmp_path):
    """A keeper state file that is not SQLite (damaged, or another file put there): one line
    naming the file, exit 1, and the file left as it was for the operator to restore."""
    damaged = tmp_path / "state"
    shutil.copytree(state_dir, damaged)
    (state_file,) = [p for p in damaged.glob("*.sqlite")]
    for stale in damaged.glob("*.sqlite-*"):  # its WAL and shared memory
        stale.unlink()
    state_file.write_bytes(b"not a database, but something an operator should get back\n" * 100)
    before = state_file.read_bytes()
    result = keeper_main(
        ["--state-dir", str(damaged), "--manifest", str(files["manifest"]), "status"]
    )
    line = one_error_line(result.stdout + result.stderr)
    assert result.returncode == 1
    assert line.startswith(f"Error: keeper state: {state_file} cannot be read (file is not a")
    assert state_file.read_bytes() == before
