"""The whole deployed Ballast system under any sequence of what its users, agents, keepers,
guardian, steward, DAO and markets do (issue 9, item 1; extended by issue 18 to the ERC-7540
request flow).

One hypothesis state machine drives the system `ballast.deploy.deploy_system` deploys from
deployments/config/local.yaml (governor, timelock, registry with the production bounds, steps,
cooldowns and steward limits, oracle router, vault, agent registry, three RWA sleeves and the
lending book; see `system_machine_support`) through deposit and redeem requests (for oneself
or another controller, by the owner or through an operator set with `setOperator`), cancels
before and after a window's cut-off, strikes by anyone, claims (`deposit`/`mint`/`redeem`/
`withdraw` with a controller, within and beyond max*) and donations that unlock over
`vault.unlockPeriod` (7 days in local.yaml); a searcher who saw a price round coming and a
newcomer after a donation or an executed slash; collateral deposits and withdrawals, borrows,
repayments and keeper liquidations; NAV moves, crashes and time jumps with or without the
feeds' publications (stale prices), and anyone's oracle pokes (a move beyond the band is
recorded, then confirmed: strikes wait for it); agents' stakes, unbonds and withdrawals, rebalances
(within and outside the bounds), evaluations, guardian vetoes, executed slashes and reward
claims; parameter changes through the DAO (propose, vote, queue, execute in one rule) and the
steward, guardian freezes and DAO unfreezes; pauses, shutdown and unwinds after it; and the
guardian or an agent trying to move funds directly.

Each action is first an `eth_call` on the pending block. Where the documented rules determine
the outcome (requests, cancels, strikes, claims, donations, rebalances, stake and unbond,
evaluations, vetoes, slashes, parameter updates, pauses, shutdown, the forbidden moves) the
machine predicts the exact custom error, or success, and the call must agree; a strike is
predicted from the model's request windows, the feeds' publication times and the router's open
bands (NothingToStrike,
StrikeNotReady, or which windows settle), except where the stale-sleeve path after
`vault.strikeMaxWait` may fill a redemption (then either outcome, and a haircut only there).
Elsewhere a refusal must come from the set a user can explain. An accepted call is then sent.
Every block is mined at the machine's clock (`chain.pending_timestamp`), so call, transaction
and model agree.

After every step, DESIGN.md's invariants:
1. totalAssets() == idle + Σ sleeves − locked donations; idle == the vault's cash − pending
   deposits − assets reserved for filled redemptions; pendingDeposits() == the model's
   unsettled requests; lockedDonations() == the model's lock, decaying linearly over
   vault.unlockPeriod (nothing after a shutdown); each RWA sleeve holds the tokens it counts
   and values them at the router's price; the book's totalAssets() == cash + totalDebt() and
   it holds at least its cash.
2. Σ share balances + the vault's escrow == totalSupply(); escrow == pendingRedemptions() +
   Σ unclaimed deposit shares (maxMint) + the claims' rounding dust (≤ a share per controller
   and strike); Σ pendingRedeemRequest == pendingRedemptions() up to a share per controller;
   the vault's cash >= pendingDeposits() + claimableRedemptions() >= Σ maxWithdraw;
   totalSupply() moves only at strikes, by their fee and deposit shares less the shares they
   burn, and claimableRedemptions() == Σ strikes' redeemAssets − Σ assets claims paid, to the
   wei; a strike fills redeem windows first in, first out (none earlier left unfilled), mints
   shares worth at most the deposits' assets and sets aside at most the shares' worth, at its
   prices.
3. The share price never falls, except in a step that realised a loss (a NAV fall, bad debt)
   or took a performance fee (by at most the fee); rounding is allowed `ROUNDING_WEI` wei of
   the smaller of the vaults before and after the step (tests/invariants/share_price.py). Flows
   cannot lower it: deposits pay the high NAV (locked donations included), redemptions get
   the low NAV less locked donations and any stale haircut, so those who stay never lose.
4. No claim pays more than was settled: per controller, claimed + claimable deposit assets ==
   what strikes settled for it, and the shares within the settled price's rounding; claimed
   + claimable redeem shares == what strikes filled, the assets at most the fill at the
   strike's price.
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
9. No account gains from a price round it saw coming (`searcher_sees_a_round_coming`): the
   searcher requests a deposit, the machine publishes a NAV move, the strike after it settles
   the searcher at a price that already holds the move, and its exit at the next strike pays
   at most what it put in (pro rata to what was filled) plus its part of the book's interest,
   and its part of what the same strike's leavers forfeited of a locked donation (an open gap:
   tests/attacks/test_donation_forfeit.py).
10. An executed slash or a donation raises only the shares that existed when it was made,
   over the unlock period (`newcomer_after_a_donation`): a newcomer that requests after it
   and leaves after the whole unlock gets back at most what it paid plus its part of the
   book's interest; and the lock decays linearly (invariant 1).

Profiles: HYPOTHESIS_PROFILE=ci (default) runs 8 examples of up to 30 steps; "deep" (make
test-deep) 400 of up to 60; SYSTEM_MACHINE_EXAMPLES=n bounds the examples of either. A failure
prints the shrunk step sequence that reproduces it (hypothesis' stateful report; shrinking gives
up after 5 minutes and resumes from the example database on the next run).
"""

from __future__ import annotations

import os

