"""The benchmark's own anvil, started without ``--steps-tracing``.

Ape's foundry provider always starts anvil with ``--steps-tracing``, which keeps an opcode
trace of every transaction in memory: tens of thousands of setup transactions at 10,000
borrowers grew such a node past 20 GB until the kernel killed it. This one is started with the
same accounts (the project's test mnemonic), no base fee and no gas price (as Ape's), the
cancun hardfork and a block gas limit large enough for the setup's blocks; Ape attaches to it
through ``APE_FOUNDRY_HOST`` (the documented way to drive a node Ape did not start).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import requests

__all__ = ["AnvilError", "private_anvil"]

MNEMONIC = "test test test test test test test test test test test junk"  # ape-config.yaml
ACCOUNTS = 10
START_TIMEOUT = 30.0


class AnvilError(RuntimeError):
    """anvil is missing or did not start; the message is one line."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(uri: str) -> bool:
    try:
        body = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
        return "result" in requests.post(uri, json=body, timeout=2).json()
    except (requests.RequestException, ValueError):
        return False


@contextmanager
def private_anvil(block_gas_limit: int) -> Iterator[str]:
    """An anvil on a free local port for the block; Ape's foundry provider attaches to it.
    Yields its URI; the node is stopped (and the environment restored) on exit."""
    binary = shutil.which("anvil")
    if binary is None:
        raise AnvilError("anvil is not on PATH (export PATH=$PWD/node_modules/.bin:$PATH)")
    port = _free_port()
    uri = f"http://127.0.0.1:{port}"
    command = [
        binary, "--port", str(port), "--mnemonic", MNEMONIC, "--accounts", str(ACCOUNTS),
        "--balance", "1000000", "--block-base-fee-per-gas", "0", "--gas-price", "0",
        "--hardfork", "cancun", "--gas-limit", str(block_gas_limit),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    before = os.environ.get("APE_FOUNDRY_HOST")
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers(uri):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AnvilError(f"anvil did not start on port {port} (exit {process.poll()})")
            time.sleep(0.1)
        os.environ["APE_FOUNDRY_HOST"] = uri
        yield uri
    finally:
        if before is None:
            os.environ.pop("APE_FOUNDRY_HOST", None)
        else:
            os.environ["APE_FOUNDRY_HOST"] = before
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
