"""Property: after any sequence of accepted updates every link of the registry holds.

A hypothesis state machine drives one registry holding gold's LTV, threshold and bonus, the idle
buffer and two sleeve caps, the evaluation window and the rebalance cooldown (at most 120 of them
to a window), linked as deploy links them, through random `set`, `stewardSet`,
`setBatch` and `stewardSetBatch` calls (values near the links' edges half the time) and time
jumps. For every call: `checkBatch` predicts the outcome exactly (a refused call reverts with the
predicted error, an accepted one is sent and succeeds); when only links can refuse it, a Python
evaluation of the links agrees; an accepted batch kept every entry within its step of the value
before the batch. After every step, every link holds on the chain's values.

Calls are first run as raw `eth_call`s on the pending block (as tests/invariants/
test_registry_properties.py does): only accepted ones become transactions.
"""

from __future__ import annotations

from ape import accounts, chain, project
from eth_abi import decode
from eth_utils import keccak
from hexbytes import HexBytes
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from ballast.params import LinkView, link_holds

BPS = 10_000
DAY = 86_400
NAMES = ("lend.ltvBps.gold", "lend.liqThresholdBps.gold", "lend.liqBonusBps.gold",
         "vault.idleBufferBps", "vault.maxSleeveBps.a", "vault.maxSleeveBps.b",
         "agent.evalWindow", "vault.rebalanceCooldown")  # fmt: skip
RATIO = 120  # deploy's MAX_DECISIONS_PER_WINDOW
KEYS = [keccak(text=n) for n in NAMES]
RULES = {  # name: (value, min, max)
    NAMES[0]: (7_000, 0, 9_500), NAMES[1]: (7_500, 5_000, 9_500), NAMES[2]: (800, 100, 3_000),
    NAMES[3]: (500, 100, 5_000), NAMES[4]: (6_000, 0, 9_000), NAMES[5]: (4_000, 0, 9_000),
    NAMES[6]: (3 * DAY, DAY, 30 * DAY), NAMES[7]: (3_600, 600, DAY),
}  # fmt: skip
LINKS = [
    LinkView(1, NAMES[0:2], 0),
    LinkView(2, NAMES[1:3], BPS),
    LinkView(3, NAMES[3:6], BPS),
    LinkView(4, NAMES[6:8], RATIO),
]
VALUE_RULES = {keccak(text=sig)[:4] for sig in (
    "UnknownParameter(bytes32)", "ParameterFrozen(bytes32)", "StewardDisabled(bytes32)",
    "OutOfBounds(bytes32,uint256,uint256,uint256)", "StepTooLarge(bytes32,uint256,uint256,uint16)",
    "Cooldown(bytes32,uint256)", "DuplicateKey(bytes32)",
)}  # fmt: skip
LINK_VIOLATED = keccak(text="LinkViolated(bytes32,bytes32,uint8)")[:4]
OK = b"\x00" * 4


