"""Keepers against the test systems of `lending_support` / `vault_support`: a `Protocol` built
from a test deployment (no manifest file), many borrowers opened fast, a keeper per account."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ape
from eth_utils import to_checksum_address

from ballast.config import DeployConfig
from ballast.deploy import deploy_system
from ballast.deployment import CollateralEntry, Deployment, SleeveEntry
from ballast.node_send import send_unlocked
from keepers.binding import ChainBinding
from keepers.config import KeeperSettings, load_settings
from keepers.math import WAD
from keepers.multicall import Call
from keepers.protocol import Protocol
from keepers.reads import read_chain_binding
from keepers.shell import Keeper
from keepers.store import Store
from tests.impersonated import impersonate, read_all, send_all, stop_impersonating
from tests.lending_support import COLLATERAL, LendingSystem, deploy_lending_system
from tests.vault_support import USDC

MAX_UINT = 2**256 - 1


@contextmanager
def rpc_requests() -> Iterator[Counter]:
    """Counts the JSON-RPC requests this process sends to the node, by method, while inside:
    every request, Ape's and web3's (`eth_call`, Multicall3's included), goes through the web3
    provider's `make_request` (its cached middleware chain is rebuilt around the counter)."""
    provider = ape.chain.provider.web3.provider
    real, own = provider.make_request, vars(provider).get("make_request")
    counts: Counter = Counter()

    def counting(method: str, params: Any) -> Any:
        counts[str(method)] += 1
        return real(method, params)

    provider.make_request = counting
    provider._request_func_cache = (None, None)
    try:
        yield counts
    finally:
        if own is None:
            del provider.make_request
        else:
            provider.make_request = own
        provider._request_func_cache = (None, None)


def sleeve_entries(sleeves) -> list[SleeveEntry]:
    """The manifest's entries of a test system's tokenized sleeves (`vault_support` specs)."""
    return [
        SleeveEntry(
            name=s.name,
            address=str(s.sleeve.address),
            kind="TokenizedRWASleeve",
            token=str(s.token.address),
            feed=str(s.feed.address),
            issuer=str(s.issuer.address),
        )
        for s in sleeves
    ]


def vault_protocol(system) -> Protocol:
    """The `Protocol` a manifest of a vault-only system (`deploy_vault_system`, no lending book)
    would load."""
    deployment = Deployment(
        chain_id=ape.chain.chain_id,
        block=0,
        deployer=str(system.governance.address),
        contracts={
            "RWAVault": str(system.vault.address),
            "AgentRegistry": str(system.agents.address),
            "ParameterRegistry": str(system.registry.address),
            "OracleRouter": str(system.router.address),
        },
        sleeves=sleeve_entries(system.sleeves),
        tokens={"asset": str(system.asset.address)},
        roles={"guardian": str(system.guardian.address)},
    )
    return Protocol.from_deployment(deployment, source="the test deployment")


def protocol_of(lending: LendingSystem, first_block: int = 0, relay=None) -> Protocol:
    """The `Protocol` a manifest of this test system would load (`relay`: its ClaimRelay)."""
    vs = lending.vs
    sleeves = sleeve_entries(vs.sleeves)
    sleeves.append(SleeveEntry(name="lending", address=str(lending.book.address),
                               kind="LendingSleeve"))  # fmt: skip
    deployment = Deployment(
        chain_id=ape.chain.chain_id,
        block=first_block,
        deployer=str(vs.governance.address),
        contracts={
            "RWAVault": str(vs.vault.address),
            "AgentRegistry": str(vs.agents.address),
            "ParameterRegistry": str(vs.registry.address),
            "OracleRouter": str(vs.router.address),
            "LendingSleeve": str(lending.book.address),
            **({"ClaimRelay": str(relay.address)} if relay is not None else {}),
        },
        sleeves=sleeves,
        collateral=[
            CollateralEntry(
                name=n, token=str(lending.token(n).address), feed=str(lending.feed(n).address)
            )
            for n in COLLATERAL
        ],  # fmt: skip
        tokens={"asset": str(vs.asset.address)},
        roles={"guardian": str(vs.guardian.address)},
    )
    return Protocol.from_deployment(deployment, source="the test deployment")


def keeper(
    protocol: Protocol, account, state: Path, settings: KeeperSettings | None = None, **overrides
) -> Keeper:
    """A keeper for `account` (None: read only) with its own store under `state`."""
    settings = settings or load_settings(**overrides)
    who = "readonly" if account is None else account.address
    store = Store(state / f"{who}.sqlite")
    return Keeper(protocol, store, account, settings)


def bound_state(
    state_dir: Path, deployment: Protocol | Path, address: str | None
) -> tuple[Path, ChainBinding]:
    """The state file `ballast-keeper --state-dir state_dir` uses for `address` on this chain
    and `deployment` (a `Protocol` or a manifest's path), and the binding it carries."""
    protocol = deployment if isinstance(deployment, Protocol) else Protocol.load(deployment)
    binding = read_chain_binding(ape.chain.provider.web3, protocol)
    settings = load_settings(state_dir=state_dir)
    return settings.state_path(binding.chain_id, address, binding.key), binding


def send_as(web3: Any, sender: str, to: str, data: bytes, gas: int) -> dict[str, Any]:
    """`data` sent to `to` from `sender` (an anvil-impersonated account: the node signs), with
    `gas`, as it is (`ballast.node_send`); its receipt."""
    return send_unlocked(web3, sender, to, data, gas)


def views(method: Any, args: Iterable[Any]) -> list[Any]:
    """`method` (an Ape contract view, `book.healthFactor`) at the latest block for each of
    `args` (one argument, or a tuple of them), decoded as Ape's call would: one JSON-RPC batch
    (`tests.impersonated.read_all`) for a whole book, where a call per borrower cost a request
    and Ape's encoding and decoding each."""
    calls = [Call(method, *(a if isinstance(a, tuple) else (a,))) for a in args]
    replies = read_all(ape.chain.provider.web3, [(c.target, c.calldata()) for c in calls])
    return [c.decode(r) for c, r in zip(calls, replies, strict=True)]


def unhealthy_in(book: Any, borrowers: Iterable[str]) -> set[str]:
    """The borrowers the book's `healthFactor` puts below 1 (one batch: `views`)."""
    borrowers = list(borrowers)
    health = views(book.healthFactor, borrowers)
    return {b for b, h in zip(borrowers, health, strict=True) if h < WAD}


def still_unhealthy(book: Any, borrowers: Iterable[str]) -> list[str]:
    """The borrowers still below health 1 with debt left (none once a liquidator cleared them)."""
    borrowers = list(borrowers)
    health, debt = views(book.healthFactor, borrowers), views(book.debtOf, borrowers)
    return [b for b, h, d in zip(borrowers, health, debt, strict=True) if h < WAD and d != 0]


def open_many_positions(lending: LendingSystem, count: int, funder) -> list[str]:
    """`count` fresh borrowers, each posting tbill worth 10,000 and borrowing 5,000 + i·10 (so
    health spreads from ~1.7 down; a tbill drop of 25 % makes the most indebted unhealthy).
    Sent from anvil-impersonated accounts without Python signing, each step for all borrowers
    in a few JSON-RPC batches (`tests.impersonated`): quick for hundreds. Every transaction is
    mined from its borrower's own address and its receipt's status checked."""
    web3 = ape.chain.provider.web3
    usdc = 10 ** lending.asset.decimals()
    tbill = lending.token("tbill")
    issuer = lending.vs.sleeve("tbill").issuer
    book, asset = lending.book, lending.asset
    addresses = [to_checksum_address(f"0x{0xB0B0_0000 + i:040x}") for i in range(count)]
    impersonate(web3, addresses, 10**20)

    def tx(contract, method, *args, sender):
        data = bytes(getattr(contract, method).encode_input(*args))
        return (sender, str(contract.address), data, 1_500_000)

    # a sender's transactions are mined in the order given (each carries its nonce)
    send_all(web3, [
        step
        for who in addresses
        for step in (
            tx(asset, "faucet", who, 10_000 * usdc, sender=who),
            tx(asset, "approve", issuer.address, MAX_UINT, sender=who),
            tx(issuer, "subscribe", 10_000 * usdc, sender=who),
            tx(tbill, "approve", book.address, MAX_UINT, sender=who),
        )
    ])  # fmt: skip
    reads = [(tbill.address, tbill.balanceOf.encode_input(who)) for who in addresses]
    held = [int.from_bytes(r, "big") for r in read_all(web3, reads)]
    send_all(web3, [
        step
        for i, (who, tbills) in enumerate(zip(addresses, held, strict=True))
        for step in (
            tx(book, "depositCollateral", tbill.address, tbills, sender=who),
            tx(book, "borrow", (5_000 + 10 * i) * usdc, sender=who),
        )
    ])  # fmt: skip
    stop_impersonating(web3, addresses)
    return addresses


def race(keepers: list[Keeper], job: str, timeout: float = 600, *, failures: bool = False) -> list:
    """Runs one pass of `job` on every keeper at once and returns their reports in order. An
    exception in any thread fails the caller; with `failures`, a pass that raised an
    `Exception` gives it in its report's place (the fault drills look at it).

    The threads are released together, and each keeper's first batched read (its snapshot of
    the chain) waits until every keeper has taken its own: all of them plan from the same state
    before any of them can send, so who wins is settled on chain, not by which thread a busy
    machine ran first (without the gate a keeper scheduled late could read after the other's
    transaction and find nothing to race for)."""
    import contextlib
    import threading

    reports: list = [None] * len(keepers)
    errors: list[BaseException] = []
    go = threading.Barrier(len(keepers))
    read = threading.Barrier(len(keepers), timeout=timeout / 2)

    def gated(multicall):
        original = multicall.read

        def first_read(*args, **kwargs):
            multicall.read = original  # later reads of this pass go straight through
            try:
                return original(*args, **kwargs)
            finally:
                # broken: a rival failed before its read; its error is reported below
                with contextlib.suppress(threading.BrokenBarrierError):
                    read.wait()

        return first_read

    def run(i: int) -> None:
        try:
            go.wait()
            reports[i] = keepers[i].run(job)
        except Exception as err:  # noqa: BLE001 - the fault drills look at it
            if not failures:
                errors.append(err)
            reports[i] = err
        except BaseException as err:  # noqa: BLE001 - re-raised in the calling thread
            errors.append(err)
        finally:  # done, so past its read or never reading: nobody waits for it any more
            read.abort()

    for k in keepers:
        k.multicall.read = gated(k.multicall)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(keepers))]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout)
    finally:
        for k in keepers:
            vars(k.multicall).pop("read", None)  # the class's read again
    assert not errors, errors
    assert all(r is not None for r in reports), "a racing keeper did not finish"
    return reports


