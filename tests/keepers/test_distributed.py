"""The keeper bot's distributed mode on a real Redis: `silverback run` (the runner) and one
`silverback worker` per key (`keepers.bots.redis:KeeperStreamBroker`), as an operator starts
them with the broker settings of docs/keeper-operator.md's Silverback section, against this
test run's anvil and a redis-server of the test's own (installed by `make install`). Outcomes
come from the chain (`Liquidated` events, pending nonces), Redis (leases, pending tasks) and the
processes' exit statuses and output lines."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator

import pytest
from eth_utils import keccak

from keepers.config import ShardConfig
from keepers.math import WAD
from keepers.store import Store
from tests.bot_support import (
    DOWN,
    PASS_TIMEOUT,
    START_TIMEOUT,
    Fleet,
    RedisServer,
    wait_until,
)
from tests.keeper_support import open_many_positions, protocol_of
from tests.lending_support import deploy_lending_system
from tests.ports import free_port
from tests.vault_support import USDC, faucet

pytestmark = pytest.mark.redis

KEYS = (7, 8)  # test accounts: one worker each
BORROWERS = 12


@pytest.fixture(scope="module")
def world(project, accounts, chain, tmp_path_factory):
    """A lending book with BORROWERS positions, the keys' inventory, its manifest."""
    first_block = chain.blocks.head.number + 1
    lending = deploy_lending_system(project, accounts[0], accounts[1], accounts[5])
    lending.supply(accounts[6], 1_000_000 * USDC)
    borrowers = open_many_positions(lending, BORROWERS, accounts[0])
    for k in KEYS:  # inventory, approved up front: a pass's only transactions are liquidations
        faucet(lending.asset, accounts[k], 1_000_000 * USDC)
        lending.asset.approve(lending.book.address, 2**256 - 1, sender=accounts[k])
    manifest = tmp_path_factory.mktemp("distributed") / "ethereum-local.json"
    protocol_of(lending, first_block).deployment.save(manifest)
    return lending, borrowers, manifest


