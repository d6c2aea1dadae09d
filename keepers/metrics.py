"""Prometheus metrics of a keeper process (`prometheus_client`), fed by job reports.

    ballast_keeper_passes_total{job}                 passes made
    ballast_keeper_actions_total{job,outcome}        actions by outcome (mined, lost-race, ...)
    ballast_keeper_last_block{job}                   the block the last pass read
    ballast_keeper_pass_seconds{job}                 pass duration (histogram)
    ballast_keeper_alerts_total{code,severity}       sentinel alerts
    ballast_keeper_gas_used_total{job}               gas of mined transactions
    ballast_keeper_balance{asset}                    the key's balance after the last pass, in
                                                     whole units: asset="ETH" (gas) and the
                                                     vault asset's symbol (inventory)
    ballast_keeper_unfunded_total{job,asset}         passes a job could not act for lack of funds
    ballast_keeper_pass_failures_total{job}          passes that raised (a node error, a failed
                                                     read): the gauges above keep the values of
                                                     the last pass that finished

`Metrics.serve(port)` exposes them over HTTP (`/metrics`) from a daemon thread.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from keepers.shell import JobReport

__all__ = ["Metrics"]


class Metrics:
    """One keeper's metrics in their own registry (several keepers per process stay apart)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.passes = Counter("ballast_keeper_passes", "job passes made", ["job"], registry=r)
        self.actions = Counter(
            "ballast_keeper_actions", "actions by outcome", ["job", "outcome"], registry=r
        )
        self.last_block = Gauge(
            "ballast_keeper_last_block", "block read by the last pass", ["job"], registry=r
        )
        self.seconds = Histogram(
            "ballast_keeper_pass_seconds", "pass duration", ["job"], registry=r,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
        )  # fmt: skip
        self.alerts = Counter(
            "ballast_keeper_alerts", "sentinel alerts", ["code", "severity"], registry=r
        )
        self.gas = Counter(
            "ballast_keeper_gas_used", "gas of mined transactions", ["job"], registry=r
        )
        self.balance = Gauge(
            "ballast_keeper_balance", "the key's balance (whole units)", ["asset"], registry=r
        )
        self.unfunded = Counter(
            "ballast_keeper_unfunded", "passes that could not act for lack of funds",
            ["job", "asset"], registry=r,
        )  # fmt: skip
        self.failures = Counter(
            "ballast_keeper_pass_failures", "passes that raised (a node error, a failed read)",
            ["job"], registry=r,
        )  # fmt: skip

    def failed(self, job: str) -> None:
        """A pass of `job` raised (`Keeper(failed=...)`)."""
        self.failures.labels(job).inc()

    def observe(self, report: JobReport) -> None:
        job = report.job
        self.passes.labels(job).inc()
        self.last_block.labels(job).set(report.block)
        self.seconds.labels(job).observe(report.seconds)
        for action in report.actions:
            self.actions.labels(job, action.outcome).inc()
            if action.gas_used:
                self.gas.labels(job).inc(action.gas_used)
        for alert in report.alerts:
            self.alerts.labels(alert.code, alert.severity).inc()
        if report.funding is not None:
            for asset, amount in report.funding.balances().items():
                self.balance.labels(asset).set(amount)
        for short in report.shortfalls:
            self.unfunded.labels(job, short.asset).inc()

    def serve(self, port: int, addr: str = "0.0.0.0") -> int:
        """Serves `/metrics` on `port` (0: any free port) in a daemon thread; returns the port."""
        server, _thread = start_http_server(port, addr=addr, registry=self.registry)
        return int(server.server_port)
