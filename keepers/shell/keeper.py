"""The keeper process's core object: one deployment, one (optional) signing key, one SQLite store.

`Keeper.run(job)` makes one pass of a job — read the chain (one batched read), plan with the
pure `keepers.jobs` planners, act through `TxSender` — and returns a `JobReport`. With
`dry_run`, or without an account, every planned call is simulated (`eth_call`) and reported as
what would happen; nothing is signed.

Before each pass (and on start), `reconcile()` settles transactions the store still has in
flight from an earlier process or pass (killed mid-wait, or stuck): their receipts are looked up
and recorded, so the next pass neither repeats a mined action nor forgets a pending one; the
key's mined transactions from `TxSettings.reorg_depth` blocks below the head the last check read
(or this one, when lower: the chain may have grown past a reorg while the keeper was away) are
re-checked, and one a reorg undid is settled again (its action planned again). Those still
pending are then resumed, lowest nonce first (re-priced at current fees, waited on for
`replace_after` at most, bumped within a budget counted across passes: `keepers.inflight.drain`;
a gap the node's pool left below them is filled first: `keepers.nonces.fill_gaps`); one still
stuck blocks the pass: no new transaction would mine before it, so none is sent (each planned
action is reported `blocked`, the stuck one's own action `stuck`), except a priority action (the
sentinel's `pauseAutomation`), sent on the stuck nonce as its replacement
(`keepers.nonces.take_nonce`). Before that, a pending rebalance of the key planned before a
change of the vault's sleeve set is cancelled rather than resumed
(`keepers.shell.rebalancer.cancel_stale_rebalances`). A `Stuck` result within a pass blocks
the rest of it alike. A held-up queue, or a resumed flight that ended reverted or replaced, is
reported as an action even when the job planned nothing (`reports.queue_reports`), so the exit
status and `<job>_failed` count it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from ape import chain
from eth_utils import to_checksum_address
from hexbytes import HexBytes

from keepers.actions import FILL_KIND, emergency_priced, is_priority
from keepers.config import KeeperSettings, job_name
from keepers.errors import project_error_types
from keepers.funding import NATIVE, NATIVE_DECIMALS, Funding, Shortfall
from keepers.inflight import Blocked, drain, reopen_reorged, settle_all
from keepers.math import GasMarket
from keepers.multicall import Multicall, ensure_multicall
from keepers.nonces import take_nonce
from keepers.outcomes import Mined, Outcome, Stuck, Unfunded
from keepers.protocol import Protocol
from keepers.reads import SleeveSet
from keepers.reads.scans import cursor_moved, mark_cursor
from keepers.shell.passes import RACE_CHECKS, RUNNERS
from keepers.shell.rebalancer import cancel_stale_rebalances, settle_cancels
from keepers.shell.registries import Registries
from keepers.shell.reports import (
    ActionReport,
    JobReport,
    KeeperError,
    blocked_action,
    describe_outcome,
    queue_reports,
    resumed_note,
)
from keepers.store import Store, TxRecord
from keepers.tx import Contested, TxSender, key_lock
from keepers.tx_rules import held_elsewhere

log = logging.getLogger("keepers")

REORG_CHECK = "reorg-check"
"""The store's cursor of the head each reconcile's reorg check read (`Keeper.reconcile`)."""

__all__ = ["ActionReport", "JobReport", "Keeper", "KeeperError"]


class Keeper:
    """One keeper: the protocol's handles, a store, and a sender when `account` is given."""

    def __init__(
        self,
        protocol: Protocol,
        store: Store,
        account: Any = None,
        settings: KeeperSettings | None = None,
        observe: Callable[[JobReport], None] | None = None,
        failed: Callable[[str], None] | None = None,
    ) -> None:
        self.protocol = protocol
        self.store = store
        self.account = account
        self.settings = settings or KeeperSettings()
        self.address = to_checksum_address(str(account.address)) if account is not None else None
        self.dry_run = self.settings.dry_run or account is None
        self.multicall = Multicall(ensure_multicall(account))
        self.asset = to_checksum_address(protocol.vault.asset())
        self._asset_meta: tuple[str, int] | None = None
        self._observe = observe
        self._failed = failed  # called with the job's name when a pass raises
        self._senders: dict[tuple[str, bool], TxSender] = {}
        # set by the bot when it stops: every sender's wait for a receipt ends at its next look
        self.stopping = threading.Event()
        self.behind: str | None = None
        """One line when the node's head is below a block this key's transaction is recorded in
        (a lagging node): set by `reconcile`, noted in the pass's report."""
        self.sleeve_set: SleeveSet | None = None
        """The vault's sleeves and the feeds of those the manifest does not list, as last read
        (`keepers.shell.confirmations.vault_unlisted_feeds` keeps it; None: not read yet)."""
        self.blocked: Blocked | None = None
        """The key's transaction that holds its queue up (None: sends go ahead); set by a
        `Stuck` result, re-read from the chain at the start of each pass."""
        self.registry_book = Registries(protocol, self.settings.liquidator, store)
        """The vault's AgentRegistry now and every one it named before (`agents`, `registries`)."""
        types = (
            protocol.vault.contract_type,
            protocol.agents.contract_type,
            protocol.registry.contract_type,
        )
        # every contract's errors (a revert may come from one the called contract called: the
        # router under the book, an issuer under a sleeve); the protocol's own win a shared selector
        self._error_types = (*project_error_types(), *types) + (
            (protocol.lending.contract_type,) if protocol.lending is not None else ()
        )

    # ------------------------------------------------------------------ plumbing

    def sender(self, job: str, emergency: bool = False) -> TxSender:
        """The job's sender (all share the key's lock: one transaction in flight per key);
        `emergency`: the one of its emergency actions (`keepers.actions.is_priority`), whose
        fees are capped by `tx.emergency_fee_cap` instead of `tx.max_fee_cap`."""
        if self.account is None:
            raise KeeperError("no account: this keeper is read-only (give --account)")
        if (job, emergency) not in self._senders:
            tx = self.settings.tx
            sender = TxSender(
                self.account,
                settings=tx.emergency() if emergency else tx,
                store=self.store,
                job=job,
                contract_types=self._error_types,
            )
            sender.stopping = self.stopping
            self._senders[job, emergency] = sender
        return self._senders[job, emergency]

    def record_sender(self, record: TxRecord) -> TxSender:
        """The sender that settles and resumes `record`: its job's, or under the emergency cap
        for an emergency action and a gap fill below one (`keepers.actions.emergency_priced`)."""
        flights = ()
        if record.action_id.startswith(FILL_KIND + ":"):
            flights = [(r.action_id, r.nonce) for r in self.store.in_flight(self.address)]
        emergency = emergency_priced(record.action_id, record.nonce, flights)
        return self.sender(record.job, emergency=emergency)

    @property
    def web3(self) -> Any:
        return chain.provider.web3

    def agents(self) -> Any:
        """The AgentRegistry the vault checks its agents against now (`Registries.now`)."""
        return self.registry_book.now()

    def registries(self, tolerate: bool = True, block: int | None = None) -> list[Any]:
        """Every AgentRegistry with decisions or slashes to settle (`Registries.to_settle`)."""
        return self.registry_book.to_settle(tolerate, block)

    def erc20(self, address: str) -> Any:
        from keepers.reads import token_at

        return token_at(to_checksum_address(address))

    def asset_meta(self) -> tuple[str, int]:
        """The vault asset's (symbol, decimals), read once."""
        if self._asset_meta is None:
            token = self.erc20(self.asset)
            self._asset_meta = (str(token.symbol()), int(token.decimals()))
        return self._asset_meta

    def funding(self, block: int | None = None) -> Funding | None:
        """This key's gas coin and asset inventory at `block` (default: latest; None: a
        read-only keeper)."""
        if self.address is None:
            return None
        from keepers.reads import read_funding

        symbol, decimals = self.asset_meta()
        token = self.erc20(self.asset)
        return read_funding(self.web3, token, self.address, symbol, decimals, block)

    def ensure_allowance(self, report: JobReport, token: str, spender: str, amount: int) -> None:
        """Approves `spender` for an unlimited amount of `token` when the allowance is short."""
        contract = self.erc20(token)
        if int(contract.allowance(self.address, spender)) >= amount:
            return
        self.act(
            report,
            contract,
            "approve",
            spender,
            2**256 - 1,
            action_id=f"approve:{token.lower()}:{spender.lower()}:{report.block}",
        )

    def gas_market(self) -> GasMarket:
        block = chain.provider.web3.eth.get_block("latest")
        base = int(block.get("baseFeePerGas") or 0)
        return GasMarket(
            base_fee_wei=base,
            priority_fee_wei=self.settings.tx.priority_fee,
            native_price_wad=int(self.settings.native_price * 10**18),
        )

    def act(
        self,
        report: JobReport,
        contract: Any,
        method: str,
        *args: Any,
        action_id: str,
        contested: Contested | None = None,
    ) -> ActionReport:
        """Sends `contract.method(*args)` (or simulates it in a dry run) and records the result
        in `report`. `contested`: the job's race check (`TxSender.send_raw`)."""
        call = f"{method}({', '.join(_short(a) for a in args)})"
        data = bytes(HexBytes(getattr(contract, method).encode_input(*args)))
        return self.act_data(
            report, contract, data, call=call, action_id=action_id, contested=contested
        )

    def act_data(
        self,
        report: JobReport,
        contract: Any,
        data: bytes,
        *,
        call: str,
        action_id: str,
        contested: Contested | None = None,
    ) -> ActionReport:
        """Sends the call data `data` to `contract` as is (a trigger's own call data), or
        simulates it in a dry run; `call` names it in the report."""
        if self.dry_run:
            if self.account is not None:  # the job's sender simulates; nothing is signed
                probe = self.sender(report.job)
                probe.decoder.add(contract.contract_type)
                failure = probe.simulate(str(contract.address), data)
            else:
                failure = _simulate_anonymous(
                    str(contract.address), data, self._error_types, contract
                )
            outcome = ActionReport(
                action_id,
                call,
                "would-fail" if failure else "would-send",
                detail=failure[1] if failure else "",
            )
        elif self.blocked is not None and not is_priority(action_id):
            # a transaction of this key is stuck: a later nonce cannot mine before it (a
            # priority action takes its nonce instead: `_send`)
            outcome = blocked_action(action_id, call, self.blocked)
        elif (short := report.shortfall(NATIVE)) is not None:
            # the key could not pay for an earlier send of this pass: the rest would be refused
            # alike, so they are not tried (one warning a pass, not one error an action)
            detail = f"gas: needs {short.need} wei, has {short.have}"
            outcome = ActionReport(action_id, call, "unfunded", detail=detail)
        else:
            sender = self.sender(report.job, emergency=is_priority(action_id))
            sender.decoder.add(contract.contract_type)
            result = self._send(sender, str(contract.address), data, action_id, contested)
            if isinstance(result, Stuck):  # the rest of the pass would queue behind it
                self.blocked = Blocked(action_id, result)
            if isinstance(result, Unfunded):
                report.shortfalls.append(
                    Shortfall(
                        report.job, NATIVE, result.need, result.have, NATIVE_DECIMALS, "for gas"
                    )
                )
            name, tx_hash, detail, gas = describe_outcome(result)
            outcome = ActionReport(action_id, call, name, tx_hash, detail, gas)
        report.actions.append(outcome)
        log.info(
            "%s %s: %s%s",
            report.job,
            call,
            outcome.outcome,
            f" ({outcome.detail})" if outcome.detail else "",
            extra={
                "job": report.job,
                "action_id": action_id,
                "outcome": outcome.outcome,
                "tx_hash": outcome.tx_hash,
            },
        )
        return outcome

    def _send(
        self, sender: TxSender, to: str, data: bytes, action_id: str, contested: Contested | None
    ) -> Outcome:
        """`send_raw`; while the key is blocked (only a priority action gets here), the stuck
        transaction's nonce taken by a same-nonce replacement (`keepers.nonces.take_nonce`)."""
        if self.blocked is not None:
            taken = take_nonce(sender, to, data, action_id=action_id, stuck=self.blocked.stuck)
            if taken is None or isinstance(taken, Mined):  # the stuck nonce is used now
                self.blocked = None
            if taken is not None:
                return taken
        elif is_priority(action_id):
            # nothing of the keeper's is stuck, but a transaction it did not send (an
            # operator's, by hand) may hold the key's next nonce: a send on the pending nonce
            # would wait behind it
            latest, pending = sender._latest_nonce(), sender.pending_nonce()
            own = {r.nonce for r in self.store.in_flight(sender.address)}
            if held_elsewhere(latest, pending, own):
                taken = take_nonce(sender, to, data, action_id=action_id, stuck=Stuck(latest, ()))
                if taken is not None:
                    return taken
        return sender.send_raw(to, data, action_id=action_id, contested=contested)

    # ------------------------------------------------------------------ recovery

    def reconcile(self) -> list[TxRecord]:
        """Settles this key's transactions left `sent` by an earlier process (or an earlier
        pass: a broadcast unanswered, a transaction stuck): a receipt found → mined, or
        reverted / lost-race by its own revert reason (`TxSender.revert_of`) or its job's
        chain fact (`RACE_CHECKS`: for a liquidation, a rival's `Liquidated` log); the nonce
        used by none of them → replaced; unknown to the node → dropped
        (`keepers.inflight.settle`).
        First, mined records whose receipt a reorg removed are set back to `sent` and settled
        alike: those of `reorg_depth` blocks below the head, or below the head the last check
        read when that is lower (the chain grew while the keeper was away; a cursor
        `reorg-check:<address>` in the store), or all of them since the deployment when
        another block is now at that floor (`keepers.reads.scans.cursor_moved`: the chain went
        back below it and grew again). Returns those still pending (the next send
        waits behind them: the node's pending nonce counts them; `run` resumes them)."""
        if self.address is None:
            return []
        depth = self.settings.tx.reorg_depth
        probe = self.sender("keeper")
        head = int(probe._rpc("eth_blockNumber", []), 16)
        self.behind = _behind(self.store.settled_since(self.address, head + 1), head)
        if self.behind is not None:
            log.warning(self.behind, extra={"block": head})
        if depth > 0:
            # from the head the last check read, not only this one: the chain may have grown
            # past a reorg by more than `depth` blocks since (`keepers.inflight.recheck_floor`);
            # from the deployment once another block is at that floor (the chain went back below
            # it and grew again: a mined `evaluate:<id>` below the floor stayed done for ever)
            cursor = f"{REORG_CHECK}:{self.address}"
            moved = cursor_moved(self.web3, self.store, cursor, head)
            checked = self.protocol.block if moved else self.store.last_block(cursor)
            reopen_reorged(probe, head, depth, checked)
            self.store.set_last_block(cursor, head)
            mark_cursor(self.web3, self.store, cursor, head, depth)
        return settle_all(self.record_sender, self.store.in_flight(self.address), self._race_check)

    def _race_check(self, record: TxRecord) -> Contested | None:
        """`record`'s race check, rebuilt from its job and action id (`RACE_CHECKS`)."""
        check = RACE_CHECKS.get(record.job)
        return check(self, record.action_id) if check is not None else None

    def drain(self) -> list[tuple[str, Outcome]]:
        """Reconciles, then resumes the key's pending transactions, a gap below them filled
        (see the module docstring); sets `blocked` to the one still stuck. Returns (action id,
        outcome) of each transaction resumed or sent to fill a gap."""
        return self._drain()[0]

    def _drain(self) -> tuple[list[tuple[str, Outcome]], list[str]]:
        """`drain`, and the lines of the key's stale rebalances it cancelled first."""
        with key_lock(str(self.address)):
            pending = self.reconcile()
            # the key's own rebalances planned before a sleeve change are cancelled, not resumed
            # (re-priced, they would land on the new set once the cooldown has run)
            cancels = cancel_stale_rebalances(self, pending)
            if cancels.sent or cancels.raced:
                pending = self.reconcile()
                settle_cancels(self, cancels)
        if cancels.blocked is not None:
            # no cancel under the fee cap: the stale flight is neither resumed (re-priced, it
            # would land sooner) nor is anything sent behind it; the key's flights below it are
            pending = [r for r in pending if r.nonce < cancels.blocked.stuck.nonce]
        resumed, self.blocked = drain(self.record_sender, pending) if pending else ([], None)
        self.blocked = self.blocked or cancels.blocked
        return resumed, cancels.notes

    # ------------------------------------------------------------------ passes

    def run(self, job: str) -> JobReport:
        """One pass of `job` (liquidator, evaluator, settler, sentinel, rebalancer; the
        deprecated `redeemer` runs the settler)."""
        job = job_name(job)
        runner = RUNNERS.get(job)
        if runner is None:
            raise KeeperError(f"unknown job {job!r}; jobs are {', '.join(RUNNERS)}")
        try:
            return self._pass(job, runner)
        except Exception:
            if self._failed is not None:  # the metrics say so: a pass that raised shows
                self._failed(job)  # nowhere else (its gauges keep the last pass's values)
            raise

    def _pass(self, job: str, runner: Callable[[Keeper], JobReport]) -> JobReport:
        started = time.monotonic()
        resumed: list[tuple[str, Outcome]] = []
        cancelled: list[str] = []
        if not self.dry_run and self.address is not None:
            # left in flight by an earlier pass (stuck, or the node stopped answering) or
            # undone by a reorg: settled or resumed before planning, so a transaction that did
            # land is not sent again, and one still pending is not queued behind
            resumed, cancelled = self._drain()
        report = runner(self)
        report.notes[:0] = cancelled + [resumed_note(a, o) for a, o in resumed]
        if self.behind is not None and not self.dry_run:
            report.notes.insert(0, self.behind)
        # a held-up queue, or a resumed flight that failed, counts even when nothing was planned
        report.actions += queue_reports(resumed, self.blocked, report.actions)
        if self.blocked is not None:
            report.notes.append(self.blocked.detail())
        report.seconds = time.monotonic() - started
        if not self.dry_run:
            self.store.set_last_block(job, report.block)
        for short in report.shortfalls:  # one line per job and asset a pass
            log.warning(short.message(self.address), extra={"job": job, "outcome": "unfunded"})
        if self.address is not None:  # after the cursor: a failed read loses no progress
            report.funding = self.funding()
        if self._observe is not None:
            self._observe(report)
        log.info(report.summary(), extra={"job": job, "block": report.block})
        return report


