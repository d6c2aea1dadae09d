"""Runs the walkthroughs of docs/*.md, so the docs cannot drift from what the commands do.

The convention every page follows:

- a fenced ```sh block is a shell walkthrough step, run with `bash -e` in the project folder;
  the blocks of one page share one shell session (variables a block sets, exported or not, are
  there in the page's later blocks);
- a fenced ```python block directly preceded by the line `<!-- console -->` is typed into an
  `ape console` on the same node: the blocks of one page share one session (a subprocess that
  connects with Ape's Python API and runs each block with `project`, `accounts`, `chain`,
  `networks`, `Contract` and `convert` in its namespace); as at the console's prompt, the value of
  every expression statement that is not None is printed;
- any other fence (```text, ```yaml, ```console for shown output, ```python without the marker)
  is not run;
- a block preceded by `<!-- not run: <reason> -->` is not run either (counted and reported: a
  node the test starts itself, a benchmark of minutes, a real network);
- a comment `# -> TEXT` in a run block (a line of its own or after a command) asserts that TEXT
  appears in that block's output (stdout and stderr; runs of blanks count as one); after a
  console expression whose value is not None, TEXT must be that value's echo, all of it.

`Walkthrough` runs pages in a sandbox: a folder whose entries link to the repository's (sources,
compiled contracts, .venv, node_modules, configs), with its own `deployments/` (holding a link to
`deployments/config`), so the manifest, keeper state and files a page writes never touch the
checkout. `APE_FOUNDRY_HOST` names the test's node, and `APE_DATA_FOLDER` a scratch Ape data folder
(keystores a page creates never reach ~/.ape).
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import os
import re
import select
import subprocess
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from tests.cli_forkserver import ForkServer

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCS = REPO_ROOT / "docs"

# The order pages run in, on one node with one deploy (the deployer page's).
ORDER = (
    "deployer", "dao-member", "guardian", "depositor", "borrower", "keeper-operator",
    "agent-operator", "performance", "security",
)  # fmt: skip

NOT_RUN = re.compile(r"^<!--\s*not run:\s*(?P<reason>.*?)\s*-->$")
CONSOLE = "<!-- console -->"
EXPECT = re.compile(r"#\s*->\s*(?P<text>.+?)\s*$")
FENCE = re.compile(r"^(?P<fence>```+|~~~+)\s*(?P<lang>[\w+-]*)")
# What the repository's entries are in the sandbox: everything is a link except these, which a
# walkthrough writes (the manifest, keeper state, rationales, charts, logs).
OWN = {"deployments", ".keeper", "out", "rationales", ".git", "keeper.yaml", "anvil.log",
       ".silverback-sessions", ".pytest_cache", ".hypothesis", ".ruff_cache"}  # fmt: skip
TAIL = 40  # output lines shown when a block fails


@dataclass(frozen=True)
class Block:
    page: str  # docs/<page>.md
    line: int  # the line of its first code line (1-based)
    kind: str  # "sh", "console" or "skip"
    code: str
    reason: str = ""  # why a "skip" block is not run

    @property
    def expects(self) -> list[str]:
        return [m.group("text") for m in map(EXPECT.search, self.code.splitlines()) if m]

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def parse(path: Path) -> list[Block]:
    """The run and not-run blocks of a page, in order (fences that are only shown are left out)."""
    lines = path.read_text().splitlines()
    page = f"docs/{path.name}"
    blocks: list[Block] = []
    markers: list[str] = []  # the comment lines right above the current line
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        m = FENCE.match(stripped)
        if not m:
            markers = markers + [stripped] if stripped.startswith("<!--") else []
            i += 1
            continue
        fence, lang = m.group("fence"), m.group("lang")
        end = i + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            end += 1
        if end == len(lines):
            raise ValueError(f"{page}:{i + 1}: the fence opened here is never closed")
        code = "\n".join(lines[i + 1 : end]) + "\n"
        reason = next((n.group("reason") for n in map(NOT_RUN.match, markers) if n), None)
        console = lang == "python" and CONSOLE in markers
        kind = "sh" if lang == "sh" else "console" if console else ""
        if kind and reason is not None:
            blocks.append(Block(page, i + 2, "skip", code, reason))
        elif kind:
            blocks.append(Block(page, i + 2, kind, code))
        elif reason is not None:
            raise ValueError(f"{page}:{i + 1}: `not run` marks a ```{lang} block, which never runs")
        markers = []
        i = end + 1
    return blocks


def squeeze(text: str) -> str:
    return re.sub(r"[ \t]+", " ", text)


def missing_expectations(block: Block, output: str) -> list[str]:
    out = squeeze(output)
    return [e for e in block.expects if squeeze(e) not in out]


class BlockFailed(AssertionError):
    def __init__(self, block: Block, problem: str, output: str):
        tail = "\n".join(output.rstrip().splitlines()[-TAIL:])
        super().__init__(f"{block.where}: {problem}\n--- output (last {TAIL} lines) ---\n{tail}")


# Bash's own variables, which a later block must not be handed back.
_SPECIAL = ("BASH*|FUNCNAME|GROUPS|PPID|UID|EUID|SHELLOPTS|LINENO|RANDOM|SRANDOM|SECONDS|EPOCH*|"
            "HISTCMD|PIPESTATUS|SHLVL|PWD|OLDPWD|_|DIRSTACK|COMP_*|OPTIND|OPTARG|OPTERR|IFS|PS?|"
            "__ballast_n|HOSTNAME|HOSTTYPE|MACHTYPE|OSTYPE|COLUMNS|LINES")  # fmt: skip
_SH_PRELUDE = f"""__ballast_state() {{
  local __ballast_n
  for __ballast_n in $(compgen -v); do
    case $__ballast_n in {_SPECIAL}) ;; *) declare -p "$__ballast_n" ;; esac
  done
}}
cd "$1"
if [ -f "$2" ]; then source "$2"; fi
"""


@dataclass
class Walkthrough:
    """Runs blocks of pages in one sandbox against one node."""

    sandbox: Path
    node: str  # the node's URL, exported as APE_FOUNDRY_HOST
    timeout: float = 600.0
    env: dict[str, str] = field(default_factory=dict)
    forkserver: ForkServer | None = None
    _consoles: dict[str, Console] = field(default_factory=dict)

    @classmethod
    def create(cls, sandbox: Path, node: str, **kw) -> Walkthrough:
        sandbox.mkdir(parents=True, exist_ok=True)
        for entry in REPO_ROOT.iterdir():
            if entry.name not in OWN and not (sandbox / entry.name).exists():
                (sandbox / entry.name).symlink_to(entry)
        (sandbox / "deployments").mkdir(exist_ok=True)
        (sandbox / "deployments" / "config").symlink_to(REPO_ROOT / "deployments" / "config")
        (sandbox / ".ape-data").mkdir(exist_ok=True)
        (sandbox / ".state").mkdir(exist_ok=True)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("BALLAST_", "SILVERBACK_", "APE_ACCOUNTS_"))}  # fmt: skip
        env |= {"APE_FOUNDRY_HOST": node, "APE_DATA_FOLDER": str(sandbox / ".ape-data"),
                "NO_COLOR": "1", "COLUMNS": "200", "TERM": "dumb",
                "PYTHONUNBUFFERED": "1"}  # fmt: skip
        # `ape` and `ballast-keeper` forked from a server that has their modules imported
        # (tests/cli_forkserver.py): the same commands, arguments, environment and folder
        forkserver = ForkServer.start(sandbox / ".forkserver", env)
        return cls(sandbox, node, env=forkserver.env(env), forkserver=forkserver, **kw)

    def run(self, block: Block) -> str:
        """Runs one block; its output, or BlockFailed naming the page and line."""
        if block.kind == "sh":
            return self._sh(block)
        if block.kind == "console":
            return self._console(block)
        raise ValueError(f"{block.where}: a {block.kind} block is not run")

    def _sh(self, block: Block) -> str:
        state = self.sandbox / ".state" / f"{Path(block.page).stem}.sh"
        script = self.sandbox / ".state" / "block.sh"
        script.write_text(_SH_PRELUDE + block.code + '\n__ballast_state > "$2"\n')
        try:
            done = subprocess.run(
                ["bash", "-e", str(script), str(self.sandbox), str(state)], env=self.env,
                cwd=self.sandbox, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, text=True, timeout=self.timeout, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode() if isinstance(e.stdout, bytes) else e.stdout or ""
            raise BlockFailed(block, f"still running after {self.timeout:.0f} s", out) from None
        if done.returncode != 0:
            raise BlockFailed(block, f"exit status {done.returncode}", done.stdout)
        return self._check(block, done.stdout)

    def _console(self, block: Block) -> str:
        console = self._consoles.get(block.page)
        if console is None:
            program = [sys.executable, "-m", "tests.docs.walkthrough", "serve"]
            if self.forkserver is not None:
                program = [str(self.forkserver.bin_dir / "walkthrough-console")]
            console = Console(self.sandbox, self.env, self.timeout, program)
            self._consoles[block.page] = console
        ok, output = console.send(block)
        if not ok:
            raise BlockFailed(block, "the console session raised", output)
        return self._check(block, output)

    def _check(self, block: Block, output: str) -> str:
        missing = missing_expectations(block, output)
        if missing:
            raise BlockFailed(block, f"expected output missing: {missing}", output)
        return output

    def close(self) -> None:
        for console in self._consoles.values():
            console.close()
        self._consoles.clear()
        if self.forkserver is not None:
            self.forkserver.stop()


class Console:
    """One `ape console`-like session: a subprocess (this module's `serve`, `python -m
    tests.docs.walkthrough serve` or forked from the walkthrough's CLI fork server) on the node."""

    def __init__(self, sandbox: Path, env: dict[str, str], timeout: float, program: list[str]):
        self.timeout = timeout
        self.log = open(sandbox / ".state" / f"console-{os.getpid()}-{id(self)}.log", "w+")  # noqa: SIM115
        self.process = subprocess.Popen(
            program, cwd=sandbox, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True,
        )  # fmt: skip

    def send(self, block: Block) -> tuple[bool, str]:
        assert self.process.stdin and self.process.stdout
        request = {"code": block.code, "page": block.page, "line": block.line}
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            pass
        # One answer line per request, so nothing waits in the reader's buffer: select works.
        ready, _, _ = select.select([self.process.stdout], [], [], self.timeout)
        answer = self.process.stdout.readline() if ready else ""
        if not answer:
            self.process.kill()
            self.log.seek(0)
            why = "ended" if ready else f"still running after {self.timeout:.0f} s"
            return False, f"the console session {why}:\n" + self.log.read()
        reply = json.loads(answer)
        return reply["ok"], reply["output"]

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin
            self.process.stdin.close()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def execute(code: str, namespace: dict, filename: str, first_line: int) -> None:
    """Runs `code` statement by statement, printing each expression statement's value that is not
    None (as a console prompt does)."""
    tree = ast.parse(code, filename)
    ast.increment_lineno(tree, first_line - 1)
    lines = code.splitlines()
    for stmt in tree.body:
        if isinstance(stmt, ast.Expr):
            value = eval(compile(ast.Expression(stmt.value), filename, "eval"), namespace)
            if value is not None:
                print(repr(value))
                # `expr  # -> TEXT`: TEXT is the value echoed for that line, all of it (not a
                # substring of the block's output, which `10000` of 10000000000000000 passes)
                last = lines[(stmt.end_lineno or stmt.lineno) - first_line]
                said = EXPECT.search(last)
                if said and squeeze(repr(value)) != squeeze(said.group("text")):
                    raise AssertionError(
                        f"{filename}:{stmt.lineno}: the value is {value!r}, the page says "
                        f"{said.group('text')}"
                    )
        else:
            exec(compile(ast.Module([stmt], type_ignores=[]), filename, "exec"), namespace)


def serve() -> int:
    """The console subprocess: connects to the node APE_FOUNDRY_HOST names, then runs each block
    it reads (one JSON request a line on stdin) and answers one JSON line on stdout."""
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    # anything printed outside a block goes to the log, not the channel: print()'s and fd 1's
    # (a stream a module bound before, as Ape's trace printer binds sys.stdout when imported)
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    import ape
    from ape import Contract, accounts, chain, convert, networks, project

    with networks.parse_network_choice("ethereum:local:foundry"):
        namespace = {"ape": ape, "project": project, "accounts": accounts, "chain": chain,
                     "networks": networks, "Contract": Contract, "convert": convert}  # fmt: skip
        for request in sys.stdin:
            req = json.loads(request)
            buffer = io.StringIO()
            ok = True
            with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
                try:
                    execute(req["code"], namespace, req["page"], req["line"])
                except BaseException:  # noqa: BLE001 - reported to the test, which fails
                    ok = False
                    traceback.print_exc(file=buffer)
            channel.write(json.dumps({"ok": ok, "output": buffer.getvalue()}) + "\n")
            channel.flush()
    return 0


if __name__ == "__main__":
    if sys.argv[1:] != ["serve"]:
        sys.exit("usage: python -m tests.docs.walkthrough serve")
    sys.exit(serve())
