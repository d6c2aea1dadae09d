"""Ballast keepers: the Python network that liquidates, rebalances, evaluates and watches.

Functional core (pure math and decisions) and an imperative shell (chain reads, transactions);
see DESIGN.md §Keepers. The deployment manifest they load is `ballast.deployment.Deployment`.
"""
