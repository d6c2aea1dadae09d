"""Shared fixtures. The chain is the private anvil Ape starts for the run (foundry.host: auto)."""

from __future__ import annotations

import functools
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

import ape
import pytest
import requests
from hypothesis import HealthCheck, settings
from web3.eth.eth import Eth

from ballast.config import DeployConfig
from ballast.deploy import deploy_system
from ballast.node import forget_dead_nodes
from tests.cli_forkserver import forked
from tests.fixture_scopes import check_fixture_scopes
from tests.governance_support import Governance, delegate

REPO_ROOT = Path(__file__).resolve().parents[1]

# ape-foundry renders the full call trace of every reverted transaction
# (FoundryProvider._handle_execution_reverted calls trace.show()). Tests revert on purpose
# hundreds of times and each rendering takes seconds; the custom error still reaches the test.
# BALLAST_SHOW_TRACES=1 brings the traces back when debugging.
if not os.environ.get("BALLAST_SHOW_TRACES"):
    from ape_ethereum.trace import Trace

    Trace.show = lambda self, *args, **kwargs: None

# Ape waits for every receipt with web3's `wait_for_transaction_receipt` at its default 0.1 s
# poll. anvil answers eth_sendRawTransaction before its automine has mined the block, so about
# one transaction in ten found no receipt on the first look and slept 0.1 s: a third of a
# transaction-heavy module's time (tests/vault/test_rebalance.py 21.5 s -> 15.7 s at 5 ms).
# The node is local; polling it every 5 ms costs nothing. Keepers poll with their own setting.
RECEIPT_POLL_SECONDS = 0.005
_wait_for_receipt = Eth.wait_for_transaction_receipt


@functools.wraps(_wait_for_receipt)
def _wait_for_receipt_polling_fast(self, transaction_hash, timeout=120, poll_latency=None):
    latency = RECEIPT_POLL_SECONDS if poll_latency is None else poll_latency
    return _wait_for_receipt(self, transaction_hash, timeout, latency)


Eth.wait_for_transaction_receipt = _wait_for_receipt_polling_fast

# requests consults the environment (proxies, CA bundles, netrc) on every request it sends: two
# full scans of os.environ per RPC call, 8.6 s of a 75 s profile of tests/vault/test_rebalance.py
# (7,590 calls). The suite's node is local and nothing here goes through a proxy, so the HTTP
# sessions opened in the test process (web3's, under Ape) do not read it. Keepers and scripts
# run as their own processes keep requests' default.
_session_init = requests.Session.__init__


@functools.wraps(_session_init)
def _session_ignoring_the_environment(self, *args, **kwargs):
    _session_init(self, *args, **kwargs)
    self.trust_env = False


requests.Session.__init__ = _session_ignoring_the_environment

# Round trips Ape makes around every contract read (the code, the latest block's gas limit: 40 %
# of a read-heavy state machine's time) and transaction (the code and the whole trace, for
# console.log lines). tests/ape_round_trips.py says why each can go.
import tests.ape_round_trips  # noqa: E402, F401  (patches Ape in this process)

# The five reads Ape makes before signing a transaction (nonce, fees, gas limit, balance) go to the
# node as one batch: tests/ape_tx_reads.py.
import tests.ape_tx_reads  # noqa: E402, F401  (patches Ape in this process)

# Requests to the worker's own anvil over a kept-alive socket instead of a `requests` session
# (about 1 ms of Python a request): tests/lean_http.py.
import tests.lean_http  # noqa: E402, F401  (patches web3 in this process)

# Ape's map of the nodes it started keeps an entry for every killed anvil (the suite kills
# nodes on purpose) and checks each one on every connect and disconnect: 687 stale entries
# made tests/scripts/test_bad_inputs.py 159 s instead of 43 s (ballast.node.forget_dead_nodes).
forget_dead_nodes()

# Hypothesis: chain round trips are slow and vary, so no per-example deadline.
# HYPOTHESIS_PROFILE=deep (make test-deep) runs many more examples.
settings.register_profile(
    "ci", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "deep", max_examples=2_000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_collection_modifyitems(session, config, items):
    """No fixture name with two scopes: Ape's isolation tracks fixtures by name
    (tests/fixture_scopes.py). A UsageError names them and the run stops before any test."""
    check_fixture_scopes(session)


def pytest_xdist_make_scheduler(config, log):
    """`-n N --dist loadscope`: the slowest scopes first (tests/scheduling.py)."""
    from tests.scheduling import make_scheduler

    return make_scheduler(config, log)


@ape.fixture(scope="session", chain_isolation=False)
def repo_root() -> Path:
    return REPO_ROOT


@ape.fixture(scope="session", chain_isolation=False)
def deployer(accounts):
    return accounts[0]


@ape.fixture(scope="session", chain_isolation=False)
def run_ape(chain):
    """Run an `ape` command as a user would, against this test run's anvil.

    Returns the CompletedProcess (text mode, stdout and stderr captured, never raising).
    """
    node_uri = chain.provider.uri

    def run(args: Sequence[str], cwd: Path = REPO_ROOT, timeout: float = 300):
        env = {**os.environ, "APE_FOUNDRY_HOST": node_uri, "NO_COLOR": "1", "COLUMNS": "200"}
        command, env = forked(["ape", *args], env)  # tests/cli_forkserver.py
        return subprocess.run(
            command,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run


@pytest.fixture(scope="module")
def gov(project, accounts) -> Governance:
    """Token, governor, timelock and registry deployed from deployments/config/local.yaml."""
    config = DeployConfig.load(REPO_ROOT / "deployments/config/local.yaml")
    deployment = deploy_system(config, accounts[0], report=lambda _: None)
    c = deployment.contracts
    by_address = {a.address: a for a in accounts}
    return Governance(
        config=config,
        token=project.BallastToken.at(c["BallastToken"]),
        governor=project.BallastGovernor.at(c["BallastGovernor"]),
        timelock=project.BallastTimelock.at(c["TimelockController"]),
        registry=project.ParameterRegistry.at(c["ParameterRegistry"]),
        guardian=by_address[config.roles.guardian],
        steward=by_address[config.roles.steward],
        deployer=accounts[0],
        veto=project.GuardianVeto.at(c["GuardianVeto"]),
    )


@pytest.fixture
def voter(gov, chain):
    """The largest holder of the governance token (the deployer: 1,000,000 of 1,300,000 BLST),
    delegated to itself, its votes checkpointed a block later."""
    delegate(gov.token, gov.deployer)
    chain.mine(1, deltatime=1)
    return gov.deployer
