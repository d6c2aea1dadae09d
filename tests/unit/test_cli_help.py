"""Every command of every CLI says what it does: `ape run <script> … --help` and `ballast-keeper …
--help` show a description for each command and subcommand, and help for each option."""

from __future__ import annotations

import runpy
from pathlib import Path

import click
import pytest

from keepers.cli import main as keeper_cli

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def undocumented(command: click.Command, name: str) -> list[str]:
    """`name` and its subcommands and options that have no help text."""
    missing = [] if command.help else [name]
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden and not param.help:
            missing.append(f"{name} {param.opts[0]}")
    if isinstance(command, click.Group):
        for sub_name, sub in command.commands.items():
            missing += undocumented(sub, f"{name} {sub_name}")
    return missing


@pytest.mark.parametrize("script", sorted(p.stem for p in SCRIPTS.glob("*.py")))
def test_every_ape_run_script_command_and_option_has_help(script):
    command = runpy.run_path(str(SCRIPTS / f"{script}.py"), run_name="help_check")["cli"]
    assert undocumented(command, f"ape run {script}") == []


def test_every_ballast_keeper_command_and_option_has_help():
    assert undocumented(keeper_cli, "ballast-keeper") == []
