"""The ``gridcredit`` command groups, which each submodule of ``engine.cli`` fills.

They live apart from ``engine.cli`` itself, which imports every submodule to
register its commands, so that no submodule imports the package that imports it.
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
