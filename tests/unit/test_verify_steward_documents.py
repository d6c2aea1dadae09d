"""`verify-steward` reads a batch's document as `verify-decision` does (found after the `verify9`
review of `verify-decision`, which named the same gaps here): the document is the steward key's
words, and the checker is anyone. A FIFO in the rationale folder or given as `--document` held the
command, a huge file was read whole, a document nested deeper than the JSON decoder walks ended
it in a RecursionError traceback, and its URI and document were printed raw to the terminal."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

from keepers.cli_common import Fail
from keepers.cli_verify import _Shown, _steward_document
from keepers.strategy.rationale import (
    MAX_DEPTH,
    MAX_DOCUMENT_BYTES,
    decode,
    is_canonical,
    nesting_within,
)

DIGEST = "0x" + "33" * 32


def _keeper(folder, stored: bytes | None = None):
    return SimpleNamespace(
        store=SimpleNamespace(rationale=lambda digest: stored),
        settings=SimpleNamespace(steward=SimpleNamespace(rationale_dir=folder)),
    )


def test_a_document_nested_beyond_the_decoder_is_a_value_error_not_a_crash():
    """100,000 deep: in a process that imported py_ecc (recursion limit 100,000) the C decoder
    overflowed the stack and the verifier died of a segmentation fault (this project's CI, an
    xdist worker). Nesting is now read before decoding: deeper than `MAX_DEPTH` is refused."""
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(ValueError, match=f"nested deeper than {MAX_DEPTH} levels"):
        decode(deep)
    assert not is_canonical(deep)
    assert not nesting_within(b'{"a":' * 101 + b"1" + b"}" * 101)
    at_limit = b'{"a":' * 100 + b"1" + b"}" * 100
    assert nesting_within(at_limit) and decode(at_limit)["a"]["a"]
    # brackets inside strings (escaped quotes too) are text, not nesting
    texty = b'{"s":"' + b'[\\"[' * 200 + b'"}'
    assert nesting_within(texty) and decode(texty)["s"].startswith('["[')


def test_only_a_regular_file_within_the_size_limit_is_read(tmp_path):
    folder = tmp_path / "steward"
    folder.mkdir()
    named = folder / f"{DIGEST}.json"
    named.write_bytes(b'{"version":1}')
    assert _steward_document(_keeper(folder), DIGEST, None) == b'{"version":1}'
    assert _steward_document(_keeper(folder, b"stored"), DIGEST, None) == b"stored"
    named.unlink()
    assert _steward_document(_keeper(folder), DIGEST, None) is None  # the caller says so

    os.mkfifo(named)  # a FIFO nobody writes: reading it would block for ever
    with pytest.raises(Fail, match="is not a regular file: not read"):
        _steward_document(_keeper(folder), DIGEST, None)
    with pytest.raises(Fail, match="is not a regular file: not read"):
        _steward_document(_keeper(None), DIGEST, named)

    big = tmp_path / "big.json"
    with big.open("wb") as f:
        f.truncate(MAX_DOCUMENT_BYTES + 1)
    with pytest.raises(Fail, match="larger than 16,777,216 bytes"):
        _steward_document(_keeper(None), DIGEST, big)
    with pytest.raises(Fail, match="no such file"):
        _steward_document(_keeper(None), DIGEST, tmp_path / "missing.json")


def test_every_line_it_prints_is_one_printable_line():
    printed: list[str] = []
    console = _Shown(SimpleNamespace(print=lambda text, **kw: printed.append(text)))
    console.print(
        "steward batch 0xab at block 7, uri ipfs://x\x1b[2J\n  verified: all", markup=False
    )
    assert printed == ["steward batch 0xab at block 7, uri ipfs://x\\x1b[2J\\n  verified: all"]
