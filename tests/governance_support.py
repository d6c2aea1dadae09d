"""Governance test support: the deployed contracts and a proposal walked through the DAO."""

from __future__ import annotations

from dataclasses import dataclass

from eth_utils import keccak

from ballast.config import DeployConfig
from ballast.deployment import Deployment
from ballast.guardian import timelock_salt
from ballast.params import PROPOSAL_STATES

TOKEN = 10**18


@dataclass
class Governance:
    config: DeployConfig
    token: object
    governor: object
    timelock: object
    registry: object
    guardian: object
    steward: object
    deployer: object
    veto: object  # GuardianVeto: the guardian's way to cancel a queued operation, once per action


def delegate(token, holder) -> None:
    # ContractInstance.delegate is Ape's own attribute: call the token's method by name.
    token.invoke_transaction("delegate", holder, sender=holder)


class Proposal:
    """One proposal through the OZ governor, with the steps a DAO member takes."""

    def __init__(self, gov: Governance, calls: list[tuple[object, bytes]], description: str):
        self.gov = gov
        self.targets = [target.address for target, _ in calls]
        self.values = [0] * len(calls)
        self.calldatas = [data for _, data in calls]
        self.description = description
        self.description_hash = keccak(text=description)
        self.id: int | None = None

    def propose(self, proposer):
        receipt = self.gov.governor.propose(
            self.targets, self.values, self.calldatas, self.description, sender=proposer
        )
        (event,) = receipt.events.filter(self.gov.governor.ProposalCreated)
        self.id = event.proposalId
        return receipt

    def args(self):
        return (self.targets, self.values, self.calldatas, self.description_hash)

    def queue(self, sender):
        return self.gov.governor.queue(*self.args(), sender=sender)

    def execute(self, sender):
        return self.gov.governor.execute(*self.args(), sender=sender)

    def state(self) -> str:
        return PROPOSAL_STATES[self.gov.governor.state(self.id)]

    def salt(self) -> bytes:
        """The timelock salt GovernorTimelockControl queues it with."""
        return timelock_salt(self.gov.governor.address, self.description_hash)

    def veto(self, sender):
        """The guardian cancels it in the timelock through GuardianVeto."""
        args = (self.targets, self.values, self.calldatas, b"\x00" * 32, self.salt())
        return self.gov.veto.cancel(*args, sender=sender)


def save_governance_manifest(gov, chain, path):
    """`gov`'s deployment (token, governor, timelock, registry, veto) written as a manifest at
    `path`, where the params script reads it; returns `path`."""
    Deployment(
        chain_id=chain.chain_id,
        block=0,
        deployer=gov.deployer.address,
        contracts={
            "BallastToken": gov.token.address,
            "BallastGovernor": gov.governor.address,
            "TimelockController": gov.timelock.address,
            "ParameterRegistry": gov.registry.address,
            "GuardianVeto": gov.veto.address,
        },
    ).save(path)
    return path
