"""What the demo records: the chain's events turned into `record` rows, a `Day` per day, and the
keepers' reports (gas, outcomes, alerts) as they come. Who sent a strike or a claim is its
transaction's sender, named: "settler" (the keeper), "depositor <i>", an agent, a keeper."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ape import chain

from ballast.demo.record import Claim, Day, Decision, Event, Liquidation, Request, Strike
from ballast.demo.scenario import DAY
from keepers.shell import JobReport

if TYPE_CHECKING:  # pragma: no cover
    from ballast.demo.world import World

WAD = 10**18
PRICE_SCALE = 10**36  # StrikeSettled prices: assets per share x 1e36
NO_EPOCH = 2**64 - 1  # a StrikeSettled epoch that did not settle
# IRWAVault.Strike's fields in order (StrikeSettled's `strike`)
STRIKE_FIELDS = ("depositEpoch", "redeemEpoch", "depositPrice", "redeemPrice", "depositAssets",
                 "depositShares", "redeemShares", "redeemAssets")  # fmt: skip
# The events the tracker reads, by contract (`Tracker._logs`)
EVENTS = {
    "vault": ("Rebalanced", "DepositRequest", "RedeemRequest", "StrikeSettled", "Deposit",
              "Withdraw"),
    "agents": ("Evaluated", "SlashOpened", "SlashExecuted"),
    "book": ("Liquidated", "BadDebtRealized"),
}  # fmt: skip


class Tracker:
    def __init__(self, world: World) -> None:
        self.w = world
        self.scanned = chain.blocks.head.number
        self.decisions: dict[int, Decision] = {}
        self.names: dict[str, str] = {}
        self.alerted: set[tuple[str, str]] = set()
        self.base: tuple[float, dict[str, float], dict[str, int]] | None = None
        self.stamps: dict[int, int] = {}

    # ------------------------------------------------------------------ keepers

    def keeper_report(self, name: str) -> Callable[[JobReport], None]:
        record = self.w.record

        def observe(report: JobReport) -> None:
            gas = sum(a.gas_used or 0 for a in report.actions)
            record.keeper_gas[name] = record.keeper_gas.get(name, 0) + gas
            counts = record.keeper_actions.setdefault(name, {})
            for a in report.actions:
                counts[a.outcome] = counts.get(a.outcome, 0) + 1
            for alert in report.alerts:
                key = (alert.code, alert.subject)
                if alert.severity == "critical" and key not in self.alerted:
                    self.alerted.add(key)  # each alert once: the sentinel repeats it every pass
                    self.w.event(
                        "alert", f"sentinel: {alert.code} {alert.subject}: {alert.message}"
                    )

        return observe

    # ------------------------------------------------------------------ chain events

    def _name(self, address: str) -> str:
        if not self.names:
            w = self.w
            self.names = {str(w.strategist.address): "strategist",
                          str(w.gambler.address): "gambler"}  # fmt: skip
            self.names.update({str(a.address): n for n, a in w.keeper_accounts.items()})
            self.names[str(w.settler_account.address)] = "settler"
            self.names.update({who: f"depositor {i}" for i, who in enumerate(w.actors.depositors)})
        return self.names.get(str(address), str(address)[:10])

    def _weights(self, bps: list[int]) -> dict[str, float]:
        names = list(self.w.protocol.sleeves)
        out = {n: int(b) / 10_000 for n, b in zip(names, bps, strict=True)}
        out["idle"] = 1 - sum(out.values())
        return out

    def _logs(self, start: int, stop: int) -> dict[str, list[Any]]:
        """The logs of every event the tracker reads (`EVENTS`) in blocks `start`..`stop - 1`,
        decoded as Ape's `event.range` decodes them, by "<contract>.<event>", each in chain order:
        one `eth_getLogs` for the three contracts (a `range` per event asked the node for its
        head twice and for that event's logs, eleven times a scan)."""
        w = self.w
        contracts = {"vault": w.vault, "agents": w.agents, "book": w.book}
        params = {"address": [str(c.address) for c in contracts.values()],
                  "fromBlock": hex(start), "toBlock": hex(stop - 1)}  # fmt: skip
        logs = chain.provider.make_request("eth_getLogs", [params])
        decode = chain.provider.network.ecosystem.decode_logs
        found: dict[str, list[Any]] = {f"{c}.{e}": [] for c, names in EVENTS.items() for e in names}
        for name, contract in contracts.items():
            address = str(contract.address).lower()
            mine = [log for log in logs if str(log["address"]).lower() == address]
            abis = [getattr(contract, event).abi for event in EVENTS[name]]
            for log in decode(mine, *abis):
                found[f"{name}.{log.event_name}"].append(log)
        return found

    def _stamp(self, block: int) -> int:
        """Block `block`'s timestamp (read once: the demo's chain is never reorganised)."""
        if block not in self.stamps:
            self.stamps[block] = chain.blocks[block].timestamp
        return self.stamps[block]

    def watch_chain(self, day: int) -> None:
        head = chain.blocks.head.number
        if head <= self.scanned:
            return
        start, stop = self.scanned + 1, head + 1
        w, record = self.w, self.w.record
        logs = self._logs(start, stop)
        for log in logs["vault.Rebalanced"]:
            d = Decision(
                int(log.decisionId), self._name(log.agent), day, self._weights(log.oldBps),
                self._weights(log.newBps), "0x" + bytes(log.rationaleHash).hex(),
            )  # fmt: skip
            self.decisions[d.decision_id] = d
            if d.agent == "strategist" and day > 1:
                w.event("decision", f"the strategist rebalances (decision {d.decision_id})")
        for log in logs["agents.Evaluated"]:
            did = int(log.decisionId)
            self.decisions[did] = replace(self.decisions[did], excess_bps=int(log.excessBps),
                                          evaluated_day=day)  # fmt: skip
            w.event("evaluation", f"decision {did} evaluated: {int(log.excessBps):+d} bps "
                    "against the allocation it replaced")  # fmt: skip
        for log in logs["agents.SlashOpened"]:
            did = int(log.decisionId)
            amount = int(log.amount) / w.units
            self.decisions[did] = replace(self.decisions[did], slash_id=int(log.slashId),
                                          slash_amount=amount)  # fmt: skip
            w.event("slash", f"slash {log.slashId} opened: {amount:,.0f} of "
                    f"{self._name(log.agent)}'s stake (veto window)")  # fmt: skip
        for log in logs["agents.SlashExecuted"]:
            for did, d in self.decisions.items():
                if d.slash_id == int(log.slashId):
                    self.decisions[did] = replace(d, slash_executed_day=day)
            w.event("slash", f"slash {log.slashId} executed: stake donated to depositors")
        tokens = {str(t.address): n for n, t in w.tokens.items()}
        for log in logs["book.Liquidated"]:
            record.liquidations.append(
                Liquidation(day, str(log.borrower), self._name(log.liquidator),
                            tokens.get(str(log.token), str(log.token)), int(log.repaid) / w.units,
                            int(log.seized) / 1e18, str(log.transaction_hash))
            )  # fmt: skip
        bad = [int(log.amount) / w.units for log in logs["book.BadDebtRealized"]]
        if bad:
            record.bad_debt += sum(bad)
            w.event("bad-debt", f"bad debt written off: {sum(bad):,.2f} from {len(bad)} "
                    "positions whose collateral ran out")  # fmt: skip
        self._requests(day, logs)
        self._strikes(day, logs)
        self._claims(day, logs)
        record.decisions = [self.decisions[i] for i in sorted(self.decisions)]
        self.scanned = head

    def _requests(self, day: int, logs: dict[str, list[Any]]) -> None:
        w, record = self.w, self.w.record
        share_unit = 10 ** w.vault.decimals()
        for kind, event, unit in (("deposit", "vault.DepositRequest", w.units),
                                  ("redeem", "vault.RedeemRequest", share_unit)):  # fmt: skip
            for log in logs[event]:
                amount = int(log.assets if kind == "deposit" else log.shares) / unit
                stamp = self._stamp(log.block_number)
                when = self._day_of(stamp)  # the day-0 requests are scanned on day 1
                record.requests.append(Request(when, stamp, kind, str(log.controller), amount))

    def _day_of(self, timestamp: int) -> int:
        """The simulated day `timestamp` falls in (day d starts at t0 + d days)."""
        return max(0, (timestamp - self.w.t0) // DAY)

    def _strikes(self, day: int, logs: dict[str, list[Any]]) -> None:
        """Every StrikeSettled, with the oldest sleeve price it used: each sleeve's
        `strikeValuation().publishedAt` in the strike's block (a strike changes no feed)."""
        w, record = self.w, self.w.record
        vault = w.vault
        share_unit = 10 ** vault.decimals()
        to_whole = share_unit / w.units / PRICE_SCALE
        for log in logs["vault.StrikeSettled"]:
            k = log.strike
            values = [k[n] for n in STRIKE_FIELDS] if isinstance(k, dict) else list(k)
            fields = dict(zip(STRIKE_FIELDS, (int(v) for v in values), strict=True))
            get = fields.__getitem__
            block = log.block_number
            published = [int(s.strikeValuation(block_id=block)[2])
                         for s in w.protocol.sleeves.values()]  # fmt: skip
            strike = Strike(
                strike_id=int(log.strikeId), day=day, timestamp=self._stamp(block),
                by=self._sender(log.transaction_hash),
                deposit_assets=get("depositAssets") / w.units,
                deposit_shares=get("depositShares") / share_unit,
                redeem_shares=get("redeemShares") / share_unit,
                redeem_assets=get("redeemAssets") / w.units,
                deposit_price=get("depositPrice") * to_whole,
                redeem_price=get("redeemPrice") * to_whole,
                settled_deposits=get("depositEpoch") != NO_EPOCH,
                stale_sleeves=int(log.staleSleeves),
                prices_from=min(published, default=self._stamp(block)),
            )  # fmt: skip
            record.strikes.append(strike)
            parts = []
            if strike.deposit_assets:
                parts.append(f"deposits {strike.deposit_assets:,.0f} settled at "
                             f"{strike.deposit_price:.4f}")  # fmt: skip
            if strike.redeem_shares:
                parts.append(f"redemptions filled {strike.redeem_assets:,.0f} at "
                             f"{strike.redeem_price:.4f}")  # fmt: skip
            queue = vault.pendingRedemptions(block_id=block) / share_unit
            if queue:
                parts.append(f"{queue:,.0f} shares still queued")
            w.event("strike", f"strike {strike.strike_id} by {strike.by}: "
                    + ("; ".join(parts) or "nothing filled"))  # fmt: skip

    def _sender(self, tx_hash: object) -> str:
        return self._name(self.w.actors.web3.eth.get_transaction(tx_hash)["from"])

    def _claims(self, day: int, logs: dict[str, list[Any]]) -> None:
        """Every claim (ERC-4626 `Deposit`: settled shares; `Withdraw`: filled assets), with its
        sender; one event a day per sender."""
        w, record = self.w, self.w.record
        share_unit = 10 ** w.vault.decimals()
        found: list[Claim] = []
        for kind, event, controller in (("deposit", "vault.Deposit", "owner"),
                                        ("redeem", "vault.Withdraw", "owner")):  # fmt: skip
            for log in logs[event]:
                found.append(Claim(day, self._sender(log.transaction_hash), kind,
                                   self._name(getattr(log, controller)), int(log.assets) / w.units,
                                   int(log.shares) / share_unit))  # fmt: skip
        record.claims += found
        for by in dict.fromkeys(c.by for c in found):
            mine = [c for c in found if c.by == by]
            shares = sum(c.shares for c in mine if c.kind == "deposit")
            paid = sum(c.assets for c in mine if c.kind == "redeem")
            parts = [f"{shares:,.0f} shares"] if shares else []
            parts += [f"{paid:,.0f} {record.asset_symbol} of filled redemptions"] if paid else []
            whose = _people(c.controller for c in mine)
            whose = "" if whose == by else f" for {whose}"
            w.event("claim", f"{by} claims{whose}: {' and '.join(parts) or 'nothing'}")

    # ------------------------------------------------------------------ days

    def healths(self) -> dict[str, float]:
        """Every indebted borrower's health factor now."""
        book = self.w.book
        return {who: book.healthFactor(who) / WAD for who in self.w.actors.borrowers
                if book.debtOf(who) > 0}  # fmt: skip

    def snapshot(self, day: int) -> None:
        w = self.w
        vault = w.vault
        supply = vault.totalSupply()
        nav = vault.totalAssets()
        price = nav / supply * 10 ** (vault.decimals() - w.asset.decimals()) if supply else 1.0
        weights = self._weights(list(vault.currentBps()))
        indices = {n: int(s.returnIndex()) for n, s in w.protocol.sleeves.items()}
        if self.base is None and day >= 1:
            self.base = (price, weights, indices)
        static = price
        if self.base is not None:
            p0, w0, r0 = self.base
            static = p0 * (w0["idle"] + sum(w0[n] * indices[n] / r0[n] for n in r0 if r0[n]))
        w.record.days.append(
            Day(
                day=day,
                timestamp=chain.blocks.head.timestamp,
                block=chain.blocks.head.number,
                share_price=price,
                static_share_price=static,
                nav=nav / w.units,
                weights=weights,
                prices=w.plan.navs(day),
                pending_deposits=vault.pendingDeposits() / w.units,
                pending_redemptions=vault.pendingRedemptions() / 10 ** vault.decimals(),
                claimable_redemptions=vault.claimableRedemptions() / w.units,
                strikes=int(vault.strikeCount()),
                automation_paused=bool(vault.automationPaused()),
            )
        )

    def finish(self) -> None:
        self.watch_chain(self.w.day)
        self.w.record.events.sort(key=lambda e: e.day)


def _people(names: Iterable[str]) -> str:
    """`depositor 3`, `depositors 0, 1 and 3` (sorted, each once); other names as they are."""
    unique = sorted(set(names))
    numbers = [n.removeprefix("depositor ") for n in unique]
    if len(unique) > 1 and all(n.startswith("depositor ") and m.isdigit()
                               for n, m in zip(unique, numbers, strict=True)):  # fmt: skip
        ordered = sorted(numbers, key=int)
        return f"depositors {', '.join(ordered[:-1])} and {ordered[-1]}"
    return ", ".join(unique)


__all__ = ["Event", "Tracker"]
