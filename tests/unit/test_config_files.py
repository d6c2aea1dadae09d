"""The YAML config files people write — the deploy config and the keeper's config: a repeated
key, a holder written twice, a key that is not a name or a file that is not text is one line
naming the problem and its place, never a silent choice of one of two values or a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ballast.config import ConfigError, DeployConfig
from ballast.yamlfile import load_yaml, yaml_problem
from keepers.config import ConfigError as KeeperConfigError
from keepers.config import load_settings

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCAL = (REPO_ROOT / "deployments/config/local.yaml").read_text()
HOLDER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"  # the local config's first token holder
HOLDER_ROW = f'    "{HOLDER}": 1_000_000\n'
TEST_3 = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"


def problem(text: str) -> str:
    with pytest.raises(yaml.YAMLError) as err:
        load_yaml(text)
    return yaml_problem(err.value)


def test_a_repeated_key_is_refused_with_both_lines():
    assert problem("a: 1\nb: 2\na: 3\n") == "line 3, column 1: duplicate key 'a' (also on line 1)"
    assert problem("x: {k: 1, k: 2}\n").endswith("duplicate key 'k' (also on line 1)")
    assert problem("top:\n  n: 1\n  n: 1\n") == (
        "line 3, column 3: duplicate key 'n' (also on line 2)"
    )  # the same value twice is still a mistake


def test_what_yaml_allows_still_loads():
    assert load_yaml("base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  x: 3\n")["c"] == {"x": 3, "y": 2}
    assert load_yaml("rows:\n  - {k: 1}\n  - {k: 2}\n") == {"rows": [{"k": 1}, {"k": 2}]}
    assert load_yaml(LOCAL) == yaml.safe_load(LOCAL)


def test_a_syntax_error_says_where():
    assert problem("a: [unclosed").startswith("line 1, column 13: expected ',' or ']'")


def write(tmp_path: Path, text: str | bytes, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # PyYAML alone keeps the last: the second guardian would get the role
        (
            LOCAL.replace("  steward:", f'  guardian: "{TEST_3}"\n  steward:', 1),
            "not valid YAML: line 30, column 3: duplicate key 'guardian' (also on line 29)",
        ),
        # the same holder in two cases: one key once checksummed, the last amount minted
        (
            LOCAL.replace(HOLDER_ROW, f"{HOLDER_ROW}    {HOLDER.lower()!r}: 5\n", 1),
            f"governance.distribution: {HOLDER.lower()} is listed twice (also as {HOLDER})",
        ),
        (
            LOCAL.replace(HOLDER_ROW, HOLDER_ROW * 2, 1),
            f"duplicate key '{HOLDER}' (also on line 17)",
        ),
        (b"\xad\xde\xff\x00asset:", "not UTF-8 text"),
    ],
    ids=["role twice", "holder in two cases", "holder twice", "binary"],
)
def test_deploy_config_mistakes_are_one_line(tmp_path, text, message):
    assert HOLDER_ROW in LOCAL and "  steward:" in LOCAL
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        DeployConfig.load(path)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("dry_run: true\ndry_run: false\n", "line 2, column 1: duplicate key 'dry_run'"),
        ("liquidator:\n  min_profit: 1\n  min_profit: 2\n", "duplicate key 'min_profit'"),
        ("1: 2\n", "1 is not a setting name"),
        ("true: 1\n", "True is not a setting name"),  # YAML reads `true:`/`on:` as a boolean
        ("liquidator:\n  min_profit: 1\n bad: [\n", "is not valid YAML: line 3, column 2: "),
    ],
)
def test_keeper_config_mistakes_are_one_line(tmp_path, text, message):
    with pytest.raises(KeeperConfigError) as err:
        load_settings(write(tmp_path, text))
    assert message in str(err.value)
    assert "\n" not in str(err.value)
