"""Typed settings of the keeper's transaction sender (pydantic; every field has a safe default).

Amounts of gas price are in wei. `TxSettings.model_validate(mapping)` builds one from a config
file or CLI options.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

GWEI = 10**9

# Custom errors meaning "another keeper did it first": the action is done, not failed.
DEFAULT_LOST_RACE_ERRORS: frozenset[str] = frozenset(
    {
        "AlreadyEvaluated",
        "SlashNotPending",
        "HealthyPosition",
        "NoDebt",
        "PositionHealthy",
        "NotLiquidatable",
        "NothingToLiquidate",
        "NothingToStrike",
        "StrikeNotReady",
        "ClaimExceeded",
        "NothingToClaim",
        "AlreadyExecuted",
        "AlreadyPaused",
    }
)


class TxSettings(BaseModel):
    """How `keepers.tx.TxSender` prices, sends, waits and replaces."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    base_fee_multiplier: float = Field(2.0, ge=1.0, description="max fee = base fee × this + tip")
    priority_fee: int = Field(1 * GWEI, ge=0, description="tip per gas (wei)")
    max_fee_cap: int = Field(500 * GWEI, gt=0, description="never pay more per gas than this")
    emergency_fee_cap: int | None = Field(
        None,
        gt=0,
        description="the cap instead of `max_fee_cap` for an emergency action (the sentinel's "
        "`pauseAutomation`: `keepers.actions.PRIORITY_KINDS`), whose price spikes with the very "
        "crash it answers (None: 10 × max_fee_cap; at least max_fee_cap)",
    )
    gas_margin_bps: int = Field(2_000, ge=0, description="gas limit = estimate × (1 + margin)")
    fee_bump_bps: int = Field(1_250, ge=1_250, description="replacement bump, ≥ 12.5 %")
    replace_after: float = Field(30.0, gt=0, description="seconds pending before a bump")
    max_replacements: int = Field(3, ge=0)
    receipt_timeout: float = Field(180.0, gt=0, description="give up waiting after this")
    poll_interval: float = Field(
        0.25,
        gt=0,
        description="longest wait between looks for a receipt (the first is 10 ms, doubling)",
    )
    receipt_grace: float = Field(
        5.0,
        ge=0,
        description="once our nonce is used, how long to look for our receipt before "
        "concluding another transaction took the nonce (nodes may report the nonce first)",
    )
    max_nonce_retries: int = Field(3, ge=0, description="re-reads of the nonce when too low")
    reorg_depth: int = Field(
        12,
        ge=0,
        le=10_000,
        description="blocks below the head its last check read (or this pass's, when lower) "
        "from which a pass re-checks the receipts of the key's mined transactions; one whose "
        "receipt a reorg removed is settled again and its action planned again "
        "(0: never re-checked)",
    )
    lost_race_errors: frozenset[str] = DEFAULT_LOST_RACE_ERRORS

    @model_validator(mode="after")
    def _emergency_cap_not_below(self) -> TxSettings:
        if self.emergency_fee_cap is not None and self.emergency_fee_cap < self.max_fee_cap:
            raise ValueError("emergency_fee_cap must be at least max_fee_cap")
        return self

    def emergency(self) -> TxSettings:
        """These settings with `max_fee_cap` raised to the emergency cap (an emergency action's
        sender: its price, its bumps and its same-nonce replacements are capped by it)."""
        cap = self.emergency_fee_cap or 10 * self.max_fee_cap
        return self.model_copy(update={"max_fee_cap": cap, "emergency_fee_cap": cap})
