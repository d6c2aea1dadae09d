"""The benchmarks' command lines speak as the other Ballast CLIs do: one line `Error: <what>` on
stderr and a non-zero exit, for argparse's own usage errors too (exit 2, no usage block)."""

from __future__ import annotations

import argparse
from typing import NoReturn


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one `Error: ` line: `fail` for the command's own checks
    (exit 2: bad arguments; 1: the input could not be used), `error` for argparse's."""

    def error(self, message: str) -> NoReturn:
        self.fail(f"{message} (see {self.prog} --help)")

    def fail(self, message: str, status: int = 2) -> NoReturn:
        self.exit(status, f"Error: {message.splitlines()[0] if message else 'bad arguments'}\n")
