"""The keeper bot: Ballast's keeper jobs on Silverback triggers (see keepers/bots/README.md).

    silverback run keepers.bots.keeper:bot --network ethereum:mainnet:node

Triggers (a job runs only if it is in the settings' `jobs`):

- every new block: sentinel, liquidator, settler, evaluator, in that order (the sentinel first,
  so a pause it sends precedes the block's other actions; each pass is one batched read);
- cron `BALLAST_BOT_REBALANCER_CRON` (default `0 * * * *`: hourly, UTC): rebalancer, whose
  inputs (returnIndex history, gas-gated reallocation) move on hours, not blocks.

Distributed (`silverback worker` per key, `silverback run` as the runner, over Redis): the broker
is `keepers.bots.redis.KeeperStreamBroker`; at startup, before the bot's handlers run, it asks
each worker who it is (chain, deployment, key, shard: read from the settings, the account and
the manifest, nothing of the key's opened) and the runner its chain and deployment (from the
settings' manifest), so the broker can refuse a process that does not belong on the queue —
a second worker of a held key before it opens the key's state file or metrics port.

Settings are `load_settings(BALLAST_KEEPER_CONFIG)` plus `BALLAST_KEEPER_*` variables. Each
worker process opens one keeper (one key, one SQLite state file) at worker startup; a bad
config or a failed start stops the bot with one line. Passes are serialised (one key: one
transaction in flight) and run off the event loop. A job skips a block its previous pass already
read, so a backlog of block tasks behind a slow pass coalesces instead of piling up passes.

A pass that raises is logged in one line (again only when the message changes) and counted as
`<job>_errors = 1`; the task itself succeeds, so Silverback's `--max-exceptions` never halts the
bot over one job. Task return values are Silverback metrics, which must be numbers (strings are
dropped with a warning): `<job>_block`, `<job>_actions`, `<job>_failed`, `<job>_alerts`,
`<job>_errors`. The report summaries are logged by `Keeper.run`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import silverback.runner
from ape import chain
from ape.api import BlockAPI
from silverback import SilverbackBot
from silverback.exceptions import StartupFailure
from silverback.main import SharedState
from taskiq import TaskiqState

from ballast.node import PRIVATE_NODE_VARIABLE, NodeError, require_node
from keepers.bots.redis import KeeperStreamBroker, Member
from keepers.bots.runner import KeeperPollingRunner, KeeperWebsocketRunner
from keepers.config import ConfigError, KeeperSettings, load_settings
from keepers.errors import one_line
from keepers.logs import configure_logging
from keepers.protocol import Protocol, ProtocolError
from keepers.reads import read_chain_binding
from keepers.runtime import StartupError, check_strategy, load_account, open_keeper
from keepers.shell import JobReport, Keeper
from keepers.shell.reports import FAILED_OUTCOMES

__all__ = ["BLOCK_JOBS", "CRON_JOBS", "REBALANCER_CRON", "KeeperTasks", "bot"]

log = logging.getLogger("keepers.bot")

BLOCK_JOBS: Final = ("sentinel", "liquidator", "settler", "evaluator")
CRON_JOBS: Final = ("rebalancer", "steward")  # the steward only if in `jobs` (opt in)
REBALANCER_CRON: Final = os.environ.get("BALLAST_BOT_REBALANCER_CRON", "0 * * * *")


def _metrics(report: JobReport) -> dict[str, int]:
    job = report.job
    return {
        f"{job}_block": report.block,
        f"{job}_actions": len(report.actions),
        f"{job}_failed": sum(1 for a in report.actions if a.outcome in FAILED_OUTCOMES),
        f"{job}_alerts": len(report.alerts),
        f"{job}_unfunded": len(report.shortfalls),  # lack of gas or inventory (logged too)
        f"{job}_errors": 0,
    }


class KeeperTasks:
    """This process's keeper and the bookkeeping of its passes (thread safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.keeper: Keeper | None = None
        self.jobs: tuple[str, ...] = ()
        self._last_read: dict[str, int] = {}
        self._last_error: dict[str, str] = {}
        self._identified: tuple[KeeperSettings, Any, Member] | None = None
        self._stopping = threading.Event()

    def identify(self) -> Member:
        """This worker on a Redis queue (its chain and deployment, key and shard), read from
        the settings, the account and the manifest before anything of the key's is opened: the
        broker claims the key's lease with it, then `open` uses the same settings and account."""
        with self._lock:
            if self._identified is None:
                settings = _settings()
                try:
                    account = load_account(settings.account) if settings.account else None
                    binding = read_chain_binding(
                        chain.provider.web3, Protocol.load(settings.manifest)
                    )
                except (ProtocolError, StartupError) as err:
                    raise StartupFailure(f"ballast keeper: {err}") from None
                except Exception as err:  # noqa: BLE001 - e.g. a node error while reading
                    raise StartupFailure(
                        f"ballast keeper: cannot open the keeper: {one_line(err)}"
                    ) from None
                address = str(account.address) if account is not None else None
                shard = settings.shard
                member = Member(
                    binding.key, binding.describe(), address, (shard.index, shard.count)
                )
                self._identified = (settings, account, member)
            return self._identified[2]

    def open(self) -> None:
        """Opens the keeper once per process (every receiver of a worker starts the broker),
        with the settings and account `identify` read when it ran."""
        with self._lock:
            if self.keeper is not None:
                return
            settings, account = self._identified[:2] if self._identified else (_settings(), None)
            try:
                keeper = open_keeper(settings, account=account)
                try:
                    check_strategy(keeper, settings.jobs)  # a strategy it could never send
                except BaseException:
                    keeper.store.close()
                    raise
            except StartupError as err:
                raise StartupFailure(f"ballast keeper: {err}") from None
            except Exception as err:  # noqa: BLE001 - e.g. a node error while opening
                raise StartupFailure(
                    f"ballast keeper: cannot open the keeper: {one_line(err)}"
                ) from None
            self.keeper, self.jobs = keeper, settings.jobs
            log.info(
                "keeper %s on chain %s, jobs %s, state %s",
                keeper.address or "read-only (dry run)",
                chain.chain_id,
                ", ".join(settings.jobs),
                keeper.store.path,
            )

    def stop(self) -> None:
        """The bot is stopping (SIGTERM, SIGINT): no new pass starts, and a pass under way stops
        waiting for its transaction (no more fee bumps): it stays recorded in the state file, and
        the next start settles it by its hash. Not under the lock, which the pass holds."""
        self._stopping.set()
        keeper = self.keeper
        if keeper is not None:
            keeper.stopping.set()

    def close(self) -> None:
        with self._lock:
            if self.keeper is not None:
                self.keeper.store.close()
                self.keeper = None

    def run(self, jobs: tuple[str, ...], block: int | None = None) -> dict[str, int]:
        """One pass of each of `jobs` that is configured and has not read `block` yet."""
        with self._lock:
            keeper = self.keeper
            if keeper is None:
                raise RuntimeError("the keeper is not open (worker startup did not run)")
            results: dict[str, int] = {}
            due = [job for job in jobs if job in self.jobs and self._due(job, block)]
            moved = _chain_moved(keeper) if due and not self._stopping.is_set() else None
            for job in due:
                if self._stopping.is_set():
                    break
                if moved is not None:
                    results.update(self._failed(job, moved))
                else:
                    results.update(self._pass(keeper, job))
            return results

    def _due(self, job: str, block: int | None) -> bool:
        """Whether `job` passes on `block`'s task: not when its last pass already read that block
        (a backlog behind a slow pass coalesces), unless the node's head is now below what it
        read — a node restarted from an older state (`anvil --load-state`) rewinds the chain,
        and waiting for it to grow back past the old head would leave every job idle that long."""
        last = self._last_read.get(job, -1)
        if block is None or last < block:
            return True
        try:
            head = int(chain.provider.web3.eth.block_number)
        except Exception:  # noqa: BLE001 - the node down: the pass would fail anyway
            return False
        if head >= last:
            return False
        del self._last_read[job]
        return True

    def _failed(self, job: str, message: str) -> dict[str, int]:
        if self._last_error.get(job) != message:
            log.error("%s pass failed: %s", job, message, extra={"job": job})
        self._last_error[job] = message
        return {f"{job}_errors": 1}

    def _pass(self, keeper: Keeper, job: str) -> dict[str, int]:
        try:
            report = keeper.run(job)
        except Exception as err:  # noqa: BLE001 - one failing job must not stop the others
            return self._failed(job, one_line(err))
        if self._last_error.pop(job, None) is not None:
            log.info("%s pass succeeded again", job, extra={"job": job})
        self._last_read[job] = report.block
        return _metrics(report)


