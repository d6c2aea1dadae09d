"""`ape` and `ballast-keeper` as a user's shell runs them, without paying the imports each time.

A real `ape run <script>` or `ballast-keeper` spends about three seconds of CPU importing Ape, its
plugins (py-evm for ape-test's provider, pandas for the chain manager, IPython) and web3 before it
reads its first argument; a walkthrough page (tests/docs/walkthrough.py) types dozens of them.
Here a server imports those modules once, and each command is a fork of it:

- `ForkServer.start(folder, env)` starts `python -m tests.cli_forkserver serve SOCKET` and puts a
  folder first on PATH (`ForkServer.env`) whose `ape` and `ballast-keeper` are one client script
  (`CLIENT`, run by `python -SE`: no site, about 20 ms).
- The client sends the server its program name, argv, environment and working directory, and
  hands over its stdin, stdout and stderr (SCM_RIGHTS); the server forks; the child takes those
  as its fds 0-2, the environment (and PYTHONPATH's folders on sys.path, as an interpreter
  starting would), the directory and argv, and calls the console script's entry point
  (`ape._cli:cli`, `keepers.cli:main`: what `.venv/bin/ape` and `.venv/bin/ballast-keeper` call),
  then ends as the interpreter would: non-daemon threads joined, atexit handlers run, streams
  flushed, the exit status of its SystemExit. The client exits with it (128 + N for a signal).
- A client that goes away (a timeout killing the shell) takes its command with it: the server
  kills the child whose client's socket closed. A signal the client gets (INT, TERM) is passed
  on to the child.

What differs from a fresh process is only that modules are already imported: nothing is
connected, configured or read from the project before the fork (`PRELOAD` is modules only;
Ape's managers are created on first use, in the child), so a command sees its own environment,
folder and files. `tests/toolchain/test_cli_forkserver.py` runs commands both ways and compares
their output and exit status.

The server is single-threaded (it forks, and a fork of a threaded process may inherit a held
lock): one loop over the listening socket and the clients' sockets, reaping children as they end.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
# program -> (module, entry point): the console scripts' targets (pyproject.toml, Ape's own)
PROGRAMS = {"ape": ("ape._cli", "cli"), "ballast-keeper": ("keepers.cli", "main"),
            # the docs walkthroughs' `ape console`-like session (tests/docs/walkthrough.py)
            "walkthrough-console": ("tests.docs.walkthrough", "serve")}  # fmt: skip
# Modules only: importing them creates no Ape manager, reads no config and connects nowhere.
PRELOAD = (
    "ape", "ape._cli", "ape.managers.chain", "ape.managers.project", "ape_test.provider",
    "ape_ethereum", "ape_ethereum.provider", "ape_foundry.provider", "ape_run._cli",
    "ape_solidity", "IPython.lib.pretty", "click", "rich.console", "rich.table",
    "keepers.cli", "ballast.cli", "ballast.deploy", "ballast.params", "ballast.chain_reads",
)  # fmt: skip
MAX_MESSAGE = 1 << 20

CLIENT = r"""import json, os, signal, socket, sys
program = os.path.basename(sys.argv[0])
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.connect(os.environ["BALLAST_CLI_FORKSERVER"])
request = {"program": program, "argv": sys.argv[1:], "env": dict(os.environ), "cwd": os.getcwd()}
socket.send_fds(server, [json.dumps(request).encode() + b"\n"], [0, 1, 2])
def forward(signum, _frame):
    server.sendall(json.dumps({"signal": signum}).encode() + b"\n")
for s in (signal.SIGINT, signal.SIGTERM):
    signal.signal(s, forward)
answer = b""
while not answer.endswith(b"\n"):
    try:
        part = server.recv(4096)
    except InterruptedError:
        continue
    if not part:
        sys.exit("ballast cli forkserver: the server went away")
    answer += part