class LinkMachine(RuleBasedStateMachine):
    @initialize()
    def deploy(self):
        self.gov, self.steward = accounts.test_accounts[0], accounts.test_accounts[1]
        self.snapshot = chain.snapshot()
        reg = self.registry = self.gov.deploy(project.ParameterRegistry, self.gov)
        reg.grantRole(reg.STEWARD_ROLE(), self.steward, sender=self.gov)
        for name, (value, low, high) in RULES.items():
            # governance: 25 % steps, no cooldown; steward: 3 % every day
            reg.defineParameter(name, value, low, high, 2_500, 0, sender=self.gov)
            reg.setStewardLimits(keccak(text=name), 300, DAY, sender=self.gov)
        for link in LINKS:
            reg.addLink(
                link.rule, [keccak(text=n) for n in link.names], link.bound, sender=self.gov
            )
        self.now = chain.blocks.head.timestamp

    def teardown(self):
        chain.restore(self.snapshot)

    def _values(self) -> dict[str, int]:
        return {n: self.registry.get(k) for n, k in zip(NAMES, KEYS, strict=True)}

    def _eth_call(self, calldata, sender) -> tuple[bool, HexBytes]:
        call = {"to": self.registry.address, "data": HexBytes(calldata).to_0x_hex(),
                "from": sender.address}  # fmt: skip
        response = chain.provider.web3.provider.make_request("eth_call", [call, "pending"])
        if "error" in response:
            return False, HexBytes(response["error"].get("data") or b"")
        return True, HexBytes(response["result"])

    def _draw_value(self, data, name: str, values: dict[str, int]) -> int:
        """Near the current value, or on either side of a link's edge."""
        v = values
        edges = {
            NAMES[0]: [v[NAMES[1]] - 1, v[NAMES[1]]],
            NAMES[1]: [v[NAMES[0]], v[NAMES[0]] + 1, BPS * BPS // (BPS + v[NAMES[2]]),
                       BPS * BPS // (BPS + v[NAMES[2]]) + 1],
            NAMES[2]: [BPS * BPS // v[NAMES[1]] - BPS, BPS * BPS // v[NAMES[1]] - BPS + 1],
            NAMES[6]: [RATIO * v[NAMES[7]], RATIO * v[NAMES[7]] + 1],
            NAMES[7]: [-(-v[NAMES[6]] // RATIO) - 1, -(-v[NAMES[6]] // RATIO)],
        }.get(name, [])  # fmt: skip
        if name in NAMES[3:6]:
            rest = sum(v[n] for n in NAMES[3:6] if n != name)
            edges = [BPS - rest - 1, BPS - rest]
        current = v[name]
        near = st.integers(max(0, current - current // 10 - 5), current + current // 10 + 5)
        return data.draw(near | st.sampled_from([e for e in edges if e >= 0] or [current]),
                         label=name)  # fmt: skip

    @rule(
        data=st.data(), steward=st.booleans(), size=st.integers(1, 3), wait=st.integers(0, 2 * DAY)
    )
    def update(self, data, steward, size, wait):
        self.now += 1 + wait
        chain.pending_timestamp = self.now
        before = self._values()
        names = data.draw(
            st.lists(st.sampled_from(NAMES), min_size=size, max_size=size), label="keys"
        )
        changes = [(n, self._draw_value(data, n, before)) for n in names]
        keys = [keccak(text=n) for n, _ in changes]
        vals = [value for _, value in changes]
        refs = {n: self.registry.getParam(keccak(text=n)) for n in set(names)}

        ok, reason, _, link = decode(
            ["bool", "bytes4", "bytes32", "uint256"],
            self._eth_call(self.registry.checkBatch.encode_input(keys, vals, steward), self.gov)[1],
        )
        if len(set(names)) == len(names) and reason not in VALUE_RULES:
            after = before | dict(changes)
            broken = [i for i, lk in enumerate(LINKS) if not link_holds(lk, after)]
            # the registry reports the first broken link of the first key (in batch order)
            touched = [i for n in names for i in broken if n in LINKS[i].names]
            assert (reason == LINK_VIOLATED) == bool(touched), (changes, reason, broken)
            assert not touched or link == touched[0]

        single = size == 1 and data.draw(st.booleans(), label="single call")
        sender = self.steward if steward else self.gov
        if single:
            method = self.registry.stewardSet if steward else self.registry.set
            args = (keys[0], vals[0])
        elif steward:
            method, args = self.registry.stewardSetBatch, (keys, vals, OK * 8, "ipfs://x")
        else:
            method, args = self.registry.setBatch, (keys, vals)
        passed, output = self._eth_call(method.encode_input(*args), sender)
        assert passed == ok, (changes, reason, output)
        if not passed:
            assert bytes(output[:4]) == reason, (changes, reason, output)
            event(f"refused: {'link' if reason == LINK_VIOLATED else 'value rule'}")
            return
        event(f"accepted ({'steward' if steward else 'governance'}, {size} keys)")
        method(*args, sender=sender)
        for name, value in changes:  # every step measured from the value before the batch
            p = refs[name]
            origin, step = (
                (p.value, p.stewardStepBps) if steward else (p.governanceValue, p.maxStepBps)
            )
            assert abs(value - origin) * BPS <= step * (origin or p.max)

    @invariant()
    def every_link_holds(self):
        if hasattr(self, "registry"):
            values = self._values()
            for link in LINKS:
                assert link_holds(link, values), (link, values)


LinkMachine.TestCase.settings = settings(
    max_examples=max(10, settings.default.max_examples // 10),
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestLinkProperties = LinkMachine.TestCase