def pending_from(chain, who: str) -> list[dict]:
    """`who`'s transactions waiting in the node's pool (a chain fact: txpool_content)."""
    pool = chain.provider.make_request("txpool_content", [])["pending"]
    mine = next((txs for sender, txs in pool.items() if sender.lower() == who.lower()), {})
    return list(mine.values())


@dataclass(frozen=True)
class Overtaken:
    """A keeper's pass whose first transaction a rival's was mined ahead of, in one block."""

    report: Any  # the pass's JobReport
    first: dict  # the keeper's first transaction, as the node's pool held it
    rival_hash: str


def overtaken(
    chain, k: Keeper, job: str, rival: str, to: str, rival_data: Callable[[dict], bytes]
) -> Overtaken:
    """Automine off: runs one pass of `job` on `k` in a thread until its first transaction waits
    in the pool; `rival` then sends `rival_data(that transaction)` to `to` with ten times its
    tip, and one block mines both, the rival's first. The rest of the pass is mined as it sends.
    The order is the block's, never a thread's timing; the deadline only stops a hung pass."""
    request = chain.provider.make_request
    ours = k.account.address
    done = threading.Event()
    box: dict = {}

    def run() -> None:
        try:
            box["report"] = k.run(job)
        except BaseException as err:  # noqa: BLE001 - re-raised below
            box["error"] = err
        finally:
            done.set()

    request("anvil_setAutomine", [False])
    try:
        threading.Thread(target=run, daemon=True).start()
        deadline = time.monotonic() + 300
        while not (pending := pending_from(chain, ours)):
            assert time.monotonic() < deadline and not done.is_set(), box
            time.sleep(0.05)
        (first,) = pending
        tip = int(first.get("maxPriorityFeePerGas") or first["gasPrice"], 16)
        rival_tx = {
            "from": rival,
            "to": to,
            "data": "0x" + bytes(rival_data(first)).hex(),
            "gas": hex(2_000_000),
            "maxPriorityFeePerGas": hex(tip * 10),
            "maxFeePerGas": hex(tip * 10 + 100 * 10**9),
        }
        rival_hash = request("eth_sendTransaction", [rival_tx])
        request("evm_mine", [])  # both in one block, the higher tip first
        while not done.is_set():  # the rest of the pass: mine whatever it sends
            if pending_from(chain, ours):
                request("evm_mine", [])
            assert time.monotonic() < deadline, "the pass did not finish"
            time.sleep(0.05)
    finally:
        request("anvil_setAutomine", [True])
    assert "error" not in box, box
    return Overtaken(box["report"], first, rival_hash)


