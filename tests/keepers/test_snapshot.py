"""keepers.protocol, keepers.multicall and keepers.snapshot on anvil: the manifest as handles,
Multicall3 batches and the typed snapshots read through them."""

from __future__ import annotations

import pytest

from ballast.config import DeployConfig
from ballast.deploy import deploy_system
from keepers.multicall import (
    MULTICALL3_ADDRESS,
    Call,
    Multicall,
    MulticallError,
    ensure_multicall,
)
from keepers.protocol import Protocol, ProtocolError
from keepers.snapshot import BookSnapshot, ClaimsSnapshot, EvaluationSnapshot, VaultSnapshot
from tests.agent_support import EVAL_WINDOW, build_desk
from tests.lending_support import deploy_lending_system
from tests.vault_support import USDC


@pytest.fixture(scope="module")
def deployment(repo_root, accounts):
    config = DeployConfig.load(repo_root / "deployments/config/local.yaml")
    return deploy_system(config, accounts[0], report=lambda _: None)


@pytest.fixture(scope="module")
def snapshot_manifest(deployment, tmp_path_factory):
    path = tmp_path_factory.mktemp("deployments") / "ethereum-local.json"
    deployment.save(path)
    return path


@pytest.fixture(scope="module")
def protocol(snapshot_manifest) -> Protocol:
    return Protocol.load(snapshot_manifest)


@pytest.fixture(scope="module")
def multicall(protocol) -> Multicall:
    return Multicall(ensure_multicall())


# --- Protocol ------------------------------------------------------------------------------------


def test_protocol_loads_typed_handles(protocol, deployment, project, chain):
    c = deployment.contracts
    assert protocol.chain_id == chain.chain_id
    assert protocol.block == deployment.block
    assert protocol.vault.address == c["RWAVault"]
    assert protocol.vault.contract_type.name == "RWAVault"
    assert protocol.agents.contract_type.name == "AgentRegistry"
    assert protocol.registry.contract_type.name == "ParameterRegistry"
    assert protocol.router.contract_type.name == "OracleRouter"
    assert protocol.lending.address == c["LendingSleeve"]
    assert list(protocol.sleeves) == ["tbill", "gold", "invoices", "lending"]
    assert protocol.sleeves["lending"] is protocol.lending
    assert protocol.sleeves["gold"].contract_type.name == "TokenizedRWASleeve"
    vault = protocol.vault
    on_chain = [vault.sleeveAt(i).sleeve for i in range(vault.sleeveCount())]
    assert on_chain == [s.address for s in protocol.sleeves.values()]
    assert protocol.tokens == deployment.tokens
    assert protocol.roles == deployment.roles
    with pytest.raises(Exception):  # noqa: B017 - frozen dataclass
        protocol.vault = None


def one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


def test_missing_manifest_is_one_line(tmp_path):
    with pytest.raises(ProtocolError) as err:
        Protocol.load(tmp_path / "ethereum-local.json")
    assert "no deployment manifest" in one_line(err)


def test_manifest_of_another_chain_is_refused(deployment, tmp_path, chain):
    path = tmp_path / "m.json"
    deployment.model_copy(update={"chain_id": 1}).save(path)
    with pytest.raises(ProtocolError) as err:
        Protocol.load(path)
    assert f"describes chain 1, but this node is chain {chain.chain_id}" in one_line(err)


def test_manifest_without_a_contract_is_refused(deployment, tmp_path):
    path = tmp_path / "m.json"
    contracts = {k: v for k, v in deployment.contracts.items() if k != "AgentRegistry"}
    deployment.model_copy(update={"contracts": contracts}).save(path)
    with pytest.raises(ProtocolError) as err:
        Protocol.load(path)
    assert "names no AgentRegistry contract" in one_line(err)


def test_contract_without_code_is_refused(deployment, tmp_path):
    path = tmp_path / "m.json"
    nowhere = "0x000000000000000000000000000000000000dEaD"
    contracts = {**deployment.contracts, "OracleRouter": nowhere}
    deployment.model_copy(update={"contracts": contracts}).save(path)
    with pytest.raises(ProtocolError) as err:
        Protocol.load(path)
    assert f"no code at OracleRouter {nowhere}" in one_line(err)


# --- Multicall3 ----------------------------------------------------------------------------------


