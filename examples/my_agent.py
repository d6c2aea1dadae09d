from keepers.strategy.inputs import StrategyInputs
from keepers.strategy.kit import Proposal

MONTH = 30 * 86_400


def growth(sleeve, now: int) -> float:
    h = sleeve.history
    recent = [i for t, i in zip(h.timestamps, h.indices, strict=True) if t >= now - MONTH]
    return recent[-1] / recent[0] - 1 if len(recent) > 1 else 0.0


def momentum(inputs: StrategyInputs) -> Proposal:
    scores = {s.name: growth(s, inputs.timestamp) for s in inputs.sleeves}
    best = max(range(len(inputs.sleeves)), key=lambda i: scores[inputs.sleeves[i].name])
    # weights a price move or an exit pushed past a cap or the buffer are brought back first
    target = [min(w, s.cap_bps) for w, s in zip(inputs.current_bps, inputs.sleeves, strict=True)]
    spare = 10_000 - inputs.idle_buffer_bps - sum(target)  # idle above the buffer
    if spare < 0:  # idle under the buffer: sell the largest holding
        big = max(range(len(target)), key=target.__getitem__)
        target[big] -= min(-spare, target[big])
    room = inputs.sleeves[best].cap_bps - target[best]
    target[best] += max(0, min(spare, room, inputs.max_turnover_bps))
    name = inputs.sleeves[best].name
    return Proposal(tuple(target), f"{name} grew most over 30 days", {"growth": scores})
