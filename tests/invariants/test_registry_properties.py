"""ParameterRegistry against a Python model of IParameterRegistry's rules.

A hypothesis state machine deploys a registry per run, defines a few parameters with random
rules (and, most runs, `registry.maxFreezePeriod`, a short freeze period that the machine also
changes), then applies random set / stewardSet / setBounds (a value left outside new bounds is
moved to the nearest one) / setStewardLimits / freeze / unfreeze calls and time jumps. Every
call may succeed or revert; the model decides which, `check` must agree, and after every step
each parameter on chain must equal its model (so within bounds). The model keeps governance's
own history apart (its step counts from the value of its last update, its cooldown from that
update; the steward's from any update), and freezes that expire after the period and may be
renewed only one period after they ended.

Time is explicit: before each call the model clock advances by at least one second and
`chain.pending_timestamp` makes the next block run at exactly that time, so the model, `check`
and the transaction all see the same `block.timestamp` (calls are made on the pending block).

Speed: every call is first executed as a raw `eth_call` on that pending block, by the same
sender with the same calldata. When it reverts, its error selector is the outcome (Ape traces
each reverted transaction, ~0.2 s apiece); when it passes, the real transaction is sent through
Ape and must succeed. Views are raw `eth_call`s too. tests/contracts/test_parameter_registry.py
covers every revert through real transactions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from ape import accounts, chain, project
from ape.exceptions import ContractLogicError
from eth_abi import decode
from eth_utils import keccak
from hexbytes import HexBytes
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

BPS = 10_000
ZERO_REASON = b"\x00" * 4
UNKNOWN = keccak(text="never.defined")
SIGNATURES = [
    "UnknownParameter(bytes32)",
    "ParameterFrozen(bytes32)",
    "StewardDisabled(bytes32)",
    "OutOfBounds(bytes32,uint256,uint256,uint256)",
    "StepTooLarge(bytes32,uint256,uint256,uint16)",
    "Cooldown(bytes32,uint256)",
    "InvalidBounds(uint256,uint256)",
    "InvalidStep(uint16)",
    "StewardLimitsTooLoose(bytes32,uint16,uint32)",
    "FreezeTooSoon(bytes32,uint256)",
    "AccessControlUnauthorizedAccount(address,bytes32)",
]
ERROR_OF_SELECTOR = {keccak(text=sig)[:4]: sig.split("(")[0] for sig in SIGNATURES}
PARAM_TYPES = (
    "(uint256,uint256,uint256,uint256,uint16,uint32,uint64,uint64,uint16,uint32,uint64,bool)"
)
MAX_FREEZE = keccak(text="registry.maxFreezePeriod")
UINT64_MAX = 2**64 - 1


# ------------------------------------------------------------------ the model (pure functions)


@dataclass(frozen=True)
class Param:
    value: int
    min: int
    max: int
    step: int  # maxStepBps, 0 = unlimited
    cooldown: int
    last_update: int  # anyone's last update
    steward_step: int = 0  # 0 = steward disabled
    steward_cooldown: int = 0
    frozen_until: int = 0  # frozen while now < frozen_until
    governance_value: int = 0  # the value of governance's last update: its step reference
    last_governance_update: int = 0

    @classmethod
    def defined(cls, value, min_, max_, step, cooldown, now) -> Param:
        return cls(value, min_, max_, step, cooldown, now, governance_value=value,
                   last_governance_update=now)  # fmt: skip

    def frozen(self, now: int) -> bool:
        return now < self.frozen_until

    def step_from(self, steward: bool) -> int:
        # governance's own last value, brought into the bounds (new bounds may leave it outside)
        return self.value if steward else min(max(self.governance_value, self.min), self.max)


def freezable_at(p: Param, period: int) -> int:
    """0 if never frozen, else one (capped) period after the freeze ended."""
    return 0 if p.frozen_until == 0 else p.frozen_until + min(period, UINT64_MAX)


def within_step(old: int, new: int, max_: int, step_bps: int) -> bool:
    """|new - old| * 10_000 <= step * ref, ref = old or max when old is 0; step 0 = any."""
    ref = old if old != 0 else max_
    return step_bps == 0 or abs(new - old) * BPS <= step_bps * ref


def ready_at(p: Param, steward: bool) -> int:
    if steward:
        return p.last_update + p.steward_cooldown
    return p.last_governance_update + p.cooldown


def update_violations(p: Param | None, value: int, steward: bool, now: int) -> set[str]:
    """Every rule an update to `value` at `now` breaks (empty: it must succeed)."""
    if p is None:
        return {"UnknownParameter"}
    broken = set()
    if p.frozen(now):
        broken.add("ParameterFrozen")
    if steward and p.steward_step == 0:
        broken.add("StewardDisabled")
    if not p.min <= value <= p.max:
        broken.add("OutOfBounds")
    step = p.steward_step if steward else p.step
    if not within_step(p.step_from(steward), value, p.max, step):
        broken.add("StepTooLarge")
    if now < ready_at(p, steward):
        broken.add("Cooldown")
    return broken


def steward_too_loose(steward_step: int, steward_cooldown: int, step: int, cooldown: int) -> bool:
    if steward_step == 0:
        return False  # disabled: nothing to compare
    return (step != 0 and steward_step > step) or steward_cooldown <= cooldown


def bounds_violations(
    p: Param | None, min_: int, max_: int, step: int, cooldown: int, now: int
) -> set[str]:
    """A value outside the new range is moved to the nearest bound (`clamped`): an update,
    refused while the key is frozen."""
    if p is None:
        return {"UnknownParameter"}
    broken = set()
    if min_ > max_:
        broken.add("InvalidBounds")
    if step > BPS:
        broken.add("InvalidStep")
    if steward_too_loose(p.steward_step, p.steward_cooldown, step, cooldown):
        broken.add("StewardLimitsTooLoose")
    if not min_ <= p.value <= max_ and p.frozen(now):
        broken.add("ParameterFrozen")
    return broken


def clamped(value: int, min_: int, max_: int) -> int:
    return min(max(value, min_), max_)


def steward_limit_violations(p: Param | None, steward_step: int, steward_cooldown: int) -> set[str]:
    if p is None:
        return {"UnknownParameter"}
    broken = set()
    if steward_step > BPS:
        broken.add("InvalidStep")
    if steward_too_loose(steward_step, steward_cooldown, p.step, p.cooldown):
        broken.add("StewardLimitsTooLoose")
    return broken


def candidate_values(p: Param, step: int, origin: int) -> st.SearchStrategy[int]:
    """Values that land on every side of the bounds and of the step limit around `origin`
    (the step's reference), and near the live value."""
    ref = origin or p.max
    limit = ref * step // BPS if step else p.max
    edges = {p.min, p.max, p.max + 1, 0, p.value, origin}
    edges |= {origin + d for d in (limit, limit + 1, -limit, -limit - 1)}
    if p.min:
        edges.add(p.min - 1)
    low, high = max(p.min, origin - limit), min(p.max, origin + limit)
    allowed = st.integers(low, high) if low <= high else st.integers(p.min, p.max)
    return st.one_of(
        allowed,
        allowed,  # twice: half the draws pass bounds and step
        st.sampled_from(sorted(v for v in edges if v >= 0)),
        st.integers(max(0, origin - limit - 2), origin + limit + 2),
        st.integers(p.min, p.max),
    )


# ------------------------------------------------------------------ the state machine

STEPS = st.one_of(st.just(0), st.integers(1, BPS), st.integers(BPS + 1, 12_000))
COOLDOWNS = st.integers(0, 120)


class RegistryMachine(RuleBasedStateMachine):
    @initialize(data=st.data(), count=st.integers(1, 3), freezes=st.integers(0, 4))
    def deploy(self, data, count, freezes):
        self.gov, self.steward, self.guardian = accounts.test_accounts[:3]
        self.registry = self.gov.deploy(project.ParameterRegistry, self.gov)
        self.registry.grantRole(self.registry.STEWARD_ROLE(), self.steward, sender=self.gov)
        self.registry.grantRole(self.registry.GUARDIAN_ROLE(), self.guardian, sender=self.gov)
        self.now = chain.blocks.head.timestamp
        self.params: dict[bytes, Param] = {}
        if freezes:  # else (one run in five) no freeze is possible: UnknownParameter
            period = data.draw(st.integers(0, 150), label="maxFreezePeriod")
            step = data.draw(st.integers(0, BPS), label="maxFreezePeriod step")
            cooldown = data.draw(COOLDOWNS, label="maxFreezePeriod cooldown")
            now = self._tick()
            self.registry.defineParameter(
                "registry.maxFreezePeriod", period, 0, 300, step, cooldown, sender=self.gov
            )
            self.params[MAX_FREEZE] = Param.defined(period, 0, 300, step, cooldown, now)
        for i in range(count):
            low = data.draw(st.one_of(st.just(0), st.integers(0, 1_000)), label="min")
            high = low + data.draw(st.integers(0, 10_000), label="span")
            value = data.draw(st.one_of(st.just(low), st.integers(low, high)), label="value")
            step = data.draw(st.integers(0, BPS), label="maxStepBps")
            cooldown = data.draw(COOLDOWNS, label="cooldown")
            now = self._tick()
            receipt = self.registry.defineParameter(
                f"p{i}", value, low, high, step, cooldown, sender=self.gov
            )
            assert receipt.timestamp == now
            key = receipt.return_value
            self.params[key] = Param.defined(value, low, high, step, cooldown, now)
            self._set_steward_limits(
                key,
                data.draw(st.integers(1, step or BPS), label="stewardStepBps"),
                cooldown + data.draw(COOLDOWNS, label="extra steward cooldown"),
            )

    # -------------------------------------------------------------- helpers

    def _tick(self) -> int:
        """Advance the clock; the next block (calls on "pending", transactions) runs at it."""
        self.now += 1
        chain.pending_timestamp = self.now
        return self.now

    def _pick(self, data) -> tuple[bytes, Param | None]:
        """A defined key, or (one time in ten) a key never defined."""
        unknown = data.draw(st.integers(0, 9), label="unknown?") == 0
        key = UNKNOWN if unknown else data.draw(st.sampled_from(list(self.params)), label="key")
        return key, self.params.get(key)

    def _eth_call(self, calldata, sender=None, block="pending") -> tuple[bool, HexBytes]:
        """(passed, return data or revert data), without Ape's or web3's per-call overhead."""
        call = {"to": self.registry.address, "data": HexBytes(calldata).to_0x_hex()}
        if sender is not None:
            call["from"] = sender.address
        response = chain.provider.web3.provider.make_request("eth_call", [call, block])
        if "error" in response:
            return False, HexBytes(response["error"].get("data") or b"")
        return True, HexBytes(response["result"])

    def _transact(self, broken: set[str], method, *args, sender):
        """Assert the call passes iff the model finds no broken rule, else that it reverts with
        one of those rules' errors; on a pass, send it. Returns the receipt, or None."""
        name = method.abis[0].name
        passed, output = self._eth_call(method.encode_input(*args), sender)
        if not passed:
            error = ERROR_OF_SELECTOR.get(bytes(output[:4]), output.to_0x_hex())
            event(f"{name}: {error}")
            assert error in broken, f"{name}{args} reverted {error}; model: {broken or 'ok'}"
            return None
        assert not broken, f"{name}{args} passed; model expected one of {broken}"
        event(f"{name}: ok")
        try:
            receipt = method(*args, sender=sender)
        except ContractLogicError as err:
            raise AssertionError(f"{name}{args} passed as a call, reverted as a tx") from err
        assert receipt.timestamp == self.now
        return receipt

    def _set_steward_limits(self, key, steward_step, steward_cooldown):
        p = self.params.get(key)
        self._tick()
        broken = steward_limit_violations(p, steward_step, steward_cooldown)
        method = self.registry.setStewardLimits
        if self._transact(broken, method, key, steward_step, steward_cooldown, sender=self.gov):
            self.params[key] = replace(
                p, steward_step=steward_step, steward_cooldown=steward_cooldown
            )

    def _period(self) -> int | None:
        """registry.maxFreezePeriod as the model has it (None: undefined)."""
        p = self.params.get(MAX_FREEZE)
        return None if p is None else p.value

    def _update(self, data, steward: bool):
        key, p = self._pick(data)
        step = (p.steward_step if steward else p.step) if p else 0
        values = candidate_values(p, step, p.step_from(steward)) if p else st.integers(0, 10)
        value = data.draw(values, label="value")
        # land on either side of readyAt now and then, else anywhere
        until_ready = ready_at(p, steward) - self.now - 1 if p else 0
        until_thawed = p.frozen_until - self.now - 1 if p else 0
        marks = (until_ready - 1, until_ready, until_thawed - 1, until_thawed)
        edges = [d for d in marks if d >= 0]
        delays = st.sampled_from(edges) if edges else st.just(0)
        self.now += data.draw(delays | st.just(0) | st.integers(0, 250), label="delay")
        now = self._tick()
        broken = update_violations(p, value, steward, now)

        check = self.registry.check.encode_input(key, value, steward)
        ok, reason = decode(["bool", "bytes4"], self._eth_call(check)[1])
        assert ok == (not broken), f"check says {ok}, model broke {broken}"
        expected_reasons = {s for s, e in ERROR_OF_SELECTOR.items() if e in broken}
        assert reason in (expected_reasons or {ZERO_REASON})

        method = self.registry.stewardSet if steward else self.registry.set
        sender = self.steward if steward else self.gov
        receipt = self._transact(broken, method, key, value, sender=sender)
        if receipt is None:
            return
        # independent of the model's verdict: the accepted update honoured freeze, cooldown and
        # step (governance's from its own last value brought into the bounds a re-bound may have
        # moved, the steward's from the live value)
        assert now >= ready_at(p, steward) and now >= p.frozen_until
        step = p.steward_step if steward else p.step
        assert within_step(p.step_from(steward), value, p.max, step)
        (log,) = receipt.events.filter(self.registry.ParameterSet)
        assert (log.oldValue, log.newValue, log.by) == (p.value, value, sender.address)
        p = replace(p, value=value, last_update=now)
        if not steward:
            p = replace(p, governance_value=value, last_governance_update=now)
        self.params[key] = p

    # -------------------------------------------------------------- rules

    @rule(data=st.data())
    def set(self, data):
        self._update(data, steward=False)

    @rule(data=st.data())
    def steward_set(self, data):
        self._update(data, steward=True)

    @rule(data=st.data(), step=STEPS, cooldown=COOLDOWNS)
    def set_bounds(self, data, step, cooldown):
        key, p = self._pick(data)
        value = p.value if p else 0  # bounds around it, on it, or just past it
        edges = st.sampled_from([0, max(0, value - 1), value, value + 1])
        low = data.draw(edges | st.integers(max(0, value - 2_000), value), label="min")
        high = data.draw(edges | st.integers(value, value + 20_000), label="max")
        now = self._tick()
        broken = bounds_violations(p, low, high, step, cooldown, now)
        args = (key, low, high, step, cooldown)
        receipt = self._transact(broken, self.registry.setBounds, *args, sender=self.gov)
        if receipt is None:
            return
        p = replace(p, min=low, max=high, step=step, cooldown=cooldown)
        moved = [
            (log.oldValue, log.newValue)
            for log in receipt.events.filter(self.registry.ParameterSet)
        ]
        if low <= p.value <= high:
            assert moved == []
        else:  # moved to the nearest bound, as an update (governance's history untouched)
            event("setBounds: value moved to the nearest bound")
            assert moved == [(p.value, clamped(p.value, low, high))]
            p = replace(p, value=clamped(p.value, low, high), last_update=now)
        self.params[key] = p

    @rule(data=st.data(), steward_step=STEPS, steward_cooldown=st.integers(0, 240))
    def set_steward_limits(self, data, steward_step, steward_cooldown):
        key, _ = self._pick(data)
        self._set_steward_limits(key, steward_step, steward_cooldown)

    @rule(data=st.data(), freeze=st.sampled_from([True, True, False]))
    def freeze_or_unfreeze(self, data, freeze):
        key, p = self._pick(data)
        period = self._period()
        # land on either side of the freeze's end and of the next freeze's start now and then
        marks = (p.frozen_until, freezable_at(p, period or 0)) if p else ()
        edges = [m - self.now - d for m in marks for d in (1, 2)]
        edges = [e for e in edges if 0 <= e <= 400]
        delays = st.sampled_from(edges) if edges else st.just(0)
        self.now += data.draw(delays | st.just(0) | st.integers(0, 200), label="delay")
        now = self._tick()
        if freeze:
            if p is None or period is None:
                broken = {"UnknownParameter"}
            elif now < freezable_at(p, period):
                broken = {"FreezeTooSoon"}
            else:
                broken = set()
            receipt = self._transact(broken, self.registry.freeze, key, sender=self.guardian)
            if receipt is None:
                return
            until = min(now + min(period, UINT64_MAX), UINT64_MAX)
            (log,) = receipt.events.filter(self.registry.Frozen)
            assert (log.key, log.frozenUntil) == (key, until)
            self.params[key] = replace(p, frozen_until=until)
            return
        broken = set() if p else {"UnknownParameter"}
        receipt = self._transact(broken, self.registry.unfreeze, key, sender=self.gov)
        if receipt is None:
            return
        lifted = list(receipt.events.filter(self.registry.Unfrozen))
        assert len(lifted) == int(p.frozen(now))  # an unfrozen key is left as it is
        if lifted:
            self.params[key] = replace(p, frozen_until=now)

    @rule(seconds=st.one_of(st.integers(0, 130), st.integers(0, 100_000)))
    def wait(self, seconds):
        self.now += seconds

    # -------------------------------------------------------------- invariants

    @invariant()
    def chain_matches_model(self):
        for key, p in self.params.items():
            passed, output = self._eth_call(
                self.registry.getParam.encode_input(key), block="latest"
            )
            assert passed
            ((value, low, high, *rest),) = decode([PARAM_TYPES], output)
            assert low <= value <= high
            assert (value, low, high, *rest) == (
                p.value,
                p.min,
                p.max,
                p.governance_value,
                p.step,
                p.cooldown,
                p.last_update,
                p.last_governance_update,
                p.steward_step,
                p.steward_cooldown,
                p.frozen_until,
                True,  # exists
            )
            passed, output = self._eth_call(
                self.registry.freezeStatus.encode_input(key), block="latest"
            )
            assert passed
            (_, frozen_until, freezable) = decode(["bool", "uint64", "uint256"], output)
            period = self._period()
            expected = freezable_at(p, period) if period is not None else 0
            assert (frozen_until, freezable) == (p.frozen_until, expected)


RegistryMachine.TestCase.settings = settings(
    # REGISTRY_MACHINE_EXAMPLES bounds a timed deep run; else ci 25, "deep" profile: 200
    max_examples=int(
        os.environ.get("REGISTRY_MACHINE_EXAMPLES", max(25, settings.default.max_examples // 10))
    ),
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestRegistryProperties = RegistryMachine.TestCase
