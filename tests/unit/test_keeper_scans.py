"""keepers.reads.scans and the settler's operator merge (pure): bounded ranges, a look-back that
re-reads without counting twice, and the last OperatorSet log of each controller winning."""

from __future__ import annotations

from types import SimpleNamespace

from eth_utils import keccak, to_checksum_address

from keepers.jobs import merge_operator_logs
from keepers.reads.registries import AGENT_REGISTRY_SET_TOPIC, read_named_registries
from keepers.reads.scans import (
    chain_changed,
    cursor_mark,
    fold_block_sums,
    log_chunks,
    read_logs,
    scan_start,
)


def test_a_scan_starts_at_the_deployment_then_depth_blocks_below_the_cursor():
    assert scan_start(None, 100, 12) == 100
    assert scan_start(500, 100, 12) == 489
    assert scan_start(105, 100, 12) == 100  # never below the deployment
    assert scan_start(500, 100, 0) == 501  # no look-back: the block after the cursor


def test_a_cursors_mark_is_of_the_highest_block_its_look_back_no_longer_reads():
    """Found in review scan9: the mark was of the cursor's own block, so a one-block reorg of
    the head read the whole history again; only a change below the look-back may."""
    hashes = {n: bytes([n % 256]) * 32 for n in range(200)}
    web3 = SimpleNamespace(eth=SimpleNamespace(get_block=lambda n: {"hash": hashes[n]}))
    mark = cursor_mark(web3, 100, 12, 100)
    assert mark is not None and mark.startswith("88:")
    assert cursor_mark(web3, 100, 12, 87) is None  # the node below the marked block
    assert cursor_mark(web3, 100, 12, 100, floor=95).startswith("95:")
    assert cursor_mark(web3, 5, 12, 100).startswith("0:")
    hashes[100] = hashes[89] = b"\xee" * 32  # a reorg within the look-back: read again anyway
    assert not chain_changed(web3, mark, 100)
    hashes[88] = b"\xee" * 32  # below it: the chain went back under the cursor
    assert chain_changed(web3, mark, 100)
    assert not chain_changed(web3, mark, 87)  # checked once the node reaches it
    assert not chain_changed(web3, None, 100)
    assert not chain_changed(web3, "0x" + "ab" * 32, 100)  # a bare hash: the older form


class FakeNode:
    """`eth_getLogs` over a fixed list of logs; every range asked is recorded."""

    def __init__(self, blocks: list[int]) -> None:
        self.asked: list[tuple[int, int]] = []
        self.logs = [{"blockNumber": b, "logIndex": i} for i, b in enumerate(blocks)]
        self.eth = SimpleNamespace(get_logs=self.get_logs)

    def get_logs(self, params):
        lo, hi = params["fromBlock"], params["toBlock"]
        self.asked.append((lo, hi))
        found = [log for log in self.logs if lo <= log["blockNumber"] <= hi]
        return list(reversed(found))  # a node's order is not promised


def test_logs_are_asked_in_bounded_ranges_and_returned_in_chain_order():
    node = FakeNode([3, 7, 7, 20, 41])
    logs = read_logs(node, {"address": "0x"}, 0, 45, 20)
    assert node.asked == [(0, 19), (20, 39), (40, 45)]
    assert [(log["blockNumber"], log["logIndex"]) for log in logs] == [
        (3, 0), (7, 1), (7, 2), (20, 3), (41, 4)
    ]  # fmt: skip
    node.asked.clear()
    newest = [lo for lo, _, _ in log_chunks(node, {}, 0, 45, 20, newest_first=True)]
    assert newest == [40, 20, 0] and node.asked == [(40, 45), (20, 39), (0, 19)]
    assert read_logs(node, {}, 10, 9, 20) == []  # nothing to read: nothing asked


def test_a_running_total_re_reads_the_look_back_without_counting_twice():
    # pass 1 read 0..100: 5 at block 50, 7 at block 95 (within 12 of the head: kept apart)
    settled, recent = fold_block_sums(0, {}, 0, 100, {50: 5, 95: 7}, 12)
    assert (settled, recent) == (5, {95: 7})
    # pass 2 re-reads 89..110: block 95 again (the same log), 3 more at block 108
    settled, recent = fold_block_sums(settled, recent, 89, 110, {95: 7, 108: 3}, 12)
    assert settled + sum(recent.values()) == 15
    # a reorg dropped block 108's write-off and put 4 at block 104 instead
    settled, recent = fold_block_sums(settled, recent, 99, 111, {104: 4}, 12)
    assert settled + sum(recent.values()) == 16 and 108 not in recent
    # no look-back: every block settles at once
    assert fold_block_sums(0, {}, 0, 10, {3: 1, 10: 2}, 0) == (3, {})


