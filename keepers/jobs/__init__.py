"""The keepers' jobs, decision part: pure planners from what a job read to what it should send.

Each module defines small frozen input dataclasses (what the job reads from the chain) and one
planning function returning typed calls to make and typed skips with their reasons. No chain
I/O here: the imperative shell (snapshot reads, the transaction sender) wires them up.

- `liquidator.plan_liquidations`: every unhealthy borrower, best collateral, profit after gas.
- `evaluator.plan_evaluator`: `evaluate(id)` of due decisions, `executeSlash(id)` past the veto.
- `redeemer.plan_redeem`: `processRedeemQueue(maxRequests)` when `redeemQueueTrigger` says so.
- `sentinel.watch`: oracle staleness/deviation, NAV drops, unhealthy debt; alerts and a
  hysteretic `pauseAutomation` decision (only with the guardian key); `sentinel.plan_pokes`:
  which feeds to `poke` so the router's reference stays meaningful.
- `rebalancer.plan_rebalance`: chain state → `keepers.strategy.decide` → `rebalance` arguments.
"""

from __future__ import annotations

from keepers.jobs.evaluator import (
    EvaluatorAction,
    EvaluatorPlan,
    EvaluatorSkip,
    OpenDecision,
    PendingSlash,
    plan_evaluator,
)
from keepers.jobs.liquidator import (
    Borrower,
    LiquidationPlan,
    LiquidationSkip,
    LiquidatorReport,
    LiquidatorSettings,
    plan_liquidations,
)
from keepers.jobs.rebalancer import (
    FUTILE_BPS,
    RETRY_AFTER,
    LendingSnapshot,
    RebalanceCall,
    RebalancerSnapshot,
    RebalanceSkip,
    SleeveSnapshot,
    futile_repeat,
    plan_rebalance,
    rationale_uri,
    strategy_inputs,
)
from keepers.jobs.redeemer import (
    RedeemCall,
    RedeemerSettings,
    RedeemSkip,
    RedeemTrigger,
    decode_redeem_trigger,
    plan_redeem,
)
from keepers.jobs.sentinel import (
    Alert,
    OracleState,
    PokePlan,
    SentinelSettings,
    SentinelState,
    SentinelVerdict,
    VaultHealth,
    plan_pokes,
    watch,
)

__all__ = [
    "FUTILE_BPS",
    "RETRY_AFTER",
    "Alert",
    "Borrower",
    "EvaluatorAction",
    "EvaluatorPlan",
    "EvaluatorSkip",
    "LendingSnapshot",
    "LiquidationPlan",
    "LiquidationSkip",
    "LiquidatorReport",
    "LiquidatorSettings",
    "OpenDecision",
    "OracleState",
    "PendingSlash",
    "PokePlan",
    "RebalanceCall",
    "RebalanceSkip",
    "RebalancerSnapshot",
    "RedeemCall",
    "RedeemSkip",
    "RedeemTrigger",
    "RedeemerSettings",
    "SentinelSettings",
    "SentinelState",
    "SentinelVerdict",
    "SleeveSnapshot",
    "VaultHealth",
    "decode_redeem_trigger",
    "plan_evaluator",
    "plan_liquidations",
    "plan_pokes",
    "futile_repeat",
    "plan_rebalance",
    "plan_redeem",
    "rationale_uri",
    "strategy_inputs",
    "watch",
]
