"""The demo's scripted people: depositors, borrowers, issuers, the gambler agent, the guardian.

Depositors and borrowers are anvil-impersonated addresses (`anvil_impersonateAccount`): their
transactions go out as plain `eth_sendTransaction`, no key involved, and a revert fails the demo
loudly (a scripted act that does not happen would make the report lie).

Depositors enter and leave through ERC-7540 requests (`requestDeposit`, `requestRedeem`); a NAV
strike settles them once every feed has published after them, and what it settled is claimed
(`deposit` / `redeem` with the depositor as controller and receiver). The strikes are the settler
keeper's (the real `settler` job, run by `World`), and so are the claims of the first
`OPERATOR_DEPOSITORS` depositors, who make the vault's `ClaimRelay` their ERC-7540 operator
(`appoint_relay`: it can only claim to them, so they trust no keeper's key); the others claim
themselves (`claim`). On the plan's settler-outage day a depositor sends the strike itself
(`strike`: anyone may, so exits never wait on keepers) and every depositor claims itself.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from ape import chain
from eth_utils import to_checksum_address

from ballast.demo.record import Event
from ballast.demo.scenario import OPENING
from ballast.node_send import NodeSendError, send_unlocked
from ballast.parameters import key_of

if TYPE_CHECKING:  # pragma: no cover
    from ballast.demo.world import World

MAX_UINT = 2**256 - 1
DEPOSITORS = 6
OPERATOR_DEPOSITORS = 4  # depositors 0-3 let the settler claim for them; 4 and 5 claim themselves
REDEEM_FRACTION = 90  # % of their shares four depositors redeem during the T-bill freeze
GATED_INVOICE_REDEMPTIONS = 50_000  # invoice tokens a day while the T-bill issuer is frozen
BORROWERS = 30
# Borrowing as a share of collateral value, below each token's LTV (80 / 70 / 60 %).
DEBT_RANGE = {"tbill": (50, 75), "gold": (45, 66), "invoices": (40, 57)}


def impersonated(index: int, kind: int) -> str:
    """A deterministic address for actor `index` of `kind` (1 depositor, 2 borrower)."""
    return to_checksum_address(f"0x{kind:04x}{'de' * 16}{index:04x}")


class ScriptedActFailed(RuntimeError):
    pass


class Actors:
    def __init__(self, world: World) -> None:
        self.w = world
        self.web3 = chain.provider.web3
        self.rng = random.Random(world.plan.seed * 7919)
        self.depositors = [impersonated(i, 1) for i in range(DEPOSITORS)]
        self.borrowers = [impersonated(i, 2) for i in range(BORROWERS)]
        self.collateral: dict[str, str] = {}  # borrower -> the collateral it posted
        self.invoice_limit = 0
        for who in self.depositors + self.borrowers:
            self.web3.provider.make_request("anvil_setBalance", [who, hex(10**21)])
            self.web3.provider.make_request("anvil_impersonateAccount", [who])

    def send(self, contract: Any, method: str, *args: Any, sender: str) -> Any:
        data = getattr(contract, method).encode_input(*args)
        # A strike walks every hourly request window since the last one (a few thousand gas
        # each): after days without one it needs more than the other acts.
        gas = 10_000_000 if method == "strike" else 2_000_000
        try:
            receipt = send_unlocked(self.web3, sender, str(contract.address), bytes(data), gas)
        except NodeSendError as err:
            raise ScriptedActFailed(f"day {self.w.day}: {method}{args}: {err}") from None
        if int(receipt["status"], 16) != 1:
            raise ScriptedActFailed(f"day {self.w.day}: {method}{args} by {sender} reverted")
        return receipt

    def faucet(self, who: str, amount: int) -> None:
        asset = self.w.asset
        limit = asset.FAUCET_LIMIT()
        while amount > 0:
            chunk = min(amount, limit)
            self.send(asset, "faucet", who, chunk, sender=who if who in self._people else
                      str(self.w.deployer.address))  # fmt: skip
            amount -= chunk

    @property
    def _people(self) -> set[str]:
        return set(self.depositors) | set(self.borrowers)

    # ------------------------------------------------------------------ depositors

    def deposit_day(self, day: int) -> None:
        """The plan's deposit requests of `day` (settled by the next strike, claimed after it)."""
        for index, whole in self.w.plan.deposits.get(day, ()):
            who, amount = self.depositors[index], int(whole * self.w.units)
            self.faucet(who, amount)
            self.send(self.w.asset, "approve", self.w.vault.address, MAX_UINT, sender=who)
            self.send(self.w.vault, "requestDeposit", amount, who, who, sender=who)
            self.w.record.events.append(
                Event(day, "deposit", f"depositor {index} requests a deposit of {whole:,.0f}")
            )

    def request_redemptions(self) -> None:
        """Four depositors ask for 90 % of their money back: their shares are escrowed until
        strikes fill them, as far as liquidity allows (the rest waits in the queue: more than
        idle, the gold issuer and the gated invoice pool pay before the T-bill issuer resumes)."""
        for index in range(4):
            who = self.depositors[index]
            shares = self.w.vault.balanceOf(who) * REDEEM_FRACTION // 100
            if shares:
                self.send(self.w.vault, "requestRedeem", shares, who, who, sender=who)
                worth = self.w.vault.convertToAssets(shares) / self.w.units
                self.w.event("redeem-request", f"depositor {index} requests to redeem "
                             f"{worth:,.0f}")  # fmt: skip

    @property
    def self_claimers(self) -> list[str]:
        """The depositors that claim themselves (the settler claims for the others)."""
        return self.depositors[OPERATOR_DEPOSITORS:]

    def appoint_relay(self, relay: str) -> None:
        """The first `OPERATOR_DEPOSITORS` depositors make the vault's `ClaimRelay` their ERC-7540
        operator (`setOperator`): the settler keeper finds them from the `OperatorSet` logs and
        claims through the relay what strikes settle for them, to them."""
        for who in self.depositors[:OPERATOR_DEPOSITORS]:
            self.send(self.w.vault, "setOperator", relay, True, sender=who)
        self.w.record.events.append(Event(0, "keeper", f"depositors 0-{OPERATOR_DEPOSITORS - 1} "
                                          "make the claim relay their operator"))  # fmt: skip

    def strike(self, index: int) -> bool:
        """Depositor `index` sends `strike()` itself when the vault's `strikeTrigger()` says a
        strike would settle something: anyone may strike, so exits never wait on keepers. The
        demo's fallback for the day the settler keeper is down (`Plan.settler_down_day`); every
        other strike is the settler's. Returns whether it struck."""
        ok, _ = self.w.vault.strikeTrigger()
        if ok:
            self.send(self.w.vault, "strike", sender=self.depositors[index])
        return bool(ok)

    def claim(self, depositors: list[str]) -> None:
        """Each of `depositors` claims what strikes settled for it: its shares, its redemptions
        (the tracker records the claims from the chain's `Deposit` / `Withdraw` logs)."""
        vault = self.w.vault
        for who in depositors:
            assets = vault.maxDeposit(who)
            if assets:
                self.send(vault, "deposit", assets, who, who, sender=who)
            filled = vault.maxRedeem(who)
            if filled:
                self.send(vault, "redeem", filled, who, who, sender=who)

    # ------------------------------------------------------------------ borrowers

    def open_positions(self) -> None:
        """Borrowers post tbill, gold or invoices and borrow `DEBT_RANGE` of its value (health
        1.1-1.9 at their collateral's liquidation threshold)."""
        kinds = ("tbill", "gold", "invoices")
        book, asset = self.w.book, self.w.asset
        for i, who in enumerate(self.borrowers):
            name = kinds[i % 3] if i % 3 else "gold"
            self.collateral[who] = name
            collateral = self.rng.choice([10_000, 20_000, 50_000]) * self.w.units
            issuer, token = self.w.issuers[name], self.w.tokens[name]
            self.faucet(who, collateral)
            self.send(asset, "approve", issuer.address, MAX_UINT, sender=who)
            self.send(issuer, "subscribe", collateral, sender=who)
            self.send(token, "approve", book.address, MAX_UINT, sender=who)
            self.send(book, "depositCollateral", token.address, token.balanceOf(who), sender=who)
            debt = collateral * self.rng.randint(*DEBT_RANGE[name]) // 100
            self.send(book, "borrow", debt, sender=who)
        self.w.event("market", f"{len(self.borrowers)} borrowers open positions")

    # ------------------------------------------------------------------ the script

    def scripted(self, day: int) -> None:
        w, plan = self.w, self.w.plan
        self.deposit_day(day)
        if day == 1:
            w.rebalance(w.strategist, "strategist", dict(OPENING), "opening allocation")
            w.event("decision", "the strategist makes its opening allocation")
            self.open_positions()
        if day == plan.freeze_day:
            w.issuers["tbill"].setFrozen(True, sender=w.deployer)
            invoices = w.issuers["invoices"]
            self.invoice_limit = invoices.dailyRedeemLimit()
            gate = GATED_INVOICE_REDEMPTIONS * 10 ** w.tokens["invoices"].decimals()
            invoices.setDailyRedeemLimit(gate, sender=w.deployer)
            w.event("market", "the T-bill issuer pauses redemptions; the invoice pool gates "
                    f"them at {GATED_INVOICE_REDEMPTIONS:,} a day")  # fmt: skip
        if day in plan.redeem_days:
            self.request_redemptions()
        if day == plan.unfreeze_day:
            w.issuers["tbill"].setFrozen(False, sender=w.deployer)
            w.issuers["invoices"].setDailyRedeemLimit(self.invoice_limit, sender=w.deployer)
            w.event(
                "market", "the T-bill issuer resumes redemptions, the invoice pool lifts its gate"
            )
        if day == plan.gamble_day:
            self.gamble()
        if day == plan.pause_day:
            w.vault.pauseAutomation(sender=w.guardian)
            w.event("guardian", "the guardian pauses automation")
        if day == plan.resume_day:
            w.vault.unpauseAutomation(sender=w.guardian)
            w.event("guardian", "the guardian resumes automation")

    def gamble(self) -> None:
        """The gambler agent buys the gold dip up to its cap, out of T-bills (then invoices and
        lending, when the strategist's allocation left too few T-bills: the move does not depend
        on how the strategy read the market that day)."""
        w = self.w
        names = list(w.protocol.sleeves)
        current = dict(zip(names, (int(b) for b in w.vault.currentBps()), strict=True))
        registry = w.protocol.registry
        caps = {n: registry.get(key_of(f"vault.maxSleeveBps.{n}")) for n in names}
        turnover = registry.get(key_of("vault.maxTurnoverBps"))
        # a sleeve above its cap (redemptions shrank the vault around a lent-out book) is
        # brought down to it, and idle back to its buffer out of the sleeves; then the move
        # into gold comes out of T-bills, within what is left of the turnover limit
        targets = {n: min(b, caps[n]) for n, b in current.items()}
        buffer = registry.get(key_of("vault.idleBufferBps"))
        short = max(0, sum(targets.values()) - (10_000 - buffer - 5))
        for n in ("tbill", "invoices", "lending"):
            cut = min(short, targets[n])
            targets[n] -= cut
            short -= cut
        trimmed = sum(current.values()) - sum(targets.values())
        funding = ("tbill", "invoices", "lending")  # T-bills first, whatever the strategist left
        move = max(0, min(caps["gold"] - targets["gold"], sum(targets[n] for n in funding),
                          (turnover - trimmed) // 2 - 10))  # fmt: skip
        targets["gold"] += move
        left = move
        for n in funding:
            cut = min(left, targets[n])
            targets[n] -= cut
            left -= cut
        w.rebalance(w.gambler, "gambler", targets, "buy the gold dip")
        w.event("decision", f"the gambler buys the dip: {move / 100:.1f}% of the vault into gold")
