"""The learned strategy's entry point for the kit: `rebalancer.strategy:
"keepers.strategy.learned:decide"` (the model and its training: `keepers.strategy.model`,
`python -m benchmarks.backtest.train`).

The statistical pipeline (`pipeline.decide`: risk-off, optimiser, bounds repair, gas gate) with
each sleeve's expected return predicted by the ridge model trained on the TRAIN families, run
with the settings the model file records. The weights' sha256 is checked against the recorded
one when this module is imported (keeper start-up): a mismatch is refused in one line
(`ModelError`; the kit says the entry point "does not import"), and the hash is part of every
receipt's strategy identity (`strategy_identity_extra`).
"""

from __future__ import annotations

from typing import Any, Final

from keepers.strategy.forecast import SleeveForecast
from keepers.strategy.inputs import StrategyInputs
from keepers.strategy.kit import Proposal
from keepers.strategy.model import Model, adjust_with, load_model, params_for
from keepers.strategy.pipeline import Decision
from keepers.strategy.pipeline import decide as pipeline_decide
from keepers.strategy.receipt import strategy_code_hash

MODEL: Final[Model] = load_model()  # refused at import (keeper start-up) when the hash differs


def strategy_identity_extra() -> str:
    """What the receipt's strategy identity adds to this module's source: the model's sha256
    and the statistical package's code hash (the pipeline it runs)."""
    return f"model sha256 {MODEL.sha256}; package {strategy_code_hash()}"


def decide(inputs: StrategyInputs) -> Any:
    """A `Proposal` (the current weights when the pipeline would not act, which the kit records
    as no action); notes: the model's hash and the expected returns it gave."""
    seen: list[float] = []

    def hook(inp: StrategyInputs, fc: tuple[SleeveForecast, ...]) -> tuple[SleeveForecast, ...]:
        out = adjust_with(MODEL, inp, fc)
        seen.extend(round(f.expected_return, 6) for f in out)
        return out

    result = pipeline_decide(inputs, params_for(MODEL.settings), hook)
    notes = {"model_sha256": MODEL.sha256, "expected_returns": seen}
    if isinstance(result, Decision):
        return Proposal(result.target_bps, f"learned: {result.reason}", notes)
    return Proposal(inputs.current_bps, f"learned: no action ({result.code}): {result.reason}",
                    notes)  # fmt: skip