sys.exit(json.loads(answer)["status"])
"""


@dataclass
class ForkServer:
    """A running server (`start`), its socket and the PATH folder of its client."""

    process: subprocess.Popen
    socket_path: Path
    bin_dir: Path

    @classmethod
    def start(cls, folder: Path, env: dict[str, str], timeout: float = 120.0) -> ForkServer:
        folder.mkdir(parents=True, exist_ok=True)
        bin_dir = folder / "bin"
        bin_dir.mkdir(exist_ok=True)
        client = bin_dir / "forkserver-client"
        client.write_text(f"#!{sys.executable} -SE\n{CLIENT}")
        client.chmod(0o755)
        for program in PROGRAMS:
            link = bin_dir / program
            if not link.exists():
                link.symlink_to(client.name)
        # a short folder of its own: a socket's path is limited to 107 bytes
        socket_path = Path(tempfile.mkdtemp(prefix="ballast-cli-")) / "cli.sock"
        log = open(folder / "forkserver.log", "w")  # noqa: SIM115 - the server's own stderr
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.cli_forkserver", "serve", str(socket_path)],
            cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + timeout
        while not socket_path.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(
                    f"the CLI fork server did not start: {(folder / 'forkserver.log').read_text()}"
                )
            time.sleep(0.05)
        return cls(process, socket_path, bin_dir)

    def env(self, env: dict[str, str]) -> dict[str, str]:
        """`env` with this server's client first on PATH for `ape` and `ballast-keeper`."""
        return {**env, "PATH": f"{self.bin_dir}{os.pathsep}{env.get('PATH', '')}",
                "BALLAST_CLI_FORKSERVER": str(self.socket_path)}  # fmt: skip

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.socket_path.parent, ignore_errors=True)
        # its client, links and log (`start`'s folder): a test run left one in /tmp per worker
        shutil.rmtree(self.bin_dir.parent, ignore_errors=True)


_shared: list[ForkServer] = []  # this process's server, started by the first `forked` call


def forked(args: Sequence[str], env: Mapping[str, str]) -> tuple[list[str], dict[str, str]]:
    """A command to run to completion (subprocess.run) and its environment, with `ape` or
    `ballast-keeper` (by name or by path) forked from this test process's server. Other programs
    are left as they are; so is everything when `BALLAST_TEST_REAL_CLI` is set (every command its
    own process again). A test about a process's life (killed, interrupted, restarted) keeps a
    real one: only the client would get the signal at once, the command a moment later."""
    args = list(args)
    if not args or Path(args[0]).name not in PROGRAMS or os.environ.get("BALLAST_TEST_REAL_CLI"):
        return args, dict(env)
    if not _shared:
        quiet = {
            k: v for k, v in os.environ.items() if not k.startswith(("APE_FOUNDRY", "BALLAST_"))
        }
        _shared.append(
            ForkServer.start(Path(tempfile.mkdtemp(prefix="ballast-forkserver-")), quiet)
        )
        atexit.register(_shared[0].stop)
    server = _shared[0]
    return [str(server.bin_dir / Path(args[0]).name), *args[1:]], server.env(dict(env))


# ------------------------------------------------------------------------------------ the server


def serve(socket_path: str) -> int:
    for name in PRELOAD:
        importlib.import_module(name)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path + ".tmp")
    listener.listen(16)
    os.rename(socket_path + ".tmp", socket_path)  # the socket appears once it accepts
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ)
    children: dict[socket.socket, int] = {}  # client connection -> its child's pid
    parent = os.getppid()
    while not stop and os.getppid() == parent:  # ends with the process that started it
        for key, _ in sel.select(timeout=0.05):
            conn = key.fileobj
            if conn is listener:
                client, _ = listener.accept()
                pid = _fork_command(client, [listener, sel, *children])
                if pid is None:
                    client.close()
                    continue
                children[client] = pid
                sel.register(client, selectors.EVENT_READ)
            else:
                _client_spoke(conn, children, sel)
        _reap(children, sel)
    for pid in children.values():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return 0


