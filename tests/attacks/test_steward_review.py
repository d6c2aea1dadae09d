"""Outside review of the risk steward (branch `steward2`): findings on `ballast-keeper
verify-steward --replay`, the check that a steward batch is the decision the DAO delegated.

The system is deployed from deployments/config/local.yaml, as in tests/keepers/test_steward.py
(steward limits: gold's LTV moves at most 70 bps of its value per 3 days), and the steward is
TEST::2. Each test asserts from chain facts (the `StewardUpdate` events, the registry's values)
and the command's exit status and lines; the CLI fixture fails on any traceback.

1. A batch priced with settings the DAO never delegated verified. The replay re-ran the
   steward with the settings the receipt itself records: a steward that ran its pass with a
   z of 3 and `loosen` on (the published settings: z 10, tighten-only) wrote a receipt that
   replays exactly, the node agreed at its block, exit 0.
2. A malformed receipt crashed the checker instead of being named: a receipt whose settings
   and inputs the steward cannot run on (a volatility floor of 0 on a flat price), a `steward`
   entry that is not an object, or a block before the deployment's (read there: a node error)
   ended in a Python traceback, exit 1, with no reason.
3. A steward move without a rationale went unnoticed: `stewardSet` logs no `StewardUpdate`,
   and every check started from a rationale hash (`steward-moves` now names it).

Control: a batch the registry refuses between the steward's read and its send is one clear
outcome (nothing sent, the reason named) and the next pass plans around it.
"""

from __future__ import annotations

from eth_abi import decode as abi_decode
from eth_utils import keccak

