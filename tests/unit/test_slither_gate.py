"""The slither gate: which findings fail CI and which triage entries are refused or stale."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[2] / "tools" / "slither_check.py"
_SPEC = importlib.util.spec_from_file_location("slither_check", _PATH)
slither_check = importlib.util.module_from_spec(_SPEC)
sys.modules["slither_check"] = slither_check  # dataclasses resolve their module by name
_SPEC.loader.exec_module(slither_check)

Finding, Entry = slither_check.Finding, slither_check.Entry


def finding(check: str, impact: str, where: str) -> Finding:
    return Finding(check, impact, where, f"{check} in {where}")


def entry(check: str, *where: str) -> Entry:
    return Entry(check, tuple(where), "false-positive", "because")


def test_a_named_high_finding_passes_and_a_new_one_fails():
    found = [
        finding("reentrancy-balance", "High", "RWAVault.redeem"),
        finding("reentrancy-balance", "High", "RWAVault.withdraw"),
    ]
    untriaged, stale = slither_check.gate(found, [entry("reentrancy-balance", "RWAVault.redeem")])
    assert [f.where for f in untriaged] == ["RWAVault.withdraw"]
    assert stale == []


def test_a_whole_detector_justifies_low_findings_but_never_medium_ones():
    found = [
        finding("calls-loop", "Low", "RWAVault._valuation"),
        finding("unused-return", "Medium", "RWAVault.unwind"),
    ]
    untriaged, stale = slither_check.gate(
        found, [entry("calls-loop", "*"), entry("unused-return", "*")]
    )
    assert [(f.check, f.impact) for f in untriaged] == [("unused-return", "Medium")]
    assert stale == ["unused-return: '*' cannot justify a High/Medium detector"]


def test_an_entry_whose_finding_was_fixed_is_reported_stale():
    found = [finding("incorrect-equality", "Medium", "RWAVault.deposit")]
    entries = [
        entry("incorrect-equality", "RWAVault.deposit", "RWAVault.redeem"),
        entry("timestamp", "*"),
    ]
    untriaged, stale = slither_check.gate(found, entries)
    assert untriaged == []
    assert stale == ["incorrect-equality at RWAVault.redeem", "timestamp (whole detector)"]


def test_untriaged_low_findings_are_listed_but_do_not_block():
    found = [finding("missing-zero-check", "Low", "TokenizedRWASleeve.constructor.vault_")]
    untriaged, stale = slither_check.gate(found, [])
    assert [f.impact for f in untriaged] == ["Low"] and stale == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- check: x\n  where: A.f\n  verdict: fine\n  why: y\n", "verdict must be one of"),
        ("- check: x\n  where: A.f\n  verdict: false-positive\n", "needs check, where"),
        ("- check: x\n  where: A.f\n  verdict: false-positive\n  why: ' '\n", "empty"),
        ("check: x\n", "expected a list"),
    ],
)
def test_a_malformed_triage_file_is_refused_in_one_line(tmp_path, text, message):
    path = tmp_path / "triage.yaml"
    path.write_text(text)
    with pytest.raises(slither_check.TriageError, match=message):
        slither_check.load_triage(path)


def test_the_committed_triage_file_is_well_formed():
    entries = slither_check.load_triage()
    assert entries and all(e.why for e in entries)
    gated = {"reentrancy-balance", "reentrancy-no-eth", "incorrect-equality", "unused-return"}
    assert all("*" not in e.where for e in entries if e.check in gated)
