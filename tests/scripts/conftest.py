"""The in-process CLI runners (tests/scripts/inprocess.py) for every module here."""

from tests.scripts.inprocess import (  # noqa: F401 - fixtures
    _process_state_restored,
    ape_real,
    ape_script,
    keeper_main,
    session_provider,
)
