"""Commands for auditors: check the decision log's hash chain and read logged decisions."""

from __future__ import annotations

from pathlib import Path

import typer

from engine.cli import app
from engine.cli.common import AUDIENCE, DB, LANG, reports_errors
from engine.config import default_home
from engine.errors import InputError

audit_app = typer.Typer(
    help="Verify the tamper-evident decision log and show logged decisions.",
    no_args_is_help=True,
)
app.add_typer(audit_app, name="audit")

SHOW_FORMATS = ("json", "text", "md", "html")


@audit_app.command("verify")
@reports_errors
def verify_command(db: str | None = DB) -> None:
    """Recompute the hash chain; exit 0 when intact, 1 at the first broken row."""
    from engine.audit.log import open_log

    with open_log(db, create=False) as log:
        report = log.verify()
        where = log.url
    if report.ok:
        typer.echo(f"{where}: {report.rows:,} rows, chain intact; head {report.head_hash}")
        return
    who = f" (decision {report.decision_id})" if report.decision_id else ""
    typer.echo(f"{where}: BROKEN at row {report.first_broken}{who}: {report.reason}")
    typer.echo(f"rows intact before it: {report.rows:,}; do not trust the log from row "
               f"{report.first_broken} on")
    raise typer.Exit(1)


@audit_app.command("show")
@reports_errors
def show_command(
    decision_id: str = typer.Argument(..., metavar="ID", help="The decision id to show."),
    db: str | None = DB,
    format: str = typer.Option("text", "--format", help="json, text, md or html."),
    templates: Path | None = typer.Option(
        None, "--templates",
        help="Explanation template folder; default: the project's policies/templates.",
    ),
    catalogue: Path | None = typer.Option(
        None, "--catalogue",
        help="Policy catalogue for policy titles (ids are shown when it is absent); "
        "default: the project's policies/catalogue.yaml.",
    ),
    lang: str | None = LANG,
    audience: str = AUDIENCE,
) -> None:
    """Print a logged decision and its plain-language explanation."""
    from engine.audit.log import open_log
    from engine.explanation import Explainer
    from engine.policies import load_catalogue

    if format not in SHOW_FORMATS:
        raise InputError(f"unknown format '{format}': use one of {', '.join(SHOW_FORMATS)}")
    with open_log(db, create=False) as log:
        decision = log.get(decision_id)
    if format == "json":
        typer.echo(decision.to_json())
        return
    templates = templates or default_home() / "policies" / "templates"
    catalogue = catalogue or default_home() / "policies" / "catalogue.yaml"
    explainer = Explainer(templates, load_catalogue(catalogue) if catalogue.is_file() else None)
    typer.echo(explainer.render(decision, format, lang=lang, audience=audience), nl=False)


@audit_app.command("list")
@reports_errors
def list_command(
    db: str | None = DB,
    customer: str | None = typer.Option(None, "--customer", help="Only this customer id."),
    limit: int = typer.Option(20, "--limit", min=1, help="How many rows, newest first."),
) -> None:
    """List the latest logged decisions (sequence, time, ids, row hash), newest first."""
    from engine.audit.log import open_log

    with open_log(db, create=False) as log:
        rows = log.entries(customer_id=customer, limit=limit)
    if not rows:
        typer.echo("no decisions logged" + (f" for customer {customer}" if customer else ""))
        return
    for e in rows:
        typer.echo(f"{e.seq:>8}  {e.created_at}  {e.decision_id}  {e.customer_id}  "
                   f"{e.row_hash[:16]}")
