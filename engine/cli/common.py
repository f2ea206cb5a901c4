"""What every CLI command shares: the project options, and library errors as exit codes.

``--home`` means the same in every command that reads knowledge: the project
folder of ``engine.config`` (default ``$GRIDCREDIT_HOME``, else the checkout
the package runs from). Defaults that name files resolve under it, never
under the working folder.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from engine.config import default_database
from engine.errors import EngineError

F = TypeVar("F", bound=Callable[..., Any])

HOME = typer.Option(
    None, "--home",
    help="Project folder with rules/, models/ and policies/ (default: $GRIDCREDIT_HOME, else "
         "the checkout gridcredit runs from); default outputs go to its out/.",
)
DB = typer.Option(
    None, "--db",
    help="Decision log database, where decisions and payment events are kept: a SQLite "
         "file path or a postgresql:// URL (default: $GRIDCREDIT_DB, else "
         "out/decisions.sqlite under --home).",
)


LANG = typer.Option(
    None, "--lang",
    help="Language of the output: zh-CN or en (default: the project's, $GRIDCREDIT_LANG, "
         "else en).")
AUDIENCE = typer.Option(
    "auditor", "--audience",
    help="auditor (rules with file:line, versions) or customer (a notice: reasons, how to "
         "improve, how to ask for a review; no internal rule ids).")


def database(db: str | None, home: Path | None) -> str:
    """The database a command opens: ``--db``, else the project default."""
    return db or default_database(home)


def reports_errors(fn: F) -> F:
    """Print an ``EngineError`` as ``error: ...`` on stderr and exit with its code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except EngineError as exc:
            typer.echo(f"error: {exc.message}", err=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]
