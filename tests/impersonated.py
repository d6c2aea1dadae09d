"""Many transactions from anvil-impersonated accounts in a few JSON-RPC batches.

Setting up hundreds of fresh accounts one request at a time (fund, impersonate, send, await the
receipt, stop impersonating: five round trips an account) spent most of some tests' time on HTTP
round trips, not on the chain. Here every step is one batch for all the accounts (in chunks of
`CHUNK` requests): the node does the same work, and every transaction is still a real one from
its own address, mined, its receipt read and its status checked.

A batch's requests may be handled concurrently by the node, so each transaction carries its
nonce (the sender's pending count plus its place among that sender's transactions here): a
sender's transactions are mined in the order given whatever order they arrive in.
"""

from __future__ import annotations

import time
from typing import Any

from eth_utils import to_checksum_address

CHUNK = 400  # requests a batch: well under any body limit of the node
RECEIPT_TIMEOUT = 120.0


def batch(web3: Any, calls: list[tuple[str, list[Any]]]) -> list[Any]:
    """The results of `calls`, in order; any error raises."""
    results: list[Any] = []
    for start in range(0, len(calls), CHUNK):
        part = calls[start : start + CHUNK]
        replies = web3.provider.make_batch_request(part)
        if isinstance(replies, dict):  # the whole batch refused
            raise AssertionError(f"batch of {len(part)} {part[0][0]}...: {replies}")
        for (method, params), reply in zip(part, replies, strict=True):
            if reply.get("error"):
                raise AssertionError(f"{method}{params}: {reply['error']}")
            results.append(reply.get("result"))
    return results


def impersonate(web3: Any, addresses: list[str], balance: int) -> None:
    """Each of `addresses` given `balance` wei and impersonated (the node signs for it)."""
    batch(web3, [("anvil_setBalance", [a, hex(balance)]) for a in addresses])
    batch(web3, [("anvil_impersonateAccount", [a]) for a in addresses])


def stop_impersonating(web3: Any, addresses: list[str]) -> None:
    batch(web3, [("anvil_stopImpersonatingAccount", [a]) for a in addresses])


def read_all(web3: Any, calls: list[tuple[str, bytes]]) -> list[bytes]:
    """What each (to, data) `eth_call` of `calls` returns at the latest block, in order."""
    replies = batch(web3, [
        ("eth_call", [{"to": str(to), "data": "0x" + bytes(data).hex()}, "latest"])
        for to, data in calls
    ])  # fmt: skip
    return [bytes.fromhex(r.removeprefix("0x")) for r in replies]


def send_all(web3: Any, txs: list[tuple[str, str, bytes, int]]) -> list[dict[str, Any]]:
    """Each (sender, to, data, gas) of `txs` sent from its (impersonated) sender, a sender's in
    the order given; their receipts, in order, each checked to have succeeded.

    Sent in rounds whose gas limits add up to a block's at most, each round's receipts awaited
    before the next: an automining anvil mines a block when a transaction arrives, and what did
    not fit in it waits in the pool until the next one arrives (a round of 1,700 approvals left
    1,501 unmined)."""
    (head,) = batch(web3, [("eth_getBlockByNumber", ["latest", False])])
    block_gas = int(head["gasLimit"], 16)
    senders = list(dict.fromkeys(to_checksum_address(s) for s, _, _, _ in txs))
    counts = batch(web3, [("eth_getTransactionCount", [s, "pending"]) for s in senders])
    nonce = {s: int(n, 16) for s, n in zip(senders, counts, strict=True)}
    rounds: list[list[tuple[str, list[Any]]]] = [[]]
    room = block_gas
    for sender, to, data, gas in txs:
        sender = to_checksum_address(sender)
        if gas > room:
            rounds.append([])
            room = block_gas
        room -= gas
        tx = {"from": sender, "to": str(to), "data": "0x" + bytes(data).hex(), "gas": hex(gas)}
        rounds[-1].append(("eth_sendTransaction", [{**tx, "nonce": hex(nonce[sender])}]))
        nonce[sender] += 1
    mined = [receipt for sends in rounds for receipt in _mined(web3, batch(web3, sends))]
    for (sender, to, data, _), receipt in zip(txs, mined, strict=True):
        assert int(receipt["status"], 16) == 1, (sender, to, bytes(data)[:4].hex(), receipt)
    return mined


def _mined(web3: Any, hashes: list[str]) -> list[dict[str, Any]]:
    """The receipts of `hashes`, in order, once all are mined."""
    receipts: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + RECEIPT_TIMEOUT
    while missing := [h for h in hashes if h not in receipts]:
        found = batch(web3, [("eth_getTransactionReceipt", [h]) for h in missing])
        receipts.update((h, r) for h, r in zip(missing, found, strict=True) if r is not None)
        if len(receipts) < len(hashes):
            assert time.monotonic() < deadline, f"{len(hashes) - len(receipts)} never mined"
            time.sleep(0.01)
    return [receipts[h] for h in hashes]
