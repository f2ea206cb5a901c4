"""Fixtures shared by the whole suite.

- ``engine``: the engine with the shipped tables, catalogue and models;
- ``home``: a project of its own, whose tables and catalogue a test may edit;
- ``db``: a fresh log database, once on SQLite and once on PostgreSQL (a
  throwaway local cluster, ``tests.pg``; skipped with the install command
  where the server binaries are missing).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.factories import project_copy
from tests.pg import postgres_server  # noqa: F401  (session fixture)


@pytest.fixture(scope="session")
def engine():
    """The engine with the shipped tables, catalogue and models."""
    from engine.decider import load

    return load()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A project of its own: rules/ and policies/ copied, models/ linked to the checkout."""
    return project_copy(tmp_path / "home", copied=("rules", "policies"), linked=("models",))


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty log database: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "log.sqlite")
    return request.getfixturevalue("postgres_server").create_database("log")
