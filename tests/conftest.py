"""Fixtures shared by the whole suite."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def engine():
    """The engine with the shipped tables, catalogue and models."""
    from engine.decider import load

    return load()
