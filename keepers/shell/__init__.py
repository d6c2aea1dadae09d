"""The keepers' imperative shell: chain reads in, the pure planners in the middle, transactions
out. `Keeper(protocol, store, account).run("liquidator")` is one pass of one job."""

from keepers.shell.keeper import ActionReport, JobReport, Keeper, KeeperError

__all__ = ["ActionReport", "JobReport", "Keeper", "KeeperError"]
