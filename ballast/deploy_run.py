"""One deploy run of `ballast.deploy`: what it reuses (journal, manifest) and what it sends.

Every creation goes through :meth:`DeployRun.deploy`, journaled before and after; every address a
config or a manifest gives is checked for code first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ape import chain, project
from ape.api import AccountAPI
from ape.contracts import ContractContainer, ContractInstance

from ballast.config import ConfigError, TokenSpec
from ballast.deployment import Deployment
from ballast.journal import Journal

Report = Callable[[str], None]

ZERO_ADDRESS = "0x" + "00" * 20
FEED_DECIMALS = 8  # mock feeds quote like Chainlink's USD feeds


class DeployError(Exception):
    """The deployment cannot go on; the message is one line for users."""


@dataclass(frozen=True)
class DaoCall:
    """A step of the config the deployer no longer has the role for: the call the timelock
    must make instead, in words (`what`, `call`) and as sent (`target`, `data`)."""

    what: str
    call: str
    target: str
    data: bytes


class NeedsTheDao(DeployError):
    """The config asks for steps only the DAO may now take (`calls`, in the order the deploy
    reached them, which is the order they must execute in): everything else is done."""

    def __init__(self, calls: list[DaoCall]):
        self.calls = calls
        steps = "; ".join(c.what for c in calls)
        counted = (
            "1 step of the config needs"
            if len(calls) == 1
            else f"{len(calls)} steps of the config need"
        )
        super().__init__(f"{counted} the DAO (the deployer no longer holds the roles): {steps}")


class NotThisSystem(DeployError):
    """The manifest or the journal names, for a contract, code that is not this config's: the
    message says which file and what to do (resuming from that journal would only stop again)."""


def _keys(deployment: Deployment) -> dict[str, str]:
    """What a manifest names, by the keys deploys record (see :class:`DeployRun`)."""
    keys = {f"contract:{name}": address for name, address in deployment.contracts.items()}
    keys |= {f"token:{name}": address for name, address in deployment.tokens.items()}
    for entry in deployment.sleeves:
        if entry.kind == "LendingSleeve":
            keys[f"book:{entry.name}"] = entry.address
            continue
        keys[f"sleeve:{entry.name}"] = entry.address
        for part in ("feed", "issuer"):
            if address := getattr(entry, part):
                keys[f"sleeve:{entry.name}:{part}"] = address
    return keys


class DeployRun:
    """One deploy run: what it reuses, what it sends.

    Every contract a deploy creates has a key (``contract:RWAVault``, ``token:asset``,
    ``sleeve:tbill``, ``sleeve:tbill:feed``, ``book:lending``...). An address is reused when the
    journal of an interrupted deploy, or else the previous manifest of this chain, records it for
    that key and it has code (each site checks further that it serves this system); every
    creation goes through :meth:`deploy`, which journals it before and after sending.
    """

    def __init__(
        self, deployer: AccountAPI, previous: Deployment | None, report: Report, journal: Journal
    ):
        self.deployer = deployer
        self.report = report
        self.journal = journal
        same_chain = previous is not None and previous.chain_id == chain.chain_id
        self.previous = previous if same_chain else None
        self.manifest_keys = _keys(self.previous) if self.previous else {}
        self.fresh: set[str] = set()
        """The contracts this run created."""
        self.reused = False
        """Whether anything of the previous manifest is reused (its first block then stays)."""
        self.for_dao: list[DaoCall] = []
        """The steps left to the DAO (`may`): `deploy_system` raises `NeedsTheDao` with them."""

    def recorded(self, key: str) -> str | None:
        """The address the journal, else the previous manifest, records for `key`, if it has
        code on this chain."""
        for address in (self.journal.address(key), self.manifest_keys.get(key)):
            if address and has_code(address):
                return address
        return None

    def reusing(self, label: str, address: str) -> None:
        """Say that `address` is reused (and where it comes from)."""
        if address in self.manifest_keys.values():
            self.reused = True
            self.report(f"{label}: reusing {address} from the manifest")
        else:
            self.report(f"{label}: reusing {address} from the interrupted deploy")

    def reusable(self, label: str, key: str) -> str | None:
        """The recorded address for `key`, reported as reused, when it has code."""
        if address := self.recorded(key):
            self.reusing(label, address)
        return address

    def deploy(self, key: str, container: ContractContainer, *args) -> ContractInstance:
        """Create a contract, journaled under `key` before it is sent and once it is mined. A
        creation refused before the node received it (Ape's own checks: a deployer that cannot
        pay for it; Ctrl-C before the broadcast) is taken out of the journal again: a deploy
        that sent nothing leaves none."""
        nonce = self.deployer.nonce
        self.journal.sending(key, nonce)
        try:
            instance = self.deployer.deploy(container, *args)
        except BaseException:  # an interrupt too (Ape's SystemExit on SIGINT/SIGTERM)
            if not _sent_since(self.deployer.address, nonce):
                self.journal.not_sent(key)
            raise
        self.journal.deployed(key, instance.address)
        self.fresh.add(instance.address)
        return instance

    def contract(
        self,
        name: str,
        container: ContractContainer,
        *args,
        serves: Callable[[ContractInstance], bool] | None = None,
        after: tuple = (),
    ) -> ContractInstance:
        """The recorded `name` if it `serves` this system, else a new one.

        `after` are the contracts (or addresses) `serves` checks links to. When one of them was
        deployed by this run, a recorded `name` that does not serve belongs to the one it
        replaced, and a new `name` is deployed (as for the AgentRegistry and the sleeves). When
        all of them were reused, it is refused in one line: the manifest or the journal then
        names other code or another system there (another node with the same chain id, or
        another config), and nothing built on it could be this config's system."""
        key = f"contract:{name}"
        if address := self.recorded(key):
            candidate = container.at(address)
            if serves is None or _answers(serves, candidate):
                self.reusing(name, address)
                return candidate
            if not any(str(getattr(c, "address", c)) in self.fresh for c in after):
                if self.journal.address(key) == address:
                    origin, remedy = "journal", "delete the journal to deploy from scratch"
                else:
                    origin, remedy = "manifest", "give another --manifest (or move that file away)"
                raise NotThisSystem(
                    f"{name}: the {origin} names {address}, which is not this config's {name} "
                    f"on chain {chain.chain_id} (another node's or another config's deployment?): "
                    f"{remedy}"
                )
        instance = self.deploy(key, container, *args)
        self.report(f"{name}: deployed at {instance.address}")
        return instance

    def token(self, name: str, spec: TokenSpec) -> str:
        if spec.address is not None:
            if not has_code(spec.address):
                raise ConfigError(
                    f"{name}: no contract at {spec.address} on chain {chain.chain_id}"
                )
            self.report(f"{name}: using configured token {spec.address}")
            return spec.address
        assert spec.mock is not None  # TokenSpec guarantees one of the two
        if address := self.reusable(name, f"token:{name}"):
            return address
        token = self.deploy(
            f"token:{name}", project.MockStablecoin, spec.mock.name, spec.mock.symbol
        )
        self.report(f"{name}: deployed MockStablecoin {spec.mock.symbol} at {token.address}")
        return token.address

    def may(
        self, target: ContractInstance, role: bytes, what: str, method: str, *args: object
    ) -> bool:
        """Whether the deployer still holds `role` on `target` to make the call `method(*args)`
        for `what` itself. When it does not, the call is kept for the DAO (`for_dao`, said in
        one line) and the run goes on with what the deployer may still do."""
        if target.hasRole(role, self.deployer):
            return True
        self.leave_to_dao(what, target, method, *args)
        return False

    def leave_to_dao(self, what: str, target: ContractInstance, method: str, *args: object) -> None:
        """Keep the call `method(*args)` on `target` for the DAO (see `may`)."""
        data = bytes(getattr(target, method).encode_input(*args))
        shown = f"{target.contract_type.name}.{method}({', '.join(_shown(a) for a in args)})"
        self.for_dao.append(DaoCall(what, shown, target.address, data))
        self.report(f"for the DAO: {what}: {shown} on {target.address}")

    def grant(self, target: ContractInstance, label: str, role: bytes, account: str) -> None:
        """Grant `role` unless `account` has it; the deployer must still administer it."""
        if target.hasRole(role, account):
            return
        if not target.hasRole(target.getRoleAdmin(role), self.deployer):
            raise DeployError(
                f"{label} is missing on {target.address} for {account} and the deployer no longer "
                "administers it: grant it through governance"
            )
        target.grantRole(role, account, sender=self.deployer)
        self.report(f"granted {label} to {account}")

    def renounce(self, target: ContractInstance, label: str, role: bytes) -> None:
        if target.hasRole(role, self.deployer):
            target.renounceRole(role, self.deployer, sender=self.deployer)
            self.report(f"deployer renounced {label}")


