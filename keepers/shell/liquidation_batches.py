"""The liquidator's batches: many liquidations in one `LiquidationExecutor.liquidateBatch`
transaction, packed to the block's gas limit, so the block after a shock is filled with them.

`send_batches` takes the liquidator's plans (profit order) and, until all are reported:

1. takes the next items by the per-item gas guess (`keepers.jobs.liquidator.first_batch`) up to
   the latest block's gas limit less the headroom (`batch_gas_cap`);
2. simulates the batch (`eth_call` from the key: the executor returns one result per item);
   items that would fail are reported at once — `lost-race` when the book's error is a lost-race
   error or another address liquidated the borrower after the read block (the job's chain fact),
   else `refused` — and left out;
3. has the node estimate the rest and re-sizes the batch so its gas limit (estimate × (1 +
   margin)) just fits the cap (`fitted_count`: fewer items when over, more when well under);
4. sends it through the key's `TxSender` with that gas limit: the write-ahead record before the
   broadcast, replacement by fee bump, the receipt wait and `Keeper.reconcile` after a restart are
   the single sender's, unchanged (one transaction in flight per key; a batch that fills a block
   leaves nothing for a second one in the same block anyway);
5. reports each item from the mined receipt's own events of this key's call (`ItemLiquidated` →
   `mined`; `ItemFailed` → `lost-race` by the same chain facts as in 2, else `reverted`); a batch
   that is not mined (refused, unfunded, stuck, replaced, reverted as a whole) reports that
   outcome for each of its items. After a stuck batch (or when the pass started with the key's
   queue held up: `Keeper.blocked`) nothing more is simulated or sent: the rest are reported
   `blocked` (a later nonce cannot mine before the stuck one).

A liquidation is never sent twice: an item is either in one batch, or reported without one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from eth_abi import decode, encode
from eth_utils import is_address, keccak, to_checksum_address
from hexbytes import HexBytes

from keepers.funding import NATIVE, NATIVE_DECIMALS, Shortfall
from keepers.inflight import Blocked
from keepers.jobs.liquidator import (
    BatchSettings,
    LiquidationPlan,
    batch_budget,
    batch_gas_cap,
    first_batch,
    fitted_count,
    gas_limit_of,
)
from keepers.outcomes import Mined, RpcError, Stuck, Unfunded
from keepers.shell.reports import (
    ActionReport,
    JobReport,
    KeeperError,
    blocked_action,
    describe_outcome,
)
from keepers.tx import Contested, TxSender
from keepers.tx_rules import node_failure

if TYPE_CHECKING:
    from keepers.shell.keeper import Keeper

__all__ = ["batch_data", "find_executor", "item_gas", "send_batches"]

ITEM_LIQUIDATED_TOPIC = (
    "0x" + keccak(text="ItemLiquidated(address,address,uint256,address,uint256,uint256)").hex()
)
ITEM_FAILED_TOPIC = "0x" + keccak(text="ItemFailed(address,address,uint256,bytes)").hex()
BATCH_SELECTOR = keccak(text="liquidateBatch((address,address,uint256)[],uint256)")[:4]
RESULTS = ["(bool,uint256,uint256,bytes)[]"]
MAX_FITS = 4  # gas estimates of one batch while re-sizing it to the block

RaceCheck = Callable[[str], Contested]
"""borrower → the job's race check for it (`liquidated_by_others`)."""


def find_executor(keeper: Keeper) -> Any | None:
    """The `LiquidationExecutor` to batch through (the `liquidator.executor` setting, else the
    manifest's `LiquidationExecutor`), or None (batching off, or none known). An address with
    no code, or an executor of another book, is refused in one line."""
    settings = keeper.settings.liquidator
    address = settings.executor or keeper.protocol.deployment.contracts.get("LiquidationExecutor")
    if not settings.batch or address is None:
        return None
    from ape import chain, project

    if not is_address(address):
        raise KeeperError(f"liquidator.executor {address!r} is not an address")
    address = to_checksum_address(address)
    if not chain.provider.get_code(address):
        raise KeeperError(f"no LiquidationExecutor at {address} (liquidator.executor)")
    executor = project.LiquidationExecutor.at(address)
    book = str(keeper.protocol.lending.address)
    try:
        its_book = str(executor.book())
    except Exception:  # noqa: BLE001 - any contract without `book()`: one line, not a trace
        raise KeeperError(f"{address} is not a LiquidationExecutor (liquidator.executor)") from None
    if its_book.lower() != book.lower():
        raise KeeperError(f"LiquidationExecutor {address} liquidates {its_book}, not {book}")
    return executor


