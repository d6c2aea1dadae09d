"""keepers.tx on anvil: simulation refusals, sends, races between keepers, replacement of a
stuck transaction with a bumped fee, and a stale nonce.

The one-shot action is `AgentRegistry.evaluate(0)`: a decision evaluated twice reverts with
`AlreadyEvaluated`, which the sender counts as a lost race.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import pytest

from keepers.outcomes import AlreadyDone, LostRace, Mined, Refused, Stuck
from keepers.settings import GWEI, TxSettings
from keepers.store import Store
from keepers.tx import TxSender, bumped, key_lock
from tests.agent_support import build_desk
from tests.vault_support import isolated

ACTION = "evaluate:0"


@pytest.fixture(scope="module")
def desk(project, accounts, chain):
    desk = build_desk(project, accounts, chain)
    desk.rebalance([6_000, 0, 0])  # decision 0
    return desk


@pytest.fixture
def fresh(chain):
    with isolated(chain):
        yield


@pytest.fixture
def due(desk, fresh):
    """Decision 0 is due now, with fresh prices."""
    due = desk.agents.decisionRecord(0).dueAt
    desk.at(due - 10)
    desk.refresh()
    desk.mine_at(due)
    return due


@contextmanager
def manual_mining(chain):
    chain.provider.make_request("anvil_setAutomine", [False])
    try:
        yield
    finally:
        chain.provider.make_request("anvil_setAutomine", [True])


def in_thread(fn):
    """Runs `fn` in a thread; returns a function giving its result (or raising its error)."""
    box: dict = {}

    def run():
        try:
            box["result"] = fn()
        except BaseException as error:  # noqa: B036 - re-raised in the test's thread
            box["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def result(timeout: float = 60):
        thread.join(timeout)
        assert not thread.is_alive(), "sender thread did not finish"
        if "error" in box:
            raise box["error"]
        return box["result"]

    return result


def nonce_of(chain, address: str) -> int:
    return int(chain.provider.make_request("eth_getTransactionCount", [address, "latest"]), 16)


def wait_for(predicate, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


FAST = TxSettings(poll_interval=0.05, receipt_timeout=30, replace_after=30)


def test_simulation_refuses_a_reverting_call(desk, accounts, fresh, tmp_path):
    store = Store(tmp_path / "k.sqlite")
    sender = TxSender(accounts[7], settings=FAST, store=store, job="evaluator")
    before = accounts[7].nonce
    outcome = sender.send(desk.agents, "evaluate", 0, action_id=ACTION)
    assert isinstance(outcome, Refused)
    assert outcome.error_name == "EvaluationNotDue"
    assert "EvaluationNotDue(" in outcome.reason
    unknown = sender.send(desk.agents, "evaluate", 5, action_id="evaluate:5")
    assert isinstance(unknown, Refused) and unknown.error_name == "UnknownDecision"
    assert accounts[7].nonce == before  # nothing was sent
    assert store.transactions() == []


def test_a_normal_send_is_mined_and_recorded_once(desk, accounts, due, tmp_path):
    store = Store(tmp_path / "k.sqlite")
    sender = TxSender(accounts[7], settings=FAST, store=store, job="evaluator")
    outcome = sender.send(desk.agents, "evaluate", 0, action_id=ACTION)
    assert isinstance(outcome, Mined), outcome
    assert outcome.receipt["status"] == "0x1"
    assert desk.agents.decisionRecord(0).evaluated
    assert outcome.max_fee <= FAST.max_fee_cap and outcome.priority_fee == FAST.priority_fee
    (record,) = store.transactions(ACTION)
    assert (record.tx_hash, record.status, record.block) == (
        outcome.tx_hash,
        "mined",
        outcome.block,
    )
    assert record.gas_used == outcome.gas_used > 0
    # a restart (new sender, same file) does not do it again
    again = TxSender(accounts[7], settings=FAST, store=Store(tmp_path / "k.sqlite"))
    assert again.send(desk.agents, "evaluate", 0, action_id=ACTION) == AlreadyDone(ACTION)


def test_two_keepers_one_after_the_other(desk, accounts, due, tmp_path):
    first = TxSender(accounts[7], settings=FAST, store=Store(tmp_path / "a.sqlite"))
    second = TxSender(accounts[9], settings=FAST, store=Store(tmp_path / "b.sqlite"))
    won = first.send(desk.agents, "evaluate", 0, action_id=ACTION)
    lost = second.send(desk.agents, "evaluate", 0, action_id=ACTION)
    assert isinstance(won, Mined)
    assert isinstance(lost, LostRace) and lost.tx_hash is None
    assert lost.error_name == "AlreadyEvaluated"
    assert second.store is not None and second.store.already_done(ACTION)


def in_pool(chain, records) -> bool:
    """Every one of `records` (store rows) has reached the node."""
    if not records:
        return False
    eth = chain.provider.web3.eth
    for r in records:
        try:
            eth.get_transaction(r.tx_hash)
        except Exception:  # noqa: BLE001 - web3's TransactionNotFound: not (yet) broadcast
            return False
    return True


def test_two_keepers_racing_in_the_same_block(desk, accounts, chain, due, tmp_path):
    stores = [Store(tmp_path / "a.sqlite"), Store(tmp_path / "b.sqlite")]
    senders = [
        TxSender(accounts[i], settings=FAST, store=s, job="evaluator")
        for i, s in zip((7, 9), stores, strict=True)
    ]
    # both simulate before either broadcasts (else the second may see the first in the pool
    # and lose at simulation): a barrier between simulation and pricing
    barrier = threading.Barrier(2, timeout=30)
    for s in senders:
        s.fees = lambda real=s.fees: (barrier.wait(), real())[1]  # type: ignore[method-assign]
    with manual_mining(chain):
        results = [
            in_thread(lambda s=s: s.send(desk.agents, "evaluate", 0, action_id=ACTION))
            for s in senders
        ]
        # both simulated fine and broadcast: recorded (the sender records a transaction before
        # it broadcasts it) and in the node's pool
        wait_for(lambda: all(in_pool(chain, s.in_flight()) for s in stores))
        chain.provider.mine(1)
        outcomes = [r() for r in results]
    kinds = sorted(type(o).__name__ for o in outcomes)
    assert kinds == ["LostRace", "Mined"], outcomes
    lost = next(o for o in outcomes if isinstance(o, LostRace))
    assert lost.error_name == "AlreadyEvaluated" and lost.tx_hash is not None
    statuses = sorted(t.status for s in stores for t in s.transactions(ACTION))
    assert statuses == ["lost-race", "mined"]
    assert all(s.already_done(ACTION) for s in stores)


def test_a_stuck_transaction_is_replaced_with_a_bumped_fee(desk, accounts, chain, fresh, tmp_path):
    store = Store(tmp_path / "k.sqlite")
    settings = TxSettings(
        poll_interval=0.05,
        receipt_timeout=30,
        replace_after=0.3,
        max_replacements=1,
        priority_fee=2 * GWEI,
    )
    sender = TxSender(accounts[7], settings=settings, store=store)
    asset = desk.system.asset
    with manual_mining(chain):
        result = in_thread(lambda: sender.send(asset, "approve", accounts[3], 1, action_id="a"))
        # sent, then replaced: both recorded, the replacement in the node's pool
        wait_for(lambda: len(store.transactions("a")) == 2
                 and in_pool(chain, store.transactions("a")[:1]))  # fmt: skip
        chain.provider.mine(1)
        outcome = result()
    assert isinstance(outcome, Mined), outcome
    first, second = reversed(store.transactions("a"))
    assert outcome.replaced == (first.tx_hash,) and outcome.tx_hash == second.tx_hash
    assert first.nonce == second.nonce == outcome.nonce
    assert second.priority_fee * 10_000 >= first.priority_fee * 11_250
    assert second.max_fee * 10_000 >= first.max_fee * 11_250
    assert (first.status, second.status) == ("replaced", "mined")
    assert asset.allowance(accounts[7], accounts[3]) == 1


def test_a_stopping_sender_leaves_its_flight_for_the_next_start(
    desk, accounts, chain, fresh, tmp_path
):
    """The keeper bot told to stop (SIGTERM, SIGINT) with a transaction pending went on waiting
    for it and bumping its fee until `tx.receipt_timeout`: on anvil with mining off, three
    replacements signed and broadcast over 180 s after SIGINT, exit at 185 s (a supervisor's
    minute-long stop timeout kills it mid-wait). Once `stopping` is set the wait ends at its next
    look: no replacement, the flight left `sent` in the store, and the next start (another
    sender on the same store) settles it by its hash, mined once."""
    store = Store(tmp_path / "k.sqlite")
    # Neither the receipt timeout nor a fee bump can end the wait while the test runs, however
    # busy the machine: only `stopping` can (the join below gives up long before 600 s).
    settings = TxSettings(poll_interval=0.05, receipt_timeout=600, replace_after=600,
                          max_replacements=5, priority_fee=2 * GWEI)  # fmt: skip
    sender = TxSender(accounts[7], settings=settings, store=store)
    asset = desk.system.asset
    with manual_mining(chain):
        result = in_thread(lambda: sender.send(asset, "approve", accounts[3], 1, action_id="s"))
        wait_for(lambda: in_pool(chain, store.transactions("s")))
        sender.stopping.set()
        outcome = result(timeout=120)  # "the wait did not end on stopping" if still waiting
        assert isinstance(outcome, Stuck), outcome
        (flight,) = store.transactions("s")  # no replacement was signed
        assert flight.status == "sent" and outcome.tx_hashes == (flight.tx_hash,)
        chain.provider.mine(1)
    again = TxSender(accounts[7], settings=settings, store=store)  # the next start
    outcome = again.send(asset, "approve", accounts[3], 1, action_id="s")
    assert isinstance(outcome, Mined | AlreadyDone), outcome
    assert [t.status for t in store.transactions("s")] == ["mined"]
    assert asset.allowance(accounts[7], accounts[3]) == 1


def test_a_stale_nonce_is_read_again(desk, accounts, fresh, tmp_path):
    store = Store(tmp_path / "k.sqlite")
    sender = TxSender(accounts[7], settings=FAST, store=store)
    asset = desk.system.asset
    assert isinstance(sender.send(asset, "approve", accounts[3], 1, action_id="a1"), Mined)
    real = sender.pending_nonce
    stale = iter([real() - 1])
    sender.pending_nonce = lambda: next(stale, None) or real()  # type: ignore[method-assign]
    outcome = sender.send(asset, "approve", accounts[3], 2, action_id="a2")
    assert isinstance(outcome, Mined), outcome
    assert outcome.nonce == real() - 1
    assert asset.allowance(accounts[7], accounts[3]) == 2


def test_fees_are_capped_and_bumps_are_at_least_12_5_percent(desk, accounts, chain, fresh):
    assert bumped(8, 1_250) == 9 and bumped(1, 1_250) == 2
    assert bumped(GWEI, 1_250) == 1_125_000_000
    asset = desk.system.asset
    capped = TxSender(accounts[7], settings=TxSettings(priority_fee=10 * GWEI, max_fee_cap=GWEI))
    outcome = capped.send(asset, "approve", accounts[3], 1, action_id="x")
    assert isinstance(outcome, Mined), outcome
    assert outcome.max_fee == outcome.priority_fee == GWEI  # tip cut to fit under the cap
    chain.provider.make_request("anvil_setNextBlockBaseFeePerGas", [hex(2 * GWEI)])
    chain.provider.mine(1)
    assert (
        int(
            chain.provider.make_request("eth_getBlockByNumber", ["latest", False])["baseFeePerGas"],
            16,
        )
        == 2 * GWEI
    )
    outcome = capped.send(asset, "approve", accounts[3], 2, action_id="y")
    assert isinstance(outcome, Refused) and outcome.error_name == "FeeCapExceeded"
    roomy = TxSender(accounts[7], settings=TxSettings(priority_fee=GWEI, max_fee_cap=100 * GWEI))
    outcome = roomy.send(asset, "approve", accounts[3], 3, action_id="z")
    assert isinstance(outcome, Mined), outcome
    assert outcome.max_fee >= 2 * GWEI * 2 + GWEI  # base fee × 2 + tip (the base may fall)


def base_fee(chain) -> int:
    block = chain.provider.make_request("eth_getBlockByNumber", ["latest", False])
    return int(block["baseFeePerGas"], 16)


def test_a_transaction_priced_out_by_a_base_fee_spike_is_replaced_at_the_market_not_by_12_5(
    desk, accounts, chain, fresh, tmp_path
):
    """The key's transaction waits in the pool when the base fee jumps 10× above its max fee.
    Its replacement in the same wait must be priced at the market (base fee × multiplier + tip,
    under the cap), not the last attempt + 12.5 %: such a replacement is still under the base
    fee, cannot be mined, and spends the replacement budget until the flight is `Stuck`."""
    store = Store(tmp_path / "k.sqlite")
    settings = TxSettings(
        poll_interval=0.05, receipt_timeout=8, replace_after=0.3, max_replacements=1,
        base_fee_multiplier=1.0, priority_fee=GWEI, max_fee_cap=1_000 * GWEI,
    )  # fmt: skip
    sender = TxSender(accounts[7], settings=settings, store=store)
    # The replacement (due `replace_after` after the send) reads the market once the spike is
    # mined, however long the test takes to mine it: a loaded machine let it price the old base
    # fee first (+12.5 %, the case a slow test cannot tell from the bug).
    spiked, market = threading.Event(), sender.fees

    def fees_once_spiked():
        if store.transactions("s"):  # the first transaction sent: a replacement's floor
            assert spiked.wait(30), "the test never mined the spike"
        return market()

    sender.fees = fees_once_spiked  # type: ignore[method-assign]
    asset = desk.system.asset
    normal = base_fee(chain)
    # a known base fee to start from (an earlier test may have left anvil's next one set)
    chain.provider.make_request("anvil_setNextBlockBaseFeePerGas", [hex(GWEI)])
    chain.provider.mine(1)
    try:
        with manual_mining(chain):
            result = in_thread(lambda: sender.send(asset, "approve", accounts[3], 5, action_id="s"))
            wait_for(lambda: in_pool(chain, store.transactions("s")))
            (first,) = store.transactions("s")
            spike = 10 * first.max_fee
            chain.provider.make_request("anvil_setNextBlockBaseFeePerGas", [hex(spike)])
            chain.provider.mine(1)  # a block the transaction's max fee cannot pay for
            spiked.set()
            assert base_fee(chain) == spike and asset.allowance(accounts[7], accounts[3]) != 5
            # the replacement, recorded before its broadcast (the node refuses one under the
            # base fee); the next block's base fee is at most 1/8 lower than the spike
            wait_for(lambda: len(store.transactions("s")) == 2, timeout=10)
            second = store.transactions("s")[0]
            assert second.max_fee >= spike + GWEI, (first.max_fee, second.max_fee, spike)
            wait_for(lambda: in_pool(chain, [second]), timeout=10)
            chain.provider.mine(1)
            outcome = result()
    finally:
        chain.provider.make_request("anvil_dropAllTransactions", [])
        chain.provider.make_request("anvil_setNextBlockBaseFeePerGas", [hex(normal)])
    assert isinstance(outcome, Mined), outcome
    assert outcome.tx_hash == second.tx_hash and asset.allowance(accounts[7], accounts[3]) == 5


def test_two_senders_of_one_key_and_store_send_an_action_once_however_they_interleave(
    desk, accounts, chain, fresh, tmp_path
):
    """Two jobs' senders of one key share its lock and its state file. Both ask for the same
    action while the key is busy: the one that gets the lock second must see the action done
    (the store says so) and send nothing — not a second transaction that the chain accepts
    (`approve` does not revert when repeated, so the simulation cannot catch it)."""
    store = Store(tmp_path / "k.sqlite")
    senders = [TxSender(accounts[7], settings=FAST, store=store, job=j) for j in ("a", "b")]
    asked = []
    real = store.already_done
    store.already_done = lambda *a, **k: (asked.append(1), real(*a, **k))[1]  # type: ignore[method-assign]
    asset = desk.system.asset
    before = nonce_of(chain, accounts[7].address)
    lock = key_lock(accounts[7].address)
    with lock:  # the key busy (another job's send): both requests come in meanwhile
        results = [
            in_thread(lambda s=s: s.send(asset, "approve", accounts[3], 7, action_id="approve:7"))
            for s in senders
        ]
        deadline = time.monotonic() + 2  # both asked the store before the lock (unfixed code)
        while len(asked) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    outcomes = [r() for r in results]
    assert sorted(type(o).__name__ for o in outcomes) == ["AlreadyDone", "Mined"], outcomes
    assert nonce_of(chain, accounts[7].address) == before + 1  # one transaction on chain
    assert [t.status for t in store.transactions("approve:7")] == ["mined"]


def test_a_transaction_of_another_process_of_the_key_waiting_on_its_nonce_is_not_outbid(
    desk, accounts, chain, fresh, tmp_path
):
    """Another process holding the same key (an operator's wallet, a second keeper) puts its
    transaction in the pool at nonce N between the sender's nonce read and its broadcast. The
    node answers "replacement transaction underpriced": the sender must read the nonce again
    and send on N + 1 — not bump its fees until it outbids, and so evicts, the other process's
    transaction (which then never mines)."""
    store = Store(tmp_path / "k.sqlite")
    sender = TxSender(accounts[7], settings=FAST, store=store)
    asset, who = desk.system.asset, accounts[7].address
    n = nonce_of(chain, who)
    other: list[str] = []
    real_sign = sender._sign

    def sign(to, data, value, flight, fee, tip):  # the other process, just before our send
        if not other:
            other.append(chain.provider.make_request("eth_sendTransaction", [{
                "from": who, "to": who, "value": "0x0", "nonce": hex(flight.nonce),
                "gas": hex(21_000), "maxFeePerGas": hex(fee), "maxPriorityFeePerGas": hex(tip),
            }]))  # fmt: skip
        return real_sign(to, data, value, flight, fee, tip)

    sender._sign = sign  # type: ignore[method-assign]
    try:
        with manual_mining(chain):
            result = in_thread(lambda: sender.send(asset, "approve", accounts[3], 9, action_id="o"))
            wait_for(lambda: in_pool(chain, store.in_flight()))
            chain.provider.mine(1)
            outcome = result()
    finally:
        chain.provider.make_request("anvil_dropAllTransactions", [])
    theirs = chain.provider.make_request("eth_getTransactionReceipt", [other[0]])
    assert theirs is not None, "the other process's transaction was evicted by the sender's"
    assert int(theirs["status"], 16) == 1
    assert isinstance(outcome, Mined) and outcome.nonce == n + 1, outcome
    assert nonce_of(chain, who) == n + 2 and asset.allowance(accounts[7], accounts[3]) == 9
