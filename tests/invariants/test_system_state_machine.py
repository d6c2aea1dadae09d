"""The whole deployed Ballast system under any sequence of what its users, agents, keepers,
guardian, steward, DAO and markets do (issue 9, item 1).

One hypothesis state machine drives the system `ballast.deploy.deploy_system` deploys from
deployments/config/local.yaml (governor, timelock, registry with the production bounds, steps,
cooldowns and steward limits, oracle router, vault, agent registry, three RWA sleeves and the
lending book; see `system_machine_support`) through deposits, mints, withdrawals, redemptions,
redemption requests, cancellations and queue processing; collateral deposits and withdrawals,
borrows, repayments and keeper liquidations; NAV moves, crashes and time jumps with or without
the feeds' publications (stale prices); agents' stakes, unbonds and withdrawals, rebalances
(within and outside the bounds), evaluations, guardian vetoes, executed slashes and reward
claims; parameter changes through the DAO (propose, vote, queue, execute in one rule) and the
steward, guardian freezes and DAO unfreezes; pauses, shutdown and unwinds after it; and the
guardian or an agent trying to move funds directly.

Each action is first an `eth_call` on the pending block. Where the documented rules determine
the outcome (deposits, mints, withdrawals up to maxWithdraw, rebalances, stake and unbond,
evaluations, vetoes, slashes, parameter updates, pauses, shutdown, the forbidden moves) the
machine predicts the exact custom error, or success, and the call must agree; elsewhere a refusal
must come from the set a user can explain. An accepted call is then sent. Every block is mined
at the machine's clock (`chain.pending_timestamp`), so call, transaction and model agree.

After every step, DESIGN.md's invariants:
1. totalAssets() == idle + Σ sleeves; each RWA sleeve holds the tokens it counts and values
   them at the router's price; the book's totalAssets() == cash + totalDebt() and it holds at
   least its cash.
2. Σ share balances + the vault's escrow == totalSupply(); escrow == queuedShares() ==
   Σ the open requests.
3. The share price never falls, except in a step that realised a loss (a NAV fall, bad debt)
   or took a performance fee (by at most the fee); rounding is allowed `ROUNDING_WEI`.
4. nobody's maxWithdraw exceeds the assets behind their shares; every payout (withdraw,
   redeem, queue) is at most the value of the shares it burns.
5. the registry logged updates for exactly the parameters the model changed (the model applies
   only what the rules allow, and predicted each refusal), each equals the model, and every
   value lies within its bounds.
6. a position with health ≥ 1 cannot be liquidated; a liquidation never lowers health unless
   it realised bad debt, or the position was under water past the seized token's break-even
   (threshold x (1 + bonus)): see `keeper_liquidates` (a gap between DESIGN.md and the book).
7. Σ stake + Σ unbonding + Σ slashed == Σ staked − Σ withdrawn by the agents; the registry
   holds exactly the stake and unbonding.
8. the guardian never holds stablecoin, shares or RWA tokens; the agents' wallets change only
   by their own stakes and withdrawals; out-of-bounds rebalances are refused as predicted.

Profiles: HYPOTHESIS_PROFILE=ci (default) runs 8 examples of up to 30 steps; "deep" (make
test-deep) 400 of up to 60; SYSTEM_MACHINE_EXAMPLES=n bounds the examples of either. A failure
prints the shrunk step sequence that reproduces it (hypothesis' stateful report; shrinking gives
up after 5 minutes and resumes from the example database on the next run).
"""

from __future__ import annotations

import os

from ape import chain
from eth_abi import decode
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from tests.invariants.system_machine_support import (
    BPS,
    DAO_DELAY,
    HOUR,
    LEND,
    MAX_UINT,
    MOVE,
    OFFSET,
    REGISTRY_EVENTS,
    ROUNDING_WEI,
    RWA,
    SHARE,
    SLEEVES,
    STEP,
    USDC,
    WAD,
    WHO,
    Driver,
    Param,
    fixture,
    head_timestamp,
    keccak,
    rpc,
    share_price_drop,
)  # fmt: skip
from tests.vault_support import DAY


