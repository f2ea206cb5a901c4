"""The ``gridcredit`` command line: a thin layer over the library.

Each submodule registers the commands of one area on ``app``; library errors
become a one-line message on stderr and the error's exit code.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="gridcredit",
    help="Credit grades and differentiated service policies for electric power customers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
rules_app = typer.Typer(help="Check, inspect and compare decision tables.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")

from engine.cli import audit as _audit  # noqa: E402,F401
from engine.cli import data as _data  # noqa: E402,F401  (each import registers commands)
from engine.cli import datafiles as _datafiles  # noqa: E402,F401
from engine.cli import decisions as _decisions  # noqa: E402,F401
from engine.cli import events as _events  # noqa: E402,F401
from engine.cli import model as _model  # noqa: E402,F401
from engine.cli import models as _models  # noqa: E402,F401
from engine.cli import monitor as _monitor  # noqa: E402,F401
from engine.cli import releases as _releases  # noqa: E402,F401
from engine.cli import rules as _rules  # noqa: E402,F401
from engine.cli import serve as _serve  # noqa: E402,F401
from engine.cli import studio as _studio  # noqa: E402,F401


def main() -> None:
    app()
