"""Attack: the guardian (a multisig, or whoever stole its keys) tries to move funds.

The guardian may stop things: pause automation, suspend an agent, shut the vault down, freeze a
parameter, veto a slash, cancel a queued proposal. If any of its powers, or any function open to
everyone, let it move money, a stolen guardian key would drain the vault: request or claim
depositors' redemptions, deposits or cancellations, rebalance into a sleeve it controls, add such
a sleeve, re-route a feed to liquidate everyone, pull the lending book's cash or the agents'
bonds. The defence: fund-moving entrypoints are gated by roles the guardian does not hold
(GOVERNANCE, the vault, an active agent), by the owner or controller (or its ERC-7540 operator,
or an allowance over its shares) or pay only the caller's own tokens; what the guardian may call
moves funds nowhere but back to idle or into the claims of the requests' own controllers (DESIGN
invariant 8: "the guardian cannot move funds at all").

The market: the lending test system, with the guardian holding the roles the deploy script
gives it (vault GUARDIAN, registry GUARDIAN); 1,000,000 deposited and spread over the four
sleeves; bob borrowing 50,000 against gold (rates 0); alice's redeem request pending (no strike
yet). Every state-
changing function of RWAVault, LendingSleeve, TokenizedRWASleeve, AgentRegistry,
ParameterRegistry and OracleRouter is classified below, so a function added later fails the
completeness check until someone decides what the guardian may do with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from eth_utils import keccak

from tests.lending_support import MAX_UINT, USDC, LendingSystem, deploy_lending_system
from tests.vault_support import assert_reverts, revert_of

GOLD = 10**18
ZERO_ADDRESS = "0x" + "00" * 20
IDLE_KEY = keccak(text="vault.idleBufferBps")


@dataclass
class Market:
    lending: LendingSystem
    guardian: object
    alice: object
    bob: object

    @property
    def vault(self):
        return self.lending.vault

    @property
    def book(self):
        return self.lending.book

    def sleeve(self, name: str):
        return self.lending.vs.sleeve(name).sleeve

    def contract(self, label: str):
        return {
            "RWAVault": self.vault,
            "LendingSleeve": self.book,
            "TokenizedRWASleeve": self.sleeve("tbill"),
            "AgentRegistry": self.lending.vs.agents,
            "ParameterRegistry": self.lending.vs.registry,
            "OracleRouter": self.lending.vs.router,
        }[label]


@dataclass(frozen=True)
class Refused:
    """The guardian's call reverts with `error` (inputs checked where given)."""

    args: Callable[[Market], tuple]
    error: str
    inputs: Callable[[Market], dict] = field(default=lambda m: {})


@dataclass(frozen=True)
class OwnFunds:
    """Takes only the caller's own tokens (or shares): the guardian, holding and having
    approved none, is refused by the token with `error` (an ERC-6093 signature)."""

    args: Callable[[Market], tuple]
    error: str = "ERC20InsufficientAllowance(address,uint256,uint256)"


BALANCE = "ERC20InsufficientBalance(address,uint256,uint256)"


@dataclass(frozen=True)
class Allowed:
    """Open to the guardian; `test_what_the_guardian_may_call_moves_nothing_to_it` runs it."""

    why: str


def selector(signature: str) -> str:
    """How `revert_of` shows an error the called contract's ABI does not declare: its raw
    data, which starts with the selector."""
    return "0x" + keccak(text=signature)[:4].hex()


def unauthorized(label: str, role: str) -> Callable[[Market], dict]:
    def inputs(m: Market) -> dict:
        return {"account": m.guardian, "neededRole": getattr(m.contract(label), role)()}

    return inputs


def by_role(label: str, role: str, args: Callable[[Market], tuple]) -> Refused:
    return Refused(args, "AccessControlUnauthorizedAccount", unauthorized(label, role))


def admin_calls(label: str) -> dict:
    """AccessControl's own functions, the same on every contract."""
    return {
        "grantRole": by_role(label, "DEFAULT_ADMIN_ROLE",
                             lambda m: (m.contract(label).DEFAULT_ADMIN_ROLE(), m.guardian)),
        "revokeRole": by_role(label, "DEFAULT_ADMIN_ROLE",
                              lambda m: (m.contract(label).DEFAULT_ADMIN_ROLE(), m.alice)),
        "renounceRole": Allowed("gives up the caller's own role"),
    }  # fmt: skip


