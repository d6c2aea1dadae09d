"""Pure helpers for `ape run guardian`: ids, timelock operation ids, refusals in words.

The guardian (DESIGN.md §Governance) holds the vault's GUARDIAN role (pause, unpause, shut
down, veto slashes in the AgentRegistry) and cancels queued governance through `GuardianVeto`
(which holds the timelock's CANCELLER role; once per action). A queued governance proposal is
one timelock operation; `operation_id` computes its id exactly as OpenZeppelin 5.4's
GovernorTimelockControl schedules it, and `timelock_salt` its salt, so the guardian cancels by
the governor's proposal id.
"""

from __future__ import annotations

from eth_abi import encode
from eth_utils import keccak, to_bytes, to_checksum_address

from ballast.agent import SlashView, Units, slash_deadline, when

ZERO32 = b"\x00" * 32


class InputError(ValueError):
    """Bad user input; the message is one line."""


def parse_slash_id(text: str) -> int:
    """A slash id as `status` prints it: "3" or "#3"."""
    cleaned = text.strip().removeprefix("#")
    if not cleaned.isdigit():
        raise InputError(f"not a slash id: {text!r} (a whole number, as `status` lists them)")
    return int(cleaned)


def timelock_salt(governor: str, description_hash: bytes) -> bytes:
    """GovernorTimelockControl._timelockSalt: `bytes20(governor) ^ descriptionHash`."""
    left = to_bytes(hexstr=to_checksum_address(governor)) + b"\x00" * 12
    return bytes(a ^ b for a, b in zip(left, bytes(description_hash), strict=True))


def operation_id(
    targets: list[str],
    values: list[int],
    calldatas: list[bytes],
    description_hash: bytes,
    governor: str,
) -> bytes:
    """The timelock operation a governor proposal is queued as: TimelockController's
    `hashOperationBatch(targets, values, calldatas, predecessor 0, salt)`."""
    payload = encode(
        ["address[]", "uint256[]", "bytes[]", "bytes32", "bytes32"],
        [
            [to_checksum_address(t) for t in targets],
            list(values),
            [bytes(c) for c in calldatas],
            ZERO32,
            timelock_salt(governor, description_hash),
        ],
    )
    return keccak(payload)


def veto_refusal(slash_id: int, count: int, slash: SlashView | None, now: int) -> str | None:
    """Why `vetoSlash(slash_id)` would revert at `now` (None when it would pass the slash
    checks; the caller's role is checked apart). `count` is the registry's slashCount."""
    if slash is None or slash_id >= count:
        if count == 0:
            return f"no slash #{slash_id}: the registry has opened no slash yet"
        last = f"#0 to #{count - 1}" if count > 1 else "#0"
        return f"no slash #{slash_id}: the registry has opened {last}"
    if slash.status == "Vetoed":
        return f"slash #{slash_id} is already vetoed"
    if slash.status == "Executed":
        return f"slash #{slash_id} was already executed: its stake went to the depositors"
    if slash.status != "Pending":
        return f"slash #{slash_id} is not pending ({slash.status})"
    if now >= slash.veto_ends_at:
        return (
            f"too late to veto slash #{slash_id}: its veto window closed "
            f"{when(slash.veto_ends_at, now)}; anyone may execute it now"
        )
    return None


# What cancelling means for a proposal in each state but Queued.
_NOT_QUEUED = {
    "Pending": "it is not in the timelock yet (voting has not started); only a queued proposal "
    "can be cancelled through the timelock",
    "Active": "it is still being voted on, not in the timelock; only a queued proposal can be "
    "cancelled through the timelock",
    "Succeeded": "it passed but is not queued yet; once queued, the guardian can cancel it "
    "during the timelock delay",
    "Defeated": "it was defeated and can never execute: nothing to cancel",
    "Expired": "it expired and can never execute: nothing to cancel",
    "Canceled": "it is already cancelled",
    "Executed": "it was already executed: too late to cancel",
}


def cancel_refusal(proposal_id: int, state: str) -> str | None:
    """Why the guardian cannot cancel `proposal_id` in `state` (None when it is queued)."""
    if state == "Queued":
        return None
    reason = _NOT_QUEUED.get(state, "only a queued proposal can be cancelled")
    return f"proposal {proposal_id} is {state}: {reason}"


def vault_rows(paused: bool, shut_down: bool) -> list[tuple[str, str]]:
    """The vault's part of the guardian's `status`."""
    automation = "paused: rebalances are refused" if paused else "running"
    if shut_down:
        automation += " (and the vault is shut down: rebalances are over for good)"
    shutdown = (
        "yes: deposits and rebalances stopped for good; withdrawals go on, anyone may unwind"
        if shut_down
        else "no"
    )
    return [("automation", automation), ("shut down", shutdown)]


def slash_rows(slashes: list[SlashView], now: int, units: Units) -> list[tuple[str, str]]:
    """One row per pending slash, the earliest veto deadline first; one of an AgentRegistry the
    vault left names it (slash ids count from 0 in each registry)."""
    if not slashes:
        return [("pending slashes", "none")]
    ordered = sorted(slashes, key=lambda s: (s.veto_ends_at, s.id))
    return [
        (
            f"slash #{s.id}" + ("" if s.registry is None else " (a registry left)"),
            f"{units(s.amount)} of agent {s.agent} (decision #{s.decision_id}), "
            f"{slash_deadline(s, now)}"
            + (
                ""
                if s.registry is None
                else f"; in the AgentRegistry {s.registry}, which the vault left "
                f"(veto with --registry {s.registry})"
            ),
        )
        for s in ordered
    ]


def suspended_agents(events: list[tuple[str, bool]]) -> list[str]:
    """The agents suspended now, from the registry's `AgentSuspended` (agent, suspended) logs in
    chain order, in the order of their last suspension."""
    now: dict[str, None] = {}
    for agent, suspended in events:
        now.pop(agent, None)
        if suspended:
            now[agent] = None
    return list(now)


def explain_error(name: str, inputs: dict, now: int, units: Units) -> str:
    """A contract custom error (vault, AgentRegistry, timelock) in words."""
    if name == "NotGuardian":
        return f"{inputs.get('caller')} is not the vault's guardian (GUARDIAN_ROLE)"
    if name == "AccessControlUnauthorizedAccount":
        return f"{inputs.get('account')} lacks the role this needs"
    if name == "UnknownSlash":
        return f"no slash #{inputs['slashId']}"
    if name == "SlashNotPending":
        return f"slash #{inputs['slashId']} is no longer pending"
    if name == "VetoWindowOver":
        return (
            f"too late to veto slash #{inputs['slashId']}: its veto window closed "
            f"{when(inputs['vetoEndsAt'], now)}"
        )
    if name == "VaultIsShutdown":
        return "the vault is already shut down"
    if name == "NotRegistered":
        return f"{inputs.get('agent')} is not a registered agent"
    if name == "SuspensionUnchanged":
        state = "suspended already" if inputs.get("suspended") else "not suspended"
        return f"agent {inputs.get('agent')} is {state}: nothing changed"
    if name == "TimelockUnexpectedOperationState":
        op = "0x" + bytes(inputs["operationId"]).hex()
        return f"the timelock operation {op} is not pending (executed or cancelled already)"
    args = ", ".join(f"{k}={v}" for k, v in inputs.items())
    return f"{name}({args})"
