"""The rebalancer keeper's own pending rebalance, once what it was planned on no longer holds.

`rebalance` takes one target per sleeve INDEX. A DAO batch that removes a sleeve and adds another
keeps the count, so a vector planned over the old set lands on the new one; the vault restarts
its cooldown on a sleeve change (`tests/attacks/test_sleeve_swap.py`), which stops such a
rebalance only while the change is recent. One still pending after the cooldown (priced at the
keeper's fee cap while base fees are high) landed on the new set. The keeper that sent it now
cancels it at its next pass: a same-nonce 0-value transfer to itself, recorded in its store.

Pending on purpose: automine off while the keeper sends (its sender gives up after a second); the
signed transaction is taken out of the pool while the DAO's batch and the cooldown run (blocks
must be mined for them) and put back as it was, unchanged, before the keeper's next pass: what a
transaction pending all along looks like to the node and the keeper."""

from __future__ import annotations

from dataclasses import replace

import pytest
from eth_utils import to_checksum_address

from ballast.deployment import Deployment, SleeveEntry
from keepers.protocol import Protocol
from keepers.strategy.kit import Proposal
from tests.keeper_support import SLOW_TX, keeper, request
from tests.vault_support import USDC, SleeveSpec, add_sleeve, deploy_vault_system, isolated

NAV = 1_000_000 * USDC


def more_invoices(inputs):
    """An operator's strategy: 1,000 bps more of the NAV in the third sleeve (invoices, when
    planned over [tbill, gold, invoices])."""
    target = [s.current_bps for s in inputs.sleeves]
    target[2] += 1_000
    return Proposal(tuple(target), "one more tenth in invoices")


@pytest.fixture(scope="module")
def cancel_deployed(project, accounts):
    return deploy_vault_system(project, accounts[0], accounts[1], accounts[5])


@pytest.fixture
def swappable(cancel_deployed, chain):
    with isolated(chain):
        yield replace(cancel_deployed, sleeves=list(cancel_deployed.sleeves))


def manifest_of(system, chain) -> Protocol:
    """The `Protocol` a manifest of this vault-only system would load."""
    deployment = Deployment(
        chain_id=chain.chain_id,
        block=0,
        deployer=str(system.governance.address),
        contracts={
            "RWAVault": str(system.vault.address),
            "AgentRegistry": str(system.agents.address),
            "ParameterRegistry": str(system.registry.address),
            "OracleRouter": str(system.router.address),
        },
        sleeves=[
            SleeveEntry(
                name=s.name,
                address=str(s.sleeve.address),
                kind="TokenizedRWASleeve",
                token=str(s.token.address),
                feed=str(s.feed.address),
                issuer=str(s.issuer.address),
            )
            for s in system.sleeves
        ],
        collateral=[],
        tokens={"asset": str(system.asset.address)},
        roles={"guardian": str(system.guardian.address)},
    )
    return Protocol.from_deployment(deployment, source="the test deployment")


def nonce(chain, who) -> int:
    return int(request(chain, "eth_getTransactionCount", [who.address, "latest"]), 16)


def test_a_pending_rebalance_planned_before_a_sleeve_swap_is_cancelled_not_landed(
    project, swappable, chain, accounts, tmp_path, caplog
):
    system = swappable
    vault, gov, allocator = system.vault, system.governance, system.allocator
    gold = system.sleeve("gold").sleeve
    system.deposit(accounts[6], NAV)
    system.rebalance([3_000, 0, 1_000])  # tbill 300,000, invoices 100,000
    chain.pending_timestamp = vault.nextRebalanceAt()
    system.publish_prices()
    protocol = manifest_of(system, chain)
    entry = f"{__name__}:more_invoices"
    # a roomy gas margin: the estimate of the old set's rebalance would not pay for the new set's
    # (its move into a sleeve it never held), and an out-of-gas revert would hide the landing
    tx = SLOW_TX | {"gas_margin_bps": 10_000}
    k = keeper(protocol, allocator, tmp_path, tx=tx, rebalancer={"strategy": entry})

    # The keeper plans [3000, 0, 2000] over [tbill, gold, invoices]; its transaction stays pending.
    request(chain, "anvil_setAutomine", [False])
    try:
        sent = k.run("rebalancer")
    finally:
        (stale,) = k.store.in_flight(allocator.address)
        raw = request(chain, "eth_getRawTransactionByHash", [stale.tx_hash])
        request(chain, "anvil_dropTransaction", [stale.tx_hash])
        request(chain, "anvil_setAutomine", [True])
    assert [a.outcome for a in sent.actions] == ["stuck"], sent.summary()
    assert stale.action_id.startswith("rebalance:") and stale.nonce == nonce(chain, allocator)
    count, start = vault.decisionCount(), chain.blocks.head.number + 1

    # The DAO's batch: gold out, realestate in (same count); the cooldown it restarts runs out.
    vault.removeSleeve(gold, sender=gov)
    swap = add_sleeve(project, system, SleeveSpec("realestate", cap_bps=3_000))
    new_set = [vault.sleeveAt(i).sleeve for i in range(3)]
    assert new_set[2] == swap.sleeve.address
    chain.pending_timestamp = vault.nextRebalanceAt()
    system.publish_prices()

    # The keeper's rebalance, signed over the old set, is pending again; the next pass runs.
    request(chain, "anvil_setAutomine", [False])
    try:
        assert request(chain, "eth_sendRawTransaction", [raw]) == stale.tx_hash
        caplog.set_level("WARNING", logger="keepers")
        after = k.run("rebalancer")
        request(chain, "evm_mine", [])
    finally:
        request(chain, "anvil_setAutomine", [True])
    k.reconcile()

    # Chain facts: no decision with the old targets, the nonce went to a 0-value self-transfer.
    landed = [
        (list(vault.decision(e.decisionId).sleeves), list(vault.decision(e.decisionId).newBps))
        for e in vault.Rebalanced.range(start, chain.blocks.head.number + 1)
    ]
    assert landed == [], after.summary()  # was [(the new set, [3000, 0, 2000])]
    assert vault.decisionCount() == count
    assert nonce(chain, allocator) == stale.nonce + 1
    digest = stale.action_id.split(":", 1)[1]
    (cancel,) = k.store.transactions(f"rebalance-cancel:{digest}")
    tx = chain.provider.web3.eth.get_transaction(cancel.tx_hash)
    receipt = chain.provider.web3.eth.get_transaction_receipt(cancel.tx_hash)
    assert receipt["status"] == 1 and tx["nonce"] == stale.nonce
    assert to_checksum_address(tx["to"]) == allocator.address == tx["from"] and tx["value"] == 0
    assert tx["maxFeePerGas"] >= stale.max_fee * 1.125  # a valid replacement of the pending one

    # The store: the stale flight ended replaced by our own cancel, the cancel mined.
    assert cancel.status == "mined" and cancel.nonce == stale.nonce
    record = k.store.transaction(stale.tx_hash)
    assert record.status == "replaced", record
    assert record.error.startswith(f"rebalance-cancel:{digest}".join(("cancelled by ", ": ")))
    assert "sleeve set changed" in record.error
    (line,) = [n for n in after.notes if n.startswith("cancelled ")]
    assert "\n" not in line and stale.action_id in line and "sleeve set changed" in line
    assert [r.getMessage() for r in caplog.records if r.getMessage().startswith("cancelled")] == [
        line
    ]
