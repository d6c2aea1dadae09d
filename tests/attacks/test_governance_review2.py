"""Outside review of the governance and risk-steward paths (branch `govreview`): findings on
`ballast-keeper verify-steward`, the promise that anyone can check every steward decision.

The system is deployed from deployments/config/local.yaml, as in tests/keepers/test_steward.py
(steward limits: gold's LTV moves at most 70 bps of its value per 3 days), and the steward is
TEST::2. Each test names the finding and asserts from chain facts (the `StewardUpdate` events,
the registry's values) and the command's exit status and lines.

1. A receipt read days before its batch verified. `--replay` checked that the node held the
   receipt's inputs *at the receipt's block*, a block the document names itself: a steward could
   price a cut from a shock it picked (here a dry-run read of a volatile day) and send it five
   calm days later, and `verify-steward` answered "the node agrees at the receipt's block",
   exit 0.
2. A rationale hash reused by a second batch verified. The registry does not refuse a hash it
   has seen and `verify-steward` read only the first `StewardUpdate` carrying it: a later batch
   under the same document (another cut of gold's LTV the document never describes) was vouched
   for by the first batch's receipt, exit 0.
"""

from __future__ import annotations

from eth_utils import keccak

from keepers.strategy.rationale import decode
from tests.keepers.test_steward import (  # noqa: F401 - fixtures: the steward's deployment and CLI
    GOLD_LTV,
    shock_gold,
    state,
    steward_keeper,
    steward_keeper_cli,
    steward_manifest,
    steward_updates,
    system,
)
from tests.scripts import inprocess

# The in-process CLI runner and what it needs (tests/scripts/conftest.py's fixtures): the second
# test's calls run in-process, the first test's stay real `ballast-keeper` processes.
_process_state_restored = inprocess._process_state_restored
keeper_main = inprocess.keeper_main

DAY = 86_400


def calm_gold(system, chain, accounts, days: int) -> None:  # noqa: F811 - the fixture's value
    """`days` later, 48 hourly gold rounds at one price: nothing left of any shock."""
    chain.pending_timestamp = chain.blocks.head.timestamp + days * DAY
    chain.mine(1)
    feed, now = system["gold_feed"], chain.blocks.head.timestamp
    price = feed.latestAnswer()
    for i in range(48):
        feed.setRound(price, now - (48 - i) * 3_600, sender=accounts[0])


def test_a_receipt_read_days_before_its_batch_does_not_verify(
    steward_keeper_cli,  # noqa: F811 - the imported fixture
    system,  # noqa: F811 - the imported fixture
    chain,
    accounts,
    state,  # noqa: F811 - the imported fixture
):
    registry = system["registry"]
    shock_gold(system, chain, accounts)
    # the steward prices the volatile day, and keeps the receipt without sending anything
    dry = steward_keeper_cli("--dry-run", "once", "--job", "steward")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert not steward_updates(chain, registry)
    (path,) = (state / "docs").glob("*.json")
    body = path.read_bytes()
    digest = "0x" + keccak(body).hex()
    document = decode(body)
    batch = document["outcome"]["batch"]
    assert ["lend.ltvBps.gold", 6_951] in batch, batch

    # five calm days later it sends that batch under that receipt: the registry takes it
    calm_gold(system, chain, accounts, days=5)
    keys = [keccak(text=name) for name, _ in batch]
    values = [int(v) for _, v in batch]
    tx = registry.stewardSetBatch(
        keys, values, bytes.fromhex(digest[2:]), f"ballast://steward/{digest}", sender=accounts[2]
    )
    assert not tx.failed and registry.get(GOLD_LTV) == 6_951
    (log,) = steward_updates(chain, registry)
    sent_at = chain.provider.web3.eth.get_block(log["blockNumber"])["timestamp"]
    age = sent_at - document["inputs"]["timestamp"]
    assert age >= 5 * DAY and document["inputs"]["block"] < log["blockNumber"]

    out = steward_keeper_cli("verify-steward", digest, "--replay")
    # the document is the event's, replays, and the chain held its inputs at its own block...
    assert "keccak256 matches" in out.stdout and "replay: same document" in out.stdout, out.stdout
    assert "chain inputs: the node agrees at the receipt's block" in out.stdout, out.stdout
    # ...but it was read five days before the batch: not the decision that batch carried out
    assert out.returncode == 4, out.stdout + out.stderr
    assert (
        f"MISMATCH: receipt: its inputs are {age} s older than the batch "
        f"(block {document['inputs']['block']}, batch at {log['blockNumber']}; at most 3600 s)"
    ) in out.stdout, out.stdout
    # a wider window, stated by the checker, accepts it: the check is the age, nothing else
    wide = steward_keeper_cli("verify-steward", digest, "--replay", "--max-age", str(age))
    assert wide.returncode == 0, wide.stdout + wide.stderr
    assert "receipt: read at block" in wide.stdout, wide.stdout


def test_a_rationale_hash_carried_by_a_second_batch_does_not_verify(
    steward_keeper,  # noqa: F811 - the imported fixture
    system,  # noqa: F811 - the imported fixture
    chain,
    accounts,
):
    registry = system["registry"]
    shock_gold(system, chain, accounts)
    before = len(steward_updates(chain, registry))
    result = steward_keeper("once", "--job", "steward")
    assert result.returncode == 0 and "mined" in result.stdout, result.stdout + result.stderr
    logs = steward_updates(chain, registry)
    assert len(logs) == before + 1
    digest = "0x" + bytes(logs[-1]["topics"][1]).hex()

    # control: the honest batch, just read and sent, verifies
    honest = steward_keeper("verify-steward", digest, "--replay")
    assert honest.returncode == 0, honest.stdout + honest.stderr
    assert "MISMATCH" not in honest.stdout, honest.stdout

    # past the cooldown the steward cuts gold's LTV again under the same rationale hash
    chain.pending_timestamp = chain.blocks.head.timestamp + 4 * DAY
    chain.mine(1)
    ltv = registry.get(GOLD_LTV)
    lower = ltv - ltv * 70 // 10_000
    tx = registry.stewardSetBatch(
        [GOLD_LTV], [lower], bytes.fromhex(digest[2:]), f"ballast://steward/{digest}",
        sender=accounts[2],
    )  # fmt: skip
    assert not tx.failed and registry.get(GOLD_LTV) == lower < ltv
    again = steward_updates(chain, registry)
    assert len(again) == before + 2 and again[-1]["topics"][1] == logs[-1]["topics"][1]
    second = again[-1]["transactionHash"]
    second_hex = second if isinstance(second, str) else "0x" + bytes(second).hex()

    out = steward_keeper("verify-steward", digest, "--replay")
    assert out.returncode == 4, out.stdout + out.stderr
    assert (
        f"MISMATCH: rationale hash: 2 steward batches carry it (also {second_hex} at block "
        f"{again[-1]['blockNumber']}); a receipt describes one batch"
    ) in out.stdout, out.stdout
    # without --replay too: the reuse is read from the events alone
    plain = steward_keeper("verify-steward", digest)
    assert plain.returncode == 4 and "2 steward batches carry it" in plain.stdout, plain.stdout