class SystemMachine(Driver, RuleBasedStateMachine):
    @initialize()
    def start(self):
        s = self.s = fixture()
        self.snapshot = chain.snapshot()
        self.now = head_timestamp()
        self.params = {k: Param.on_chain(s.params, k) for k in s.names}
        self.keys = sorted(self.params, key=lambda k: s.names[k])
        self.block, self.touched = int(rpc("eth_blockNumber", []), 16), set()
        self.last_key: bytes | None = None
        self.totals = self._totals()
        self.loss, self.fee = False, 0
        self.shutdown = self.paused = False
        self.proposals, self.steps = 0, -1
        self.slashed = s.agents.call("totalSlashed")
        self.net_staked = sum(self._stake_of(b) for b in s.bots) + self.slashed
        self.wallets = {b.address: s.asset.call("balanceOf", b) for b in s.bots}

    def teardown(self):
        if hasattr(self, "snapshot"):
            event(f"steps: {self.steps // 10 * 10}-{self.steps // 10 * 10 + 9}")
            chain.restore(self.snapshot)

    # ------------------------------------------------------------------ depositors

    @rule(who=WHO, amount=st.integers(1, 400_000 * USDC), as_mint=st.booleans())
    def deposit(self, who, amount, as_mint):
        """A deposit, or a mint of the shares that amount buys now."""
        s, d = self.s, self.s.depositors[who]
        amount = min(amount, s.asset.call("balanceOf", d))
        refusals = self._deposit_refusal(amount, d)
        shares = s.vault.call("previewDeposit", amount)
        if amount == 0 or shares == 0:
            return
        before = s.vault.call("balanceOf", d)
        if as_mint:
            cost = s.vault.call("previewMint", shares)
            refusals = self._deposit_refusal(cost, d)
            if cost > s.asset.call("balanceOf", d):
                return
            self._act(s.vault, "mint", shares, d, sender=d, refusals=refusals)
        else:
            self._act(s.vault, "deposit", amount, d, sender=d, refusals=refusals)
        if not refusals:
            assert s.vault.call("balanceOf", d) - before == shares

    @rule(who=WHO, share=SHARE, over=st.booleans())
    def withdraw(self, who, share, over):
        """maxWithdraw is the truth: a share of it is paid, one wei more than owned is not."""
        s, d = self.s, self.s.depositors[who]
        owned = s.vault.call("convertToAssets", s.vault.call("balanceOf", d))
        amount = owned + 1 if over else s.vault.call("maxWithdraw", d) * share // 100
        if amount == 0:
            return
        totals, cash, held = self.totals, s.asset.call("balanceOf", d), s.vault.call("balanceOf", d)
        refusals = {"ERC4626ExceededMaxWithdraw"} if over else set()
        if self._act(s.vault, "withdraw", amount, d, d, sender=d, refusals=refusals):
            burned = held - s.vault.call("balanceOf", d)
            assert s.asset.call("balanceOf", d) - cash == amount <= self._value(burned, totals)

    @rule(who=WHO, share=SHARE)
    def redeem(self, who, share):
        s, d = self.s, self.s.depositors[who]
        shares = s.vault.call("maxRedeem", d) * share // 100
        if shares == 0:
            return
        preview, cash = s.vault.call("previewRedeem", shares), s.asset.call("balanceOf", d)
        if self._act(s.vault, "redeem", shares, d, d, sender=d):
            got = s.asset.call("balanceOf", d) - cash
            assert preview <= got <= self._value(shares, self.totals)

    @rule(who=WHO, share=SHARE)
    def request_redeem(self, who, share):
        s, d = self.s, self.s.depositors[who]
        shares = s.vault.call("balanceOf", d) * share // 100
        if shares:
            self._act(s.vault, "requestRedeem", shares, d, sender=d)

    @rule(pick=st.integers(0, 63))
    def cancel_request(self, pick):
        """The request's owner cancels; the other depositor is refused."""
        s = self.s
        head, tail = s.vault.call("redeemQueueBounds")
        live = [i for i in range(head, tail) if s.vault.call("redeemRequest", i).shares]
        if not live:
            return
        rid = live[pick % len(live)]
        owner = s.vault.call("redeemRequest", rid).owner
        d = s.depositors[pick // 32]
        refusals = set() if d.address.lower() == owner else {"NotRequestOwner"}
        self._act(s.vault, "cancelRedeemRequest", rid, sender=d, refusals=refusals)

    @rule(count=st.integers(1, 8))
    def keeper_processes_queue(self, count):
        s, totals = self.s, self.totals
        receipt = self._act(s.vault, "processRedeemQueue", count, sender=s.keeper)
        for paid in s.vault.logs(receipt, "RedeemProcessed"):
            assert paid.assets <= self._value(paid.shares, totals)
            event("queue: paid" if paid.assets else "queue: charged a pull loss")

    # ------------------------------------------------------------------ borrowers and keepers

    @rule(who=WHO, i=st.integers(0, 2), share=SHARE)
    def deposit_collateral(self, who, i, share):
        s, b = self.s, self.s.borrowers[who]
        amount = s.tokens[i].call("balanceOf", b) * share // 100
        if amount:
            self._act(s.book, "depositCollateral", s.tokens[i], amount, sender=b)

    @rule(who=WHO, i=st.integers(0, 2), share=st.integers(1, 110))
    def withdraw_collateral(self, who, i, share):
        s, b = self.s, self.s.borrowers[who]
        amount = max(s.book.call("collateralOf", b, s.tokens[i]) * share // 100, 1)
        self._try(s.book, "withdrawCollateral", s.tokens[i], amount, sender=b,
                  explained=LEND["withdrawCollateral"])  # fmt: skip

    @rule(who=WHO, share=st.integers(1, 120), flat=st.integers(0, 2_000 * USDC))
    def borrow(self, who, share, flat):
        """Refused whatever the amount once the vault is shut down (it lends no more)."""
        s, b = self.s, self.s.borrowers[who]
        amount = s.book.call("maxBorrow", b) * share // 100 + flat
        if amount and self.shutdown:
            self._act(s.book, "borrow", amount, sender=b, refusals={"VaultIsShutdown"})
        elif amount:
            self._try(s.book, "borrow", amount, sender=b, explained=LEND["borrow"])

    @rule(who=WHO, share=SHARE, everything=st.booleans())
    def repay(self, who, share, everything):
        s, b = self.s, self.s.borrowers[who]
        debt, cash = s.book.call("debtOf", b), s.asset.call("balanceOf", b)
        amount = MAX_UINT if everything and cash > debt + USDC else max(debt * share // 100, 1)
        if min(amount, cash):
            self._try(s.book, "repay", min(amount, cash), b, sender=b, explained=LEND["repay"])

    @rule(who=WHO)
    def keeper_liquidates(self, who):
        """The keeper sends what `liquidationTrigger` says. Health must not fall unless bad
        debt is written off, or the position was so far under water (health below the seized
        token's threshold x (1 + bonus)) that no bonus-paying liquidation can keep it: there
        the contract lowers it (DESIGN.md invariant 6 promises more; reported as a finding)."""
        s, b = self.s, self.s.borrowers[who]
        ok, data = s.book.call("liquidationTrigger", b)
        if not ok:
            event(f"trigger: {bytes(data).decode()}")
            return
        health = s.book.call("healthFactor", b)
        _, token, repay = decode(["address", "address", "uint256"], bytes(data)[4:])
        name = RWA[[t.address.lower() for t in s.tokens].index(token.lower())]
        receipt = self._act(s.book, "liquidate", b, token, repay, sender=s.keeper)
        bad = s.book.logs(receipt, "BadDebtRealized")
        self.loss |= any(x.amount for x in bad)
        after = s.book.call("healthFactor", b)
        value = lambda key: self.params[keccak(text=f"lend.{key}.{name}")].value  # noqa: E731
        break_even = WAD * value("liqThresholdBps") * (BPS + value("liqBonusBps")) // BPS**2
        if bad or after == MAX_UINT or after >= health:
            event("liquidated: bad debt" if bad else "liquidated")
        else:
            assert health < break_even, (health, after, break_even)
            event("liquidated: an under-water position's health fell (DESIGN 6 gap)")

    # ------------------------------------------------------------------ markets and time

    @rule(i=st.integers(0, 2), move=MOVE)
    def nav_moves(self, i, move):
        feed = self.s.feeds[i]
        self._publish(feed, feed.call("latestAnswer") * (BPS + move) // BPS)
        self.loss |= move < 0

    @rule(fall=st.integers(1_000, 6_000))
    def market_crash(self, fall):
        for feed in self.s.feeds:
            self._publish(feed, feed.call("latestAnswer") * (BPS - fall) // BPS)
        self.loss = True

    @rule(seconds=st.one_of(st.integers(1, 6 * HOUR), st.integers(DAY, 10 * DAY)),
          publish=st.booleans())  # fmt: skip
    def time_passes(self, seconds, publish):
        """Without the NAV publications the feeds go stale past oracle.maxStaleness."""
        self._advance(seconds, publish)
        if self._stale():
            event("feeds stale")

    # ------------------------------------------------------------------ agents

    @rule(who=WHO, amount=st.integers(1, 20_000 * USDC))
    def stake(self, who, amount):
        """Any amount the agent's wallet holds (zero: refused)."""
        bot = self.s.bots[who]
        amount = min(amount, self.wallets[bot.address])
        refusals = set() if amount else {"ZeroAmount"}
        if not self._act(self.s.agents, "stake", amount, sender=bot, refusals=refusals):
            return
        self.net_staked += amount
        self.wallets[bot.address] -= amount

    @rule(who=WHO, share=st.integers(0, 120), flat=st.integers(0, 3))
    def request_unbond(self, who, share, flat):
        bot = self.s.bots[who]
        stake = self.s.agents.call("agentInfo", bot).stake
        amount = stake * share // 100 + flat
        refusals = (
            {"ZeroAmount"} if amount == 0 else {"InsufficientStake"} if amount > stake else set()
        )
        self._act(self.s.agents, "requestUnbond", amount, sender=bot, refusals=refusals)

    @rule(who=WHO)
    def withdraw_unbonded(self, who):
        s, bot = self.s, self.s.bots[who]
        a = s.agents.call("agentInfo", bot)
        refusals = set()
        if a.unbonding == 0:
            refusals.add("NothingToWithdraw")
        if self.now < a.unbondReadyAt:
            refusals.add("UnbondingNotReady")
        if a.openDecisions or a.pendingSlashes:
            refusals.add("WithdrawalLocked")
        if self._act(s.agents, "withdrawUnbonded", sender=bot, refusals=refusals):
            self.net_staked -= a.unbonding
            self.wallets[bot.address] += a.unbonding

    @rule(who=WHO, deltas=st.tuples(*(st.integers(-800, 800) for _ in SLEEVES)),
          wild=st.booleans(), wait=st.booleans())  # fmt: skip
    def rebalance(self, who, deltas, wild, wait):
        """Targets near the current weights, or `wild` ones (mostly outside the bounds). With
        `wait` the agent first waits for the cooldown and its activation, and the NAVs are
        published (so the rebalance is mostly accepted)."""
        s, bot = self.s, self.s.bots[who]
        if wait:
            ready = max(s.vault.call("nextRebalanceAt"), s.agents.call("activeFrom", bot))
            self._advance(max(ready - self.now, 0), publish=True)
        old = s.vault.call("currentBps")
        base = [0] * len(SLEEVES) if wild else old
        scale = 8 if wild else 1
        targets = [min(max(o + d * scale, 0), BPS) for o, d in zip(base, deltas, strict=True)]
        refusals = self._rebalance_refusal(bot, targets)
        receipt = self._act(s.vault, "rebalance", targets, b"\x22" * 32, "ipfs://m", sender=bot,
                            refusals=refusals)  # fmt: skip
        for fee in s.vault.logs(receipt, "PerformanceFeeTaken") if receipt else ():
            self.fee += fee.feeAssets
            event("performance fee taken")

    @rule(pick=st.integers(0, 63), wait=st.booleans())
    def evaluate(self, pick, wait):
        """A due decision (with `wait`, after waiting for the first due and publishing the
        NAVs); if decisionsDue lists none, an open one: refused if still in its window."""
        s = self.s
        opened = s.agents.call("openDecisions")
        if wait and opened:
            due_at = min(s.agents.call("decisionRecord", d).dueAt for d in opened)
            self._advance(max(due_at - self.now, 0), publish=True)
        if due := s.agents.call("decisionsDue", 8):
            receipt = self._try(s.agents, "evaluate", due[pick % len(due)], sender=s.keeper,
                                explained={"StaleReturnIndex"})  # fmt: skip
            if receipt and s.agents.logs(receipt, "SlashOpened"):
                event("evaluated: slash opened")
        elif opened:
            d = opened[pick % len(opened)]
            if self.now < s.agents.call("decisionRecord", d).dueAt:
                self._act(s.agents, "evaluate", d, sender=s.keeper, refusals={"EvaluationNotDue"})
            else:  # due, but decisionsDue leaves out what a stale sleeve price blocks
                self._try(s.agents, "evaluate", d, sender=s.keeper, explained={"StaleReturnIndex"})

    @rule(pick=st.integers(0, 63), veto=st.booleans(), wait=st.booleans())
    def slash_resolves(self, pick, veto, wait):
        """The guardian vetoes a pending slash (refused once its window is over), or anyone
        executes it (refused while the window is open; with `wait`, after waiting it out): the
        slashed stake is donated, totalAssets rises by exactly its amount."""
        s = self.s
        pending = s.agents.call("pendingSlashes")
        if not pending:
            return
        sid = pending[pick % len(pending)]
        ends = s.agents.call("slashInfo", sid).vetoEndsAt
        if veto:
            refusals = set() if self.now < ends else {"VetoWindowOver"}
            self._act(s.agents, "vetoSlash", sid, sender=s.guardian, refusals=refusals)
            return
        if wait and self.now < ends:
            self._advance(ends - self.now, publish=True)
        before = s.vault.call("totalAssets")
        receipt = self._act(s.agents, "executeSlash", sid, sender=s.keeper,
                            refusals={"VetoWindowOpen"} if self.now < ends else set())  # fmt: skip
        if receipt:
            [log] = s.agents.logs(receipt, "SlashExecuted")
            assert s.vault.call("totalAssets") - before == log.amount
            self.slashed += log.amount

    @rule(who=WHO)
    def claim_rewards(self, who):
        s, bot = self.s, self.s.bots[who]
        refusals = set() if s.agents.call("claimableRewards", bot) else {"NoRewards"}
        self._act(s.agents, "claimRewards", sender=bot, refusals=refusals)

    # ------------------------------------------------------------------ parameters

    @rule(pick=st.integers(0, 63), step=STEP)
    def steward_sets(self, pick, step):
        p, value = self._target(pick, step)
        refusal = p.violation(value, steward=True, now=self.now)
        receipt = self._act(self.s.params, "stewardSet", p.key, value, sender=self.s.steward,
                            refusals={refusal} if refusal else set())  # fmt: skip
        self._applied(p, value, receipt)

    @rule(pick=st.integers(0, 63), step=STEP)
    def dao_sets(self, pick, step):
        p, value = self._target(pick, step)
        refusal = p.violation(value, steward=False, now=self.now + DAO_DELAY)
        receipt = self._through_dao("set", p.key, value, refusal=refusal)
        self._applied(p, value, receipt, governance=True)

    @rule(pick=st.integers(0, 63))
    def guardian_freezes(self, pick):
        """A freeze lasts registry.maxFreezePeriod; the same key only one period after the
        last freeze ended (FreezeTooSoon before)."""
        p = self.params[self.keys[pick % len(self.keys)]]
        period = self.params[keccak(text="registry.maxFreezePeriod")].value
        too_soon = self.now < p.freezable_at(period)
        self._act(self.s.params, "freeze", p.key, sender=self.s.guardian,
                  refusals={"FreezeTooSoon"} if too_soon else set())  # fmt: skip
        if not too_soon:
            p.frozen_until = self.now + period
            self.touched.add(p.key)

    @rule(pick=st.integers(0, 63))
    def dao_unfreezes(self, pick):
        frozen = [p for p in self.params.values() if p.frozen(self.now)]
        if not frozen:
            return
        p = frozen[pick % len(frozen)]
        self._through_dao("unfreeze", p.key, refusal=None)
        if p.frozen(self.now):  # else the freeze ran out meanwhile: nothing to lift, no event
            p.frozen_until = self.now
            self.touched.add(p.key)

    # ------------------------------------------------------------------ guardian

    @rule(act=st.integers(0, 9))
    def guardian_acts(self, act):
        """Pauses (0-2) or unpauses (3-8) automation, or (9) shuts the vault down for good."""
        s = self.s
        if act == 9:
            refusals = {"VaultIsShutdown"} if self.shutdown else set()
            self._act(s.vault, "shutdown", sender=s.guardian, refusals=refusals)
            self.shutdown = True
            return
        self.paused = act < 3
        method = "pauseAutomation" if self.paused else "unpauseAutomation"
        self._act(s.vault, method, sender=s.guardian)

    @rule(i=st.integers(0, 3), share=SHARE)
    def keeper_unwinds(self, i, share):
        """After shutdown anyone moves a sleeve's assets back to idle; before, nobody."""
        s = self.s
        sleeve = (*s.sleeves, s.book)[i]
        amount = max(sleeve.call("totalAssets") * share // 100, 1)
        idle = s.vault.call("idle")
        refusals = set() if self.shutdown else {"NotShutdown"}
        if receipt := self._act(s.vault, "unwind", sleeve, amount, sender=s.keeper,
                                refusals=refusals):  # fmt: skip
            [log] = s.vault.logs(receipt, "Unwound")
            assert s.vault.call("idle") - idle == log.withdrawn <= amount + ROUNDING_WEI

    @rule(kind=st.integers(0, 5), by_agent=st.booleans(), i=st.integers(0, 3))
    def outsider_tries_to_move_funds(self, kind, by_agent, i):
        """The guardian (or an agent) calls what would move the vault's money to it."""
        s = self.s
        who = s.bots[i % 2] if by_agent else s.guardian
        sleeve = (*s.sleeves, s.book)[i]
        victim = s.depositors[i % 2]
        attempts = [
            (sleeve, "withdraw", (1,), "OnlyVault"),
            (sleeve, "deposit", (1,), "OnlyVault"),
            (s.asset, "transferFrom", (s.vault, who, 1), "ERC20InsufficientAllowance"),
            (s.vault, "transferFrom", (victim, who, 1), "ERC20InsufficientAllowance"),
            (s.params, "set", (self.keys[i], 0), "AccessControlUnauthorizedAccount"),
            (s.vault, "rebalance", ([0, 0, 0, 0], b"\0" * 32, ""), "NotActiveAgent"),
        ]
        raw, method, args, error = attempts[kind]
        if kind == 5 and by_agent:
            return  # an agent may rebalance: the rebalance rule covers its bounds
        self._act(raw, method, *args, sender=who, refusals={error})

    # ------------------------------------------------------------------ invariants

    @invariant()
    def vault_counts_every_sleeve(self):
        s = self.s
        self.steps += 1  # the invariants run once after `start` and after every step
        assert head_timestamp() == self.now
        parts = [sl.call("totalAssets") for sl in (*s.sleeves, s.book)]
        assert s.vault.call("totalAssets") == s.vault.call("idle") + sum(parts)
        for sl, token, value in zip(s.sleeves, s.tokens, parts, strict=False):
            units = sl.call("units")
            price, _ = s.router.call("tryPrice", token)
            assert token.call("balanceOf", sl) == units
            assert value == units * price * USDC // (WAD * 10 ** token.call("decimals"))
        cash, debt = s.book.call("cash"), s.book.call("totalDebt")
        assert parts[3] == cash + debt and s.asset.call("balanceOf", s.book) >= cash

    @invariant()
    def shares_are_accounted_for(self):
        s, vault = self.s, self.s.vault
        escrow = vault.call("balanceOf", vault)
        held = sum(vault.call("balanceOf", h) for h in s.holders())
        assert held + escrow == vault.call("totalSupply")
        head, tail = vault.call("redeemQueueBounds")
        requests = sum(vault.call("redeemRequest", i).shares for i in range(head, tail))
        assert escrow == vault.call("queuedShares") == requests

    @invariant()
    def share_price_falls_only_with_losses(self):
        totals = self._totals()
        drop = share_price_drop(self.totals, totals, OFFSET)
        if drop and not self.loss:
            assert drop <= self.fee + ROUNDING_WEI, (drop, self.fee, self.totals, totals)
            event("price: rounding or fee drop")
        self.totals, self.loss, self.fee = totals, False, 0

    @invariant()
    def nobody_can_take_more_than_their_shares(self):
        vault = self.s.vault
        for d in self.s.depositors:
            owned = vault.call("convertToAssets", vault.call("balanceOf", d))
            assert vault.call("maxWithdraw", d) <= owned
            assert vault.call("maxRedeem", d) <= vault.call("balanceOf", d)

    @invariant()
    def parameters_match_the_rules(self):
        """The registry emitted an update for exactly the keys the model changed this step,
        and each of them matches the model (so, by induction from `start`, all do)."""
        s, head = self.s, int(rpc("eth_blockNumber", []), 16)
        query = {
            "address": s.params.address,
            "fromBlock": hex(self.block + 1),
            "toBlock": hex(head),
        }
        logs = {"logs": rpc("eth_getLogs", [query]) if head > self.block else []}
        changed = {bytes(log.key) for name in REGISTRY_EVENTS for log in s.params.logs(logs, name)}
        assert changed == self.touched, [s.names[k] for k in changed ^ self.touched]
        for key in changed:
            assert Param.on_chain(s.params, key) == self.params[key], s.names[key]
        assert all(p.min <= p.value <= p.max for p in self.params.values())
        self.block, self.touched = head, set()

    @invariant()
    def healthy_positions_cannot_be_liquidated(self):
        s = self.s
        stale = {"StalePrice"} if self._stale() else set()
        for b in s.borrowers:
            if s.book.call("healthFactor", b) < WAD:
                continue
            for token in s.book.call("positionOf", b).tokens:
                chain.pending_timestamp = self.now
                outcome = s.refusal(s.book, "liquidate", b, token, MAX_UINT, sender=s.keeper)
                assert outcome in {"HealthyPosition", "NoDebt", *stale}, outcome

    @invariant()
    def stake_is_conserved(self):
        s = self.s
        staked, unbonding = s.agents.call("totals")
        assert sum(self._stake_of(b) for b in s.bots) == staked + unbonding
        assert s.agents.call("totalSlashed") == self.slashed
        assert staked + unbonding + self.slashed == self.net_staked
        assert s.asset.call("balanceOf", s.agents) == staked + unbonding

    @invariant()
    def nobody_moves_funds_outside_the_rules(self):
        s = self.s
        for raw in (s.asset, s.vault, *s.tokens):
            assert raw.call("balanceOf", s.guardian) == 0
        for bot in s.bots:
            assert s.asset.call("balanceOf", bot) == self.wallets[bot.address]
            assert all(t.call("balanceOf", bot) == 0 for t in s.tokens)


DEEP = settings.default.max_examples >= 100  # HYPOTHESIS_PROFILE=deep
SystemMachine.TestCase.settings = settings(
    # SYSTEM_MACHINE_EXAMPLES bounds a run (a timed deep run, say); else ci 8, deep 400.
    max_examples=int(os.environ.get("SYSTEM_MACHINE_EXAMPLES", 400 if DEEP else 8)),
    stateful_step_count=60 if DEEP else 30,
    deadline=None,
    report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TestSystemStateMachine = SystemMachine.TestCase
