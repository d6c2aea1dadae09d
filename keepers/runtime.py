"""Opening a keeper from settings: the signing account from Ape's keystores, the deployment
manifest of the connected network, the state file of this chain, deployment and key (bound to
them, `keepers.store`: a reset or other chain starts fresh state in its own file). Used by the
CLI and the Silverback bots alike; every failure is a `StartupError` with one line for the operator.

Accounts are Ape accounts by alias (`ape accounts generate keeper` / `ape accounts import`). A
keystore is unlocked without a prompt from `APE_ACCOUNTS_<alias>_PASSPHRASE` (Ape's own
variable); without it a keeper refuses to start rather than wait on a prompt. `TEST::<n>` names
Ape's n-th test account (local networks only).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from keepers.binding import ChainBinding
from keepers.config import KeeperSettings
from keepers.errors import one_line
from keepers.multicall import Multicall, MulticallError
from keepers.protocol import Protocol, ProtocolError
from keepers.reads import read_chain_binding, read_vault_sleeves
from keepers.shell import Keeper
from keepers.state_lock import StateInUse, hold, release
from keepers.store import BindingError, SchemaError, Store
from keepers.strategy.kit import BUILTIN, StrategyLoadError, load_strategy

__all__ = ["StartupError", "check_strategy", "load_account", "open_keeper", "open_store"]

log = logging.getLogger("keepers")


class StartupError(RuntimeError):
    """The keeper cannot start; the message is one line."""


def load_account(alias: str) -> Any:
    """The Ape account `alias`, unlocked for signing without a prompt (ballast.accounts: a
    keeper is always unattended)."""
    from ballast.accounts import AccountError, ready_to_sign
    from ballast.accounts import load_account as load

    try:
        # never a prompt; that it signs unattended is what a keeper does: said at INFO
        return ready_to_sign(load(alias), unattended=True, interactive=False, say=log.info)
    except AccountError as err:
        raise StartupError(str(err)) from None


def open_store(
    settings: KeeperSettings, protocol: Protocol, address: str | None, *, sending: bool = False
) -> Store:
    """The state of this key on the connected chain and `protocol`'s deployment: the file
    `settings.state_path(chain id, address, binding key)`, bound to that binding (created
    fresh for a chain or deployment not seen before; an older file is left as it is).
    `sending` (a keeper with a key, not a dry run, that may send): the file's process lock is
    taken first (`keepers.state_lock`: another sending process of the key is refused in one
    line before the file is read), released by `Store.close` or the process's end; only such a
    keeper rebinds a file of the same deployment to a refreshed manifest's sleeves (a view or a
    dry run with an older manifest reads the file as it is: `keepers.store`), and only to a
    manifest that lists every sleeve the vault holds (`_refuse_an_out_of_date_manifest`), and
    carries a file named the old way over to the new name (`_legacy_file`; a view reads that
    one)."""
    from ape import chain

    binding = read_chain_binding(chain.provider.web3, protocol)
    path = settings.state_path(binding.chain_id, address, binding.key)
    may_send = sending and address is not None and not settings.dry_run
    legacy = _legacy_file(settings, binding, path, address)
    if legacy is not None and not may_send:
        path = legacy  # a view or a dry run reads it where it is: only a sender carries it over
    held = None
    if may_send:
        try:
            held = hold(path)
        except (StateInUse, OSError) as err:
            raise StartupError(one_line(err)) from None
    try:
        if legacy is not None and may_send:
            _carry_over(legacy, path)
        store = _open_state(
            settings, binding, path, address, rebind=held is not None,
            check_rebind=lambda bound, _: _refuse_an_out_of_date_manifest(protocol, path, bound),
        )  # fmt: skip
    except BaseException:
        release(held)
        raise
    store.process_lock = held
    return store


def _refuse_an_out_of_date_manifest(protocol: Protocol, path: Path, bound: ChainBinding) -> None:
    """`StartupError` (one line, before anything is written or sent) when `protocol`'s manifest
    does not list a sleeve the vault holds at the head (`read_vault_sleeves`; the rebalancer's
    rule, `AllocationRead.order_mismatch`, which skips its passes on such a manifest): it was
    written before the DAO added that sleeve, and rebinding the file `path` (bound to `bound`)
    to it would drop the readings of a sleeve the file's manifest named, history the next keeper
    with the up-to-date manifest would have lost. A sleeve really removed on chain is not held,
    so a refreshed manifest rebinds and drops its readings as before."""
    try:
        _, held = read_vault_sleeves(Multicall(), protocol.vault)
    except MulticallError as err:
        raise StartupError(
            f"keeper state: cannot read the vault's sleeves to check {protocol.source} before "
            f"rebinding {path} to it: {one_line(err)}"
        ) from None
    listed = {s.address.lower() for s in protocol.deployment.sleeves}
    missing = [a for a in held if a.lower() not in listed]
    if not missing:
        return
    names = {a: n.removeprefix("sleeve:") for n, a in bound.contracts if n.startswith("sleeve:")}
    described = ", ".join(f"{names[a.lower()]} ({a})" if a.lower() in names else a for a in missing)
    raise StartupError(
        f"{protocol.source} is out of date: it does not list the vault's sleeve(s) {described}; "
        f"refresh it (`ape run deploy` writes it) and start again (nothing sent, {path} left "
        "as it is)"
    )


def _legacy_file(
    settings: KeeperSettings, binding: ChainBinding, path: Path, address: str | None
) -> Path | None:
    """State files were named by every address of the manifest (`ChainBinding.legacy_key`), so
    a sleeve added or removed started a new one. The file of this very manifest under that name,
    bound to this deployment, is this deployment's state while `path` does not exist yet."""
    legacy = settings.state_path(binding.chain_id, address, binding.legacy_key())
    if legacy == path or path.exists() or not legacy.exists():
        return None
    try:
        db = sqlite3.connect(legacy)
        try:
            row = db.execute("SELECT binding FROM chain_binding WHERE id = 1").fetchone()
        finally:
            db.close()
        bound = row is not None and ChainBinding.from_json(row[0]).deployment == binding.deployment
    except (sqlite3.DatabaseError, ValueError, KeyError, TypeError, AttributeError):
        return None  # unbound, damaged or hand-edited: left as it is
    return legacy if bound else None


