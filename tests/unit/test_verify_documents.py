"""Where `verify-decision` reads a decision's document from (`keepers.verify.find_document`): the
keeper's store, `<rebalancer.rationale_dir>/<hash>.json`, or a `file://` URI. The URI is the
agent's word (the `Rebalanced` event's `rationaleURI`, any string it chose), and the verifier is
anyone: found in an outside review (branch `verify9`), a URI naming any local file had it opened,
read whole and hashed (`file:///etc/shadow`; a file of gigabytes; `/proc/kmsg`, which blocks), and
a URI that is no path (`file://[x`) or a name too long for the file system ended the command in a
traceback. A `file://` URI is now followed only into the rationale folder, and only a regular file
of at most `MAX_DOCUMENT_BYTES` is read. The same review: a URI that is not UTF-8, and a document
nested deeper than the JSON decoder walks, ended the command in a traceback too."""

from __future__ import annotations

import os

import pytest

from keepers import verify
from keepers.strategy.rationale import MAX_DOCUMENT_BYTES
from keepers.verify import DocumentRefused, find_document, verify_decision

DIGEST = "0x" + "22" * 32
AGENT = "0x" + "11" * 20
OUTSIDE = ("its file:// URI names a local file outside rebalancer.rationale_dir: not read (a "
           "file:// URI is followed only into that folder)")  # fmt: skip


def _checked(monkeypatch, uri: str, folder=None):
    """`verify_decision` of a decision whose event carries `DIGEST` and `uri`."""
    monkeypatch.setattr(verify, "onchain_rationale",
                        lambda *args: (AGENT, DIGEST, uri, 20, "0x" + "ab" * 32))  # fmt: skip
    return verify_decision(None, 0, None, folder)


def test_a_file_uri_outside_the_rationale_folder_is_never_read(tmp_path, monkeypatch):
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"root:$6$hash:19000:0:99999:7:::\n")
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "link.json").symlink_to(secret)  # inside by name, outside once resolved
    for uri in (f"file://{secret}", f"file://{folder}/link.json", f"file://{folder}/../secret.txt"):
        for rationale_dir in (None, folder):
            with pytest.raises(DocumentRefused) as refused:  # was: (its bytes, uri)
                find_document(DIGEST, uri, None, rationale_dir)
            assert str(refused.value) == OUTSIDE
    checked = _checked(monkeypatch, f"file://{secret}", folder)
    assert not checked.ok and checked.source is None and checked.computed_hash is None
    assert checked.verdict == f"no document with hash {DIGEST} read: {OUTSIDE}"

    # Control: a document published into the folder under another name is followed there.
    (folder / "published.json").write_bytes(b"{}")
    found = find_document(DIGEST, f"file://{folder}/published.json", None, folder)
    assert found == (b"{}", f"file://{folder}/published.json")


@pytest.mark.parametrize(
    "uri",
    ["file://[x/receipt.json", "file:///" + "a" * 300 + "/receipt.json", "file:///a\x00b"],
    ids=["unbalanced-host", "name-too-long", "nul"],
)
def test_a_uri_that_names_no_readable_path_is_one_verdict_not_a_traceback(uri, monkeypatch,
                                                                          tmp_path):  # fmt: skip
    """Was: `ValueError: Invalid IPv6 URL` (urlparse) and `OSError: [Errno 36] File name too
    long` (the `is_file` check) out of `verify-decision`, exit 1 with a traceback."""
    for folder in (None, tmp_path):
        checked = _checked(monkeypatch, uri, folder)
        assert not checked.ok and checked.source is None
        assert "\n" not in checked.verdict


def test_only_a_regular_file_within_the_size_limit_is_read(tmp_path, monkeypatch):
    """A document in the rationale folder is the agent's too (a verifier downloads it): one
    larger than `MAX_DOCUMENT_BYTES` is refused before it is read (was: read whole, however
    large), a FIFO or a device is never opened for reading (it would block)."""
    folder = tmp_path / "docs"
    folder.mkdir()
    large = folder / f"{DIGEST}.json"
    with large.open("wb") as f:  # sparse: no disk, no time
        f.truncate(MAX_DOCUMENT_BYTES + 1)
    with pytest.raises(DocumentRefused) as refused:
        find_document(DIGEST, "", None, folder)
    assert str(refused.value) == (f"{large} is larger than {MAX_DOCUMENT_BYTES:,} bytes, the most "
                                  "a rationale document may be: not read")  # fmt: skip
    assert not _checked(monkeypatch, "", folder).ok
    large.unlink()
    os.mkfifo(folder / "pipe.json")
    with pytest.raises(DocumentRefused, match="is not a regular file: not read"):
        find_document(DIGEST, f"file://{folder}/pipe.json", None, folder)
    (folder / "zero.json").symlink_to("/dev/zero")  # resolves outside the folder
    with pytest.raises(DocumentRefused, match="outside rebalancer.rationale_dir"):
        find_document(DIGEST, f"file://{folder}/zero.json", None, folder)
    with large.open("wb") as f:  # at the limit: read
        f.truncate(MAX_DOCUMENT_BYTES)
    body, _ = find_document(DIGEST, "", None, folder)
    assert len(body) == MAX_DOCUMENT_BYTES


def test_a_uri_that_is_not_utf8_is_read_not_a_traceback():
    """The URI is the agent's calldata, which Solidity's `string` does not check: a `Rebalanced`
    event whose URI is not UTF-8 ended `verify-decision` in a `UnicodeDecodeError` (was)."""
    from eth_abi import encode

    from keepers.verify import REBALANCED_TOPIC, decode_rebalanced

    kinds = ["uint16[]", "uint16[]", "uint256", "uint256", "bytes32", "bytes"]
    uri = b"ipfs://\xff\xfe\x1b"
    data = encode(kinds, [[0, 0], [1_000, 0], 10**12, 10**12, b"\x22" * 32, uri])
    entry = {"topics": [bytes.fromhex(REBALANCED_TOPIC[2:]), (7).to_bytes(32, "big"),
                        bytes(12) + bytes.fromhex("11" * 20)], "data": data}  # fmt: skip
    decision, agent, digest, uri = decode_rebalanced(entry)
    assert (decision, agent.lower(), digest) == (7, AGENT, b"\x22" * 32)
    assert uri == "ipfs://\ufffd\ufffd\x1b"


def test_a_document_nested_beyond_the_decoder_is_not_canonical_not_a_traceback(
    tmp_path, monkeypatch
):
    """An agent publishes, under its decision's hash, a document nested 5,000 deep: the hash
    matched and the canonical check raised `RecursionError` out of `verify-decision` (was)."""
    from keepers.strategy.rationale import rationale_hash

    body = b"[" * 5_000 + b"]" * 5_000
    digest = "0x" + rationale_hash(body).hex()
    (tmp_path / f"{digest}.json").write_bytes(body)
    monkeypatch.setattr(verify, "onchain_rationale",
                        lambda *args: (AGENT, digest, "", 20, "0x" + "ab" * 32))  # fmt: skip
    checked = verify_decision(None, 0, None, tmp_path)
    assert checked.computed_hash == digest and not checked.canonical and not checked.ok
    assert checked.verdict.endswith("has the right hash but is not canonical JSON")
