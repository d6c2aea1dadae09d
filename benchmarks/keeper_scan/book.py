"""The lending book the keeper-scan benchmark measures, and borrowers opened in bulk.

The system is the keeper tests' one (`tests.lending_support.deploy_lending_system`: vault, three
RWA sleeves, the lending book with tbill, gold and invoices listed), funded by a depositor whose
vault deposit the allocator moves to the book. Every borrower is opened the way a real one is:
tbill bought at the issuer (by one funder, then transferred), approved, posted as collateral,
and a loan taken — real transactions, every receipt checked.

Speed comes from anvil, not from shortcuts in the contracts: borrowers are impersonated
(``anvil_impersonateAccount``), automine is off while the transactions of a phase are sent in
JSON-RPC batches with explicit nonces and gas, and the pool is then mined in a few large blocks
(the node's block gas limit is raised once, before anything is deployed, and stays raised:
Ape sizes its transactions to the limit it saw, so the limit must never go down under it; the
shock test reports the gas its blocks used instead).

Borrower ``i`` posts tbill bought with 10,000 and borrows ``5,000 + (i · 7,919 mod 3,000)``:
a deterministic spread of health from 1.70 down to 1.06 that is the same for every prefix of
the book, so 100, 1,000 and 10,000 borrowers are the same population at three sizes (the book
grows between sizes; nothing is redeployed). A 25 % tbill markdown makes every loan above 6,375
unhealthy: about 54 % of the book.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ape import accounts, project
from eth_utils import to_checksum_address

from benchmarks.keeper_scan.rpc import Node, RpcError
from keepers.protocol import Protocol
from tests.keeper_support import protocol_of
from tests.lending_support import LendingSystem, deploy_lending_system

USDC = 10**6
MAX_UINT = 2**256 - 1
COLLATERAL = "tbill"
COLLATERAL_VALUE = 10_000 * USDC  # bought at the issuer by each borrower
DEBT_LOW, DEBT_SPREAD, DEBT_STEP = 5_000, 3_000, 7_919  # debt_i = LOW + (i·STEP mod SPREAD)
BLOCK_GAS_LIMIT = 2**40  # the node's block gas limit for the whole run
DEFAULT_GAS_LIMIT = 30_000_000  # anvil's
POOL_CHUNK = 1_500  # transactions sent before the pool is mined empty
TX_GAS = 1_000_000  # explicit gas of each setup transaction (no estimate against the pool)
ADDRESS_BASE = 0x5CA7_0000


def debt_of(i: int) -> int:
    """The loan of borrower `i` (asset units)."""
    return (DEBT_LOW + (i * DEBT_STEP) % DEBT_SPREAD) * USDC


def borrower_address(i: int) -> str:
    return to_checksum_address(f"0x{ADDRESS_BASE + i:040x}")


@dataclass
class Bench:
    """The deployed book, the accounts around it and the borrowers opened so far."""

    lending: LendingSystem
    protocol: Protocol
    node: Node
    keeper: object  # the liquidator's account (a test account, unlocked in anvil)
    funder: object  # buys the borrowers' collateral
    borrowers: list[str] = field(default_factory=list)
    setup_seconds: dict[int, float] = field(default_factory=dict)  # size -> seconds to reach it


def deploy(max_borrowers: int) -> Bench:
    """The system, its book funded for `max_borrowers` loans and the keeper's repay inventory
    (every loan can be closed in full), approved to the book."""
    test = accounts.test_accounts
    governance, guardian, funder, allocator, depositor, keeper = (
        test[0], test[1], test[2], test[5], test[6], test[7]
    )  # fmt: skip
    node = Node()
    node.set_block_gas_limit(BLOCK_GAS_LIMIT)
    node.zero_base_fee()
    lending = deploy_lending_system(project, governance, guardian, allocator)
    # The shocks these benchmarks measure from (-25 %, -45 %) must count in the block they are
    # mined in: within oracle.maxDeviationBps, no confirmation to wait for (a liquidation counts
    # a fall beyond it only once confirmed, oracle.confirmDelay later). What is measured is the
    # keeper's pace from the block a fall counts.
    lending.set_param("oracle.maxDeviationBps", 5_000)
    lend_max = (DEBT_LOW + DEBT_SPREAD) * USDC * max_borrowers
    lending.supply(depositor, lend_max * 10 // 9 + 1_000_000 * USDC)  # the book gets 90 %
    _faucet_and_approve(node, lending, str(keeper.address), lend_max, str(lending.book.address))
    start_block = int(node.call("eth_blockNumber"), 16)
    return Bench(lending, protocol_of(lending, first_block=start_block), node, keeper, funder)


def release_block_gas_limit(node: Node) -> None:
    """Puts the node's block gas limit back to anvil's default and mines one block, so that
    Ape, which sizes transactions to the latest block's limit, sees it (for a shared node)."""
    node.set_block_gas_limit(DEFAULT_GAS_LIMIT)
    node.mine_one()


