"""What `ballast-keeper verify-decision` prints is the agent's words: the URI of its `Rebalanced`
event and, with `--replay`, its receipt's field names, sleeve names and strategy code. Found in an
outside review (branch `verify9`): printed as they were, a URI holding `\\x1b[2J`, a line break
and `  verified: …` cleared the checker's terminal and wrote a verdict of the agent's own, and a
receipt whose `strategy.code` was `\\x1b[8m` (conceal) hid every MISMATCH line printed after it;
only the exit status (4) still said the decision did not verify. Every line is now printed with
what a terminal would act on written as its escape, one line each.

The command runs here on a keeper of stand-ins (no node): the chain's answers are given."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from keepers import cli_verify, verify
from keepers.strategy import decide
from keepers.strategy.kit import BUILTIN
from keepers.strategy.rationale import decode, encode
from keepers.strategy.replay import replay
from tests.unit.test_strategy import PARAMS, vault

DIGEST = "0x" + "22" * 32
URI = "ipfs://x\x1b[2J\x1b[H\n  verified: the store hashes to the on-chain hash\u202e"


@pytest.fixture
def command(monkeypatch):
    """`verify-decision`, connected to nothing, its keeper stand-ins."""
    import contextlib

    settings = SimpleNamespace(
        rebalancer=SimpleNamespace(rationale_dir=None, strategy=BUILTIN,
                                   strategy_time_limit_seconds=60.0),
        liquidator=SimpleNamespace(scan_chunk=5_000),
    )  # fmt: skip
    keeper = SimpleNamespace(settings=settings, multicall=None, protocol=None, store=None)
    monkeypatch.setattr(cli_verify, "connected", lambda network: contextlib.nullcontext())
    monkeypatch.setattr(cli_verify, "keeper_for", lambda ctx: keeper)

    def run(*args: str):
        return CliRunner().invoke(cli_verify.verify_decision_command, list(args),
                                  obj={"network": "stand-in"})  # fmt: skip

    return run


def _verification(ok: bool) -> verify.Verification:
    computed = DIGEST if ok else None
    return verify.Verification(0, "0x" + "11" * 20, 20, DIGEST, URI, "the store" if ok else None,
                               computed, ok, "0x" + "ab" * 32)  # fmt: skip


def test_the_agents_uri_is_printed_escaped_on_one_line(command, monkeypatch):
    monkeypatch.setattr(verify, "verify_decision", lambda *args: _verification(False))
    ran = command("0")
    assert ran.exit_code == 4, ran.output
    assert "\x1b" not in ran.output and "\u202e" not in ran.output  # was: written as they are
    lines = ran.output.splitlines()
    assert lines[1] == (
        f"  on-chain hash {DIGEST}  uri ipfs://x\\x1b[2J\\x1b[H\\n  verified: the store hashes "
        "to the on-chain hash\\u202e"
    )
    assert len(lines) == 3  # the header, the hash and URI, the verdict: no line of the agent's
    assert lines[2].startswith(f"  no document with hash {DIGEST} in the store or at ipfs://x\\x1b")


def test_a_receipts_words_are_printed_escaped(command, monkeypatch):
    def edit(doc):
        doc["strategy"]["code"] = "\x1b[8m"  # conceal: what follows is not shown
        doc["\x1b[2Jnote"] = "x"
        doc["\ud800"] = "x"  # a lone surrogate (`\ud800` in the JSON): no terminal encodes it

    data = decode(decide(vault(), PARAMS).rationale)
    edit(data)
    result = replay(encode(data))
    assert not result.ok
    check = verify.ReplayCheck(_verification(True), result, (), "")
    monkeypatch.setattr(verify, "replay_decision", lambda *args: check)
    ran = command("0", "--replay")
    assert ran.exit_code == 4, ran.output
    assert "\x1b" not in ran.output  # was: the conceal sequence, then every MISMATCH hidden
    assert "  replay MISMATCH: strategy code: the receipt's \\x1b[8m is not this keeper's" in (
        ran.output
    )
    assert "  replay MISMATCH: \\x1b[2Jnote: differs from the replay\n" in ran.output
    # was: written as it is; to a real stdout, a UnicodeEncodeError traceback
    assert "  replay MISMATCH: \\ud800: differs from the replay\n" in ran.output


def test_printable_leaves_plain_words_alone_and_escapes_the_rest():
    assert cli_verify.printable("targets [4000, 2000] é ✓") == "targets [4000, 2000] é ✓"
    assert (
        cli_verify.printable("a\nb\rc\x1b[0m\x07\u202e\x85") == "a\\nb\\rc\\x1b[0m\\x07\\u202e\\x85"
    )
