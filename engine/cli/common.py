"""What every CLI command shares: turning library errors into messages and exit codes."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from engine.errors import EngineError

F = TypeVar("F", bound=Callable[..., Any])

DB = typer.Option(
    None, "--db",
    help="Decision log database, where decisions and payment events are kept: a SQLite "
         "file path or a postgresql:// URL (default: $GRIDCREDIT_DB, else out/decisions.sqlite).",
)


LANG = typer.Option(
    None, "--lang",
    help="Language of the output: zh-CN or en (default: the project's, $GRIDCREDIT_LANG, "
         "else en).")
AUDIENCE = typer.Option(
    "auditor", "--audience",
    help="auditor (rules with file:line, versions) or customer (a notice: reasons, how to "
         "improve, how to ask for a review; no internal rule ids).")


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
