"""The shock test: tbill is marked down 25 % in block S; what share of the positions that made
unhealthy is liquidated in block S + 1, the first block after the shock?

"The first block" is made explicit on anvil: automine is turned off once the shock is mined, the
liquidator runs in a thread, and exactly one block is mined when the keeper has sent all it
will send without a new block: its pass has ended, or its transactions in the pool have not
grown for `SETTLE` seconds. The Liquidated events of that block are counted, and the seconds
from the pass's start to that block are reported (to hold against a 12 s mainnet slot).
Automine is then turned back on and the pass left to finish, so the table also shows how many
blocks and seconds clearing the whole book took — except for the keeper as built when more
than `clear_limit` positions are unhealthy: one liquidation per block would take most of an
hour at 10,000 borrowers, so its sender is stopped after block S+1 (its next send raises) and
the clearing columns are left empty.

Two senders are measured from the same shocked state (a chain snapshot between them):

- **keeper** — `Keeper.run("liquidator")` as built: `keepers.tx.TxSender` keeps one transaction
  in flight per key and waits for its receipt before sending the next, so one block can hold
  one of its liquidations;
- **pipelined** — the same read and plan (`read_book`, `plan_liquidations` with the keeper's
  inventory), every `liquidate` signed by the keeper's account with consecutive nonces and
  broadcast without waiting, i.e. what the keeper would do if `TxSender` could keep many
  transactions in flight. This is the change the numbers argue for; it is not in `keepers/`.

The node's block gas limit is raised for the whole run (book.py), so one block can hold every
planned liquidation (each declared at `gas_per_liquidation`); the gas block S+1 used is
reported, and in mainnet blocks (36 M gas), because that — not the keeper — bounds what one
real block can clear.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ape import chain
from hexbytes import HexBytes

from benchmarks.keeper_scan.book import Bench
from keepers.config import KeeperSettings
from keepers.jobs import plan_liquidations
from keepers.multicall import Multicall
from keepers.reads import read_book
from keepers.shell import Keeper
from keepers.store import Store
from keepers.strategy.gate import GasMarket

__all__ = ["ShockResult", "run_shock", "shock"]

MARKDOWN_BPS = 2_500  # the collateral price crash
SETTLE = 2.0  # seconds without a new pool transaction before the first block is mined
PASS_TIMEOUT = 3_600.0


@dataclass(frozen=True)
class ShockResult:
    """One sender after the shock. `share`: liquidated in block S+1 / unhealthy after S."""

    sender: str
    unhealthy: int
    first_block: int
    pool_at_first_block: int  # transactions waiting when block S+1 was mined
    liquidated_first_block: int
    first_block_gas: int
    seconds_to_first_block: float  # from the pass's start to mining S+1
    liquidated_total: int
    blocks_to_clear: int | None  # S+1 .. the last block with a liquidation (None: stopped)
    seconds_total: float | None  # the pass (or the sends), start to end (None: stopped)

    @property
    def share(self) -> float:
        return self.liquidated_first_block / self.unhealthy if self.unhealthy else 1.0


def shock(bench: Bench) -> int:
    """Marks the collateral down by MARKDOWN_BPS (a fresh feed answer); returns block S."""
    feed = bench.lending.feed("tbill")
    answer = int(feed.latestAnswer()) * (10_000 - MARKDOWN_BPS) // 10_000
    bench.lending.set_nav("tbill", answer)
    return chain.blocks.head.number


def _liquidated(bench: Bench, start: int, stop: int) -> list[tuple[int, str]]:
    """(block, borrower) of every Liquidated event in blocks start..stop."""
    logs = bench.lending.book.Liquidated.range(start, stop + 1)
    return [(int(log.block_number), str(log.borrower)) for log in logs]


class _Stopped(Exception):
    """Raised into a keeper pass that is not to be run to the end."""


def _first_block(
    bench: Bench,
    shock_block: int,
    unhealthy: frozenset[str],
    sender: str,
    run: Callable[[], Any],
    stop: threading.Event | None = None,
) -> ShockResult:
    """Runs `run` in a thread with automine off, mines block S+1 (see the module docstring),
    sets `stop` if given, lets `run` end with automine on, and counts."""
    node = bench.node
    if chain.blocks.head.number != shock_block:
        raise RuntimeError(f"a block was mined after the shock block {shock_block}")
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["result"] = run()
        except _Stopped:
            outcome["stopped"] = True
        except BaseException as err:  # noqa: BLE001 - re-raised in the calling thread
            outcome["error"] = err

    node.automine(False)
    thread = threading.Thread(target=target, daemon=True)
    started = time.monotonic()
    try:
        thread.start()
        last, since = -1, started
        while True:
            time.sleep(0.05)
            now = time.monotonic()
            pending = node.pending_count()
            if pending != last:
                last, since = pending, now
            if not thread.is_alive():
                break
            if pending > 0 and now - since >= SETTLE:
                break
        pool = node.pending_count()
        first = node.mine_one()
        to_first = time.monotonic() - started
        if stop is not None:
            stop.set()
    finally:
        node.automine(True)
    if first != shock_block + 1:
        raise RuntimeError(f"mined block {first}, expected {shock_block + 1}")
    thread.join(PASS_TIMEOUT)
    if thread.is_alive():
        raise RuntimeError(f"the {sender} pass did not finish in {PASS_TIMEOUT:.0f} s")
    if "error" in outcome:
        raise outcome["error"]
    total_seconds = time.monotonic() - started
    events = _liquidated(bench, first, chain.blocks.head.number)
    liquidated = {b for _, b in events}
    if not liquidated <= unhealthy:
        raise RuntimeError(f"{sender} liquidated healthy positions: {liquidated - unhealthy}")
    in_first = {b for block, b in events if block == first}
    stopped = outcome.get("stopped", False)
    gas = int(chain.provider.web3.eth.get_block(first)["gasUsed"])
    return ShockResult(
        sender=sender,
        unhealthy=len(unhealthy),
        first_block=first,
        pool_at_first_block=pool,
        liquidated_first_block=len(in_first),
        first_block_gas=gas,
        seconds_to_first_block=to_first,
        liquidated_total=len(liquidated),
        blocks_to_clear=None
        if stopped
        else max((block for block, _ in events), default=first) - first + 1,
        seconds_total=None if stopped else total_seconds,
    )


def _keeper(bench: Bench, state: Path) -> Keeper:
    return Keeper(bench.protocol, Store(state / "keeper.sqlite"), bench.keeper, KeeperSettings())


def keeper_pass(
    bench: Bench, shock_block: int, unhealthy: frozenset[str], clear_limit: int
) -> ShockResult:
    """The liquidator as built, one pass (stopped after S+1 above `clear_limit` unhealthy)."""
    with tempfile.TemporaryDirectory(prefix="keeper-scan-") as state:
        keeper = _keeper(bench, Path(state))
        stop = threading.Event() if len(unhealthy) > clear_limit else None
        if stop is not None:
            sender = keeper.sender("liquidator")
            send_raw = sender.send_raw

            def guarded(*args: Any, **kwargs: Any) -> Any:
                if stop.is_set():
                    raise _Stopped
                return send_raw(*args, **kwargs)

            sender.send_raw = guarded  # this benchmark's instance only

        def run() -> None:
            report = keeper.run("liquidator")
            bad = [a for a in report.actions if a.outcome != "mined"]
            if bad:
                raise RuntimeError(f"keeper actions not mined: {bad[:3]}")

        return _first_block(bench, shock_block, unhealthy, "keeper (as built)", run, stop)


def pipelined_pass(
    bench: Bench, shock_block: int, unhealthy: frozenset[str], clear_limit: int
) -> ShockResult:
    """The keeper's read and plan, every liquidation sent without waiting for a receipt."""
    settings = KeeperSettings()
    account = bench.keeper
    provider = chain.provider
    book = bench.lending.book
    with tempfile.TemporaryDirectory(prefix="keeper-scan-") as state:
        keeper = _keeper(bench, Path(state))  # its sender prices fees exactly as the keeper's
        sender = keeper.sender("liquidator")

        def run() -> int:
            read = read_book(Multicall(), bench.protocol, bench.borrowers, keeper.asset)
            inventory = int(bench.lending.asset.balanceOf(account.address))
            market = GasMarket(
                sender.fees()[2], settings.tx.priority_fee, int(settings.native_price * 10**18)
            )
            plan = plan_liquidations(
                read.borrowers, read.rules, market, settings.liquidator.planner(), inventory
            )
            gas = settings.liquidator.gas_per_liquidation
            max_fee, tip, _ = sender.fees()
            nonce = sender.pending_nonce()
            for i, p in enumerate(plan.plans):
                data = HexBytes(book.liquidate.encode_input(p.borrower, p.token, p.repay_amount))
                txn = provider.network.ecosystem.create_transaction(
                    chain_id=provider.chain_id,
                    to=str(book.address),
                    data=bytes(data),
                    nonce=nonce + i,
                    gas=gas,
                    max_fee=max_fee,
                    max_priority_fee=tip,
                    type=2,
                    sender=str(account.address),
                )
                signed = account.sign_transaction(txn)
                raw = bytes(signed.serialize_transaction())
                provider.web3.eth.send_raw_transaction(raw)
            return len(plan.plans)

        return _first_block(bench, shock_block, unhealthy, "pipelined (proposed)", run)


def run_shock(
    bench: Bench, shock_block: int, unhealthy: frozenset[str], clear_limit: int
) -> list[ShockResult]:
    """Both senders from the same shocked state (the chain is restored to it in between and
    after)."""
    results = []
    for measure in (keeper_pass, pipelined_pass):
        snapshot = chain.snapshot()
        try:
            results.append(measure(bench, shock_block, unhealthy, clear_limit))
        finally:
            chain.restore(snapshot)
    return results