def _chain_moved(keeper: Keeper) -> str | None:
    """Why no pass may run on the node as it is now, or None: the chain and deployment the node
    serves must still be those the keeper's state file is bound to. A long-running bot outlives
    its node: one restarted empty or replaced at the same URL, with the system deployed again
    (at the same addresses, as a fresh anvil gives), is another deployment, whose passes would
    run on the old one's cursors, borrower list and done markers (its borrowers below the old
    scan cursor never found). So each block's passes read the binding first (two block reads)
    and are refused, in one line, until the node serves the keeper's chain again; restarting
    the bot opens the new deployment's own state (docs/keeper-operator.md)."""
    bound = keeper.store.binding
    if bound is None:
        return None
    try:
        now = read_chain_binding(chain.provider.web3, keeper.protocol).deployment
    except Exception as err:  # noqa: BLE001 - a node down, a block the node does not have
        return f"cannot read which chain the node serves: {one_line(err)}"
    if now == bound.deployment:
        return None
    return (
        f"the node now serves another chain or deployment than the keeper's state "
        f"({'; '.join(now.differences(bound.deployment))} differ): nothing sent; restart the "
        "keeper to act on that deployment (it opens its own state), or give it its node back"
    )


def _settings() -> KeeperSettings:
    """`load_settings(BALLAST_KEEPER_CONFIG)`, the logging configured from them; a bad config is
    `StartupFailure` (one line)."""
    config = os.environ.get("BALLAST_KEEPER_CONFIG")
    try:
        settings = load_settings(Path(config) if config else None)
    except ConfigError as err:
        raise StartupFailure(f"ballast keeper: {err}") from None
    configure_logging(settings.log_json, logging.INFO)
    return settings


