"""The keepers' imperative shell: chain reads in, the pure planners in the middle, transactions
out. `Keeper(protocol, store, account).run("liquidator")` is one pass of one job."""

from keepers.shell.keeper import Keeper
from keepers.shell.reports import ActionReport, JobReport, KeeperError

__all__ = ["ActionReport", "JobReport", "Keeper", "KeeperError"]