GUARDIAN_CALLS: dict[str, dict[str, Refused | OwnFunds | Allowed]] = {
    "RWAVault": admin_calls("RWAVault") | {
        "addSleeve": by_role("RWAVault", "GOVERNANCE_ROLE", lambda m: (m.book, "mine")),
        "removeSleeve": by_role("RWAVault", "GOVERNANCE_ROLE", lambda m: (m.sleeve("gold"),)),
        "setWithdrawQueue": by_role("RWAVault", "GOVERNANCE_ROLE", lambda m: ([3, 2, 1, 0],)),
        "setAgentRegistry": by_role("RWAVault", "GOVERNANCE_ROLE", lambda m: (m.guardian,)),
        "setAllowlistEnabled": by_role("RWAVault", "GOVERNANCE_ROLE", lambda m: (True,)),
        "setAllowed": by_role("RWAVault", "ALLOWLIST_ROLE", lambda m: (m.guardian, True)),
        "rebalance": Refused(lambda m: ([0, 0, 0, 9_000], b"\x00" * 32, ""), "NotActiveAgent",
                             lambda m: {"caller": m.guardian}),
        # ERC-7540 claims, requests and cancellations of alice's, to the guardian: the caller
        # must be the controller (or owner) or its operator.
        "redeem": Refused(lambda m: (m.vault.convertToShares(1_000 * USDC), m.guardian, m.alice),
                          "NotOperator", lambda m: {"owner": m.alice, "caller": m.guardian}),
        "withdraw": Refused(lambda m: (1_000 * USDC, m.guardian, m.alice),
                            "NotOperator", lambda m: {"owner": m.alice, "caller": m.guardian}),
        "deposit": Refused(lambda m: (1_000 * USDC, m.guardian, m.alice),
                           "NotOperator", lambda m: {"owner": m.alice, "caller": m.guardian}),
        "mint": Refused(lambda m: (10**18, m.guardian, m.alice),
                        "NotOperator", lambda m: {"owner": m.alice, "caller": m.guardian}),
        "requestDeposit": Refused(lambda m: (1_000 * USDC, m.guardian, m.alice),
                                  "NotOperator", lambda m: {"owner": m.alice,
                                                            "caller": m.guardian}),
        "cancelDepositRequest": Refused(lambda m: (m.alice,), "NotOperator",
                                        lambda m: {"owner": m.alice, "caller": m.guardian}),
        "cancelRedeemRequest": Refused(lambda m: (m.alice,), "NotOperator",
                                       lambda m: {"owner": m.alice, "caller": m.guardian}),
        # A redeem request also accepts an ERC-20 allowance over the owner's shares: none here.
        "requestRedeem": Refused(lambda m: (1, m.guardian, m.alice),
                                 "ERC20InsufficientAllowance", lambda m: {"spender": m.guardian}),
        "transferFrom": Refused(lambda m: (m.alice, m.guardian, 1),
                                "ERC20InsufficientAllowance", lambda m: {"spender": m.guardian}),
        "unwind": Allowed("after shutdown only, and only back to idle"),
        "strike": Allowed("settles each request into its own controller's claim"),
        # The vault's module views run through a STATICCALL to itself; anyone else is refused.
        "moduleView": Refused(lambda m: (b"",), "InvalidModule", lambda m: {"module": m.guardian}),
        "setOperator": Allowed("names operators over the caller's own requests and claims"),
        "pauseAutomation": Allowed("the guardian's power: stops agents, not users"),
        "unpauseAutomation": Allowed("the guardian's power"),
        "shutdown": Allowed("the guardian's power: stops deposits and agents, not exits"),
        "approve": Allowed("an allowance over the caller's own shares"),
        "donate": OwnFunds(lambda m: (1_000 * USDC,)),
        "transfer": OwnFunds(lambda m: (m.guardian, 1), BALANCE),
    },
    "LendingSleeve": admin_calls("LendingSleeve") | {
        "deposit": Refused(lambda m: (1,), "OnlyVault", lambda m: {"caller": m.guardian}),
        "withdraw": Refused(lambda m: (1,), "OnlyVault", lambda m: {"caller": m.guardian}),
        "listCollateral": by_role("LendingSleeve", "GOVERNANCE_ROLE",
                                  lambda m: (m.lending.asset, "cash")),
        "borrow": Refused(lambda m: (1_000 * USDC,), "InsufficientCollateral",
                          lambda m: {"debt": 1_000 * USDC, "borrowPower": 0}),
        "withdrawCollateral": Refused(lambda m: (m.lending.token("gold"), GOLD),
                                      "InsufficientCollateralBalance",
                                      lambda m: {"requested": GOLD, "held": 0}),
        "liquidate": Refused(lambda m: (m.bob, m.lending.token("gold"), MAX_UINT),
                             "HealthyPosition", lambda m: {"borrower": m.bob}),
        "accrueInterest": Allowed("books interest; moves no tokens"),
        # Anyone's after a shutdown (which the guardian may cause): the loans fall due after
        # the notice, and a liquidation then takes the liquidator's own cash (OwnFunds' rule).
        "callLoans": Refused(lambda m: (), "NotShutdown"),
        "depositCollateral": OwnFunds(lambda m: (m.lending.token("gold"), GOLD)),
        "repay": OwnFunds(lambda m: (1_000 * USDC, m.bob)),
    },
    "TokenizedRWASleeve": {
        "deposit": Refused(lambda m: (1,), "OnlyVault", lambda m: {"caller": m.guardian}),
        "withdraw": Refused(lambda m: (1,), "OnlyVault", lambda m: {"caller": m.guardian}),
    },
    "AgentRegistry": {
        "onDecision": Refused(lambda m: (m.guardian, 7), "NotVault",
                              lambda m: {"caller": m.guardian}),
        "onFee": Refused(lambda m: (1,), "NotVault", lambda m: {"caller": m.guardian}),
        "claimRewards": Refused(lambda m: (), "NoRewards", lambda m: {"agent": m.guardian}),
        # Anyone's after a shutdown: closes the open reward round (bookkeeping, no transfer).
        "closeRound": Refused(lambda m: (), "NotShutdown"),
        "withdrawUnbonded": Refused(lambda m: (), "NotRegistered",
                                    lambda m: {"agent": m.guardian}),
        "requestUnbond": Refused(lambda m: (1,), "NotRegistered",
                                 lambda m: {"agent": m.guardian}),
        "updateMetadata": Refused(lambda m: ("ipfs://x",), "NotRegistered",
                                  lambda m: {"agent": m.guardian}),
        "evaluate": Refused(lambda m: (0,), "EvaluationNotDue", lambda m: {"decisionId": 0}),
        "executeSlash": Refused(lambda m: (0,), "UnknownSlash", lambda m: {"slashId": 0}),
        "vetoSlash": Refused(lambda m: (0,), "UnknownSlash", lambda m: {"slashId": 0}),
        "register": Allowed("registering bonds nothing; rebalancing needs the guardian's own "
                            "stake and the activation delay"),
        "stake": Refused(lambda m: (1,), "NotRegistered", lambda m: {"agent": m.guardian}),
        "setSuspended": Allowed("the guardian's power: a suspended agent cannot rebalance; its "
                                "bond, evaluations, slashes and unbonding are untouched"),
    },
    "ParameterRegistry": admin_calls("ParameterRegistry") | {
        "set": by_role("ParameterRegistry", "GOVERNANCE_ROLE", lambda m: (IDLE_KEY, 0)),
        "defineParameter": by_role("ParameterRegistry", "GOVERNANCE_ROLE",
                                   lambda m: ("vault.maxSleeveBps.mine", 1, 0, 1, 0, 0)),
        "setBounds": by_role("ParameterRegistry", "GOVERNANCE_ROLE",
                             lambda m: (IDLE_KEY, 0, 10_000, 0, 0)),
        "setStewardLimits": by_role("ParameterRegistry", "GOVERNANCE_ROLE",
                                    lambda m: (IDLE_KEY, 10_000, 0)),
        "unfreeze": by_role("ParameterRegistry", "GOVERNANCE_ROLE", lambda m: (IDLE_KEY,)),
        "stewardSet": by_role("ParameterRegistry", "STEWARD_ROLE", lambda m: (IDLE_KEY, 0)),
        "setBatch": by_role("ParameterRegistry", "GOVERNANCE_ROLE", lambda m: ([IDLE_KEY], [0])),
        "stewardSetBatch": by_role("ParameterRegistry", "STEWARD_ROLE",
                                   lambda m: ([IDLE_KEY], [0], b"\x00" * 32, "ipfs://x")),
        "addLink": by_role("ParameterRegistry", "GOVERNANCE_ROLE",
                           lambda m: (3, [IDLE_KEY], 0)),
        "removeLink": by_role("ParameterRegistry", "GOVERNANCE_ROLE", lambda m: (0,)),
        "freeze": Allowed("the guardian's power: a frozen parameter cannot change at all, for "
                          "registry.maxFreezePeriod at most"),
    },
    "OracleRouter": admin_calls("OracleRouter") | {
        "setFeed": by_role("OracleRouter", "DEFAULT_ADMIN_ROLE",
                           lambda m: (m.lending.token("gold"), m.lending.feed("tbill"))),
        "poke": Allowed("records the feed's own fresh answer"),
    },
}  # fmt: skip