@pytest.fixture
def redis_server(tmp_path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fleet(repo_root, chain, world, redis_server, tmp_path) -> Iterator[Fleet]:
    _, _, manifest = world
    running = Fleet(repo_root, chain.provider.uri, redis_server, manifest, tmp_path)
    yield running
    running.close()


def liquidations(lending, since: int) -> list[tuple[str, str]]:
    """(borrower, liquidator) of every `Liquidated` event since block `since`."""
    head = lending.book.provider.get_block("latest").number
    return [
        (str(e.borrower), str(e.liquidator)) for e in lending.book.Liquidated.range(since, head + 1)
    ]


def owner(borrower: str, keys: list[str]) -> str:
    owners = [a for i, a in enumerate(keys) if ShardConfig(index=i, count=len(keys)).owns(borrower)]
    assert len(owners) == 1, (borrower, owners)
    return owners[0]


def shock(lending, borrowers, wanted: int) -> set[str]:
    """Marks tbill down in one step (one block: the keepers see no step in between) so that the
    `wanted` least healthy positions turn unhealthy (a position's health scales with the NAV);
    returns them, as of the shock's block (the keepers may act on it at once)."""
    book = lending.book
    nav = int(lending.feed("tbill").latestAnswer())
    health = {b: int(book.healthFactor(b)) for b in borrowers if book.debtOf(b) > 0}
    ranked = sorted(health.values())
    new_nav = nav * WAD // ranked[min(wanted, len(ranked)) - 1] - 1
    lending.set_nav("tbill", new_nav)
    lending.confirm("tbill")  # a liquidation counts the fall once confirmed
    unhealthy = {b for b, h in health.items() if h * new_nav // nav < WAD}
    assert len(unhealthy) >= min(wanted, len(ranked))
    return unhealthy


def mine_until(chain, what: str, done: Callable[[], bool], why: Callable[[], str]) -> None:
    """Mines a block every second until `done()` (the runner queues a task per block)."""

    def step() -> bool:
        if done():
            return True
        chain.mine(1)
        time.sleep(1)
        return done()

    wait_until(what, step, PASS_TIMEOUT, why)


PASS_LINE = re.compile(r"liquidator @ block (\d+)")


def passes_past(chain, workers, output: Callable[[], str], blocks: int = 3) -> None:
    """Mines `blocks` more blocks and waits until every worker has logged a liquidator pass at
    the new head or later (a pass logs its summary after its sends are mined): an action those
    passes sent again is on chain before the caller counts, whatever the machine's load."""
    chain.mine(blocks)
    head = chain.blocks.head.number

    def reached(proc) -> bool:
        return max((int(n) for n in PASS_LINE.findall(proc.text())), default=-1) >= head

    wait_until(f"every worker's pass at block {head}", lambda: all(map(reached, workers)),
               PASS_TIMEOUT, output)  # fmt: skip


def test_a_dead_redis_and_a_runner_without_workers_are_refused_at_startup_in_one_line(fleet):
    dead = f"redis://127.0.0.1:{free_port()}/0"
    worker = fleet.start(
        "worker-dead-redis", "worker", fleet.env(url=dead, BALLAST_KEEPER_ACCOUNT="TEST::7")
    )
    runner = fleet.start("runner-dead-redis", "run", fleet.env(url=dead))
    alone = fleet.runner()  # a live Redis, no worker
    for proc, line in (
        (worker, f"Error: ballast keeper: redis {dead} does not answer: "),
        (runner, f"Error: ballast keeper: redis {dead} does not answer: "),
        (alone, f"Error: ballast keeper: no keeper worker is up on redis {fleet.server.url} "),
    ):
        assert proc.exit_code(START_TIMEOUT) == 1, fleet.output()
        err = proc.err.read_text(errors="replace").strip().splitlines()
        assert len(err) == 1 and err[0].startswith(line), fleet.output()


def test_a_second_worker_of_a_held_key_is_refused_before_it_touches_the_keys_state_or_port(
    fleet, world, accounts, chain
):
    """A worker holds key 7 (metrics on a port) and has just recorded a transaction it has not
    broadcast yet (write-ahead: `sent` in its state file, unknown to the node). A second worker
    of the key on the same host — the same state folder, with and without the same metrics
    port — is refused in one line naming the held key, exit status 1, before it opens the
    keeper: the live worker's record is still `sent` (not reconciled as dropped), the port is
    not tried, and the live worker keeps its lease and stops cleanly."""
    key = str(accounts[KEYS[0]].address)
    port = free_port()
    live = fleet.worker(KEYS[0], 0, 1, BALLAST_KEEPER_METRICS_PORT=str(port))
    fleet.wait_worker_up(live, key)  # no runner: no task, so no pass of its own runs
    (state,) = (fleet.tmp / "state").glob(f"*-{key.lower()}-*.sqlite")
    web3 = chain.provider.web3
    nonce = web3.eth.get_transaction_count(key, "pending")
    assert nonce == web3.eth.get_transaction_count(key, "latest")  # nothing of the key pending
    tx_hash = "0x" + keccak(b"signed and recorded, not broadcast yet").hex()
    with Store(state) as store:  # what the live worker's sender writes just before a broadcast
        store.record_sent(
            job="liquidator", action_id=f"liquidate:{key}:1", sender=key, nonce=nonce,
            tx_hash=tx_hash, max_fee=10**10, priority_fee=10**9,
        )  # fmt: skip
    held = fleet.lease("key", key.lower())
    assert held is not None

    second = [
        fleet.worker(KEYS[0], 0, 1, name="second-worker"),
        fleet.worker(KEYS[0], 0, 1, name="second-worker-port",
                     BALLAST_KEEPER_METRICS_PORT=str(port)),
    ]  # fmt: skip
    refusal = (
        f"Error: ballast keeper: key {key} is already held by the worker {held.decode()} on "
        f"redis {fleet.server.url} queue {fleet.queue}: run one worker per key"
    )
    assert [proc.exit_code(START_TIMEOUT) for proc in second] == [1, 1], fleet.output()
    with Store(state) as store:
        record = store.transaction(tx_hash)
        assert record is not None and (record.status, record.error) == ("sent", None), record
    for proc in second:
        err = proc.err.read_text(errors="replace").strip().splitlines()
        assert err[-1] == refusal, proc.output()
        assert [line for line in err if "Error" in line] == err[-1:], proc.output()
        text = proc.text()
        assert "Traceback" not in text and "metrics port" not in text, proc.output()
        assert f"keeper {key} on chain" not in text, proc.output()  # never opened
        assert "settled" not in text and "still pending" not in text, proc.output()
    assert fleet.lease("key", key.lower()) == held and live.process.poll() is None
    assert live.stop() == 0, fleet.output()
    assert fleet.lease("key", key.lower()) is None

    # The lease is claimed before the keeper opens: a worker whose keeper then fails to open
    # (a state file that is not SQLite) gives it back as it exits, not `lease_ms` later.
    for leftover in state.parent.glob(f"{state.name}-*"):  # the WAL of the closed file
        leftover.unlink()
    state.write_bytes(b"not a state file")
    broken = fleet.worker(KEYS[0], 0, 1, name="broken-state")
    assert broken.exit_code(START_TIMEOUT) == 1, fleet.output()
    err = broken.err.read_text(errors="replace").strip().splitlines()
    assert err[-1].startswith(f"Error: ballast keeper: keeper state: {state} cannot be read"), err
    assert fleet.lease("key", key.lower()) is None, "the failed worker's lease was left behind"


def test_workers_split_the_book_liquidate_each_position_once_and_ride_out_a_redis_restart(
    fleet, world, accounts, chain, tmp_path
):
    lending, borrowers, manifest = world
    keys = [str(accounts[k].address) for k in KEYS]
    workers = [fleet.worker(k, i, len(KEYS)) for i, k in enumerate(KEYS)]
    for proc, address in zip(workers, keys, strict=True):
        fleet.wait_worker_up(proc, address)
    runner = fleet.runner()
    fleet.wait_runner_up(runner)

    # Refused at startup in one line while the fleet runs: a second worker of a key, a second
    # worker of a shard, another shard count, a worker and a runner on another deployment.
    other = tmp_path / "other-deployment.json"
    protocol_of(lending, chain.blocks.head.number).deployment.save(other)
    refused = {
        "same key": (fleet.worker(7, 0, 2, name="dup-key"), "is already held by the worker"),
        "same shard": (fleet.worker(9, 0, 2, name="dup-shard"), "shard 0 of 2 is already taken"),
        "shard count": (fleet.worker(9, 2, 3, name="shard-count"), "split the borrowers in 2"),
        "other network worker": (
            fleet.worker(9, 1, 2, name="other-net-worker", BALLAST_KEEPER_MANIFEST=str(other)),
            f"queue {fleet.queue} serves chain",
        ),
        "other network runner": (
            fleet.start("other-net-runner", "run", fleet.env(BALLAST_KEEPER_MANIFEST=str(other))),
            f"queue {fleet.queue} serves chain",
        ),
    }
    for what, (proc, reason) in refused.items():
        assert proc.exit_code(START_TIMEOUT) == 1, f"{what}\n{fleet.output()}"
        err = proc.err.read_text(errors="replace").strip().splitlines()
        assert err[-1].startswith("Error: ballast keeper: "), f"{what}: {err}"  # the last line,
        assert [line for line in err if "Error" in line] == err[-1:], f"{what}: {err}"  # alone
        assert reason in err[-1] and "Traceback" not in proc.text(), f"{what}: {err}"
    assert fleet.lease("key", keys[0].lower()) is not None  # the refused did not take it away

    def phase(wanted: int) -> set[str]:
        start = chain.blocks.head.number + 1
        unhealthy = shock(lending, borrowers, wanted)
        mine_until(
            chain,
            f"{len(unhealthy)} liquidations",
            lambda: (
                {b for b, _ in liquidations(lending, start)} >= unhealthy
                and all(lending.book.healthFactor(b) >= WAD for b in unhealthy)
            ),
            fleet.output,
        )
        passes_past(chain, workers, fleet.output)  # the passes of a few more blocks must not
        done = liquidations(lending, start)  # act again
        assert sorted(b for b, _ in done) == sorted(unhealthy), fleet.output()  # each once
        for borrower, liquidator in done:  # by the key whose shard holds the borrower
            assert liquidator == owner(borrower, keys), (borrower, liquidator)
        return {liquidator for _, liquidator in done}

    acting = phase(4)

    def outage(empty: bool, count: int) -> None:
        """Redis stops; while it is down every process warns once and blocks go on; it starts
        again with its append-only file (the stream, the groups, the leases) or `empty`."""
        fleet.server.stop()
        if empty:
            fleet.server.wipe()
        chain.mine(2)  # the runner queues these blocks' tasks once Redis answers again
        for proc in [*workers, runner]:
            wait_until(
                f"{proc.name}'s warning",
                lambda p=proc: p.text().count(DOWN) >= count,
                PASS_TIMEOUT,
                fleet.output,
            )
        chain.mine(2)
        time.sleep(5)  # down for a while: tasks wait in the runner, workers back off
        assert all(p.process.poll() is None for p in [*workers, runner]), fleet.output()
        fleet.server.start()

    outage(empty=False, count=1)
    acting |= phase(8)  # the four left of those, and others
    outage(empty=True, count=2)
    acting |= phase(BORROWERS)
    assert acting == set(keys), "both keys liquidated their shard"

    for proc in [*workers, runner]:
        text = proc.text()
        assert proc.process.poll() is None, f"{proc.name} stopped\n{fleet.output()}"
        assert "Traceback" not in text, fleet.output()
        assert len([line for line in text.splitlines() if DOWN in line]) == 2, proc.output()
        assert text.count("answers again") == 2, proc.output()

    # Runner first, then the workers: each stops on SIGTERM within 30 s, exit status 0.
    codes = {proc.name: proc.stop() for proc in [runner, *workers]}
    assert codes == dict.fromkeys(codes, 0), f"{codes}\n{fleet.output()}"
    for proc in [runner, *workers]:
        assert "Traceback" not in proc.text(), fleet.output()
    assert fleet.lease("key", keys[0].lower()) is None  # given back at shutdown


def pending_nonce_gap(web3, address: str) -> int:
    """Transactions of `address` sent but not mined."""
    return web3.eth.get_transaction_count(address, "pending") - web3.eth.get_transaction_count(
        address, "latest"
    )


def test_a_worker_killed_mid_pass_has_its_task_redelivered_and_acts_once(
    fleet, world, accounts, chain
):
    lending, borrowers, _ = world
    web3 = chain.provider.web3
    key = str(accounts[KEYS[0]].address)
    # The shock below (up to -20 %) must be liquidatable in the block it is mined in: within
    # oracle.maxDeviationBps, no confirmation to wait for (a liquidation counts a fall beyond
    # it only once confirmed, `oracle.confirmDelay` later).
    lending.set_param("oracle.maxDeviationBps", 5_000)
    worker = fleet.worker(KEYS[0], 0, 1)
    fleet.wait_worker_up(worker, key)
    runner = fleet.runner()
    fleet.wait_runner_up(runner)

    # The shock is mined alone; with automine off the keeper's liquidation then waits in the
    # pool, its pass waiting for the receipt: the worker is killed there, its task unacknowledged.
    book = lending.book
    nav = int(lending.feed("tbill").latestAnswer())
    worst = max(borrowers, key=lambda b: int(book.debtOf(b)))
    new_nav = nav * WAD // int(book.healthFactor(worst)) - 1
    governance = str(lending.vs.governance.address)
    feed = lending.feed("tbill")
    start = chain.blocks.head.number + 1
    web3.provider.make_request("evm_setAutomine", [False])
    try:
        web3.eth.send_transaction(
            {
                "from": governance,
                "to": str(feed.address),
                "data": feed.setAnswer.encode_input(new_nav),
            }
        )
        web3.provider.make_request("evm_mine", [])
        assert book.healthFactor(worst) < WAD
        unhealthy = {b for b in borrowers if book.healthFactor(b) < WAD}
        wait_until(
            "the liquidation in the pool",
            lambda: pending_nonce_gap(web3, key) > 0,
            PASS_TIMEOUT,
            fleet.output,
        )
        worker.process.kill()
        worker.process.wait()
        web3.provider.make_request("evm_mine", [])
    finally:
        web3.provider.make_request("evm_setAutomine", [True])
    assert liquidations(lending, start) == [(worst, key)] or len(unhealthy) > 1, fleet.output()
    assert len(liquidations(lending, start)) == 1  # the one in flight when the worker died

    # The key's lease expires (its holder is gone); a new worker of the key takes the task back.
    wait_until("the dead worker's lease to expire", lambda: fleet.lease("key", key.lower()) is None,
               60, fleet.output)  # fmt: skip
    again = fleet.worker(KEYS[0], 0, 1, name="worker-again")
    fleet.wait_worker_up(again, key)
    wait_until(
        "the redelivery", lambda: "redelivering 1 task" in again.text(), PASS_TIMEOUT, fleet.output
    )
    group = f"{fleet.queue}:{key.lower()}"
    mine_until(
        chain,
        "the redelivered task's acknowledgement",
        lambda: (
            fleet.server.client().xpending(fleet.queue, group)["pending"] == 0
            and "liquidator @ block" in again.text()
        ),
        fleet.output,
    )
    passes_past(chain, [again], fleet.output, blocks=2)  # and later passes do not act again
    done = liquidations(lending, start)
    assert sorted(b for b, _ in done) == sorted(unhealthy), fleet.output()  # once each
    assert {liquidator for _, liquidator in done} == {key}
    assert all(book.healthFactor(b) >= WAD for b in unhealthy)

    # Workers first, then the runner (it answers its own shutdown questions): each within 30 s.
    codes = {proc.name: proc.stop() for proc in (again, runner)}
    assert codes == {"worker-again": 0, "runner": 0}, f"{codes}\n{fleet.output()}"
    assert "Traceback" not in again.text() + runner.text(), fleet.output()
