"""tools/bin/anvil: the suite's anvils keep their disk state cache where `BALLAST_ANVIL_CACHE`
says (`make test` gives it a directory it removes afterwards), not in ~/.foundry/anvil/tmp,
where anvil 1.7 leaves it behind on exit; unset, the wrapper is the real anvil."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.ports import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
WRAPPER = REPO_ROOT / "tools" / "bin" / "anvil"
REAL = (REPO_ROOT / "node_modules" / ".bin" / "anvil").resolve()
SENDER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"  # anvil's first default account
# the environment without the wrapper's variables (`make test` sets them for the suite's anvils)
PLAIN = {k: v for k, v in os.environ.items() if not k.startswith("BALLAST_ANVIL_")}


def reply(port: int, method: str, params: list) -> dict:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}", data=body, headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def rpc(port: int, method: str, params: list) -> object:
    return reply(port, method, params)["result"]


def wait_listening(port: int, process: subprocess.Popen) -> None:
    for _ in range(300):
        assert process.poll() is None, "anvil exited at start"
        try:
            rpc(port, "eth_chainId", [])
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("anvil did not answer")


def test_the_state_cache_goes_where_the_variable_says_and_history_stays_readable(tmp_path):
    cache = tmp_path / "cache"
    port = free_port()
    env = {**PLAIN, "BALLAST_ANVIL_CACHE": str(cache)}
    process = subprocess.Popen([str(WRAPPER), "--port", str(port)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_listening(port, process)
        # the wrapper exec'd anvil itself: Ape's SIGINT reaches it, nothing is left in between
        assert Path(f"/proc/{process.pid}/exe").resolve() == REAL
        # enough blocks with state changes that anvil moves old states out of memory to disk
        for i in range(700):
            to = f"0x{i + 1_000:040x}"
            rpc(port, "eth_sendTransaction", [{"from": SENDER, "to": to, "value": "0x1"}])
        (own,) = cache.iterdir()  # one directory per anvil
        states = list(own.rglob("*.json"))
        assert states, "no state was written to the cache"
        assert all(p.parent.name.startswith("anvil-state-") for p in states)
        assert rpc(port, "eth_getBalance", [f"0x{1_000:040x}", "0x5"]) == "0x1"  # block 5
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0


def test_unset_or_asked_its_version_it_is_the_real_anvil(tmp_path):
    cache = tmp_path / "cache"
    real = subprocess.run([str(REAL), "--version"], capture_output=True, text=True, check=True)
    for env in (PLAIN, {**PLAIN, "BALLAST_ANVIL_CACHE": str(cache)}):
        out = subprocess.run([str(WRAPPER), "--version"], env=env, capture_output=True,
                             text=True, check=True)  # fmt: skip
        assert out.stdout == real.stdout
    assert not cache.exists()  # a version query makes no cache directory


# A contract whose every call returns 42 (init code: copy the 10-byte runtime, return it).
RETURNS_42 = "0x600a600c600039600a6000f3" + "602a60005260206000f3"


def test_with_a_history_limit_no_state_is_written_and_the_recent_blocks_stay_readable(tmp_path):
    """`make test`'s anvils: BALLAST_ANVIL_HISTORY keeps the last N blocks' states in memory
    and writes none to disk; BALLAST_ANVIL_STEPS_TRACING=0 drops the `--steps-tracing` Ape
    passes, and the call traces Ape reads return values from stay."""
    cache = tmp_path / "cache"
    port = free_port()
    env = {**PLAIN, "BALLAST_ANVIL_CACHE": str(cache), "BALLAST_ANVIL_HISTORY": "64",
           "BALLAST_ANVIL_STEPS_TRACING": "0"}  # fmt: skip
    process = subprocess.Popen([str(WRAPPER), "--port", str(port), "--steps-tracing"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_listening(port, process)
        args = Path(f"/proc/{process.pid}/cmdline").read_bytes().split(b"\0")
        assert b"--steps-tracing" not in args
        assert args[args.index(b"--prune-history") + 1] == b"64"
        # as many blocks as make anvil without a limit write states to disk (the test above)
        to = [f"0x{i + 1_000:040x}" for i in range(700)]
        sent = [
            rpc(port, "eth_sendTransaction", [{"from": SENDER, "to": a, "value": "0x1"}])
            for a in to
        ]
        last = rpc(port, "eth_sendTransactionSync", [{"from": SENDER, "to": SENDER}])  # all mined
        assert not list(cache.rglob("*.json")), "a state was written to disk"
        recent = rpc(port, "eth_getTransactionReceipt", [sent[680]])
        assert int(last["blockNumber"], 16) - int(recent["blockNumber"], 16) < 64
        assert rpc(port, "eth_getBalance", [f"0x{1_680:040x}", recent["blockNumber"]]) == "0x1"
        old = reply(port, "eth_getBalance", [f"0x{1_000:040x}", "0x5"])
        assert "BlockOutOfRange" in old["error"]["message"], f"block 5 was kept: {old}"
        # (a receipt as soon as mined: anvil may still be mining the transfers)
        created = rpc(port, "eth_sendTransactionSync", [{"from": SENDER, "data": RETURNS_42}])
        call = {"from": SENDER, "to": created["contractAddress"]}
        called = rpc(port, "eth_sendTransactionSync", [call])
        (top, *_) = rpc(port, "trace_transaction", [called["transactionHash"]])
        assert int(top["result"]["output"], 16) == 42
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