def _carry_over(legacy: Path, path: Path) -> None:
    """Copies the `legacy` state file to `path` (SQLite's backup, into a temporary file moved
    into place), the old file left for audit, under the old file's lock: an older keeper still
    running on it is refused in one line (its records would not follow)."""
    try:
        held = hold(legacy)
    except (StateInUse, OSError) as err:
        raise StartupError(one_line(err)) from None
    temporary = path.with_name(path.name + ".carry")
    try:
        source, target = sqlite3.connect(legacy), sqlite3.connect(temporary)
        try:
            source.backup(target)
        finally:
            source.close()
            target.close()
        temporary.replace(path)
    except (sqlite3.DatabaseError, OSError) as err:
        raise StartupError(
            f"keeper state: {legacy} cannot be carried over to {path}: {err}"
        ) from None
    finally:
        temporary.unlink(missing_ok=True)
        release(held)
    log.warning(
        "state file %s carried over to %s (state files are named by the deployment now, not "
        "by its sleeves); the old file is kept as it was", legacy.name, path.name,
    )  # fmt: skip


def _open_state(
    settings: KeeperSettings,
    binding: ChainBinding,
    path: Path,
    address: str | None,
    *,
    rebind: bool = True,
    check_rebind: Callable[[ChainBinding, ChainBinding], None] | None = None,
) -> Store:
    unbound = settings.state_path(binding.chain_id, address)
    if unbound.exists() and not path.exists():
        log.warning(
            "state file %s predates chain binding and is not used (kept as it is); "
            "this chain's state starts fresh in %s", unbound, path.name,
        )  # fmt: skip
    try:
        return Store(path, binding, rebind=rebind, check_rebind=check_rebind)
    except (SchemaError, BindingError, OSError) as err:
        raise StartupError(f"keeper state: {err}") from None
    except sqlite3.DatabaseError as err:  # not SQLite at all, or damaged
        raise StartupError(
            f"keeper state: {path} cannot be read ({err}): restore it from a backup, or move it "
            "away to start with empty state"
        ) from None