from ape import chain
from eth_abi import decode
from hypothesis import HealthCheck, Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from ballast.params import LinkView, link_holds
from tests.invariants.agent_machine_support import Reads
from tests.invariants.share_price import allowed_drop, share_price_drop
from tests.invariants.system_machine_support import (
    BPS,
    DAO_DELAY,
    HOUR,
    LEND,
    MAX_UINT,
    MOVE,
    OFFSET,
    PRICE_SCALE,
    REDEEM_LIMITS,
    REGISTRY_EVENTS,
    ROUNDING_WEI,
    RWA,
    SHARE,
    SLEEVES,
    STEP,
    USDC,
    WAD,
    WHO,
    WINDOW,
    Driver,
    Param,
    fixture,
    head_timestamp,
    keccak,
    rpc,
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
        self.links = [s.params.call("getLink", i) for i in range(s.params.call("linkCount"))]
        self.block, self.touched = int(rpc("eth_blockNumber", []), 16), set()
        self.last_key: bytes | None = None
        self.totals = self._totals()
        self.loss, self.fee, self.fee_drop = False, 0, 0
        self.shutdown = self.paused = False
        self.proposals, self.steps = 0, -1
        self.slashed = s.agents.call("totalSlashed")
        self.net_staked = sum(self._stake_of(b) for b in s.bots) + self.slashed
        self.wallets = {b.address: s.asset.call("balanceOf", b) for b in s.bots}
        # The vault's requests as the model expects them (VaultStorage's, per controller).
        cs = [c.address.lower() for c in s.controllers()]
        assert s.vault.call("pendingDeposits") == s.vault.call("pendingRedemptions") == 0
        self.dep = {c: (0, 0) for c in cs}  # (pending assets, window)
        self.red = {c: (0, 0) for c in cs}  # (shares, window) until claimed or cancelled
        self.dep_head = 0  # no deposit window settled yet
        self.ops: set[tuple[str, str]] = set()  # (controller, operator)
        assert s.vault.call("lockedDonations")[0] == 0
        self.lock = (0, 0, 0)  # (amount, start, end)
        self.pub = [f.call("latestRoundData")[3] for f in s.feeds]
        # Invariant 4: per controller, what strikes settled and what claims paid.
        for name in ("settled_assets", "settled_shares_hi", "settled_shares_lo",
                     "claimed_assets", "claimed_shares", "filled", "owed_hi", "paid",
                     "redeemed"):  # fmt: skip
            setattr(self, name, dict.fromkeys(cs, 0))
        for c in cs:
            assert s.vault.call("maxMint", c) == s.vault.call("maxRedeem", c) == 0
        self.dust_bound = 0  # settled shares the per-controller rounding left in escrow
        self.supply = s.vault.call("totalSupply")
        self.reserved = s.vault.call("claimableRedemptions")
        self.last_strike = None
        self.searcher_rounds: list[tuple[int, int]] = []  # (assets got back, its bound)
        # Shutdown, called loans and everyone's exit (`everyone_leaves`).
        assert s.book.call("loansDueAt") == 0
        self.due_at = 0  # when the called loans fall due (0: not called)
        self.everyone_left = False
        self.exits: list[tuple[str, int, int]] = []  # (controller, paid, its floor)
        self.exit_totals: list[tuple[int, int, int]] = []  # (held, paid + kept, rounding)

    def teardown(self):
        if hasattr(self, "snapshot"):
            event(f"steps: {self.steps // 10 * 10}-{self.steps // 10 * 10 + 9}")
            chain.restore(self.snapshot)

    # ------------------------------------------------------------------ depositors

    def _who(self, who: int):
        return self.s.depositors[who]

    def _sender(self, owner, via_operator: bool):
        """The owner itself, or the keeper acting as its operator (refused unless it is one)."""
        return self.s.keeper if via_operator else owner

    @rule(who=WHO, amount=st.integers(0, 400_000 * USDC), for_other=st.booleans(),
          via_operator=st.booleans(), late=st.booleans())  # fmt: skip
    def request_deposit(self, who, amount, for_other, via_operator, late):
        """A deposit request from the depositor's assets, for itself or the other depositor as
        controller (NotOperator unless the sender operates for that controller too), sent by the
        depositor or by the keeper as its operator. With `late`, the
        clock first moves to the next window (a request of an earlier window still unsettled:
        DepositRequestPending)."""
        s, d = self.s, self._who(who)
        if late:
            self._advance(WINDOW - self.now % WINDOW, publish=False)
        amount = min(amount, s.asset.call("balanceOf", d))
        controller = self._who(1 - who) if for_other else d
        self._request_deposit(controller, d, self._sender(d, via_operator), amount)

    @rule(who=WHO, share=st.integers(0, 100), for_other=st.booleans(),
          via_operator=st.booleans(), late=st.booleans())  # fmt: skip
    def request_redeem(self, who, share, for_other, via_operator, late):
        """Escrow a share of the depositor's shares, for itself or the other depositor, sent by
        the depositor or by the keeper as its operator (ERC20InsufficientAllowance unless it
        is one: the keeper has no allowance; NotOperator for a controller the sender does not
        operate for). With `late`, in the next window (a request of an
        earlier window not yet filled: RedeemRequestQueued)."""
        s, d = self.s, self._who(who)
        if late:
            self._advance(WINDOW - self.now % WINDOW, publish=False)
        shares = s.vault.call("balanceOf", d) * share // 100
        controller = self._who(1 - who) if for_other else d
        self._request_redeem(controller, d, self._sender(d, via_operator), shares)

    @rule(who=WHO, approved=st.booleans(), peer=st.booleans())
    def set_operator(self, who, approved, peer):
        """The depositor approves or revokes the keeper, or the other depositor (`peer`: who may
        then send it requests from its own assets), as its operator (ERC-7540)."""
        s, d = self.s, self._who(who)
        operator = self._who(1 - who) if peer else s.keeper
        receipt = self._act(s.vault, "setOperator", operator, approved, sender=d)
        [log] = s.vault.logs(receipt, "OperatorSet")
        assert (log.controller.lower(), log.operator.lower(), log.approved) == (
            d.address.lower(), operator.address.lower(), approved)  # fmt: skip
        pair = (d.address.lower(), operator.address.lower())
        self.ops = self.ops | {pair} if approved else self.ops - {pair}
        assert s.vault.call("isOperator", d, operator) == approved

    @rule(who=WHO, redeem=st.booleans(), via_operator=st.booleans(), late=st.booleans())
    def cancel(self, who, redeem, via_operator, late):
        """Cancel a pending request: before its window's cut-off it comes back to the
        controller; after it, RequestWindowClosed (a deposit comes back anyway after shutdown or
        vault.strikeMaxWait past the cut-off); with nothing pending (a settled deposit, a wholly
        filled redemption), NoPendingRequest. With `late`, the clock first moves to the next
        window."""
        s, d = self.s, self._who(who)
        book = self.red if redeem else self.dep
        if not book[d.address.lower()][0] and book[self._who(1 - who).address.lower()][0]:
            d = self._who(1 - who)  # the one with a request, when only the other has one
        c = d.address.lower()
        if late:
            self._advance(WINDOW - self.now % WINDOW, publish=False)
        sender = self._sender(d, via_operator)
        if redeem:
            shares, w = self.red[c]
            # a wholly filled request is claimable, no longer pending (IRWAVault.NoPendingRequest)
            nothing = shares == 0 or s.vault.call("pendingRedeemRequest", 0, c) == 0
        else:
            shares, w = self.dep[c]
            nothing = shares == 0 or w < self.dep_head
        closes = (w + 1) * WINDOW
        # A deposit no strike can settle comes back after the cut-off too: after shutdown, or
        # from vault.strikeMaxWait past the cut-off while no strike could settle it now.
        wait = self.params[keccak(text="vault.strikeMaxWait")].value
        expired = self.now >= closes + wait and (redeem or w >= self._strike_plan()[0])
        stuck = not redeem and (self.shutdown or expired)
        refusals = (
            {"NotOperator"} if not self._operates(d, sender)
            else {"NoPendingRequest"} if nothing
            else {"RequestWindowClosed"} if self.now >= closes and not stuck else set()
        )  # fmt: skip
        method = "cancelRedeemRequest" if redeem else "cancelDepositRequest"
        token = s.vault if redeem else s.asset
        held = token.call("balanceOf", d)
        if self._act(s.vault, method, d, sender=sender, refusals=refusals):
            assert token.call("balanceOf", d) - held == shares
            if redeem:
                self.red[c] = (0, 0)
            else:
                self.dep[c] = (0, w)

    @rule(who=WHO, redeem=st.booleans(), via_operator=st.booleans(), late=st.booleans())
    def request_then_cancel(self, who, redeem, via_operator, late):
        """A request (a tenth of the depositor's shares, or 1,000 of its assets), then `cancel`
        at once (returned) or, with `late`, in the next window (RequestWindowClosed)."""
        s, d = self.s, self._who(who)
        if redeem:
            made = self._request_redeem(d, d, d, s.vault.call("balanceOf", d) // 10)
        else:
            made = self._request_deposit(d, d, d, min(1_000 * USDC, s.asset.call("balanceOf", d)))
        if made:
            self.cancel(who, redeem, via_operator, late)

    @rule(who=st.integers(0, 3))
    def strike(self, who):
        """Anyone strikes: a depositor, the keeper or the searcher. The outcome is predicted
        from the model's windows and publication times (`Driver._strike_prediction`)."""
        s = self.s
        self._strike((*s.depositors, s.keeper, s.searcher)[who])

    @rule(who=WHO, share=SHARE, as_mint=st.booleans(), over=st.booleans(),
          via_operator=st.booleans())  # fmt: skip
    def claim_deposit(self, who, share, as_mint, over, via_operator):
        """Claim settled shares by assets (`deposit`) or shares (`mint`): a share of max*, or
        one more than max* (ClaimExceeded)."""
        s, d = self.s, self._who(who)
        method = "mint" if as_mint else "deposit"
        limit = s.vault.call("maxMint" if as_mint else "maxDeposit", d)
        amount = limit + 1 if over else limit * share // 100
        self._claim(d, amount, method, self._sender(d, via_operator))

    @rule(who=WHO, share=SHARE, as_withdraw=st.booleans(), over=st.booleans(),
          via_operator=st.booleans())  # fmt: skip
    def claim_redeem(self, who, share, as_withdraw, over, via_operator):
        """Claim filled redemptions by shares (`redeem`) or assets (`withdraw`)."""
        s, d = self.s, self._who(who)
        method = "withdraw" if as_withdraw else "redeem"
        limit = s.vault.call("maxWithdraw" if as_withdraw else "maxRedeem", d)
        amount = limit + 1 if over else limit * share // 100
        self._claim(d, amount, method, self._sender(d, via_operator))

    @rule(amount=st.integers(0, 300_000 * USDC))
    def donate(self, amount):
        """The keeper donates: nothing of it shows in totalAssets at once (it is locked, and
        unlocks linearly over vault.unlockPeriod: invariant 1 checks lockedDonations()); after
        a shutdown all of it at once (nothing is locked then: no deposit can snipe it)."""
        s = self.s
        before = s.vault.call("totalAssets")
        if self._act(s.vault, "donate", amount, sender=s.keeper,
                     refusals=set() if amount else {"ZeroAmount"}):  # fmt: skip
            self._donated(amount)
            if self.shutdown:
                assert s.vault.call("totalAssets") == before + amount
            elif self._param("vault.unlockPeriod"):
                assert s.vault.call("totalAssets") == before

    # ------------------------------------------------------------------ the searcher (9)

    def _book_reading(self) -> tuple[int, int]:
        """(the book's value, its supply index) now: where a round trip's interest counts from."""
        return self.s.book.call("totalAssets"), self.s.book.call("returnIndex")

    def _round_trip_allowance(self, shares: int, book_before: tuple[int, int]) -> int:
        """What a holder of `shares` may earn besides a price move: its part of the interest the
        book's value at `book_before` earned since (by the supply index: the book's value itself
        also falls by what a strike takes out of it to pay leavers, the round trip's own exit
        among them), and rounding."""
        s = self.s
        value, index = book_before
        grown = max(s.book.call("returnIndex") - index, 0)
        interest = -(-value * grown // max(index, 1))  # rounded up: the holder's due, not less
        return interest * shares // max(s.vault.call("totalSupply"), 1) + ROUNDING_WEI

    @rule(i=st.integers(0, 2), move=MOVE, amount=st.integers(1_000 * USDC, 2_000_000 * USDC))
    def searcher_sees_a_round_coming(self, i, move, amount):
        """Invariant 9, no account gains from a price round it saw coming. The searcher requests
        a deposit right before the machine publishes feed `i` moved by `move` (the round it saw
        coming), the strike after that round (confirmed first when beyond the band, as the settler
        does) settles it, it claims and asks to leave at once,
        and the next strike (no price moved in between) fills it. Its deposit price already
        holds the move (it is at least the NAV per share after the round), and it gets back at
        most what it paid, pro rata to what was filled, plus its part of the interest."""
        s, me = self.s, self.s.searcher
        c = me.address.lower()
        if self.shutdown or self.dep[c][0] or self.red[c][0] or s.vault.call("balanceOf", me):
            return
        if not self._request_deposit(me, me, me, amount):
            return
        self._advance(WINDOW - self.now % WINDOW, publish=True)  # every feed, then the move
        feed = s.feeds[i]
        self._publish(feed, feed.call("latestAnswer") * (BPS + move) // BPS)
        self.loss |= move < 0
        if self._confirm_moves(me):  # a move beyond the band settles nothing until confirmed
            event("searcher: the move confirmed before the strike")
        totals = self._totals()
        locked = self._locked(self.now)
        k = self._strike(me)
        assert k is not None and self.dep[c][1] < self.dep_head, "the round did not settle it"
        # The price it paid holds the move: at least the NAV per share after the round (the
        # strike's fee shares counted; the price is rounded down, by less than a unit).
        supply = totals[1] + OFFSET + k["feeShares"]
        assert (k["depositPrice"] + 1) * supply >= (totals[0] + locked + 1) * PRICE_SCALE
        shares = self._claim(me, s.vault.call("maxMint", me), "mint", me)
        book = self._book_reading()
        self._request_redeem(me, me, me, shares)
        self._advance(WINDOW - self.now % WINDOW, publish=True)
        self._strike(me)
        filled = s.vault.call("maxRedeem", me)
        got = self._claim(me, filled, "redeem", me) if filled else 0
        bound = amount * filled // shares + self._round_trip_allowance(filled, book)
        assert got <= bound, f"the searcher gained {got - amount * filled // shares}"
        self.searcher_rounds.append((got, bound))
        sign = "+" if move > 0 else "-"
        event(f"searcher: filled {'all' if filled == shares else 'part'}, move {sign}")

    # ------------------------------------------------------------------ a donation's newcomer

    @rule(amount=st.integers(10_000 * USDC, 2_000_000 * USDC),
          gift=st.integers(50_000 * USDC, 500_000 * USDC))  # fmt: skip
    def newcomer_after_a_donation(self, amount, gift):
        """An executed slash (or, with nothing locked, a donation made here) raises only the
        shares that existed when it was made, over the unlock period: a newcomer that requests
        after it and leaves after the whole unlock gets back at most what it paid, plus its part
        of the book's interest (no price moves meanwhile; nobody else is leaving)."""
        s, me = self.s, self.s.newcomer
        c = me.address.lower()
        if (
            self.shutdown
            or self.dep[c][0]
            or self.red[c][0]
            or s.vault.call("balanceOf", me)
            or s.vault.call("pendingRedemptions")
            or self._param("vault.unlockPeriod") == 0
        ):
            return  # fmt: skip
        if self._locked(self.now) == 0:
            if s.asset.call("balanceOf", s.keeper) < gift:
                event("newcomer: the keeper has given all it could")
                return  # many donations in one run: its funds are not the subject here
            self._act(s.vault, "donate", gift, sender=s.keeper)
            self._donated(gift)
            event("newcomer: after a donation")
        else:
            event("newcomer: after a slash or donation still unlocking")
        if not self._request_deposit(me, me, me, amount):
            return
        self._advance(WINDOW - self.now % WINDOW, publish=True)
        self._confirm_moves(me)  # an earlier move beyond the band, confirmed first (the settler)
        if self._strike(me) is None:
            return
        shares = self._claim(me, s.vault.call("maxMint", me), "mint", me)
        book = self._book_reading()
        wait = max(self.lock[2] - self.now, 0)
        while wait > 0:  # publish daily so that prices stay fresh through the unlock
            step = min(wait, HOUR * 20)
            self._advance(step, publish=True)
            wait -= step
        assert s.vault.call("lockedDonations")[0] == 0
        self._request_redeem(me, me, me, shares)
        self._advance(WINDOW - self.now % WINDOW, publish=True)
        self._strike(me)
        filled = s.vault.call("maxRedeem", me)
        got = self._claim(me, filled, "redeem", me) if filled else 0
        bound = amount * filled // shares + self._round_trip_allowance(filled, book)
        assert got <= bound, f"the newcomer gained {got - amount * filled // shares}"
        event(f"newcomer: filled {'all' if filled == shares else 'part'}")

    # ------------------------------------------------------------------ borrowers and keepers

    @rule(who=WHO, i=st.integers(0, 2), share=SHARE)
    def deposit_collateral(self, who, i, share):
        """Refused while the token's price is not fresh (collateral is posted only at a
        verifiable price)."""
        s, b = self.s, self.s.borrowers[who]
        amount = s.tokens[i].call("balanceOf", b) * share // 100
        if amount:
            chain.pending_timestamp = self.now
            fresh = s.router.call("tryPrice", s.tokens[i], block="pending")[1]
            refusals = frozenset() if fresh else frozenset({"StalePrice", "InvalidPrice"})
            self._act(s.book, "depositCollateral", s.tokens[i], amount, sender=b,
                      refusals=refusals)  # fmt: skip

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

    @rule(i=st.integers(0, 2), who=st.integers(0, 3))
    def oracle_poked(self, i, who):
        """Anyone pokes a feed (the sentinel and the settler do): a move beyond the band is
        recorded, then confirmed once it has held oracle.confirmDelay (strikes wait for it); a
        stale price is refused."""
        s = self.s
        stale = self.now > self.pub[i] + self._param("oracle.maxStaleness")
        was = self._unconfirmed(s.tokens[i])
        sender = (*s.depositors, s.keeper, s.searcher)[who]
        if self._act(s.router, "poke", s.tokens[i], sender=sender,
                     refusals={"StalePrice"} if stale else set()) and was:  # fmt: skip
            event("poke: a move confirmed" if not self._unconfirmed(s.tokens[i]) else "poke")

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
        args = (targets, b"\x22" * 32, "ipfs://m")
        if refusals:
            self._act(s.vault, "rebalance", *args, sender=bot, refusals=refusals)
        else:  # the weights reached are re-checked: an issuer short of liquidity may refuse,
            # and a sleeve the move changed must not have its band open (no decision starts
            # from a price round the oracle has not confirmed); targets a bps from the weights
            # now, or an issuer that cannot take or pay, may leave every weight as it was: the
            # vault refuses such a decision (NothingMoved), and records none that moved nothing
            explained = {"ReachedOutsideBounds", "NothingMoved"}
            if any(map(self._unconfirmed, s.tokens)):
                explained.add("StaleValuation")
            receipt = self._try(s.vault, "rebalance", *args, sender=bot, explained=explained)
            fees = s.vault.logs(receipt, "PerformanceFeeTaken") if receipt else []
            assert not fees, "a fee at a rebalance: the fee is taken at strikes"
            if receipt:
                [log] = s.vault.logs(receipt, "Rebalanced")
                assert list(log.newBps) != list(log.oldBps), "a decision that moved nothing"

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
        slashed stake is donated and locked (totalAssets does not move; the model's lock, which
        invariant 1 compares with lockedDonations(), takes it), at once after a shutdown."""
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
            self._donated(log.amount)
            # Locked at once: the share price gains it only over vault.unlockPeriod (0, or after
            # a shutdown: at once).
            rise = 0 if self._param("vault.unlockPeriod") and not self.shutdown else log.amount
            assert s.vault.call("totalAssets") - before == rise
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
        refusal = p.violation(value, steward=True, now=self.now) or self._link_refusal(p, value)
        receipt = self._act(self.s.params, "stewardSet", p.key, value, sender=self.s.steward,
                            refusals={refusal} if refusal else set())  # fmt: skip
        self._applied(p, value, receipt)

    @rule(pick=st.integers(0, 63), step=STEP)
    def dao_sets(self, pick, step):
        p, value = self._target(pick, step)
        refusal = p.violation(value, steward=False, now=self.now + DAO_DELAY)
        refusal = refusal or self._link_refusal(p, value)
        receipt = self._through_dao("set", p.key, value, refusal=refusal)
        self._applied(p, value, receipt, governance=True)

    def _link_refusal(self, p, value: int) -> str | None:
        """ "LinkViolated" when `p := value` breaks a link deploy declared (ParameterRegistry's
        `_holds`, written again; nothing else moves during a proposal's vote and timelock)."""
        values = {k: q.value for k, q in self.params.items()} | {p.key: value}
        for link in self._link_views():
            if p.key in link.names and not link_holds(link, values):
                return "LinkViolated"
        return None

    def _link_views(self) -> list[LinkView]:
        """The registry's links, named by key (`ballast.params.link_holds` reads them)."""
        return [LinkView(link.rule, tuple(bytes(k) for k in link.keys), link.bound)
                for link in self.links]  # fmt: skip

    @invariant()
    def every_link_holds(self):
        """The registry's links hold at all times (no accepted update breaks one)."""
        values = {k: q.value for k, q in self.params.items()}
        for link in self._link_views():
            assert link_holds(link, values), link

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

    # ------------------------------------------------------------------ shutdown and called loans

    @rule(by_dao=st.booleans(), then=st.sampled_from(["nothing", "call", "leave"]))
    def shut_down(self, by_dao, then):
        """The guardian, or governance through a whole DAO proposal (the timelock bubbles the
        vault's error up), shuts the vault down: VaultIsShutdown the second time. `then`: anyone
        calls the loans at once, or everybody leaves at once (`everyone_leaves`); else the
        machine goes on with the vault shut."""
        s = self.s
        refusal = "VaultIsShutdown" if self.shutdown else None
        if by_dao:
            receipt = self._through_dao("shutdown", refusal=refusal, target=s.vault)
        else:
            receipt = self._act(s.vault, "shutdown", sender=s.guardian,
                                refusals={refusal} if refusal else set())  # fmt: skip
        if receipt:
            [log] = s.vault.logs(receipt, "Shutdown")
            by = s.timelock if by_dao else s.guardian
            assert log.by.lower() == by.address.lower()
            self.shutdown = True
        assert s.vault.call("isShutdown")
        if then == "call":
            self.call_loans(2)
        elif then == "leave" and not self.everyone_left:
            self.everyone_leaves(0)

    def _book_facts(self, sender) -> tuple:
        """What a refused call must leave as it was: the call, the book's cash and debt, the
        balances of the book and the caller."""
        s = self.s
        return (
            s.book.call("loansDueAt"), s.book.call("cash"), s.book.call("totalDebt"),
            s.asset.call("balanceOf", s.book), s.asset.call("balanceOf", sender),
        )  # fmt: skip

    @rule(who=st.integers(0, 3))
    def call_loans(self, who):
        """Anyone (a depositor, the keeper, the searcher) calls the book's loans: NotShutdown
        while the vault runs, LoansAlreadyCalled(dueAt) after a call, the model's due time
        decoded (a refused call is sent anyway, mined reverted: nothing moved); once, after the
        shutdown, due lend.callNoticePeriod later (LoansCalled(now, now + notice))."""
        s = self.s
        sender = (*s.depositors, s.keeper, s.searcher)[who]
        chain.pending_timestamp = self.now
        outcome = s.book.refusal("callLoans", sender=sender)
        if not self.shutdown:
            expected = ("NotShutdown", {})
        elif self.due_at:
            expected = ("LoansAlreadyCalled", {"dueAt": self.due_at})
        else:
            expected = None
        assert outcome == expected, (outcome, expected)
        if expected:
            before = self._book_facts(sender)
            self._send_refused(s.book, "callLoans", sender=sender)
            assert self._book_facts(sender) == before, "a refused call moved something"
            event(f"callLoans: {expected[0]}")
            return
        receipt = s.book.send("callLoans", sender=sender)
        [log] = s.book.logs(receipt, "LoansCalled")
        self.due_at = self.now + self._param("lend.callNoticePeriod")
        assert (log.calledAt, log.dueAt) == (self.now, self.due_at)
        assert s.book.call("loansDueAt") == self.due_at
        event("callLoans: ok")

    def _due(self) -> bool:
        return bool(self.due_at) and self.now >= self.due_at

    @precondition(lambda self: self.due_at and self.now < self.due_at)
    @rule(early=st.booleans(), publish=st.booleans())
    def call_notice_elapses(self, early, publish):
        """Time runs to the notice's last second (`early`: a position with health >= 1 is still
        refused there, the invariant checks) or to its end (every position with debt then reads
        health 0 and is liquidatable whole), with or without the NAV publications."""
        self._advance(self.due_at - self.now - (1 if early else 0), publish)
        event("loans: notice's last second" if early else "loans: due")

    def _liquidation(self, borrower, token, repay: int, sender, exact: bool = False):
        """`liquidate(borrower, token, repay)` by `sender`, its refusal predicted: NoDebt,
        NoCollateral, the seized token's missing price (the router's error), HealthyPosition at a
        reported health >= 1 before the loans are due, exactly; otherwise it may only be refused
        for what a liquidation can explain (never HealthyPosition once due), and once due a max
        repay with the cash for it must pass (`exact`: the richest liquidator, whole debt). A
        liquidation never lowers health unless it realised bad debt or the position was under
        water past the seized token's break-even (see `keeper_liquidates`). The receipt or None."""
        s = self.s
        debt = s.book.call("debtOf", borrower)
        held = s.book.call("collateralOf", borrower, token)
        health = s.book.call("healthFactor", borrower)
        chain.pending_timestamp = self.now
        priced = s.refusal(s.router, "liquidationPrice", token, sender=sender)
        due = self._due()
        if debt == 0:
            refusals = {"NoDebt"}
        elif held == 0:
            refusals = {"NoCollateral"}
        elif priced is not None:
            refusals = {priced}
        elif not due and health >= WAD:
            refusals = {"HealthyPosition"}
        elif due and repay >= debt and s.asset.call("balanceOf", sender) >= debt:
            refusals = set()
        else:
            explained = {"DustDebt", "ZeroAmount", "ERC20InsufficientBalance"}
            if not due:  # health read at live prices, the liquidation's at the band's floor
                explained.add("HealthyPosition")
            assert not exact, "a whole liquidation of a called loan was not planned exactly"
            receipt = self._try(s.book, "liquidate", borrower, token, repay, sender=sender,
                                explained=explained)  # fmt: skip
            return receipt and self._liquidated(receipt, borrower, token, health, repay, due)
        receipt = self._act(s.book, "liquidate", borrower, token, repay, sender=sender,
                            refusals=refusals)  # fmt: skip
        return receipt and self._liquidated(receipt, borrower, token, health, repay, due)

    def _liquidated(self, receipt, borrower, token, health: int, repay: int, due: bool):
        s = self.s
        [log] = s.book.logs(receipt, "Liquidated")
        bad = s.book.logs(receipt, "BadDebtRealized")
        self.loss |= any(x.amount for x in bad)
        after = s.book.call("healthFactor", borrower)
        if due and repay == MAX_UINT:  # due whole: the debt is cleared or the token all taken
            left = s.book.call("debtOf", borrower)
            assert left == 0 or s.book.call("collateralOf", borrower, token) == 0, left
            assert after in (0, MAX_UINT), after  # a called loan with debt reads 0
            event("liquidated: a called loan" + (", bad debt" if bad else ""))
        elif not (bad or after == MAX_UINT or after >= health):
            name = RWA[[t.address.lower() for t in s.tokens].index(token.address.lower())]
            value = lambda key: self.params[keccak(text=f"lend.{key}.{name}")].value  # noqa: E731
            break_even = WAD * value("liqThresholdBps") * (BPS + value("liqBonusBps")) // BPS**2
            assert health < break_even, (health, after, break_even)
        return receipt

    @rule(b=WHO, i=st.integers(0, 2), by=st.integers(0, 3), whole=st.booleans(), share=SHARE)
    def anyone_liquidates(self, b, i, by, whole, share):
        """Anyone with cash (a depositor, the searcher, the newcomer: no keeper) liquidates a
        borrower on one collateral, for the whole debt or a share of it (`_liquidation`)."""
        s = self.s
        borrower, sender = s.borrowers[b], (*s.depositors, s.searcher, s.newcomer)[by]
        debt = s.book.call("debtOf", borrower)
        repay = MAX_UINT if whole else max(debt * share // 100, 1)
        self._liquidation(borrower, s.tokens[i], repay, sender)

    @precondition(lambda self: self.shutdown)
    @rule(who=WHO, share=SHARE)
    def depositor_exits_alone(self, who, share):
        """After the shutdown with no keeper alive: the depositor claims its settled deposit
        shares, asks to redeem a share of what it holds (RedeemRequestQueued behind an earlier
        unfilled window, predicted), waits for the cut-off and the next NAV round, confirms an
        open move itself, strikes and claims what was filled, all itself."""
        s, d = self.s, self._who(who)
        if minted := s.vault.call("maxMint", d):
            self._claim(d, minted, "mint", d)
        shares = s.vault.call("balanceOf", d) * share // 100
        if shares:
            self._request_redeem(d, d, d, shares)
        self._advance(WINDOW - self.now % WINDOW, publish=True)
        self._confirm_moves(d)
        self._strike(d)
        if filled := s.vault.call("maxRedeem", d):
            self._claim(d, filled, "redeem", d)

    @precondition(lambda self: self.shutdown and not self.everyone_left)
    @rule(who=WHO)
    def everyone_leaves(self, who):
        """Everybody leaves after the shutdown, nobody running a keeper. Depositor `who` calls
        the loans (unless someone did), the notice is waited out, the richest of the
        depositors, the searcher and the newcomer liquidates every loan whole (each max repay
        must pass: the loans are due), the book then holds its whole value as cash; every
        controller claims its settled deposit shares, asks to redeem all it holds, and strikes
        and claims itself at each day's NAV round (the issuers redeem a day's limit each) until
        nothing is left: within the exit time the issuers' limits give, each is paid at least
        what its shares and filled claims were worth at the start (less its part of any fee and
        the rounding), and what all were paid plus what the vault still holds equals what it
        held (invariant `the_lent_cash_comes_back`)."""
        s, d = self.s, self._who(who)
        self.everyone_left = True
        if not self.due_at:
            self.call_loans(who)
        if self.now < self.due_at:
            self._advance(self.due_at - self.now, publish=True)
        elif self._stale():
            self._advance(0, publish=True)
        people = [*s.depositors, s.searcher, s.newcomer]
        for borrower in s.borrowers:
            for _ in range(4):  # at most one whole liquidation per token, then a write-off
                position = s.book.call("positionOf", borrower)
                if position.debt == 0:
                    break
                liquidator = max(people, key=lambda p: s.asset.call("balanceOf", p))
                self._liquidation(borrower, position.tokens[0], MAX_UINT, liquidator, exact=True)
            assert s.book.call("debtOf", borrower) == 0, "a called loan left after its notice"
        book = s.book.call("totalAssets")
        assert s.book.call("availableLiquidity") == book == s.book.call("cash")
        self._everyone_exits(d)

    def _everyone_exits(self, striker) -> None:
        s, v = self.s, self.s.vault
        cs = s.controllers()
        ta0, supply0 = self._totals()
        start = ta0 + self._locked(self.now) + v.call("claimableRedemptions")
        worth, paid = {}, {}
        for c in cs:
            owned = (v.call("balanceOf", c) + v.call("maxMint", c)
                     + v.call("pendingRedeemRequest", 0, c))  # fmt: skip
            worth[c.address] = (owned, v.call("maxWithdraw", c))
            paid[c.address] = 0
        # The exit time: the issuers redeem a day's limit each, in parallel; one day more for
        # a limit used today and one for the first strike after the requests' window.
        days = 2 + max(
            -(-sl.call("units") // (REDEEM_LIMITS[n] * 10 ** t.call("decimals")))
            for sl, t, n in zip(s.sleeves, s.tokens, RWA, strict=True)
        )  # fmt: skip
        strikes = 0
        holding = sum(1 for c in cs if sum(worth[c.address]))
        charged = dict.fromkeys(worth, 0)  # the fees each controller's shares paid
        for day in range(days + 1):
            for c in cs:
                if minted := v.call("maxMint", c):
                    self._claim(c, minted, "mint", c)
                if held := v.call("balanceOf", c):
                    self._request_redeem(c, c, c, held)
                if filled := v.call("maxRedeem", c):
                    paid[c.address] += self._claim(c, filled, "redeem", c)
            if v.call("pendingRedemptions") == 0 and all(
                v.call("balanceOf", c) == v.call("pendingRedeemRequest", 0, c) == 0 for c in cs
            ):
                break
            assert day < days, f"an exit still waits after {days} days"
            self._advance(DAY - self.now % DAY + 60, publish=True)  # the next day's round
            self._confirm_moves(striker)
            # A fee is charged on the shares there are at the strike, before anything settles
            # (on a gain that stood a day since a strike sampled it: one that leaves at the
            # first strike after a quiet spell leaves before its fee is charged).
            left = {c.address: v.call("pendingRedeemRequest", 0, c) + v.call("balanceOf", c)
                    for c in cs}  # fmt: skip
            supply, fee = v.call("totalSupply") + OFFSET, self.fee
            strikes += self._strike(striker) is not None
            for who, shares in left.items():
                charged[who] += -(-(self.fee - fee) * shares // supply)
        ta1, _ = self._totals()
        end = ta1 + self._locked(self.now) + v.call("claimableRedemptions")
        rounding = (strikes + 1) * ROUNDING_WEI
        for c in cs:
            owned, fixed = worth[c.address]
            assert v.call("balanceOf", c) == v.call("maxRedeem", c) == 0
            fair = fixed + owned * (ta0 + 1) // (supply0 + OFFSET)
            self.exits.append((c.address, paid[c.address], fair - charged[c.address] - rounding))
        total = sum(paid.values())
        self.exit_totals.append((start, total + end, rounding))
        event(f"everyone left: {strikes} strikes, {holding} holding")

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
        """1: totalAssets == idle + Σ sleeves − locked donations; idle excludes the pending
        deposits (which equal the model's) and the assets reserved for filled redemptions; the
        lock is the model's, decaying linearly."""
        s, v = self.s, self.s.vault
        self.steps += 1  # the invariants run once after `start` and after every step
        assert head_timestamp() == self.now
        r = Reads()
        parts = [r.call(sl, "totalAssets") for sl in (*s.sleeves, s.book)]
        lock, total, idle = (r.call(v, m) for m in ("lockedDonations", "totalAssets", "idle"))
        pending, reserved = r.call(v, "pendingDeposits"), r.call(v, "claimableRedemptions")
        held = r.call(s.asset, "balanceOf", v)
        per_sleeve = [
            (r.call(sl, "units"), r.call(s.router, "tryPrice", token),
             r.call(token, "balanceOf", sl), r.call(token, "decimals"))
            for sl, token in zip(s.sleeves, s.tokens, strict=False)
        ]  # fmt: skip
        cash, debt, book_held = (r.call(s.book, "cash"), r.call(s.book, "totalDebt"),
                                 r.call(s.asset, "balanceOf", s.book))  # fmt: skip
        r.fetch()
        parts = [p.value for p in parts]
        locked, until = lock.value
        assert (locked, until) == (self._locked(self.now), self.lock[2]), (locked, self.lock)
        assert total.value == max(idle.value + sum(parts) - locked, 0)
        pending, reserved = pending.value, reserved.value
        assert pending == self._pending_deposits()
        assert idle.value == held.value - pending - reserved
        for (units, priced, balance, decimals), value in zip(per_sleeve, parts, strict=False):
            units, (price, _) = units.value, priced.value
            assert balance.value == units
            assert value == units * price * USDC // (WAD * 10**decimals.value)
        cash, debt = cash.value, debt.value
        assert parts[3] == cash + debt and book_held.value >= cash

    @invariant()
    def shares_are_accounted_for(self):
        """2: Σ balances + the vault's escrow == totalSupply; the escrow holds the shares of
        pending redemptions and the settled deposit shares not yet claimed (plus the per-claim
        rounding dust, at most a share per controller and strike); the vault holds at least
        the pending deposits and the reserved redemption assets."""
        s, v = self.s, self.s.vault
        cs = [c.address.lower() for c in s.controllers()]
        r = Reads()
        escrow, supply = r.call(v, "balanceOf", v), r.call(v, "totalSupply")
        held = [r.call(v, "balanceOf", h) for h in s.holders()]
        redeeming, reserved = r.call(v, "pendingRedemptions"), r.call(v, "claimableRedemptions")
        unclaimed = [r.call(v, "maxMint", c) for c in cs]
        requested = [r.call(v, "pendingRedeemRequest", 0, c) for c in cs]
        withdrawable = [r.call(v, "maxWithdraw", c) for c in cs]
        assets, pending = r.call(s.asset, "balanceOf", v), r.call(v, "pendingDeposits")
        r.fetch()
        escrow, supply, redeeming = escrow.value, supply.value, redeeming.value
        assert sum(h.value for h in held) + escrow == supply
        unclaimed = sum(u.value for u in unclaimed)
        dust = escrow - redeeming - unclaimed
        assert 0 <= dust <= self.dust_bound, (escrow, redeeming, unclaimed)
        assert 0 <= sum(q.value for q in requested) - redeeming <= len(cs)
        reserved = reserved.value
        assert reserved >= sum(w.value for w in withdrawable)
        # Conservation: no share minted or burned but by a strike, as it reported; the assets
        # reserved are what strikes set aside less what claims paid, to the wei.
        assert supply == self.supply, (supply, self.supply)
        assert reserved == self.reserved, (reserved, self.reserved)
        assert assets.value >= pending.value + reserved

    @invariant()
    def share_price_falls_only_with_losses(self):
        """3: deposits pay the high NAV (locked donations included), redemptions get the low
        NAV less locked donations and any haircut, so no flow lowers the price of those who
        stay; it falls only in a step that realised a loss (a NAV fall, bad debt) or took a
        performance fee (by at most the fee, in wei of the vault it was charged on); rounding
        is allowed `ROUNDING_WEI` wei of the smaller of the two vaults (`allowed_drop`)."""
        totals = self._totals()
        drop = share_price_drop(self.totals, totals, OFFSET)
        if drop and not self.loss:
            allowed = allowed_drop(self.totals, totals, OFFSET, self.fee_drop, ROUNDING_WEI)
            assert drop <= allowed, (drop, allowed, self.fee_drop, self.totals, totals)
            event("price: rounding or fee drop")
        self.totals, self.loss, self.fee, self.fee_drop = totals, False, 0, 0

    @invariant()
    def no_claim_pays_more_than_was_settled(self):
        """4: per controller, claimed + claimable deposit assets == what strikes settled, and
        the shares within the settled price's rounding (less one share for each part claimed in
        place: IRWAVault, rounding); redemptions: claimed + claimable shares
        == what strikes filled, and the assets at most the fill at the strike's price."""
        v, r = self.s.vault, Reads()
        cs = [x.address.lower() for x in self.s.controllers()]
        views = ("maxDeposit", "maxMint", "maxRedeem", "maxWithdraw")
        maxima = {c: [r.call(v, view, c) for view in views] for c in cs}
        r.fetch()
        for c in cs:
            deposit, mint, redeem, withdraw = (m.value for m in maxima[c])
            assert self.claimed_assets[c] + deposit == self.settled_assets[c]
            shares = self.claimed_shares[c] + mint
            assert self.settled_shares_lo[c] <= shares <= self.settled_shares_hi[c], c
            assert self.redeemed[c] + redeem == self.filled[c], c
            assert self.paid[c] + withdraw <= self.owed_hi[c], c

    @invariant()
    def searcher_never_gains_from_a_round_it_saw_coming(self):
        """9: over every round trip, the searcher got back at most what it paid (pro rata to
        what was filled) and its share of interest (checked exactly in the rule)."""
        for got, bound in self.searcher_rounds:
            assert got <= bound, (got, bound)

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
        """6, with the health the book reports: a position reading health >= 1 is refused
        (HealthyPosition, or the seized token's missing price). The loans fall due when the
        model says; from then every position with debt reads health 0 and a whole liquidation
        on any of its collateral is never refused HealthyPosition (only for a missing price or
        the liquidator's cash)."""
        s = self.s
        stale = {"StalePrice"} if self._stale() else set()
        r = Reads()
        due_at = r.call(s.book, "loansDueAt")
        health = {b: r.call(s.book, "healthFactor", b) for b in s.borrowers}
        position = {b: r.call(s.book, "positionOf", b) for b in s.borrowers}
        r.fetch()
        assert due_at.value == self.due_at
        due = self._due()
        due_refusals, healthy_refusals = [], []
        for b in s.borrowers:
            if due and health[b].value != MAX_UINT:
                assert health[b].value == 0, health[b].value
                due_refusals += [
                    s.queue_refusal(r, s.book, "liquidate", b, token, MAX_UINT, sender=s.keeper)
                    for token in position[b].value.tokens
                ]
                continue
            if health[b].value < WAD:
                continue
            healthy_refusals += [
                s.queue_refusal(r, s.book, "liquidate", b, token, MAX_UINT, sender=s.keeper)
                for token in position[b].value.tokens
            ]
        if due_refusals or healthy_refusals:  # calls on the pending block, at the model's now
            chain.pending_timestamp = self.now
            r.fetch()
        for refused in due_refusals:
            outcome = refused.value
            assert outcome in {None, "ERC20InsufficientBalance", "StalePrice",
                               "FutureRound", "InvalidPrice"}, outcome  # fmt: skip
        for refused in healthy_refusals:
            outcome = refused.value
            assert outcome in {"HealthyPosition", "NoDebt", *stale}, outcome

    @invariant()
    def the_lent_cash_comes_back(self):
        """Once the called loans are due and liquidated (no debt left), the book's whole value is
        cash and fresh whatever its collaterals' feeds say, so strikes pay it out: strikeValuation
        == (value, value, now, fresh) and availableLiquidity == totalAssets. Every full exit
        (`everyone_leaves`) paid each controller at least its shares' and filled claims' worth
        at the start (less its part of a fee and `ROUNDING_WEI` a strike), and what all were
        paid plus what the vault kept equals what it held, within that rounding."""
        book = self.s.book
        if self._due() and book.call("totalDebt") == 0:
            value = book.call("totalAssets")
            assert tuple(book.call("strikeValuation")) == (value, value, self.now, True)
            assert book.call("availableLiquidity") == value
        for who, paid, floor in self.exits:
            assert paid >= floor, (who, paid, floor)
        for held, accounted, rounding in self.exit_totals:
            assert abs(held - accounted) <= rounding, (held, accounted)

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
        s, r = self.s, Reads()
        guardian = [r.call(raw, "balanceOf", s.guardian) for raw in (s.asset, s.vault, *s.tokens)]
        wallets = {bot: r.call(s.asset, "balanceOf", bot) for bot in s.bots}
        tokens = {bot: [r.call(t, "balanceOf", bot) for t in s.tokens] for bot in s.bots}
        r.fetch()
        for held in guardian:
            assert held.value == 0
        for bot in s.bots:
            assert wallets[bot].value == self.wallets[bot.address]
            assert all(t.value == 0 for t in tokens[bot])


DEEP = settings.default.max_examples >= 100  # HYPOTHESIS_PROFILE=deep
SystemMachine.TestCase.settings = settings(
    # SYSTEM_MACHINE_EXAMPLES bounds a run (a timed deep run, say); else ci 8, deep 400.
    max_examples=int(os.environ.get("SYSTEM_MACHINE_EXAMPLES", 400 if DEEP else 8)),
    stateful_step_count=60 if DEEP else 30,
    deadline=None,
    report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    # SYSTEM_MACHINE_NO_SHRINK=1: report the first failure as found (a quick look while
    # changing the machine; shrinking one costs minutes here).
    phases=[p for p in Phase if p != Phase.shrink or not os.getenv("SYSTEM_MACHINE_NO_SHRINK")],
)
TestSystemStateMachine = SystemMachine.TestCase
