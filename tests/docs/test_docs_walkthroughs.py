"""Every walkthrough of docs/*.md, executed (tests/docs/walkthrough.py has the convention): the
pages run in their fixed order on one fresh anvil this module starts, sharing the deployer
page's deploy, so a command, an option, an output line or a number the docs show cannot drift
from what the code does. The README's "Who are you?" list must link every page."""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.docs.walkthrough import DOCS, ORDER, REPO_ROOT, Block, Walkthrough, execute, parse
from tests.ports import free_port

MAX_NOT_RUN = 15  # blocks a page may keep from the runner, over all pages: few, each with a reason
TIMES: dict[str, float] = {}


def rpc(url: str, method: str) -> object:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": []}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        return json.load(answer)["result"]


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    """A fresh anvil, started as the deployer page tells a user to (defaults), on a free port."""
    port = free_port()
    log = open(tmp_path_factory.mktemp("anvil") / "anvil.log", "w")  # noqa: SIM115
    process = subprocess.Popen(["anvil", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            rpc(url, "eth_chainId")
            break
        except OSError:
            if process.poll() is not None:
                pytest.fail(f"anvil exited with {process.returncode}: {log.name}")
            time.sleep(0.1)
    else:
        pytest.fail(f"anvil did not answer on {url} within 30 s")
    yield url
    process.terminate()
    process.wait(30)
    log.close()


@pytest.fixture(scope="module")
def walkthrough(node, tmp_path_factory):
    runner = Walkthrough.create(tmp_path_factory.mktemp("docs") / "ballast", node)
    yield runner
    runner.close()
    total = sum(TIMES.values())
    print("docs walkthroughs: " + ", ".join(f"{p} {t:.0f} s" for p, t in TIMES.items())
          + f"; {total:.0f} s in all")  # fmt: skip


def all_blocks() -> list[Block]:
    paths = [DOCS / f"{page}.md" for page in ORDER]
    return [b for path in paths if path.exists() for b in parse(path)]


def test_every_page_has_its_place_in_the_order():
    pages = {p.stem for p in DOCS.glob("*.md")}
    assert pages <= set(ORDER), f"pages the runner would not run: {sorted(pages - set(ORDER))}"


def test_readme_links_every_page():
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("## Who are you?", 1)
    assert len(section) == 2, "the README lost its 'Who are you?' list"
    linked = re.findall(r"\]\(docs/([\w-]+)\.md\)", section[1].split("\n## ", 1)[0])
    assert set(linked) == set(ORDER), f"linked {sorted(linked)}, pages {sorted(ORDER)}"
    missing = [p for p in ORDER if not (DOCS / f"{p}.md").exists()]
    assert not missing, f"the README links pages that do not exist: {missing}"


def test_blocks_kept_from_the_runner_are_few_and_say_why():
    skipped = [b for b in all_blocks() if b.kind == "skip"]
    for b in skipped:
        print(f"not run: {b.where}: {b.reason}")
        assert len(b.reason) >= 10, f"{b.where}: say why the block is not run"
    assert len(skipped) <= MAX_NOT_RUN, [b.where for b in skipped]
    assert sum(b.kind in ("sh", "console") for b in all_blocks()) >= 2 * len(skipped)


@pytest.mark.parametrize("page", ORDER)
def test_walkthrough(page: str, walkthrough: Walkthrough):
    path = DOCS / f"{page}.md"
    if not path.exists():
        pytest.skip(f"docs/{page}.md is not written (test_readme_links_every_page fails for it)")
    began = time.monotonic()
    try:
        ran = [b for b in parse(path) if b.kind in ("sh", "console")]
        for block in ran:
            walkthrough.run(block)
    finally:
        TIMES[page] = time.monotonic() - began
    if page not in ("performance", "security"):  # those two may be reading, not doing
        assert ran, f"docs/{page}.md has no walkthrough the runner executes"


# The runner itself, without a node: what runs, what is shown only, what is asserted.
SAMPLE = """# A page

```sh
NET="--network x"
echo "hello $NET"   # -> hello --network x
```

<!-- not run: the test starts its own node -->
```sh
anvil &
```

```text
shown output
```

<!-- console -->
```python
1 + 1  # -> 2
```

```python
print("a module shown, not typed")
```
"""


def test_parse_tells_run_blocks_from_shown_ones(tmp_path: Path):
    (tmp_path / "x.md").write_text(SAMPLE)
    blocks = parse(tmp_path / "x.md")
    assert [(b.kind, b.line) for b in blocks] == [("sh", 4), ("skip", 10), ("console", 19)]
    assert blocks[0].expects == ["hello --network x"]
    assert blocks[1].reason == "the test starts its own node"
    assert blocks[2].expects == ["2"]


@pytest.mark.parametrize(
    ("text", "message"),
    [("```sh\necho\n", "never closed"), ("<!-- not run: why -->\n```text\nx\n```\n", "never runs")],
)
def test_parse_refuses_a_malformed_page(tmp_path: Path, text: str, message: str):
    (tmp_path / "x.md").write_text(text)
    with pytest.raises(ValueError, match=message):
        parse(tmp_path / "x.md")


def test_a_shell_session_carries_variables_and_checks_output(tmp_path: Path):
    runner = Walkthrough.create(tmp_path / "sb", "http://127.0.0.1:1")
    first = Block("docs/x.md", 3, "sh", 'NET="--network y"\nexport TOKEN=abc\n')
    runner.run(first)
    second = Block("docs/x.md", 9, "sh", 'echo "$NET $TOKEN"   # -> --network y abc\n')
    assert "--network y abc" in runner.run(second)
    wrong = Block("docs/x.md", 12, "sh", "echo 41   # -> 42\n")
    with pytest.raises(AssertionError, match=r"docs/x.md:12: expected output missing: \['42'\]"):
        runner.run(wrong)
    failing = Block("docs/x.md", 15, "sh", "echo before\nfalse\necho after\n")
    with pytest.raises(AssertionError, match=r"(?s)docs/x.md:15: exit status 1.*before") as e:
        runner.run(failing)
    assert "after" not in str(e.value)
    other_page = Block("docs/z.md", 3, "sh", 'echo "[${NET:-unset}]"   # -> [unset]\n')
    runner.run(other_page)


def test_a_console_block_echoes_expression_values_as_a_prompt_does(capsys):
    namespace: dict = {}
    execute("x = 2\nx + 1\nNone\nprint('printed')\n[x] * 2\n", namespace, "docs/x.md", 7)
    assert capsys.readouterr().out == "3\nprinted\n[2, 2]\n"
    with pytest.raises(ZeroDivisionError) as e:
        execute("y = 1\ny / 0\n", namespace, "docs/x.md", 7)
    assert e.traceback[-1].frame.code.path == "docs/x.md" and e.traceback[-1].lineno + 1 == 8


def test_a_failing_console_block_names_its_page_line_and_error(node, tmp_path: Path):
    runner = Walkthrough.create(tmp_path / "sb", node)
    try:
        runner.run(Block("docs/x.md", 5, "console", "a = chain.chain_id\na  # -> 31337\n"))
        with pytest.raises(AssertionError) as e:
            runner.run(Block("docs/x.md", 9, "console", "b = a\nb / 0\n"))
        message = str(e.value)
        assert message.startswith("docs/x.md:9: the console session raised")
        assert 'File "docs/x.md", line 10' in message and "ZeroDivisionError" in message
    finally:
        runner.close()


def test_a_console_expectation_on_an_expression_is_its_whole_value(capsys):
    """`expr  # -> TEXT` on a console line is the value the prompt echoes for that line, not a
    substring of the block's output: `vault.balanceOf(me) // 10**6  # -> 10000` passed while
    the value was 10000000000000000 (the shares have 18 decimals), and `x  # -> 0` passed on
    any output holding a 0."""
    namespace: dict = {}
    execute("x = 10**16\nx  # -> 10000000000000000\n'a'  # -> 'a'\n", namespace, "docs/x.md", 3)
    assert capsys.readouterr().out == "10000000000000000\n'a'\n"
    for code, shown in (("x  # -> 10000\n", "10000000000000000"), ("x - x + 1  # -> 0\n", "1")):
        with pytest.raises(AssertionError) as e:
            execute(code, namespace, "docs/x.md", 7)
        assert str(e.value).startswith(f"docs/x.md:7: the value is {shown}, the page says ")
    execute("print(5)  # -> 5\n", namespace, "docs/x.md", 7)  # printed: the block's check
