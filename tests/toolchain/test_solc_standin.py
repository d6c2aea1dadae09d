"""The solc stand-in (tools/bin/solc-v0.8.28 → tools/solc/solc.js) behaves like native solc."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

SOLC = REPO_ROOT / "tools" / "bin" / "solc-v0.8.28"
OZ_REMAP = "@openzeppelin/contracts/=node_modules/@openzeppelin/contracts/"

TOKEN_SOURCE = """// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
contract Token is ERC20, ERC20Permit {
    constructor() ERC20("T", "T") ERC20Permit("T") {}
}
"""


def standard_json(sources: dict[str, str], selection: list[str], remap: bool = True) -> str:
    return json.dumps(
        {
            "language": "Solidity",
            "sources": {name: {"content": body} for name, body in sources.items()},
            "settings": {
                "remappings": [OZ_REMAP] if remap else [],
                "optimizer": {"enabled": False},
                "evmVersion": "cancun",
                "outputSelection": {"*": {"*": selection}},
            },
        }
    )


def run_solc(*args: str, stdin: str | None = None, cwd: Path = REPO_ROOT):
    return subprocess.run(
        [str(SOLC), *args], input=stdin, capture_output=True, text=True, cwd=cwd, timeout=300
    )


def errors_of(output: dict) -> list[dict]:
    return [e for e in output.get("errors", []) if e["severity"] == "error"]


def test_version_prints_solcs_two_line_format():
    result = run_solc("--version")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "solc, the solidity compiler commandline interface"
    assert lines[1].startswith("Version: 0.8.28+commit.7893614a")


def test_contract_importing_openzeppelin_compiles():
    source = standard_json({"contracts/Token.sol": TOKEN_SOURCE}, ["abi", "evm.bytecode.object"])
    result = run_solc("--standard-json", "--base-path", str(REPO_ROOT), stdin=source)
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)  # stdout holds the JSON and nothing else
    assert errors_of(output) == []
    token = output["contracts"]["contracts/Token.sol"]["Token"]
    assert {item.get("name") for item in token["abi"]} >= {"transfer", "permit", "nonces"}
    assert len(token["evm"]["bytecode"]["object"]) > 1000
    assert "node_modules/@openzeppelin/contracts/token/ERC20/ERC20.sol" in output["sources"]


def test_output_larger_than_64_kib_arrives_whole():
    selection = ["abi", "metadata", "storageLayout", "evm.bytecode", "evm.deployedBytecode"]
    source = standard_json({"contracts/Token.sol": TOKEN_SOURCE}, selection)
    result = run_solc("--standard-json", "--base-path", str(REPO_ROOT), stdin=source)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.encode()) > 4 * 65_536
    output = json.loads(result.stdout)
    assert errors_of(output) == []
    assert "Token" in output["contracts"]["contracts/Token.sol"]


def test_large_input_from_a_nonblocking_pipe_is_read_whole():
    """A slow writer on a non-blocking pipe makes naive reads fail with EAGAIN."""
    padding = "// " + "x" * 1_000 + "\n"
    source = TOKEN_SOURCE + padding * 400  # ~400 KB of input
    payload = standard_json({"contracts/Token.sol": source}, ["abi"]).encode()
    read_end, write_end = os.pipe()
    flags = fcntl.fcntl(read_end, fcntl.F_GETFL)
    fcntl.fcntl(read_end, fcntl.F_SETFL, flags | os.O_NONBLOCK)

    def slow_writer():
        with os.fdopen(write_end, "wb") as pipe:
            for start in range(0, len(payload), 32_768):
                pipe.write(payload[start : start + 32_768])
                pipe.flush()
                time.sleep(0.02)

    writer = threading.Thread(target=slow_writer)
    writer.start()
    try:
        result = subprocess.run(
            [str(SOLC), "--standard-json", "--base-path", str(REPO_ROOT)],
            stdin=read_end,
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            timeout=300,
        )
    finally:
        os.close(read_end)
        writer.join()
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert errors_of(output) == []
    assert "Token" in output["contracts"]["contracts/Token.sol"]


def test_syntax_error_comes_back_as_solc_error_json():
    source = standard_json(
        {"contracts/Broken.sol": "pragma solidity ^0.8.24;\ncontract B {"}, ["abi"]
    )
    result = run_solc("--standard-json", "--base-path", str(REPO_ROOT), stdin=source)
    assert result.returncode == 0  # like native solc: compile errors live in the JSON
    errors = errors_of(json.loads(result.stdout))
    assert errors and errors[0]["type"] == "ParserError"
    assert errors[0]["sourceLocation"]["file"] == "contracts/Broken.sol"


def test_imports_resolve_through_include_paths_only_inside_allowed_dirs(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "Lib.sol").write_text(
        "pragma solidity ^0.8.24;\n"
        "library L { function one() internal pure returns (uint) { return 1; } }\n"
    )
    main = (
        'pragma solidity ^0.8.24;\nimport {L} from "Lib.sol";\n'
        "contract M { function f() external pure returns (uint) { return L.one(); } }\n"
    )
    source = standard_json({"M.sol": main}, ["abi"], remap=False)

    found = run_solc(
        "--standard-json", "--base-path", str(REPO_ROOT), "--include-path", str(lib), stdin=source
    )
    assert errors_of(json.loads(found.stdout)) == []

    missing = run_solc("--standard-json", "--base-path", str(REPO_ROOT), stdin=source)
    assert "File not found: Lib.sol" in errors_of(json.loads(missing.stdout))[0]["message"]

    absolute = main.replace('"Lib.sol"', json.dumps(str(lib / "Lib.sol")))
    outside = standard_json({"M.sol": absolute}, ["abi"], remap=False)
    denied = run_solc("--standard-json", "--base-path", str(REPO_ROOT), stdin=outside)
    assert "outside of allowed directories" in errors_of(json.loads(denied.stdout))[0]["message"]
    allowed = run_solc(
        "--standard-json", "--base-path", str(REPO_ROOT), "--allow-paths", str(lib), stdin=outside
    )
    assert errors_of(json.loads(allowed.stdout)) == []


def test_input_file_argument_is_read(tmp_path):
    path = tmp_path / "input.json"
    path.write_text(standard_json({"contracts/Token.sol": TOKEN_SOURCE}, ["abi"]))
    result = run_solc("--standard-json", str(path), "--base-path", str(REPO_ROOT))
    assert result.returncode == 0
    assert "Token" in json.loads(result.stdout)["contracts"]["contracts/Token.sol"]


@pytest.mark.parametrize(
    ("args", "stdin", "code", "message"),
    [
        (["--bin", "x.sol"], None, 2, "unsupported option --bin"),
        ([], None, 2, "nothing to do"),
        (["--standard-json", "--base-path"], None, 2, "--base-path needs a value"),
        (["--standard-json"], "", 1, "empty standard-json input"),
        (["--standard-json", "/does/not/exist.json"], None, 1, "ENOENT"),
    ],
)
def test_internal_failures_exit_nonzero_with_one_message_on_stderr(args, stdin, code, message):
    result = run_solc(*args, stdin=stdin)
    assert result.returncode == code
    assert result.stdout == ""
    assert result.stderr.startswith("solc stand-in: ")
    assert message in result.stderr


def test_syntax_error_is_a_clear_ape_compile_error(tmp_path):
    """What a user sees from `ape compile` when a contract does not parse."""
    shutil.copy(REPO_ROOT / "ape-config.yaml", tmp_path / "ape-config.yaml")
    (tmp_path / "node_modules").symlink_to(REPO_ROOT / "node_modules")
    (tmp_path / "contracts").mkdir()
    (tmp_path / "contracts" / "Broken.sol").write_text(
        "// SPDX-License-Identifier: MIT\npragma solidity ^0.8.24;\ncontract Broken {\n"
    )
    env = {**os.environ, "NO_COLOR": "1"}
    result = subprocess.run(
        ["ape", "compile"], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "SolcCompileError" in out
    assert "ParserError" in out
    assert "contracts/Broken.sol" in out


def test_inputs_far_above_solcjs_stack_compile_by_reference():
    """solc-js copies its whole input onto a 5 MiB wasm stack: inline sources near 1.3 MB crashed
    it.

    The stand-in hands every inline source to the compiler through its import callback, so a
    2 MB project (sources importing each other and OpenZeppelin) compiles, and diagnostics still
    name the sources by their own unit names.
    """
    padding = ("// " + "z" * 1_000 + "\n") * 500  # ~0.5 MB per file
    library = (
        "// SPDX-License-Identifier: MIT\npragma solidity ^0.8.24;\n"
        "library Twice { function times(uint256 x) internal pure returns (uint256) "
        "{ return 2 * x; } }\n"
    )
    user = (
        "// SPDX-License-Identifier: MIT\npragma solidity ^0.8.24;\n"
        'import {Twice} from "contracts/Twice.sol";\n'
        "contract User { function f(uint256 x) external pure returns (uint256) "
        "{ return Twice.times(x); } }\n"
    )
    broken = (
        "// SPDX-License-Identifier: MIT\npragma solidity ^0.8.24;\n"
        "contract Broken { function g() external { undefinedName(); } }\n"
    )
    sources = {
        "contracts/Token.sol": TOKEN_SOURCE + padding,
        "contracts/Twice.sol": library + padding,
        "contracts/User.sol": user + padding,
        "contracts/Other.sol": library.replace("Twice", "Other") + padding,
    }
    payload = standard_json(sources, ["abi", "evm.bytecode.object"])
    assert len(payload) > 2_000_000
    result = run_solc("--standard-json", "--base-path", str(REPO_ROOT), stdin=payload)
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert errors_of(output) == []
    assert set(output["sources"]) >= set(sources)
    assert len(output["contracts"]["contracts/User.sol"]["User"]["evm"]["bytecode"]["object"]) > 100

    sources["contracts/Other.sol"] = broken + padding
    result = run_solc(
        "--standard-json", "--base-path", str(REPO_ROOT), stdin=standard_json(sources, ["abi"])
    )
    assert result.returncode == 0, result.stderr
    errors = errors_of(json.loads(result.stdout))
    assert [e["sourceLocation"]["file"] for e in errors] == ["contracts/Other.sol"]
    assert errors[0]["message"] == "Undeclared identifier."