def _shown(value: object) -> str:
    """An argument of `DeployRun.leave_to_dao` as it would be written in a call: strings quoted,
    bytes as 0x hex, lists in brackets."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    return str(value)


def _answers(serves: Callable[[ContractInstance], bool], candidate: ContractInstance) -> bool:
    """Whether `candidate` passes `serves`; code that reverts or answers what does not decode
    does not. Any other failure (a lost node, an RPC error, a rate limit) stops the deploy as
    itself: taken for "not this system", it would redeploy the contract beside a live one, or
    tell the operator to delete a good journal."""
    from ape.exceptions import ContractLogicError
    from ape.exceptions import DecodingError as ApeDecodingError
    from eth_abi.exceptions import DecodingError as AbiDecodingError

    try:
        return bool(serves(candidate))
    except (ContractLogicError, ApeDecodingError, AbiDecodingError):
        return False


def _sent_since(address: str, nonce: int) -> bool:
    """Whether `address` has sent a transaction of nonce `nonce` or later, one still pending
    included; True when the node cannot say (the journal then keeps the creation)."""
    try:
        return chain.provider.web3.eth.get_transaction_count(address, "pending") > nonce
    except Exception:  # noqa: BLE001 - a lost node: assume it was sent
        return True


def same(a: str, b: str) -> bool:
    """Two addresses are the same, whatever their case."""
    return str(a).lower() == str(b).lower()


def has_code(address: str) -> bool:
    return len(chain.provider.get_code(address)) > 0


def require_code(label: str, address: str) -> str:
    if not has_code(address):
        raise ConfigError(f"{label}: no contract at {address} on chain {chain.chain_id}")
    return address