@pytest.fixture(scope="module")
def market(project, accounts) -> Market:
    lending = deploy_lending_system(project, accounts[0], accounts[1], accounts[5])
    vs, guardian, alice, bob = lending.vs, accounts[1], accounts[6], accounts[7]
    vs.registry.grantRole(vs.registry.GUARDIAN_ROLE(), guardian, sender=vs.governance)
    # Freezes last a governed period (as ballast.deploy defines it from the config).
    vs.registry.defineParameter("registry.maxFreezePeriod", 30 * 86_400, 86_400, 60 * 86_400,
                                10_000, 86_400, sender=vs.governance)  # fmt: skip
    for name in ("lend.rate.baseBps", "lend.rate.slope1Bps", "lend.rate.slope2Bps"):
        lending.set_param(name, 0)  # no interest: the vault's assets stay put to the wei
    vs.deposit(alice, 1_000_000 * USDC)
    vs.rebalance([2_000, 1_000, 1_000, 5_000])
    lending.open_position(bob, "gold", 100_000 * USDC, 50_000 * USDC)
    shares = lending.vault.convertToShares(10_000 * USDC)
    lending.vault.requestRedeem(shares, alice, alice, sender=alice)
    return Market(lending, guardian, alice, bob)


def state_changing(contract) -> set[str]:
    return {
        abi.name
        for abi in contract.contract_type.abi
        if abi.type == "function" and abi.stateMutability not in ("view", "pure")
    }