def test_the_last_operator_log_of_each_controller_wins_across_re_reads():
    a, b, c = "0xA", "0xB", "0xC"
    known = merge_operator_logs({}, 0, 100, [(a, True, 90), (a, False, 95), (b, True, 97)])
    assert known == {a: (False, 95), b: (True, 97)}
    # the look-back reads blocks 89..110 again: the same logs, in order, and c's approval
    again = merge_operator_logs(known, 89, 110, [(a, True, 90), (a, False, 95), (b, True, 97),
                                                  (c, True, 109)])  # fmt: skip
    assert again == {a: (False, 95), b: (True, 97), c: (True, 109)}  # no approval resurrected
    # a reorg dropped a's revocation (and its approval): a is a candidate again (isOperator
    # decides), b's approval is read again; outside the range nothing changes
    dropped = merge_operator_logs(again, 93, 112, [(b, True, 97)])
    assert dropped == {a: (True, 95), b: (True, 97), c: (True, 109)}
    assert merge_operator_logs(again, 111, 120, []) == again


class _Logs:
    """`web3.eth.get_logs` over a fixed list of BadDebtRealized-shaped logs."""

    def __init__(self, logs):
        self.logs = logs

    def get_logs(self, params):
        lo, hi = params["fromBlock"], params["toBlock"]
        return [log for log in self.logs if lo <= log["blockNumber"] <= hi]

    def get_block(self, number):  # one chain: each block's hash its number
        return {"hash": int(number).to_bytes(32, "big")}


def test_raising_the_reorg_depth_never_counts_settled_bad_debt_twice(tmp_path):
    """Found in a review of the running total: blocks already settled under a look-back of 12
    were read again, and added again, once the operator raised it to 64 (same state file)."""
    from types import SimpleNamespace

    from keepers.shell import steward
    from keepers.store import Store

    store = Store(tmp_path / "k.sqlite")
    eth = _Logs([{"blockNumber": 50, "logIndex": 0, "data": (100).to_bytes(32, "big")}])

    def keeper_with(depth):
        return SimpleNamespace(
            settings=SimpleNamespace(
                liquidator=SimpleNamespace(scan_chunk=5_000, reorg_depth=depth)
            ),
            protocol=SimpleNamespace(block=0, lending=SimpleNamespace(address="0x" + "11" * 20)),
            web3=SimpleNamespace(eth=eth),
            store=store,
        )

    assert steward._bad_debt(keeper_with(12), 100) == 100  # block 50 settled
    assert steward._bad_debt(keeper_with(64), 110) == 100
    assert steward._bad_debt(keeper_with(4), 120) == 100  # and lowering it loses nothing


def test_the_registries_named_are_read_from_the_vaults_agent_registry_set_logs():
    """read_named_registries decodes the indexed address of each `AgentRegistrySet` log the
    vault wrote, in chain order, asking only for that topic at that address."""
    asked = []
    logs = [
        {"blockNumber": 9, "logIndex": 0, "topics": [b"", b"\x00" * 12 + b"\xbb" * 20]},
        {"blockNumber": 3, "logIndex": 1, "topics": [b"", b"\x00" * 12 + b"\xaa" * 20]},
    ]

    def get_logs(params):
        asked.append(params)
        lo, hi = params["fromBlock"], params["toBlock"]
        return [log for log in logs if lo <= log["blockNumber"] <= hi]

    web3 = SimpleNamespace(eth=SimpleNamespace(get_logs=get_logs))
    vault = "0x" + "12" * 20
    named = read_named_registries(web3, vault, 1, 10, 5)
    assert named == [to_checksum_address("0x" + "aa" * 20), to_checksum_address("0x" + "bb" * 20)]
    assert [(p["fromBlock"], p["toBlock"]) for p in asked] == [(1, 5), (6, 10)]
    assert {p["address"] for p in asked} == {to_checksum_address(vault)}
    assert all(p["topics"] == [AGENT_REGISTRY_SET_TOPIC] for p in asked)
    assert "0x" + keccak(text="AgentRegistrySet(address)").hex() == AGENT_REGISTRY_SET_TOPIC
