"""Ballast: shared Python for scripts and keepers (deployment manifest, deploy logic)."""