def batch_data(plans: list[LiquidationPlan], budget: int) -> bytes:
    """`liquidateBatch(items, budget)` call data for `plans`."""
    items = [(p.borrower, p.token, p.repay_amount) for p in plans]
    return BATCH_SELECTOR + encode(["(address,address,uint256)[]", "uint256"], [items, budget])


def item_gas(
    keeper: Keeper,
    executor: Any,
    plans: list[LiquidationPlan] | tuple[LiquidationPlan, ...],
    inventory: int | None,
) -> int | None:
    """The gas one batch item costs by the node's estimate: `liquidateBatch` of the first batch
    of `plans` (as many as the packing guess puts in one block) estimated from the key, over its
    item count, rounded up (the transaction's own gas shared among its items, so never below an
    item's own cost). None when the node cannot estimate it (the state moved, the budget's pull
    refused): the caller keeps `liquidator.batch_item_gas`. A node failing to answer raises."""
    if not plans:
        return None
    settings = keeper.settings.liquidator.batches()
    block_limit = int(keeper.web3.eth.get_block("latest")["gasLimit"])
    batch = list(plans[: first_batch(len(plans), batch_gas_cap(block_limit, settings), settings)])
    data = batch_data(batch, batch_budget(batch, inventory, settings))
    try:
        estimate = keeper.sender("liquidator").estimate_gas(str(executor.address), data)
    except RpcError as error:
        if node_failure(error):
            raise
        return None
    return -(-estimate // len(batch))


class _Batches:
    """One pass's batches: the queue of plans not yet reported, and how to report them."""

    def __init__(
        self,
        keeper: Keeper,
        report: JobReport,
        executor: str,
        plans: list[LiquidationPlan],
        read_block: int,
        inventory: int | None,
        race: RaceCheck,
    ) -> None:
        self.keeper = keeper
        self.report = report
        self.executor = executor
        self.read_block = read_block
        self.inventory = inventory
        self.race = race
        self.sender: TxSender = keeper.sender(report.job)
        self.settings: BatchSettings = keeper.settings.liquidator.batches()
        self.queue = list(plans)
        self.index = {id(p): i for i, p in enumerate(plans)}

    def action_id(self, p: LiquidationPlan) -> str:
        return f"liquidate:{p.borrower.lower()}:{self.read_block}"

    def call(self, p: LiquidationPlan) -> str:
        repay = "max" if p.repay_amount >= 2**255 else str(p.repay_amount)
        return f"liquidateBatch[{self.index[id(p)]}]({p.borrower}, {p.token}, {repay})"

    def add(self, p: LiquidationPlan, outcome: str, tx_hash: str | None, detail: str,
            gas: int | None = None) -> None:  # fmt: skip
        self.report.actions.append(
            ActionReport(self.action_id(p), self.call(p), outcome, tx_hash, detail, gas)
        )

    def failure(self, p: LiquidationPlan, data: bytes, block: int, tx_hash: str | None) -> None:
        """An item that failed (simulated, or mined in a batch), classified from chain facts."""
        name, reason = self.sender.decoder.decode(data)
        name = name or ""
        evidence = name if name in self.keeper.settings.tx.lost_race_errors else None
        if evidence is None:
            evidence = self.race(p.borrower)(block)
        if evidence is None:
            self.add(p, "reverted" if tx_hash else "refused", tx_hash, reason)
            return
        detail = reason if evidence == name else f"{reason}; {evidence}"
        self.keeper.store.record_lost_race(
            job=self.report.job, action_id=self.action_id(p), sender=self.sender.address,
            error=detail, block=block,
        )  # fmt: skip
        self.add(p, "lost-race", tx_hash, detail)

    def _data(self, batch: list[LiquidationPlan]) -> tuple[bytes, int]:
        budget = batch_budget(batch, self.inventory, self.settings)
        return batch_data(batch, budget), budget

    def _limit(self, batch: list[LiquidationPlan], data: bytes) -> int | None:
        """The batch's gas limit (estimate + margin); None when the node cannot estimate it (the
        state moved since the simulation): its items are then reported `refused` and dropped. A
        node failing to answer (`tx_rules.node_failure`) raises: the pass fails, as a node error."""
        try:
            estimate = self.sender.estimate_gas(self.executor, data)
        except RpcError as error:
            if node_failure(error):
                raise  # the node failed (rate limit, timeout): a node error, no item refused
            _, reason = self.sender.decoder.decode(error.data)
            for p in batch:
                self.add(p, "refused", None, reason or error.message)
            del self.queue[: len(batch)]
            return None
        return gas_limit_of(estimate, self.settings)

    def _simulate(self, batch: list[LiquidationPlan], data: bytes) -> bool:
        """Reports and drops (from the queue) the items of `batch` that would fail; True when
        every item would pass. A batch failing as a whole (the budget's pull) is reported
        `refused` item by item and dropped; a node failing to answer raises (`_limit`)."""
        try:
            (results,) = decode(RESULTS, self.sender.call(self.executor, data))
        except RpcError as error:
            if node_failure(error):
                raise  # the node failed (rate limit, timeout): a node error, no item refused
            _, reason = self.sender.decoder.decode(error.data)
            for p in batch:
                self.add(p, "refused", None, reason or error.message)
            del self.queue[: len(batch)]
            return False
        failed = [i for i, r in enumerate(results) if not r[0]]
        if failed:
            head = int(self.keeper.web3.eth.block_number)
            for i in failed:
                self.failure(batch[i], bytes(results[i][3]), head, None)
            for i in reversed(failed):
                del self.queue[i]
        return not failed

    def next_batch(self, cap: int) -> tuple[list[LiquidationPlan], bytes, int] | None:
        """The next batch from the head of the queue, simulated and sized to `cap`: (items,
        call data, gas limit); None when none is ready (the queue emptied on the way, or the
        last estimate failed and its items were reported): the caller asks again while the
        queue holds plans."""
        count = first_batch(len(self.queue), cap, self.settings)
        fitted: tuple[list[LiquidationPlan], bytes, int] | None = None
        for _ in range(MAX_FITS):
            batch = self.queue[:count]
            if not batch:
                return None
            data, _ = self._data(batch)
            if not self._simulate(batch, data):
                fitted = None  # it may hold an item just reported: size again from the queue
                continue
            limit = self._limit(batch, data)
            if limit is None:
                fitted = None
                continue
            grow = self.settings.max_items if limit <= cap else len(batch) - 1
            target = min(
                fitted_count(len(batch), limit, cap, len(self.queue), self.settings.max_items),
                grow,
            )
            if limit <= cap or len(batch) == 1:
                fitted = (batch, data, limit)
                # well under the cap with more queued: grow (by more than 2 %), else send
                if target <= len(batch) + max(1, len(batch) // 50):
                    return fitted
            count = max(1, target)
        if fitted is not None:
            return fitted
        batch = self.queue[:count]  # still over the cap after MAX_FITS estimates: shrink
        if not batch:
            return None
        data, _ = self._data(batch)
        limit = self._limit(batch, data)
        while limit is not None and limit > cap and len(batch) > 1:
            batch = batch[: max(1, len(batch) * cap // limit)]
            data, _ = self._data(batch)
            limit = self._limit(batch, data)
        return None if limit is None else (batch, data, limit)

    def send(self, batch: list[LiquidationPlan], data: bytes, limit: int, number: int) -> bool:
        """Sends one batch and reports its items; False when the key cannot pay for gas (the
        rest of the queue is reported unfunded) or the batch is stuck (the rest `blocked`)."""
        del self.queue[: len(batch)]
        action_id = f"liquidate-batch:{self.read_block}:{number}"
        outcome = self.sender.send_raw(self.executor, data, action_id=action_id, gas_limit=limit)
        if isinstance(outcome, Mined):
            self._settle(batch, outcome)
            return True
        name, tx_hash, detail, _ = describe_outcome(outcome)
        for p in batch:
            self.add(p, name, tx_hash, detail)
        if isinstance(outcome, Stuck):  # a later nonce cannot mine before it
            self.keeper.blocked = Blocked(action_id, outcome)
            self.block_rest(self.keeper.blocked)
            return False
        if not isinstance(outcome, Unfunded):
            return True
        self.report.shortfalls.append(
            Shortfall(self.report.job, NATIVE, outcome.need, outcome.have, NATIVE_DECIMALS,
                      "for gas")
        )  # fmt: skip
        for p in self.queue:
            self.add(p, name, None, detail)
        self.queue.clear()
        return False

    def block_rest(self, blocked: Blocked) -> None:
        """Reports every item left in the queue as not sent behind `blocked`."""
        for p in self.queue:
            self.report.actions.append(blocked_action(self.action_id(p), self.call(p), blocked))
        self.queue.clear()

    def _settle(self, batch: list[LiquidationPlan], mined: Mined) -> None:
        events = item_events(mined.receipt, self.executor, self.sender.address)
        share = mined.gas_used // len(batch)
        for i, p in enumerate(batch):
            event = events.get(i)
            if event is None:  # a mined batch emits one event per item
                self.add(p, "reverted", mined.tx_hash, "no item event in the receipt")
            elif event[0] == "ok":
                self.add(p, "mined", mined.tx_hash, "", share)
            else:
                self.failure(p, event[1], mined.block, mined.tx_hash)


def item_events(receipt: dict[str, Any], executor: str, caller: str) -> dict[int, tuple]:
    """Item index → ("ok", repaid, seized) or ("failed", revert data), from `caller`'s batch
    events (`ItemLiquidated`, `ItemFailed` of `executor`) in a mined receipt (raw JSON-RPC)."""
    out: dict[int, tuple] = {}
    caller_topic = "0x" + bytes(12).hex() + caller[2:].lower()
    for log in receipt.get("logs", []):
        topics = ["0x" + bytes(HexBytes(t)).hex() for t in log["topics"]]
        if str(log["address"]).lower() != executor.lower() or len(topics) < 3:
            continue
        if topics[1] != caller_topic:
            continue
        data = bytes(HexBytes(log["data"]))
        if topics[0] == ITEM_LIQUIDATED_TOPIC:
            index, _, repaid, seized = decode(["uint256", "address", "uint256", "uint256"], data)
            out[int(index)] = ("ok", int(repaid), int(seized))
        elif topics[0] == ITEM_FAILED_TOPIC:
            index, reason = decode(["uint256", "bytes"], data)
            out[int(index)] = ("failed", bytes(reason))
    return out


def send_batches(
    keeper: Keeper,
    report: JobReport,
    executor: Any,
    plans: list[LiquidationPlan],
    read_block: int,
    inventory: int | None,
    race: RaceCheck,
) -> None:
    """Sends `plans` (profit order) as `liquidateBatch` transactions of `executor` (see the
    module docstring); every plan ends up as exactly one `ActionReport` in `report`."""
    sender = keeper.sender(report.job)
    sender.decoder.add(executor.contract_type)
    batches = _Batches(keeper, report, str(executor.address), plans, read_block, inventory, race)
    if keeper.blocked is not None:  # nothing is simulated behind the key's stuck transaction
        batches.block_rest(keeper.blocked)
        return
    block_limit = int(keeper.web3.eth.get_block("latest")["gasLimit"])
    cap = batch_gas_cap(block_limit, batches.settings)
    number = 0
    while batches.queue:
        fitted = batches.next_batch(cap)
        if fitted is None:
            continue
        if not batches.send(*fitted, number):
            return
        number += 1