def request(chain, method, params=None):
    """A raw JSON-RPC request to the node (anvil's own methods)."""
    return chain.provider.make_request(method, params or [])


class manual_mining:  # noqa: N801 - a context manager
    """Automine off for the block (transactions wait in the pool); on exit the pool is emptied
    and automine is back on."""

    def __init__(self, chain) -> None:
        self.chain = chain

    def __enter__(self) -> None:
        request(self.chain, "anvil_setAutomine", [False])

    def __exit__(self, *exc: object) -> None:
        request(self.chain, "anvil_dropAllTransactions")
        request(self.chain, "anvil_setAutomine", [True])


# A sender that gives up on a receipt after a second and never bumps on its own: the keepers'
# queue drills make a transaction stuck on purpose (automine off) and classify from the store.
SLOW_TX = {"receipt_timeout": 1.0, "replace_after": 100.0, "poll_interval": 0.05,
           "receipt_grace": 0.2}  # fmt: skip


def supplied_book(project, accounts) -> LendingSystem:
    """1M supplied (decision 0: 90 % to the book), one tbill-backed borrower owing 200k."""
    lending = deploy_lending_system(project, accounts[0], accounts[1], accounts[5])
    lending.supply(accounts[6], 1_000_000 * USDC)
    lending.open_position(accounts[4], "tbill", 400_000 * USDC, 200_000 * USDC)
    return lending


