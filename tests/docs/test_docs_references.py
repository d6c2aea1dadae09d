"""What the docs pages point at exists, without a node: every relative link of docs/*.md and the
README reaches a file (and a heading of it, for `#anchor`), and every repository path the
agent-operator, performance and security pages and the attack catalogue name in backticks
(`tests/attacks/test_x.py::test_y` included) is a file or folder of the repository, with that
test in it. A renamed test, module or heading
fails here instead of leaving the docs pointing at nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = ("agent-operator", "performance", "security")
CATALOGUE = "tests/attacks/README.md"  # each row names the tests that mount its attack
LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")
CODE = re.compile(r"`([^`\n]+)`")
TOP = ("contracts/", "interfaces/", "keepers/", "benchmarks/", "tests/", "tools/", "security/",
       "scripts/", "ballast/", "examples/", "deployments/config/")  # fmt: skip
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text())
    return {slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", text, re.M)}


def links(page: Path) -> list[str]:
    return [m.group("target") for m in LINK.finditer(FENCE.sub("", page.read_text()))]


@pytest.mark.parametrize("page", ["../README.md", *sorted(p.name for p in DOCS.glob("*.md"))])
def test_every_relative_link_reaches_a_file_and_heading(page: str):
    """Every relative link of the README and of each page, outside code blocks."""
    source = (DOCS / page).resolve()
    broken = []
    for target in links(source):
        if re.match(r"^[a-z]+:", target):  # https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        path = (source.parent / file).resolve() if file else source
        if not path.exists():
            broken.append(f"{target}: no file {path.relative_to(ROOT.parent)}")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            broken.append(f"{target}: no heading #{anchor} in {path.name}")
    assert not broken, f"{source.relative_to(ROOT)}: " + "; ".join(broken)


def named_paths(page: Path) -> list[str]:
    """Repository paths (with an optional ::test) named in backticks, outside code blocks."""
    found = []
    for span in CODE.findall(FENCE.sub("", page.read_text())):
        for word in span.split():
            word = word.strip(",;.()")
            if word.startswith((*TOP, "::")) and not re.search(r"[<>*{}$…]", word):
                found.append(word)
    return found


@pytest.mark.parametrize("page", [*(f"docs/{p}.md" for p in PAGES), CATALOGUE])
def test_every_named_path_and_test_exists(page: str):
    source = ROOT / page
    if not source.exists():
        pytest.fail(f"{page} is missing")
    missing, last_file = [], None
    for name in named_paths(source):
        file, _, test = name.partition("::")
        if not file and last_file:  # `::test_y` continues the previous file's list
            file = last_file
        path = ROOT / file
        if not path.exists():
            missing.append(name)
            continue
        last_file = file
        test = re.sub(r"\[.*", "", test)
        if test and not re.search(rf"def {re.escape(test)}\(", path.read_text()):
            missing.append(f"{file}::{test}")
    assert not missing, f"{page} names what the repository does not have: {missing}"


def test_the_checks_see_what_they_check():
    """The pages name test files and modules and link each other: the parsers above must see
    them, or the checks would pass on nothing."""
    named = named_paths(DOCS / "security.md")
    assert sum(n.startswith("tests/attacks/test_") for n in named) >= 5
    assert "tests/invariants/test_system_state_machine.py" in named
    catalogue = named_paths(ROOT / CATALOGUE)
    assert sum("::test_" in n for n in catalogue) >= 50  # its rows' tests, by file and name
    assert "performance.md#strategy-backtest" in links(DOCS / "security.md")
    assert slug("Risk steward: static parameters against the steward") == (
        "risk-steward-static-parameters-against-the-steward"
    )
