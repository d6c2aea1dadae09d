"""A loaded machine's clock, on demand: `BALLAST_CLOCK_SKEW=1 ape test FILE -p tests.clock_skew`.

On a busy CI machine seconds pass between a test's transactions, and anvil stamps each block with
its wall clock (plus the offset `chain.pending_timestamp` / `evm_setNextBlockTimestamp` set). A
test that pins the next block's time and then asserts on a later transaction's time, or lets
such seconds add up against a bound, passes on an idle machine and fails under load (CI's
tests/vault/test_oracle_router.py failure, fixed in 611efba). With this plugin the node's clock
moves `BALLAST_CLOCK_SKEW` seconds before every transaction or mined block the test process
sends (`evm_increaseTime`): such a test fails every time. A pinned timestamp still holds for the
next block only, as on a slow machine. Opt-in, for hunting; never loaded by the suite.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

import web3.providers.rpc as rpc

# RPC methods that mine a block (automine mines one per transaction)
MINING = frozenset({"eth_sendRawTransaction", "eth_sendTransaction", "eth_sendTransactionSync",
                    "eth_sendRawTransactionSync", "evm_mine", "anvil_mine"})  # fmt: skip


def skewed(make_request: Callable[..., Any], seconds: int) -> Callable[..., Any]:
    """`make_request` that moves the node's clock `seconds` on before every mining request."""

    @functools.wraps(make_request)
    def request(self, method, params):
        if method in MINING:
            make_request(self, "evm_increaseTime", [seconds])
        return make_request(self, method, params)

    return request


SECONDS = int(os.environ.get("BALLAST_CLOCK_SKEW", "0"))
if SECONDS:
    rpc.HTTPProvider.make_request = skewed(rpc.HTTPProvider.make_request, SECONDS)