@pytest.mark.parametrize("label", GUARDIAN_CALLS.keys())
def test_every_state_changing_function_is_classified(market, label):
    assert state_changing(market.contract(label)) == set(GUARDIAN_CALLS[label])


@pytest.mark.parametrize("label", GUARDIAN_CALLS.keys())
def test_every_fund_moving_entrypoint_refuses_the_guardian(market, label):
    """Each `Refused` call reverts for the guardian with its error; each `OwnFunds` call
    reverts too, the guardian having nothing of its own to pay with."""
    contracts = [market.contract(label)]
    if label == "TokenizedRWASleeve":
        contracts = [market.sleeve(name) for name in ("tbill", "gold", "invoices")]
    for contract in contracts:
        for name, rule in GUARDIAN_CALLS[label].items():
            if isinstance(rule, Refused):
                assert_reverts(contract, name, *rule.args(market), sender=market.guardian,
                               error=rule.error, **rule.inputs(market))  # fmt: skip
            elif isinstance(rule, OwnFunds):
                outcome = revert_of(contract, name, *rule.args(market), sender=market.guardian)
                assert outcome is not None, f"{label}.{name} went through for the guardian"
                error = outcome[0]
                assert error == rule.error.split("(")[0] or error.startswith(selector(rule.error))


def test_what_the_guardian_may_call_moves_nothing_to_it(market):
    """The guardian uses every power and every open call it has, shutdown and unwinding
    included (a strike: it settles alice's request into alice's claim, which only alice takes).
    Afterwards it holds no stablecoin, no share and no RWA token; the vault's assets are all
    still there, less only what alice's request paid alice."""
    lending, guardian, vault, book = market.lending, market.guardian, market.vault, market.book
    vs, asset = lending.vs, lending.asset
    tokens = [s.token for s in vs.sleeves]
    total, alice_cash = vault.totalAssets(), asset.balanceOf(market.alice)

    book.accrueInterest(sender=guardian)
    for token in tokens:
        vs.router.poke(token, sender=guardian)
    vs.registry.freeze(IDLE_KEY, sender=guardian)
    vault.pauseAutomation(sender=guardian)
    vault.unpauseAutomation(sender=guardian)
    vault.approve(market.bob, MAX_UINT, sender=guardian)
    vs.agents.register("ipfs://guardian", sender=guardian)
    vs.agents.setSuspended(vs.allocator, True, sender=guardian)
    vault.setOperator(market.bob, True, sender=guardian)
    vs.publish_prices()
    vault.strike(sender=guardian)
    claimable = vault.maxRedeem(market.alice)
    assert vault.pendingRedeemRequest(0, market.alice) == 0 < claimable
    assert_reverts(vault, "redeem", claimable, guardian, market.alice, sender=guardian,
                   error="NotOperator", owner=market.alice, caller=guardian)  # fmt: skip
    vault.redeem(claimable, market.alice, market.alice, sender=market.alice)
    paid = asset.balanceOf(market.alice) - alice_cash
    assert paid > 9_999 * USDC  # the request was paid, to alice
    vault.shutdown(sender=guardian)
    for s in vs.sleeves:
        vault.unwind(s.sleeve, MAX_UINT, sender=guardian)
    vault.unwind(book, MAX_UINT, sender=guardian)
    book.callLoans(sender=guardian)  # bob's loan falls due after the notice: nothing moves now
    for contract in (vault, book, vs.registry, vs.router):
        contract.renounceRole(contract.DEFAULT_ADMIN_ROLE(), guardian, sender=guardian)

    assert asset.balanceOf(guardian) == 0
    assert vault.balanceOf(guardian) == 0
    assert all(token.balanceOf(guardian) == 0 for token in tokens)
    assert total - paid - 3 <= vault.totalAssets() <= total - paid  # unwinds' rounding only
    assert vault.idle() == vault.totalAssets() - book.totalAssets()  # everything liquid is home
    assert book.totalAssets() == book.totalDebt()  # bob's loan: still owed to the vault