def open_keeper(
    settings: KeeperSettings,
    reconcile: bool = True,
    serve_metrics: bool = True,
    *,
    account: Any | None = None,
    sending: bool = True,
) -> Keeper:
    """A keeper on the connected network, per `settings` (account, manifest, state folder),
    serving Prometheus metrics on `settings.metrics_port` when set and `serve_metrics` (views
    such as `status` do not: the running keeper with the same file already holds the port).
    `account`: the account of `settings.account` when the caller loaded it already (the bot,
    which claims the key's lease before it opens the keeper); else it is loaded here.
    `sending`: a keeper that may send takes its state file's process lock (`open_store`);
    the views (`status`, `verify-*`) pass False and read beside a running keeper."""
    try:
        protocol = Protocol.load(settings.manifest)
    except ProtocolError as err:
        raise StartupError(str(err)) from None
    if settings.rebalancer.strategy != BUILTIN:  # an operator's own strategy must import
        try:
            load_strategy(settings.rebalancer.strategy)
        except StrategyLoadError as err:
            raise StartupError(str(err)) from None
    if account is None and settings.account:
        account = load_account(settings.account)
    address = str(account.address) if account is not None else None
    store = open_store(settings, protocol, address, sending=sending)
    try:
        return _keeper_on(store, protocol, account, settings, reconcile, serve_metrics)
    except BaseException:
        store.close()  # and its process lock: a keeper that did not open holds nothing
        raise


def _keeper_on(
    store: Store,
    protocol: Protocol,
    account: Any | None,
    settings: KeeperSettings,
    reconcile: bool,
    serve_metrics: bool,
) -> Keeper:
    observe = failed = None
    if settings.metrics_port is not None and serve_metrics:
        from keepers.metrics import Metrics

        metrics = Metrics()
        try:
            metrics.serve(settings.metrics_port)
        except OSError as err:
            reason = err.strerror or str(err)
            raise StartupError(f"metrics port {settings.metrics_port}: {reason}") from None
        observe, failed = metrics.observe, metrics.failed
    try:
        keeper = Keeper(protocol, store, account, settings, observe=observe, failed=failed)
    except MulticallError as err:
        raise StartupError(str(err)) from None
    if reconcile:
        for record in keeper.reconcile():
            log.warning("still pending from before: %s %s", record.action_id, record.tx_hash)
    return keeper


def check_strategy(keeper: Keeper, jobs: tuple[str, ...]) -> None:
    """`StartupError` (one line) when `jobs` include the rebalancer and its settings name a
    sleeve the manifest does not have (`RebalancerConfig.unknown_sleeve`), or an operator's own
    strategy proposes, on the vault as it is now, what the keeper would refuse to send (outside
    the vault's bounds, bad output, a receipt that does not replay): such a keeper stops at
    start-up rather than skip every pass. The built-in strategy is not tried (its proposals are
    within the bounds by construction and by test)."""
    from keepers.config import job_name
    from keepers.shell.rebalancer import trial_strategy

    if "rebalancer" not in {job_name(j) for j in jobs}:
        return
    unknown = keeper.settings.rebalancer.unknown_sleeve(list(keeper.protocol.sleeves))
    if unknown is not None:
        raise StartupError(unknown)
    strategy = keeper.settings.rebalancer.strategy
    if strategy == BUILTIN:
        return
    try:
        refused = trial_strategy(keeper)
    except Exception as err:  # noqa: BLE001 - a node error while reading: cannot judge, cannot start
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise StartupError(f"rebalancer: cannot try strategy {strategy!r}: {first}") from None
    if refused is not None:
        raise StartupError(f"rebalancer: {refused}")
