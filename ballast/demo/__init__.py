"""The demo: a market scenario played on a local chain by the real keepers (see scripts/demo.py)."""
