"""Who is who in the lending tests. Each test module deploys its own `lending` system."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def book(lending):
    return lending.book


@pytest.fixture(scope="module")
def gov(accounts):
    """The deployer: governs the test registry and owns the mock feeds."""
    return accounts[0]


@pytest.fixture(scope="module")
def bob(accounts):
    """The borrower."""
    return accounts[7]


@pytest.fixture(scope="module")
def carol(accounts):
    """A second borrower, or someone repaying for bob."""
    return accounts[8]


@pytest.fixture(scope="module")
def keeper(accounts):
    """The liquidator."""
    return accounts[9]