def _fork_command(client: socket.socket, server_side: list) -> int | None:
    """Forks the command `client` asks for; its pid (None for a request that is not one).
    `server_side`: what the child closes (the listener, the selector, other clients)."""
    message, fds, _flags, _addr = socket.recv_fds(client, MAX_MESSAGE, 3)
    while not message.endswith(b"\n"):
        more = client.recv(MAX_MESSAGE)
        if not more:
            break
        message += more
    try:
        request = json.loads(message)
    except ValueError:
        for fd in fds:
            os.close(fd)
        return None
    pid = os.fork()
    if pid == 0:  # the command
        for held in [*server_side, client]:
            held.close()
        os._exit(_run(request, fds))
    for fd in fds:
        os.close(fd)
    return pid


def _client_spoke(conn: socket.socket, children: dict, sel: selectors.BaseSelector) -> None:
    pid = children.get(conn)
    try:
        data = conn.recv(4096)
    except OSError:
        data = b""
    if not data:  # the client is gone: so is its command (reaped by _reap)
        sel.unregister(conn)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return
    for line in data.splitlines():
        with contextlib.suppress(ValueError, KeyError, ProcessLookupError):
            os.kill(pid, int(json.loads(line)["signal"]))


def _reap(children: dict[socket.socket, int], sel: selectors.BaseSelector) -> None:
    for conn, pid in list(children.items()):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done == 0:
            continue
        code = os.waitstatus_to_exitcode(status)
        with contextlib.suppress(OSError):
            conn.sendall(json.dumps({"status": code if code >= 0 else 128 - code}).encode() + b"\n")
        with contextlib.suppress(KeyError, ValueError):
            sel.unregister(conn)
        conn.close()
        del children[conn]


# ------------------------------------------------------------------------------------ the child


def _run(request: dict, fds: list[int]) -> int:
    """In the forked child: become the command, run it, end as its interpreter would."""
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        for target, fd in enumerate(fds[:3]):
            os.dup2(fd, target)
        for fd in fds:
            if fd > 2:
                os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        program = request["program"]
        module, entry = PROGRAMS[program]
        script = VENV_BIN / program
        # sys.path as the script's interpreter starts it: its folder, then PYTHONPATH's, then
        # the rest (this server's first entry is the folder it was started in, `-m`)
        extra = [p for p in request["env"].get("PYTHONPATH", "").split(os.pathsep) if p]
        sys.path[:] = [str(script.parent), *map(os.path.abspath, extra), *sys.path[1:]]
        sys.argv = [str(script), *request["argv"]]
        main = types.ModuleType("__main__")  # the console script's module, not this one's `-m`
        main.__file__ = str(script)
        sys.modules["__main__"] = main
        unbuffered = bool(request["env"].get("PYTHONUNBUFFERED"))
        sys.stdout.reconfigure(line_buffering=False, write_through=unbuffered)  # not a terminal
        sys.stderr.reconfigure(line_buffering=True, write_through=unbuffered)
    except BaseException as e:  # noqa: BLE001 - the client gets a status, the user a line
        os.write(2, f"ballast cli forkserver: {e!r}\n".encode())
        return 1
    try:  # as the console script's `sys.exit(entry())`
        code = _exit_status(getattr(importlib.import_module(module), entry)())
    except SystemExit as e:
        code = _exit_status(e.code)
    except BaseException:  # noqa: BLE001 - printed as the interpreter would
        sys.excepthook(*sys.exc_info())
        code = 1
    return _finish(code)


def _exit_status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _finish(code: int) -> int:
    with contextlib.suppress(BaseException):
        threading._shutdown()  # type: ignore[attr-defined] - the interpreter's own join
    with contextlib.suppress(BaseException):
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):
            stream.flush()
    return code


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "serve":
        sys.exit("usage: python -m tests.cli_forkserver serve SOCKET")
    sys.exit(serve(sys.argv[2]))