def require_named_node() -> None:
    """The bot acts on the node the operator named, as `ballast-keeper` and the scripts do
    (`ballast.node.require_node`): `APE_FOUNDRY_HOST` unset, not a URL, or naming a node that
    does not answer is one line at start-up (`StartupFailure`). Silverback connects before it
    loads the bot, and ape-foundry starts a private anvil (on the named host and port) when no
    node answers there: a provider that started its own node is refused too, unless asked for
    (`BALLAST_PRIVATE_NODE=1`). Without this the bot stopped on that empty chain with "no code at
    LendingSleeve … (was the node restarted? run `ape run deploy` again)", naming neither the
    cause nor the fix."""
    provider = chain.provider
    try:
        require_node(provider)
    except NodeError as err:
        raise StartupFailure(f"ballast keeper: {err}") from None
    private_asked = os.environ.get(PRIVATE_NODE_VARIABLE, "") not in ("", "0")
    if getattr(provider, "process", None) is not None and not private_asked:
        raise StartupFailure(
            f"ballast keeper: no node answered at {provider.uri}, so ape-foundry started a private "
            "anvil there that stops with the bot: start your node first (or point "
            f"APE_FOUNDRY_HOST at it), or set {PRIVATE_NODE_VARIABLE}=1 for a private one"
        )


tasks = KeeperTasks()
bot = SilverbackBot()

# `silverback run` picks its runner after it imported the bot: for a websocket provider, and for
# one without (polling), the bot's own, which reconnect or poll again when the node restarts
# (Silverback's own end the bot for good: keepers.bots.runner)
silverback.runner.WebsocketRunner = KeeperWebsocketRunner
silverback.runner.PollingRunner = KeeperPollingRunner


@bot.on_worker_startup()
async def open_keeper_at_worker_startup(state: TaskiqState) -> None:
    require_named_node()
    # Off the event loop: on a Redis queue the key's lease is already held, and its heartbeat
    # must go on refreshing it while the keeper opens (reconciling may take a while).
    await asyncio.to_thread(tasks.open)
    if isinstance(bot.broker, KeeperStreamBroker) and not hasattr(bot, "state"):
        # A worker that joins a running runner (a restart) gets no startup snapshot from it:
        # Silverback's per-task bookkeeping then needs a state of its own.
        bot.state = SharedState()


def runner_member() -> Member:
    """The runner on a Redis queue: the chain and the deployment of the keeper's settings'
    manifest (the runner holds no key; it reads the same settings, for the manifest only)."""
    settings = _settings()
    try:
        binding = read_chain_binding(chain.provider.web3, Protocol.load(settings.manifest))
    except ProtocolError as err:
        raise StartupFailure(f"ballast keeper: {err}") from None
    return Member(binding.key, binding.describe())


def identify(worker: bool) -> Member:
    """Who this process is on a Redis queue, asked by the broker at startup before the bot's
    handlers run (`KeeperStreamBroker.startup`): a worker's key is claimed before its keeper
    opens, so a second worker of a held key is refused having touched nothing of the key's."""
    require_named_node()
    return tasks.identify() if worker else runner_member()


if isinstance(bot.broker, KeeperStreamBroker):
    bot.broker.identify = identify
    bot.broker.on_stop = tasks.stop


@bot.on_shutdown()
def stop_passes_at_shutdown() -> None:
    """Silverback's shutdown (SIGTERM, SIGINT) runs this while a pass may still be waiting on
    its transaction: it stops waiting, so the bot exits in seconds rather than bumping fees for
    up to `tx.receipt_timeout` after it was told to stop."""
    tasks.stop()


@bot.on_worker_shutdown()
def close_keeper_at_worker_shutdown(state: TaskiqState) -> None:
    tasks.close()


@bot.on_(chain.blocks)
async def block_jobs(block: BlockAPI) -> dict[str, int]:
    """Sentinel, liquidator, settler and evaluator passes on a new block."""
    return await asyncio.to_thread(tasks.run, BLOCK_JOBS, block.number)


@bot.cron(REBALANCER_CRON)
async def cron_jobs(time: datetime) -> dict[str, int]:
    """The rebalancer's pass on its schedule."""
    return await asyncio.to_thread(tasks.run, CRON_JOBS)
