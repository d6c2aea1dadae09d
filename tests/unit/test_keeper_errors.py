"""keepers.errors: revert data in words, without a chain."""

from __future__ import annotations

from eth_abi import encode
from eth_utils import keccak

from keepers.errors import ERROR_STRING, PANIC, SENTENCES, ErrorDecoder, revert_data_in


class _Input:
    def __init__(self, name: str, canonical_type: str) -> None:
        self.name, self.canonical_type = name, canonical_type


class _ErrorAbi:
    def __init__(self, name: str, inputs: list[_Input]) -> None:
        self.name, self.inputs = name, inputs
        self.selector = f"{name}({','.join(i.canonical_type for i in inputs)})"


class _ContractType:
    errors = [_ErrorAbi("VetoWindowOver", [_Input("slashId", "uint256"), _Input("at", "uint256")])]


def test_error_string_panic_and_custom_errors_read_in_words():
    decoder = ErrorDecoder(_ContractType())
    assert decoder.decode(ERROR_STRING + encode(["string"], ["too late"])) == ("Error", "too late")
    assert decoder.decode(PANIC + encode(["uint256"], [0x11])) == ("Panic", "Panic(0x11)")
    selector = keccak(text="VetoWindowOver(uint256,uint256)")[:4]
    data = selector + encode(["uint256", "uint256"], [7, 1_700_000_000])
    assert decoder.decode(data) == ("VetoWindowOver", "VetoWindowOver(slashId=7, at=1700000000)")


def test_unknown_empty_and_malformed_data_never_raise():
    decoder = ErrorDecoder()
    assert decoder.decode(b"") == (None, "reverted without data")
    assert decoder.decode(bytes.fromhex("deadbeef")) == (None, "0xdeadbeef")
    # A known selector with a body too short to decode falls back to the raw bytes.
    assert decoder.decode(ERROR_STRING + b"\x01") == (None, "0x" + (ERROR_STRING + b"\x01").hex())


class _VaultType:
    errors = [_ErrorAbi("PreviewUnavailable", [])]


def test_a_call_message_gives_up_its_custom_error_and_a_known_one_is_a_sentence():
    # anvil words a call's custom error so, and Ape passes the message on unnamed
    data = revert_data_in("custom error 0x7dc53e1c")
    assert data == keccak(text="PreviewUnavailable()")[:4]
    assert revert_data_in("execution reverted") is None
    assert revert_data_in("custom error 0x7dc") is None  # not a whole selector
    words = ErrorDecoder(_VaultType()).in_words(data)
    assert words == f"PreviewUnavailable: {SENTENCES['PreviewUnavailable']}"
    assert "future strike" in words
    assert ErrorDecoder().in_words(data) == "0x7dc53e1c"  # an unknown contract: the raw data


def test_a_call_messages_arguments_are_kept_with_its_selector():
    # anvil words a custom error with arguments so: "custom error 0x<selector>: <arguments>"
    selector = keccak(text="VetoWindowOver(uint256,uint256)")[:4]
    body = encode(["uint256", "uint256"], [7, 1_700_000_000])
    data = revert_data_in(f"custom error 0x{selector.hex()}: {body.hex()}")
    assert data == selector + body
    words = ErrorDecoder(_ContractType()).in_words(data)
    assert words == "VetoWindowOver(slashId=7, at=1700000000)"
    assert revert_data_in(f"custom error 0x{selector.hex()}: 0x12") == selector  # not hex words
