"""`keepers.tx_rules.node_failure`: which errors answering a call or a gas estimate are the node
failing (a node error that fails the pass) and which are the EVM refusing the call (a refusal of
the action) — measured answers of anvil and of providers' rate limits."""

from __future__ import annotations

import pytest

from keepers.outcomes import RpcError
from keepers.tx_rules import node_failure


@pytest.mark.parametrize(
    ("error", "failure"),
    [
        # anvil's refusals of the EVM (measured: eth_call / eth_estimateGas)
        (RpcError("execution reverted", b"", 3), False),
        (RpcError("execution reverted: custom error", b"\x12\x34\x56\x78", 3), False),
        (RpcError("EVM error InvalidFEOpcode", b"", -32603), False),
        (RpcError("EVM error OutOfGas", b"", -32603), False),
        (RpcError("gas required exceeds allowance (30000000)", b"", -32000), False),
        (RpcError("insufficient funds for gas * price + value", b"", -32003), False),
        (RpcError("injected fault: eth_call failed", b"", -32603), False),  # unknown: as before
        # the node or its provider not running the call
        (RpcError("daily request count exceeded, request rate limited", b"", -32005), True),
        (RpcError("Too Many Requests", b"", 429), True),
        (RpcError("the method eth_call does not exist/is not available", b"", -32601), True),
        (RpcError("request timed out", b"", -32603), True),
        (RpcError("header not found", b"", -32000), True),
        (RpcError("upstream unavailable", b""), True),
        (RpcError("Internal error", b"", -32603), True),  # JSON-RPC's generic backend failure
    ],
)
def test_node_failure_tells_the_node_failing_from_the_evm_refusing(error, failure):
    assert node_failure(error) is failure
