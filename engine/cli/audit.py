"""Commands for auditors: check the decision log's hash chain and read logged decisions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from engine.audit.archive import Archive, explain_as_logged
from engine.audit.eventchain import migrate
from engine.audit.export import verify_export
from engine.audit.log import open_log
from engine.batch.seals import row_of_id
from engine.cli.apps import app
from engine.cli.common import AUDIENCE, DB, HOME, LANG, database, reports_errors
from engine.config import resolve_home
from engine.errors import InputError
from engine.governance.batchruns import find_row, rebuild, run_engine
from engine.governance.verify import CHAIN_LABELS, check_log

audit_app = typer.Typer(
    help="Verify the tamper-evident decision log and show logged decisions.",
    no_args_is_help=True,
)
app.add_typer(audit_app, name="audit")

SHOW_FORMATS = ("json", "text", "md", "html")


@audit_app.command("verify")
@reports_errors
def verify_command(
    db: str | None = DB,
    home: Path | None = HOME,
    export: Path | None = typer.Option(
        None, "--export", help="Check an export file offline instead of the log database."),
) -> None:
    """Recompute the hash chains (decisions, archive, releases), every archived item's hash
    and the files of every logged batch run (naming an edited output row).

    Exit 0 when intact, 1 at the first broken row or item.
    """
    if export is not None:
        _verify_export(export)
        return
    with open_log(database(db, home), create=False) as log:
        check = check_log(log)
    report = check.decisions
    if report.ok:
        typer.echo(f"{check.url}: {report.rows:,} rows, chain intact; head {report.head_hash}")
    else:
        who = f" (decision {report.decision_id})" if report.decision_id else ""
        typer.echo(f"{check.url}: BROKEN at row {report.first_broken}{who}: {report.reason}")
        typer.echo(f"rows intact before it: {report.rows:,}; do not trust the log from row "
                   f"{report.first_broken} on")
    for chain in check.chains:
        state = chain.reason if chain.ok else f"BROKEN at row {chain.first_broken}: {chain.reason}"
        typer.echo(f"{CHAIN_LABELS[chain.chain]}: {state}")
    for problem in check.archive_problems:
        typer.echo(f"archive: TAMPERED: {problem}")
    for run in check.runs:
        if run.ok:
            typer.echo(f"batch run {run.run_id}: {run.rows:,} rows, output and rejects as "
                       "logged")
        for problem in run.problems:
            typer.echo(f"batch run {run.run_id}: TAMPERED: {problem}")
    if not check.ok:
        raise typer.Exit(1)


@audit_app.command("migrate")
@reports_errors
def migrate_command(db: str | None = DB, home: Path | None = HOME) -> None:
    """Chain the payment events and outcomes of a log written by an earlier version.

    Their rows keep what they hold and their order; they gain their hashes and
    the triggers that refuse changes. Safe to run again: a log already chained
    is left as it is."""
    with open_log(database(db, home), create=False, migrating=True) as log:
        done = migrate(log.engine)
        url = log.url
    if not done.chained:
        typer.echo(f"{url}: nothing to migrate; the payment events are chained")
        return
    for table, rows in done.chained.items():
        moved = done.renumbered.get(table)
        extra = f" ({moved:,} renumbered to close gaps in the sequence)" if moved else ""
        typer.echo(f"{url}: {CHAIN_LABELS[table]}: {rows:,} rows chained{extra}")
    typer.echo("run gridcredit audit verify to check the whole log")


def _verify_export(path: Path) -> None:

    report = verify_export(path)
    if report.ok:
        typer.echo(f"{path}: {report.reason}")
        return
    who = f" (decision {report.decision_id})" if report.decision_id else ""
    typer.echo(f"{path}: BROKEN{who}: {report.reason}; rows intact before it: {report.rows:,}")
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
        help="Policy catalogue for policy titles; default: the project's "
        "policies/catalogue.yaml.",
    ),
    lang: str | None = LANG,
    audience: str = AUDIENCE,
    home: Path | None = HOME,
) -> None:
    """Print a logged decision and its explanation, rendered with the templates archived
    for its table set, so it reads as it did on the day of the decision.

    A batch decision is found through its run's entry in the output file, decided again
    from its stored inputs with the archived tables and models, and shown only when that
    reproduces its digest."""

    if format not in SHOW_FORMATS:
        raise InputError(f"unknown format '{format}': use one of {', '.join(SHOW_FORMATS)}")
    with open_log(database(db, home), create=False) as log:
        decision = _logged_decision(log, decision_id)
        if format == "json":
            typer.echo(decision.to_json())
            return
        text, archived = explain_as_logged(
            Archive(log.engine), decision, format, lang=lang, audience=audience,
            templates=templates, catalogue=catalogue,
            current_home=resolve_home(home))
    if not archived:
        typer.echo(f"note: table set {decision.tables.content_hash[:16]}... is not in the "
                   "archive; the explanation uses the current templates", err=True)
    typer.echo(text, nl=False)


def _logged_decision(log: Any, decision_id: str) -> Any:
    """A logged decision, or a batch decision rebuilt from its run's output and checked."""

    if row_of_id(decision_id) is None or log.has(decision_id):
        return log.get(decision_id)
    found = find_row(log, decision_id)
    with run_engine(log, found.run) as engine:
        decision = rebuild(engine, found)
    if decision.digest != found.row["digest"]:
        raise InputError(f"batch decision {decision_id} ({found.where()}): its stored row does "
                         f"not reproduce its digest {found.row['digest'][:16]}... (decided "
                         f"again: {decision.digest[:16]}...): run gridcredit audit verify "
                         f"and gridcredit audit replay {decision_id}")
    return decision


@audit_app.command("list")
@reports_errors
def list_command(
    db: str | None = DB,
    customer: str | None = typer.Option(None, "--customer", help="Only this customer id."),
    limit: int = typer.Option(20, "--limit", min=1, help="How many rows, newest first."),
    home: Path | None = HOME,
) -> None:
    """List the latest logged decisions (sequence, time, ids, row hash), newest first."""

    with open_log(database(db, home), create=False) as log:
        rows = log.entries(customer_id=customer, limit=limit)
    if not rows:
        typer.echo("no decisions logged" + (f" for customer {customer}" if customer else ""))
        return
    for e in rows:
        typer.echo(f"{e.seq:>8}  {e.created_at}  {e.decision_id}  {e.customer_id}  "
                   f"{e.row_hash[:16]}")