from ballast.deployment import Deployment
from keepers.strategy.rationale import decode, encode, fixed
from tests.keepers.test_steward import (  # noqa: F401 - fixtures: the steward's deployment and CLI
    DAY,
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

# The in-process CLI runner and what it needs (tests/scripts/conftest.py's fixtures).
_process_state_restored = inprocess._process_state_restored
keeper_main = inprocess.keeper_main


# a steward's own posture: a z of 3 where the DAO published 10, loosening where it delegated
# tightening only (keepers.job_config.StewardConfig's defaults)
OWN_SETTINGS = {"BALLAST_KEEPER_STEWARD__Z": "3", "BALLAST_KEEPER_STEWARD__LOOSEN": "true"}


def a_steward_batch(cli, system, chain, accounts, state, env=None) -> tuple[str, bytes]:  # noqa: F811
    """After a gold shock (past the steward's cooldown), one steward pass sends one batch: its
    rationale hash and document."""
    registry = system["registry"]
    shock_gold(system, chain, accounts)
    before = len(steward_updates(chain, registry))
    ltv = registry.get(GOLD_LTV)
    result = cli("once", "--job", "steward", env=env)
    assert result.returncode == 0 and "mined" in result.stdout, result.stdout + result.stderr
    logs = steward_updates(chain, registry)
    assert len(logs) == before + 1 and registry.get(GOLD_LTV) == ltv - ltv * 70 // 10_000
    digest = "0x" + bytes(logs[-1]["topics"][1]).hex()
    body = (state / "docs" / f"{digest}.json").read_bytes()
    assert "0x" + keccak(body).hex() == digest
    return digest, body


def test_a_batch_priced_with_settings_the_dao_did_not_delegate_does_not_verify(
    steward_keeper_cli,  # noqa: F811 - the imported fixture
    system,  # noqa: F811 - the imported fixture
    chain,
    accounts,
    state,  # noqa: F811 - the imported fixture
):
    digest, body = a_steward_batch(
        steward_keeper_cli, system, chain, accounts, state, env=OWN_SETTINGS
    )
    settings = decode(body)["settings"]
    assert settings["z"] == fixed(3.0) and settings["loosen"] is True

    out = steward_keeper_cli("verify-steward", digest, "--replay")
    # the document is the event's, replays exactly, and the node held its inputs...
    assert "keccak256 matches" in out.stdout and "replay: same document" in out.stdout, out.stdout
    assert "chain inputs: the node agrees at the receipt's block" in out.stdout, out.stdout
    # ...but it was decided with settings the checker's (the published) ones are not
    assert out.returncode == 4, out.stdout + out.stderr
    mismatches = [line.strip() for line in out.stdout.splitlines() if "MISMATCH" in line]
    assert mismatches == [
        "MISMATCH: settings.loosen: the receipt's True, configured False",
        f"MISMATCH: settings.z: the receipt's '{fixed(3.0)}', configured '{fixed(10.0)}'",
    ], out.stdout

    # control: a checker configured with the same settings verifies it
    same = steward_keeper_cli("verify-steward", digest, "--replay", env=OWN_SETTINGS)
    assert same.returncode == 0, same.stdout + same.stderr
    assert "settings: the configured steward settings" in same.stdout, same.stdout


def _forge(state, name: str, document: dict) -> str:  # noqa: F811 - the imported fixture
    path = state / f"{name}.json"
    path.write_bytes(encode(document))
    return str(path)


def test_a_malformed_receipt_is_named_with_its_reason_not_a_traceback(
    steward_keeper,  # noqa: F811 - the imported fixture
    steward_manifest,  # noqa: F811 - the imported fixture
    system,  # noqa: F811 - the imported fixture
    chain,
    accounts,
    state,  # noqa: F811 - the imported fixture
):
    digest, body = a_steward_batch(steward_keeper, system, chain, accounts, state)
    honest = steward_keeper("verify-steward", digest, "--replay")
    assert honest.returncode == 0, honest.stdout + honest.stderr

    flat = decode(body)  # gold at one price and no volatility floor: sigma 0, a division by it
    gold = next(c for c in flat["inputs"]["collaterals"] if c["name"] == "gold")
    gold["rounds"] = [[t, gold["rounds"][-1][1]] for t, _ in gold["rounds"]]
    flat["settings"]["vol_floor"] = fixed(0.0)
    odd = decode(body)
    odd["steward"] = "ballast.steward"
    early = decode(body)
    early["inputs"]["block"] = -1
    deployed = Deployment.load(steward_manifest)
    cases = {
        "flat": (flat, "MISMATCH: replay: the steward cannot run on its inputs and settings: "
                       "ZeroDivisionError: float division by zero"),
        "odd": (odd, "MISMATCH: replay: steward code: the receipt's None is not this keeper's"),
        "early": (early, "MISMATCH: receipt: its inputs are read at block -1, before the "
                         f"deployment's block {deployed.block}"),
    }  # fmt: skip
    for name, (document, reason) in cases.items():
        out = steward_keeper(
            "verify-steward", digest, "--replay", "--document", _forge(state, name, document)
        )
        assert out.returncode == 4, (name, out.stdout + out.stderr)
        assert reason in out.stdout, (name, out.stdout)
        assert "MISMATCH: document: its keccak256 is not the on-chain rationale hash" in out.stdout


def test_a_steward_batch_the_registry_refuses_between_read_and_send_is_one_clear_outcome(
    steward_manifest,  # noqa: F811 - the imported fixture
    system,  # noqa: F811 - the imported fixture
    chain,
    accounts,
    tmp_path,
    monkeypatch,
):
    """Control (checked and found sound): the guardian freezes a key of the steward's batch
    after the steward read the chain. Frozen before the registry's `checkBatch`: the pass says
    `ParameterFrozen at <key>: nothing sent`; frozen after it (the transaction's own simulation
    refuses it): one `refused` action naming `ParameterFrozen`, nothing mined, no exception; the
    next pass plans around the freeze and is not refused again (no retry of a doomed batch)."""
    from keepers.protocol import Protocol
    from keepers.shell import steward as shell
    from tests.keeper_support import keeper as make_keeper

    registry, guardian, steward = system["registry"], accounts[1], accounts[2]
    k = make_keeper(Protocol.load(steward_manifest), steward, tmp_path,
                    steward={"recommendation_dir": tmp_path / "rec"})  # fmt: skip
    shock_gold(system, chain, accounts)
    updates, nonce = len(steward_updates(chain, registry)), steward.nonce

    # frozen after the checkBatch, before the transaction: the sender's simulation refuses it
    act, frozen = k.act, []

    def freeze_then_act(report, contract, method, *args, **kw):
        frozen.append(args[0][-1])  # the batch's last key
        registry.freeze(frozen[-1], sender=guardian)
        return act(report, contract, method, *args, **kw)

    monkeypatch.setattr(k, "act", freeze_then_act)
    report = shell.run_steward(k)
    (action,) = report.actions
    assert action.outcome == "refused" and "ParameterFrozen" in action.detail, action
    assert len(steward_updates(chain, registry)) == updates and steward.nonce == nonce
    monkeypatch.setattr(k, "act", act)

    # frozen after the read, before the checkBatch: nothing sent, the reason named
    decide = shell.decide_steward

    def decide_then_freeze(*args, **kw):
        decision = decide(*args, **kw)
        assert decision.call is not None  # the next pass still has a batch, without that key
        assert keccak(text=decision.call.names[0]) not in frozen
        frozen.append(keccak(text=decision.call.names[0]))
        registry.freeze(frozen[-1], sender=guardian)
        return decision

    monkeypatch.setattr(shell, "decide_steward", decide_then_freeze)
    report = shell.run_steward(k)
    monkeypatch.setattr(shell, "decide_steward", decide)
    assert not report.actions, report.actions
    first = registry.nameOf(frozen[-1])
    assert (f"stewardSetBatch: the registry's checkBatch refuses it (ParameterFrozen at {first}):"
            " nothing sent") in report.skipped, report.skipped  # fmt: skip
    assert len(steward_updates(chain, registry)) == updates and steward.nonce == nonce

    # the next pass plans around both freezes: whatever it sends is not refused
    report = shell.run_steward(k)
    assert all(a.outcome == "mined" for a in report.actions), report.actions
    sent = steward_updates(chain, registry)[updates:]
    assert len(sent) == len(report.actions) == 1, report
    _, keys, _ = abi_decode(["string", "bytes32[]", "uint256[]"], bytes(sent[0]["data"]))
    assert keys and not set(keys) & set(frozen)


def test_a_steward_move_without_a_rationale_is_named(
    steward_keeper,  # noqa: F811 - the imported fixture
    system,  # noqa: F811 - the imported fixture
    chain,
    accounts,
):
    """3. A steward move with nothing to check went unnoticed. `stewardSet` moves a parameter
    as a batch does but logs no `StewardUpdate` (no rationale hash, no document): only
    `verify-steward HASH` existed, which starts from a hash, so such a move was never named.
    `steward-moves` lists every move by an account without GOVERNANCE_ROLE with its batch's hash
    and names one without (exit 4)."""
    registry, steward = system["registry"], accounts[2]
    chain.pending_timestamp = chain.blocks.head.timestamp + 4 * DAY  # past the cooldowns
    chain.mine(1)
    # a batch: its moves carry its rationale hash (whether the document matches it is
    # verify-steward's check)
    ltv = registry.get(GOLD_LTV)
    digest = keccak(text="a steward document")
    batch = registry.stewardSetBatch([GOLD_LTV], [ltv - ltv * 70 // 10_000], digest,
                                     "ballast://steward/doc", sender=steward)  # fmt: skip
    assert not batch.failed
    listed = steward_keeper("steward-moves")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert (
        f"block {batch.block_number} tx {batch.txn_hash}: lend.ltvBps.gold {ltv} -> "
        f"{ltv - ltv * 70 // 10_000} by {steward.address}, rationale 0x{digest.hex()}"
    ) in listed.stdout, listed.stdout
    assert "UNEXPLAINED" not in listed.stdout, listed.stdout

    key = keccak(text="vault.idleBufferBps")
    old = registry.get(key)
    tx = registry.stewardSet(key, old + old // 10, sender=steward)  # within its 20 % step
    assert not tx.failed and registry.get(key) == old + old // 10
    assert len(steward_updates(chain, registry)) == 1  # the batch's: no rationale logged

    out = steward_keeper("steward-moves")
    assert out.returncode == 4, out.stdout + out.stderr
    assert (
        f"UNEXPLAINED: block {tx.block_number} tx {tx.txn_hash}: vault.idleBufferBps {old} -> "
        f"{old + old // 10} by {steward.address}: no StewardUpdate carries it "
        "(stewardSet carries no rationale)"
    ) in out.stdout, out.stdout


def test_a_steward_set_beside_a_batch_in_one_transaction_is_not_credited_with_its_hash(
    steward_keeper,  # noqa: F811 - the imported fixture
    system,  # noqa: F811 - the imported fixture
    chain,
    accounts,
    project,
):
    """3b. A steward that is a contract (a multisig's multisend) sends `stewardSetBatch` and a
    `stewardSet` in one transaction. Matched by transaction alone, the `stewardSet`'s move was
    listed with the batch's rationale hash and `steward-moves` exited 0 (found in a read of
    the change); a move is now credited only by the batch that carried its key and value."""
    registry = system["registry"]
    timelock = system["governor"].timelock()  # GOVERNANCE on the registry
    multisend = project.Multicall3.deploy(sender=accounts[0])  # the steward: a contract
    governance = accounts.impersonate_account(timelock)
    accounts[0].transfer(governance, 10**18)
    registry.grantRole(registry.STEWARD_ROLE(), multisend, sender=governance)
    chain.pending_timestamp = chain.blocks.head.timestamp + 4 * DAY  # past the cooldowns
    chain.mine(1)
    ltv, idle = registry.get(GOLD_LTV), keccak(text="vault.idleBufferBps")
    old = registry.get(idle)
    digest = keccak(text="a steward document")
    batch = registry.stewardSetBatch.encode_input(
        [GOLD_LTV], [ltv - ltv * 70 // 10_000], digest, "ballast://steward/doc"
    )
    single = registry.stewardSet.encode_input(idle, old + old // 10)
    tx = multisend.aggregate3(
        [(registry.address, False, batch), (registry.address, False, single)], sender=accounts[0]
    )
    assert not tx.failed and registry.get(idle) == old + old // 10
    out = steward_keeper("steward-moves")
    assert out.returncode == 4, out.stdout + out.stderr
    assert f"lend.ltvBps.gold {ltv} -> {ltv - ltv * 70 // 10_000} by {multisend.address}, " \
        f"rationale 0x{digest.hex()}" in out.stdout, out.stdout  # fmt: skip
    assert f"UNEXPLAINED: block {tx.block_number} tx {tx.txn_hash}: vault.idleBufferBps " \
        f"{old} -> {old + old // 10} by {multisend.address}" in out.stdout, out.stdout  # fmt: skip