def test_ensure_multicall_places_multicall3_at_the_canonical_address(chain, project):
    address = ensure_multicall()
    assert address == MULTICALL3_ADDRESS
    assert ensure_multicall() == address  # idempotent
    mc = project.Multicall3.at(address)
    assert mc.getBlockNumber() == chain.blocks.head.number
    assert mc.getCurrentBlockTimestamp() == chain.blocks.head.timestamp


def test_a_failing_call_is_reported_not_raised(multicall, protocol):
    agents = protocol.agents
    batch = multicall.read(
        [Call(agents.slashInfo, 10**6), Call(protocol.vault.idle), Call(agents.openDecisions)]
    )
    failed, idle, decisions = batch.results
    assert not failed.success
    assert failed.error == "UnknownSlash(slashId=1000000)"
    assert idle.success and idle.value == protocol.vault.idle()
    assert decisions.success and decisions.value == list(agents.openDecisions())


def test_a_call_to_an_address_without_code_fails(multicall, project, protocol):
    ghost = project.RWAVault.at(
        "0x000000000000000000000000000000000000dEaD", fetch_from_explorer=False
    )
    (result,) = multicall.read([Call(ghost.idle)]).results
    assert not result.success


# --- snapshots equal the individual view calls ----------------------------------------------------


def test_vault_snapshot_equals_individual_calls(multicall, protocol, chain):
    vault = protocol.vault
    snap = VaultSnapshot.read(multicall, vault)
    assert snap.block == chain.blocks.head.number
    assert not snap.failures
    assert snap.total_assets == vault.totalAssets()
    assert snap.idle == vault.idle()
    assert list(snap.current_bps) == list(vault.currentBps())
    assert snap.automation_paused == vault.automationPaused()
    assert snap.is_shutdown == vault.isShutdown()
    should_act, data = vault.strikeTrigger()
    assert (snap.strike_should_act, snap.strike_data) == (should_act, bytes(data))
    assert snap.strike_count == vault.strikeCount()
    assert (snap.liquidity, snap.pending_deposits) == (vault.liquidity(), vault.pendingDeposits())
    assert snap.next_rebalance_at == vault.nextRebalanceAt()


def test_claims_snapshot_equals_individual_calls(multicall, protocol, accounts, chain):
    vault = protocol.vault
    operator = accounts[7].address
    vault.setOperator(operator, True, sender=accounts[1])
    controllers = [a.address for a in accounts[:3]]
    snap = ClaimsSnapshot.read(multicall, vault, operator, controllers)
    assert snap.block == chain.blocks.head.number and not snap.failures
    assert [c.controller for c in snap.claims] == controllers
    for c in snap.claims:
        assert c.is_operator == vault.isOperator(c.controller, operator)
        assert (c.max_deposit, c.max_redeem) == (
            vault.maxDeposit(c.controller), vault.maxRedeem(c.controller)
        )  # fmt: skip
    assert [c.is_operator for c in snap.claims] == [False, True, False]


def test_book_snapshot_equals_individual_calls(multicall, protocol, accounts):
    book = protocol.lending
    borrowers = [a.address for a in accounts[:5]]
    snap = BookSnapshot.read(multicall, book, borrowers)
    assert not snap.failures
    assert [b.borrower for b in snap.borrowers] == borrowers
    for view in snap.borrowers:
        assert view.health_factor == book.healthFactor(view.borrower)
        assert view.debt == book.debtOf(view.borrower)
        should_act, data = book.liquidationTrigger(view.borrower)
        assert (view.liquidatable, view.trigger_data) == (should_act, bytes(data))
        assert view.error is None
    assert snap.liquidatable == ()


def test_evaluation_snapshot_equals_individual_calls(multicall, protocol):
    agents = protocol.agents
    snap = EvaluationSnapshot.read(multicall, agents, max_due=10)
    assert not snap.failures
    assert list(snap.open_decisions) == list(agents.openDecisions())
    assert [d.decision_id for d in snap.due] == list(agents.decisionsDue(10))
    for due in snap.due:
        should_act, data = agents.evaluateTrigger(due.decision_id)
        assert (due.should_act, due.data) == (should_act, bytes(data))
    assert [s.slash_id for s in snap.slashes] == list(agents.pendingSlashes())
    for slash in snap.slashes:
        assert slash.info == agents.slashInfo(slash.slash_id)


