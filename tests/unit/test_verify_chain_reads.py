"""`verify-decision` against a node that does not serve the decision's `Rebalanced` event. Found in
an outside review (branch `verify9`): a node that refuses the log scan (a public endpoint's
"block range too wide", a rate limit) ended the command in a traceback, and a node that keeps no
logs that old (anvil's `--transaction-block-keeper`, a node past history expiry: `eth_getLogs`
answers `[]`) had it say "decision 1 has no Rebalanced event on this chain" of a decision the
chain holds — an honest agent's decision reported as never made. Both are now one line (exit 1:
the check cannot start), the second told apart by the vault's `decisionCount()`.

The node is a stand-in here: what it answers is given."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace

import ape
import pytest
from click.testing import CliRunner

from keepers import cli_verify
from keepers.verify import DecisionNotFound, onchain_rationale

VAULT = "0x" + "33" * 20


def _node(monkeypatch, get_logs):
    """Ape's chain answering `eth_getLogs` with `get_logs` (head at block 100)."""
    web3 = SimpleNamespace(eth=SimpleNamespace(block_number=100, get_logs=get_logs))
    monkeypatch.setattr(ape, "chain", SimpleNamespace(provider=SimpleNamespace(web3=web3)))


PROTOCOL = SimpleNamespace(block=0, vault=SimpleNamespace(address=VAULT, decisionCount=lambda: 3))


def test_a_node_that_keeps_no_logs_that_old_is_told_from_a_decision_never_made(monkeypatch):
    _node(monkeypatch, lambda params: [])
    with pytest.raises(DecisionNotFound) as missing:
        onchain_rationale(PROTOCOL, 1, 50)
    assert str(missing.value) == (  # was: "decision 1 has no Rebalanced event on this chain"
        "decision 1 is on chain (the vault has made 3) but this node serves no Rebalanced event "
        "for it: it keeps no logs that old (ask an archive node)"
    )
    with pytest.raises(DecisionNotFound) as missing:
        onchain_rationale(PROTOCOL, 3, 50)
    assert str(missing.value) == (
        "decision 3 has no Rebalanced event on this chain (the vault has made 3 decisions)"
    )


def test_a_node_that_refuses_the_scan_is_one_line_not_a_traceback(monkeypatch):
    def refuse(params):
        raise RuntimeError("query exceeds max block range 2000\n(the endpoint's details)")

    _node(monkeypatch, refuse)
    with pytest.raises(DecisionNotFound) as refused:  # was: the ValueError itself
        onchain_rationale(PROTOCOL, 1, 50)
    assert str(refused.value) == (
        "decision 1: this node does not serve the vault's Rebalanced events: query exceeds max "
        "block range 2000"
    )
    keeper = SimpleNamespace(
        settings=SimpleNamespace(rebalancer=SimpleNamespace(rationale_dir=None),
                                 liquidator=SimpleNamespace(scan_chunk=50)),
        protocol=PROTOCOL, store=None,
    )  # fmt: skip
    monkeypatch.setattr(cli_verify, "connected", lambda network: contextlib.nullcontext())
    monkeypatch.setattr(cli_verify, "keeper_for", lambda ctx: keeper)
    ran = CliRunner().invoke(cli_verify.verify_decision_command, ["1"], obj={"network": "x"})
    assert ran.exit_code == 1, ran.output
    assert ran.output == f"Error: {refused.value}\n"