def _behind(ahead: list[TxRecord], head: int) -> str | None:
    """The lagging node's line: `ahead` are the key's transactions recorded in blocks above the
    node's `head` (None: the node is not behind them)."""
    if not ahead:
        return None
    newest = max(ahead, key=lambda r: r.block or 0)
    return (
        f"the node is behind: its head is block {head}, this key's {newest.action_id} "
        f"({newest.tx_hash}) is recorded in block {newest.block}; its records stand until the "
        "node catches up"
    )


def _short(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()[:8] + "…"
    if isinstance(value, int) and value >= 2**255:
        return "max"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(str(v) for v in value) + "]"
    text = str(value)
    return text[:12] + "…" if len(text) > 42 else text


def _simulate_anonymous(
    to: str, data: bytes, types: tuple[Any, ...], contract: Any
) -> tuple[str, str] | None:
    """A dry run without an account: the call from the zero address."""
    from keepers.errors import ErrorDecoder
    from keepers.outcomes import error_data

    decoder = ErrorDecoder(*types, contract.contract_type)  # the called contract's own win
    response = chain.provider.web3.provider.make_request(
        "eth_call", [{"to": to, "data": "0x" + data.hex()}, "pending"]
    )
    if "error" not in response:
        return None
    error = response["error"]
    name, reason = decoder.decode(error_data(error) if isinstance(error, dict) else b"")
    return (name or "", reason or str(error.get("message", error)))