def _tx(sender: str, to: str, data: bytes | str, nonce: int) -> tuple[str, list]:
    payload = data if isinstance(data, str) else "0x" + bytes(data).hex()
    tx = {
        "from": sender,
        "to": to,
        "data": payload,
        "gas": hex(TX_GAS),
        "gasPrice": "0x0",
        "nonce": hex(nonce),
    }
    return "eth_sendTransaction", [tx]


def _nonce(node: Node, who: str) -> int:
    return int(node.call("eth_getTransactionCount", who, "pending"), 16)


def _send_phase(node: Node, txs: list[tuple[str, list]], what: str) -> None:
    """Sends `txs` with automine off, `POOL_CHUNK` at a time, mining the pool empty after each
    chunk (anvil's pool slows down sharply past a few thousand transactions), and checks every
    receipt (read a block at a time: per-transaction lookups in a large block are slow)."""
    for start in range(0, len(txs), POOL_CHUNK):
        chunk = txs[start : start + POOL_CHUNK]
        node.automine(False)
        try:
            hashes = node.batch(chunk)
            head = int(node.call("eth_blockNumber"), 16)
            mined = node.mine_until_empty()
        finally:
            node.automine(True)
        blocks = node.batch(
            [("eth_getBlockReceipts", [hex(n)]) for n in range(head + 1, head + mined + 1)]
        )
        status = {r["transactionHash"]: int(r["status"], 16) for b in blocks for r in b}
        failed = [
            (chunk[i][1][0], status.get(h)) for i, h in enumerate(hashes) if status.get(h) != 1
        ]
        if failed:
            (tx, state), count = failed[0], len(failed)
            word = "not mined" if state is None else "reverted"
            raise RpcError(
                f"{what}: {count} of {len(chunk)} transactions failed; first {word}: {tx}"
            )


def _faucet_and_approve(node: Node, lending: LendingSystem, who: str, amount: int, spender: str):
    asset = lending.asset
    limit = int(asset.FAUCET_LIMIT())
    nonce = _nonce(node, who)
    txs = []
    asset_address = str(asset.address)
    while amount > 0:
        chunk = min(amount, limit)
        txs.append(_tx(who, asset_address, asset.faucet.encode_input(who, chunk), nonce))
        nonce += 1
        amount -= chunk
    txs.append(_tx(who, asset_address, asset.approve.encode_input(spender, MAX_UINT), nonce))
    _send_phase(node, txs, f"funding {who}")


def open_borrowers(bench: Bench, count: int) -> float:
    """Opens borrowers up to `count` in all (those already open are kept); returns the seconds
    it took and records them."""
    started = time.monotonic()
    lending, node = bench.lending, bench.node
    first = len(bench.borrowers)
    new = [borrower_address(i) for i in range(first, count)]
    if not new:
        return 0.0
    book, token = str(lending.book.address), lending.token(COLLATERAL)
    issuer = lending.vs.sleeve(COLLATERAL).issuer
    funder = str(bench.funder.address)
    # the funder buys every new borrower's collateral at the issuer
    _faucet_and_approve(node, lending, funder, COLLATERAL_VALUE * len(new), str(issuer.address))
    before = int(token.balanceOf(funder))
    nonce = _nonce(node, funder)
    data = issuer.subscribe.encode_input(COLLATERAL_VALUE * len(new))
    _send_phase(node, [_tx(funder, str(issuer.address), data, nonce)], "subscribe")
    each = (int(token.balanceOf(funder)) - before) // len(new)
    # ... and hands each its share
    nonce += 1
    transfers = [
        _tx(funder, str(token.address), token.transfer.encode_input(b, each), nonce + k)
        for k, b in enumerate(new)
    ]
    _send_phase(node, transfers, "collateral transfers")
    # each borrower approves, posts and borrows (nonces 0, 1, 2 of a fresh account)
    node.batch([("anvil_impersonateAccount", [b]) for b in new])
    opens = []
    for i, b in enumerate(new, start=first):
        opens += [
            _tx(b, str(token.address), token.approve.encode_input(book, MAX_UINT), 0),
            _tx(b, book, lending.book.depositCollateral.encode_input(token.address, each), 1),
            _tx(b, book, lending.book.borrow.encode_input(debt_of(i)), 2),
        ]
    _send_phase(node, opens, "opening positions")
    node.batch([("anvil_stopImpersonatingAccount", [b]) for b in new])
    bench.borrowers += new
    seconds = time.monotonic() - started
    bench.setup_seconds[count] = seconds
    return seconds
