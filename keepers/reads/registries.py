"""Every AgentRegistry the vault has named, for those who settle or watch what each one holds.

Governance may point the vault at another AgentRegistry (`IRWAVault.setAgentRegistry`, which
logs `AgentRegistrySet(agents)`). The registry it leaves keeps what it recorded: decisions still
to evaluate and slashes still to veto or execute, paid to the same vault's depositors. A
redeploy then writes the new registry into the manifest, so neither the manifest nor the vault
names the old one any more; only the vault's logs do. `read_named_registries` reads them;
`settling_order` (`ballast.agent`, which the guardian's CLI shares) puts the vault's registry
first, then every other one once.
"""

from __future__ import annotations

from typing import Any, Final

from eth_utils import keccak, to_checksum_address

from ballast.agent import settling_order
from keepers.reads.scans import read_logs

__all__ = ["AGENT_REGISTRY_SET_TOPIC", "read_named_registries", "settling_order"]

AGENT_REGISTRY_SET_TOPIC: Final = "0x" + keccak(text="AgentRegistrySet(address)").hex()


def read_named_registries(web3: Any, vault: str, start: int, stop: int, chunk: int) -> list[str]:
    """The registries the vault's `AgentRegistrySet` logs of blocks `start`..`stop` name
    (checksummed, in chain order; `chunk`-block `eth_getLogs` ranges)."""
    params = {"address": to_checksum_address(vault), "topics": [AGENT_REGISTRY_SET_TOPIC]}
    return [
        to_checksum_address("0x" + bytes(log["topics"][1])[-20:].hex())
        for log in read_logs(web3, params, start, stop, chunk)
    ]