def write_off(lending, borrower, liquidator) -> int:
    """Gold plus 1 wei of T-bills, gold -40 %: `liquidator`'s pass writes debt off; the amount
    (`BadDebtRealized`)."""
    start = lending.book.provider.get_block("latest").number + 1
    price = int(lending.feed("gold").latestRoundData()[1])
    lending.open_position(borrower, "gold", 100_000 * USDC, 69_000 * USDC)
    lending.buy_collateral(borrower, "tbill", 10 * USDC)
    lending.book.depositCollateral(lending.token("tbill"), 1, sender=borrower)
    lending.set_nav("gold", price * 6 // 10)
    lending.confirm("gold")  # a liquidation counts the fall once confirmed
    liquidator.run("liquidator")
    head = lending.book.provider.get_block("latest").number
    (bad,) = lending.book.BadDebtRealized.range(start, head + 1)
    return int(bad.amount)


def deployed_manifest(repo_root: Path, deployer, folder: Path) -> Path:
    """The local config deployed by `deployer` (quietly), its manifest saved in `folder` under
    the name a local network's manifest has: what a keeper or script started with
    `--manifest` reads."""
    config = DeployConfig.load(repo_root / "deployments/config/local.yaml")
    deployment = deploy_system(config, deployer, report=lambda _: None)
    path = folder / "ethereum-local.json"
    deployment.save(path)
    return path


def struck_with_a_queued_leaver(lending, protocol, leaver, sender, tmp_path) -> Keeper:
    """`leaver` asks to redeem 90 % of its shares, the prices publish and `sender`'s settler
    strikes once: idle pays what it can, the rest waits queued for liquidity (the strike
    trigger off). Returns that keeper."""
    vault = lending.vault
    vault.requestRedeem(vault.balanceOf(leaver) * 9 // 10, leaver, leaver, sender=leaver)
    lending.vs.publish_prices()
    k = keeper(protocol, sender, tmp_path)
    first = k.run("settler")
    assert [(a.call, a.outcome) for a in first.actions] == [("strike()", "mined")]
    assert vault.pendingRedemptions() > 0 and vault.strikeTrigger()[0] is False
    return k


def relayed_book(project, accounts) -> tuple[LendingSystem, Protocol]:
    """`supplied_book` with the vault's claim relay deployed, and the keepers' view of both."""
    lending = supplied_book(project, accounts)
    relay = accounts[0].deploy(project.ClaimRelay, lending.vault)
    return lending, protocol_of(lending, relay=relay)


def observe_days(
    market: Any, deployment: Deployment, days: int, tbill_per_year_pct: int = 5
) -> list[tuple[str, int, int, int]]:
    """`days` days on chain, as a keeper would have seen them: each day a fresh round on every
    feed (`market`: tests.scripts.test_agent_cli.Market; tbill's NAV up `tbill_per_year_pct` %
    a year, the others unchanged) and every sleeve's `returnIndex()` read at that block, as the
    rebalancer's `_observe` records it. Returns [(name, timestamp, index, block)]: readings
    `verify-decision --replay` can check against the node (it checks every one)."""
    tbill = market.feeds["tbill"]
    start = int(tbill.latestAnswer())
    from keepers.verify import RETURN_INDEX_SELECTOR

    sleeves = [(s.name, s.address) for s in deployment.sleeves]
    web3 = ape.chain.provider.web3
    selector = "0x" + RETURN_INDEX_SELECTOR.hex()
    readings = []
    for day in range(1, days + 1):
        market.at(market.chain.blocks.head.timestamp + 86_400)
        market.quote(tbill=start + start * tbill_per_year_pct * day // (100 * 365))
        head = market.chain.blocks.head
        for name, address in sleeves:
            raw = bytes(web3.eth.call({"to": str(address), "data": selector}, head.number))
            readings.append((name, head.timestamp, int.from_bytes(raw[:32], "big"), head.number))
    return readings


@contextmanager
def block_gas_limit(chain, limit: int) -> Iterator[int]:
    """Blocks of `limit` gas from the next one on; anvil's limit before restored after."""
    request = chain.provider.make_request
    default = int(chain.provider.web3.eth.get_block("latest")["gasLimit"])
    request("anvil_setBlockGasLimit", [hex(limit)])
    request("evm_mine", [])
    try:
        yield limit
    finally:
        request("anvil_setBlockGasLimit", [hex(default)])
        request("evm_mine", [])
