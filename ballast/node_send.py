"""Transactions from an account the node signs for (anvil's unlocked or impersonated ones), sent
as they are: web3's `send_transaction` first asked the node its chain id (twice), its gas price
and its latest block, all of which anvil fills in itself (4 of 6 round trips). Used by the demo's
scripted actors and the tests' crowds of impersonated accounts."""

from __future__ import annotations

import time
from typing import Any

RECEIPT_TIMEOUT = 120.0  # seconds, web3's default wait for a receipt


class NodeSendError(RuntimeError):
    """The node refused the transaction, or gave no receipt in time; one line."""


def send_unlocked(
    web3: Any, sender: str, to: str, data: bytes, gas: int, timeout: float = RECEIPT_TIMEOUT
) -> dict[str, Any]:
    """`data` sent to `to` from `sender` with `gas`; its receipt as the node gives it (hex
    fields), reverted or not: the caller reads `status`."""

    def request(method: str, params: list[Any]) -> Any:
        reply = web3.provider.make_request(method, params)
        if reply.get("error"):
            raise NodeSendError(f"{method} from {sender}: {reply['error']}")
        return reply.get("result")

    tx = {"from": sender, "to": to, "data": "0x" + bytes(data).hex(), "gas": hex(gas)}
    tx_hash = request("eth_sendTransaction", [tx])
    deadline = time.monotonic() + timeout
    # automine: mined at once, its receipt there at once or a moment later
    while (receipt := request("eth_getTransactionReceipt", [tx_hash])) is None:
        if time.monotonic() > deadline:
            raise NodeSendError(f"no receipt of {tx_hash} from {sender} in {timeout:.0f} s")
        time.sleep(0.01)
    return receipt
