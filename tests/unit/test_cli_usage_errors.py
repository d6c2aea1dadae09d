"""A usage error of any CLI (an unknown option or command, a value of the wrong type, a missing
argument) is one line, ``Error: <what is wrong>``, and exit status 2: never click's usage line and
help hint above it. Every command and subcommand of `ballast-keeper` and of each `ape run` script
(`ballast.cli.OneLineUsage`); tests/scripts/test_bad_inputs.py runs some through the real
wrappers (`ape run`, the installed `ballast-keeper`)."""

from __future__ import annotations

import runpy
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from ballast.cli import OneLineUsage
from keepers.cli import main as keeper_cli

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
CLIS: dict[str, click.Command] = {
    "ballast-keeper": keeper_cli,
    **{
        f"ape run {p.stem}": runpy.run_path(str(p), run_name="usage_check")["cli"]
        for p in sorted(SCRIPTS.glob("*.py"))
    },
}


def commands(command: click.Command, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The argument prefix of `command` and of each of its subcommands, nested."""
    found = [path]
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            found += commands(sub, (*path, name))
    return found


CASES = [
    pytest.param(cli, path, id=" ".join((cli, *path)))
    for cli, command in CLIS.items()
    for path in commands(command)
]


def usage_error(cli: str, args: list[str]) -> str:
    result = CliRunner(mix_stderr=False).invoke(CLIS[cli], args)
    assert result.exit_code == 2, (result.output, result.stderr, result.exception)
    assert result.stdout == "", result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize(("cli", "path"), CASES)
def test_an_unknown_option_is_one_line_naming_it(cli, path):
    line = usage_error(cli, [*path, "--no-such-option"])
    assert line.startswith("Error: ") and "--no-such-option" in line, line


@pytest.mark.parametrize("cli", [c for c, cmd in CLIS.items() if isinstance(cmd, click.Group)])
def test_an_unknown_command_is_one_line_naming_it(cli):
    assert usage_error(cli, ["no-such-command"]) == "Error: No such command 'no-such-command'."


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["once", "--job", "sentinel", "--show-skips", "abc"],
         "Error: Invalid value for '--show-skips': 'abc' is not a valid integer range."),
        (["--metrics-port", "x", "status"],
         "Error: Invalid value for '--metrics-port': 'x' is not a valid integer."),
        (["status", "--watch", "0.5"],
         "Error: Invalid value for '--watch': 0.5 is not in the range x>=1.0."),
        (["once"], "Error: Missing option '--job'."),
        (["verify-decision"], "Error: Missing argument 'DECISION_ID'."),
        (["verify-decision", "0", "--replay", "--strategy", "os.system"],
         "Error: Invalid value for '--strategy': 'os.system' is not an entry point "
         "(package.module:function)"),
        (["verify-decision", "0", "--strategy", "my_agent:momentum"],
         "Error: --strategy applies only with --replay"),
    ],
)  # fmt: skip
def test_a_keeper_value_of_the_wrong_type_or_missing_is_one_line(args, says):
    assert usage_error("ballast-keeper", args) == says


def test_a_script_argument_of_the_wrong_type_or_missing_is_one_line():
    assert usage_error("ape run agent", ["stake"]) == "Error: Missing argument 'AMOUNT'."
    line = usage_error("ape run params", ["show", "--network", "bogus"])
    assert line.startswith("Error: Invalid value for '--network': No ecosystem named 'bogus'.")


def test_every_cli_shows_its_usage_errors_through_the_shared_class():
    # the outermost command of each CLI: its own errors and its subcommands' pass through it
    assert all(isinstance(command, OneLineUsage) for command in CLIS.values())


KEEPER_COMMANDS = [p for p in commands(keeper_cli) if p]


@pytest.mark.parametrize("path", KEEPER_COMMANDS, ids=" ".join)
@pytest.mark.parametrize("where", ["before", "after"])
def test_a_mistyped_keeper_option_is_named_never_read_as_an_argument(path, where):
    # `verify-decision --replya 3` once read '--replya' as the decision ID (refused as 'not a
    # valid integer range', which blamed the ID): the option is named, beside a value or not
    value = {"verify-decision": "3", "verify-steward": "0x" + "ab" * 32}.get(path[0])
    args = ["--replya", *([value] if value else [])]
    if where == "after":
        args = args[::-1]
    line = usage_error("ballast-keeper", [*path, *args])
    assert line.startswith("Error: No such option: --replya"), line


@pytest.mark.parametrize("args", [["-0"], ["--replay", "-00"], ["-0_0"]])
def test_a_signed_zero_is_not_read_as_decision_zero(args):
    # a negative-looking id is explained, never looked up as another (decision 0)
    line = usage_error("ballast-keeper", ["verify-decision", *args])
    assert "DECISION_ID" in line and "without a sign" in line, line


@pytest.mark.parametrize(("arg", "says"), [("-1", "-1 is not in the range 0<=x<="),
                                           ("abc", "'abc' is not a valid integer")])  # fmt: skip
def test_a_negative_or_wordy_decision_id_is_still_explained(arg, says):
    line = usage_error("ballast-keeper", ["verify-decision", arg])
    assert says in line, line
