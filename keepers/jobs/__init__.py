"""The keepers' jobs, decision part: pure planners from what a job read to what it should send.

Each module defines small frozen input dataclasses (what the job reads from the chain) and one
planning function returning typed calls to make and typed skips with their reasons. No chain
I/O here: the imperative shell (snapshot reads, the transaction sender) wires them up.

- `liquidator.plan_liquidations`: every unhealthy borrower, best collateral, profit after gas;
  `plan_liquidation_pokes`: the pokes that confirm a fall past the band's edge a liquidation
  waits on.
- `evaluator.plan_evaluator`: `evaluate(id)` of due decisions, `executeSlash(id)` past the veto;
  `plan_evidence_pokes`: the pokes that confirm a price move a due evaluation waits on.
- `settler.plan_strike` / `plan_claims` / `plan_confirmations`: `strike()` when `strikeTrigger`
  says so, the ERC-7540 claims of controllers that made the keeper their operator (formerly the
  redeemer), and the pokes that confirm a price move a strike waits on (`unconfirmed_moves`
  says which, for the status dashboard).
- `sentinel.watch`: oracle staleness/deviation, NAV drops, unhealthy debt; alerts and a
  hysteretic `pauseAutomation` decision (only with the guardian key); `sentinel.plan_pokes`:
  which feeds to `poke` so the router's reference stays meaningful.
- `rebalancer.plan_rebalance`: chain state → `keepers.strategy.decide` → `rebalance` arguments;
  `plan_rebalance_pokes`: the pokes that confirm a price move a planned rebalance waits on.
"""

from __future__ import annotations

from keepers.jobs.evaluator import (
    EvaluatorAction,
    EvaluatorPlan,
    EvaluatorSkip,
    OpenDecision,
    PendingSlash,
    plan_evaluator,
    plan_evidence_pokes,
)
from keepers.jobs.liquidator import (
    BatchSettings,
    Borrower,
    LiquidationPlan,
    LiquidationSkip,
    LiquidatorReport,
    LiquidatorSettings,
    plan_liquidation_pokes,
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
    moved_sleeves,
    plan_rebalance,
    plan_rebalance_pokes,
    rationale_uri,
    rebalance_waits,
    stale_rebalance,
    strategy_inputs,
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
    rearm_if_pause_undone,
    watch,
    watched_share_price,
)
from keepers.jobs.settler import (
    ClaimCall,
    ClaimPlan,
    ControllerClaims,
    RefusedClaim,
    SettlerSettings,
    SettleSkip,
    StrikeCall,
    StrikeTrigger,
    decode_strike_trigger,
    futile_strike,
    merge_operator_logs,
    next_refusal,
    plan_claims,
    plan_confirmations,
    plan_strike,
    requests_wait,
    strike_wait,
    unconfirmed_moves,
    waiting_reason,
)

__all__ = [
    "FUTILE_BPS",
    "RETRY_AFTER",
    "Alert",
    "ClaimCall",
    "RefusedClaim",
    "ClaimPlan",
    "ControllerClaims",
    "BatchSettings",
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
    "SentinelSettings",
    "SentinelState",
    "SettleSkip",
    "SettlerSettings",
    "SentinelVerdict",
    "SleeveSnapshot",
    "StrikeCall",
    "StrikeTrigger",
    "VaultHealth",
    "decode_strike_trigger",
    "merge_operator_logs",
    "next_refusal",
    "plan_claims",
    "plan_confirmations",
    "plan_evaluator",
    "plan_evidence_pokes",
    "plan_liquidation_pokes",
    "plan_liquidations",
    "plan_pokes",
    "rearm_if_pause_undone",
    "futile_repeat",
    "plan_rebalance",
    "moved_sleeves",
    "plan_rebalance_pokes",
    "rebalance_waits",
    "stale_rebalance",
    "plan_strike",
    "rationale_uri",
    "requests_wait",
    "strategy_inputs",
    "strike_wait",
    "futile_strike",
    "waiting_reason",
    "unconfirmed_moves",
    "watch",
    "watched_share_price",
]