def test_multicall3_is_put_back_after_its_code_is_gone(chain):
    ensure_multicall()
    chain.provider.set_code(MULTICALL3_ADDRESS, b"")  # as after an anvil restart
    assert ensure_multicall() == MULTICALL3_ADDRESS
    assert len(chain.provider.get_code(MULTICALL3_ADDRESS)) > 0


def test_no_multicall3_on_a_remote_chain_is_one_clear_error(chain, monkeypatch):
    monkeypatch.setattr("keepers.multicall.LOCAL_CHAIN_IDS", frozenset())
    monkeypatch.setattr("keepers.multicall._known", {})
    chain.provider.set_code(MULTICALL3_ADDRESS, b"")
    try:
        with pytest.raises(MulticallError) as err:
            ensure_multicall()
        assert f"no Multicall3 at {MULTICALL3_ADDRESS} on chain {chain.chain_id}" in one_line(err)
    finally:
        monkeypatch.undo()
        ensure_multicall()


def test_evaluation_snapshot_with_due_decisions_and_pending_slashes(project, accounts, chain):
    """Three decisions into sleeves that fall 20 %: the first evaluated (a pending slash), the
    other two due; every per-id read in the second batch equals its own view call."""
    desk = build_desk(project, accounts, chain)
    agents = desk.agents
    d0 = desk.rebalance_after_cooldown([2_000, 0, 0])
    desk.rebalance_after_cooldown([2_000, 2_000, 0], agent=desk.rival)
    desk.rebalance_after_cooldown([2_000, 2_000, 1_000])
    desk.at(d0.timestamp + EVAL_WINDOW - 60)
    desk.set_price("tbill", 80_000_000)
    desk.set_price("gold", 1_600 * 10**8)
    desk.set_price("invoices", 80_000_000)
    desk.evaluate(0)
    desk.mine_at(agents.decisionRecord(2).dueAt)

    snap = EvaluationSnapshot.read(Multicall(ensure_multicall()), agents, max_due=10)
    assert snap.block == chain.blocks.head.number
    assert not snap.failures
    assert list(snap.open_decisions) == list(agents.openDecisions())
    assert sorted(d.decision_id for d in snap.due) == [1, 2]
    assert [d.decision_id for d in snap.due] == list(agents.decisionsDue(10))
    for due in snap.due:
        should_act, data = agents.evaluateTrigger(due.decision_id)
        assert (due.should_act, due.data, due.error) == (should_act, bytes(data), None)
    assert [s.slash_id for s in snap.slashes] == list(agents.pendingSlashes()) == [0]
    (slash,) = snap.slashes
    expected = agents.slashInfo(0)
    assert slash.info == expected
    assert (slash.info.agent, slash.info.amount) == (desk.allocator.address, expected.amount)
    assert slash.info.amount > 0


def test_book_snapshot_finds_the_unhealthy_borrower(project, accounts, chain):
    """Two tbill-backed loans; tbill falls 10 %: one is liquidatable, the other healthy."""
    lending = deploy_lending_system(project, accounts[0], accounts[1], accounts[5])
    lending.supply(accounts[6], 1_000_000 * USDC)
    risky, safe, idle = accounts[7], accounts[8], accounts[9]
    lending.open_position(risky, "tbill", 10_000 * USDC, 7_900 * USDC)
    lending.open_position(safe, "tbill", 10_000 * USDC, 2_000 * USDC)
    lending.set_nav("tbill", 90_000_000)
    book = lending.book

    borrowers = [risky.address, safe.address, idle.address]
    snap = BookSnapshot.read(Multicall(ensure_multicall()), book, borrowers)
    assert snap.block == chain.blocks.head.number
    assert not snap.failures
    for view in snap.borrowers:
        assert view.health_factor == book.healthFactor(view.borrower)
        assert view.debt == book.debtOf(view.borrower)
        should_act, data = book.liquidationTrigger(view.borrower)
        assert (view.liquidatable, view.trigger_data) == (should_act, bytes(data))
    assert [v.borrower for v in snap.liquidatable] == [risky.address]
    assert snap.borrowers[0].debt >= 7_900 * USDC
    assert snap.borrowers[2].debt == 0
