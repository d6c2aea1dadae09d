"""`ballast-keeper`'s own options go before or after the subcommand, as in the `ape run` scripts."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from keepers.cli import main


def run(args: list[str]):
    return CliRunner().invoke(main, args, catch_exceptions=False)


@pytest.mark.parametrize(
    "args",
    [
        ["--metrics-port", "99999", "once", "--job", "sentinel"],
        ["once", "--job", "sentinel", "--metrics-port", "99999"],
        ["once", "--metrics-port=99999", "--job", "sentinel"],
        ["status", "--metrics-port", "99999"],
    ],
)
def test_a_group_option_after_the_subcommand_is_read_as_before_it(args):
    result = run(args)
    assert result.exit_code == 1
    assert (
        result.output.strip() == "Error: metrics_port: Input should be less than or equal to 65535"
    )


def test_an_option_value_that_names_a_command_is_still_a_value():
    # `--account status` is the alias "status", not the status command
    result = run(["--account", "status", "--metrics-port", "-1", "once", "--job", "sentinel"])
    assert result.exit_code == 1
    assert "metrics_port: Input should be greater than or equal to 0" in result.output


def test_subcommand_options_stay_with_the_subcommand():
    result = run(["once", "--help"])
    assert result.exit_code == 0
    assert "--job" in result.output and "--show-skips" in result.output


def test_an_unknown_job_is_a_usage_error_one_line_naming_the_jobs():
    # a usage error (exit 2, docs/keeper-operator.md), like any value click refuses; it was
    # exit 1, the status of a keeper that cannot start
    result = run(["once", "--job", "sentinel", "--job", "lottery"])
    assert result.exit_code == 2
    assert result.output.strip() == (
        "Error: Invalid value for '--job': unknown job 'lottery'; jobs are liquidator, "
        "evaluator, settler, sentinel, rebalancer, steward"
    )


@pytest.mark.parametrize(
    ("given", "runs"),
    [
        (["sentinel", "sentinel"], ("sentinel",)),
        (["settler", "sentinel", "settler"], ("settler", "sentinel")),
        (["redeemer", "settler"], ("redeemer",)),  # the alias first: its warning, then settler
        (["settler", "redeemer"], ("settler",)),
    ],
)
def test_a_job_given_twice_runs_once_where_first_given(given, runs):
    args = [arg for job in given for arg in ("--job", job)]
    ctx = main.commands["once"].make_context("once", args)
    assert ctx.params["jobs"] == runs


def test_a_settings_path_that_is_a_folder_or_not_utf8_is_one_line(tmp_path):
    binary = tmp_path / "keeper.yaml"
    binary.write_bytes(b"\xff\xfe account: k\n")
    for path, says in ((tmp_path, "cannot be read: Is a directory"),
                       (binary, "is not UTF-8 text")):  # fmt: skip
        result = run(["--config", str(path), "once", "--job", "sentinel"])
        assert result.exit_code == 1
        assert result.output.strip() == f"Error: config file {path} {says}"
